/**
 * The DCS contract: one suite every backend (memory, etcd3, Consul, ZooKeeper) must pass, so the HA core can
 * rely on the same semantics everywhere. A backend test file calls
 *
 * ```ts
 * runDcsContract("etcd3", async () => ({ harness: (scope) => ..., close: () => ... }));
 * ```
 *
 * Each case gets a fresh harness with a unique scope; the harness creates clients (members) of that cluster
 * and controls time (virtual or real) and the store (stop/start, raw writes). Timing assertions derive from
 * `harness.timings`; real-time backends get `realSlackMs` on every bound.
 */
import assert from "node:assert/strict";
import type { ClusterSnapshot, Dcs, DcsOptions, LeaderKey } from "../../src/dcs/types.ts";
import { DcsUnavailableError } from "../../src/dcs/errors.ts";

export interface DcsContractTimings {
  ttlS: number;
  loopWaitS: number;
  retryTimeoutS: number;
}

export interface DcsHarness {
  /** True when `sleep` advances a virtual clock (the in-memory store). */
  readonly virtual: boolean;
  readonly timings: DcsContractTimings;
  /** Extra tolerance for every time bound when time is real (scheduling, store granularity). */
  readonly realSlackMs: number;
  now(): number;
  /** Let `ms` pass: advances virtual time, or waits in real time. */
  sleep(ms: number): Promise<void>;
  /**
   * A client for member `name` of this case's cluster (the harness's scope and timings), with `opts` merged over
   * the defaults. Clients are closed by `close()`.
   */
  client(name: string, opts?: Partial<DcsOptions>): Promise<Dcs>;
  /** Write a raw value at a path relative to the scope prefix (`members/x`, `1/leader`), bypassing clients. */
  rawWrite(key: string, value: string): Promise<void>;
  /** Read a raw value at a path relative to the scope prefix; null when absent. */
  rawRead(key: string): Promise<string | null>;
  /** Make the store unreachable for every client (hanging rather than refusing, where the backend can). */
  stopStore(): Promise<void>;
  /** Undo `stopStore`. */
  startStore(): Promise<void>;
  /**
   * The client's process "dies": it stops renewing its lease/session without deleting anything. Its keys must
   * vanish by themselves within ttl.
   */
  crash(dcs: Dcs): Promise<void>;
  /** Close clients, remove this case's keys and restore the store. */
  close(): Promise<void>;
}

export interface DcsContractBackend {
  /** A fresh harness for one case; `scope` is unique per case. */
  harness(scope: string): Promise<DcsHarness>;
  /** Called once after every case ran. */
  close?(): Promise<void>;
}

export type DcsContractCase =
  | "leader race"
  | "initialize race"
  | "foreign compare-and-set"
  | "renewal keeps the leader"
  | "lease expiry"
  | "ttl change"
  | "watch"
  | "store down"
  | "config/failover/sync CAS"
  | "exact JSON"
  | "corrupt data"
  | "delete cluster"
  | "citus";

export interface DcsContractOptions {
  /** Cases this backend cannot meet, each with the reason (printed as ignored). */
  skip?: Partial<Record<DcsContractCase, string>>;
  /** Deno test sanitizers (off by default: client libraries keep sockets and timers). */
  sanitize?: boolean;
}

type Case = (h: DcsHarness) => Promise<void>;

// ---- helpers ---------------------------------------------------------------------------------------------

interface Settled<T> {
  ok: boolean;
  value?: T;
  error?: unknown;
  /** Time it took, by the harness clock. */
  elapsedMs: number;
}

/**
 * Start `fn` and let time pass in small steps until it settles or `limitMs` (plus one step) passed. Works for
 * virtual time (the steps drive the clock) and real time alike.
 */
