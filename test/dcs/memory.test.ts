/** MemoryStore specifics beyond the shared contract: exact lease timing, request counts, faults, determinism. */
import assert from "node:assert/strict";
import { DcsUnavailableError } from "../../src/dcs/errors.ts";
import { KvDcs, type KvEvent } from "../../src/dcs/kv.ts";
import { MemoryBackend, MemoryDcs, MemoryStore } from "../../src/dcs/memory.ts";
import type { Attempt } from "../../src/dcs/retry.ts";
import { countRequests } from "../../src/dcs/request_count.ts";
import { VirtualClock } from "../../src/util/clock.ts";

const timings = { ttlS: 10, loopWaitS: 2, retryTimeoutS: 3 };

function setup() {
  const clock = new VirtualClock();
  const store = new MemoryStore(clock);
  const client = (name: string) =>
    new MemoryDcs(store, { namespace: "/service", scope: "s", name, ...timings });
  return { clock, store, client };
}

/** Settle `p` while advancing virtual time in 10 ms steps. */
async function drive<T>(clock: VirtualClock, p: Promise<T>, limitMs = 60_000) {
  const t0 = clock.now();
  let out: { ok: boolean; value?: T; error?: unknown } | null = null;
  p.then((value) => out = { ok: true, value }, (error) => out = { ok: false, error });
  await clock.advance(0);
  while (out === null && clock.now() - t0 < limitMs) await clock.advance(10);
  assert.ok(out, "never settled");
  return { ...(out as { ok: boolean; value?: T; error?: unknown }), ms: clock.now() - t0 };
}

Deno.test("memory: a lease expires exactly ttl after its grant or last keepalive", async () => {
  const { clock, store, client } = setup();
  const a = client("a");
  assert.equal(await a.touchMember({ state: "running" }), true);
  await clock.advance(timings.ttlS * 1000 - 1);
  assert.notEqual(store.rawGet("/service/s/members/a"), null);
  await clock.advance(1);
  assert.equal(store.rawGet("/service/s/members/a"), null);
  // A renewal just before expiry pushes it a full ttl further.
  assert.equal(await a.attemptToAcquireLeader(), true);
  await clock.advance(timings.ttlS * 1000 - 100);
  assert.equal(await a.updateLeader((await a.getCluster()).leader!), true);
  await clock.advance(timings.ttlS * 1000 - 1);
  assert.equal(store.rawGet("/service/s/leader"), "a");
  await clock.advance(1);
  assert.equal(store.rawGet("/service/s/leader"), null);
});

Deno.test("memory: requests per operation (keepalive at most once per loop_wait, forced on renewal)", async () => {
  const { clock, client } = setup();
  const a = client("a");
  const n = async (op: () => Promise<unknown>) => (await countRequests(a, op)).requests;
  assert.equal(await n(() => a.getCluster()), 1);
  assert.equal(await n(() => a.touchMember({ state: "running" })), 2, "lease grant + put");
  assert.equal(await n(() => a.getCluster()), 1);
  assert.equal(await n(() => a.touchMember({ state: "running" })), 0, "unchanged and confirmed by the read");
  assert.equal(await n(() => a.touchMember({ state: "stopped" })), 1, "changed: put, no keepalive yet");
  await clock.advance(timings.loopWaitS * 1000);
  await a.getCluster();
  assert.equal(await n(() => a.touchMember({ state: "stopped" })), 1, "keepalive only");
  assert.equal(await n(() => a.attemptToAcquireLeader()), 2, "forced keepalive + create txn");
  const s = await a.getCluster();
  assert.equal(await n(() => a.updateLeader(s.leader!)), 2, "forced keepalive + compare txn");
  assert.equal(await n(() => a.watch(s.leader!.version, 0)), 1);
});

