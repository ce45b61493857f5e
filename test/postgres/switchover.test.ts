/**
 * Clean switchover: the old primary shuts down cleanly, the replica receives its shutdown checkpoint and is
 * promoted; the old primary then needs no pg_rewind (decided with pg_waldump) and follows the new primary.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { PostgresManager } from "../../src/postgres/manager.ts";
import { parseListen } from "../../src/postgres/config_file.ts";
import type { LogFn } from "../../src/postgres/replica.ts";
import { cleanup, makeNodeConfig, makeTestRoot, waitFor } from "../helpers/pg.ts";

const HOST = "127.0.0.1";

Deno.test("after a clean switchover the old primary follows without pg_rewind", async () => {
  const root = await makeTestRoot();
  const a = makeNodeConfig(root, "sw-a");
  const b = makeNodeConfig(root, "sw-b");
  const portA = parseListen(a.postgresql.listen).port;
  const portB = parseListen(b.postgresql.listen).port;
  const logs: string[] = [];
  const log: LogFn = (level, msg) => logs.push(`${level}: ${msg}`);
  const ma = new PostgresManager(a, { log });
  const mb = new PostgresManager(b, { log });
  try {
    await ma.bootstrap();
    await ma.query("CREATE TABLE t AS SELECT 1 AS x");
    await mb.createReplica({ host: HOST, port: portA });
    assert(await mb.start({ role: "replica", upstream: { host: HOST, port: portA }, timeoutS: 30 }));
    await waitFor("replica streaming", async () => (await mb.observe()).replicationState === "streaming");

    assert(await ma.stop("fast", 30));
    assertEquals((await ma.observe()).controlState, "shut down");
    const end = (await ma.controlData()).checkpointLsn!;
    await waitFor("shutdown checkpoint replayed", async () => ((await mb.observe()).replayLsn ?? 0) > end);
    assert(await mb.promote(30));
    assertEquals((await mb.observe()).timeline, 2);

    assertEquals(await ma.needsRewind({ host: HOST, port: portB }), false, logs.join("\n"));
    assert(logs.some((l) => l.includes("shutdown checkpoint ends exactly at the switch point")));
    assert(await ma.start({ role: "replica", upstream: { host: HOST, port: portB }, timeoutS: 30 }));
    const s = await waitFor("old primary streaming", async () => {
      const o = await ma.observe();
      return o.replicationState === "streaming" ? o : null;
    });
    assertEquals([s.timeline, s.upstream], [2, `${HOST}:${portB}`]);
    await mb.query("INSERT INTO t VALUES (2)");
    await waitFor(
      "row on the old primary",
      async () => (await ma.query("SELECT count(*)::int AS n FROM t"))[0]!.n === 2,
    );
  } catch (e) {
    console.error(logs.join("\n"));
    throw e;
  } finally {
    await ma.close();
    await mb.close();
    await cleanup(root, [a, b]);
  }
});
