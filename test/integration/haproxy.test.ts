/**
 * HAProxy with the shipped Patroni-style config (examples/haproxy/haproxy.cfg, test ports substituted) in front
 * of a real three-node cluster: the primary port reaches only the leader, the replicas port only replicas, and
 * after a switchover writes through the same primary port land on the new leader.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { pgClient } from "../helpers/pg_client.ts";
import { tolerateWritesAfterServerClose } from "../../src/postgres/write_after_close.ts";
import { debianBinaryUnavailable } from "../helpers/apt.ts";
import { startCluster, type TestNode } from "../helpers/cluster.ts";
import { HAPROXY, startHaproxy } from "../helpers/haproxy.ts";

// postgres.js on Deno: a write racing the server closing the connection must not end the process.
tolerateWritesAfterServerClose();

const unavailable = await debianBinaryUnavailable(HAPROXY, "haproxy");
if (unavailable) console.log(`HAProxy test ignored: ${unavailable}`);

const opts = { sanitizeOps: false, sanitizeResources: false, ignore: unavailable !== null };

/** A client through HAProxy; one connection, re-opened by postgres.js after HAProxy or PostgreSQL drops it. */
function through(port: number) {
  return pgClient({ host: "127.0.0.1", port });
}

/** The HAProxy view we expect: in `primary` only the leader is UP, in `replicas` only the others. */
function routed(
  status: Record<string, Record<string, string>>,
  leader: TestNode,
  nodes: TestNode[],
): boolean {
  return nodes.every((n) =>
    status.primary?.[n.name] === (n === leader ? "UP" : "DOWN") &&
    status.replicas?.[n.name] === (n === leader ? "DOWN" : "UP")
  );
}

Deno.test("HAProxy routes writes to the primary and follows a switchover", opts, async (t) => {
  const cluster = await startCluster({ nodes: 3, sequential: true });
  let haproxy: Awaited<ReturnType<typeof startHaproxy>> | null = null;
  const primary: ReturnType<typeof through>[] = [];
  try {
    const leader = await cluster.waitHealthy(3);
    haproxy = await startHaproxy(cluster.nodes, cluster.dir);
    const hp = haproxy;
    const sql = through(hp.ports.primary);
    primary.push(sql);

    await t.step("the primary port reaches the leader, the replicas port the replicas", async () => {
      await cluster.waitFor(
        "HAProxy health checks to settle",
        async () => routed(await hp.status(), leader, cluster.nodes),
        20_000,
      );
      const [w] = await sql<{ port: number; ro: boolean }[]>`
        SELECT inet_server_port() AS port, pg_is_in_recovery() AS ro`;
      assertEquals([w!.port, w!.ro], [leader.pgPort, false]);
      await sql`CREATE TABLE routed(id int PRIMARY KEY, port int)`;
      await sql`INSERT INTO routed VALUES (1, inet_server_port())`;
      const seen = new Set<number>();
      for (let i = 0; i < 4; i++) {
        const ro = through(hp.ports.replicas);
        try {
          const [r] = await ro<{ port: number; ro: boolean }[]>`
            SELECT inet_server_port() AS port, pg_is_in_recovery() AS ro`;
          assert(r!.ro, "a replica answers on the replicas port");
          seen.add(r!.port);
        } finally {
          await ro.end({ timeout: 1 });
        }
      }
      assertEquals([...seen].sort(), cluster.nodes.filter((n) => n !== leader).map((n) => n.pgPort).sort());
    });

    await t.step("after a switchover the same primary port takes writes on the new leader", async () => {
      const target = cluster.nodes.find((n) => n !== leader)!;
      const r = await leader.api("/switchover", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ leader: leader.name, candidate: target.name }),
      });
      assertEquals(r.status, 200, r.text);
      const started = Date.now();
      const port = await cluster.waitFor("a write through HAProxy's primary port", async () => {
        try {
          const [row] = await sql<{ port: number }[]>`
            INSERT INTO routed VALUES (2, inet_server_port()) RETURNING port`;
          return row!.port;
        } catch {
          return null; // old session cut, old primary read-only, or no server UP yet: try again
        }
      }, 30_000);
      console.log(`writes re-routed ${Date.now() - started} ms after the switchover returned`);
      assertEquals(port, target.pgPort);
      await cluster.waitFor(
        "HAProxy to mark the new roles",
        async () => routed(await hp.status(), target, cluster.nodes),
        20_000,
      );
      const rows = await sql<{ id: number; port: number }[]>`SELECT id, port FROM routed ORDER BY id`;
      assertEquals(rows.map((x) => [x.id, x.port]), [[1, leader.pgPort], [2, target.pgPort]]);
    });
  } finally {
    for (const s of primary) await s.end({ timeout: 1 }).catch(() => {});
    await haproxy?.stop();
    await cluster.stop();
  }
});
