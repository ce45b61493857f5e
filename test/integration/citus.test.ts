/**
 * Citus-aware clusters on real PostgreSQL 15 + etcd, agents started through bin/pgwarden: a coordinator group
 * and two worker groups of two nodes each, sharing one scope.
 *
 * Citus is not installed here. The coordinator and workers run the SQL emulation in test/citus_emulation
 * (installed as the `citus` extension; pgwarden's code is the one it would run against real Citus). In it, a
 * "distributed transaction" is `citus_emulation.run_on_group(group, sql)` on the coordinator: it takes the
 * group's shard lock (shared) the way a Citus router query does, looks the group's primary up in
 * pg_dist_node, and runs the statement there (dblink). So a write is acknowledged only once it committed on
 * the worker primary that pg_dist_node named, and it waits, instead of failing, while the coordinator holds
 * the group's shard locks during a switchover.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { startEtcd } from "../helpers/etcd.ts";
import { startCluster, type TestCluster, type TestNode } from "../helpers/cluster.ts";
import { installCitusEmulation } from "../citus_emulation/install.ts";
import { parseListJson, runCtlProcess } from "../ctl/run_ctl.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const DB = "citus";

interface Row {
  nodeid: number;
  groupid: number;
  addr: string;
  role: string;
}

async function pgDistNode(n: TestNode): Promise<Row[]> {
  const sql = n.sql({ database: DB });
  try {
    const rows = await sql<
      { nodeid: number; groupid: number; nodename: string; nodeport: number; role: string }[]
    >`
      SELECT nodeid, groupid, nodename, nodeport, noderole::text AS role FROM pg_dist_node
       ORDER BY groupid, noderole, nodeport`;
    return rows.map((r) => ({
      nodeid: Number(r.nodeid),
      groupid: Number(r.groupid),
      addr: `${r.nodename}:${r.nodeport}`,
      role: r.role,
    }));
  } finally {
    await sql.end();
  }
}

const addr = (n: TestNode) => `127.0.0.1:${n.pgPort}`;

/** `{group: "primary=addr secondary=addr,..."}` for comparisons that print well. */
function summary(rows: Row[]): Record<number, string> {
  const out: Record<number, string> = {};
  for (const g of new Set(rows.map((r) => r.groupid))) {
    const mine = rows.filter((r) => r.groupid === g);
    out[g] = ["primary", "secondary"].map((role) =>
      `${role}=${mine.filter((r) => r.role === role).map((r) => r.addr).sort().join(",")}`
    ).join(" ");
  }
  return out;
}

function expected(groups: { leader: TestNode; replicas: TestNode[] }[]): Record<number, string> {
  const out: Record<number, string> = {};
  groups.forEach((g, i) => {
    out[i] = `primary=${addr(g.leader)} secondary=${g.replicas.map(addr).sort().join(",")}`;
  });
  return out;
}

async function one<T>(n: TestNode, q: string, database = DB): Promise<T> {
  const sql = n.sql({ database });
  try {
    return (await sql.unsafe(q))[0] as T;
  } finally {
    await sql.end();
  }
}

/** Distributed writes through the coordinator into group `g`, ids counted as acknowledged once returned. */
function startWriter(coordinator: TestNode, g: number, firstId = 1) {
  const acked: number[] = [];
  const errors: string[] = [];
  let maxLatencyMs = 0;
  let stop = false;
  let next = firstId;
  const done = (async () => {
    const sql = coordinator.sql({ database: DB, timeoutS: 2 });
    try {
      while (!stop) {
        const id = next++;
        const t0 = Date.now();
        try {
          await sql`SELECT citus_emulation.run_on_group(${g}, ${`INSERT INTO acked VALUES (${id})`})`;
          acked.push(id);
        } catch (e) {
          errors.push(`${id}: ${e instanceof Error ? e.message : e}`);
        }
        maxLatencyMs = Math.max(maxLatencyMs, Date.now() - t0);
        await new Promise((r) => setTimeout(r, 10));
      }
    } finally {
      await sql.end({ timeout: 1 }).catch(() => {});
    }
  })();
  return {
    acked,
    errors,
    get maxLatencyMs() {
      return maxLatencyMs;
    },
    async stop() {
      stop = true;
      await done;
    },
  };
}