Deno.test("memory: a partitioned client fails within retry_timeout, loses its keys after ttl, recovers", async () => {
  const { clock, store, client } = setup();
  const [a, b] = [client("a"), client("b")];
  await a.touchMember({ state: "running" });
  await a.attemptToAcquireLeader();
  await b.touchMember({ state: "running" });
  store.partition("a");
  const r = await drive(clock, a.getCluster());
  assert.ok(r.error instanceof DcsUnavailableError);
  assert.ok(r.ms <= timings.retryTimeoutS * 1000, `failed after ${r.ms} ms`);
  assert.equal(await b.touchMember({ state: "running" }), true, "b keeps its lease alive meanwhile");
  assert.equal((await b.getCluster()).leader?.name, "a", "others still see a's keys until they expire");
  // b's watch wakes when a's leader key expires (no one else writes).
  const w = await drive(clock, b.watch((await b.getCluster()).leader!.version, 60_000));
  assert.equal(w.value, true);
  const s = await b.getCluster();
  assert.equal(s.leader, null);
  assert.deepEqual(s.members.map((m) => m.name), ["b"]);
  store.partition("a", false);
  assert.equal(await a.touchMember({ state: "running" }), true, "a new lease after the old one expired");
  assert.deepEqual((await b.getCluster()).members.map((m) => m.name), ["a", "b"]);
});

Deno.test("memory: a partitioned client's watch sees nothing until the partition heals", async () => {
  const { clock, store, client } = setup();
  const [a, b] = [client("a"), client("b")];
  await b.getCluster();
  store.partition("b");
  let woke: number | null = null;
  const w = b.watch(null, 30_000).then((v) => {
    woke = clock.now();
    return v;
  });
  const t0 = clock.now();
  assert.equal(await a.attemptToAcquireLeader(), true);
  await clock.advance(5000);
  assert.equal(woke, null);
  store.partition("b", false);
  await clock.advance(0);
  assert.equal(await w, true);
  assert.equal(woke! - t0, 5000);
});

Deno.test("memory: refuse mode fails each attempt at once but still retries until the budget", async () => {
  const { clock, store, client } = setup();
  const a = client("a");
  store.setAvailable(false, "refuse");
  const before = a.requestCount;
  const r = await drive(clock, a.getCluster());
  assert.ok(r.error instanceof DcsUnavailableError);
  assert.equal(r.ms, timings.retryTimeoutS * 1000);
  assert.ok(a.requestCount - before >= 5, `only ${a.requestCount - before} attempts`);
});

Deno.test("memory: the same script gives the same store, revisions and lease ids", async () => {
  const run = async () => {
    const { clock, store, client } = setup();
    const [a, b, c] = [client("a"), client("b"), client("c")];
    for (let i = 0; i < 20; i++) {
      // b is cut off from i = 10 on: its calls fail after the retry budget (driven in virtual time).
      for (const d of [a, b, c]) await drive(clock, d.touchMember({ state: "running", xlog_location: i }));
      const s = await a.getCluster();
      if (!s.leader) await drive(clock, [b, c, a][i % 3]!.attemptToAcquireLeader());
      else if (i % 7 === 0) await c.deleteSyncState();
      else await a.setSyncState({ leader: s.leader.name, sync_standby: "b" });
      if (i === 10) store.partition("b");
      await clock.advance(1500);
    }
    return JSON.stringify({ rev: store.revision, keys: store.dump() });
  };
  assert.equal(await run(), await run());
});

/**
 * A backend with etcd's extras (change stream, key summary) whose keepalive is slow but succeeds while the
 * summary hangs: what a raft leader that has not yet noticed it lost quorum does (lease renewal is
 * leader-local, a linearizable read needs quorum).
 */
class SlowProofBackend extends MemoryBackend {
  keepAliveDelayMs = 0;
  hangSummary = false;
  calls = { keepAlive: 0, summary: 0 };
  #endStream: (() => void) | null = null;

