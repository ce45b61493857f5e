/**
 * A simulated PostgreSQL implementing `PostgresPort` in memory, on a virtual clock.
 *
 * WAL is modelled as a list of segments, each written by one "branch" (a writing session of a primary on a
 * timeline). Two data directories agree up to the first position where the branches differ; a node whose
 * WAL extends past that point has diverged and cannot stream from the other without pg_rewind. This makes
 * the classic hazards visible: an ex-primary that wrote past the switch point needs rewind, a promoted
 * replica that missed writes loses them, and two primaries writing at once produce two branches.
 *
 * The world ticks (`PgWorld.tick`): replicas first copy what their upstream had at the end of the previous
 * tick (one tick of replication delay), then every writable primary appends `writeBytes`.
 */
import {
  emptyPgState,
  type PgState,
  type PostgresPort,
  type ReplicationRow,
  type StartOptions,
  type StopMode,
  type Upstream,
} from "../postgres/port.ts";
import type { Clock } from "../util/clock.ts";
import { parseSsn, type Ssn } from "../ha/sync.ts";

export interface Segment {
  /** Writing session id, unique in the world. */
  branch: number;
  timeline: number;
  from: number;
  to: number;
}

/** Durations of PostgreSQL operations, ms (multiplied by a node's slow-disk factor). */
export interface PgTimings {
  startMs: number;
  stopMs: number;
  immediateStopMs: number;
  promoteMs: number;
  rewindMs: number;
  cloneMs: number;
  bootstrapMs: number;
  checkpointMs: number;
}

export const DEFAULT_PG_TIMINGS: PgTimings = {
  startMs: 1500,
  stopMs: 800,
  immediateStopMs: 100,
  promoteMs: 300,
  rewindMs: 2000,
  cloneMs: 3000,
  bootstrapMs: 2000,
  checkpointMs: 200,
};

interface DataDir {
  sysid: string;
  segments: Segment[];
  /** pg_controldata "Database cluster state". */
  controlState: string;
}

interface Proc {
  role: "primary" | "replica";
  accepting: boolean;
  /** Shutting down: connections refused, no new writes, no replication. */
  busy: boolean;
  /** Promotion under way: still a read-only replica, but the WAL receiver has stopped. */
  promoting: boolean;
  upstream: Upstream | null;
  streaming: boolean;
  /** Writing session (primary): its WAL goes to this branch. */
  branch: number | null;
  pid: number;
}

/** The node crashed while an operation was running. */
export class FakePgCrashedError extends Error {
  override name = "FakePgCrashedError";
}

export function walEnd(segs: Segment[]): number {
  return segs.length ? segs[segs.length - 1]!.to : 0;
}

/** Position up to which both WAL histories are identical. */
export function commonPrefix(a: Segment[], b: Segment[]): number {
  let i = 0, j = 0, pos = 0;
  while (i < a.length && j < b.length) {
    const sa = a[i]!, sb = b[j]!;
    if (sa.to <= pos) {
      i++;
      continue;
    }
    if (sb.to <= pos) {
      j++;
      continue;
    }
    if (sa.branch !== sb.branch) return pos;
    pos = Math.min(sa.to, sb.to);
  }
  return Math.min(pos, walEnd(a), walEnd(b));
}

/** The first `upTo` bytes of a WAL history. */
export function walPrefix(segs: Segment[], upTo: number): Segment[] {
  const out: Segment[] = [];
  for (const s of segs) {
    if (s.from >= upTo) break;
    out.push({ ...s, to: Math.min(s.to, upTo) });
  }
  return out;
}

export class PgWorld {
  readonly nodes = new Map<string, FakePg>();
  #branch = 0;
  #sysid = 0;
  #pid = 1000;
  /** Bytes a writable primary appends per tick. */
  writeBytes: number;
  /** Can `from` open a connection to `to` (replication, basebackup, rewind)? */
  canConnect: (from: string, to: string) => boolean = () => true;
  /**
   * Durability bookkeeping (synchronous modes): the longest WAL prefix some primary acknowledged to clients
   * (a commit is acknowledged once the standbys `synchronous_standby_names` requires have it), and every time
   * a member started writing without that prefix, i.e. lost acknowledged commits.
   */
  trackDurability = false;
  acked: Segment[] = [];
  readonly durabilityViolations: string[] = [];

