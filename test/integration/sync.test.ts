/**
 * Synchronous replication on real PostgreSQL 15 + etcd: strict priority mode survives repeated kill -9 of the
 * primary (agent and postmaster) under a committing writer without losing an acknowledged write; quorum mode
 * keeps `ANY n (...)` and the `sync` key in step and promotes only a member of the voting set.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { startCluster, type TestCluster, type TestNode } from "../helpers/cluster.ts";
import { etcdGet, missingOn, startWriter } from "../helpers/writer.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

async function exec(node: TestNode, text: string): Promise<Record<string, unknown>[]> {
  const sql = node.sql();
  try {
    return [...await sql.unsafe(text)] as Record<string, unknown>[];
  } finally {
    await sql.end();
  }
}

async function syncKey(
  cluster: TestCluster,
): Promise<{ leader: string; quorum: number; sync_standby: string | null } | null> {
  const raw = await etcdGet(cluster, "sync");
  return raw ? JSON.parse(raw) : null;
}

/** Wait until the sync key (raw JSON, exactly as stored) satisfies `ok`. */
async function waitSyncKey(
  cluster: TestCluster,
  what: string,
  ok: (raw: string) => boolean,
  timeoutMs = 30_000,
) {
  return await cluster.waitFor(what, async () => {
    const raw = await etcdGet(cluster, "sync");
    return raw && ok(raw) ? raw : null;
  }, timeoutMs);
}

async function newLeader(cluster: TestCluster, old: TestNode): Promise<TestNode> {
  return await cluster.waitFor("a new primary", async () => {
    const l = await cluster.leader();
    return l && l !== old ? l : null;
  }, cluster.opts.ttl * 1000 + 30_000);
}

Deno.test(
  "strict synchronous mode: repeated kill -9 of the primary loses no acknowledged write",
  opts,
  async (t) => {
    const cluster = await startCluster({
      nodes: 3,
      dcs: { synchronous_mode: true, synchronous_mode_strict: true },
    });
    try {
      let leader = await cluster.waitHealthy(3);
      await exec(leader, "CREATE TABLE IF NOT EXISTS acked(id bigint primary key)");

      await t.step("the primary names one synchronous standby in SSN and in the sync key", async () => {
        const raw = await waitSyncKey(cluster, "a sync standby", (r) => JSON.parse(r).sync_standby !== null);
        const key = JSON.parse(raw);
        // Patroni's exact JSON: key order, quorum 0 outside quorum mode.
        assertEquals(raw, JSON.stringify({ leader: leader.name, quorum: 0, sync_standby: key.sync_standby }));
        const ssn = await exec(leader, "SHOW synchronous_standby_names");
        assertEquals(ssn[0]!.synchronous_standby_names, key.sync_standby);
        const standby = cluster.node(key.sync_standby);
        // Replicas answer from their own last DCS read (at most a loop behind the key).
        await cluster.waitFor(
          `${standby.name}: /sync 200`,
          async () => (await standby.api("/sync")).status === 200,
        );
        assertEquals((await standby.api("/async")).status, 503);
        const other = cluster.nodes.find((n) => n !== leader && n !== standby)!;
        assertEquals((await other.api("/sync")).status, 503);
        assertEquals((await other.api("/async")).status, 200);
      });

      const writer = startWriter(cluster);
      try {
        for (let round = 1; round <= 2; round++) {
          await t.step(`round ${round}: kill -9 of the primary, the sync standby takes over`, async () => {
            await cluster.waitFor(
              "writes on the primary",
              () => Promise.resolve(writer.acked.length >= round * 20),
            );
            const key = (await syncKey(cluster))!;
            assertEquals(key.leader, leader.name);
            const killed = leader;
            killed.killPostmaster();
            await killed.killAgent();
            leader = await newLeader(cluster, killed);
            // Only a member recorded in the sync key may be promoted.
            assertEquals(leader.name, key.sync_standby);
            killed.start();
            leader = await cluster.waitHealthy(3, 120_000);
            await cluster.waitFor("writes after the failover", async () => {
              const n = writer.acked.length;
              await new Promise((r) => setTimeout(r, 1500));
              return writer.acked.length > n;
            });
          });
        }
      } finally {
        await writer.stop();
      }

      await t.step("every acknowledged write is on the final primary", async () => {
        assert(writer.acked.length > 40, `writer made progress (${writer.acked.length} acked)`);
        assertEquals(await missingOn(leader, writer.acked), []);
      });
    } finally {
      await cluster.stop();
    }
  },
);

Deno.test(
  "quorum mode: ANY n SSN and the sync key move together; a non-voter never promotes alone",
  opts,
  async (t) => {
    // node1 leads first; node3 streams but never syncs (nosync), so node2 is the only voter.
    const cluster = await startCluster({
      nodes: 3,
      sequential: true,
      dcs: { synchronous_mode: "quorum" },
      node: (i) => (i === 2 ? { tags: { nosync: true } } : {}),
    });
    try {
      const leader = await cluster.waitHealthy(3);
      assertEquals(leader.name, "node1");
      await exec(leader, "CREATE TABLE IF NOT EXISTS acked(id bigint primary key)");
      const [voter, outsider] = [cluster.node("node2"), cluster.node("node3")];

      await t.step(
        "steady state: one voter, quorum 0, SSN ANY 1 (voter); health endpoints agree",
        async () => {
          const want = JSON.stringify({ leader: "node1", quorum: 0, sync_standby: "node2" });
          await waitSyncKey(cluster, want, (r) => r === want);
          const ssn = await exec(leader, "SHOW synchronous_standby_names");
          assertEquals(ssn[0]!.synchronous_standby_names, "ANY 1 (node2)");
          // Replicas answer from their own last DCS read (at most a loop behind the key).
          await cluster.waitFor(
            "node2: /quorum 200",
            async () => (await voter.api("/quorum")).status === 200,
          );
          assertEquals((await voter.api("/async")).status, 503);
          assertEquals((await outsider.api("/quorum")).status, 503);
          assertEquals((await outsider.api("/async")).status, 200);
        },
      );

      const writer = startWriter(cluster);
      try {
        await t.step(
          "leader and voter gone: the non-voter cannot collect a vote and does not promote",
          async () => {
            await cluster.waitFor("writes", () => Promise.resolve(writer.acked.length >= 20));
            // The voter's PostgreSQL keeps streaming, but nobody can ask it (its REST API is gone).
            await voter.killAgent();
            leader.killPostmaster();
            await leader.killAgent();
            await new Promise((r) => setTimeout(r, (cluster.opts.ttl + 8) * 1000));
            assertEquals(await outsider.role(), "replica");
            assertEquals(await cluster.leader(), null);
          },
        );

        await t.step("the voter back: a leader is elected and no acknowledged write is lost", async () => {
          voter.start();
          const next = await newLeader(cluster, leader);
          await writer.stop();
          assert(writer.acked.length >= 20);
          assertEquals(await missingOn(next, writer.acked), []);
          leader.start();
          const now = await cluster.waitHealthy(3, 120_000);
          await waitSyncKey(
            cluster,
            "the new leader in the sync key",
            (r) => JSON.parse(r).leader === now.name,
          );
        });
      } finally {
        await writer.stop();
      }
    } finally {
      await cluster.stop();
    }
  },
);
