/** Helpers for plugins that run executables: resolving names for run permissions, and running with logs. */
import type { MethodRunArgs, PluginLogger } from "./types.ts";

/**
 * Absolute path of `name` on `PATH` (called where the plugin's permissions are computed, in the agent).
 * A name that is not found is returned unchanged: the worker's spawn is then denied and logged.
 */
export function resolveExecutable(name: string, path?: string): string {
  // An absolute name needs no PATH (nor the permission to read it).
  if (name.includes("/")) return name;
  for (const dir of (path ?? Deno.env.get("PATH") ?? "").split(":").filter(Boolean)) {
    try {
      const p = `${dir}/${name}`;
      const st = Deno.statSync(p);
      if (st.isFile && ((st.mode ?? 0o111) & 0o111)) return p;
    } catch { /* not here */ }
  }
  return name;
}

export interface RunOptions {
  logger: PluginLogger;
  signal: AbortSignal;
  /** Run as this OS user (when the agent runs as root). */
  uid?: number;
  gid?: number;
  env?: Record<string, string>;
}

/** Run a command to completion, logging its output lines; the exit code (killed on abort). */
export async function runLogged(argv: string[], opts: RunOptions): Promise<number> {
  opts.logger.info("running command", { argv });
  const child = new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    ...(opts.uid !== undefined ? { uid: opts.uid } : {}),
    ...(opts.gid !== undefined ? { gid: opts.gid } : {}),
    ...(opts.env ? { env: opts.env } : {}),
  } as Deno.CommandOptions).spawn();
  const onAbort = () => {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
  };
  opts.signal.addEventListener("abort", onAbort, { once: true });
  const pump = async (stream: ReadableStream<Uint8Array>, name: string) => {
    let buf = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      const lines = buf.split("\n");
      buf = lines.pop()!;
      for (const line of lines) opts.logger.info(line, { stream: name });
    }
    if (buf) opts.logger.info(buf, { stream: name });
  };
  const [status] = await Promise.all([
    child.status,
    pump(child.stdout, "stdout"),
    pump(child.stderr, "stderr"),
  ]);
  opts.signal.removeEventListener("abort", onAbort);
  if (status.code !== 0) {
    opts.logger.warn("command failed", { argv, code: status.code, signal: status.signal });
  }
  return status.code;
}

/**
 * Run options for a method's tool: as the PostgreSQL OS user the agent passes when it runs as root (unless the
 * plugin's own config names a user), with that user's HOME and the agent's environment additions (PGPASSFILE).
 */
export function methodRunOptions(
  ctx: MethodRunArgs & { logger: PluginLogger; signal: AbortSignal },
  configured?: { uid: number; gid: number },
): RunOptions {
  const os = ctx.osUser ?? null;
  const env: Record<string, string> = { ...ctx.env };
  if (os && !configured) Object.assign(env, { HOME: os.home, USER: os.name, LOGNAME: os.name });
  const as = configured ?? (os ? { uid: os.uid, gid: os.gid } : {});
  return { logger: ctx.logger, signal: ctx.signal, ...as, ...(Object.keys(env).length ? { env } : {}) };
}
