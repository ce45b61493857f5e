/**
 * Running PostgreSQL's tools as the unprivileged OS user. PostgreSQL refuses to run as root, so when the
 * agent is root every tool runs through `runuser -u <user> --` and every file it owns is chowned to that
 * user; when the agent already runs as an unprivileged user, commands run directly.
 */
import { signalProcess } from "./process.ts";
import { PgCommandError } from "./errors.ts";

export interface OsUserInfo {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export interface RunOptions {
  env?: Record<string, string>;
  cwd?: string;
  /** Kill the command (and its process group) after this long; default: no limit. */
  timeoutMs?: number;
  /** Text written to stdin; without it stdin is /dev/null. */
  stdin?: string;
}

export interface RunResult {
  code: number;
  success: boolean;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Parse one /etc/passwd line set and find `name`. Pure, for testing. */
export function findPasswdEntry(passwd: string, name: string): OsUserInfo | null {
  for (const line of passwd.split("\n")) {
    const f = line.split(":");
    if (f.length >= 7 && f[0] === name) {
      return { name, uid: Number(f[2]), gid: Number(f[3]), home: f[5]! };
    }
  }
  return null;
}

/** Look the user up in /etc/passwd, then with `id` (covers NSS users). */
export async function lookupOsUser(name: string): Promise<OsUserInfo> {
  try {
    const hit = findPasswdEntry(await Deno.readTextFile("/etc/passwd"), name);
    if (hit) return hit;
  } catch { /* fall through to id(1) */ }
  const id = async (flag: string) => {
    const out = await new Deno.Command("id", { args: [flag, name], stdout: "piped", stderr: "piped" })
      .output();
    if (!out.success) {
      throw new PgCommandError(`id ${flag} ${name}`, out.code, new TextDecoder().decode(out.stderr));
    }
    return Number(new TextDecoder().decode(out.stdout).trim());
  };
  return { name, uid: await id("-u"), gid: await id("-g"), home: "/" };
}

/**
 * Runs commands as the PostgreSQL OS user. `asRoot` is decided once from `Deno.uid()`; tests may force it.
 */
export class OsUser {
  readonly asRoot: boolean;
  #info: Promise<OsUserInfo> | null = null;

  constructor(readonly name: string, opts: { asRoot?: boolean } = {}) {
    this.asRoot = opts.asRoot ?? Deno.uid() === 0;
  }

  info(): Promise<OsUserInfo> {
    this.#info ??= lookupOsUser(this.name);
    return this.#info;
  }

  /** argv that runs `cmd args` as the PostgreSQL user. */
  async argv(
    cmd: string,
    args: string[],
  ): Promise<{ cmd: string; args: string[]; env: Record<string, string> }> {
    if (!this.asRoot) return { cmd, args, env: {} };
    const u = await this.info();
    return {
      cmd: "runuser",
      args: ["-u", this.name, "--", cmd, ...args],
      env: { HOME: u.home, USER: u.name, LOGNAME: u.name },
    };
  }

  /** Run as the PostgreSQL user, collecting output. Never throws for a non-zero exit; see `runOrThrow`. */
  async run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
    const a = await this.argv(cmd, args);
    return await runCommand(a.cmd, a.args, { ...opts, env: { ...a.env, ...opts.env } });
  }

  async runOrThrow(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
    const r = await this.run(cmd, args, opts);
    if (!r.success) {
      throw new PgCommandError(describe(cmd, args), r.code, r.stderr || r.stdout, { timedOut: r.timedOut });
    }
    return r;
  }

  /** Give `path` to the PostgreSQL user (no-op unless root). */
  async chown(path: string): Promise<void> {
    if (!this.asRoot) return;
    const u = await this.info();
    await Deno.chown(path, u.uid, u.gid);
  }

  /**
   * Make `dir` exist, owned by the PostgreSQL user, mode 0700. A missing parent is created too and given to
   * the user (mode 0755), so pg_basebackup and initdb can work inside it.
   */
  async ensureOwnedDir(dir: string, mode = 0o700): Promise<void> {
    const parent = dir.replace(/\/+$/, "").replace(/\/[^/]*$/, "") || "/";
    if (!(await exists(parent))) {
      await Deno.mkdir(parent, { recursive: true, mode: 0o755 });
      await this.chown(parent);
    }
    if (!(await exists(dir))) await Deno.mkdir(dir, { mode });
    await this.chown(dir);
    await Deno.chmod(dir, mode);
  }

  /** Write a file the PostgreSQL user owns (mode 0600 by default). */
  async writeFile(path: string, text: string, mode = 0o600): Promise<void> {
    await Deno.writeTextFile(path, text, { mode });
    await Deno.chmod(path, mode);
    await this.chown(path);
  }
}

/**
 * Spawn a command in its own process group, so a timeout can kill everything it started except daemons
 * that left the group on purpose (the postmaster calls setsid).
 */
export async function runCommand(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const child = new Deno.Command(cmd, {
    args,
    env: opts.env,
    cwd: opts.cwd,
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    detached: true,
  }).spawn();
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(opts.stdin)).catch(() => {});
    await w.close().catch(() => {});
  }
  let timedOut = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  if (opts.timeoutMs !== undefined) {
    timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid, "SIGTERM");
      timer = setTimeout(() => killGroup(child.pid, "SIGKILL"), 2000);
    }, opts.timeoutMs);
  }
  try {
    const out = await child.output();
    const dec = new TextDecoder();
    return {
      code: out.code,
      success: out.success && !timedOut,
      stdout: dec.decode(out.stdout),
      stderr: dec.decode(out.stderr),
      timedOut,
    };
  } finally {
    clearTimeout(timer);
  }
}

/** Signal a whole process group, ignoring "no such process". */
export function killGroup(pid: number, signal: Deno.Signal): void {
  signalProcess(-pid, signal).then(() => signalProcess(pid, signal)).catch(() => {});
}

export function describe(cmd: string, args: string[]): string {
  return [cmd, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`))
    .join(" ");
}

/** `exists` without a trip through the blocking-I/O thread pool, for small checks on every HA cycle. */
export function existsSync(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}
