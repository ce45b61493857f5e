/**
 * Process control for one data directory: start/stop/reload/promote through `pg_ctl`, liveness through
 * `postmaster.pid` + `/proc`, and single-user crash recovery.
 *
 * The postmaster must outlive the agent: `pg_ctl start` forks it and the child calls `setsid()`, so it sits
 * in its own session and process group, its stdio goes to a log file (never the agent's stdout), and a
 * SIGKILLed agent leaves it running. A restarted agent finds it through `postmaster.pid` and adopts it.
 */
import { processAlive, signalProcess } from "./process.ts";
import type { OsUser, RunResult } from "./os_user.ts";
import type { StopMode } from "./port.ts";

export interface PgBinaries {
  pgCtl: string;
  initdb: string;
  pgControldata: string;
  pgBasebackup: string;
  postgres: string;
  pgIsready: string;
  pgRewind: string;
  pgWaldump: string;
}

export function binaries(binDir: string, names: Partial<Record<keyof PgBinaries, string | undefined>> = {}) {
  const dir = binDir.replace(/\/+$/, "");
  const bin = (k: keyof PgBinaries, def: string) => {
    const n = names[k] ?? def;
    return n.includes("/") || !dir ? n : `${dir}/${n}`;
  };
  return {
    pgCtl: bin("pgCtl", "pg_ctl"),
    initdb: bin("initdb", "initdb"),
    pgControldata: bin("pgControldata", "pg_controldata"),
    pgBasebackup: bin("pgBasebackup", "pg_basebackup"),
    postgres: bin("postgres", "postgres"),
    pgIsready: bin("pgIsready", "pg_isready"),
    pgRewind: bin("pgRewind", "pg_rewind"),
    pgWaldump: bin("pgWaldump", "pg_waldump"),
  } satisfies PgBinaries;
}

/** Quote for the shell pg_ctl uses to run the postmaster (`-o` is pasted into a command line). */
export function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

export interface PostmasterPidFile {
  pid: number;
  dataDir: string | null;
  startEpoch: number | null;
  port: number | null;
  socketDir: string | null;
  /** `starting`, `stopping`, `ready`, `standby` (PG 10+), or null. */
  status: string | null;
}

/** Parse `postmaster.pid`. Pure. */
export function parsePostmasterPid(text: string): PostmasterPidFile | null {
  const l = text.split("\n");
  const pid = Number(l[0]);
  if (!Number.isInteger(pid) || pid <= 0) return null;
  const num = (s: string | undefined) => (s && /^\d+$/.test(s.trim()) ? Number(s.trim()) : null);
  return {
    pid,
    dataDir: l[1] ?? null,
    startEpoch: num(l[2]),
    port: num(l[3]),
    socketDir: l[4] ?? null,
    status: l[7]?.trim() || null,
  };
}

export class PgCtl {
  constructor(
    readonly user: OsUser,
    readonly bin: PgBinaries,
    readonly dataDir: string,
    readonly configFile: string,
    readonly logFile: string,
  ) {}

  /** Read synchronously: a small local file, read on every HA cycle. */
  readPidFile(): PostmasterPidFile | null {
    try {
      return parsePostmasterPid(Deno.readTextFileSync(`${this.dataDir}/postmaster.pid`));
    } catch {
      return null;
    }
  }

  /**
   * PID of a live postmaster serving this data directory, or null. Checks `/proc` (the equivalent of
   * kill(pid, 0) that also works for other users' processes) and guards against PID reuse by comparing the
   * process's command and working directory (the postmaster chdirs into its data directory). Synchronous
   * reads of /proc and one small file: cheap enough to poll several times a second.
   */
  postmasterPidSync(): number | null {
    let pf: PostmasterPidFile | null;
    try {
      pf = parsePostmasterPid(Deno.readTextFileSync(`${this.dataDir}/postmaster.pid`));
    } catch {
      return null;
    }
    return pf && isPostmasterOf(pf.pid, this.dataDir) ? pf.pid : null;
  }

  /**
   * Like postmasterPidSync, but when /proc is not readable (least-privilege agent) asks `kill -0` instead of
   * assuming the pid file tells the truth: a SIGKILLed postmaster leaves its pid file behind.
   */
  async postmasterPid(): Promise<number | null> {
    let pf: PostmasterPidFile | null;
    try {
      pf = parsePostmasterPid(await Deno.readTextFile(`${this.dataDir}/postmaster.pid`));
    } catch {
      return null;
    }
    if (!pf) return null;
    const viaProc = procVerdict(pf.pid, this.dataDir);
    const alive = viaProc !== "unknown" ? viaProc : await processAlive(pf.pid);
    if (alive) this.#lastPid = pf.pid;
    return alive ? pf.pid : null;
  }

  /** The last postmaster seen alive: still known after its data directory (and pid file) was removed. */
  #lastPid: number | null = null;

  /** `pid` was proven alive another way (it answered SQL for this data directory). */
  seenAlive(pid: number): void {
    this.#lastPid = pid;
  }

