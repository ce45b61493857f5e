/**
 * Replication slots on real PostgreSQL 15 + etcd: permanent physical and logical slots from the dynamic
 * `slots` map are created on the primary and published in `status.slots`; replicas keep copies (the logical
 * one copied from the primary's state file, then advanced); after a kill -9 failover the new primary still has
 * both, the logical slot at least where the consumer had confirmed it, and decoding continues from it.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { startCluster, type TestNode } from "../helpers/cluster.ts";
import { etcdGet } from "../helpers/writer.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

async function exec(node: TestNode, text: string): Promise<Record<string, unknown>[]> {
  const sql = node.sql();
  try {
    return [...await sql.unsafe(text)] as Record<string, unknown>[];
  } finally {
    await sql.end();
  }
}

async function slotsOn(node: TestNode): Promise<Map<string, { type: string; lsn: string | null }>> {
  const rows = await exec(
    node,
    `SELECT slot_name::text AS name, slot_type AS type,
       (CASE WHEN slot_type = 'logical' THEN confirmed_flush_lsn ELSE restart_lsn END)::text AS lsn
     FROM pg_replication_slots`,
  );
  return new Map(rows.map((r) => [String(r.name), { type: String(r.type), lsn: r.lsn as string | null }]));
}

const lsnBytes = (lsn: string) => {
  const [hi, lo] = lsn.split("/");
  return parseInt(hi!, 16) * 2 ** 32 + parseInt(lo!, 16);
};

Deno.test("permanent physical and logical slots survive a failover", opts, async (t) => {
  const cluster = await startCluster({
    nodes: 3,
    dcs: {
      postgresql: {
        use_pg_rewind: true,
        parameters: { wal_log_hints: "on", max_connections: 50, wal_level: "logical" },
      },
      slots: {
        keep_phys: { type: "physical" },
        keep_logical: { type: "logical", database: "postgres", plugin: "test_decoding" },
      },
    },
  });
  try {
    const leader = await cluster.waitHealthy(3);
    await exec(leader, "CREATE TABLE events(id bigint primary key)");
    const replicas = cluster.nodes.filter((n) => n !== leader);

    await t.step("the primary holds member and permanent slots and publishes their positions", async () => {
      const s = await cluster.waitFor("permanent slots on the primary", async () => {
        const m = await slotsOn(leader);
        return m.has("keep_phys") && m.has("keep_logical") ? m : null;
      });
      assertEquals(s.get("keep_logical")!.type, "logical");
      for (const r of replicas) assert(s.has(r.name), `member slot ${r.name} on the primary`);
      const status = await cluster.waitFor("status.slots", async () => {
        const raw = await etcdGet(cluster, "status");
        const v = raw ? JSON.parse(raw) : null;
        return v?.slots?.keep_logical && v.slots.keep_phys !== undefined ? v : null;
      });
      assertEquals(typeof status.optime, "number");
      assertEquals(typeof status.slots[leader.name], "number");
    });

    await t.step(
      "replicas keep copies: the other members' slots, the permanent ones, the logical one",
      async () => {
        for (const r of replicas) {
          await cluster.waitFor(`slot copies on ${r.name}`, async () => {
            const m = await slotsOn(r);
            const other = replicas.find((x) => x !== r)!;
            return m.has("keep_phys") && m.has(leader.name) && m.has(other.name) && !m.has(r.name) &&
              m.get("keep_logical")?.type === "logical";
          }, 60_000);
        }
        assertEquals(await cluster.waitHealthy(3), leader);
      },
    );

    let consumedTo = 0;
    await t.step("a consumer reads from the logical slot; replicas advance their copies", async () => {
      await exec(leader, "INSERT INTO events SELECT generate_series(1, 100)");
      const changes = await exec(
        leader,
        "SELECT lsn::text AS lsn, data FROM pg_logical_slot_get_changes('keep_logical', NULL, NULL)",
      );
      assert(
        changes.some((c) => String(c.data).includes("table public.events: INSERT")),
        "decoded the inserts",
      );
      consumedTo = lsnBytes((await slotsOn(leader)).get("keep_logical")!.lsn!);
      for (const r of replicas) {
        await cluster.waitFor(`${r.name} advanced keep_logical`, async () => {
          const lsn = (await slotsOn(r)).get("keep_logical")?.lsn;
          return lsn ? lsnBytes(lsn) >= consumedTo : false;
        }, 30_000);
      }
      // Changes nobody consumed yet: a copied slot still has them after a failover, a re-created one not.
      await exec(leader, "INSERT INTO events SELECT generate_series(200, 204)");
      const [{ lsn }] = await exec(leader, "SELECT pg_current_wal_flush_lsn()::text AS lsn") as [
        { lsn: string },
      ];
      for (const r of replicas) {
        await cluster.waitFor(`${r.name} replayed the unconsumed inserts`, async () => {
          const [row] = await exec(r, "SELECT pg_last_wal_replay_lsn()::text AS lsn");
          return lsnBytes(String(row!.lsn)) >= lsnBytes(lsn);
        });
      }
    });

    await t.step(
      "kill -9 of the primary: the new primary has both slots and decoding continues",
      async () => {
        leader.killPostmaster();
        await leader.killAgent();
        const next = await cluster.waitFor("a new primary", async () => {
          const l = await cluster.leader();
          return l && l !== leader ? l : null;
        }, cluster.opts.ttl * 1000 + 30_000);
        const s = await slotsOn(next);
        assert(s.has("keep_phys"), "permanent physical slot on the new primary");
        const logical = s.get("keep_logical");
        assert(logical?.type === "logical", "permanent logical slot on the new primary");
        assert(
          lsnBytes(logical.lsn!) >= consumedTo,
          `confirmed ${logical.lsn} not behind the consumer's position`,
        );
        // The dead primary's member key expired with its lock: the new leader still keeps a slot for it
        // (retain_slots, member_slots_ttl 30 min by default) and says so in `status`.
        const gone = leader.name;
        await cluster.waitFor("the old primary's slot retained", async () => {
          const raw = await etcdGet(cluster, "status");
          const st = raw ? JSON.parse(raw) : null;
          return st?.retain_slots?.includes(gone) && (await slotsOn(next)).has(gone) ? true : null;
        }, 20_000);
        await exec(next, "INSERT INTO events VALUES (1000)");
        const changes = await exec(
          next,
          "SELECT data FROM pg_logical_slot_get_changes('keep_logical', NULL, NULL)",
        );
        const inserts = changes.filter((c) => String(c.data).includes("INSERT"));
        // What was consumed before the failover does not come again; what was not does, then the new insert.
        const ids = inserts.map((c) => /id\[bigint\]:(\d+)/.exec(String(c.data))?.[1]);
        assertEquals(ids, ["200", "201", "202", "203", "204", "1000"]);
        leader.start();
        await cluster.waitHealthy(3, 120_000);
      },
    );
  } finally {
    await cluster.stop();
  }
});
