/**
 * In-memory DCS for tests and the deterministic simulation: `MemoryStore` behaves like one etcd server
 * (global revision, leases with TTL, compare-and-set transactions, watches) and is shared by several
 * `MemoryDcs` clients, which run the same lock logic as `Etcd3Dcs` (see `kv.ts`).
 *
 * Time comes only from the injected `Clock` (a `VirtualClock` in tests): a lease granted or kept alive at T
 * expires at T + ttl. No timers, no randomness.
 *
 * Fault injection:
 * - `store.setAvailable(false)`: every client's requests fail. In the default `"hang"` mode a request takes its
 *   whole per-attempt timeout (in clock time) before failing, like a hung server, so an operation throws
 *   `DcsUnavailableError` once its retry_timeout budget is spent. In `"refuse"` mode requests fail at once
 *   (connection refused); the retry loop still backs off until the budget is spent.
 * - `store.partition(name, true)`: the same, for one client only. Its lease is not kept alive, so its keys
 *   expire for everybody else.
 */
import { type Clock, realClock } from "../util/clock.ts";
import type { Attempt } from "./retry.ts";
import {
  type Compare,
  type KvBackend,
  KvDcs,
  type KvOp,
  type KvPair,
  LeaseNotFoundError,
  type TxnResult,
} from "./kv.ts";
import { clientPath, type DcsOptions } from "./types.ts";

export type OutageMode = "hang" | "refuse";

interface Entry {
  value: string;
  createRevision: number;
  modRevision: number;
  lease: string;
}

interface Lease {
  ttlMs: number;
  expiresAt: number;
  keys: Set<string>;
}

interface ChangeEvent {
  revision: number;
  key: string;
}

/** Events kept for watches that start in the past; older history counts as "compacted". */
const EVENT_HISTORY = 10_000;

/** The store is unreachable for the calling client. */
export class MemoryStoreUnreachableError extends Error {
  override name = "MemoryStoreUnreachableError";
}

export class MemoryStore {
  readonly clock: Clock;
  #revision = 0;
  #nextLease = 1;
  readonly #kv = new Map<string, Entry>();
  readonly #leases = new Map<string, Lease>();
  #events: ChangeEvent[] = [];
  /** Revision of the oldest change that was dropped from `#events` (0: nothing dropped). */
  #compacted = 0;
  #available = true;
  #mode: OutageMode = "hang";
  readonly #partitioned = new Set<string>();
  readonly #listeners = new Set<() => void>();

  constructor(clock: Clock = realClock) {
    this.clock = clock;
  }

  /** Current store revision (bumped once per write transaction or lease expiry). */
  get revision(): number {
    return this.#revision;
  }

  /** Take the whole store down (`false`) or bring it back. See the module comment for `mode`. */
  setAvailable(available: boolean, mode: OutageMode = "hang"): void {
    this.#available = available;
    this.#mode = mode;
    this.#notify();
  }

  /** Cut one client (by member name) off the store, or reconnect it. */
  partition(client: string, cut = true): void {
    if (cut) this.#partitioned.add(client);
    else this.#partitioned.delete(client);
    this.#notify();
  }

  get outageMode(): OutageMode {
    return this.#mode;
  }

  reachable(client: string): boolean {
    return this.#available && !this.#partitioned.has(client);
  }

  // ---- raw access (tests, simulation checkers) ----------------------------------------------------------

  /** Write a value without lease, bypassing clients and faults. */
  rawPut(key: string, value: string): void {
    this.#expire();
    this.#apply([{ put: { key, value } }]);
  }

  rawGet(key: string): string | null {
    this.#expire();
    return this.#kv.get(key)?.value ?? null;
  }

  rawDelete(key: string, prefix = false): void {
    this.#expire();
    this.#apply([{ deleteRange: { key, prefix } }]);
  }

  /** Every live key under `prefix`, sorted. */
  dump(prefix = ""): KvPair[] {
    this.#expire();
    return this.#range(prefix);
  }