  constructor(readonly clock: Clock, opts: { writeBytes?: number; timings?: Partial<PgTimings> } = {}) {
    this.writeBytes = opts.writeBytes ?? 8192;
    this.timings = { ...DEFAULT_PG_TIMINGS, ...opts.timings };
  }
  readonly timings: PgTimings;

  add(name: string, host: string, port: number): FakePg {
    const pg = new FakePg(this, name, host, port);
    this.nodes.set(name, pg);
    return pg;
  }

  byAddress(host: string, port: number): FakePg | undefined {
    for (const n of this.nodes.values()) if (n.host === host && n.port === port) return n;
    return undefined;
  }

  newBranch(): number {
    return ++this.#branch;
  }

  newSysid(): string {
    return String(7_100_000_000_000_000_000n + BigInt(++this.#sysid));
  }

  newPid(): number {
    return ++this.#pid;
  }

  /** Replicate (from the previous tick's state), then write on every writable primary. */
  tick(): void {
    const before = new Map<FakePg, Segment[]>();
    for (const n of this.nodes.values()) if (n.data) before.set(n, n.data.segments);
    for (const n of this.nodes.values()) n.replicate(before);
    for (const n of this.nodes.values()) n.write(this.writeBytes);
    if (this.trackDurability) { for (const n of this.nodes.values()) this.#recordAcked(n); }
  }

  /** Extend `acked` by what `n` acknowledged; a primary acknowledging on a history without it is a loss. */
  #recordAcked(n: FakePg): void {
    if (!n.writable || !n.data) return;
    const upTo = n.ackedPosition();
    if (upTo <= walEnd(this.acked)) return;
    const mine = walPrefix(n.data.segments, upTo);
    if (commonPrefix(mine, this.acked) < walEnd(this.acked)) {
      this.durabilityViolations.push(
        `${n.name} acknowledged commits up to ${upTo} on a history that lacks acknowledged WAL up to ` +
          `${walEnd(this.acked)}`,
      );
    }
    this.acked = mine;
  }

  /** Called when `n` starts writing (promotion, start as primary): it must hold every acknowledged commit. */
  checkBeginWriting(n: FakePg): void {
    if (!this.trackDurability) return;
    const have = commonPrefix(n.segments, this.acked);
    if (have < walEnd(this.acked)) {
      this.durabilityViolations.push(
        `${n.name} became primary at ${n.end} holding acknowledged WAL only up to ${have} of ${
          walEnd(this.acked)
        }`,
      );
    }
  }
}

export class FakePg implements PostgresPort {
  data: DataDir | null = null;
  proc: Proc | null = null;
  /** Slow-disk factor: every operation takes this many times longer. */
  slow = 1;
  /** synchronous_standby_names as last set (null: none). */
  ssn: string | null = null;
  /** Highest position acknowledged to clients in the current writing session. */
  #ackedEnd = 0;
  slots: string[] = [];
  #epoch = 0;

  constructor(readonly world: PgWorld, readonly name: string, readonly host: string, readonly port: number) {}

  get address(): string {
    return `${this.host}:${this.port}`;
  }

  get segments(): Segment[] {
    return this.data?.segments ?? [];
  }

  get end(): number {
    return walEnd(this.segments);
  }

  get timeline(): number | null {
    const s = this.data?.segments;
    return s?.length ? s[s.length - 1]!.timeline : null;
  }

  /** Running, accepting connections, not in recovery, not shutting down: clients can write. */
  get writable(): boolean {
    const p = this.proc;
    return p !== null && p.accepting && !p.busy && p.role === "primary";
  }

  /** The postmaster dies now (node death or a crash); running operations fail. */
  crash(): void {
    this.#epoch++;
    const p = this.proc;
    if (p && this.data && p.accepting) {
      this.data.controlState = p.role === "primary" ? "in production" : "in archive recovery";
    }
    this.proc = null;
  }

  async #op<T>(ms: number, fn: () => T): Promise<T> {
    const epoch = this.#epoch;
    await this.world.clock.sleep(ms * this.slow);
    if (epoch !== this.#epoch) {
      throw new FakePgCrashedError(`${this.name}: postgres crashed during the operation`);
    }
    return fn();
  }

  /** Start writing as primary on `timeline` (a new branch): after start as primary, promote, bootstrap. */
  #beginWriting(timeline: number, recordBytes: number): void {
    this.world.checkBeginWriting(this);
    this.#ackedEnd = 0;
    const d = this.data!, p = this.proc!;
    p.branch = this.world.newBranch();
    const end = walEnd(d.segments);
    d.segments = [...d.segments, { branch: p.branch, timeline, from: end, to: end + recordBytes }];
    d.controlState = "in production";
  }

