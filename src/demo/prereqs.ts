/**
 * Prerequisites a fresh Debian machine lacks: PostgreSQL 15 server and etcd. Installed with apt-get when we
 * are root; otherwise one line says what to install.
 */
export interface Prereq {
  /** Debian package providing it. */
  pkg: string;
  /** A file whose presence proves it is installed. */
  path: string;
}

export const DEMO_PREREQS: Prereq[] = [
  { pkg: "postgresql-15", path: "/usr/lib/postgresql/15/bin/postgres" },
  { pkg: "etcd-server", path: "/usr/bin/etcd" },
];

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

export function missing(prereqs: Prereq[]): Prereq[] {
  return prereqs.filter((p) => !exists(p.path));
}

/** Ensure the packages exist; returns an error message when they cannot be installed. */
export async function ensurePrereqs(prereqs: Prereq[], log: (s: string) => void): Promise<string | null> {
  const lacking = missing(prereqs);
  if (lacking.length === 0) return null;
  const pkgs = lacking.map((p) => p.pkg);
  if (Deno.uid() !== 0) {
    return `missing ${pkgs.join(", ")}: install with: sudo apt-get install -y ${pkgs.join(" ")}`;
  }
  log(`installing ${pkgs.join(", ")} with apt-get`);
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  for (const args of [["update", "-qq"], ["install", "-y", "-qq", ...pkgs]]) {
    const r = await new Deno.Command("apt-get", { args, env, stdout: "null", stderr: "piped" }).output();
    if (!r.success) {
      return `apt-get ${args[0]} failed: ${new TextDecoder().decode(r.stderr).trim().slice(-500)}`;
    }
  }
  const still = missing(prereqs);
  return still.length ? `still missing after apt-get: ${still.map((p) => p.path).join(", ")}` : null;
}