  stream(
    _prefix: string,
    _start: string,
    handlers: { onCreated: () => void; onEvents: (revision: string, events: KvEvent[]) => void },
    signal: AbortSignal,
  ): Promise<{ compacted: boolean }> {
    handlers.onCreated();
    return new Promise((resolve) => {
      this.#endStream = () => resolve({ compacted: false });
      signal.addEventListener("abort", () => resolve({ compacted: false }), { once: true });
    });
  }

  override async leaseKeepAlive(id: string, a: Attempt) {
    this.calls.keepAlive++;
    if (this.keepAliveDelayMs > 0) {
      await this.store.clock.sleep(this.keepAliveDelayMs, a.signal);
      this.#endStream?.(); // the stream breaks too: the copy cannot answer, the summary must prove it
    }
    return await super.leaseKeepAlive(id, a);
  }

  async rangeSummary(prefix: string, a: Attempt) {
    this.calls.summary++;
    if (this.hangSummary) {
      await this.store.clock.sleep(a.timeoutMs, a.signal);
      throw new Error("summary timed out");
    }
    const { revision, kvs } = this.store.range(prefix);
    const max = kvs.reduce((m, kv) => Math.max(m, Number(kv.modRevision)), 0);
    return { revision, count: kvs.length, maxModRevision: String(max) };
  }
}

Deno.test("kv: a read made of several requests (keepalive, then summary) fails within one retry_timeout", async () => {
  const clock = new VirtualClock();
  const store = new MemoryStore(clock);
  const backend = new SlowProofBackend(store, "a");
  const a = new KvDcs("memory", backend, clock, { namespace: "/service", scope: "s", name: "a", ...timings });
  assert.equal(await a.touchMember({ state: "running" }), true); // holds a lease
  await a.getCluster(); // full read: the copy is seeded and its stream live
  await clock.advance(timings.loopWaitS * 1000); // the next read owes a keepalive
  backend.keepAliveDelayMs = 800; // within one attempt (retry_timeout / 3)
  backend.hangSummary = true;
  const r = await drive(clock, a.getCluster());
  assert.equal(r.ok, false);
  assert.ok(r.error instanceof DcsUnavailableError, String(r.error));
  assert.equal(backend.calls.keepAlive, 1, "the keepalive ran (slow, but answered)");
  assert.ok(backend.calls.summary >= 1, "the summary ran after it");
  assert.ok(
    r.ms <= timings.retryTimeoutS * 1000,
    `failed after ${r.ms} ms, retry_timeout ${timings.retryTimeoutS} s`,
  );
});

Deno.test("kv: the leader key taken with a recently kept-alive lease still lives a full ttl from the attempt", async () => {
  const { clock, store, client } = setup();
  const a = client("a");
  assert.equal(await a.touchMember({ state: "running" }), true); // lease granted now
  await clock.advance(timings.loopWaitS * 1000); // kept alive recently: keepalive beside the transaction
  const t = clock.now();
  assert.equal(await a.attemptToAcquireLeader(), true);
  await clock.advance(t + timings.ttlS * 1000 - 1 - clock.now());
  assert.equal(store.rawGet("/service/s/leader"), "a");
  await clock.advance(1);
  assert.equal(store.rawGet("/service/s/leader"), null);
});

Deno.test("kv: a lease the store dropped behind our back is replaced when taking the leader key", async () => {
  const { clock, store, client } = setup();
  const a = client("a");
  assert.equal(await a.touchMember({ state: "running" }), true);
  const lease = store.dump("/service/s/members/a")[0]!.lease;
  store.leaseRevoke(lease);
  const r = await drive(clock, a.attemptToAcquireLeader());
  assert.equal(r.value, true);
  const key = store.dump("/service/s/leader")[0]!;
  assert.equal(key.value, "a");
  assert.notEqual(key.lease, lease, "bound to a new, live lease");
  await clock.advance(timings.ttlS * 1000 - 1);
  assert.equal(store.rawGet("/service/s/leader"), "a");
});