  /** Called by the world: append writes when writable. */
  write(bytes: number): void {
    if (this.writable) this.#append(bytes);
  }

  /** Append WAL of this primary's writing session. */
  #append(bytes: number): void {
    const p = this.proc, d = this.data;
    if (!p?.branch || !d) return;
    const last = d.segments[d.segments.length - 1]!;
    if (last.branch === p.branch) d.segments = [...d.segments.slice(0, -1), { ...last, to: last.to + bytes }];
    else {d.segments = [...d.segments, {
        branch: p.branch,
        timeline: last.timeline,
        from: last.to,
        to: last.to + bytes,
      }];}
  }

  /** The upstream this replica streams from, if it is up and reachable. */
  upstreamNode(): FakePg | undefined {
    const up = this.proc?.upstream;
    if (!up) return undefined;
    const n = this.world.byAddress(up.host, up.port);
    if (!n || n === this || !n.proc?.accepting || !n.data || !this.data) return undefined;
    if (n.data.sysid !== this.data.sysid || !this.world.canConnect(this.name, n.name)) return undefined;
    return n;
  }

  /** Called by the world: copy the upstream's WAL as of `before` when our WAL is a prefix of it. */
  replicate(before: Map<FakePg, Segment[]>): void {
    const p = this.proc;
    if (!p || p.role !== "replica" || !p.accepting || p.busy || p.promoting || !this.data) return;
    const up = this.upstreamNode();
    const theirs = up ? before.get(up) : undefined;
    if (!up || !theirs) {
      p.streaming = false;
      return;
    }
    const mine = this.data.segments;
    if (commonPrefix(mine, theirs) < walEnd(mine)) {
      p.streaming = false; // diverged: the WAL receiver keeps failing
      return;
    }
    p.streaming = true;
    if (walEnd(theirs) > walEnd(mine)) this.data.segments = walPrefix(theirs, walEnd(theirs));
  }

  // ---- PostgresPort ---------------------------------------------------------------------------------

  observe(): Promise<PgState> {
    return Promise.resolve(this.state());
  }

  /** The current state, synchronously (checkers, the simulated REST API). */
  state(): PgState {
    const d = this.data, p = this.proc;
    const base: PgState = {
      ...emptyPgState(),
      dataDirEmpty: d === null,
      running: p !== null,
      pid: p?.pid ?? null,
      accepting: p !== null && p.accepting && !p.busy,
      timeline: this.timeline,
      sysid: d?.sysid ?? null,
      controlState: d?.controlState ?? null,
      xlogLocation: this.end,
      serverVersion: 150004,
    };
    if (!p || !base.accepting) return base;
    if (p.role === "primary") {
      return { ...base, inRecovery: false, replication: this.#replicationRows() };
    }
    return {
      ...base,
      inRecovery: true,
      receiveLsn: this.end,
      replayLsn: this.end,
      replicationState: p.streaming ? "streaming" : "in archive recovery",
      upstream: p.upstream ? `${p.upstream.host}:${p.upstream.port}` : null,
    };
  }

  #parsedSsn(): Ssn {
    try {
      return parseSsn(this.ssn ?? "");
    } catch {
      return parseSsn("");
    }
  }

  /** Replicas streaming from us with how far they hold our WAL, and their sync_state as PostgreSQL reports it. */
  #walsenders(): { node: FakePg; pos: number; syncState: string; priority: number }[] {
    const ssn = this.#parsedSsn();
    const out: { node: FakePg; pos: number; syncState: string; priority: number }[] = [];
    for (const n of this.world.nodes.values()) {
      if (n === this || !n.proc?.streaming || n.upstreamNode() !== this) continue;
      const listed = ssn.hasStar ? 0 : ssn.members.indexOf(n.name.toLowerCase());
      out.push({
        node: n,
        pos: Math.min(n.end, commonPrefix(n.segments, this.segments)),
        syncState: ssn.type === "off" || listed < 0
          ? "async"
          : ssn.type === "quorum"
          ? "quorum"
          : "potential",
        priority: ssn.type === "off" || listed < 0 ? 0 : ssn.type === "quorum" ? 1 : listed + 1,
      });
    }
    if (ssn.type === "priority") {
      // The `num` highest-priority connected standbys are synchronous.
      const ranked = out.filter((w) => w.priority > 0).sort((a, b) => a.priority - b.priority);
      for (const w of ranked.slice(0, ssn.num)) w.syncState = "sync";
    }
    return out;
  }

  /**
   * How far commits are acknowledged: all local WAL without synchronous standbys, else the position the
   * required standbys all hold (priority: the `num` synchronous ones; quorum: any `num` of the listed). With
   * fewer of them connected, commits wait and nothing more is acknowledged.
   */
  ackedPosition(): number {
    const ssn = this.#parsedSsn();
    if (ssn.type === "off") {
      this.#ackedEnd = this.end;
      return this.#ackedEnd;
    }
    const ws = this.#walsenders().filter((w) => w.syncState === "sync" || w.syncState === "quorum");
    if (ws.length >= ssn.num && ssn.num > 0) {
      const pos = ws.map((w) => w.pos).sort((a, b) => b - a)[ssn.num - 1]!;
      this.#ackedEnd = Math.max(this.#ackedEnd, Math.min(pos, this.end));
    }
    return this.#ackedEnd;
  }

  #replicationRows(): ReplicationRow[] {
    return this.#walsenders().map((w) => ({
      usename: "replicator",
      application_name: w.node.name,
      client_addr: w.node.host,
      state: "streaming",
      sync_state: w.syncState,
      sync_priority: w.priority,
      flush_lsn: w.node.end,
      replay_lsn: w.node.end,
      write_lsn: w.node.end,
    }));
  }

  bootstrap(): Promise<void> {
    if (this.data) return Promise.reject(new Error(`${this.name}: data directory is not empty`));
    return this.#op(this.world.timings.bootstrapMs, () => {
      this.data = { sysid: this.world.newSysid(), segments: [], controlState: "in production" };
      this.proc = this.#newProc("primary", null, true);
      this.#beginWriting(1, 100);
    });
  }

  createReplica(source: Upstream & { connUrl?: string }): Promise<void> {
    const src = this.world.byAddress(source.host, source.port);
    const usable = (n: FakePg | undefined) =>
      n !== undefined && n.proc?.accepting === true && n.data !== null &&
      this.world.canConnect(this.name, n.name);
    if (!usable(src)) {
      return Promise.reject(
        new Error(`${this.name}: pg_basebackup: could not connect to ${source.host}:${source.port}`),
      );
    }
    return this.#op(this.world.timings.cloneMs, () => {
      if (!usable(src)) throw new Error(`${this.name}: pg_basebackup: connection to ${src!.name} lost`);
      this.data = {
        sysid: src!.data!.sysid,
        segments: walPrefix(src!.data!.segments, src!.end),
        controlState: "in archive recovery",
      };
    });
  }

  #newProc(role: "primary" | "replica", upstream: Upstream | null, accepting: boolean): Proc {
    return {
      role,
      accepting,
      busy: false,
      promoting: false,
      upstream,
      streaming: false,
      branch: null,
      pid: this.world.newPid(),
    };
  }

  start(opts: StartOptions): Promise<boolean> {
    if (!this.data) return Promise.reject(new Error(`${this.name}: data directory is empty`));
    if (this.proc) return Promise.resolve(this.proc.accepting);
    const proc = this.#newProc(opts.role, opts.upstream ?? null, false);
    this.proc = proc;
    const epoch = this.#epoch;
    const clock = this.world.clock;
    const up = clock.sleep(this.world.timings.startMs * this.slow).then(() => {
      if (epoch !== this.#epoch || this.proc !== proc) return false;
      proc.accepting = true;
      // Without standby.signal PostgreSQL recovers and opens for writes on its current timeline.
      if (proc.role === "primary") this.#beginWriting(this.timeline ?? 1, 16);
      else this.data!.controlState = "in archive recovery";
      return true;
    });
    const timeout = new AbortController();
    const limit = clock.sleep(opts.timeoutS * 1000, timeout.signal).then(() => false, () => false);
    return Promise.race([up, limit]).finally(() => timeout.abort());
  }

  async stop(mode: StopMode, _timeoutS: number): Promise<boolean> {
    const p = this.proc;
    if (!p) return true;
    p.busy = true; // clients are disconnected at once
    const ms = mode === "immediate" ? this.world.timings.immediateStopMs : this.world.timings.stopMs;
    await this.#op(ms, () => {
      if (this.proc !== p) return;
      const d = this.data!;
      if (mode !== "immediate" && p.accepting && p.role === "primary") {
        // Shutdown checkpoint, sent to every connected streaming replica before the walsenders exit.
        this.#append(40);
        for (const n of this.world.nodes.values()) {
          if (
            n.proc?.streaming && n.proc.upstream &&
            n.world.byAddress(n.proc.upstream.host, n.proc.upstream.port) === this &&
            this.world.canConnect(n.name, this.name) && commonPrefix(n.segments, d.segments) === n.end
          ) {
            n.data!.segments = walPrefix(d.segments, walEnd(d.segments));
          }
        }
      }
      if (p.accepting) {
        d.controlState = p.role === "primary"
          ? (mode === "immediate" ? "in production" : "shut down")
          : (mode === "immediate" ? "in archive recovery" : "shut down in recovery");
      }
      this.proc = null;
    });
    return true;
  }

  async promote(_timeoutS: number): Promise<boolean> {
    const p = this.proc;
    if (!p || !p.accepting) return false;
    if (p.role === "primary") return true;
    p.promoting = true;
    p.streaming = false;
    return await this.#op(this.world.timings.promoteMs, () => {
      if (this.proc !== p || p.busy) return false;
      p.promoting = false;
      p.role = "primary";
      p.upstream = null;
      p.streaming = false;
      this.#beginWriting((this.timeline ?? 1) + 1, 16);
      return true;
    });
  }

  follow(upstream: Upstream | null): Promise<void> {
    if (this.proc && this.proc.role === "replica") {
      this.proc.upstream = upstream;
      this.proc.streaming = false;
    }
    return Promise.resolve();
  }

  #source(source: Upstream): FakePg {
    const src = this.world.byAddress(source.host, source.port);
    if (!src || !src.proc?.accepting || !src.data || !this.world.canConnect(this.name, src.name)) {
      throw new Error(`${this.name}: could not connect to ${source.host}:${source.port}`);
    }
    return src;
  }

  needsRewind(source: Upstream): Promise<boolean> {
    try {
      const src = this.#source(source);
      return Promise.resolve(commonPrefix(this.segments, src.segments) < this.end);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  async rewind(source: Upstream): Promise<boolean> {
    if (this.proc || !this.data) return false;
    try {
      this.#source(source);
    } catch {
      return false;
    }
    return await this.#op(this.world.timings.rewindMs, () => {
      let src: FakePg;
      try {
        src = this.#source(source);
      } catch {
        return false;
      }
      if (this.proc || !this.data) return false;
      this.data.segments = walPrefix(src.segments, src.end);
      this.data.controlState = "in archive recovery";
      return true;
    });
  }

  removeDataDirectory(): Promise<void> {
    if (this.proc) return Promise.reject(new Error(`${this.name}: postgres is running`));
    this.data = null;
    return Promise.resolve();
  }

  /** The simulation keeps no set-aside copies: the data directory is gone either way. */
  moveDataDirectory(): Promise<string | null> {
    this.proc = null;
    this.data = null;
    return Promise.resolve(null);
  }

  checkpoint(): Promise<void> {
    return this.#op(this.world.timings.checkpointMs, () => {});
  }

  reload(): Promise<void> {
    return Promise.resolve();
  }

  applyParameters(): Promise<{ pendingRestart: boolean }> {
    return Promise.resolve({ pendingRestart: false });
  }

  syncReplicationSlots(names: string[]): Promise<void> {
    this.slots = [...names].sort();
    return Promise.resolve();
  }

  setSynchronousStandbyNames(ssn: string | null | undefined): Promise<void> {
    this.ssn = ssn ?? null;
    return Promise.resolve();
  }

  synchronousStandbyNames(): Promise<string> {
    return Promise.resolve(this.ssn ?? "");
  }

  query(): Promise<Record<string, unknown>[]> {
    return Promise.resolve([]);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
