/**
 * Self-tests of the chaos checkers on two standalone PostgreSQL servers: the prober reports a split brain
 * when both accept writes and none when one is read-only; missingOn finds acknowledged writes that are gone.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { TestNode } from "../helpers/cluster.ts";
import { freePort, makeTestRoot, PG_BIN } from "../helpers/pg.ts";
import { createChaosTables, missingOn, Prober, Writer } from "./probe.ts";

async function asPostgres(cmd: string, args: string[]): Promise<void> {
  const out = await new Deno.Command("runuser", {
    args: ["-u", "postgres", "--", `${PG_BIN}/${cmd}`, ...args],
  })
    .output();
  if (!out.success) throw new Error(`${cmd} failed: ${new TextDecoder().decode(out.stderr)}`);
}

async function startServer(root: string, name: string): Promise<TestNode> {
  const dataDir = `${root}/${name}`;
  const port = freePort();
  const pg = Deno.readTextFileSync("/etc/passwd").split("\n").find((l) => l.startsWith("postgres:"))!.split(
    ":",
  );
  await Deno.mkdir(dataDir, { mode: 0o700 });
  await Deno.chown(dataDir, Number(pg[2]), Number(pg[3]));
  await asPostgres("initdb", ["-D", dataDir, "-A", "trust", "-U", "postgres", "--no-sync"]);
  await asPostgres("pg_ctl", [
    "-D",
    dataDir,
    "-o",
    `-p ${port} -k /tmp -c listen_addresses='' -c fsync=off`,
    "-l",
    `${dataDir}/log`,
    "-w",
    "start",
  ]);
  const node = new TestNode(name, "", dataDir, port, 0);
  await createChaosTables(node);
  return node;
}

async function run(nodes: TestNode[], ms: number): Promise<Prober> {
  const p = new Prober(nodes);
  p.start();
  await new Promise((r) => setTimeout(r, ms));
  await p.stop();
  return p;
}

async function sql(node: TestNode, text: string): Promise<void> {
  const c = node.sql({ socket: true });
  try {
    await c.unsafe(text);
  } finally {
    await c.end();
  }
}

Deno.test("chaos checkers: split brain and lost acknowledged writes are detected", async () => {
  const root = await makeTestRoot("pgwarden-chaos-probe-");
  const nodes: TestNode[] = [];
  try {
    nodes.push(await startServer(root, "a"), await startServer(root, "b"));

    const both = await run(nodes, 1000);
    assert(both.splitBrains.length > 5, `two writable servers: ${both.splitBrains.length} split brains`);
    assertEquals(both.splitBrains[0]!.nodes.sort(), ["a", "b"]);

    await sql(nodes[1]!, "ALTER SYSTEM SET default_transaction_read_only = on");
    await sql(nodes[1]!, "SELECT pg_reload_conf()");
    await new Promise((r) => setTimeout(r, 300));
    const one = await run(nodes, 1000);
    assertEquals(one.splitBrains, []);
    assert(one.writableInstants > 5, `one writable server: ${one.writableInstants} writable instants`);

    const w = new Writer([nodes[1]!, nodes[0]!]);
    w.start();
    await new Promise((r) => setTimeout(r, 1000));
    await w.stop();
    assert(w.acked.length > 5, `${w.acked.length} writes acknowledged`);
    assertEquals(await missingOn(nodes[0]!, w.acked), []);
    await sql(nodes[0]!, `DELETE FROM chaos_acked WHERE id = ${w.acked[2]}`);
    assertEquals(await missingOn(nodes[0]!, w.acked), [w.acked[2]]);
  } finally {
    for (const n of nodes) {
      await asPostgres("pg_ctl", ["-D", n.dataDir, "-m", "immediate", "-w", "stop"]).catch(() => {});
    }
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
});
