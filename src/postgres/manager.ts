/**
 * `PostgresManager`: the real-PostgreSQL implementation of `PostgresPort` for one data directory.
 *
 * It owns the files it renders (`postgresql.conf`, `pg_hba.conf`, `pg_ident.conf`, signal files, the pass
 * file) and never assumes it started the running postmaster: every method re-reads `postmaster.pid` and
 * `pg_control`, so a restarted agent adopts a running server.
 */
import type { Config } from "../config/schema.ts";
import { type DynamicConfig, DynamicConfigSchema } from "../config/dynamic.ts";
import { type Clock, realClock } from "../util/clock.ts";
import { createRoles, initdbArgs, runPostBootstrap } from "./bootstrap.ts";
import {
  awaitEndOfRecovery,
  type BootstrapMethod,
  BootstrapMethodRegistry,
  recoveryPlan,
  STRAY_FILES,
} from "./custom_bootstrap.ts";
import {
  applyReplicaMinimums,
  BASE_CONF,
  configDir,
  effectiveParameters,
  GENERATED_HEADER,
  type GucMap,
  hbaLines,
  identLines,
  localHost,
  parseListen,
  recoveryParameters,
  renderLinesFile,
  renderPostgresqlConf,
} from "./config_file.ts";
import { connUrl, formatConninfo, type PgpassEntry, renderPgpass } from "./conninfo.ts";
import { type ControlData, localWalEnd, parseControlData } from "./controldata.ts";
import { PgCommandError, PgError, PgStateError, PgUnreachableError } from "./errors.ts";
import { formatLsn, parseLsnOrNull } from "./lsn.ts";
import { exists, existsSync, OsUser, runCommand } from "./os_user.ts";
import { binaries, type PgBinaries, PgCtl } from "./pg_ctl.ts";
import {
  type BootstrapOptions,
  emptyPgState,
  type PgState,
  type PostgresPort,
  type StartOptions,
  type StopMode,
  type Upstream,
} from "./port.ts";
import {
  isConnectionError,
  type ObservedRow,
  observeQuery,
  openSql,
  type PendingRestart,
  pendingRestart,
  PendingRestartReader,
  queryInRecovery,
  RECOVERY_PARAMETERS,
  reloadAndWait,
  requestPromotion,
  type Sql,
} from "./queries.ts";
import {
  basebackupMethod,
  commandMethod,
  emptyDir,
  type LogFn,
  ReplicaMethodRegistry,
  runReplicaMethods,
} from "./replica.ts";
import {
  decideRewind,
  historyFileName,
  type LocalPosition,
  parseTimelineHistory,
  recordEnd,
} from "./rewind.ts";
import { syncPhysicalSlots } from "./slots.ts";
import {
  advanceSlot,
  createLogicalSlot,
  dropSlot,
  readLogicalSlotFiles,
  slotStates,
  writeSlotFiles,
} from "./slot_sync.ts";
import type { SlotState } from "../ha/permanent_slots.ts";
import { citusLibraryPaths } from "../citus/library.ts";

export type { LogFn } from "./replica.ts";

/** The agent's logger shape. */
export interface LoggerLike {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

function toLogFn(log: LogFn | LoggerLike): LogFn {
  if (typeof log === "function") return log;
  return (level, msg) => (level === "warning" ? log.warn(msg) : log[level](msg));
}

function isDynamicConfig(x: ManagerOptions | DynamicConfig): x is DynamicConfig {
  return typeof (x as DynamicConfig).ttl === "number" && typeof (x as DynamicConfig).loopWait === "number";
}

export interface ManagerOptions {
  /** Effective dynamic configuration (DCS `config`, else `bootstrap.dcs`). */
  dynamic?: DynamicConfig | null;
  log?: LogFn | LoggerLike;
  clock?: Clock;
  /** Force running tools as/without the OS user (default: decided by `Deno.uid() === 0`). */
  asRoot?: boolean;
  /** Extra replica methods (plugins); the configured sections and `basebackup` are added automatically. */
  replicaMethods?: ReplicaMethodRegistry;
  /** Custom bootstrap methods (plugins) that `bootstrap.method` may name; without one, initdb is used. */
  bootstrapMethods?: BootstrapMethodRegistry;
}

const CLEAN_STATES = new Set(["shut down", "shut down in recovery"]);
/** observe() must not hang on a stuck server: past this, the probe counts as "not accepting". */
const OBSERVE_TIMEOUT_MS = 10_000;

export class PostgresManager implements PostgresPort {
  readonly config: Config;
  readonly dataDir: string;
  readonly configDir: string;
  readonly bin: PgBinaries;
  readonly user: OsUser;
  readonly ctl: PgCtl;
  readonly replicaMethods: ReplicaMethodRegistry;
  readonly bootstrapMethods: BootstrapMethodRegistry;
  #dynamic: DynamicConfig | null;
  #log: LogFn;
  #clock: Clock;
  #sql: Sql | null = null;
  readonly #pendingReader = new PendingRestartReader();
  /** Managed synchronous_standby_names: undefined until the HA loop sets it. */
  #ssn: string | null | undefined = undefined;
  /** Recovery settings last rendered; undefined = unknown (read back from postgresql.conf). */
  #recovery: GucMap | null | undefined = undefined;
  #lastWarnings = "";
  #binVersion: number | null = null;

  /**
   * `new PostgresManager(config, { dynamic, log, ... })`, or the short form
   * `new PostgresManager(config, dynamic, logger)` where `logger` is a `LogFn` or an object with
   * debug/info/warn/error methods.
   */
  constructor(config: Config, opts?: ManagerOptions);
  constructor(config: Config, dynamic: DynamicConfig | null, log?: LogFn | LoggerLike);
  constructor(config: Config, second?: ManagerOptions | DynamicConfig | null, log?: LogFn | LoggerLike) {
    const opts: ManagerOptions = second && !isDynamicConfig(second)
      ? second
      : { dynamic: second ?? null, ...(log ? { log: toLogFn(log) } : {}) };
    this.config = config;
    this.dataDir = config.postgresql.dataDir.replace(/\/+$/, "");
    this.configDir = configDir(config).replace(/\/+$/, "");
    this.bin = binaries(config.postgresql.binDir, config.postgresql.binName);
    this.user = new OsUser(
      config.postgresql.osUser,
      opts.asRoot === undefined ? {} : { asRoot: opts.asRoot },
    );
    this.ctl = new PgCtl(
      this.user,
      this.bin,
      this.dataDir,
      `${this.configDir}/postgresql.conf`,
      `${this.dataDir}/log/postgresql.log`,
    );
    this.#dynamic = opts.dynamic ?? null;
    this.#log = opts.log ? toLogFn(opts.log) : () => {};
    this.#clock = opts.clock ?? realClock;
    this.replicaMethods = opts.replicaMethods ?? new ReplicaMethodRegistry();
    this.bootstrapMethods = opts.bootstrapMethods ?? new BootstrapMethodRegistry();
    if (!this.replicaMethods.get("basebackup")) {
      this.replicaMethods.register(basebackupMethod(config.postgresql.basebackup));
    }
    for (const [name, section] of Object.entries(config.postgresql.methods)) {
      if (section.command && !this.replicaMethods.get(name)) {
        this.replicaMethods.register(commandMethod(name, section as Record<string, unknown>));
      }
    }
  }