  /**
   * The data directory vanished under a running postmaster (Patroni then stops it `immediate`): kill the
   * postmaster last seen alive, which would otherwise keep the port and block the re-clone until it notices
   * its lost lock file (up to a minute). Returns its PID, or null when there was none.
   */
  async killOrphan(): Promise<number | null> {
    const pid = this.#lastPid;
    this.#lastPid = null;
    if (pid === null || !(await processAlive(pid))) return null;
    await signalProcess(-pid, "SIGKILL");
    await signalProcess(pid, "SIGKILL");
    return pid;
  }

  /** `pg_ctl status`: 0 running, 3 not running, 4 no valid data directory. */
  async status(): Promise<{ running: boolean; pid: number | null }> {
    const r = await this.user.run(this.bin.pgCtl, ["status", "-D", this.dataDir], { timeoutMs: 10_000 });
    const m = /PID: (\d+)/.exec(r.stdout);
    return { running: r.code === 0, pid: m ? Number(m[1]) : null };
  }

  /**
   * `pg_ctl start -w`. Resolves `ok: false, timedOut: true` when the server is still starting after
   * `timeoutS` (it keeps starting), `ok: false` with output when it failed.
   */
  async start(timeoutS: number): Promise<{ ok: boolean; timedOut: boolean; output: string }> {
    const t = Math.max(1, Math.ceil(timeoutS));
    const r = await this.user.run(this.bin.pgCtl, [
      "start",
      "-D",
      this.dataDir,
      "-o",
      `--config-file=${shellQuote(this.configFile)}`,
      "-l",
      this.logFile,
      "-w",
      "-t",
      String(t),
    ], { timeoutMs: (t + 15) * 1000 });
    const output = r.stdout + r.stderr;
    return { ok: r.success, timedOut: /did not start in time|timed out/i.test(output) || r.timedOut, output };
  }

  /** `pg_ctl stop -m <mode> -w`; true when the server is down (or was not running). */
  async stop(mode: StopMode, timeoutS: number): Promise<{ ok: boolean; output: string }> {
    const t = Math.max(1, Math.ceil(timeoutS));
    const r = await this.user.run(this.bin.pgCtl, [
      "stop",
      "-D",
      this.dataDir,
      "-m",
      mode,
      "-w",
      "-t",
      String(t),
    ], {
      timeoutMs: (t + 15) * 1000,
    });
    const output = r.stdout + r.stderr;
    if (r.success || /PID file .* does not exist|Is server running\?/i.test(output)) {
      return { ok: (await this.postmasterPid()) === null, output };
    }
    return { ok: false, output };
  }

  async reload(): Promise<RunResult> {
    return await this.user.run(this.bin.pgCtl, ["reload", "-D", this.dataDir, "-s"], { timeoutMs: 15_000 });
  }

  /** `pg_ctl promote -w`: waits until the server left recovery (or `timeoutS`). */
  async promote(timeoutS: number): Promise<{ ok: boolean; output: string }> {
    const t = Math.max(1, Math.ceil(timeoutS));
    const r = await this.user.run(this.bin.pgCtl, ["promote", "-D", this.dataDir, "-w", "-t", String(t)], {
      timeoutMs: (t + 15) * 1000,
    });
    return { ok: r.success, output: r.stdout + r.stderr };
  }

  /**
   * Crash recovery without accepting connections: `postgres --single` replays WAL to a consistent state and
   * writes a shutdown checkpoint. Archiving is switched on with a failing command so that WAL segments not
   * yet archived stay marked `.ready` instead of being recycled.
   */
  async singleUserRecovery(timeoutS: number, database = "postgres"): Promise<RunResult> {
    return await this.user.run(this.bin.postgres, [
      "--single",
      "-D",
      this.dataDir,
      `--config-file=${this.configFile}`,
      "-c",
      "archive_mode=on",
      "-c",
      "archive_command=false",
      database,
    ], { timeoutMs: timeoutS * 1000, stdin: "" });
  }

  /** Kill the postmaster's whole session (last resort in tests and `stop` failures). */
  async kill(signal: Deno.Signal = "SIGKILL"): Promise<void> {
    const pid = await this.postmasterPid();
    if (pid === null) return;
    await signalProcess(-pid, signal);
    await signalProcess(pid, signal);
  }
}

/** Is `pid` a live postmaster (or postgres) process whose working directory is `dataDir`? */
export function isPostmasterOf(pid: number, dataDir: string): boolean {
  return procVerdict(pid, dataDir) !== false;
}

/** The /proc evidence: true/false, or "unknown" when Deno does not let us read /proc. */
function procVerdict(pid: number, dataDir: string): boolean | "unknown" {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // The state follows the parenthesised command; a zombie is not running.
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    if (state === "Z" || state === "X") return false;
  } catch (e) {
    if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) return "unknown";
    return false;
  }
  try {
    const cmd = Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0")[0] ?? "";
    if (!/(postgres|postmaster)$/.test(cmd)) return false;
  } catch { /* unreadable: keep the /proc evidence */ }
  try {
    return Deno.readLinkSync(`/proc/${pid}/cwd`) === Deno.realPathSync(dataDir);
  } catch {
    // Not permitted to read another user's cwd: the pid file and a live postgres process must do.
    return true;
  }
}
