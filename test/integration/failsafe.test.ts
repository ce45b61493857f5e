/**
 * failsafe_mode on real PostgreSQL 15 + etcd: with the DCS stopped for 3 x ttl the primary stays writable
 * (every member confirmed it through POST /failsafe) and keeps its leadership afterwards; with failsafe_mode
 * off the same outage makes it read-only within ttl. Writability is checked with real INSERTs.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { startCluster, type TestNode } from "../helpers/cluster.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

/** One INSERT on `node` with a short client-side bound: true when it committed. */
async function canWrite(node: TestNode, id: number): Promise<boolean> {
  const sql = node.sql({ timeoutS: 1 });
  try {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const r = await Promise.race([
      sql.unsafe(`INSERT INTO probe(id) VALUES (${id})`).then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), 2000))),
    ]).finally(() => clearTimeout(timer));
    return r;
  } catch {
    return false;
  } finally {
    await sql.end({ timeout: 0 }).catch(() => {});
  }
}

Deno.test(
  "failsafe_mode: a DCS outage of 3 x ttl keeps the primary writable; without it, read-only within ttl",
  opts,
  async (t) => {
    const cluster = await startCluster({ nodes: 3, dcs: { failsafe_mode: true } });
    const ttlMs = cluster.opts.ttl * 1000;
    let id = 0;
    try {
      const leader = await cluster.waitHealthy(3);
      const setup = leader.sql();
      await setup`CREATE TABLE probe(id bigint primary key)`;
      await setup.end();

      await t.step("the leader publishes every member in /failsafe", async () => {
        await cluster.waitFor("3 members in /failsafe", async () => {
          const r = await leader.api("/failsafe");
          return r.status === 200 && Object.keys(r.body as Record<string, string>).length === 3;
        });
      });

      await t.step("etcd down for 3 x ttl: the primary accepts every write meanwhile", async () => {
        await cluster.etcd.kill();
        const until = Date.now() + 3 * ttlMs;
        let writes = 0;
        try {
          while (Date.now() < until) {
            const ok = await canWrite(leader, ++id);
            assert(
              ok,
              `INSERT ${id} failed ${((Date.now() - until + 3 * ttlMs) / 1000).toFixed(1)} s into the outage`,
            );
            writes++;
            await new Promise((r) => setTimeout(r, 500));
          }
          // The other members never became primary.
          for (const n of cluster.nodes) if (n !== leader) assertEquals(await n.role(), "replica");
          const s = await leader.api("/patroni");
          assertEquals((s.body as Record<string, unknown>).failsafe_mode_is_active, true);
        } finally {
          await cluster.etcd.start();
        }
        assert(writes > 20, `${writes} writes`);
      });

      await t.step("etcd back: the same leader, every member streaming again", async () => {
        const l = await cluster.waitHealthy(3, 60_000);
        assertEquals(l.name, leader.name);
      });

      await t.step("failsafe_mode off: the same outage makes the primary read-only within ttl", async () => {
        const r = await leader.api("/config", {
          method: "PATCH",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ failsafe_mode: false }),
        });
        assertEquals(r.status, 200, r.text);
        await cluster.waitFor("failsafe off everywhere", async () => {
          for (const n of cluster.nodes) {
            if ((await n.api("/failsafe")).status !== 502) return false;
          }
          return true;
        });
        assert(await canWrite(leader, ++id), "writable before the outage");
        await cluster.etcd.kill();
        const start = Date.now();
        let readOnlyAfter: number | null = null;
        try {
          while (Date.now() - start < 2 * ttlMs) {
            if (!(await canWrite(leader, ++id))) {
              readOnlyAfter = Date.now() - start;
              break;
            }
            await new Promise((r) => setTimeout(r, 250));
          }
          assert(
            readOnlyAfter !== null && readOnlyAfter <= ttlMs,
            `still writable after ${readOnlyAfter} ms`,
          );
          // It stays read-only (running as a replica), not merely restarting.
          await new Promise((r) => setTimeout(r, 3000));
          assertEquals(await canWrite(leader, ++id), false);
          const sql = leader.sql();
          try {
            const rows = await sql`SELECT pg_is_in_recovery() AS r`;
            assertEquals(rows[0]!.r, true);
          } finally {
            await sql.end();
          }
        } finally {
          await cluster.etcd.start();
        }
        await cluster.waitHealthy(3, 60_000);
      });
    } finally {
      await cluster.stop();
    }
  },
);
