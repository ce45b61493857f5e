/**
 * The watch-fed copy of the cluster (Etcd3Dcs): idle reads cost at most the keepalive a member owes anyway,
 * yet every read shows what any client wrote before it started (the copy is proven current first), also when
 * other clusters share the store, after the stream broke, and for the HA loop's wake-up watch.
 */
import assert from "node:assert/strict";
import { Etcd3 } from "etcd3";
import { Etcd3Dcs } from "../../src/dcs/etcd3.ts";
import { DcsUnavailableError } from "../../src/dcs/errors.ts";
import { startEtcd } from "../helpers/etcd.ts";

const timings = { ttlS: 10, loopWaitS: 1, retryTimeoutS: 2 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test({
  name: "etcd3 watch-fed copy: cheap idle reads that are never stale",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const etcd = await startEtcd();
    const raw = new Etcd3({ hosts: [etcd.endpoint] });
    const mk = (name: string, scope = "cache") =>
      new Etcd3Dcs({ hosts: [etcd.endpoint] }, { namespace: "/service", scope, name, ...timings });
    const a = mk("a");
    const b = mk("b");
    const other = mk("x", "other-cluster");
    try {
      await a.touchMember({ state: "running", role: "replica" });
      await a.getCluster(); // full read, starts the stream
      await sleep(200); // stream confirmed

      await t.step(
        "an idle read is one request (the member's keepalive), a second one within the loop one more",
        async () => {
          await sleep(timings.loopWaitS * 1000);
          const n0 = a.requestCount;
          const c = await a.getCluster();
          assert.deepEqual(c.members.map((m) => m.name), ["a"]);
          assert.equal(a.requestCount - n0, 1, "keepalive only");
          const n1 = a.requestCount;
          await a.getCluster(); // keepalive not due: a key summary proves the copy instead
          assert.equal(a.requestCount - n1, 1, "summary only");
        },
      );

      await t.step("another client's write is visible to the very next read", async () => {
        for (let i = 0; i < 20; i++) {
          const cfg = JSON.stringify({ ttl: 10, loop_wait: 1, retry_timeout: 2, i });
          assert.equal(await b.setConfigValue(cfg), true);
          const c = await a.getCluster();
          assert.equal((c.config?.value as { i?: number })?.i, i, `read ${i} saw the write`);
        }
        await raw.put("/service/cache/failover").value(JSON.stringify({ leader: "a", member: "b" }));
        assert.equal((await a.getCluster()).failover?.value.member, "b");
        await raw.delete().key("/service/cache/failover");
        assert.equal((await a.getCluster()).failover, null);
      });

      await t.step(
        "writes of other clusters in the same store do not make reads stale or wrong",
        async () => {
          for (let i = 0; i < 5; i++) {
            await other.touchMember({ state: "running", role: "replica", i });
            await b.touchMember({ state: "running", role: "replica", i });
            const c = await a.getCluster();
            assert.deepEqual(c.members.map((m) => [m.name, m.data.i]), [["a", undefined], ["b", i]]);
          }
        },
      );

      await t.step("the leader's renewal is one keepalive while the copy proves the key", async () => {
        assert.equal(await a.attemptToAcquireLeader(), true);
        const c = await a.getCluster();
        assert.equal(c.leader?.name, "a");
        const n0 = a.requestCount;
        assert.equal(await a.updateLeader(c.leader!), true);
        assert.equal(a.requestCount - n0, 1, "forced keepalive, no transaction");
        // Someone else's key (here: written directly) is never renewed, even right after our read.
        await raw.put("/service/cache/leader").value("b");
        assert.equal(await a.updateLeader(c.leader!), false);
        await raw.delete().key("/service/cache/leader");
      });

      await t.step("the wake-up watch fires on a leader change seen by the stream", async () => {
        assert.equal(await b.attemptToAcquireLeader(), true);
        await a.getCluster();
        const woke = a.watch(null, 5000);
        await sleep(50);
        assert.equal(a.leaderlessHint(), false, "the copy shows b's key");
        const t0 = Date.now();
        assert.equal(await b.deleteLeader(null), true);
        assert.equal(await woke, true);
        assert.ok(Date.now() - t0 < 4000, "woken by the change, not the timeout");
        assert.equal(a.leaderlessHint(), true, "the copy shows the key gone, before any read");
      });

      await t.step(
        "a hung store fails a read from the copy within retry_timeout, not twice that",
        async () => {
          await a.getCluster();
          await sleep(timings.loopWaitS * 1000); // the next read owes a keepalive: the proof path
          etcd.pause();
          const t0 = Date.now();
          try {
            await assert.rejects(() => a.getCluster(), DcsUnavailableError);
            const took = Date.now() - t0;
            assert.ok(took < timings.retryTimeoutS * 1000 + 500, `took ${took} ms`);
            // No leader key, but the copy is no longer trusted: no hint either.
            assert.equal(a.leaderlessHint(), false, "hint from an untrusted copy");
          } finally {
            etcd.resume();
          }
          await sleep(300);
          assert.deepEqual((await a.getCluster()).members.map((m) => m.name).sort(), ["a", "b"]);
        },
      );

      await t.step("a broken stream (etcd restarted) falls back to store reads and recovers", async () => {
        await etcd.restart();
        await sleep(300);
        await b.setConfigValue(JSON.stringify({ ttl: 10, after: "restart" }));
        const c = await a.getCluster();
        assert.equal((c.config?.value as { after?: string })?.after, "restart");
        await sleep(300);
        await b.setConfigValue(JSON.stringify({ ttl: 10, after: "again" }));
        assert.equal(((await a.getCluster()).config?.value as { after?: string })?.after, "again");
      });
    } finally {
      await a.close();
      await b.close();
      await other.close();
      raw.close();
      await etcd.stop();
    }
  },
});
