/**
 * PostgresManager's custom bootstrap against real PostgreSQL 15: a method that copies a base backup into the
 * data directory, with the section's `recovery_conf` (recover to consistency, then pause). The manager starts
 * it, promotes it at the pause, sets the configured passwords and drops the recovery settings.
 */
import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert/strict";
import { PostgresManager } from "../../src/postgres/manager.ts";
import { parseListen } from "../../src/postgres/config_file.ts";
import { type BootstrapMethod, BootstrapMethodRegistry } from "../../src/postgres/custom_bootstrap.ts";
import type { LogFn } from "../../src/postgres/replica.ts";
import { OsUser } from "../../src/postgres/os_user.ts";
import { cleanup, makeNodeConfig, makeTestRoot, PG_BIN } from "../helpers/pg.ts";

Deno.test("custom bootstrap: a copied base backup with recovery_conf becomes a new primary", async () => {
  const root = await makeTestRoot();
  const src = makeNodeConfig(root, "src", {
    postgresql: {
      pgHba: [
        "local all all trust",
        "local replication all trust",
        "host all all 127.0.0.1/32 scram-sha-256",
      ],
    },
  });
  const copy: BootstrapMethod = {
    name: "copy",
    recoveryConf: {
      restore_command: "/bin/false", // nothing archived: WAL comes from the backup's pg_wal
      recovery_target: "immediate",
      recovery_target_action: "pause",
    },
    async run(ctx) {
      const r = await ctx.user.run("cp", ["-a", `${root}/staging/.`, ctx.dataDir]);
      return r.success;
    },
  };
  const methods = new BootstrapMethodRegistry();
  methods.register(copy);
  const dst = makeNodeConfig(root, "dst", {
    extra: { bootstrap: { method: "copy" } },
    postgresql: {
      authentication: {
        // Not the source's password: the manager connects with it only if the bootstrap set it.
        superuser: { username: "postgres", password: "new-su-secret" },
        replication: { username: "replicator", password: "x" },
        rewind: { username: "fresh_rewinder", password: "y" },
      },
    },
  });
  const logs: string[] = [];
  const log: LogFn = (level, msg) => logs.push(`${level}: ${msg}`);
  const ms = new PostgresManager(src, { log });
  const md = new PostgresManager(dst, { log, bootstrapMethods: methods });
  const states: string[] = [];
  try {
    await ms.bootstrap();
    await ms.query("CREATE TABLE t (v text); INSERT INTO t VALUES ('copied')");
    const user = new OsUser("postgres");
    await user.ensureOwnedDir(`${root}/staging`);
    await user.runOrThrow(`${PG_BIN}/pg_basebackup`, [
      "-D",
      `${root}/staging`,
      "-X",
      "stream",
      "-c",
      "fast",
      "-h",
      "/tmp",
      "-p",
      String(parseListen(src.postgresql.listen).port),
      "-U",
      "postgres",
    ]);
    // What a restore brings along from the source and must not take effect here.
    await user.writeFile(`${root}/staging/patroni.dynamic.json`, "{}");

    await md.bootstrap({ onState: (s) => states.push(s) });
    assertEquals(states, ["running custom bootstrap script", "starting after custom bootstrap"]);
    const st = await md.observe();
    assertEquals([st.running, st.accepting, st.inRecovery], [true, true, false]);
    assertEquals(st.timeline, 2);
    assertEquals(st.sysid, (await ms.observe()).sysid);
    assert(logs.some((l) => /Promoting the restored cluster: recovery is paused/.test(l)), logs.join("\n"));
    // The manager's TCP connection authenticates with the new superuser password.
    assertEquals((await md.query("SELECT v FROM t")).map((r) => r.v), ["copied"]);
    assertEquals(
      (await md.query("SELECT rolname FROM pg_roles WHERE rolname = 'fresh_rewinder'")).length,
      1,
    );
    assertEquals((await md.query("SELECT current_setting('restore_command') AS c"))[0]!.c, "");
    for (const f of ["patroni.dynamic.json", "recovery.signal", "standby.signal"]) {
      await rejects(Deno.stat(`${dst.postgresql.dataDir}/${f}`), Deno.errors.NotFound, f);
    }
  } catch (e) {
    console.error(logs.join("\n"));
    throw e;
  } finally {
    await md.close();
    await ms.close();
    await cleanup(root, [dst, src]);
  }
});

Deno.test("custom bootstrap: a method that succeeds without leaving a cluster fails the bootstrap", async () => {
  const root = await makeTestRoot();
  const methods = new BootstrapMethodRegistry();
  methods.register({ name: "noop", run: () => Promise.resolve(true) });
  methods.register({ name: "broken", run: () => Promise.reject(new Error("boom")) });
  const logs: string[] = [];
  try {
    for (const [name, why] of [["noop", /left no cluster/], ["broken", /"broken" failed/]] as const) {
      const c = makeNodeConfig(root, name, { extra: { bootstrap: { method: name } } });
      const m = new PostgresManager(c, { log: (_l, msg) => logs.push(msg), bootstrapMethods: methods });
      const states: string[] = [];
      await rejects(m.bootstrap({ onState: (s) => states.push(s) }), why);
      assertEquals(states.at(-1), "custom bootstrap failed");
      // The data directory was prepared for the method, and nothing fell back to initdb.
      const dir = await Deno.stat(c.postgresql.dataDir);
      assertEquals(dir.mode! & 0o777, 0o700);
      assertEquals([...Deno.readDirSync(c.postgresql.dataDir)], []);
    }
    assert(logs.some((l) => /"broken" threw: boom/.test(l)));
    assert(!logs.some((l) => /initdb/.test(l)));
  } finally {
    await cleanup(root, []);
  }
});
