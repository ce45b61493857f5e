/**
 * The HA loop: observe (DCS snapshot + local PostgreSQL + peers) → decide (pure, src/ha/decide.ts) → act
 * (this file's executor). One log line per cycle says what was decided and why.
 *
 * All effects go through ports (Dcs, PostgresPort, PeerClient, Clock), so the same code runs against real
 * etcd/PostgreSQL and inside the deterministic simulation.
 */
import type { Config } from "../config/schema.ts";
import { type DynamicConfig, toPatroniDynamic } from "../config/dynamic.ts";
import type {
  ClusterSnapshot,
  Dcs,
  FailoverValue,
  HistoryEntry,
  LeaderKey,
  Member,
  Versioned,
} from "../dcs/types.ts";
import { decide, pickCloneSource, wantedUpstream } from "../ha/decide.ts";
import { findMember, memberUpstream as memberUpstreamFor } from "../ha/members.ts";
import { memberSlotsFor } from "../ha/slot_plan.ts";
import { effectivePostgresql } from "../config/effective.ts";
import {
  GUC_CATALOG_SQL,
  type GucSetting,
  parameterProblems,
  parseCatalog,
} from "../postgres/guc_validate.ts";
import type { Action, Decision, NodeTags, Observation } from "../ha/types.ts";
import { initialMemory } from "../ha/types.ts";
import { emptyPgState, type PgState, type PostgresPort, type Upstream } from "../postgres/port.ts";
import type { Clock } from "../util/clock.ts";
import type { AgentHooks, HookContext } from "./hooks.ts";
import { noHooks } from "./hooks.ts";
import type { Logger } from "./log.ts";
import { buildMemberData } from "./member_data.ts";
import type { PeerClient } from "./peers.ts";
import type { AgentView, PgRunState, RestartRequest } from "./status.ts";
import {
  fromScheduled,
  restartFilterFailure,
  type ScheduledRestart,
  scheduledRestartStep,
  toScheduled,
} from "./scheduled_restart.ts";
import { DynamicState } from "./dynamic_state.ts";
import { DcsUnavailableError } from "../dcs/errors.ts";
import { SyncExecutor } from "./sync_executor.ts";
import { SlotsExecutor } from "./slots_executor.ts";
import type { Watchdog } from "./watchdog.ts";

export interface HaAgentDeps {
  config: Config;
  dcs: Dcs;
  pg: PostgresPort & { setDynamicConfig?(d: DynamicConfig): void };
  peers: PeerClient;
  clock: Clock;
  log: Logger;
  hooks?: AgentHooks;
  /** Initial dynamic config (cache file or bootstrap.dcs). */
  dynamic: DynamicConfig;
  /** Persist the dynamic config cache (Patroni's patroni.dynamic.json). */
  saveDynamicCache?: (d: DynamicConfig) => Promise<boolean | void>;
  /** Observe-only: run the full loop, log and publish what would be done, change nothing. */
  observeOnly?: boolean;
  /** Called when the agent must exit (failed bootstrap); the process entry exits non-zero. */
  onFatal?: (reason: string) => void;
  /** Liveness of the local postmaster without SQL, asked when `onPgConnectionClosed` fires. */
  postmasterAlive?: () => boolean | Promise<boolean>;
  /** Subscribe to "a local PostgreSQL connection closed": a crashed postmaster drops its backends' sockets. */
  onPgConnectionClosed?: (fn: () => void) => void;
  /** The watchdog armed while this node is the primary (none: as if mode were off). */
  watchdog?: Watchdog;
}

/** When to ask whether the postmaster is gone after a local connection closed (ms after the previous ask). */
const POSTMASTER_RECHECK_MS = [0, 100, 400, 1000];

/**
 * How old a reading of the local PostgreSQL may be and still answer a peer's GET /patroni. After the primary
 * died a replica's received LSN no longer moves, so a reading this young is as good as a new one.
 */
const SHARED_READING_MS = 50;

export class HaAgent {
  readonly memory = initialMemory();
  readonly dyn: DynamicState;
  #cluster: ClusterSnapshot | null = null;
  #dcsLastSeen: number | null = null;
  #pg: PgState = emptyPgState();
  #state: PgRunState = "stopped";
  #role = "uninitialized";
  #lastDecision: Decision | null = null;
  /** Members of the last DCS view that had a leader (their api_url is needed to ask them in a race). */
  #membersWithLeader: Member[] = [];
  /**
   * The `failsafe` key as last read or written by us (Patroni: dcs.failsafe). Members listed there may race
   * after reading it, so a DCS outage must ask exactly them, including members our own last write added.
   */
  #failsafeMap: Record<string, string> | null = null;
  #asyncAction: string | null = null;
  #nextRunAt = 0;
  #wake: AbortController = new AbortController();
  #stoppedByUs = false;
  #lastMessage = "";
  #checkpointAfterPromote: boolean | undefined;
  #checkpointRunning = false;
  #watchdogFailed = false;
  /** This replica holds slots for members cascading from it. */
  #cascadeSlots = false;
  #scheduledRestart: ScheduledRestart | null = null;
  #lastObs: Observation | null = null;
  #gucCatalog: { version: number; settings: Map<string, GucSetting> } | null = null;
  /** The dynamic config changed and is not in `<data_dir>/patroni.dynamic.json` yet. */
  #cacheDirty = false;
  readonly #hooks: AgentHooks;
  /** synchronous_mode: SSN and the `sync` key (primary housekeeping, pre-promote). */
  readonly #sync: SyncExecutor;
  /** Permanent slots, slot copies on replicas, `status.slots`. */
  readonly #slots: SlotsExecutor;

