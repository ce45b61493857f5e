/**
 * Patroni's etcd v3 semantics written once, over a small etcd-shaped port (`KvBackend`: range, txn, leases,
 * watch). `Etcd3Dcs` runs it on a real etcd; `MemoryDcs` on the in-memory store, so the simulation exercises
 * the same lock logic as production.
 *
 * Layout and rules (reference §2.3): one lease per process (TTL = ttl) shared by `members/<name>` and
 * `leader`; keepalive at most once per loop_wait, forced when acquiring or renewing the leader key; a new lease
 * when the old one is gone or ttl changed. The leader key is only ever written by transactions that compare
 * first, so a stale or foreign client can never steal it.
 */
import type { Clock } from "../util/clock.ts";
import { type Attempt, withRetry } from "./retry.ts";
import {
  type BadDataHandler,
  type RawKey,
  snapshotFromGroupedKeys,
  snapshotFromKeys,
  warnOnceBadData,
} from "./snapshot.ts";
import {
  basePath,
  clientPath,
  type ClusterSnapshot,
  type Dcs,
  type DcsOptions,
  type DcsTimings,
  type LeaderKey,
  type MemberData,
  type StatusValue,
  type SyncValue,
} from "./types.ts";
import { canonicalJson, patroniJson } from "./json.ts";
import { KvCache } from "./kv_cache.ts";
import { DcsUnavailableError } from "./errors.ts";

export interface KvPair {
  key: string;
  value: string;
  createRevision: string;
  modRevision: string;
  /** Lease id, "0" for none. */
  lease: string;
}

/** One equality comparison of a transaction (the only kind Patroni needs). */
export type Compare =
  | { key: string; target: "create"; createRevision: string }
  | { key: string; target: "mod"; modRevision: string }
  | { key: string; target: "value"; value: string }
  | { key: string; target: "lease"; lease: string };

export type KvOp =
  | { put: { key: string; value: string; lease?: string } }
  | { deleteRange: { key: string; prefix?: boolean } }
  | { range: { key: string } };

export interface TxnResult {
  succeeded: boolean;
  /** Store revision after the transaction (the mod revision of what it wrote). */
  revision: string;
  /** One entry per executed op; `kvs` for ranges. */
  responses: { kvs?: KvPair[] }[];
}

/** One change delivered by a watch stream. */
export interface KvEvent {
  type: "put" | "delete";
  /** For a delete: the key and the revision of the deletion. */
  kv: KvPair;
}

/** A put referred to a lease the store no longer has. */
export class LeaseNotFoundError extends Error {
  override name = "LeaseNotFoundError";
}

/** The etcd-shaped port. Every call is one request, bounded by the attempt it is given. */
export interface KvBackend {
  readonly requestCount: number;
  range(prefix: string, a: Attempt): Promise<{ revision: string; kvs: KvPair[] }>;
  txn(compare: Compare[], success: KvOp[], failure: KvOp[], a: Attempt): Promise<TxnResult>;
  /** Grant a lease; returns its id. */
  leaseGrant(ttlS: number, a: Attempt): Promise<string>;
  /**
   * Refresh a lease; returns the remaining TTL in seconds (0 or less when the lease is gone) and the store's
   * revision when it answered, if the store tells.
   */
  leaseKeepAlive(id: string, a: Attempt): Promise<{ ttlS: number; revision?: string }>;
  /**
   * Optional: how many keys are under `prefix` and the highest mod revision among them, at the store's current
   * revision. Proves a watch-fed copy current without reading the values.
   */
  rangeSummary?(
    prefix: string,
    a: Attempt,
  ): Promise<{ revision: string; count: number; maxModRevision: string }>;
  /**
   * Resolve true as soon as a key under `prefix` for which `relevant(relative key)` holds is put or deleted at a
   * revision ≥ `startRevision` (null: from now on); false after `timeoutMs` or on abort. Never throws: an
   * unreachable store just means waiting out the timeout.
   */
  watch(
    prefix: string,
    startRevision: string | null,
    relevant: (key: string) => boolean,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<boolean>;
  /**
   * Optional change stream from `startRevision` (etcd): with it, KvDcs keeps a watch-fed copy of the cluster
   * and idle reads cost no request. Resolves when the stream ends (abort, failure, or compaction).
   */
  stream?(
    prefix: string,
    startRevision: string,
    handlers: { onCreated: () => void; onEvents: (revision: string, events: KvEvent[]) => void },
    signal: AbortSignal,
  ): Promise<{ compacted: boolean; error?: unknown }>;
  close(): Promise<void>;
}

/** How long a read waits for the watch stream to deliver our own last writes before reading the store. */
const CACHE_CATCH_UP_MS = 100;

/** Keys whose change wakes a waiting HA loop. */
const WATCHED = new Set(["leader", "config", "status", "optime/leader", "failover"]);

const put = (key: string, value: string, lease?: string): KvOp => ({ put: { key, value, lease } });

export class KvDcs implements Dcs {
  readonly kind: Dcs["kind"];
  protected readonly backend: KvBackend;
  protected readonly clock: Clock;
  readonly #o: DcsOptions;
  #timings: DcsTimings;
  readonly #onBad: BadDataHandler;
  #lease: string | null = null;
  #leaseTtlS = 0;
  #lastKeepAliveMs = Number.NEGATIVE_INFINITY;
  #lastReadRevision: string | null = null;
  /** Store revision reported by the last keepalive (null: unknown). */
  #keepAliveRevision: string | null = null;
  /** The lease our leader key was bound to at the last read (null: the key was not ours). */
  #leaderLease: string | null = null;
  /** Our member key as last read: skip rewriting identical data bound to the same live lease. */
  #ownMember: { json: string; session?: string } | null = null;
  #closed = false;
  /** Watch-fed copy of the cluster's keys, when the backend can stream changes. */
  readonly #cache: KvCache | null;
  /** What getCluster reads: our group, or the whole scope for a Citus coordinator's all-groups view. */
  readonly #readPrefix: string;

