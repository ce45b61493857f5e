/**
 * The replica-method registry with real processes (no PostgreSQL): methods are tried in order, command
 * methods get Patroni's arguments and PGPASSFILE and run as the PostgreSQL OS user, and the data
 * directory is emptied around a failing method unless it keeps data.
 */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { OsUser } from "../../src/postgres/os_user.ts";
import { binaries } from "../../src/postgres/pg_ctl.ts";
import {
  commandMethod,
  type ReplicaContext,
  ReplicaMethodRegistry,
  runReplicaMethods,
} from "../../src/postgres/replica.ts";
import { VirtualClock } from "../../src/util/clock.ts";
import { makeTestRoot, PG_BIN } from "../helpers/pg.ts";

Deno.test("runReplicaMethods falls through failing methods and passes Patroni's arguments", async () => {
  const root = await makeTestRoot();
  try {
    const user = new OsUser("postgres");
    const dataDir = `${root}/data`;
    await user.ensureOwnedDir(dataDir);
    await user.writeFile(`${dataDir}/leftover`, "x");
    const out = `${root}/args.txt`;
    // Records its argv, its OS user and PGPASSFILE, then succeeds.
    const script = `${root}/restore.sh`;
    await Deno.writeTextFile(
      script,
      `#!/bin/sh\n{ id -un; echo "$PGPASSFILE"; for a in "$@"; do echo "$a"; done; } > ${out}\n`,
      { mode: 0o755 },
    );
    await user.chown(root);
    const logs: string[] = [];
    const registry = new ReplicaMethodRegistry();
    registry.register(commandMethod("broken", { command: "/bin/false" }));
    registry.register(commandMethod("restore", { command: `${script} --from 'backup one'`, stanza: "main" }));
    const ctx: ReplicaContext = {
      dataDir,
      scope: "demo",
      conninfo: "host=h port=1 user=replicator",
      connUrl: "postgres://replicator@h:1/postgres",
      env: { PGPASSFILE: "/some/pgpass" },
      user,
      bin: binaries(PG_BIN),
      majorVersion: 15,
      clock: new VirtualClock(),
      log: (level, msg) => logs.push(`${level}: ${msg}`),
    };
    assertEquals(await runReplicaMethods(registry, ["missing", "broken", "restore"], ctx), "restore");
    assertEquals((await Deno.readTextFile(out)).trim().split("\n"), [
      "postgres",
      "/some/pgpass",
      "--from",
      "backup one",
      "--stanza=main",
      "--scope=demo",
      "--role=replica",
      `--datadir=${dataDir}`,
      "--connstring=postgres://replicator@h:1/postgres",
    ]);
    assertEquals([...Deno.readDirSync(dataDir)], [], "data directory emptied before the methods ran");
    assertEquals(logs.filter((l) => l.startsWith("warning") || l.startsWith("error")).length, 2);

    // keep_data: the directory is left alone; without a source only no_leader methods run.
    await user.writeFile(`${dataDir}/keep`, "x");
    registry.register(commandMethod("keeper", { command: "/bin/false", keepData: true, noLeader: true }));
    assertEquals(
      await runReplicaMethods(registry, ["restore", "keeper"], { ...ctx, conninfo: null, connUrl: null }),
      null,
    );
    assertEquals([...Deno.readDirSync(dataDir)].map((e) => e.name), ["keep"]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