  constructor(readonly deps: HaAgentDeps) {
    this.dyn = new DynamicState(deps.dynamic, deps.log);
    this.#hooks = deps.hooks ?? noHooks;
    this.#sync = new SyncExecutor({
      name: deps.config.name,
      dcs: deps.dcs,
      pg: deps.pg,
      clock: deps.clock,
      log: deps.log,
      settleMs: 100,
    });
    this.#slots = new SlotsExecutor({
      name: deps.config.name,
      pg: deps.pg,
      log: deps.log,
      stopTimeoutS: deps.config.postgresql.pgCtlTimeout,
      now: () => deps.clock.now(),
    });
  }

  get name(): string {
    return this.deps.config.name;
  }

  view(): AgentView {
    const now = this.deps.clock.now();
    return {
      config: this.deps.config,
      dynamic: this.dyn.current,
      cluster: this.#cluster,
      dcsLastSeen: this.#dcsLastSeen === null ? null : Math.floor(this.#dcsLastSeen / 1000),
      pg: this.#pg,
      state: this.#state,
      role: this.#role,
      isLeader: this.memory.leaderValidUntil > now,
      leaderValidUntil: this.memory.leaderValidUntil,
      paused: this.dyn.current.pause,
      failsafeActive: this.memory.failsafeActive,
      watchdogFailed: this.#watchdogFailed,
      nextRunAt: this.#nextRunAt,
      lastDecision: this.#lastDecision,
      scheduledRestart: this.#scheduledRestart ? { ...this.#scheduledRestart } : null,
      asyncAction: this.#asyncAction,
    };
  }

  /** The newest reading of the local PostgreSQL, running or done (the cycle's or a /patroni refresh's). */
  #reading: { startedAt: number; state: Promise<PgState> } | null = null;

  #readPg(): Promise<PgState> {
    const state = this.deps.pg.observe();
    this.#reading = { startedAt: this.deps.clock.now(), state };
    return state;
  }

  /**
   * Re-read the local PostgreSQL state for GET /patroni, so a peer deciding a race compares live LSNs, not
   * the last cycle's (up to loop_wait old). A reading begun within the last SHARED_READING_MS (our own
   * cycle's: in a race every replica observes and asks the others at the same instant) is shared instead of
   * queueing a second one behind it on the connection. At most `timeoutMs` is waited.
   */
  refreshPg(timeoutMs: number): Promise<void> {
    const r = this.#reading;
    const state = r && this.deps.clock.now() - r.startedAt <= SHARED_READING_MS ? r.state : this.#readPg();
    const applied = state.then((st) => {
      if (st.running && st.accepting && this.#reading?.state === state) this.#pg = st;
    }).catch(() => {});
    return Promise.race([applied, this.deps.clock.sleep(timeoutMs)]);
  }

  /** Wake the loop now (API writes, local PostgreSQL death). */
  wake(): void {
    this.#wake.abort();
  }

  /** Run cycles until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const { clock } = this.deps;
    const { postmasterAlive, onPgConnectionClosed } = this.deps;
    if (postmasterAlive && onPgConnectionClosed) {
      // A dead postmaster wakes the loop at once instead of after loop_wait. Connections also close for
      // harmless reasons (idle timeout, our own restart), so the close only prompts a liveness check.
      // A killed postmaster stays a zombie (alive to `kill -0`) until its parent reaps it, so a few checks
      // over the next second and a half.
      let checking = false;
      onPgConnectionClosed(async () => {
        if (checking || signal.aborted) return;
        checking = true;
        try {
          for (const pause of POSTMASTER_RECHECK_MS) {
            if (pause) await clock.sleep(pause, signal);
            if (!(await postmasterAlive())) {
              this.wake();
              break;
            }
          }
        } catch {
          // aborted, or the check failed: the next cycle observes anyway
        } finally {
          checking = false;
        }
      });
    }
    try {
      while (!signal.aborted) {
        const started = clock.now();
        try {
          await this.cycle();
        } catch (e) {
          this.deps.log.error("Unexpected exception raised, please report it as a BUG", {
            error: e instanceof Error ? e.stack ?? e.message : String(e),
          });
        }
        const loopMs = this.dyn.current.loopWait * 1000;
        this.#nextRunAt = started + loopMs;
        const remaining = this.#nextRunAt - clock.now();
        if (remaining <= 0) {
          this.deps.log.warn("Loop time exceeded, rescheduling immediately.");
          continue;
        }
        await this.#waitNext(remaining, signal);
      }
    } finally {
      onPgConnectionClosed?.(() => {});
    }
  }

  async #waitNext(ms: number, signal: AbortSignal): Promise<void> {
    if (this.#wake.signal.aborted) this.#wake = new AbortController();
    const both = AbortSignal.any([signal, this.#wake.signal]);
    const holdsLock = this.#cluster?.leader?.name === this.name;
    try {
      if (!holdsLock && this.#dcsLastSeen !== null) {
        // Non-leaders wait in a DCS watch so a vanished leader is replaced as soon as its lease expires.
        await this.deps.dcs.watch(this.#cluster?.leader?.version ?? null, ms, both);
      } else {
        await this.deps.clock.sleep(ms, both);
      }
    } catch {
      // woken or aborted
    }
  }

  #lock: Promise<unknown> = Promise.resolve();

  /** Run `fn` exclusively with HA cycles and other operations. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#lock.then(fn, fn);
    this.#lock = next.catch(() => {});
    return next;
  }

  /** One HA cycle; returns the decision (also logged and kept for /explain). */
  cycle(): Promise<Decision> {
    return this.exclusive(() => this.#cycle());
  }

  async #cycle(): Promise<Decision> {
    const obs = await this.observe();
    this.#lastObs = obs;
    const decision = decide(obs);
    this.#lastDecision = decision;
    this.#logDecision(decision);
    if (this.deps.observeOnly) return decision;
    await this.act(decision.action, obs);
    if (["lead", "follow", "none"].includes(decision.action.type)) await this.#evaluateScheduledRestart();
    if (obs.pg.accepting && obs.pg.inRecovery === true) await this.#sync.learnWhetherManaged();
    await this.#watchdogGuard();
    if (obs.dcs.ok) await this.#touchMember();
    await this.#saveCacheIfDirty();
    return decision;
  }

  #logDecision(d: Decision): void {
    const { log, config } = this.deps;
    const fields = {
      code: d.code,
      action: d.action.type,
      ...(d.candidates.length ? { candidates: d.candidates } : {}),
    };
    const prefix = this.deps.observeOnly ? "[observe-only] " : "";
    if (config.log.format === "json") log.info(prefix + d.message, fields);
    else {
      if (!d.message.startsWith("no action.") && !d.message.startsWith("PAUSE: no action")) {
        log.info(`Lock owner: ${this.#cluster?.leader?.name ?? "None"}; I am ${this.name}`);
      }
      if (d.message !== this.#lastMessage || !d.message.includes("no action")) log.info(prefix + d.message);
      else log.debug(prefix + d.message);
    }
    this.#lastMessage = d.message;
  }

  /**
   * Members whose positions a race compares: the snapshot's, and those of the last view that had a leader
   * (Patroni's old cluster): a member whose key expired while it was cut off from the DCS may still be ahead
   * of us, or still running as primary.
   */
  #askable(cluster: ClusterSnapshot): Member[] {
    return [
      ...cluster.members,
      ...this.#membersWithLeader.filter((o) => !cluster.members.some((m) => m.name === o.name)),
    ].filter((m) => m.name !== this.name);
  }

  async observe(): Promise<Observation> {
    const { dcs, clock, config } = this.deps;
    const now = clock.now();
    // PostgreSQL is read while the DCS answers: two round trips at once, not one after the other.
    const pgReading = this.#readPg();
    // The watch already showed the leader key gone: the race will need the peers' positions, so they are
    // asked now, beside the cluster read that proves it. Used only if that proof agrees (see below).
    const prior = this.#cluster;
    const hinted = prior?.leader && prior.leader.name !== this.name && dcs.leaderlessHint?.() === true
      ? this.#askable(prior)
      : null;
    const hintedPeers = hinted ? this.deps.peers.status(hinted) : null;
    hintedPeers?.catch(() => {});
    let dcsRes: Observation["dcs"];
    try {
      const cluster = await dcs.getCluster();
      dcsRes = { ok: true, cluster };
      this.#dcsLastSeen = clock.now();
      // A failsafe promise from the leader holds for ttl even while its expiring key is still visible; only
      // another member holding the lock ends it.
      const fs = this.memory.failsafeLeader;
      if (cluster.leader && fs && cluster.leader.name !== fs.name) this.memory.failsafeLeader = null;
      if (this.dyn.update(cluster, (d) => this.parameterProblems(d.postgresql.parameters))) {
        this.#applyDynamic();
      }
      if (cluster.leader) {
        this.memory.lastMembersWithLeader = cluster.members.map((m) => m.name);
        this.#membersWithLeader = cluster.members;
      }
      this.#cluster = cluster;
      this.#failsafeMap = cluster.failsafe;
      if (cluster.leader?.name !== this.name) this.memory.leaderValidUntil = 0;
    } catch (e) {
      dcsRes = { ok: false, error: e instanceof Error ? e.message : String(e) };
    }
    const cluster = dcsRes.ok ? dcsRes.cluster : null;
    const askable = cluster ? this.#askable(cluster) : [];
    // A leader race needs the peers' positions: asked while PostgreSQL is observed, not after it. Answers
    // asked on the hint serve when the proven snapshot has no leader and the same members to ask: they were
    // asked after the key was gone, as they would be now.
    const racing = cluster !== null &&
      (!cluster.leader || (cluster.failover !== null && Object.keys(cluster.failover.value).length > 0));
    const early = !racing
      ? null
      : hintedPeers && !cluster.leader && sameMembers(hinted!, askable)
      ? hintedPeers
      : this.deps.peers.status(askable);
    this.#pg = await pgReading;
    this.#trackPgLiveness(now);
    await this.#loadGucCatalog();
    const ownLeaderDown = cluster?.leader?.name === this.name && !this.#pg.running;
    const peers = early ? await early : ownLeaderDown ? await this.deps.peers.status(askable) : [];
    let failsafeAllAccepted: boolean | null = null;
    const d = this.dyn.current;
    if (!dcsRes.ok && this.#pg.inRecovery === false) failsafeAllAccepted = await this.#failsafeCheck();
    else if (dcsRes.ok) this.memory.failsafeActive = false;
    return {
      now,
      name: this.name,
      tags: config.tags as NodeTags,
      dynamic: d,
      dcs: dcsRes,
      pg: this.#pg,
      peers,
      failsafeAllAccepted,
      memory: structuredClone(this.memory),
      canBootstrap: true,
      watchdog: {
        required: config.watchdog.mode === "required",
        usable: await this.#watchdogHealthy(),
      },
      asyncAction: this.#asyncAction,
      standbyCluster: standbySource(d),
    };
  }

  #trackPgLiveness(now: number): void {
    const pg = this.#pg;
    if (pg.running) {
      this.memory.downSince = null;
      if (pg.accepting) {
        this.memory.startingSince = null;
        this.#state = "running";
        this.#role = pg.inRecovery
          ? (this.#cluster?.leader?.name === this.name && standbySource(this.dyn.current)
            ? "standby_leader"
            : "replica")
          : "primary";
      } else this.#state = "starting";
    } else {
      if (this.memory.downSince === null) this.memory.downSince = now;
      this.#state = pg.dataDirEmpty
        ? "stopped"
        : this.#stoppedByUs || !this.memory.startedPg
        ? "stopped"
        : "crashed";
      if (pg.dataDirEmpty) this.#role = "uninitialized";
    }
  }

  #memberState() {
    return {
      state: this.#state,
      role: this.#role,
      pg: this.#pg,
      paused: this.dyn.current.pause,
      checkpointAfterPromote: this.#checkpointAfterPromote,
      watchdogFailed: this.#watchdogFailed,
      scheduledRestart: this.#scheduledRestart as Record<string, unknown> | null,
    };
  }

  async #touchMember(): Promise<void> {
    try {
      await this.deps.dcs.touchMember(buildMemberData(this.deps.config, this.#memberState()));
    } catch (e) {
      this.deps.log.warn("failed to update member key", { error: String(e) });
    }
  }

  /** The server's parameter catalog (pg_settings), to check dynamic parameters before they are written. */
  async #loadGucCatalog(): Promise<void> {
    const v = this.#pg.serverVersion;
    if (!this.#pg.accepting || v === null || this.#gucCatalog?.version === v) return;
    try {
      this.#gucCatalog = { version: v, settings: parseCatalog(await this.deps.pg.query(GUC_CATALOG_SQL)) };
    } catch (e) {
      this.deps.log.debug(`could not read pg_settings: ${String(e)}`);
    }
  }

  /** Problems of dynamic `parameters` against the local server (none known before it ever ran). */
  parameterProblems(params: Record<string, unknown>): string[] {
    const cat = this.#gucCatalog?.settings;
    return cat && cat.size ? parameterProblems(params, cat) : [];
  }

  /** Keep `<data_dir>/patroni.dynamic.json` current once there is a data directory to keep it in. */
  async #saveCacheIfDirty(): Promise<void> {
    if (!this.#cacheDirty || !this.deps.saveDynamicCache || this.#pg.dataDirEmpty || this.#asyncAction) {
      return;
    }
    try {
      if ((await this.deps.saveDynamicCache(this.dyn.current)) !== false) this.#cacheDirty = false;
    } catch (e) {
      this.deps.log.warn("failed to save the dynamic configuration cache", { error: String(e) });
    }
  }

  #applyDynamic(): void {
    const d = this.dyn.current;
    this.deps.watchdog?.updateTimings({ ttl: d.ttl, loopWait: d.loopWait });
    this.deps.dcs.setTimings({ ttlS: d.ttl, loopWaitS: d.loopWait, retryTimeoutS: d.retryTimeout });
    this.deps.pg.setDynamicConfig?.(d);
    this.#cacheDirty = true;
    if (this.#pg.running) {
      this.deps.pg.applyParameters(d.postgresql.parameters).catch((e) =>
        this.deps.log.warn("failed to apply dynamic parameters", { error: String(e) })
      );
    }
  }

  #hookCtx(reason: string, extra: Partial<HookContext> = {}): HookContext {
    return {
      scope: this.deps.config.scope,
      name: this.name,
      role: this.#role,
      timeline: this.#pg.timeline,
      lsn: this.#pg.xlogLocation,
      reason,
      ...extra,
    };
  }

  #setRole(newRole: string, reason: string): void {
    const old = this.#role;
    this.#role = newRole;
    if (old !== newRole && newRole !== "promoted") {
      this.#hooks.emit("onRoleChange", this.#hookCtx(reason, { oldRole: old, newRole }));
    }
  }

  // ---- executor -------------------------------------------------------------------------------------

  async act(a: Action, obs: Observation): Promise<void> {
    switch (a.type) {
      case "none":
        return;
      case "bootstrap":
        return await this.#bootstrap(obs);
      case "clone":
        return await this.#clone(a.source, a.sourceName);
      case "start":
        return await this.#start(a.role, a.upstream, a.timeoutS, obs);
      case "acquire_lock":
        return await this.#acquire(a.standbyLeader, a.failover, obs);
      case "lead":
        return await this.#lead(a.promote, a.standbyLeader, a.cleanFailover, obs);
      case "follow":
        return await this.#follow(a.upstream, a.leaderName, obs);
      case "demote":
        return await this.#demote(a.mode, a.stop, a.releaseLock, a.upstream, obs);
      case "release_lock":
        await this.#releaseLock(obs);
        return;
      case "clean_failover":
        await this.deps.dcs.setFailoverValue("{}", a.version);
        return;
    }
  }

  async #bootstrap(obs: Observation): Promise<void> {
    const { dcs, pg, log, config } = this.deps;
    if (!(await dcs.initialize(true, ""))) {
      log.info("failed to acquire initialize lock");
      return;
    }
    this.#asyncAction = "bootstrap";
    // A standby cluster is not initialised: its first member clones the remote primary (reference §5).
    const standby = standbySource(this.dyn.current);
    this.#state = standby ? "creating replica" : "initializing new cluster";
    try {
      if (standby) {
        log.info(
          `bootstrapping a standby cluster: cloning the remote primary ${standby.host}:${standby.port}`,
        );
        const methods = this.dyn.current.standbyCluster?.createReplicaMethods;
        await pg.createReplica({ ...standby, ...(methods?.length ? { methods } : {}) });
        this.#stoppedByUs = false;
        this.#state = "starting";
        const started = await pg.start({
          role: "replica",
          upstream: standby,
          timeoutS: config.postgresql.pgCtlTimeout,
        });
        if (!started) throw new Error("the new standby leader did not start");
      } else {
        await pg.bootstrap({ onState: (s) => (this.#state = s) });
        // Patroni: a watchdog that cannot be armed cancels the bootstrap (mode required).
        if (!(await this.#armWatchdog())) throw new Error("watchdog could not be activated");
      }
      this.memory.startedPg = true;
      this.#stoppedByUs = false;
      const st = await pg.observe();
      this.#pg = st;
      await dcs.initialize(false, st.sysid ?? "");
      await dcs.setConfigValue(JSON.stringify(toPatroniDynamic(config.bootstrap.dcs)));
      const t0 = this.deps.clock.now();
      if (await dcs.takeLeader()) this.memory.leaderValidUntil = t0 + this.dyn.current.ttl * 1000;
      this.#state = "running";
      this.#setRole(standby ? "standby_leader" : "primary", "bootstrap");
      this.#hooks.emit("onStart", this.#hookCtx("bootstrap"));
      log.info(standby ? "initialized a new standby cluster" : "initialized a new cluster");
    } catch (e) {
      log.error("Failed to bootstrap cluster", { error: e instanceof Error ? e.message : String(e) });
      this.#state = standby
        ? "stopped"
        : this.#state === "initializing new cluster"
        ? "initdb failed"
        : "custom bootstrap failed";
      // Like Patroni: give the initialize key back, set the half-made data directory aside (what a restore
      // left there may still be wanted) and stop, so a supervisor or the operator sees the failure instead of
      // a loop retrying initdb forever.
      await this.deps.watchdog?.disable();
      await pg.moveDataDirectory().catch(() => {});
      await dcs.cancelInitialization().catch(() => {});
      this.deps.onFatal?.("Failed to bootstrap cluster");
    } finally {
      this.#asyncAction = null;
    }
    void obs;
  }

  async #clone(source: Upstream, sourceName: string): Promise<void> {
    const { pg, log } = this.deps;
    this.#asyncAction = "clone";
    this.#state = "creating replica";
    try {
      await pg.createReplica(source);
      log.info(`replica created from ${sourceName}`);
      this.#state = "stopped";
      this.#role = "replica";
    } catch (e) {
      log.error(`failed to create replica from ${sourceName}`, {
        error: e instanceof Error ? e.message : String(e),
      });
      this.#state = "stopped";
    } finally {
      this.#asyncAction = null;
    }
  }

  async #start(role: "primary" | "replica", upstream: Upstream | null, timeoutS: number, obs: Observation) {
    const { dcs, pg, log } = this.deps;
    const c = obs.dcs.ok ? obs.dcs.cluster : null;
    if (role === "primary" && c?.leader) {
      if (!(await this.#renew(c.leader))) {
        log.warn("lost the leader lock while postgres was down: starting as a replica");
        role = "replica";
        upstream = null;
      }
    }
    if (role === "replica" && upstream && !obs.pg.dataDirEmpty && !(await this.#rewindIfNeeded(upstream))) {
      return;
    }
    this.#stoppedByUs = false;
    this.#state = "starting";
    this.memory.startingSince = this.deps.clock.now();
    this.memory.startedPg = true;
    // Published now, not at the end of the cycle: peers and operators see the start in progress.
    await this.#touchMember();
    // Do not block the loop for the whole start timeout: the holder must keep renewing its lock.
    const waitS = Math.max(1, Math.min(timeoutS, Math.floor(this.dyn.current.ttl / 2)));
    if (role === "primary" && c) await this.#sync.beforeStartAsPrimary(c, this.dyn.current);
    const ok = await pg.start({ role, upstream, timeoutS: waitS });
    if (ok) {
      this.#state = "running";
      this.#hooks.emit("onStart", this.#hookCtx("started"));
      if (role === "primary") this.#role = "primary";
      else this.#setRole("replica", "started as a secondary");
    }
    void dcs;
  }

  /**
   * Rewind (or wipe, per config) a data directory that diverged from `upstream`. Returns false when PostgreSQL
   * must stay down: a failed pg_rewind may leave the directory unusable, so it is not started (Patroni keeps it
   * down too) until an operator reinitialises it or `remove_data_directory_on_rewind_failure` re-clones it.
   */
  async #rewindIfNeeded(upstream: Upstream): Promise<boolean> {
    const { pg, log, config } = this.deps;
    const eff = effectivePostgresql(config, this.dyn.current);
    let need = false;
    try {
      need = await pg.needsRewind(upstream);
    } catch (e) {
      log.warn("could not check whether pg_rewind is needed", { error: String(e) });
      return true;
    }
    if (!need) return true;
    if (eff.usePgRewind) {
      log.info(`running pg_rewind from ${upstream.host}:${upstream.port}`);
      if (await pg.rewind(upstream)) return true;
      log.error("pg_rewind failed");
      if (eff.removeDataDirectoryOnRewindFailure) await pg.removeDataDirectory();
      return false;
    } else if (eff.removeDataDirectoryOnDivergedTimelines && !standbySource(this.dyn.current)) {
      // Not in a standby cluster (Patroni): there the remote primary's history is not ours to re-clone from.
      log.warn("timelines diverged: removing the data directory to re-create this replica");
      await pg.removeDataDirectory();
      return false;
    }
    log.warn("timelines diverged and use_pg_rewind is off: this replica may not be able to follow");
    return true;
  }

  /**
   * DCS down on a running primary (§3.14): with failsafe_mode, ask every other member listed in `failsafe`
   * (POST /failsafe). When all accept, stay primary for another ttl counted from before the request (the
   * replicas count their ttl from receiving it). Null when failsafe does not apply (off, paused, not listed).
   */
  async #failsafeCheck(validUntil = this.memory.leaderValidUntil): Promise<boolean | null> {
    const d = this.dyn.current;
    const map = this.#failsafeMap;
    // Failsafe may only extend a leadership that has not lapsed: once our lock expired (e.g. the agent was
    // frozen longer than ttl) another member may hold it, and POSTs from us would revive a stale primary.
    if (!d.failsafeMode || d.pause || !map || !(this.name in map) || validUntil <= this.deps.clock.now()) {
      this.memory.failsafeActive = false;
      return null;
    }
    const targets = Object.entries(map).filter(([n]) => n !== this.name).map(([name, apiUrl]) => ({
      name,
      apiUrl,
    }));
    const sentAt = this.deps.clock.now();
    const me = buildMemberData(this.deps.config, this.#memberState());
    const accepted = await this.deps.peers.failsafe(targets, {
      name: this.name,
      conn_url: me.conn_url,
      api_url: me.api_url,
      ...(this.#failsafeSlots ? { slots: this.#failsafeSlots } : {}),
    });
    this.memory.failsafeActive = accepted;
    if (accepted) {
      this.memory.leaderValidUntil = sentAt + d.ttl * 1000;
      await this.deps.watchdog?.keepalive();
    }
    return accepted;
  }

  /** Slot positions the leader last published in `status.slots`, sent along with POST /failsafe. */
  #failsafeSlots: Record<string, number> | null = null;
  /** The last renewal failed with a DCS transport error (not "someone else holds the lock"). */
  #renewDcsError = false;
  /** Our lock validity just before the last renewal attempt (a failed renewal zeroes the current one). */
  #validBeforeRenew = 0;

  async #renew(leader: LeaderKey): Promise<boolean> {
    const t0 = this.deps.clock.now();
    let ok = false;
    this.#renewDcsError = false;
    this.#validBeforeRenew = this.memory.leaderValidUntil;
    try {
      ok = await this.deps.dcs.updateLeader(leader);
    } catch (e) {
      this.#renewDcsError = e instanceof DcsUnavailableError;
      this.deps.log.warn("failed to update leader lock", { error: String(e) });
    }
    this.memory.leaderValidUntil = ok ? t0 + this.dyn.current.ttl * 1000 : 0;
    // The watchdog is fed only right after a successful renewal: a hung agent lets the machine reset first.
    if (ok) await this.deps.watchdog?.keepalive();
    return ok;
  }

  /** Patroni is_healthy: false only in `required` mode when no safe watchdog can be used (watchdog_failed). */
  async #watchdogHealthy(): Promise<boolean> {
    const wd = this.deps.watchdog;
    this.#watchdogFailed = wd ? !(await wd.isHealthy()) : false;
    return !this.#watchdogFailed;
  }

  /** Arm the watchdog before acting as primary; false when `required` and it cannot be armed. */
  async #armWatchdog(): Promise<boolean> {
    const wd = this.deps.watchdog;
    if (!wd || this.dyn.current.pause) return true;
    const ok = await wd.activate();
    if (!ok) this.#watchdogFailed = true;
    return ok;
  }

  /** Armed only while we hold a valid lock and the cluster is not paused. */
  async #watchdogGuard(): Promise<void> {
    const wd = this.deps.watchdog;
    if (!wd?.isRunning) return;
    if (this.dyn.current.pause || this.memory.leaderValidUntil <= this.deps.clock.now()) await wd.disable();
  }

  async #acquire(standbyLeader: boolean, failover: Versioned<FailoverValue> | null, obs: Observation) {
    const { dcs, log } = this.deps;
    const t0 = this.deps.clock.now();
    const won = await dcs.attemptToAcquireLeader();
    if (!won) {
      log.info("following new leader after trying and failing to obtain lock");
      return;
    }
    this.memory.leaderValidUntil = t0 + this.dyn.current.ttl * 1000;
    this.#slots.resetRetainTimers();
    if (failover && Object.keys(failover.value).length) await dcs.setFailoverValue("{}").catch(() => {});
    const c = obs.dcs.ok ? obs.dcs.cluster : null;
    this.#hooks.emit(
      "onLeaderChange",
      this.#hookCtx("acquired lock", { oldLeader: this.memory.lastLeader, newLeader: this.name }),
    );
    this.memory.lastLeader = this.name;
    if (obs.pg.inRecovery && !standbyLeader) await this.#promote(obs);
    else if (standbyLeader) this.#setRole("standby_leader", "acquired lock in a standby cluster");
    else if (!(await this.#armWatchdog())) {
      log.error("Demoting self because watchdog could not be activated");
      await dcs.deleteLeader({ name: this.name, version: "" }).catch(() => {});
      this.memory.leaderValidUntil = 0;
      return await this.#demote("immediate", "immediate", false, null, obs);
    }
    await this.#leaderHousekeeping(c, obs);
  }

  async #promote(obs: Observation): Promise<void> {
    const { pg, dcs, log } = this.deps;
    const veto = await this.#hooks.beforePromote(this.#hookCtx("promote"));
    if (veto.vetoed) {
      log.warn(`promotion vetoed by ${veto.by}: ${veto.reason}`);
      this.memory.promoteVetoedAt = this.deps.clock.now();
      await dcs.deleteLeader({ name: this.name, version: "" }).catch(() => {});
      this.memory.leaderValidUntil = 0;
      return;
    }
    // `required`: no promotion without an armed watchdog. Otherwise arming cannot stop the promotion, so the
    // device is opened while the server promotes instead of before.
    const arming = this.#armWatchdog();
    if (this.deps.config.watchdog.mode === "required" && !(await arming)) {
      log.error("Not promoting self because watchdog could not be activated");
      await dcs.deleteLeader({ name: this.name, version: "" }).catch(() => {});
      this.memory.leaderValidUntil = 0;
      return;
    }
    // Synchronous modes: take over `sync` and SSN first; a lost CAS postpones the promotion.
    if (obs.dcs.ok && !(await this.#sync.prePromote(obs.dcs.cluster, this.dyn.current))) {
      await arming;
      return;
    }
    const oldTl = obs.pg.timeline ?? 1;
    const lsn = obs.pg.xlogLocation;
    this.#role = "promoted";
    const [, ok] = await Promise.all([
      arming,
      pg.promote(this.dyn.current.loopWait > 0 ? Math.max(10, this.dyn.current.loopWait) : 10),
    ]);
    if (!ok) {
      log.error("failed to promote postgres");
      return;
    }
    this.#checkpointAfterPromote = false;
    this.#pg = await pg.observe();
    this.#role = "replica";
    this.#setRole("primary", "promoted");
    this.#hooks.emit("afterPromote", this.#hookCtx("promoted"));
    // Record the timeline switch the way Patroni's history key does.
    // The new primary's own history is authoritative: entries from our old timeline on were written by a
    // promotion we did not follow (a diverged branch) and are replaced.
    const hist: HistoryEntry[] = obs.dcs.ok
      ? (obs.dcs.cluster.history?.value ?? []).filter((h) => h[0] < oldTl)
      : [];
    // Only while we still hold the lock: after a freeze longer than ttl the snapshot is stale and another
    // leader's newer history must not be overwritten (the stale-primary guard relies on it).
    const stillLeader = this.memory.leaderValidUntil > this.deps.clock.now();
    if (stillLeader && !hist.some((h) => h[0] === oldTl)) {
      hist.push([
        oldTl,
        lsn,
        "no recovery target specified",
        new Date(this.deps.clock.now()).toISOString().replace("Z", "+00:00"), // Patroni's ISO form
        this.name,
      ]);
      const max = this.dyn.current.maxTimelinesHistory;
      await dcs.setHistoryValue(JSON.stringify(max > 0 ? hist.slice(-max) : hist)).catch(() => {});
    }
    this.#checkpointAfterPromoteOnce();
  }

  /**
   * Replicas wait for the post-promote CHECKPOINT before pg_rewind (checkpoint_after_promote). Retried by
   * every renewal until it succeeds: if it failed (a crash right after promotion), the flag would otherwise
   * stay false forever and no diverged replica would ever rewind.
   */
  #checkpointAfterPromoteOnce(): void {
    if (this.#checkpointAfterPromote !== false || this.#checkpointRunning) return;
    this.#checkpointRunning = true;
    this.deps.pg.checkpoint().then(() => (this.#checkpointAfterPromote = undefined)).catch(() => {})
      .finally(() => (this.#checkpointRunning = false));
  }

  async #lead(
    promote: boolean,
    standbyLeader: boolean,
    cleanFailover: Versioned<FailoverValue> | null,
    obs: Observation,
  ) {
    const { dcs, log } = this.deps;
    const c = obs.dcs.ok ? obs.dcs.cluster : null;
    if (!c?.leader) return;
    if (!(await this.#renew(c.leader))) {
      if (this.#renewDcsError && obs.pg.inRecovery === false && !this.dyn.current.pause) {
        // The DCS failed between our read and the renewal: handled like an unreadable DCS (Patroni raises
        // DCSError out of update_lock), i.e. failsafe or an offline demotion, not a lost lock.
        if (await this.#failsafeCheck(this.#validBeforeRenew)) {
          log.info(
            "continue to run as a leader because failsafe mode is enabled and all members are accessible",
          );
          return;
        }
        log.info("demoting self because DCS is not accessible and I was a leader");
        await this.#demote("offline", "fast", false, null, obs);
        return;
      }
      if (obs.pg.inRecovery === false && !this.dyn.current.pause) {
        log.info("demoted self because failed to update leader lock in DCS");
        await this.#demote("immediate-nolock", "immediate", false, null, obs);
      } else log.info("failed to update leader lock in DCS");
      return;
    }
    if (cleanFailover) await dcs.setFailoverValue("{}", cleanFailover.version).catch(() => {});
    if (promote && obs.pg.running && obs.pg.accepting) await this.#promote(obs);
    else if (obs.pg.running && obs.pg.accepting && obs.pg.inRecovery === false) {
      // Patroni enforce_primary_role: a primary keeps its watchdog armed (a lock re-taken, a restart).
      if (!standbyLeader && !(await this.#armWatchdog())) {
        log.error("Demoting self because watchdog could not be activated");
        return await this.#demote("immediate", "immediate", true, null, obs);
      }
      this.#checkpointAfterPromoteOnce();
    }
    if (standbyLeader && obs.pg.running && obs.pg.accepting) {
      const src = standbySource(this.dyn.current);
      const want = src?.host ? `${src.host}:${src.port}` : null;
      if (src && obs.pg.upstream !== want) await this.deps.pg.follow(src);
    }
    await this.#leaderHousekeeping(c, obs);
  }

  /** After each successful renewal: initialize/config if missing, status, slots, failsafe. */
  async #leaderHousekeeping(c: ClusterSnapshot | null, obs: Observation): Promise<void> {
    const { dcs, config } = this.deps;
    // Leader-only keys are written from this cycle's snapshot; skip them once our lock has lapsed.
    if (!c || this.memory.leaderValidUntil <= this.deps.clock.now()) return;
    const st = this.#pg;
    const tasks: Promise<unknown>[] = [];
    if ((c.initialize === null || !/^\d{10,}$/.test(c.initialize)) && st.sysid) {
      tasks.push(dcs.initialize(false, st.sysid));
    }
    if (!c.config) tasks.push(dcs.setConfigValue(JSON.stringify(toPatroniDynamic(this.dyn.current))));
    if (st.running && st.accepting) {
      // Slots first: their positions go into `status` with the optime. A standby leader holds slots for its
      // cascading replicas too (it is their upstream).
      let slots: Record<string, number> | null = null;
      const standby = standbySource(this.dyn.current) !== null;
      if (this.dyn.current.postgresql.useSlots && (st.inRecovery === false || standby)) {
        try {
          slots = await this.#slots.primary(c, this.dyn.current, config.tags as NodeTags, {
            standbyCluster: standby,
            myLsn: st.xlogLocation,
          });
        } catch (e) {
          this.deps.log.warn("failed to sync replication slots", { error: String(e) });
        }
      }
      this.#failsafeSlots = slots;
      const sameSlots = slots === null || JSON.stringify(slots) === JSON.stringify(c.status?.slots ?? {});
      const retain = this.#slots.retained;
      const sameRetain = JSON.stringify(retain) === JSON.stringify(c.status?.retain_slots ?? []);
      if (c.status?.optime !== st.xlogLocation || !sameSlots || !sameRetain) {
        // retain_slots is written whole (omitted when empty), never carried over from the old value.
        const { retain_slots: _old, ...rest } = c.status ?? {};
        tasks.push(dcs.writeStatus({
          ...rest,
          optime: st.xlogLocation,
          ...(slots ? { slots } : {}),
          ...(retain.length ? { retain_slots: retain } : {}),
        }));
      }
    }
    if (this.dyn.current.failsafeMode) {
      const map: Record<string, string> = {};
      for (const m of c.members) if (m.data.api_url) map[m.name] = m.data.api_url;
      map[this.name] = buildMemberData(config, this.#memberState()).api_url!;
      if (JSON.stringify(map) !== JSON.stringify(c.failsafe)) {
        tasks.push(dcs.writeFailsafe(map).then((ok) => (ok && (this.#failsafeMap = map), ok)));
      }
    }
    const results = await Promise.allSettled(tasks);
    for (const r of results) {
      if (r.status === "rejected") {
        this.deps.log.warn("leader housekeeping step failed", { error: String(r.reason) });
      }
    }
    if (st.running && st.accepting && st.inRecovery === false && standbySource(this.dyn.current) === null) {
      await this.#sync.process(c, this.dyn.current, st);
    }
    void obs;
  }

  async #follow(upstream: Upstream | null, leaderName: string | null, obs: Observation): Promise<void> {
    const { pg, log } = this.deps;
    if (leaderName && leaderName !== this.memory.lastLeader) {
      this.#hooks.emit(
        "onLeaderChange",
        this.#hookCtx("leader changed", { oldLeader: this.memory.lastLeader, newLeader: leaderName }),
      );
      this.memory.lastLeader = leaderName;
    }
    if (!obs.pg.running || obs.pg.inRecovery !== true) return;
    const want = upstream?.host ? `${upstream.host}:${upstream.port}` : null;
    if (upstream?.host && obs.dcs.ok) {
      // A replica that is not streaming may have diverged: check and rewind. Not only when the leader's
      // timeline is newer: two promotions from the same timeline (no shared WAL archive) both pick the same
      // new timeline number, and a replica ahead on its own timeline needs rewind too.
      const lm = findMember(obs.dcs.cluster, leaderName);
      const leaderTl = lm?.data.timeline ?? 0;
      if (
        obs.pg.replicationState !== "streaming" && leaderTl > 0 &&
        lm?.data.checkpoint_after_promote !== false && (await pg.needsRewind(upstream).catch(() => false))
      ) {
        log.info("replica diverged from the new leader: stopping to rewind");
        this.#stoppedByUs = true;
        await pg.stop("fast", this.deps.config.postgresql.pgCtlTimeout);
        await this.#rewindIfNeeded(upstream);
        return;
      }
    }
    if (obs.pg.upstream !== want) {
      log.info(want ? `changing primary_conninfo to ${want}` : "no upstream: running in archive recovery");
      await pg.follow(upstream);
    }
    await this.#syncReplicaSlots(obs, upstream);
  }

  /** Replica slots: copies of the leader's (survive a failover) where PostgreSQL can tell positions. */
  async #syncReplicaSlots(obs: Observation, upstream: Upstream | null): Promise<void> {
    if (!obs.dcs.ok || !this.dyn.current.postgresql.useSlots || this.dyn.current.pause) return;
    if (!this.deps.pg.slotStates) return await this.#syncCascadeSlots(obs);
    try {
      const tags = this.deps.config.tags as NodeTags;
      await this.#slots.replica(obs.dcs.cluster, this.dyn.current, tags, upstream);
    } catch (e) {
      this.deps.log.warn("failed to sync replication slots", { error: String(e) });
    }
  }

  /** A replica named by other members' `replicatefrom` keeps their slots (it is their upstream). */
  async #syncCascadeSlots(obs: Observation): Promise<void> {
    if (!obs.dcs.ok || !this.dyn.current.postgresql.useSlots || this.dyn.current.pause) return;
    const names = memberSlotsFor(obs.dcs.cluster, this.name);
    // Nothing to hold and nothing held before: spare the query.
    if (names.length === 0 && !this.#cascadeSlots) return;
    try {
      await this.deps.pg.syncReplicationSlots(names);
      this.#cascadeSlots = names.length > 0;
    } catch (e) {
      this.deps.log.warn("failed to sync replication slots for cascading replicas", { error: String(e) });
    }
  }

  async #demote(
    mode: "offline" | "graceful" | "immediate" | "immediate-nolock",
    stop: "smart" | "fast" | "immediate",
    releaseLock: boolean,
    upstream: Upstream | null,
    obs: Observation,
  ): Promise<void> {
    const { pg, dcs, log, config } = this.deps;
    const held = obs.dcs.ok && obs.dcs.cluster.leader?.name === this.name ? obs.dcs.cluster.leader : null;
    if (mode === "graceful" && held && !(await this.#renew(held))) {
      // Like Patroni, renew before acting on a switchover: the checkpoint and stop below may take long, and
      // another member must not get the lock while we are still writable.
      log.info("demoted self because failed to update leader lock in DCS");
      [mode, stop, releaseLock] = ["immediate-nolock", "immediate", false];
    }
    log.info(`Demoting self (${mode})`);
    if (mode === "graceful") {
      const veto = await this.#hooks.beforeDemote(this.#hookCtx("switchover"));
      if (veto.vetoed) {
        log.warn(`switchover vetoed by ${veto.by}: ${veto.reason}`);
        if (obs.dcs.ok && obs.dcs.cluster.failover) {
          await dcs.setFailoverValue("{}", obs.dcs.cluster.failover.version).catch(() => {});
        }
        return;
      }
      await pg.checkpoint().catch(() => {});
    }
    this.#stoppedByUs = true;
    this.#state = "stopping";
    await pg.stop(stop, config.postgresql.pgCtlTimeout);
    await this.deps.watchdog?.disable();
    this.#hooks.emit("onStop", this.#hookCtx(`demote ${mode}`));
    const after = await pg.observe();
    if (releaseLock && obs.dcs.ok && obs.dcs.cluster.leader?.name === this.name) {
      await dcs.writeStatus({
        ...(obs.dcs.cluster.status ?? {}),
        optime: after.xlogLocation || obs.pg.xlogLocation,
      }).catch(() => {});
      await dcs.deleteLeader(obs.dcs.cluster.leader).catch(() => {});
    }
    this.memory.leaderValidUntil = 0;
    this.#role = "demoted";
    if (mode !== "graceful" && upstream && !(await this.#rewindIfNeeded(upstream))) return;
    const d = await pg.observe();
    if (!d.dataDirEmpty) {
      this.#stoppedByUs = false;
      const ok = await pg.start({
        role: "replica",
        upstream,
        timeoutS: Math.max(1, Math.floor(this.dyn.current.ttl / 2)),
      });
      if (ok) this.#setRole("replica", `demoted (${mode})`);
    }
  }

  async #releaseLock(obs: Observation): Promise<void> {
    if (!obs.dcs.ok || obs.dcs.cluster.leader?.name !== this.name) return;
    await this.deps.dcs.deleteLeader(obs.dcs.cluster.leader).catch(() => {});
    this.memory.leaderValidUntil = 0;
    await this.deps.watchdog?.disable();
  }

  /** Why a restart request's filters do not match this node now, or null (Patroni restart_matches). */
  restartFilterFailure(req: RestartRequest): string | null {
    return restartFilterFailure(req, {
      role: this.#role,
      pendingRestart: this.#pg.pendingRestart,
      serverVersion: this.#pg.serverVersion,
    });
  }

  /** POST /restart with `schedule`: false when one is already scheduled. Published in the member key. */
  scheduleRestart(req: RestartRequest & { schedule: string }): boolean {
    if (this.#scheduledRestart) return false;
    this.#scheduledRestart = toScheduled(req, this.#pg.postmasterStartTime);
    this.wake();
    return true;
  }

  /** DELETE /restart: false when nothing was scheduled. */
  cancelScheduledRestart(): boolean {
    const had = this.#scheduledRestart !== null;
    this.#scheduledRestart = null;
    if (had) this.wake();
    return had;
  }

  /** Run a scheduled restart when due (inside a cycle; Patroni evaluate_scheduled_restart). */
  async #evaluateScheduledRestart(): Promise<void> {
    const s = this.#scheduledRestart;
    if (!s || this.#asyncAction || this.dyn.current.pause || !this.#cluster?.leader) return;
    const { log, clock } = this.deps;
    const step = scheduledRestartStep(
      s,
      clock.now(),
      this.dyn.current.loopWait,
      this.#pg.postmasterStartTime,
    );
    if (step.kind === "wait") return;
    this.#scheduledRestart = null;
    if (step.kind === "stale") return log.warn(`Found a stale restart value, cleaning up: ${s.schedule}`);
    if (step.kind === "cancelled") {
      return log.info("Cancelling scheduled restart: postgres restarted since the request");
    }
    if (step.delayMs > 0) await clock.sleep(step.delayMs);
    log.info(`Manual scheduled restart at ${s.schedule}`);
    const req = fromScheduled(s);
    const why = this.restartFilterFailure(req);
    if (why) return log.info(`Scheduled restart skipped: ${why}`);
    const r = await this.#restartNow(req.timeoutS);
    if (r !== "ok") log.warn(`Scheduled restart failed: ${r}`);
  }

  /** REST /restart: restart PostgreSQL in its current role. Returns "ok" or Patroni's failure text. */
  restartPostgres(timeoutS?: number): Promise<string> {
    if (this.#asyncAction) return Promise.resolve(`${this.#asyncAction} already in progress`);
    return this.exclusive(() => this.#restartNow(timeoutS));
  }

  async #restartNow(timeoutS?: number): Promise<string> {
    const { pg, config } = this.deps;
    if (this.#asyncAction) return `${this.#asyncAction} already in progress`;
    const st = await pg.observe();
    if (!st.running) return "postgres is not running";
    this.#asyncAction = "restart";
    this.#state = "restarting";
    try {
      // The lock must outlive the restart: renew first (a primary restarts in place, keeping its lock).
      const c = this.#cluster;
      if (c?.leader?.name === this.name) await this.#renew(c.leader);
      this.#stoppedByUs = true;
      await pg.stop("fast", config.postgresql.pgCtlTimeout);
      this.#stoppedByUs = false;
      const role = st.inRecovery === false ? "primary" : "replica";
      let upstream: Upstream | null = null;
      if (role === "replica") {
        // Same upstream as the HA loop would pick: replicatefrom member, leader, or the remote source.
        upstream = c?.leader && c.leader.name !== this.name && this.#lastObs
          ? wantedUpstream(this.#lastObs, c, c.leader.name)
          : standbySource(this.dyn.current);
      }
      const ok = await pg.start({
        role,
        upstream,
        timeoutS: timeoutS ?? this.dyn.current.primaryStartTimeout,
      });
      this.#pg = await pg.observe();
      this.#state = ok ? "running" : "restart failed";
      if (ok) this.#hooks.emit("onRestart", this.#hookCtx("restart"));
      return ok ? "ok" : "restart failed";
    } finally {
      this.#asyncAction = null;
    }
  }

  /** REST /reload: re-apply configuration and reload PostgreSQL. */
  async reloadPostgres(): Promise<void> {
    await this.deps.pg.applyParameters(this.dyn.current.postgresql.parameters);
    this.#hooks.emit("onReload", this.#hookCtx("reload"));
  }

  /**
   * REST /reinitialize: stop this replica, wipe it and clone it again from a `clonefrom` member or the leader
   * (`fromLeader`: always the leader). Returns "ok" once started; the clone runs in the background with its
   * progress in `state` (stopping → creating replica → stopped), and the HA loop then starts it as a replica.
   */
  reinitialize(opts: { fromLeader?: boolean } = {}): Promise<string> {
    return this.exclusive(async () => {
      const { pg, config, log } = this.deps;
      if (this.#asyncAction) return `${this.#asyncAction} already in progress`;
      const c = this.#cluster;
      if (!c?.leader) return "Cluster has no leader, can not reinitialize";
      if (c.leader.name === this.name) return "I am the leader, can not reinitialize";
      const leader = findMember(c, c.leader.name);
      const leaderUp = leader ? memberUpstreamFor(leader, this.name) : null;
      const source = opts.fromLeader || !this.#lastObs
        ? (leader && leaderUp ? { name: leader.name, upstream: { ...leaderUp, slot: undefined } } : null)
        : pickCloneSource(this.#lastObs, c, c.leader.name);
      if (!source) return "Cluster has no leader, can not reinitialize";
      this.#asyncAction = "reinitialize";
      this.#state = "stopping";
      this.#stoppedByUs = true;
      await this.#touchMember();
      try {
        await pg.stop("immediate", config.postgresql.pgCtlTimeout);
        await pg.removeDataDirectory();
      } catch (e) {
        this.#asyncAction = null;
        this.#state = "stopped";
        return `reinitialize failed: ${e instanceof Error ? e.message : String(e)}`;
      }
      this.#pg = await pg.observe();
      this.#role = "uninitialized";
      this.#state = "creating replica";
      await this.#touchMember();
      log.info(
        `reinitializing: cloning from ${
          source.name === c.leader.name ? "leader" : "replica"
        } '${source.name}'`,
      );
      // The clone runs outside the cycle lock: cycles keep publishing the state meanwhile (asyncAction set).
      (async () => {
        try {
          await pg.createReplica(source.upstream);
          log.info(`replica reinitialized from ${source.name}`);
          this.#role = "replica";
        } catch (e) {
          log.error(`reinitialize from ${source.name} failed`, {
            error: e instanceof Error ? e.message : String(e),
          });
        } finally {
          this.#state = "stopped";
          this.#asyncAction = null;
          this.wake();
        }
      })();
      return "ok";
    });
  }

  /** POST /failsafe from the leader while the DCS is down: accept unless we run as primary ourselves. */
  acceptFailsafe(body: { name: string; conn_url?: string }): number | null {
    if (this.#pg.inRecovery === false) return null;
    this.memory.failsafeLeader = { name: body.name, at: this.deps.clock.now(), connUrl: body.conn_url };
    return this.#pg.xlogLocation;
  }

  /** SIGTERM: stop PostgreSQL and give the lock away (unless paused: leave both alone, like Patroni). */
  async shutdown(): Promise<void> {
    const { pg, dcs, log, config } = this.deps;
    if (this.deps.observeOnly) return;
    if (this.dyn.current.pause) {
      log.info("Leader key is not deleted and Postgresql is not stopped due paused state");
      await this.deps.watchdog?.disable();
      return;
    }
    this.#stoppedByUs = true;
    await pg.stop("fast", config.postgresql.pgCtlTimeout).catch(() => {});
    // After the backends are gone: from here a hung agent can no longer serve writes.
    await this.deps.watchdog?.disable();
    this.#hooks.emit("onStop", this.#hookCtx("shutdown"));
    try {
      const c = await dcs.getCluster();
      if (c.leader?.name === this.name) {
        const st = await pg.observe();
        await dcs.writeStatus({ ...(c.status ?? {}), optime: st.xlogLocation || this.#pg.xlogLocation });
        await dcs.deleteLeader(c.leader);
        log.info("Leader key released");
      }
    } catch (e) {
      log.warn("could not release the leader key on shutdown", { error: String(e) });
    }
  }
}

/** The remote source of a standby cluster, from dynamic config. */
export function standbySource(d: DynamicConfig): Upstream | null {
  const s = d.standbyCluster;
  if (!s || (!s.host && !s.port && !s.restoreCommand)) return null;
  // Only restore_command: recover from the archive, no streaming (host "" = no primary_conninfo).
  const streams = Boolean(s.host || s.port);
  return {
    host: streams ? s.host ?? "127.0.0.1" : "",
    port: streams ? Number(s.port ?? 5432) : 0,
    ...(s.primarySlotName ? { slot: s.primarySlotName } : {}),
    ...(s.restoreCommand ? { restoreCommand: s.restoreCommand } : {}),
    ...(s.archiveCleanupCommand ? { archiveCleanupCommand: s.archiveCleanupCommand } : {}),
    ...(s.recoveryMinApplyDelay !== undefined ? { recoveryMinApplyDelay: s.recoveryMinApplyDelay } : {}),
  };
}

/** Whether two member lists name the same members at the same API addresses (order aside). */
function sameMembers(a: Member[], b: Member[]): boolean {
  const urls = new Map(a.map((m) => [m.name, m.data.api_url]));
  return a.length === b.length && b.every((m) => urls.has(m.name) && urls.get(m.name) === m.data.api_url);
}
