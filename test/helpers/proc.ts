/** Readings of a process from /proc/<pid> (Linux). */

/** Fields of /proc/<pid>/stat after the command name: state is [0], utime [11], stime [12]. */
function statFields(pid: number): string[] {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

/** utime + stime of `pid` in seconds (USER_HZ 100). */
export function cpuSeconds(pid: number): number {
  const f = statFields(pid);
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** Whether `pid` is gone (a zombie waiting to be reaped counts as gone: nothing of it runs). */
export function processGone(pid: number): boolean {
  try {
    return statFields(pid)[0] === "Z";
  } catch {
    return true;
  }
}
