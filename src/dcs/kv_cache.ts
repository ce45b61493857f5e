/**
 * A watch-fed copy of one cluster's keys, as Patroni keeps for etcd v3: after one full read, a change stream
 * keeps it current, so an idle HA cycle reads the cluster without a request and a leader change wakes the
 * loop the moment etcd reports it.
 *
 * The copy is trusted only while (1) its stream is confirmed and open, (2) no request to the store failed
 * since (a hung endpoint may leave a silent stream), and (3) the last full read is younger than `maxAgeMs`
 * (each full read restarts the stream). Our own writes are read back: a read waits until the stream has
 * delivered them, else falls back to a full read.
 */
import type { KvBackend, KvEvent, KvPair } from "./kv.ts";

/** The store's change stream (`KvBackend.stream`). */
export type StreamFn = NonNullable<KvBackend["stream"]>;

/** What a write expects the copy to show before it may answer reads. */
interface Expectation {
  key: string;
  revision: bigint;
}

export class KvCache {
  readonly #stream: StreamFn;
  readonly #prefix: string;
  readonly #now: () => number;
  #kvs = new Map<string, KvPair>();
  /** Revision of the last event applied per key (puts and deletes). */
  #eventRev = new Map<string, bigint>();
  #revision = 0n;
  /** Highest revision at which a key the HA loop wakes for changed. */
  #relevantRev = 0n;
  #verifiedAt = Number.NEGATIVE_INFINITY;
  #live = false;
  #streamCtl: AbortController | null = null;
  #expect: Expectation[] = [];
  #waiters = new Set<() => void>();
  /** Whether a change of this (full) key should wake a waiting HA loop. */
  readonly #relevant: (key: string) => boolean;

  constructor(
    stream: StreamFn,
    prefix: string,
    opts: { now: () => number; relevant: (key: string) => boolean },
  ) {
    this.#stream = stream;
    this.#prefix = prefix;
    this.#now = opts.now;
    this.#relevant = opts.relevant;
  }

  /** A full read at `revision`: replaces the copy and restarts the stream after it. */
  seed(revision: string, kvs: KvPair[]): void {
    this.#stop();
    this.#kvs = new Map(kvs.map((kv) => [kv.key, kv]));
    this.#eventRev = new Map(kvs.map((kv) => [kv.key, BigInt(kv.modRevision)]));
    this.#revision = BigInt(revision);
    this.#expect = [];
    this.#verifiedAt = this.#now();
    const ctl = new AbortController();
    this.#streamCtl = ctl;
    this.#stream(this.#prefix, String(this.#revision + 1n), {
      onCreated: () => {
        if (this.#streamCtl === ctl) this.#live = true;
        this.#notify();
      },
      onEvents: (rev, events) => {
        if (this.#streamCtl === ctl) this.#apply(BigInt(rev), events);
      },
    }, ctl.signal).then(() => {
      if (this.#streamCtl === ctl) this.#stop();
    });
  }

  #apply(rev: bigint, events: KvEvent[]): void {
    for (const { type, kv } of events) {
      const r = BigInt(kv.modRevision);
      if (type === "put") this.#kvs.set(kv.key, kv);
      else this.#kvs.delete(kv.key);
      this.#eventRev.set(kv.key, r);
      if (r > this.#revision) this.#revision = r;
      if (this.#relevant(kv.key) && r > this.#relevantRev) this.#relevantRev = r;
    }
    if (rev > this.#revision) this.#revision = rev;
    this.#notify();
  }

  #notify(): void {
    for (const w of [...this.#waiters]) w();
  }

  /** Stop trusting the copy (a request failed, or the keys were removed wholesale). */
  invalidate(): void {
    this.#stop();
    this.#notify();
  }

  #stop(): void {
    this.#live = false;
    this.#streamCtl?.abort();
    this.#streamCtl = null;
  }

  /** Whether the copy may answer reads at all (our own writes aside). */
  live(maxAgeMs: number): boolean {
    return this.#live && this.#now() - this.#verifiedAt < maxAgeMs;
  }

  /** A write of `key` at `revision` (a put, or a delete) must be visible before the next read. */
  expect(key: string, revision: string): void {
    this.#expect.push({ key, revision: BigInt(revision) });
  }

  #caughtUp(): boolean {
    this.#expect = this.#expect.filter((e) => (this.#eventRev.get(e.key) ?? -1n) < e.revision);
    return this.#expect.length === 0;
  }

  /** Wait until `done()` holds or `ms` passed; re-checked whenever the copy changes. */
  #waitUntil(done: () => boolean, ms: number, signal?: AbortSignal): Promise<boolean> {
    if (done()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const finish = (v: boolean) => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        signal?.removeEventListener("abort", onAbort);
        resolve(v);
      };
      const check = () => {
        if (done()) finish(true);
        else if (!this.#live && this.#streamCtl === null) finish(false);
      };
      const onAbort = () => finish(false);
      const timer = setTimeout(() => finish(false), ms);
      this.#waiters.add(check);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Whether the copy equals a summary of the store's keys (same count, no key modified after the copy). */
  #matches(sum: { count: number; maxModRevision: string }): boolean {
    return sum.count === this.#kvs.size && BigInt(sum.maxModRevision) <= this.#revision;
  }

  /**
   * The keys, or null when the copy cannot answer: not live, too old, or not proven current within `waitMs`
   * — either it reached revision `atLeast` (the store's revision a moment ago), or it matches `summary`
   * (taken a moment ago). Our own writes must have arrived either way.
   */
  async read(
    maxAgeMs: number,
    waitMs: number,
    proof: { atLeast: string } | { summary: { revision: string; count: number; maxModRevision: string } },
  ): Promise<{ revision: string; kvs: KvPair[] } | null> {
    if (!this.live(maxAgeMs)) return null;
    const current = "atLeast" in proof
      ? () => this.#revision >= BigInt(proof.atLeast)
      : () => this.#matches(proof.summary);
    if (!(await this.#waitUntil(() => this.#caughtUp() && current(), waitMs))) return null;
    if (!this.live(maxAgeMs)) return null;
    // Proven by a summary, the copy is current at the summary's revision even if no event of ours reached it.
    if ("summary" in proof && BigInt(proof.summary.revision) > this.#revision) {
      this.#revision = BigInt(proof.summary.revision);
    }
    return { revision: String(this.#revision), kvs: [...this.#kvs.values()] };
  }

  /** Whether the copy holds `key` (null when the copy is not live or older than `maxAgeMs`); unproven. */
  has(key: string, maxAgeMs: number): boolean | null {
    return this.live(maxAgeMs) ? this.#kvs.has(key) : null;
  }

  /** Whether the copy, current at `revision`, shows `key` = `value` bound to `lease`. */
  showsCurrent(key: string, value: string, lease: string, revision: string, maxAgeMs: number): boolean {
    const kv = this.#kvs.get(key);
    return this.live(maxAgeMs) && this.#caughtUp() && this.#revision >= BigInt(revision) &&
      kv !== undefined && kv.value === value && kv.lease === lease;
  }

  /**
   * Resolves true once a watched key changed after `afterRevision`, false on timeout or abort; null when
   * the copy is not live (the caller watches the store itself).
   */
  changedAfter(afterRevision: string, timeoutMs: number, signal?: AbortSignal): Promise<boolean> | null {
    if (!this.#live) return null;
    const after = BigInt(afterRevision);
    // A dying stream ends the wait as a change: the caller's next read goes to the store and restarts it.
    return this.#waitUntil(() => this.#relevantRev > after || !this.#live, timeoutMs, signal);
  }

  close(): void {
    this.invalidate();
  }
}