  /** New effective dynamic configuration; takes effect at the next config rewrite (start/reload/apply). */
  setDynamicConfig(d: DynamicConfig | null): void {
    this.#dynamic = d;
  }

  get passfile(): string {
    return this.config.postgresql.pgpass ?? `${this.dataDir}.pgpass`;
  }

  // ---------------------------------------------------------------------------------------------------
  // Observation

  #onConnectionClosed: (() => void) | null = null;

  /**
   * `fn` runs when a connection of the observation pool closes. A dying postmaster takes its backends with it,
   * so this is how the agent hears of a crash between cycles without polling.
   */
  onConnectionClosed(fn: () => void): void {
    this.#onConnectionClosed = fn;
  }

  /** Liveness of the postmaster without SQL (a `kill -0` subprocess under least privilege). */
  async postmasterAlive(): Promise<boolean> {
    return (await this.ctl.postmasterPid()) !== null;
  }

  #controlCache: { pid: number; cd: ControlData } | null = null;

  async observe(): Promise<PgState> {
    const state: PgState = emptyPgState();
    try {
      // Two small local files read synchronously: an HA cycle (and a racing peer's /patroni) waits on this,
      // and each async file operation costs a hop through the blocking-I/O thread pool.
      state.dataDirEmpty = !existsSync(`${this.dataDir}/PG_VERSION`);
      if (state.dataDirEmpty) {
        const orphan = await this.ctl.killOrphan();
        if (orphan !== null) {
          this.#log(
            "warning",
            `data directory is empty but PostgreSQL (pid ${orphan}) was running: killed it`,
          );
        }
        return state;
      }
      const pf = this.ctl.readPidFile();
      if (pf === null) return this.#withControlData(state, null);
      // A server that answers SQL on our port and serves our data directory is the postmaster of the pid file
      // (it owns the lock file): no liveness subprocess while SQL answers, which is the common case.
      let row: (ObservedRow & { pending: PendingRestart }) | null = null;
      let sqlError: unknown = null;
      try {
        row = await this.#bounded(OBSERVE_TIMEOUT_MS, () =>
          this.#withSql(async (sql) => {
            const r = await observeQuery(sql);
            return { ...r, pending: await this.#pendingReader.read(sql, r) };
          }));
      } catch (e) {
        sqlError = e;
      }
      const proven = row !== null && this.#servesOurDataDir(row.dataDirectory);
      // Remembered either way: if the data directory vanishes, this is the orphan to kill.
      if (proven) this.ctl.seenAlive(pf.pid);
      const pid = proven ? pf.pid : await this.ctl.postmasterPid();
      await this.#withControlData(state, pid, row !== null);
      state.pid = pid;
      state.running = pid !== null;
      if (!state.running) return state;
      if (!row) throw sqlError;
      state.accepting = true;
      state.inRecovery = row.inRecovery;
      state.serverVersion = row.serverVersion;
      state.postmasterStartTime = row.postmasterStartTime;
      if (row.timeline !== null) state.timeline = row.timeline;
      state.receiveLsn = row.receiveLsn;
      state.replayLsn = row.replayLsn;
      state.xlogLocation = row.inRecovery
        ? Math.max(row.receiveLsn ?? 0, row.replayLsn ?? 0)
        : row.flushLsn ?? state.xlogLocation;
      state.replicationState = row.inRecovery
        ? (row.receiverStatus === "streaming" ? "streaming" : "in archive recovery")
        : null;
      state.upstream = row.upstream;
      state.replayPaused = row.replayPaused;
      state.replayedTimestamp = row.replayedTimestamp;
      state.replication = row.replication;
      state.pendingRestartReason = row.pending;
      state.pendingRestart = Object.keys(row.pending).length > 0;
    } catch (e) {
      if (!isConnectionError(e)) this.#log("warning", `Observation query failed: ${errText(e)}`);
    }
    return state;
  }

  /**
   * Fill sysid, control state and the local WAL end from pg_controldata. It is a subprocess: while the same
   * postmaster keeps answering SQL its last reading (sysid; the live values come from SQL) is reused.
   */
  async #withControlData(state: PgState, pid: number | null, answersSql = false): Promise<PgState> {
    const cached = pid !== null && this.#controlCache?.pid === pid ? this.#controlCache.cd : null;
    const cd = cached ?? await this.controlData().catch(() => null);
    // Kept only while SQL answers: during crash recovery the control file is the only live source.
    this.#controlCache = cd && pid !== null && answersSql ? { pid, cd } : null;
    if (cd) {
      state.sysid = cd.sysid;
      state.controlState = cd.state;
      const end = localWalEnd(cd);
      if (end) {
        state.timeline = end.timeline;
        state.xlogLocation = end.lsn;
      }
    }
    return state;
  }

  #dataDirReal: string | null = null;

  #servesOurDataDir(dir: string | null): boolean {
    if (dir === null) return false;
    if (dir === this.dataDir) return true;
    try {
      this.#dataDirReal ??= Deno.realPathSync(this.dataDir);
    } catch {
      return false;
    }
    return dir === this.#dataDirReal;
  }

  /** pg_controldata of the local data directory (LANG=C for stable labels). */
  async controlData(): Promise<ControlData> {
    const r = await runCommand(this.bin.pgControldata, [this.dataDir], {
      env: { LANG: "C", LC_ALL: "C" },
      timeoutMs: 10_000,
    });
    if (!r.success) throw new PgCommandError("pg_controldata", r.code, r.stderr);
    return parseControlData(r.stdout);
  }

  /** Major version of the data directory (PG_VERSION), else of the binaries. */
  async majorVersion(): Promise<number> {
    try {
      const v = parseInt((await Deno.readTextFile(`${this.dataDir}/PG_VERSION`)).trim(), 10);
      if (Number.isFinite(v)) return v;
    } catch { /* no data directory yet */ }
    if (this.#binVersion === null) {
      const r = await runCommand(this.bin.postgres, ["--version"], { timeoutMs: 10_000 });
      const m = /(\d+)(?:\.\d+)?/.exec(r.stdout);
      if (!r.success || !m) throw new PgCommandError("postgres --version", r.code, r.stderr);
      this.#binVersion = Number(m[1]);
    }
    return this.#binVersion;
  }

  // ---------------------------------------------------------------------------------------------------
  // SQL

  #connectParams() {
    const su = this.config.postgresql.authentication.superuser;
    const { port } = parseListen(this.config.postgresql.listen);
    return {
      host: this.config.postgresql.useUnixSocket
        ? this.#socketDir()
        : localHost(this.config.postgresql.listen),
      port,
      user: su.username,
      ...(su.password !== undefined ? { password: su.password } : {}),
      database: this.config.postgresql.database,
      ...(su.sslmode !== undefined ? { sslmode: su.sslmode } : {}),
    };
  }

  #socketDir(): string {
    const dirs = String(this.#effective().parameters.unix_socket_directories ?? "/tmp");
    return dirs.split(",")[0]!.trim() || "/tmp";
  }

  /** Run `fn` on the local server; a dead pooled connection is replaced once before giving up. */
  async #withSql<T>(fn: (sql: Sql) => Promise<T>): Promise<T> {
    for (let attempt = 0;; attempt++) {
      this.#sql ??= openSql({ ...this.#connectParams(), onClose: () => this.#onConnectionClosed?.() });
      try {
        return await fn(this.#sql);
      } catch (e) {
        if (!isConnectionError(e)) throw e;
        await this.#closeSql();
        if (attempt >= 1) {
          throw new PgUnreachableError(`Cannot query local PostgreSQL: ${errText(e)}`, { cause: e });
        }
      }
    }
  }

  /** `fn()`, or PgUnreachableError after `ms` (the client is then dropped so nothing waits on it). */
  async #bounded<T>(ms: number, fn: () => Promise<T>): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new PgUnreachableError(`Local PostgreSQL did not answer within ${ms} ms`)),
        ms,
      );
    });
    try {
      return await Promise.race([fn(), timeout]);
    } catch (e) {
      if (e instanceof PgUnreachableError) {
        const sql = this.#sql;
        this.#sql = null;
        sql?.end({ timeout: 0 }).catch(() => {});
      }
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  async #closeSql(): Promise<void> {
    const sql = this.#sql;
    this.#sql = null;
    if (sql) await sql.end({ timeout: 1 }).catch(() => {});
  }

  async query(text: string, params: unknown[] = []): Promise<Record<string, unknown>[]> {
    return await this.#withSql(async (sql) => {
      // deno-lint-ignore no-explicit-any
      const rows = await sql.unsafe(text, params as any[]);
      return (rows as Record<string, unknown>[]).map((r) => ({ ...r }));
    });
  }

  async checkpoint(): Promise<void> {
    await this.#withSql((sql) => sql.unsafe("CHECKPOINT"));
  }

  async close(): Promise<void> {
    await this.#closeSql();
  }

  // ---------------------------------------------------------------------------------------------------
  // Configuration files

  #effective() {
    const eff = effectiveParameters({
      config: this.config,
      dynamic: this.#dynamic,
      majorVersion: this.#majorCache ?? 15,
      ...(this.#ssn !== undefined ? { synchronousStandbyNames: this.#ssn } : {}),
      ...(this.config.citus ? { citusLibrary: this.#citusInstalled() } : {}),
    });
    // Copies of permanent logical slots on replicas are safe only while the primary keeps the catalog rows
    // they need, which hot_standby_feedback makes it do (Patroni forces it too).
    if (Object.values(this.#dynamic?.slots ?? {}).some((s) => s.type === "logical")) {
      eff.parameters.hot_standby_feedback = true;
    }
    return eff;
  }
  #majorCache: number | null = null;
  #citusLibrary: boolean | undefined;

  /** Whether the Citus library is installed next to these binaries (it is only preloaded when it is). */
  #citusInstalled(): boolean {
    this.#citusLibrary ??= citusLibraryPaths(this.config.postgresql.binDir).some((p) => {
      try {
        return Deno.statSync(p).isFile;
      } catch {
        return false;
      }
    });
    return this.#citusLibrary;
  }

  /** Rename initdb's postgresql.conf to postgresql.base.conf once (Patroni's layout). */
  async #ensureBaseConf(): Promise<void> {
    if (this.config.postgresql.customConf) return;
    const base = `${this.configDir}/${BASE_CONF}`;
    const conf = `${this.configDir}/postgresql.conf`;
    if (await exists(base)) return;
    if ((await exists(conf)) && !(await Deno.readTextFile(conf)).startsWith(GENERATED_HEADER)) {
      await Deno.rename(conf, base);
    } else {
      await this.user.writeFile(base, "", 0o600);
    }
  }

  /** Recovery settings found in our own postgresql.conf (after an agent restart). */
  async #recoveryFromFile(): Promise<GucMap | null> {
    let text: string;
    try {
      text = await Deno.readTextFile(`${this.configDir}/postgresql.conf`);
    } catch {
      return null;
    }
    const i = text.indexOf("# recovery settings");
    if (i < 0 || !(await exists(`${this.dataDir}/standby.signal`))) return null;
    const out: GucMap = {};
    for (const line of text.slice(i).split("\n").slice(1)) {
      const m = /^\s*([\w.]+)\s*=\s*(.*?)\s*$/.exec(line);
      if (!m) continue;
      const v = m[2]!;
      out[m[1]!] = v.startsWith("'")
        ? v.slice(1, -1).replaceAll("''", "'").replaceAll("\\\\", "\\")
        : /^\d+$/.test(v)
        ? Number(v)
        : v;
    }
    return out;
  }

  /**
   * Write postgresql.conf, hba/ident, signal files and the pass file for `role`. `keepRecovery`: recovery
   * settings and signal files a restore left in place stay as they are (custom bootstrap).
   */
  async #writeConfig(
    recovery: GucMap | null,
    opts: { hbaOverride?: string[]; keepRecovery?: boolean } = {},
  ): Promise<void> {
    this.#majorCache = await this.majorVersion();
    await this.#ensureBaseConf();
    const eff = this.#effective();
    if (recovery || opts.keepRecovery) {
      const cd = await this.controlData().catch(() => null);
      if (cd) {
        const r = applyReplicaMinimums(eff.parameters, cd.settings);
        eff.parameters = r.parameters;
        if (r.raised.length) {
          eff.warnings.push(
            `Raised settings to the primary's values recorded in pg_control: ${r.raised.join(", ")}`,
          );
        }
      }
    }
    const w = eff.warnings.join("; ");
    if (w && w !== this.#lastWarnings) this.#log("warning", w);
    this.#lastWarnings = w;
    await this.#writePgpass();
    await this.user.writeFile(
      `${this.configDir}/postgresql.conf`,
      renderPostgresqlConf({
        include: this.config.postgresql.customConf ?? BASE_CONF,
        parameters: eff.parameters,
        recovery,
      }),
    );
    const hba = opts.hbaOverride ?? hbaLines(this.config, this.#dynamic);
    if (hba && String(eff.parameters.hba_file) === `${this.configDir}/pg_hba.conf`) {
      await this.user.writeFile(`${this.configDir}/pg_hba.conf`, renderLinesFile(hba));
    }
    const ident = identLines(this.config, this.#dynamic);
    if (ident && String(eff.parameters.ident_file) === `${this.configDir}/pg_ident.conf`) {
      await this.user.writeFile(`${this.configDir}/pg_ident.conf`, renderLinesFile(ident));
    }
    if (recovery) {
      await this.user.writeFile(`${this.dataDir}/standby.signal`, "");
    } else if (!opts.keepRecovery) {
      await Deno.remove(`${this.dataDir}/standby.signal`).catch(() => {});
      await Deno.remove(`${this.dataDir}/recovery.signal`).catch(() => {});
    }
    this.#recovery = recovery;
  }

  #recoveryFor(role: "primary" | "replica", upstream: Upstream | null): GucMap | null {
    if (role === "primary") return null;
    return recoveryParameters({
      config: this.config,
      dynamic: this.#dynamic,
      upstream,
      passfile: this.passfile,
    });
  }

  /** Rewrite the config keeping the current role and upstream. */
  async #rewriteConfig(): Promise<void> {
    if (this.#recovery === undefined) this.#recovery = await this.#recoveryFromFile();
    await this.#writeConfig(this.#recovery);
  }

  async #writePgpass(): Promise<void> {
    const a = this.config.postgresql.authentication;
    const entries: PgpassEntry[] = [];
    for (const u of [a.replication, a.superuser, a.rewind]) {
      if (u?.password !== undefined && !entries.some((e) => e.user === u.username)) {
        entries.push({ user: u.username, password: u.password });
      }
    }
    await this.user.writeFile(this.passfile, renderPgpass(entries), 0o600);
  }

  /** Ask the server to reload and wait (≤ 5 s) until our session has re-read the files. */
  async #reloadAndWait(): Promise<void> {
    let done: boolean;
    try {
      done = await this.#withSql((sql) => reloadAndWait(sql, (ms) => this.#clock.sleep(ms)));
    } catch (e) {
      if (!(e instanceof PgUnreachableError)) throw e;
      const r = await this.ctl.reload();
      if (!r.success) throw new PgCommandError("pg_ctl reload", r.code, r.stderr);
      return;
    }
    if (!done) this.#log("warning", "Reload was requested but the configuration was not re-read within 5 s");
  }

  async reload(): Promise<void> {
    await this.#rewriteConfig();
    if ((await this.ctl.postmasterPid()) === null) return;
    await this.#reloadAndWait();
  }

  async applyParameters(
    params: Record<string, string | number | boolean>,
  ): Promise<{ pendingRestart: boolean }> {
    const d = this.#dynamic ?? DynamicConfigSchema.parse({});
    this.#dynamic = { ...d, postgresql: { ...d.postgresql, parameters: { ...params } } };
    await this.#rewriteConfig();
    if ((await this.ctl.postmasterPid()) === null) return { pendingRestart: false };
    await this.#reloadAndWait();
    const pending = await this.#withSql(pendingRestart);
    for (const [k, v] of Object.entries(pending)) {
      this.#log("info", `Changed ${k} from '${v.old_value}' to '${v.new_value}' (restart might be required)`);
    }
    return { pendingRestart: Object.keys(pending).length > 0 };
  }

  async setSynchronousStandbyNames(ssn: string | null | undefined): Promise<void> {
    this.#ssn = ssn;
    await this.#rewriteConfig();
    if ((await this.ctl.postmasterPid()) !== null) await this.#reloadAndWait();
  }

  async synchronousStandbyNames(): Promise<string> {
    const rows = await this.#withSql((sql) =>
      sql.unsafe(`SELECT current_setting('synchronous_standby_names') AS v`)
    );
    return String((rows[0] as Record<string, unknown>).v ?? "");
  }

  // ---------------------------------------------------------------------------------------------------
  // Lifecycle

  async start(opts: StartOptions): Promise<boolean> {
    if (!(await exists(`${this.dataDir}/PG_VERSION`))) {
      throw new PgStateError(`Cannot start PostgreSQL: no data directory at "${this.dataDir}"`);
    }
    const running = await this.ctl.postmasterPid();
    if (running !== null) {
      this.#log("info", `Adopting running postmaster (pid ${running}) instead of starting another`);
      return await this.#waitAccepting(opts.timeoutS);
    }
    await this.#writeConfig(this.#recoveryFor(opts.role, opts.upstream ?? null));
    await this.user.ensureOwnedDir(`${this.dataDir}/log`);
    await this.#closeSql();
    const r = await this.ctl.start(opts.timeoutS);
    if (r.ok) return true;
    if (r.timedOut && (await this.ctl.postmasterPid()) !== null) {
      this.#log("warning", `PostgreSQL is still starting after ${opts.timeoutS} s`);
      return false;
    }
    this.#log("error", `PostgreSQL failed to start: ${r.output.trim()} ${await this.#logTail()}`);
    return false;
  }

  async #waitAccepting(timeoutS: number): Promise<boolean> {
    const deadline = this.#clock.now() + timeoutS * 1000;
    for (;;) {
      try {
        await this.#withSql((sql) => sql.unsafe("SELECT 1"));
        return true;
      } catch { /* not yet */ }
      if (this.#clock.now() >= deadline || (await this.ctl.postmasterPid()) === null) return false;
      await this.#clock.sleep(200);
    }
  }

  async #logTail(lines = 10): Promise<string> {
    try {
      const t = await Deno.readTextFile(this.ctl.logFile);
      return "| log: " + t.trim().split("\n").slice(-lines).join(" | ");
    } catch {
      return "";
    }
  }

  async stop(mode: StopMode, timeoutS: number): Promise<boolean> {
    if ((await this.ctl.postmasterPid()) === null) return true;
    // Our own pooled session would hold up a smart shutdown.
    await this.#closeSql();
    const r = await this.ctl.stop(mode, timeoutS);
    if (!r.ok) this.#log("warning", `pg_ctl stop -m ${mode} did not finish: ${r.output.trim()}`);
    return r.ok;
  }

  /** Stop (fast) and start again with `opts`. */
  async restart(opts: StartOptions & { stopMode?: StopMode }): Promise<boolean> {
    if (!(await this.stop(opts.stopMode ?? "fast", this.config.postgresql.pgCtlTimeout))) return false;
    return await this.start(opts);
  }

  async promote(timeoutS: number): Promise<boolean> {
    const viaSql = await this.#promoteViaSql(timeoutS);
    if (viaSql === false) return false;
    if (viaSql === null) {
      await this.#closeSql();
      const r = await this.ctl.promote(timeoutS);
      if (!r.ok) {
        this.#log("error", `pg_ctl promote failed: ${r.output.trim()}`);
        return false;
      }
    }
    // The server removed standby.signal itself; drop the recovery settings so a restart stays primary.
    await this.#writeConfig(null);
    await this.#reloadAndWait().catch((e) =>
      this.#log("warning", `Reload after promote failed: ${errText(e)}`)
    );
    return true;
  }

  /**
   * `pg_promote(false)` on the connection we hold, then poll every 5 ms until recovery ended: no subprocess
   * (runuser, pg_ctl) and no 100 ms polling step (pg_ctl's and pg_promote's own wait) between the DCS lock and
   * the first accepted write. Null when it could not be asked (no connection): the caller uses pg_ctl.
   */
  async #promoteViaSql(timeoutS: number): Promise<boolean | null> {
    try {
      if (!(await this.#withSql(requestPromotion))) return null;
    } catch (e) {
      this.#log("warning", `pg_promote() failed (${errText(e)}), falling back to pg_ctl promote`);
      return null;
    }
    const deadline = this.#clock.now() + timeoutS * 1000;
    while (this.#clock.now() < deadline) {
      try {
        if ((await this.#withSql(queryInRecovery)) === false) return true;
      } catch { /* the server may be busy finishing recovery: ask again */ }
      await this.#clock.sleep(5);
    }
    this.#log("error", `server did not leave recovery within ${timeoutS} s of pg_promote()`);
    return false;
  }

  async follow(upstream: Upstream | null): Promise<void> {
    const recovery = this.#recoveryFor("replica", upstream);
    const pid = await this.ctl.postmasterPid();
    if (pid === null) {
      await this.#writeConfig(recovery);
      return;
    }
    let inRecovery: boolean | null = null;
    try {
      inRecovery = (await this.#withSql(observeQuery)).inRecovery;
    } catch { /* unknown: treat as needing a restart */ }
    const major = await this.majorVersion();
    if (inRecovery === true && major >= 13) {
      // primary_conninfo / primary_slot_name are reloadable since PG 13.
      await this.#writeConfig(recovery);
      await this.#reloadAndWait();
      return;
    }
    this.#log(
      "info",
      `Restarting PostgreSQL as a replica of ${
        upstream ? `${upstream.host}:${upstream.port}` : "the archive"
      }`,
    );
    if (!(await this.stop("fast", this.config.postgresql.pgCtlTimeout))) {
      throw new PgStateError("Cannot follow a new upstream: PostgreSQL did not stop");
    }
    await this.start({ role: "replica", upstream, timeoutS: this.config.postgresql.pgCtlTimeout });
  }

  async removeDataDirectory(): Promise<void> {
    await this.#stopForRemoval();
    // Keep the directory itself: it may be a mount point, and its owner and mode are right.
    await emptyDir(this.dataDir);
  }

  async moveDataDirectory(): Promise<string | null> {
    await this.#stopForRemoval();
    const stamp = new Date(this.#clock.now()).toISOString().slice(0, 19).replace("T", "-").replaceAll(
      ":",
      "-",
    );
    const target = `${this.dataDir}_${stamp}`;
    try {
      await Deno.rename(this.dataDir, target);
      this.#log("info", `renamed data directory to ${target}`);
      return target;
    } catch (e) {
      // A mount point cannot be renamed; emptied, the next start can bootstrap again.
      this.#log(
        "warning",
        `Could not rename data directory to ${target} (${errText(e)}): emptying it instead`,
      );
      await emptyDir(this.dataDir);
      return null;
    }
  }

  async #stopForRemoval(): Promise<void> {
    if ((await this.ctl.postmasterPid()) !== null) {
      await this.stop("immediate", this.config.postgresql.pgCtlTimeout);
      if ((await this.ctl.postmasterPid()) !== null) await this.ctl.kill("SIGKILL");
    }
    await this.#closeSql();
    this.#recovery = undefined;
  }

  // ---------------------------------------------------------------------------------------------------
  // Bootstrap and replica creation

  async bootstrap(opts: BootstrapOptions = {}): Promise<void> {
    if (await exists(`${this.dataDir}/PG_VERSION`)) {
      throw new PgStateError(`Cannot bootstrap: "${this.dataDir}" already holds a cluster`);
    }
    await this.user.ensureOwnedDir(this.dataDir);
    const name = this.config.bootstrap.method;
    if (name !== "initdb") {
      const method = this.bootstrapMethods.get(name);
      if (method) return await this.#customBootstrap(method, opts);
      // Patroni too runs initdb when the named method has no command.
      this.#log(
        "warning",
        `bootstrap.method "${name}" names no bootstrap method plugin or section: using initdb`,
      );
    }
    const su = this.config.postgresql.authentication.superuser;
    let pwfile: string | null = null;
    if (su.password !== undefined) {
      // Beside the data directory, where the agent may write (it holds no grant for the system temp dir).
      pwfile = `${this.dataDir}.initdb-pw`;
      await this.user.writeFile(pwfile, su.password + "\n", 0o600);
    }
    try {
      this.#log("info", "Initialising a new cluster with initdb");
      await this.user.runOrThrow(this.bin.initdb, initdbArgs(this.dataDir, this.config, pwfile), {
        timeoutMs: 300_000,
      });
    } finally {
      if (pwfile) await Deno.remove(pwfile).catch(() => {});
    }

    // Until the roles exist, only local socket connections are trusted.
    const hbaPath = `${this.configDir}/pg_hba.conf`;
    const initdbHba = await Deno.readTextFile(hbaPath).catch(() => null);
    await this.#writeConfig(null, { hbaOverride: ["local all all trust"] });
    await this.user.ensureOwnedDir(`${this.dataDir}/log`);
    const r = await this.ctl.start(this.config.postgresql.pgCtlTimeout);
    if (!r.ok) {
      throw new PgStateError(`Cannot start the new cluster: ${r.output.trim()} ${await this.#logTail()}`);
    }
    const { port } = parseListen(this.config.postgresql.listen);
    const sock = openSql({ host: this.#socketDir(), port, user: su.username, database: "postgres", max: 1 });
    try {
      await createRoles(sock, this.config);
      if (initdbHba !== null && !hbaLines(this.config, this.#dynamic)) {
        await this.user.writeFile(hbaPath, initdbHba);
      }
      await this.#writeConfig(null);
      await reloadAndWait(sock, (ms) => this.#clock.sleep(ms));
    } finally {
      await sock.end({ timeout: 1 }).catch(() => {});
    }

    await this.#postBootstrapScript();
  }

  /** `bootstrap.post_bootstrap`, if configured; a failure fails the bootstrap. */
  async #postBootstrapScript(): Promise<void> {
    const script = this.config.bootstrap.postBootstrap;
    if (!script) return;
    this.#log("info", `Running post_bootstrap script: ${script}`);
    const url = connUrl({
      host: localHost(this.config.postgresql.listen),
      port: parseListen(this.config.postgresql.listen).port,
      user: this.config.postgresql.authentication.superuser.username,
      database: this.config.postgresql.database,
    });
    await runPostBootstrap(this.user, script, url, this.passfile);
  }

  /**
   * Patroni's custom bootstrap: the method fills the (empty, owned) data directory, typically restoring a
   * backup; then the result is made this cluster's primary: stray files from the source go, recovery
   * settings per the method (`recovery_conf`, `keep_existing_recovery_conf`), start with local trust only,
   * wait for the end of recovery (promoting a server that would stay in recovery), create or update our
   * roles, drop the method's recovery settings, restore pg_hba and run post_bootstrap. No fallback to initdb.
   */
  async #customBootstrap(method: BootstrapMethod, opts: BootstrapOptions): Promise<void> {
    opts.onState?.("running custom bootstrap script");
    this.#log("info", `Running custom bootstrap method "${method.name}"`);
    await this.#writePgpass();
    let ok = false;
    try {
      ok = await method.run({
        dataDir: this.dataDir,
        scope: this.config.scope,
        user: this.user,
        env: { PGPASSFILE: this.passfile },
        log: this.#log,
      });
    } catch (e) {
      this.#log("error", `Custom bootstrap method "${method.name}" threw: ${errText(e)}`);
    }
    if (!ok) {
      opts.onState?.("custom bootstrap failed");
      throw new PgStateError(`Custom bootstrap method "${method.name}" failed`);
    }
    if (!(await exists(`${this.dataDir}/PG_VERSION`))) {
      opts.onState?.("custom bootstrap failed");
      throw new PgStateError(`Custom bootstrap method "${method.name}" left no cluster in "${this.dataDir}"`);
    }
    await this.user.chown(this.dataDir);
    await Deno.chmod(this.dataDir, 0o700);
    for (const f of STRAY_FILES) await Deno.remove(`${this.dataDir}/${f}`).catch(() => {});
    // The source's server log is not this cluster's history.
    await emptyDir(`${this.dataDir}/log`);
    this.#recovery = undefined;

    const plan = recoveryPlan(method);
    const hbaPath = `${this.configDir}/pg_hba.conf`;
    const restoredHba = await Deno.readTextFile(hbaPath).catch(() => null);
    // Until our roles have their passwords, only local socket connections are trusted.
    await this.#writeConfig(plan.settings, {
      hbaOverride: ["local all all trust"],
      keepRecovery: plan.keepExisting,
    });
    if (plan.signal === "recovery") {
      await Deno.remove(`${this.dataDir}/standby.signal`).catch(() => {});
      await this.user.writeFile(`${this.dataDir}/recovery.signal`, "");
    }
    await this.user.ensureOwnedDir(`${this.dataDir}/log`);
    opts.onState?.("starting after custom bootstrap");
    this.#log("info", "starting after custom bootstrap");
    await this.#closeSql();
    const t = this.config.postgresql.pgCtlTimeout;
    const r = await this.ctl.start(t);
    // Still starting (replaying up to consistency) is fine: the wait below keeps watching the postmaster.
    if (!r.ok && !(r.timedOut && (await this.ctl.postmasterPid()) !== null)) {
      throw new PgStateError(
        `Cannot start the restored cluster: ${r.output.trim()} ${await this.#logTail()}`,
      );
    }
    const su = this.config.postgresql.authentication.superuser;
    const { port } = parseListen(this.config.postgresql.listen);
    const sock = openSql({ host: this.#socketDir(), port, user: su.username, database: "postgres", max: 1 });
    try {
      await awaitEndOfRecovery({
        probe: async () => {
          const rows = await sock.unsafe(`SELECT pg_is_in_recovery() AS r,
            CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() ELSE false END AS p,
            pg_last_wal_replay_lsn()::text AS l`);
          const row = rows[0] as Record<string, unknown>;
          return {
            inRecovery: row.r === true || row.r === "t",
            paused: row.p === true || row.p === "t",
            replayLsn: parseLsnOrNull(row.l === null ? null : String(row.l)),
          };
        },
        alive: async () => (await this.ctl.postmasterPid()) !== null,
        promote: async () => {
          const p = await this.ctl.promote(t);
          if (!p.ok) throw new PgStateError(`Cannot promote the restored cluster: ${p.output.trim()}`);
        },
        standbyMode: () => exists(`${this.dataDir}/standby.signal`),
        clock: this.#clock,
        log: this.#log,
      }).catch(async (e) => {
        throw new PgStateError(`${errText(e)} ${await this.#logTail()}`);
      });
      await createRoles(sock, this.config);
      // What the method wrote into postgresql.auto.conf for its recovery must not steer later recoveries:
      // the agent renders those settings itself (Patroni removes them too).
      const names = RECOVERY_PARAMETERS.map((n) => `'${n}'`).join(", ");
      const rows = await sock.unsafe(`SELECT DISTINCT name FROM pg_file_settings
        WHERE sourcefile LIKE '%postgresql.auto.conf' AND name IN (${names})`);
      for (const row of rows as Record<string, unknown>[]) {
        const n = String(row.name);
        if ((RECOVERY_PARAMETERS as readonly string[]).includes(n)) {
          await sock.unsafe(`ALTER SYSTEM RESET ${n}`);
        }
      }
      if (restoredHba !== null && !hbaLines(this.config, this.#dynamic)) {
        await this.user.writeFile(hbaPath, restoredHba);
      }
      await this.#writeConfig(null);
      await reloadAndWait(sock, (ms) => this.#clock.sleep(ms));
    } finally {
      await sock.end({ timeout: 1 }).catch(() => {});
    }
    await this.#postBootstrapScript();
  }

  /** Conninfo of `source` for the replication user, with the pass file instead of the password. */
  #sourceConninfo(source: Upstream, user: "replication" | "rewind" | "superuser", database?: string) {
    const auth = this.config.postgresql.authentication;
    const u = user === "rewind" ? auth.rewind ?? auth.superuser : auth[user];
    return formatConninfo({
      host: source.host,
      port: source.port,
      user: u.username,
      dbname: database ?? this.config.postgresql.database,
      sslmode: u.sslmode ?? "prefer",
      sslcert: u.sslcert,
      sslkey: u.sslkey,
      sslrootcert: u.sslrootcert,
      application_name: "pgwarden",
    });
  }

  async createReplica(source: Upstream & { connUrl?: string; methods?: string[] }): Promise<void> {
    if (await exists(`${this.dataDir}/PG_VERSION`)) {
      throw new PgStateError(`Cannot create a replica: "${this.dataDir}" already holds a cluster`);
    }
    if ((await this.ctl.postmasterPid()) !== null) {
      throw new PgStateError("Cannot create a replica: a postmaster is running on the data directory");
    }
    await this.user.ensureOwnedDir(this.dataDir);
    await this.#writePgpass();
    const repl = this.config.postgresql.authentication.replication;
    const hasSource = source.host !== "" && source.port > 0;
    const methods = source.methods?.length ? source.methods : this.config.postgresql.createReplicaMethods;
    const used = await runReplicaMethods(this.replicaMethods, methods, {
      dataDir: this.dataDir,
      scope: this.config.scope,
      conninfo: hasSource ? this.#sourceConninfo(source, "replication") : null,
      connUrl: hasSource
        ? source.connUrl ??
          connUrl({ host: source.host, port: source.port, user: repl.username, database: "postgres" })
        : null,
      env: { PGPASSFILE: this.passfile },
      user: this.user,
      bin: this.bin,
      majorVersion: await this.majorVersion(),
      clock: this.#clock,
      log: this.#log,
    });
    if (!used) {
      throw new PgStateError(
        `Cannot create a replica: every method failed (${methods.join(", ")})`,
      );
    }
    this.#recovery = undefined;
    // The copy carries the source's settings files (ours are rendered again at start) and its server log.
    await emptyDir(`${this.dataDir}/log`);
    await this.user.chown(this.dataDir);
    await Deno.chmod(this.dataDir, 0o700);
  }

  // ---------------------------------------------------------------------------------------------------
  // Rewind

  /** A superuser SQL client for a remote member. */
  #remoteSql(source: Upstream): Sql {
    const su = this.config.postgresql.authentication.superuser;
    return openSql({
      host: source.host,
      port: source.port,
      user: su.username,
      ...(su.password !== undefined ? { password: su.password } : {}),
      database: this.config.postgresql.database,
      max: 1,
      ...(su.sslmode !== undefined ? { sslmode: su.sslmode } : {}),
    });
  }

  async #localPosition(): Promise<LocalPosition | null> {
    if ((await this.ctl.postmasterPid()) !== null) {
      try {
        const row = await this.#withSql(observeQuery);
        if (row.timeline === null) return null;
        return row.inRecovery
          ? { timeline: row.timeline, lsn: row.replayLsn ?? row.receiveLsn ?? 0, inRecovery: true }
          : { timeline: row.timeline, lsn: row.flushLsn ?? 0, inRecovery: false };
      } catch { /* fall back to pg_control */ }
    }
    const cd = await this.controlData();
    let state = cd.state ?? "";
    if (
      (state === "shut down in recovery" || state === "in archive recovery") &&
      (!cd.minRecoveryLsn || !cd.minRecoveryTimeline)
    ) state = "shut down"; // was a primary when it stopped
    if (state === "shut down in recovery" || state === "in archive recovery") {
      return { timeline: cd.minRecoveryTimeline!, lsn: cd.minRecoveryLsn!, inRecovery: true };
    }
    if (cd.checkpointTimeline === null || cd.checkpointLsn === null) return null;
    if (state === "shut down") {
      const end = await recordEnd(this.bin, this.dataDir, cd.checkpointTimeline, formatLsn(cd.checkpointLsn))
        .catch(() => null);
      return {
        timeline: cd.checkpointTimeline,
        lsn: cd.checkpointLsn,
        inRecovery: false,
        checkpointEnd: end,
      };
    }
    return { timeline: cd.checkpointTimeline, lsn: cd.checkpointLsn, inRecovery: false, unclean: true };
  }

  async needsRewind(source: Upstream): Promise<boolean> {
    const local = await this.#localPosition();
    if (!local) {
      this.#log("warning", "Cannot tell the local timeline; assuming pg_rewind is needed");
      return true;
    }
    const remote = this.#remoteSql(source);
    try {
      const row = await observeQuery(remote);
      if (row.timeline === null) throw new PgStateError("Cannot read the source's timeline");
      let history: ReturnType<typeof parseTimelineHistory> = [];
      if (row.timeline > 1) {
        const rows = await remote.unsafe(`SELECT pg_read_file($1) AS h`, [
          `pg_wal/${historyFileName(row.timeline)}`,
        ]);
        history = parseTimelineHistory(String((rows[0] as Record<string, unknown>).h ?? ""));
      }
      if (local.timeline === row.timeline && row.timeline > 1) {
        // Our own history of this timeline number: another branch of it shows a different switch point.
        local.history = await Deno.readTextFile(`${this.dataDir}/pg_wal/${historyFileName(row.timeline)}`)
          .then(parseTimelineHistory, () => undefined);
      }
      const d = decideRewind(local, {
        timeline: row.timeline,
        lsn: row.inRecovery ? Math.max(row.receiveLsn ?? 0, row.replayLsn ?? 0) : row.flushLsn,
        history,
      });
      this.#log(d.need ? "info" : "debug", `pg_rewind ${d.need ? "needed" : "not needed"}: ${d.reason}`);
      return d.need;
    } catch (e) {
      if (e instanceof PgError) throw e;
      throw new PgUnreachableError(`Cannot check the source's timeline: ${errText(e)}`, { cause: e });
    } finally {
      await remote.end({ timeout: 1 }).catch(() => {});
    }
  }

  /** pg_rewind works only with data checksums or wal_log_hints, and on a cleanly stopped cluster. */
  async canRewind(): Promise<boolean> {
    try {
      const cd = await this.controlData();
      return cd.walLogHints || cd.dataChecksums;
    } catch {
      return false;
    }
  }

  async rewind(source: Upstream): Promise<boolean> {
    if (!(await this.canRewind())) {
      this.#log("error", "Cannot rewind: the cluster has neither data checksums nor wal_log_hints");
      return false;
    }
    if (
      (await this.ctl.postmasterPid()) !== null &&
      !(await this.stop("fast", this.config.postgresql.pgCtlTimeout))
    ) {
      this.#log("error", "Cannot rewind: PostgreSQL did not stop");
      return false;
    }
    let cd = await this.controlData();
    if (!CLEAN_STATES.has(cd.state ?? "")) {
      // pg_rewind needs a clean shutdown; single-user mode refuses standby mode, so drop the signal files.
      this.#log("info", `Running crash recovery in single-user mode (cluster state "${cd.state}")`);
      await Deno.remove(`${this.dataDir}/standby.signal`).catch(() => {});
      await Deno.remove(`${this.dataDir}/recovery.signal`).catch(() => {});
      const r = await this.ctl.singleUserRecovery(this.config.postgresql.pgCtlTimeout * 5);
      cd = await this.controlData();
      if (!CLEAN_STATES.has(cd.state ?? "")) {
        this.#log("error", `Crash recovery failed (state "${cd.state}"): ${r.stderr.trim()}`);
        return false;
      }
    }
    // pg_rewind reads the source's timeline from its pg_control, which a fresh promotion updates only at the
    // next checkpoint.
    const remote = this.#remoteSql(source);
    try {
      await remote.unsafe("CHECKPOINT");
    } catch (e) {
      this.#log("error", `Cannot rewind: CHECKPOINT on the source failed: ${errText(e)}`);
      return false;
    } finally {
      await remote.end({ timeout: 1 }).catch(() => {});
    }
    await this.#writePgpass();
    const args = [
      `--target-pgdata=${this.dataDir}`,
      `--source-server=${this.#sourceConninfo(source, "rewind")}`,
    ];
    this.#log("info", `Running pg_rewind from ${source.host}:${source.port}`);
    // pg_rewind makes the target's files match the source's, our server log included: keep ours aside.
    const aside = `${this.dataDir}.rewind-postgresql.log`;
    const hadLog = await moveFile(this.ctl.logFile, aside);
    const r = await this.user.run(this.bin.pgRewind, args, {
      env: { PGPASSFILE: this.passfile },
      timeoutMs: 3600_000,
    });
    if (hadLog) {
      await this.user.ensureOwnedDir(`${this.dataDir}/log`);
      await moveFile(aside, this.ctl.logFile);
    }
    this.#recovery = undefined;
    if (!r.success) {
      this.#log("error", `pg_rewind failed (exit code ${r.code}): ${(r.stderr || r.stdout).trim()}`);
      return false;
    }
    this.#log("info", "pg_rewind finished");
    return true;
  }

  // ---------------------------------------------------------------------------------------------------
  // Slots

  async syncReplicationSlots(names: string[]): Promise<void> {
    const ignore = (this.#dynamic?.ignoreSlots ?? []).map((r) => ({
      ...(r.name !== undefined ? { name: r.name } : {}),
      ...(r.type !== undefined ? { type: r.type } : {}),
      ...(r.database !== undefined ? { database: r.database } : {}),
      ...(r.plugin !== undefined ? { plugin: r.plugin } : {}),
    }));
    const plan = await this.#withSql((sql) => syncPhysicalSlots(sql, names, ignore));
    for (const n of plan.create) this.#log("info", `Created physical replication slot "${n}"`);
    for (const n of plan.drop) this.#log("info", `Dropped physical replication slot "${n}"`);
    for (const n of plan.keepActive) this.#log("warning", `Kept unwanted slot "${n}": it is in use`);
  }

  /** Run `fn` on a short-lived connection to `database` (logical slots live in one database). */
  async #withDatabase<T>(database: string | null, fn: (sql: Sql) => Promise<T>): Promise<T> {
    if (database === null || database === this.config.postgresql.database) return await this.#withSql(fn);
    const sql = openSql({ ...this.#connectParams(), database, max: 1 });
    try {
      return await fn(sql);
    } finally {
      await sql.end({ timeout: 1 }).catch(() => {});
    }
  }

  async slotStates(): Promise<SlotState[]> {
    return await this.#withSql(slotStates);
  }

  async createLogicalSlot(name: string, database: string, plugin: string): Promise<void> {
    await this.#withDatabase(database, (sql) => createLogicalSlot(sql, name, plugin));
    this.#log("info", `Created logical replication slot "${name}" (${plugin}) in database "${database}"`);
  }

  async dropSlot(name: string): Promise<void> {
    await this.#withSql((sql) => dropSlot(sql, name));
    this.#log("info", `Dropped replication slot "${name}"`);
  }

  async advanceSlot(name: string, database: string | null, lsn: number): Promise<void> {
    await this.#withDatabase(database, (sql) => advanceSlot(sql, name, lsn));
  }

  /**
   * Copy logical slots `names` from the primary at `source` into this replica's data directory (PostgreSQL
   * must be stopped; it loads them at the next start). Returns the names copied.
   */
  async copyLogicalSlots(source: Upstream, names: string[]): Promise<string[]> {
    const remote = this.#remoteSql(source);
    try {
      const files = await readLogicalSlotFiles(remote, names);
      await writeSlotFiles(this.dataDir, files, this.user);
      for (const f of files) {
        this.#log("info", `Copied logical replication slot "${f.name}" from the primary`);
      }
      return files.map((f) => f.name);
    } finally {
      await remote.end({ timeout: 1 }).catch(() => {});
    }
  }
}

/** rename, or copy + remove across file systems; false when `from` does not exist. */
async function moveFile(from: string, to: string): Promise<boolean> {
  try {
    await Deno.rename(from, to);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    await Deno.copyFile(from, to);
    await Deno.remove(from);
    return true;
  }
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