/**
 * Citus clusters run quorum commit: a replica may take over only once the primary counts it in the quorum.
 * Wait for that before a planned or unplanned handover.
 */
async function waitQuorumMember(c: TestCluster, n: TestNode): Promise<void> {
  await c.waitFor(`${n.name} to be a quorum standby`, async () => {
    const r = await n.api("/cluster");
    const m = (r.body as { members: { name: string; role: string }[] }).members.find((x) =>
      x.name === n.name
    );
    return m?.role === "quorum_standby" || m?.role === "sync_standby";
  }, 60_000);
}

Deno.test(
  "Citus: coordinator + 2 worker groups keep pg_dist_node current through failover and switchover",
  opts,
  async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "pgwarden-citus-" });
    await Deno.chmod(dir, 0o755);
    const emulation = await installCitusEmulation(dir);
    const etcd = await startEtcd();
    const scope = `citus${crypto.randomUUID().slice(0, 6)}`;
    const groups: TestCluster[] = [];
    try {
      for (const g of [0, 1, 2]) {
        groups.push(
          await startCluster({
            nodes: 2,
            ttl: 10,
            loopWait: 1,
            retryTimeout: 2,
            etcd,
            scope,
            namePrefix: `g${g}n`,
            bootstrapExtra: { post_bootstrap: emulation.postBootstrap },
            node: () => ({
              extra: { citus: { group: g, database: DB } },
              // Test speed: CREATE DATABASE leaves many dirty buffers, a spread checkpoint would pace them.
              postgresqlExtra: { basebackup: { checkpoint: "fast" } },
            }),
          }),
        );
      }
      const [coord, w1, w2] = groups as [TestCluster, TestCluster, TestCluster];
      const leaders = await Promise.all(groups.map((c) => c.waitHealthy(2, 150_000)));
      const replicaOf = (c: TestCluster, l: TestNode) => c.nodes.filter((n) => n !== l);

      await t.step("every group gets the Citus database, extension, authinfo and GUCs", async () => {
        for (const l of leaders) {
          await coord.waitFor(`Citus database on ${l.name}`, async () => {
            const r = await one<{ n: number }>(
              l,
              "SELECT count(*)::int AS n FROM pg_extension WHERE extname = 'citus'",
            );
            return r.n === 1;
          });
          const a = await one<{ authinfo: string }>(
            l,
            "SELECT authinfo FROM pg_dist_authinfo WHERE nodeid = 0 AND rolename = 'postgres'",
          );
          assertEquals(a.authinfo, "password=postgres");
          const g = await one<Record<string, string>>(
            l,
            `SELECT current_setting('wal_level') AS wal_level,
                    current_setting('max_prepared_transactions') AS mpt,
                    current_setting('citus.local_hostname') AS host,
                    current_setting('shared_preload_libraries') AS spl`,
            "postgres",
          );
          // Citus itself is not installed here, so it is not preloaded; the rest is what Citus needs.
          assertEquals(g, { wal_level: "logical", mpt: "100", host: "127.0.0.1", spl: "" });
        }
      });

      await t.step("the coordinator registers every group's primary and running replicas", async () => {
        const want = expected(
          groups.map((c, i) => ({ leader: leaders[i]!, replicas: replicaOf(c, leaders[i]!) })),
        );
        await coord.waitFor("pg_dist_node to list all groups", async () => {
          const s = summary(await pgDistNode(leaders[0]!));
          return JSON.stringify(s) === JSON.stringify(want) ? s : null;
        }, 60_000);
        // The catalog is replicated: the coordinator's replica has the same rows.
        await coord.waitFor("the coordinator replica to have the rows", async () => {
          const s = summary(await pgDistNode(replicaOf(coord, leaders[0]!)[0]!));
          return JSON.stringify(s) === JSON.stringify(want);
        });
      });

      for (const l of leaders.slice(1)) {
        const sql = l.sql({ database: DB });
        try {
          await sql`CREATE TABLE acked(id bigint PRIMARY KEY)`;
        } finally {
          await sql.end();
        }
      }

      await t.step("a worker switchover under distributed writes loses no acknowledged write", async () => {
        const old = leaders[2]!;
        const candidate = replicaOf(w2, old)[0]!;
        await w2.waitFor("the acked table on the replica", async () => {
          const r = await one<{ n: number }>(
            candidate,
            "SELECT count(*)::int AS n FROM pg_class WHERE relname = 'acked'",
          );
          return r.n === 1;
        });
        const primaryRow = (rows: Row[]) => rows.find((x) => x.groupid === 2 && x.role === "primary")!;
        const nodeid = primaryRow(await pgDistNode(leaders[0]!)).nodeid;
        await waitQuorumMember(w2, candidate);
        const writer = startWriter(leaders[0]!, 2);
        await w2.waitFor(
          "some writes before the switchover",
          () => Promise.resolve(writer.acked.length > 20),
        );
        const r = await runCtlProcess(
          ["switchover", "--group", "2", "--leader", old.name, "--candidate", candidate.name, "--force"],
          { config: old.configPath },
        );
        assertEquals(r.code, 0, r.stdout + r.stderr);
        await w2.waitFor(
          "the candidate to lead group 2",
          async () => (await w2.leader()) === candidate,
          60_000,
        );
        const rows = await coord.waitFor("pg_dist_node to name the new primary of group 2", async () => {
          const rows = await pgDistNode(leaders[0]!);
          const p = rows.find((x) => x.groupid === 2 && x.role === "primary");
          return p?.addr === addr(candidate) ? rows : null;
        });
        const before = writer.acked.length;
        await w2.waitFor(
          "writes after the switchover",
          () => Promise.resolve(writer.acked.length > before + 20),
        );
        await writer.stop();
        // Clients never saw the switchover: no failed statement, every acknowledged id on the new primary.
        assertEquals(writer.errors, []);
        const sql = candidate.sql({ database: DB });
        try {
          const have = new Set((await sql<{ id: string }[]>`SELECT id FROM acked`).map((x) => Number(x.id)));
          assertEquals(writer.acked.filter((id) => !have.has(id)), []);
        } finally {
          await sql.end();
        }
        const coordLog = leaders[0]!.logs.join("\n");
        assert(
          coordLog.includes("group 2: holding distributed transactions"),
          "the coordinator held group 2",
        );
        assert(
          coordLog.includes(`group 2: primary is now ${candidate.name}`),
          "the hold ended with a commit",
        );
        // The primary row was repointed, not replaced.
        assertEquals(primaryRow(rows).nodeid, nodeid);
        console.error(`switchover: ${writer.acked.length} writes, longest wait ${writer.maxLatencyMs} ms`);
        leaders[2] = candidate;
      });

      await t.step("killing a worker group's primary repoints pg_dist_node at the new primary", async () => {
        const old = leaders[1]!;
        const survivor = replicaOf(w1, old)[0]!;
        await waitQuorumMember(w1, survivor);
        const before = (await pgDistNode(leaders[0]!)).find((x) => x.groupid === 1 && x.role === "primary")!;
        old.killPostmaster();
        await old.killAgent();
        await w1.waitFor("a new primary in group 1", async () => (await w1.leader()) === survivor, 60_000);
        await coord.waitFor("pg_dist_node to name the new primary of group 1", async () => {
          const p = (await pgDistNode(leaders[0]!)).find((x) => x.groupid === 1 && x.role === "primary");
          return p?.addr === addr(survivor) && p.nodeid === before.nodeid;
        }, 60_000);
        leaders[1] = survivor;
        // The old primary comes back as a replica and is registered as a secondary again.
        old.start();
        await coord.waitFor("the old primary as a secondary of group 1", async () => {
          const s = summary(await pgDistNode(leaders[0]!));
          return s[1] === `primary=${addr(survivor)} secondary=${addr(old)}`;
        }, 90_000);
      });

      await t.step("a worker primary stopped with SIGTERM hands over without client errors", async () => {
        const old = leaders[2]!;
        const next = replicaOf(w2, old)[0]!;
        await waitQuorumMember(w2, next);
        const writer = startWriter(leaders[0]!, 2, 1_000_000);
        await w2.waitFor("some writes first", () => Promise.resolve(writer.acked.length > 20));
        await old.stopAgent();
        await w2.waitFor("the replica to lead group 2", async () => (await w2.leader()) === next, 60_000);
        await coord.waitFor("pg_dist_node to name it", async () => {
          const p = (await pgDistNode(leaders[0]!)).find((x) => x.groupid === 2 && x.role === "primary");
          return p?.addr === addr(next);
        });
        const before = writer.acked.length;
        await w2.waitFor(
          "writes after the handover",
          () => Promise.resolve(writer.acked.length > before + 20),
        );
        await writer.stop();
        assertEquals(writer.errors, []);
        const sql = next.sql({ database: DB });
        try {
          const have = new Set((await sql<{ id: string }[]>`SELECT id FROM acked`).map((x) => Number(x.id)));
          assertEquals(writer.acked.filter((id) => !have.has(id)), []);
        } finally {
          await sql.end();
        }
        assert(
          leaders[0]!.logs.some((l) =>
            l.includes(`holding distributed transactions while ${old.name} demotes`)
          ),
        );
        leaders[2] = next;
      });

      await t.step("a coordinator failover keeps the worker registrations", async () => {
        const old = leaders[0]!;
        const next = replicaOf(coord, old)[0]!;
        await waitQuorumMember(coord, next);
        const before = await pgDistNode(old);
        old.killPostmaster();
        await old.killAgent();
        await coord.waitFor("a new coordinator leader", async () => (await coord.leader()) === next, 60_000);
        const after = await coord.waitFor("group 0's primary row to name the new leader", async () => {
          const rows = await pgDistNode(next);
          const p = rows.find((x) => x.groupid === 0 && x.role === "primary");
          return p?.addr === addr(next) ? rows : null;
        }, 60_000);
        const workers = (rows: Row[]) => rows.filter((x) => x.groupid !== 0 && x.role === "primary");
        assertEquals(workers(after), workers(before));
        const p0 = (rows: Row[]) => rows.find((x) => x.groupid === 0 && x.role === "primary")!.nodeid;
        assertEquals(p0(after), p0(before));
        leaders[0] = next;
      });

      await t.step("ctl list and topology show every group's members; --group narrows", async () => {
        const r = await runCtlProcess(["list", "-f", "json"], { config: w1.nodes[0]!.configPath });
        assertEquals(r.code, 0, r.stderr);
        const rows = parseListJson(r.stdout);
        const names = rows.map((x) => `${x.Group}:${x.Member}`).sort();
        // Every running member (the stopped ones' keys have expired).
        const running = groups.flatMap((c, g) => c.nodes.filter((n) => n.proc).map((n) => `${g}:${n.name}`));
        assertEquals(names, running.sort());
        assertEquals([...new Set(rows.map((x) => x.Group))].sort(), [0, 1, 2]);
        const leadersListed = rows.filter((x) => x.Role === "Leader").map((x) => x.Member).sort();
        assertEquals(leadersListed, leaders.map((l) => l.name).sort());
        const one1 = await runCtlProcess(["list", "--group", "1", "-f", "json"], {
          config: w1.nodes[0]!.configPath,
        });
        assertEquals(parseListJson(one1.stdout).map((x) => x.Member).sort(), ["g1n1", "g1n2"]);
        const topo = await runCtlProcess(["topology"], { config: w1.nodes[0]!.configPath });
        assertEquals(topo.code, 0, topo.stderr);
        for (const n of [...coord.nodes, ...w1.nodes, ...w2.nodes].filter((x) => x.proc)) {
          assert(topo.stdout.includes(n.name), topo.stdout);
        }
      });
    } finally {
      for (const c of groups) await c.stop();
      await etcd.stop();
      await emulation.uninstall();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
);
