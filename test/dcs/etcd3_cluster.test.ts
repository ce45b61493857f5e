/**
 * Etcd3Dcs against a real 3-member etcd cluster: with every endpoint configured, losing (killing or hanging)
 * any one member must not break leader renewal, and every call stays within retry_timeout. Losing quorum must
 * fail closed (DcsUnavailableError within retry_timeout), and the client must recover afterwards.
 */
import assert from "node:assert/strict";
import { Etcd3Dcs } from "../../src/dcs/etcd3.ts";
import { DcsUnavailableError } from "../../src/dcs/errors.ts";
import type { Dcs } from "../../src/dcs/types.ts";
import { type EtcdCluster, memoryDir, startEtcdCluster } from "../helpers/etcd.ts";

const timings = { ttlS: 12, loopWaitS: 1, retryTimeoutS: 4 };
const BOUND_MS = timings.retryTimeoutS * 1000 + 300;

/** Run `fn`, assert it finished within retry_timeout (+ scheduling slack), return its value. */
async function timed<T>(what: string, fn: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  try {
    return await fn();
  } catch (e) {
    // Say which step failed: the member lost and the call are the whole diagnosis.
    throw new Error(`${what} failed after ${Date.now() - t0} ms`, { cause: e });
  } finally {
    const ms = Date.now() - t0;
    assert.ok(ms <= BOUND_MS, `${what} took ${ms} ms (retry_timeout ${timings.retryTimeoutS} s)`);
  }
}

/** A few HA loops' worth of leader renewals and member updates; every one must succeed. */
async function renewLoops(dcs: Dcs, loops: number, label: string) {
  for (let i = 0; i < loops; i++) {
    const s = await timed(`${label}: getCluster`, () => dcs.getCluster());
    assert.equal(s.leader?.name, "a", `${label}: leader key lost`);
    assert.equal(await timed(`${label}: updateLeader`, () => dcs.updateLeader(s.leader!)), true, label);
    assert.equal(
      await timed(`${label}: touchMember`, () => dcs.touchMember({ state: "running", xlog_location: i })),
      true,
    );
    await new Promise((r) => setTimeout(r, 200));
  }
}

Deno.test({
  name: "etcd3: leader lock survives losing any one member of a 3-member cluster",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    let cluster: EtcdCluster | undefined;
    const clients: Dcs[] = [];
    try {
      // In memory where possible: the timing asserted here is the client's, not the disk's.
      cluster = await startEtcdCluster(3, { parentDir: await memoryDir() });
      const settings = { hosts: cluster.endpoints };
      const opts = { namespace: "/service", scope: "cluster-test", ...timings };
      const a = new Etcd3Dcs(settings, { ...opts, name: "a" });
      const b = new Etcd3Dcs(settings, { ...opts, name: "b" });
      clients.push(a, b);
      assert.equal(await a.attemptToAcquireLeader(), true);
      await renewLoops(a, 2, "all members up");

      for (const m of cluster.members) {
        await m.kill();
        await renewLoops(a, 4, `${m.name} killed`);
        assert.equal(await timed("acquire by b", () => b.attemptToAcquireLeader()), false);
        await m.start();
      }

      for (const m of cluster.members) {
        m.pause();
        try {
          await renewLoops(a, 4, `${m.name} hung`);
          // A watcher still wakes on a change although its stream may land on the hung member first.
          await b.getCluster();
          const t0 = Date.now();
          const woke = b.watch(null, 8000);
          await new Promise((r) => setTimeout(r, 100));
          assert.equal(await a.setConfigValue(`{"ttl":${30 + Number(m.name.slice(-1))}}`), true);
          assert.equal(await woke, true, `${m.name} hung: watch did not wake`);
          assert.ok(Date.now() - t0 < 3000, `${m.name} hung: watch woke after ${Date.now() - t0} ms`);
        } finally {
          m.resume();
        }
        // Back in the cluster before the next member is lost: a member resumed after seconds of silence has to
        // reconnect and catch up, and losing another one meanwhile would be losing two of three (no quorum).
        // Its health check is a linearizable read, so healthy means caught up.
        await m.waitHealthy();
      }

      // Quorum lost: fail closed, in time.
      await cluster.members[0]!.kill();
      await cluster.members[1]!.kill();
      for (
        const [what, fn] of [
          ["getCluster", () => a.getCluster()],
          ["updateLeader", () => a.updateLeader({ name: "a", version: "0" })],
        ] as const
      ) {
        const t0 = Date.now();
        await assert.rejects(fn, DcsUnavailableError, `${what} without quorum`);
        assert.ok(Date.now() - t0 <= BOUND_MS, `${what} without quorum took ${Date.now() - t0} ms`);
      }
      await cluster.members[0]!.start();
      await cluster.members[1]!.start();
      // Back: the lock is still ours if its lease outlived the outage, else we may take it again.
      const s = await a.getCluster();
      if (s.leader) assert.equal(await a.updateLeader(s.leader), true);
      else assert.equal(await a.attemptToAcquireLeader(), true);
      await renewLoops(a, 2, "quorum back");
    } finally {
      await Promise.all(clients.map((c) => c.close()));
      await cluster?.stop();
    }
  },
});