  /** Earliest lease expiry, if any lease is live. */
  nextExpiry(): number | undefined {
    let min: number | undefined;
    for (const l of this.#leases.values()) if (min === undefined || l.expiresAt < min) min = l.expiresAt;
    return min;
  }

  // ---- the etcd-shaped operations (synchronous, hence atomic) -------------------------------------------

  range(prefix: string): { revision: string; kvs: KvPair[] } {
    this.#expire();
    return { revision: String(this.#revision), kvs: this.#range(prefix) };
  }

  txn(compare: Compare[], success: KvOp[], failure: KvOp[]): TxnResult {
    this.#expire();
    const ok = compare.every((c) => this.#compare(c));
    const ops = ok ? success : failure;
    for (const op of ops) {
      if ("put" in op && op.put.lease && op.put.lease !== "0" && !this.#leases.has(op.put.lease)) {
        throw new LeaseNotFoundError(`requested lease not found: ${op.put.lease}`);
      }
    }
    const responses = this.#apply(ops);
    return { succeeded: ok, revision: String(this.#revision), responses };
  }

  leaseGrant(ttlS: number): string {
    this.#expire();
    const id = String(this.#nextLease++);
    const ttlMs = ttlS * 1000;
    this.#leases.set(id, { ttlMs, expiresAt: this.clock.now() + ttlMs, keys: new Set() });
    return id;
  }

  leaseKeepAlive(id: string): number {
    this.#expire();
    const l = this.#leases.get(id);
    if (!l) return 0;
    l.expiresAt = this.clock.now() + l.ttlMs;
    return l.ttlMs / 1000;
  }

  leaseRevoke(id: string): void {
    this.#expire();
    this.#revoke(id);
  }

  /** Whether a watched key under `prefix` changed at a revision ≥ `from` (true when history is gone). */
  changedSince(prefix: string, from: number, relevant: (key: string) => boolean): boolean {
    this.#expire();
    if (this.#compacted >= from) return true;
    for (let i = this.#events.length - 1; i >= 0; i--) {
      const e = this.#events[i]!;
      if (e.revision < from) break;
      if (e.key.startsWith(prefix) && relevant(e.key.slice(prefix.length))) return true;
    }
    return false;
  }

  /** Call `fn` after every change (writes, expiries, faults); returns the unsubscribe function. */
  onChange(fn: () => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  // ---- internals ----------------------------------------------------------------------------------------

  #range(prefix: string): KvPair[] {
    const out: KvPair[] = [];
    for (const [key, e] of this.#kv) {
      if (!key.startsWith(prefix)) continue;
      out.push({
        key,
        value: e.value,
        createRevision: String(e.createRevision),
        modRevision: String(e.modRevision),
        lease: e.lease,
      });
    }
    return out.sort((a, b) => a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
  }

  #compare(c: Compare): boolean {
    const e = this.#kv.get(c.key);
    switch (c.target) {
      case "create":
        return String(e?.createRevision ?? 0) === c.createRevision;
      case "mod":
        return String(e?.modRevision ?? 0) === c.modRevision;
      case "value":
        return e !== undefined && e.value === c.value; // like etcd: a missing key never equals a value
      case "lease":
        return (e?.lease ?? "0") === c.lease;
    }
  }

  /** Apply ops at one new revision (only if something is written); notify watchers. */
  #apply(ops: KvOp[]): { kvs?: KvPair[] }[] {
    const rev = this.#revision + 1;
    let wrote = false;
    const responses: { kvs?: KvPair[] }[] = [];
    for (const op of ops) {
      if ("range" in op) {
        responses.push({ kvs: this.#range(op.range.key).filter((kv) => kv.key === op.range.key) });
      } else if ("put" in op) {
        const { key, value } = op.put;
        const lease = op.put.lease ?? "0";
        const old = this.#kv.get(key);
        if (old && old.lease !== "0") this.#leases.get(old.lease)?.keys.delete(key);
        this.#kv.set(key, { value, createRevision: old?.createRevision ?? rev, modRevision: rev, lease });
        if (lease !== "0") this.#leases.get(lease)!.keys.add(key);
        this.#event(rev, key);
        wrote = true;
        responses.push({});
      } else {
        const { key, prefix } = op.deleteRange;
        const keys = prefix ? [...this.#kv.keys()].filter((k) => k.startsWith(key)) : [key];
        for (const k of keys) {
          const e = this.#kv.get(k);
          if (!e) continue;
          if (e.lease !== "0") this.#leases.get(e.lease)?.keys.delete(k);
          this.#kv.delete(k);
          this.#event(rev, k);
          wrote = true;
        }
        responses.push({});
      }
    }
    if (wrote) {
      this.#revision = rev;
      this.#notify();
    }
    return responses;
  }

  #event(revision: number, key: string): void {
    this.#events.push({ revision, key });
    if (this.#events.length > EVENT_HISTORY) {
      const dropped = this.#events.splice(0, this.#events.length - EVENT_HISTORY);
      this.#compacted = dropped[dropped.length - 1]!.revision;
    }
  }

  #revoke(id: string): void {
    const l = this.#leases.get(id);
    if (!l) return;
    this.#leases.delete(id);
    if (l.keys.size) this.#apply([...l.keys].sort().map((key) => ({ deleteRange: { key } })));
  }

  /** Drop leases whose time is up (and their keys), in expiry order. */
  #expire(): void {
    const now = this.clock.now();
    const due = [...this.#leases].filter(([, l]) => l.expiresAt <= now)
      .sort((a, b) => a[1].expiresAt - b[1].expiresAt || Number(a[0]) - Number(b[0]));
    for (const [id] of due) this.#revoke(id);
  }

  #notify(): void {
    for (const fn of [...this.#listeners]) fn();
  }
}

/** One client's connection to the store: counts requests and applies the store's faults. */
export class MemoryBackend implements KvBackend {
  #requests = 0;
  #closed = false;
  constructor(readonly store: MemoryStore, readonly client: string) {}

  get requestCount(): number {
    return this.#requests;
  }

  async #call<T>(a: Attempt, fn: () => T): Promise<T> {
    this.#requests++;
    if (this.#closed) throw new MemoryStoreUnreachableError("client is closed");
    if (!this.store.reachable(this.client)) {
      if (this.store.outageMode === "hang") await this.store.clock.sleep(a.timeoutMs, a.signal);
      throw new MemoryStoreUnreachableError(`memory store unreachable from ${this.client}`);
    }
    return fn();
  }

  range(prefix: string, a: Attempt) {
    return this.#call(a, () => this.store.range(prefix));
  }
  txn(compare: Compare[], success: KvOp[], failure: KvOp[], a: Attempt) {
    return this.#call(a, () => this.store.txn(compare, success, failure));
  }
  leaseGrant(ttlS: number, a: Attempt) {
    return this.#call(a, () => this.store.leaseGrant(ttlS));
  }
  leaseKeepAlive(id: string, a: Attempt) {
    return this.#call(
      a,
      () => ({ ttlS: this.store.leaseKeepAlive(id), revision: String(this.store.revision) }),
    );
  }

  async watch(
    prefix: string,
    startRevision: string | null,
    relevant: (key: string) => boolean,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<boolean> {
    this.#requests++;
    const { store } = this;
    const clock = store.clock;
    const deadline = clock.now() + timeoutMs;
    const from = startRevision === null ? store.revision + 1 : Number(startRevision);
    for (;;) {
      if (signal?.aborted || this.#closed) return false;
      const reachable = store.reachable(this.client);
      if (reachable && store.changedSince(prefix, from, relevant)) return true;
      const now = clock.now();
      if (now >= deadline) return false;
      // Sleep until the deadline, the next lease expiry (which deletes keys) or any change in the store.
      const expiry = reachable ? store.nextExpiry() : undefined;
      const until = Math.min(deadline, expiry !== undefined ? Math.max(expiry, now) : deadline);
      const wake = new AbortController();
      const unsubscribe = store.onChange(() => wake.abort());
      const onAbort = () => wake.abort();
      signal?.addEventListener("abort", onAbort, { once: true });
      try {
        await clock.sleep(until - now, wake.signal);
      } catch {
        /* woken early */
      } finally {
        unsubscribe();
        signal?.removeEventListener("abort", onAbort);
      }
    }
  }

  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }
}

/** A DCS client (one member) on a shared `MemoryStore`. */
export class MemoryDcs extends KvDcs {
  readonly store: MemoryStore;
  readonly #leaderKey: string;
  readonly #client: string;
  constructor(store: MemoryStore, opts: DcsOptions) {
    super("memory", new MemoryBackend(store, opts.name), store.clock, opts);
    this.store = store;
    this.#leaderKey = `${clientPath(opts)}/leader`;
    this.#client = opts.name;
  }

  /** The store itself stands in for etcd's watch-fed copy (always current), so simulations exercise it. */
  override leaderlessHint(): boolean {
    return this.store.reachable(this.#client) &&
      !this.store.dump(this.#leaderKey).some((kv) => kv.key === this.#leaderKey);
  }
}

const named = new Map<string, MemoryStore>();

/** A process-wide store by id (config `memory.id`), created on first use on the real clock. */
export function namedMemoryStore(id: string): MemoryStore {
  let s = named.get(id);
  if (!s) named.set(id, s = new MemoryStore(realClock));
  return s;
}
