/**
 * Debian packages that some integration tests need (chromium, patroni's patronictl, haproxy): installed with
 * apt-get when missing and we are root; otherwise the tests say why they cannot run and are ignored.
 */

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

/** Null when `binary` exists (after `apt-get install pkg` if needed and possible); else the reason. */
export async function debianBinaryUnavailable(binary: string, pkg: string): Promise<string | null> {
  if (await isFile(binary)) return null;
  if (Deno.uid() !== 0) return `${binary} is missing and we are not root to apt-get install ${pkg}`;
  for (const args of [["update", "-qq"], ["install", "-y", "-qq", pkg]]) {
    const out = await new Deno.Command("apt-get", {
      args,
      env: { DEBIAN_FRONTEND: "noninteractive" },
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!out.success) {
      return `apt-get ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr).trim()}`;
    }
  }
  return (await isFile(binary)) ? null : `${binary} still missing after apt-get install ${pkg}`;
}
