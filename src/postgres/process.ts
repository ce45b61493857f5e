/**
 * Liveness checks and signals for processes the agent did not spawn itself (the detached postmaster).
 *
 * Under least privilege Deno refuses both `/proc/<pid>/*` and `Deno.kill` on other processes unless the agent
 * has unrestricted run permission, so each call falls back to the `kill` binary, which the agent's computed
 * permission set grants by path.
 */
export const KILL_BINARIES = ["/usr/bin/kill", "/bin/kill"];

function killBinary(): string {
  for (const p of KILL_BINARIES) {
    try {
      if (Deno.statSync(p).isFile) return p;
    } catch { /* next */ }
  }
  return "kill";
}

const isNotCapable = (e: unknown) =>
  e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied;

/** kill(pid, 0): does a process with this pid exist? */
export async function processAlive(pid: number): Promise<boolean> {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch (e) {
    if (!isNotCapable(e)) return false;
  }
  const r = await new Deno.Command(killBinary(), {
    args: ["-0", String(pid)],
    stdout: "null",
    stderr: "null",
  })
    .output();
  return r.success;
}

/** Send `signal` to `pid` (negative: a process group); "no such process" is ignored. */
export async function signalProcess(pid: number, signal: Deno.Signal): Promise<void> {
  try {
    Deno.kill(pid, signal);
    return;
  } catch (e) {
    if (!isNotCapable(e)) return;
  }
  const args = ["-s", signal.replace(/^SIG/, ""), "--", String(pid)];
  await new Deno.Command(killBinary(), { args, stdout: "null", stderr: "null" }).output();
}
