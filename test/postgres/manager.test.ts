/**
 * PostgresManager against real PostgreSQL 15 processes: bootstrap, streaming replica, adoption of a running
 * postmaster, parameter changes, promotion, and pg_rewind of a diverged former primary.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { PostgresManager } from "../../src/postgres/manager.ts";
import { parseListen } from "../../src/postgres/config_file.ts";
import { slotNameFromMember } from "../../src/postgres/slots.ts";
import type { LogFn } from "../../src/postgres/replica.ts";
import { cleanup, makeNodeConfig, makeTestRoot, PG_BIN, waitFor } from "../helpers/pg.ts";

const HOST = "127.0.0.1";

/** Session id of a process (field 6 of /proc/<pid>/stat). */
async function sessionOf(pid: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[3]);
}

Deno.test("PostgresManager drives a primary and a replica through failover and pg_rewind", async (t) => {
  const root = await makeTestRoot();
  // post_bootstrap gets the superuser URL (no password) and PGPASSFILE.
  const script = `${root}/post_bootstrap.sh`;
  await Deno.writeTextFile(
    script,
    `#!/bin/sh\nset -e\ncase "$1" in *secret*) exit 3;; esac\n` +
      `${PG_BIN}/psql -v ON_ERROR_STOP=1 "$1" -c "CREATE TABLE post_bootstrap_ran (url text); ` +
      `INSERT INTO post_bootstrap_ran VALUES ('$1')"\n`,
    { mode: 0o755 },
  );
  const a = makeNodeConfig(root, "node-a", {
    extra: { bootstrap: { postBootstrap: script, initdb: ["no-sync"] } },
  });
  const b = makeNodeConfig(root, "node-b");
  const portA = parseListen(a.postgresql.listen).port;
  const portB = parseListen(b.postgresql.listen).port;
  const logs: string[] = [];
  const log: LogFn = (level, msg) => logs.push(`${level}: ${msg}`);
  const ma = new PostgresManager(a, { log });
  const mb = new PostgresManager(b, { log });
  // Stop at the first failed step (later ones build on it) and show what the managers logged.
  const step = async (name: string, fn: () => Promise<void>) => {
    if (!(await t.step(name, fn))) {
      console.error(logs.join("\n"));
      throw new Error(`Step failed: ${name}`);
    }
  };
  const values = async (m: PostgresManager) =>
    (await m.query("SELECT x FROM t ORDER BY x")).map((r) => Number(r.x));
  try {
    await step("bootstrap a primary", async () => {
      const before = await ma.observe();
      assertEquals([before.dataDirEmpty, before.running], [true, false]);
      await ma.bootstrap();
      const s = await ma.observe();
      assertEquals([s.dataDirEmpty, s.running, s.accepting, s.inRecovery], [false, true, true, false]);
      assertEquals(s.timeline, 1);
      assertEquals(s.controlState, "in production");
      assert(s.sysid && /^\d+$/.test(s.sysid), `sysid ${s.sysid}`);
      assert(s.serverVersion! >= 150000 && s.serverVersion! < 160000);
      assert(s.xlogLocation > 0);
      // The postmaster runs in its own session, not the test's, started like Patroni starts it, with its
      // output in a log file rather than the agent's stdout/stderr.
      assertEquals(await sessionOf(s.pid!), s.pid);
      const argv = (await Deno.readTextFile(`/proc/${s.pid}/cmdline`)).split("\0");
      assert(argv.includes(`--config-file=${a.postgresql.dataDir}/postgresql.conf`), argv.join(" "));
      for (const fd of [1, 2]) {
        assertEquals(
          await Deno.readLink(`/proc/${s.pid}/fd/${fd}`),
          `${a.postgresql.dataDir}/log/postgresql.log`,
        );
      }
      const conf = await Deno.readTextFile(`${a.postgresql.dataDir}/postgresql.conf`);
      assert(conf.includes("include 'postgresql.base.conf'"));
      assert(conf.includes("cluster_name = 'pgtest'"));
      assert(await Deno.stat(`${a.postgresql.dataDir}/postgresql.base.conf`));
      const roles = await ma.query(
        "SELECT rolname::text, rolreplication, rolsuper FROM pg_roles WHERE rolname IN ('replicator', 'rewinder') ORDER BY 1",
      );
      assertEquals(roles.map((r) => [r.rolname, r.rolreplication, r.rolsuper]), [
        ["replicator", true, false],
        ["rewinder", false, false],
      ]);
      assertEquals(await ma.query("SELECT url FROM post_bootstrap_ran"), [
        { url: `postgres://postgres@127.0.0.1:${portA}/postgres` },
      ]);
      const settings = await ma.query(
        "SELECT name, setting FROM pg_settings WHERE name IN ('wal_level', 'hot_standby', 'wal_log_hints', 'port')",
      );
      assertEquals(Object.fromEntries(settings.map((r) => [r.name, r.setting])), {
        hot_standby: "on",
        port: String(portA),
        wal_level: "replica",
        wal_log_hints: "on",
      });
    });

    await step("clone a replica with pg_basebackup and stream from a slot", async () => {
      await ma.syncReplicationSlots([slotNameFromMember("node-b")]);
      const slots = await ma.query("SELECT slot_name::text, slot_type FROM pg_replication_slots");
      assertEquals(slots.map((r) => [r.slot_name, r.slot_type]), [["node_b", "physical"]]);
      await mb.createReplica({ host: HOST, port: portA });
      assert(
        await mb.start({
          role: "replica",
          upstream: { host: HOST, port: portA, slot: "node_b" },
          timeoutS: 30,
        }),
      );
      const s = await waitFor("replica streaming", async () => {
        const o = await mb.observe();
        return o.replicationState === "streaming" ? o : null;
      });
      assertEquals([s.inRecovery, s.upstream, s.timeline, s.sysid], [
        true,
        `${HOST}:${portA}`,
        1,
        (await ma.observe()).sysid,
      ]);
      const p = await waitFor("walsender row on the primary", async () => {
        const o = await ma.observe();
        return o.replication.find((r) => r.application_name === "node-b" && r.state === "streaming")
          ? o
          : null;
      });
      assertEquals(p.replication[0]!.usename, "replicator");
      const active = await ma.query("SELECT active FROM pg_replication_slots WHERE slot_name = 'node_b'");
      assertEquals(active[0]!.active, true);
    });

    await step("writes on the primary are readable on the replica", async () => {
      await ma.query("CREATE TABLE t (x int)");
      await ma.query("INSERT INTO t VALUES (1)");
      await waitFor("row replicated", async () => (await values(mb)).length === 1);
      assertEquals(await values(mb), [1]);
    });

    await step("setSynchronousStandbyNames makes the replica synchronous and back", async () => {
      await ma.setSynchronousStandbyNames('"node-b"');
      await waitFor("node-b sync", async () => (await ma.observe()).replication[0]?.sync_state === "sync");
      await ma.query("INSERT INTO t VALUES (0)"); // commits only with the standby's confirmation
      await ma.setSynchronousStandbyNames(null);
      await waitFor("node-b async", async () => (await ma.observe()).replication[0]?.sync_state === "async");
      await ma.query("DELETE FROM t WHERE x = 0");
    });

    await step("a second manager adopts the running postmaster instead of starting another", async () => {
      const before = await mb.observe();
      const adopter = new PostgresManager(b, { log });
      try {
        const s = await adopter.observe();
        assertEquals([s.running, s.accepting, s.pid], [true, true, before.pid]);
        assert(await adopter.start({ role: "replica", upstream: { host: HOST, port: portA }, timeoutS: 10 }));
        const after = await adopter.observe();
        assertEquals([after.pid, after.postmasterStartTime], [before.pid, before.postmasterStartTime]);
        assert(logs.some((l) => l.includes(`Adopting running postmaster (pid ${before.pid})`)));
      } finally {
        await adopter.close();
      }
    });

    await step("applyParameters reloads sighup settings and flags restart-only ones", async () => {
      assertEquals(await ma.applyParameters({ work_mem: "7MB" }), { pendingRestart: false });
      assertEquals((await ma.query("SHOW work_mem"))[0]!.work_mem, "7MB");
      assertEquals(await ma.applyParameters({ work_mem: "7MB", shared_buffers: "64MB" }), {
        pendingRestart: true,
      });
      const s = await ma.observe();
      assertEquals(s.pendingRestart, true);
      assertEquals(s.pendingRestartReason.shared_buffers, { old_value: "128MB", new_value: "64MB" });
      assertEquals((await ma.query("SHOW shared_buffers"))[0]!.shared_buffers, "128MB");
    });

    await step(
      "a reload made outside the agent shows its pending restart at the next observation",
      async () => {
        await ma.query("ALTER SYSTEM SET max_connections = 150");
        await ma.query("SELECT pg_reload_conf()");
        await waitFor("max_connections pending", async () => {
          const s = await ma.observe();
          return s.pendingRestartReason.max_connections?.new_value === "150" ? s : null;
        });
        await ma.query("ALTER SYSTEM RESET max_connections");
        await ma.query("SELECT pg_reload_conf()");
        await waitFor("max_connections no longer pending", async () => {
          const s = await ma.observe();
          return s.pendingRestartReason.max_connections === undefined && s.pendingRestart ? s : null;
        });
      },
    );

    await step("promote the replica", async () => {
      assert(await mb.promote(30));
      const s = await mb.observe();
      assertEquals([s.inRecovery, s.timeline, s.replicationState], [false, 2, null]);
      await mb.query("INSERT INTO t VALUES (2)");
      assertEquals(await mb.needsRewind({ host: HOST, port: portB }), false);
    });

    await step("the diverged old primary is rewound and follows the new primary", async () => {
      // Still a primary on timeline 1: write something the new primary never sees, then crash.
      await ma.query("INSERT INTO t VALUES (99)");
      assertEquals(await ma.needsRewind({ host: HOST, port: portB }), true);
      assert(await ma.stop("immediate", 10));
      assertEquals((await ma.observe()).controlState, "in production");
      assertEquals(await ma.needsRewind({ host: HOST, port: portB }), true);
      assert(await ma.rewind({ host: HOST, port: portB }));
      assert(logs.some((l) => l.includes("single-user")), "crash recovery ran first");
      await mb.syncReplicationSlots(["node_a"]);
      // Start in archive recovery only, then point it at the new primary with a reload.
      await ma.start({ role: "replica", upstream: null, timeoutS: 30 });
      await waitFor(
        "old primary accepting as a replica",
        async () => (await ma.observe()).inRecovery === true,
      );
      await ma.follow({ host: HOST, port: portB, slot: "node_a" });
      const s = await waitFor("old primary streaming from the new one", async () => {
        const o = await ma.observe();
        return o.replicationState === "streaming" ? o : null;
      });
      assertEquals([s.upstream, s.timeline], [`${HOST}:${portB}`, 2]);
      assertEquals(await values(ma), [1, 2]);
      await mb.query("INSERT INTO t VALUES (3)");
      await waitFor("new row on the rewound node", async () => (await values(ma)).includes(3));
      const p = await mb.observe();
      assert(p.replication.some((r) => r.application_name === "node-a" && r.state === "streaming"));
      assertEquals(await ma.needsRewind({ host: HOST, port: portB }), false);
      // The restart cleared the pending restart from the earlier shared_buffers change.
      const after = await ma.observe();
      assertEquals(after.pendingRestart, false);
    });
  } finally {
    await ma.close();
    await mb.close();
    await cleanup(root, [a, b]);
  }
});