async function settleWithin<T>(h: DcsHarness, fn: () => Promise<T>, limitMs: number, stepMs = 20) {
  const t0 = h.now();
  let result: Settled<T> | null = null;
  fn().then(
    (value) => result = { ok: true, value, elapsedMs: h.now() - t0 },
    (error) => result = { ok: false, error, elapsedMs: h.now() - t0 },
  );
  while (result === null && h.now() - t0 <= limitMs) await h.sleep(stepMs);
  return result as Settled<T> | null;
}

/** Like `settleWithin` for several operations at once, with one loop driving time. */
async function settleAll(
  h: DcsHarness,
  fns: Record<string, () => Promise<unknown>>,
  limitMs: number,
  stepMs = 20,
) {
  const t0 = h.now();
  const results = new Map<string, Settled<unknown>>();
  for (const [name, fn] of Object.entries(fns)) {
    fn().then(
      (value) => results.set(name, { ok: true, value, elapsedMs: h.now() - t0 }),
      (error) => results.set(name, { ok: false, error, elapsedMs: h.now() - t0 }),
    );
  }
  const n = Object.keys(fns).length;
  while (results.size < n && h.now() - t0 <= limitMs) await h.sleep(stepMs);
  return Object.keys(fns).map((name) => [name, results.get(name) ?? null] as const);
}

/** Poll `check` (which may throw) every `stepMs` until it returns true; returns the time it took, or null. */
async function waitFor(h: DcsHarness, check: () => Promise<boolean>, limitMs: number, stepMs = 100) {
  const t0 = h.now();
  for (;;) {
    try {
      if (await check()) return h.now() - t0;
    } catch { /* not yet */ }
    if (h.now() - t0 > limitMs) return null;
    await h.sleep(stepMs);
  }
}

function leaderName(s: ClusterSnapshot): string | null {
  return s.leader?.name ?? null;
}

function memberNames(s: ClusterSnapshot): string[] {
  return s.members.map((m) => m.name).sort();
}

const MEMBER = (name: string, extra: Record<string, unknown> = {}) => ({
  conn_url: `postgres://127.0.0.1:5432/postgres`,
  api_url: `http://127.0.0.1:8008/patroni`,
  state: "running",
  role: "replica",
  version: "3.0.2",
  xlog_location: 100663296,
  timeline: 1,
  ...extra,
  tags: { name },
});

// ---- cases -----------------------------------------------------------------------------------------------

