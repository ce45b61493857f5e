/**
 * A standby cluster on real PostgreSQL 15 + etcd: cluster B (two nodes, `standby_cluster` in bootstrap.dcs)
 * clones and follows cluster A's primary; its lock holder is the standby leader, the other member cascades
 * from it; removing `standby_cluster` from B's dynamic configuration promotes B's standby leader.
 */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { startCluster, type TestCluster, type TestNode } from "../helpers/cluster.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

async function query<T>(node: TestNode, text: string): Promise<T[]> {
  const sql = node.sql();
  try {
    return (await sql.unsafe(text)) as unknown as T[];
  } finally {
    await sql.end({ timeout: 1 });
  }
}

async function status(n: TestNode): Promise<Record<string, unknown>> {
  return (await n.api("/patroni")).body as Record<string, unknown>;
}

/** B's standby leader and its streaming replica, once both are there. */
async function standbyPair(b: TestCluster): Promise<{ leader: TestNode; replica: TestNode }> {
  return await b.waitFor("a standby leader and a streaming replica in B", async () => {
    const docs = await Promise.all(b.nodes.map(status));
    const li = docs.findIndex((d) => d.role === "standby_leader" && d.state === "running");
    const ri = docs.findIndex((d) => d.role === "replica" && d.replication_state === "streaming");
    return li >= 0 && ri >= 0 ? { leader: b.nodes[li]!, replica: b.nodes[ri]! } : null;
  }, 120_000);
}

Deno.test(
  "standby cluster follows a remote primary, cascades, and is promoted by removing standby_cluster",
  opts,
  async (t) => {
    const a = await startCluster({ nodes: 1 });
    let b: TestCluster | null = null;
    try {
      const primary = await a.waitHealthy(1);
      await query(primary, "CREATE TABLE t(id int primary key); INSERT INTO t VALUES (1)");
      b = await startCluster({
        nodes: 2,
        dcs: { standby_cluster: { host: "127.0.0.1", port: primary.pgPort } },
      });
      const { leader, replica } = await standbyPair(b);

      await t.step(
        "the standby leader streams from A's primary, the other member from the standby leader",
        async () => {
          const [lr] = await query<{ sender_port: number; status: string }>(
            leader,
            "SELECT sender_port, status FROM pg_stat_wal_receiver",
          );
          assertEquals([lr?.sender_port, lr?.status], [primary.pgPort, "streaming"]);
          const [rr] = await query<{ sender_port: number }>(
            replica,
            "SELECT sender_port FROM pg_stat_wal_receiver",
          );
          assertEquals(rr?.sender_port, leader.pgPort);
          // The standby leader holds the cascading replica's slot, as a primary would.
          const slots = await query<{ slot_name: string; active: boolean }>(
            leader,
            "SELECT slot_name, active FROM pg_replication_slots",
          );
          assertEquals(slots.map((s) => [s.slot_name, s.active]), [[replica.name, true]]);
          const cl = (await leader.api("/cluster")).body as { members: { name: string; role: string }[] };
          assertEquals(cl.members.find((m) => m.name === leader.name)?.role, "standby_leader");
          assertEquals((await leader.api("/standby-leader")).status, 200);
          assertEquals((await leader.api("/primary")).status, 503);
        },
      );

      await t.step("writes on A appear on both members of B", async () => {
        await query(primary, "INSERT INTO t SELECT generate_series(2, 100)");
        for (const n of [leader, replica]) {
          await b!.waitFor(`rows on ${n.name}`, async () => {
            const [r] = await query<{ n: string }>(n, "SELECT count(*) AS n FROM t");
            return Number(r?.n) === 100;
          }, 30_000);
        }
      });

      await t.step(
        "PATCH /config {standby_cluster: null} promotes B's standby leader; its replica follows",
        async () => {
          const r = await replica.api("/config", {
            method: "PATCH",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ standby_cluster: null }),
          });
          assertEquals(r.status, 200, r.text);
          await b!.waitFor(
            "B's leader promoted",
            async () => (await status(leader)).role === "primary",
            30_000,
          );
          await query(leader, "INSERT INTO t VALUES (1000)");
          await b!.waitFor("B's replica replays B's own writes", async () => {
            const [x] = await query<{ n: string }>(replica, "SELECT count(*) AS n FROM t WHERE id = 1000");
            return Number(x?.n) === 1;
          }, 30_000);
          // Promotion starts B's own timeline.
          await b!.waitFor("B on timeline 2", async () => (await status(leader)).timeline === 2, 30_000);
          // A is untouched: still a primary without the row written on B.
          assertEquals((await status(primary)).role, "primary");
          const [onA] = await query<{ n: string }>(primary, "SELECT count(*) AS n FROM t WHERE id = 1000");
          assertEquals(Number(onA?.n), 0);
        },
      );
    } finally {
      await b?.stop();
      await a.stop();
    }
  },
);