  constructor(kind: Dcs["kind"], backend: KvBackend, clock: Clock, opts: DcsOptions) {
    this.kind = kind;
    this.backend = backend;
    this.clock = clock;
    this.#o = { ...opts };
    this.#timings = { ttlS: opts.ttlS, loopWaitS: opts.loopWaitS, retryTimeoutS: opts.retryTimeoutS };
    this.#onBad = opts.onBadData ?? warnOnceBadData();
    const own = clientPath(this.#o) + "/";
    this.#readPrefix = this.#o.allGroups === true ? basePath(this.#o.namespace, this.#o.scope) + "/" : own;
    const stream = backend.stream?.bind(backend);
    this.#cache = stream
      ? new KvCache(stream, this.#readPrefix, {
        now: () => clock.now(),
        // Wake for the HA keys of our own group only (the Citus coordinator reads all groups).
        relevant: (key) => key.startsWith(own) && WATCHED.has(key.slice(own.length)),
      })
      : null;
  }

  get requestCount(): number {
    return this.backend.requestCount;
  }

  /** The lease id this client currently holds (null before the first write or after loss). */
  get leaseId(): string | null {
    return this.#lease;
  }

  #key(rel: string): string {
    return `${clientPath(this.#o)}/${rel}`;
  }

  /** Budget for one attempt: a third of retry_timeout (so a hung endpoint leaves time to try another). */
  #attemptMs(): number {
    const budget = this.#timings.retryTimeoutS * 1000;
    return Math.max(Math.min(budget, 500), budget / 3);
  }

  /**
   * One request retried until `deadline` (default: retry_timeout from now). An operation made of several
   * requests passes one deadline to all of them, so the whole operation stays within retry_timeout.
   */
  #retry<T>(
    op: string,
    fn: (a: Attempt) => Promise<T>,
    deadline = this.clock.now() + this.#timings.retryTimeoutS * 1000,
  ): Promise<T> {
    if (this.#closed) {
      return Promise.reject(new DcsUnavailableError(`${op} failed: the DCS client is closed`));
    }
    const budgetMs = deadline - this.clock.now();
    if (budgetMs <= 0) {
      return Promise.reject(new DcsUnavailableError(`${op} failed: retry_timeout spent by earlier requests`));
    }
    // A failed attempt may mean a hung endpoint whose watch stream is silent: stop trusting the copy.
    const attempt = this.#cache
      ? (a: Attempt) =>
        fn(a).catch((e) => {
          this.#cache?.invalidate();
          throw e;
        })
      : fn;
    return withRetry(op, attempt, {
      clock: this.clock,
      budgetMs,
      attemptTimeoutMs: this.#attemptMs(),
    });
  }

  /** Make sure we hold a live lease; keepalive when `force` or loop_wait passed since the last one. */
  async #ensureLease(
    force: boolean,
    a: Attempt,
    dueAfterMs = this.#timings.loopWaitS * 1000,
  ): Promise<string> {
    if (this.#lease && this.#leaseTtlS !== this.#timings.ttlS) this.#lease = null; // ttl changed: new lease
    const sentAt = this.clock.now();
    if (this.#lease && (force || sentAt - this.#lastKeepAliveMs >= dueAfterMs)) {
      const { ttlS: left, revision } = await this.backend.leaseKeepAlive(this.#lease, a);
      this.#keepAliveRevision = revision ?? null;
      if (left > 0) this.#lastKeepAliveMs = sentAt;
      else this.#lease = null;
    }
    if (!this.#lease) {
      const ttlS = this.#timings.ttlS;
      this.#lease = await this.backend.leaseGrant(ttlS, a);
      this.#leaseTtlS = ttlS;
      this.#lastKeepAliveMs = sentAt;
    }
    return this.#lease;
  }

  /** Run `fn` with our lease; if the store lost it meanwhile, take a new one and run `fn` once more. */
  async #withLease<T>(force: boolean, a: Attempt, fn: (lease: string) => Promise<T>): Promise<T> {
    const lease = await this.#ensureLease(force, a);
    try {
      return await fn(lease);
    } catch (e) {
      if (!(e instanceof LeaseNotFoundError)) throw e;
      this.#lease = null;
      return await fn(await this.#ensureLease(true, a));
    }
  }

  async getCluster(): Promise<ClusterSnapshot> {
    const prefix = this.#readPrefix;
    const deadline = this.clock.now() + this.#timings.retryTimeoutS * 1000;
    // The copy may answer for up to ttl after its last full read; our own writes must have arrived.
    const cached = await this.#readCache(prefix, deadline);
    const { revision, kvs }: { revision: string; kvs: KvPair[] } = cached ??
      await this.#retry("get cluster", (a) => this.backend.range(prefix, a), deadline).then((r) => {
        this.#cache?.seed(r.revision, r.kvs);
        return r;
      });
    const raw: RawKey[] = kvs.map((kv) => ({
      key: kv.key.slice(prefix.length),
      value: kv.value,
      version: kv.modRevision,
      ...(kv.lease !== "0" ? { session: kv.lease } : {}),
    }));
    const s = this.#o.allGroups === true
      ? snapshotFromGroupedKeys(raw, this.#o.group ?? 0, this.#onBad)
      : snapshotFromKeys(raw, this.#onBad);
    this.#lastReadRevision = revision;
    const me = s.members.find((m) => m.name === this.#o.name);
    this.#ownMember = me ? { json: canonicalJson(me.data), session: me.session } : null;
    this.#leaderLease = s.leader?.name === this.#o.name ? s.leader.session ?? null : null;
    return s;
  }

  /**
   * The watch-fed copy, proven current at a revision the store reported just now: by the keepalive this
   * member owes anyway (an idle cluster: no other request), else by a summary of the keys (a store shared
   * with other clusters moves on without us). Null: read the store.
   */
  async #readCache(prefix: string, deadline: number): Promise<{ revision: string; kvs: KvPair[] } | null> {
    const cache = this.#cache;
    const maxAgeMs = this.#timings.ttlS * 1000;
    if (!cache || !cache.live(maxAgeMs)) return null;
    // A failed proof means the store did not answer within retry_timeout: that is the read's failure (a full
    // range after it would double the time the HA loop waits for its snapshot).
    if (this.#lease) {
      const asked = this.clock.now();
      // Half a loop early: one HA cycle's read carries the keepalive despite timer jitter.
      const due = this.#timings.loopWaitS * 500;
      await this.#retry("get cluster", (a) => this.#ensureLease(false, a, due), deadline);
      // Only a keepalive sent for this read proves anything (one not yet due leaves an old revision).
      const rev = this.#lastKeepAliveMs >= asked ? this.#keepAliveRevision : null;
      if (rev !== null) {
        const r = await cache.read(maxAgeMs, CACHE_CATCH_UP_MS, { atLeast: rev });
        if (r) return r;
      }
    }
    const summarize = this.backend.rangeSummary?.bind(this.backend);
    if (!summarize) return null;
    const sum = await this.#retry("get cluster", (a) => summarize(prefix, a), deadline);
    return await cache.read(maxAgeMs, CACHE_CATCH_UP_MS, { summary: sum });
  }

  /** A transaction; what it wrote must be visible in the watch-fed copy before the next read from it. */
  async #txn(compare: Compare[], success: KvOp[], failure: KvOp[], a: Attempt): Promise<TxnResult> {
    const r = await this.backend.txn(compare, success, failure, a);
    const cache = this.#cache;
    if (cache) {
      for (const op of r.succeeded ? success : failure) {
        if ("put" in op) cache.expect(op.put.key, r.revision);
        else if ("deleteRange" in op) {
          if (op.deleteRange.prefix) cache.invalidate();
          else cache.expect(op.deleteRange.key, r.revision);
        }
      }
    }
    return r;
  }

  attemptToAcquireLeader(): Promise<boolean> {
    const key = this.#key("leader");
    const take = async (lease: string, a: Attempt) => {
      const r = await this.#txn(
        [{ key, target: "create", createRevision: "0" }],
        [put(key, this.#o.name, lease)],
        [{ range: { key } }],
        a,
      );
      if (r.succeeded) return true;
      // An earlier attempt may have won before its answer got lost: the key is ours if it carries our lease.
      const kv = r.responses[0]?.kvs?.[0];
      return kv !== undefined && kv.value === this.#o.name && kv.lease === lease;
    };
    return this.#retry("acquire leader lock", async (a) => {
      // The race is won by the first transaction: with a lease kept alive within the loop (it cannot have
      // expired), its keepalive goes out beside the transaction instead of before it. Both must succeed, so
      // the lease still runs a full ttl from before the attempt, as the HA loop assumes.
      const lease = this.#lease;
      const fresh = lease !== null && this.#leaseTtlS === this.#timings.ttlS &&
        this.clock.now() - this.#lastKeepAliveMs < this.#timings.ttlS * 500;
      if (!fresh) return await this.#withLease(true, a, (l) => take(l, a));
      const [won] = await Promise.all([take(lease, a), this.#ensureLease(true, a)]);
      if (this.#lease !== lease) {
        // The keepalive found the lease gone: whatever the transaction did is void. Retry with a new lease.
        throw new LeaseNotFoundError("lease expired while taking the leader lock");
      }
      return won;
    });
  }

  updateLeader(_leader: LeaderKey): Promise<boolean> {
    const key = this.#key("leader");
    const name = this.#o.name;
    return this.#retry("update leader lock", (a) =>
      this.#withLease(true, a, async (lease) => {
        // Steady state: the watch-fed copy, current at the revision our keepalive just reported, shows the key
        // bound to the lease we kept alive: nothing to write or compare.
        if (
          this.#leaderLease === lease && this.#keepAliveRevision !== null &&
          this.#cache?.showsCurrent(key, name, lease, this.#keepAliveRevision, this.#timings.ttlS * 1000)
        ) return true;
        // Otherwise one comparison, no write (a write would wake every watcher each loop).
        const r = await this.#txn(
          [{ key, target: "value", value: name }, { key, target: "lease", lease }],
          [],
          [{ range: { key } }],
          a,
        );
        if (r.succeeded) return true;
        const kv = r.responses[0]?.kvs?.[0];
        if (!kv) {
          // Our lease expired and took the key with it: take it back only if nobody else did (Patroni).
          const c = await this.#txn(
            [{ key, target: "create", createRevision: "0" }],
            [put(key, name, lease)],
            [],
            a,
          );
          return c.succeeded;
        }
        if (kv.value !== name) return false;
        // Ours, but bound to an older lease (ttl change, lease re-granted): rebind unless it changed meanwhile.
        const m = await this.#txn(
          [{ key, target: "mod", modRevision: kv.modRevision }, { key, target: "value", value: name }],
          [put(key, name, lease)],
          [],
          a,
        );
        return m.succeeded;
      }));
  }

  deleteLeader(_leader: LeaderKey | null): Promise<boolean> {
    const key = this.#key("leader");
    return this.#retry("delete leader lock", async (a) => {
      const r = await this.#txn(
        [{ key, target: "value", value: this.#o.name }],
        [{ deleteRange: { key } }],
        [],
        a,
      );
      return r.succeeded;
    });
  }

  takeLeader(): Promise<boolean> {
    const key = this.#key("leader");
    return this.#retry("take leader lock", (a) =>
      this.#withLease(true, a, async (lease) => {
        await this.#txn([], [put(key, this.#o.name, lease)], [], a);
        return true;
      }));
  }

  touchMember(data: MemberData): Promise<boolean> {
    const key = this.#key(`members/${this.#o.name}`);
    const value = patroniJson(data);
    return this.#retry("touch member", (a) =>
      this.#withLease(false, a, async (lease) => {
        const own = this.#ownMember;
        if (own && own.session === lease && own.json === canonicalJson(data)) return true;
        // Whatever happens to this write (it may even be applied after we gave up on it), only the next read
        // tells what the key holds.
        this.#ownMember = null;
        await this.#txn([], [put(key, value, lease)], [], a);
        return true;
      }));
  }

  initialize(create: boolean, sysid: string): Promise<boolean> {
    const key = this.#key("initialize");
    return this.#retry("initialize", async (a) => {
      const cmp: Compare[] = create ? [{ key, target: "create", createRevision: "0" }] : [];
      return (await this.#txn(cmp, [put(key, sysid)], [], a)).succeeded;
    });
  }

  cancelInitialization(): Promise<boolean> {
    return this.#retry("cancel initialization", async (a) => {
      await this.#txn([], [{ deleteRange: { key: this.#key("initialize") } }], [], a);
      return true;
    });
  }

  /** Put `value`, comparing the key's mod revision with `version` when given. */
  #casPut(op: string, rel: string, value: string, version?: string): Promise<TxnResult> {
    const key = this.#key(rel);
    const cmp: Compare[] = version !== undefined ? [{ key, target: "mod", modRevision: version }] : [];
    return this.#retry(op, (a) => this.#txn(cmp, [put(key, value)], [], a));
  }

  async setConfigValue(json: string, version?: string): Promise<boolean> {
    return (await this.#casPut("set config", "config", json, version)).succeeded;
  }

  async setFailoverValue(json: string, version?: string): Promise<boolean> {
    return (await this.#casPut("set failover", "failover", json, version)).succeeded;
  }

  async setSyncState(value: SyncValue, version?: string): Promise<string | null> {
    const r = await this.#casPut("set sync state", "sync", patroniJson(value), version);
    return r.succeeded ? r.revision : null;
  }

  deleteSyncState(version?: string): Promise<boolean> {
    const key = this.#key("sync");
    const cmp: Compare[] = version !== undefined ? [{ key, target: "mod", modRevision: version }] : [];
    return this.#retry(
      "delete sync state",
      async (a) => (await this.#txn(cmp, [{ deleteRange: { key } }], [], a)).succeeded,
    );
  }

  async setHistoryValue(json: string): Promise<boolean> {
    return (await this.#casPut("set history", "history", json)).succeeded;
  }

  async writeStatus(status: StatusValue): Promise<boolean> {
    return (await this.#casPut("write status", "status", patroniJson(status))).succeeded;
  }

  async writeFailsafe(map: Record<string, string>): Promise<boolean> {
    return (await this.#casPut("write failsafe", "failsafe", patroniJson(map))).succeeded;
  }

  /**
   * Wakes on any change of leader, config, status or failover made after our last `getCluster` (so a change
   * between that read and this call is not missed), or from now on when we never read.
   */
  watch(_leaderVersion: string | null, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (this.#closed || signal?.aborted) return Promise.resolve(false);
    if (this.#lastReadRevision !== null) {
      const fromCache = this.#cache?.changedAfter(this.#lastReadRevision, timeoutMs, signal);
      if (fromCache) return fromCache;
    }
    const start = this.#lastReadRevision === null ? null : String(BigInt(this.#lastReadRevision) + 1n);
    return this.backend.watch(clientPath(this.#o) + "/", start, (k) => WATCHED.has(k), timeoutMs, signal);
  }

  leaderlessHint(): boolean {
    return this.#cache?.has(this.#key("leader"), this.#timings.ttlS * 1000) === false;
  }

  deleteCluster(): Promise<boolean> {
    this.#ownMember = null;
    return this.#retry("delete cluster", async (a) => {
      await this.#txn([], [{ deleteRange: { key: clientPath(this.#o) + "/", prefix: true } }], [], a);
      return true;
    });
  }

  setTimings(t: DcsTimings): void {
    this.#timings = { ...t };
  }

  /**
   * Forget our lease without revoking it: keys bound to it live until ttl unless the caller deleted them
   * (a graceful shutdown deletes the leader key first; the member key expires like after a crash).
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#lease = null;
    this.#cache?.close();
    await this.backend.close();
  }
}