const cases: Record<DcsContractCase, Case> = {
  async "leader race"(h) {
    const [a, b, c] = await Promise.all([h.client("a"), h.client("b"), h.client("c")]);
    const won = await Promise.all([a, b, c].map((d) => d.attemptToAcquireLeader()));
    assert.equal(won.filter(Boolean).length, 1, `exactly one racer wins, got ${won}`);
    const winner = ["a", "b", "c"][won.indexOf(true)]!;
    for (const d of [a, b, c]) {
      const s = await d.getCluster();
      assert.equal(leaderName(s), winner);
      assert.ok(s.leader!.version, "leader key has a version");
    }
    // A second attempt by anyone (winner included) does not create a second holder.
    const again = await Promise.all([a, b, c].map((d) => d.attemptToAcquireLeader()));
    assert.equal(leaderName(await a.getCluster()), winner);
    assert.deepEqual(again.map((x, i) => x && ["a", "b", "c"][i] !== winner), [false, false, false]);
    // takeLeader overwrites unconditionally (post-bootstrap only).
    const loser = [a, b, c][(won.indexOf(true) + 1) % 3]!;
    assert.equal(await loser.takeLeader(), true);
    const loserName = ["a", "b", "c"][(won.indexOf(true) + 1) % 3]!;
    const s = await a.getCluster();
    assert.equal(leaderName(s), loserName);
    assert.equal(await loser.updateLeader(s.leader!), true);
    assert.equal(await loser.deleteLeader(s.leader), true);
    assert.equal((await a.getCluster()).leader, null);
  },

  async "initialize race"(h) {
    const [a, b] = await Promise.all([h.client("a"), h.client("b")]);
    assert.equal((await a.getCluster()).initialize, null);
    const won = await Promise.all([a.initialize(true, ""), b.initialize(true, "")]);
    assert.equal(won.filter(Boolean).length, 1, `exactly one racer wins, got ${won}`);
    assert.equal((await a.getCluster()).initialize, "");
    assert.equal(await b.initialize(true, "7000000000000000001"), false, "create-only never overwrites");
    assert.equal((await b.getCluster()).initialize, "");
    const winner = won[0] ? a : b;
    assert.equal(await winner.initialize(false, "7000000000000000001"), true);
    assert.equal((await a.getCluster()).initialize, "7000000000000000001");
    assert.equal(await winner.cancelInitialization(), true);
    assert.equal((await b.getCluster()).initialize, null);
    assert.equal(await b.initialize(true, "7000000000000000002"), true);
    assert.equal((await a.getCluster()).initialize, "7000000000000000002");
  },

  async "foreign compare-and-set"(h) {
    const [a, b] = await Promise.all([h.client("a"), h.client("b")]);
    assert.equal(await a.attemptToAcquireLeader(), true);
    const held = (await b.getCluster()).leader!;
    assert.equal(held.name, "a");
    // b presents a's key (as read) and forged variants: none may renew, delete or steal it.
    const forged: LeaderKey[] = [held, { ...held, name: "b" }, { name: "b", version: held.version }];
    for (const k of forged) {
      assert.equal(await b.updateLeader(k), false, `updateLeader(${JSON.stringify(k)}) by a non-owner`);
      assert.equal(await b.deleteLeader(k), false, `deleteLeader(${JSON.stringify(k)}) by a non-owner`);
    }
    assert.equal(await b.attemptToAcquireLeader(), false);
    const after = (await a.getCluster()).leader!;
    assert.equal(after.name, "a");
    assert.equal(after.version, held.version, "a non-owner must not touch the key");
    // The owner still renews; after it releases, b can take it, and a's stale key renews nothing.
    assert.equal(await a.updateLeader(after), true);
    const before = (await a.getCluster()).leader!;
    assert.equal(await a.deleteLeader(before), true);
    assert.equal(await b.attemptToAcquireLeader(), true);
    assert.equal(await a.updateLeader(before), false, "stale owner renews a key someone else holds");
    assert.equal(await a.deleteLeader(before), false);
    assert.equal(leaderName(await a.getCluster()), "b");
  },

  async "renewal keeps the leader"(h) {
    const { ttlS, loopWaitS } = h.timings;
    const [a, b] = await Promise.all([h.client("a"), h.client("b")]);
    assert.equal(await a.touchMember(MEMBER("a")), true);
    assert.equal(await a.attemptToAcquireLeader(), true);
    const t0 = h.now();
    while (h.now() - t0 < (ttlS * 1.5) * 1000) {
      await h.sleep(loopWaitS * 1000);
      const s = await a.getCluster();
      assert.ok(s.leader, `leader key vanished after ${h.now() - t0} ms although renewed every loop`);
      assert.equal(await a.updateLeader(s.leader), true);
      assert.equal(await a.touchMember(MEMBER("a")), true);
    }
    const s = await b.getCluster();
    assert.equal(leaderName(s), "a");
    assert.deepEqual(memberNames(s), ["a"]);
  },

  async "lease expiry"(h) {
    const { ttlS } = h.timings;
    const [a, b] = await Promise.all([h.client("a"), h.client("b")]);
    assert.equal(await a.touchMember(MEMBER("a")), true);
    assert.equal(await b.touchMember(MEMBER("b")), true);
    assert.equal(await a.attemptToAcquireLeader(), true);
    assert.equal(await a.updateLeader((await a.getCluster()).leader!), true);
    const t0 = h.now();
    await h.crash(a);
    // b keeps its own member alive meanwhile; only a's keys may vanish.
    let lastTouch = h.now();
    const gone = await waitFor(
      h,
      async () => {
        if (h.now() - lastTouch >= h.timings.loopWaitS * 1000) {
          await b.touchMember(MEMBER("b"));
          lastTouch = h.now();
        }
        const s = await b.getCluster();
        return s.leader === null && !memberNames(s).includes("a");
      },
      ttlS * 1000 + 1000 + h.realSlackMs,
      100,
    );
    assert.notEqual(gone, null, `leader and member keys of a crashed owner still there after ttl + 1 s`);
    const s = await b.getCluster();
    assert.deepEqual(memberNames(s), ["b"], "b's member key survives");
    assert.equal(await b.attemptToAcquireLeader(), true);
    assert.equal(leaderName(await b.getCluster()), "b");
    assert.ok(h.now() - t0 >= 0);
  },

  async "ttl change"(h) {
    const [a, b] = await Promise.all([h.client("a"), h.client("b")]);
    assert.equal(await a.touchMember(MEMBER("a")), true);
    assert.equal(await a.attemptToAcquireLeader(), true);
    const t = h.timings;
    const newTtlS = t.ttlS + 2;
    a.setTimings({ ttlS: newTtlS, loopWaitS: t.loopWaitS, retryTimeoutS: t.retryTimeoutS });
    const s = await a.getCluster();
    assert.equal(await a.updateLeader(s.leader!), true, "renewal right after a ttl change");
    assert.equal(await a.touchMember(MEMBER("a")), true);
    const s2 = await b.getCluster();
    assert.equal(leaderName(s2), "a");
    assert.equal(await b.updateLeader(s2.leader!), false);
    assert.deepEqual(memberNames(s2), ["a"]);
    // Renewing keeps the key past the old ttl.
    let t0 = h.now();
    while (h.now() - t0 < (t.ttlS + 1) * 1000) {
      await h.sleep(t.loopWaitS * 1000);
      const cur = await a.getCluster();
      assert.equal(leaderName(cur), "a", `leader lost ${h.now() - t0} ms after the ttl change`);
      assert.equal(await a.updateLeader(cur.leader!), true);
    }
    // The keys now live by the new ttl: after the owner dies they outlive the old ttl (+1 s), not the new one.
    t0 = h.now();
    await h.crash(a);
    const gone = await waitFor(
      h,
      async () => (await b.getCluster()).leader === null,
      (newTtlS + 1) * 1000 + h.realSlackMs,
    );
    assert.notEqual(
      gone,
      null,
      `leader still there ${newTtlS + 1} s after its owner died (new ttl ${newTtlS} s)`,
    );
    assert.ok(
      gone! > (t.ttlS + 1) * 1000,
      `leader vanished after ${gone} ms: the old ttl ${t.ttlS} s still applied`,
    );
  },

  async "watch"(h) {
    const [a, b] = await Promise.all([h.client("a"), h.client("b")]);
    const limit = 100 + (h.virtual ? 0 : h.realSlackMs / 5);
    // 1. Nothing changes: the watch times out with false, not much earlier than asked.
    let s = await b.getCluster();
    const idle = await settleWithin(h, () => b.watch(s.leader?.version ?? null, 600), 600 + h.realSlackMs);
    assert.ok(idle?.ok, `idle watch settled: ${idle?.error}`);
    assert.equal(idle.value, false);
    assert.ok(idle.elapsedMs >= 550, `idle watch returned after ${idle.elapsedMs} ms of 600`);

    // 2. The leader key is created while b waits: b wakes within 100 ms.
    s = await b.getCluster();
    let woke: number | null = null;
    const t0 = h.now();
    const w = b.watch(s.leader?.version ?? null, 10_000).then((v) => {
      woke = h.now();
      return v;
    });
    await h.sleep(300);
    assert.equal(woke, null, "watch woke before any change");
    const changedAt = h.now();
    assert.equal(await a.attemptToAcquireLeader(), true);
    while (woke === null && h.now() - changedAt < 2000 + h.realSlackMs) await h.sleep(5);
    assert.notEqual(woke, null, "watch did not wake on leader creation");
    assert.equal(await w, true);
    assert.ok(woke! - changedAt <= limit, `woke ${woke! - changedAt} ms after the change (limit ${limit})`);
    assert.ok(woke! - t0 >= 300);

    // 3. A change made after b's read but before b starts watching wakes b at once.
    s = await b.getCluster();
    assert.equal(await a.deleteLeader(s.leader), true);
    const late = await settleWithin(h, () => b.watch(s.leader!.version, 10_000), limit + 100);
    assert.ok(late?.ok && late.value === true, "a change since the last read wakes the watch immediately");
    assert.ok(late.elapsedMs <= limit, `woke after ${late.elapsedMs} ms`);

    // 4. Deleting the leader while b waits wakes b; an abort signal ends a watch early without throwing.
    assert.equal(await a.attemptToAcquireLeader(), true);
    s = await b.getCluster();
    const del = settleWithin(h, () => b.watch(s.leader!.version, 10_000), 2000 + h.realSlackMs);
    await h.sleep(50);
    assert.equal(await a.deleteLeader(s.leader), true);
    const deleted = await del;
    assert.ok(deleted?.ok && deleted.value === true, "leader deletion wakes the watch");
    s = await b.getCluster();
    const ctl = new AbortController();
    const aborted = settleWithin(h, () => b.watch(s.leader?.version ?? null, 10_000, ctl.signal), 1000);
    await h.sleep(50);
    ctl.abort();
    const ab = await aborted;
    assert.ok(ab?.ok, `aborted watch resolves: ${ab?.error}`);
    assert.ok(ab.elapsedMs < 1000);
  },

  async "store down"(h) {
    const { retryTimeoutS } = h.timings;
    const a = await h.client("a");
    assert.equal(await a.touchMember(MEMBER("a")), true);
    assert.equal(await a.attemptToAcquireLeader(), true);
    const s = await a.getCluster();
    await h.stopStore();
    try {
      const bound = retryTimeoutS * 1000 + (h.virtual ? 0 : h.realSlackMs);
      const ops: Record<string, () => Promise<unknown>> = {
        getCluster: () => a.getCluster(),
        attemptToAcquireLeader: () => a.attemptToAcquireLeader(),
        updateLeader: () => a.updateLeader(s.leader!),
        deleteLeader: () => a.deleteLeader(s.leader),
        takeLeader: () => a.takeLeader(),
        touchMember: () => a.touchMember(MEMBER("a", { state: "stopped" })),
        initialize: () => a.initialize(true, ""),
        cancelInitialization: () => a.cancelInitialization(),
        setConfigValue: () => a.setConfigValue('{"ttl":30}', s.config?.version),
        setFailoverValue: () => a.setFailoverValue("{}"),
        setSyncState: () => a.setSyncState({ leader: "a", sync_standby: null }),
        deleteSyncState: () => a.deleteSyncState(),
        setHistoryValue: () => a.setHistoryValue("[]"),
        writeStatus: () => a.writeStatus({ optime: 1 }),
        writeFailsafe: () => a.writeFailsafe({ a: "http://127.0.0.1:8008/patroni" }),
        deleteCluster: () => a.deleteCluster(),
      };
      const results = await settleAll(h, ops, bound + 500);
      for (const [name, r] of results) {
        assert.ok(r, `${name} did not settle within retry_timeout + ${bound - retryTimeoutS * 1000} ms`);
        assert.ok(!r.ok, `${name} succeeded while the store was down (returned ${JSON.stringify(r.value)})`);
        assert.ok(
          r.error instanceof DcsUnavailableError,
          `${name} threw ${
            r.error instanceof Error ? r.error.name : typeof r.error
          }, expected DcsUnavailableError`,
        );
        assert.ok(r.elapsedMs <= bound, `${name} took ${r.elapsedMs} ms > ${bound} ms`);
      }
      // A watch never throws: it waits (at most its timeout) and reports no change.
      const w = await settleWithin(h, () => a.watch(s.leader?.version ?? null, 500), 500 + bound);
      assert.ok(w?.ok, `watch threw while the store was down: ${w?.error}`);
      assert.equal(w.value, false);
    } finally {
      await h.startStore();
    }
    // Back to normal within a few retry budgets: the client reconnects by itself. Requests that timed out
    // during the outage may still be applied when the store resumes (here: deleteCluster), so keep touching
    // until a read confirms the member key.
    const back = await waitFor(
      h,
      async () => {
        assert.equal(await a.touchMember(MEMBER("a")), true);
        return memberNames(await a.getCluster()).includes("a");
      },
      15_000,
      200,
    );
    assert.notEqual(back, null, "client did not recover after the store came back");
  },

  async "config/failover/sync CAS"(h) {
    const [a, b] = await Promise.all([h.client("a"), h.client("b")]);
    // config
    assert.equal(await a.setConfigValue('{"ttl":30,"loop_wait":10}'), true);
    const c1 = (await b.getCluster()).config!;
    assert.deepEqual(c1.value, { ttl: 30, loop_wait: 10 });
    assert.equal(await b.setConfigValue('{"ttl":31}', c1.version), true);
    const c2 = (await a.getCluster()).config!;
    assert.notEqual(c2.version, c1.version);
    assert.equal(await a.setConfigValue('{"ttl":32}', c1.version), false, "stale config version");
    assert.deepEqual((await a.getCluster()).config!.value, { ttl: 31 });
    assert.equal(await a.setConfigValue('{"ttl":33}', c2.version), true);
    // failover
    assert.equal(await a.setFailoverValue('{"leader":"a","member":"b"}'), true);
    const f1 = (await b.getCluster()).failover!;
    assert.deepEqual(f1.value, { leader: "a", member: "b" });
    assert.equal(await b.setFailoverValue("{}", f1.version), true);
    assert.equal(await a.setFailoverValue('{"member":"a"}', f1.version), false, "stale failover version");
    const f2 = (await a.getCluster()).failover!;
    assert.deepEqual(f2.value, {});
    // sync
    const v1 = await a.setSyncState({ leader: "a", sync_standby: "b", quorum: 0 });
    assert.equal(typeof v1, "string");
    const s1 = (await b.getCluster()).sync!;
    assert.equal(s1.version, v1, "setSyncState returns the version getCluster reports");
    assert.deepEqual(s1.value, { leader: "a", sync_standby: "b", quorum: 0 });
    const v2 = await a.setSyncState({ leader: "a", sync_standby: null, quorum: 0 }, v1!);
    assert.equal(typeof v2, "string");
    assert.notEqual(v2, v1);
    assert.equal(await b.setSyncState({ leader: "b", sync_standby: "a" }, v1!), null, "stale sync version");
    assert.equal((await b.getCluster()).sync!.value.leader, "a");
    assert.equal(await b.deleteSyncState(v1!), false, "stale delete");
    assert.equal(await a.deleteSyncState(v2!), true);
    const sync = (await a.getCluster()).sync;
    assert.ok(sync === null || !sync.value.leader, `sync after delete: ${JSON.stringify(sync)}`);
  },

  async "exact JSON"(h) {
    const a = await h.client("a");
    // What pgwarden writes is byte-for-byte what Patroni writes (json.dumps with separators=(',', ':')).
    await a.writeStatus({
      optime: 67108960,
      slots: { node1: 67108960, logical_a: 67100000 },
      retain_slots: ["b"],
    });
    assert.equal(
      await h.rawRead("status"),
      '{"optime":67108960,"slots":{"node1":67108960,"logical_a":67100000},"retain_slots":["b"]}',
    );
    await a.writeFailsafe({ a: "http://127.0.0.1:8008/patroni", b: "http://127.0.0.1:8009/patroni" });
    assert.equal(
      await h.rawRead("failsafe"),
      '{"a":"http://127.0.0.1:8008/patroni","b":"http://127.0.0.1:8009/patroni"}',
    );
    const history = '[[1,50331808,"no recovery target specified","2024-06-01T10:00:00.123+00:00","a"]]';
    await a.setHistoryValue(history);
    assert.equal(await h.rawRead("history"), history);
    const member = MEMBER("a", { role: "primary", pending_restart: true });
    await a.touchMember(member);
    assert.equal(await h.rawRead("members/a"), JSON.stringify(member));
    await a.setSyncState({ leader: "a", quorum: 1, sync_standby: "b,c" });
    assert.equal(await h.rawRead("sync"), '{"leader":"a","quorum":1,"sync_standby":"b,c"}');
    assert.equal(await a.attemptToAcquireLeader(), true);
    assert.equal(await h.rawRead("leader"), "a");
    assert.equal(await a.initialize(true, "7000000000000000001"), true);
    assert.equal(await h.rawRead("initialize"), "7000000000000000001");

    // What Patroni writes is read back faithfully.
    await h.rawWrite(
      "members/p",
      '{"conn_url":"postgres://10.0.0.2:5432/postgres","api_url":"http://10.0.0.2:8008/patroni",' +
        '"state":"running","role":"master","version":"3.0.2","xlog_location":83886240,"timeline":2,' +
        '"tags":{"nofailover":true},"extra_field":[1]}',
    );
    await h.rawWrite("config", '{"ttl":30,"postgresql":{"parameters":{"max_connections":100}}}');
    await h.rawWrite("failover", '{"leader":"a","member":"p","scheduled_at":"2025-01-01T12:00:00+00:00"}');
    const s = await a.getCluster();
    const p = s.members.find((m) => m.name === "p")!;
    assert.equal(p.data.conn_url, "postgres://10.0.0.2:5432/postgres");
    assert.equal(p.data.role, "master");
    assert.equal(p.data.xlog_location, 83886240);
    assert.deepEqual(p.data.tags, { nofailover: true });
    assert.deepEqual((p.data as Record<string, unknown>).extra_field, [1], "unknown member fields are kept");
    assert.deepEqual(s.status, {
      optime: 67108960,
      slots: { node1: 67108960, logical_a: 67100000 },
      retain_slots: ["b"],
    });
    assert.deepEqual(s.failsafe, { a: "http://127.0.0.1:8008/patroni", b: "http://127.0.0.1:8009/patroni" });
    assert.deepEqual(s.history!.value, JSON.parse(history));
    assert.deepEqual(s.config!.value, { ttl: 30, postgresql: { parameters: { max_connections: 100 } } });
    assert.deepEqual(s.failover!.value, {
      leader: "a",
      member: "p",
      scheduled_at: "2025-01-01T12:00:00+00:00",
    });
    assert.equal(s.initialize, "7000000000000000001");
    assert.equal(leaderName(s), "a");
    assert.deepEqual(memberNames(s), ["a", "p"]);
  },

  async "corrupt data"(h) {
    const bad: string[] = [];
    const a = await h.client("a", { onBadData: (key) => bad.push(key) });
    await a.touchMember(MEMBER("a"));
    await h.rawWrite("members/broken", "{not json");
    await h.rawWrite("members/typed", '{"xlog_location":"not a number"}');
    await h.rawWrite("config", "[1,2");
    const s = await a.getCluster();
    assert.deepEqual(memberNames(s), ["a"], "corrupt members are skipped");
    assert.equal(s.config, null, "a corrupt config reads as absent");
    for (const k of ["members/broken", "members/typed", "config"]) {
      assert.ok(bad.some((b) => b.endsWith(k)), `corrupt ${k} reported (got ${JSON.stringify(bad)})`);
    }
  },

  async "delete cluster"(h) {
    const [a, b] = await Promise.all([h.client("a"), h.client("b")]);
    await a.initialize(true, "7000000000000000001");
    await a.setConfigValue('{"ttl":30}');
    await a.attemptToAcquireLeader();
    await a.touchMember(MEMBER("a"));
    await b.touchMember(MEMBER("b"));
    await a.setHistoryValue("[]");
    await a.writeStatus({ optime: 1 });
    await a.setFailoverValue('{"member":"b"}');
    await a.setSyncState({ leader: "a", sync_standby: "b" });
    await a.writeFailsafe({ a: "http://a" });
    const full = await b.getCluster();
    assert.deepEqual(memberNames(full), ["a", "b"]);
    assert.ok(full.config && full.history && full.status && full.failover && full.sync && full.failsafe);
    assert.equal(await b.deleteCluster(), true);
    const s = await a.getCluster();
    assert.deepEqual(
      { ...s, groups: undefined },
      {
        initialize: null,
        config: null,
        leader: null,
        members: [],
        history: null,
        failover: null,
        sync: null,
        failsafe: null,
        status: null,
        groups: undefined,
      },
    );
  },

  async "citus"(h) {
    const coord = await h.client("c0", { group: 0, allGroups: true });
    const w1 = await h.client("w1", { group: 1 });
    const w2 = await h.client("w2", { group: 2 });
    const w2b = await h.client("w2b", { group: 2 });
    assert.equal(await coord.attemptToAcquireLeader(), true);
    assert.equal(await w1.attemptToAcquireLeader(), true, "each group has its own leader key");
    assert.equal(await w2.attemptToAcquireLeader(), true);
    assert.equal(await w2b.attemptToAcquireLeader(), false);
    await coord.touchMember(MEMBER("c0", { role: "master" }));
    await w1.touchMember(MEMBER("w1", { role: "master" }));
    await w2b.touchMember(MEMBER("w2b"));
    await w1.setConfigValue('{"ttl":30}');
    assert.equal(await h.rawRead("1/leader"), "w1", "group keys live under /<scope>/<group>/");
    const s = await coord.getCluster();
    assert.equal(leaderName(s), "c0");
    assert.deepEqual(memberNames(s), ["c0"]);
    assert.ok(s.groups, "coordinator sees the other groups");
    assert.deepEqual([...s.groups!.keys()].sort(), [1, 2]);
    assert.equal(leaderName(s.groups!.get(1)!), "w1");
    assert.deepEqual(s.groups!.get(1)!.config?.value, { ttl: 30 });
    assert.equal(leaderName(s.groups!.get(2)!), "w2");
    assert.deepEqual(memberNames(s.groups!.get(2)!), ["w2b"]);
    const ws = await w2b.getCluster();
    assert.equal(leaderName(ws), "w2");
    assert.deepEqual(memberNames(ws), ["w2b"]);
    assert.ok(!ws.groups || ws.groups.size === 0, "a worker reads its own group only");
  },
};

/** Register the contract suite for one backend as a Deno test with one step per case. */
export function runDcsContract(
  name: string,
  setup: () => Promise<DcsContractBackend>,
  opts: DcsContractOptions = {},
): void {
  const sanitize = opts.sanitize ?? false;
  Deno.test({
    name: `DCS contract: ${name}`,
    sanitizeOps: sanitize,
    sanitizeResources: sanitize,
    sanitizeExit: true,
    async fn(t) {
      const backend = await setup();
      try {
        let i = 0;
        for (const [caseName, fn] of Object.entries(cases) as [DcsContractCase, Case][]) {
          const reason = opts.skip?.[caseName];
          const scope = `contract-${++i}-${crypto.randomUUID().slice(0, 8)}`;
          await t.step({
            name: reason ? `${caseName} (skipped: ${reason})` : caseName,
            ignore: reason !== undefined,
            sanitizeOps: sanitize,
            sanitizeResources: sanitize,
            async fn() {
              const h = await backend.harness(scope);
              try {
                await fn(h);
              } finally {
                await h.close();
              }
            },
          });
        }
      } finally {
        await backend.close?.();
      }
    },
  });
}