Deno.test("PostgresManager: a data directory removed under a running postmaster gets the orphan killed", async () => {
  const root = await makeTestRoot();
  const a = makeNodeConfig(root, "orphan", { extra: { bootstrap: { initdb: ["no-sync"] } } });
  const logs: string[] = [];
  const m = new PostgresManager(a, { log: (level, msg) => logs.push(`${level}: ${msg}`) });
  try {
    await m.bootstrap();
    // Several cycles where SQL answers: the postmaster is proven alive without a liveness subprocess.
    for (let i = 0; i < 3; i++) assertEquals((await m.observe()).accepting, true);
    const pid = (await m.observe()).pid!;
    await Deno.remove(a.postgresql.dataDir, { recursive: true });
    await Deno.mkdir(a.postgresql.dataDir);
    const s = await m.observe();
    assertEquals([s.dataDirEmpty, s.running], [true, false]);
    assert(logs.some((l) => l.includes(`PostgreSQL (pid ${pid}) was running: killed it`)), logs.join("\n"));
    await waitFor("the orphan postmaster gone", () => {
      try {
        Deno.statSync(`/proc/${pid}`);
        return Promise.resolve(false);
      } catch {
        return Promise.resolve(true);
      }
    }, 10_000);
  } finally {
    await cleanup(root, []);
  }
});
