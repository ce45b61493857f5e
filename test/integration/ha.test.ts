/**
 * The core HA behaviour on real PostgreSQL 15 + real etcd, agents started through bin/pgwarden:
 * bootstrap, unplanned failover with rejoin through pg_rewind, switchover without losing acknowledged writes,
 * pause mode, and in-place restart of a crashed primary postmaster.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { startCluster, type TestCluster, type TestNode } from "../helpers/cluster.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

/** Commit increasing ids through whatever node accepts writes; record every acknowledged id. */
function startWriter(cluster: TestCluster) {
  const acked: number[] = [];
  let stop = false;
  let next = 1;
  const done = (async () => {
    while (!stop) {
      for (const n of cluster.nodes) {
        if (stop) break;
        const sql = n.sql({ timeoutS: 1 });
        try {
          while (!stop) {
            await sql`INSERT INTO acked(id) VALUES (${next})`;
            acked.push(next);
            next++;
            await new Promise((r) => setTimeout(r, 20));
          }
        } catch {
          next++; // the id may or may not have committed: never count it as acknowledged
        } finally {
          await sql.end({ timeout: 1 }).catch(() => {});
        }
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return {
    acked,
    async stop() {
      stop = true;
      await done;
    },
  };
}

async function missingOn(node: TestNode, ids: number[]): Promise<number[]> {
  const sql = node.sql();
  try {
    const rows = await sql<{ id: number }[]>`SELECT id FROM acked`;
    const have = new Set(rows.map((r) => Number(r.id)));
    return ids.filter((i) => !have.has(i));
  } finally {
    await sql.end();
  }
}

async function createTable(leader: TestNode) {
  const sql = leader.sql();
  try {
    await sql`CREATE TABLE IF NOT EXISTS acked(id bigint primary key)`;
  } finally {
    await sql.end();
  }
}

Deno.test(
  "three nodes bootstrap to one primary and two streaming replicas; failover, rejoin, switchover",
  opts,
  async (t) => {
    const cluster = await startCluster({ nodes: 3, ttl: 8, loopWait: 1, retryTimeout: 2 });
    try {
      const first = await cluster.waitHealthy(3);
      await createTable(first);

      await t.step("kill -9 of the primary's agent and postmaster gives a new writable primary", async () => {
        first.killPostmaster();
        await first.killAgent();
        const next = await cluster.waitFor("a new primary", async () => {
          const l = await cluster.leader();
          return l && l.name !== first.name ? l : null;
        }, cluster.opts.ttl * 1000 + 30_000);
        const sql = next.sql();
        try {
          await sql`INSERT INTO acked(id) VALUES (-1)`;
        } finally {
          await sql.end();
        }
      });

      await t.step("the old primary rejoins as a streaming replica after restart (pg_rewind)", async () => {
        first.start();
        await cluster.waitHealthy(3);
        assertEquals(await first.role(), "replica");
      });

      await t.step("switchover through the failover key loses no acknowledged write", async () => {
        const leader = (await cluster.leader())!;
        const writer = startWriter(cluster);
        await new Promise((r) => setTimeout(r, 1500));
        const candidate = cluster.nodes.find((n) => n !== leader)!;
        const r = await leader.api("/switchover", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ leader: leader.name, candidate: candidate.name }),
        });
        assertEquals(r.status, 200, r.text);
        const now = await cluster.waitHealthy(3);
        assertEquals(now.name, candidate.name);
        await new Promise((r) => setTimeout(r, 1500));
        await writer.stop();
        assert(writer.acked.length > 10, `writer made progress (${writer.acked.length} acked)`);
        assertEquals(await missingOn(now, writer.acked), []);
      });
    } finally {
      await cluster.stop();
    }
  },
);

Deno.test(
  "pause mode suppresses failover; a crashed primary postmaster is restarted in place",
  opts,
  async (t) => {
    const cluster = await startCluster({ nodes: 2, ttl: 8, loopWait: 1, retryTimeout: 2 });
    try {
      const leader = await cluster.waitHealthy(2);

      await t.step("a killed postmaster on the primary is restarted in place", async () => {
        const before = leader.postmasterPid();
        leader.killPostmaster();
        await cluster.waitFor("postmaster restarted on the same node", async () => {
          const pid = leader.postmasterPid();
          return pid !== null && pid !== before && (await leader.role()) === "primary";
        }, 30_000);
        const l = await cluster.waitHealthy(2);
        assertEquals(l.name, leader.name);
      });

      await t.step("with pause on, killing the primary's agent does not promote the replica", async () => {
        const r = await leader.api("/config", {
          method: "PATCH",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ pause: true }),
        });
        assertEquals(r.status, 200, r.text);
        const replica = cluster.nodes.find((n) => n !== leader)!;
        await cluster.waitFor("replica to see pause", async () => {
          const s = await replica.api("/patroni");
          return (s.body as { pause?: boolean }).pause === true;
        });
        await leader.killAgent();
        // Longer than ttl + a few loops: an unpaused cluster would have promoted by now.
        await new Promise((r) => setTimeout(r, (cluster.opts.ttl + 4) * 1000));
        assertEquals(await replica.role(), "replica");
      });
    } finally {
      await cluster.stop();
    }
  },
);
