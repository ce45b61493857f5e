/**
 * Real pgBackRest against real PostgreSQL 15 (as the postgres OS user): stanza-create and a full backup of a
 * primary that archives with archive-push, then a new cluster bootstrapped from the repository and a standby
 * created from it, both through the plugin host.
 */
import { freePort } from "../../test/helpers/ports.ts";
import assert from "node:assert/strict";
import { PluginHost } from "../../src/plugins/host.ts";
import { baseContext, collectingLogger } from "../../test/plugins/fixtures/context.ts";
import { bootstrapArgv, replicaArgv } from "./args.ts";
import { pgbackrest, PgBackRestConfigSchema } from "./mod.ts";

const BIN = "/usr/lib/postgresql/15/bin";
const PGBACKREST = "/usr/bin/pgbackrest";

function pgUser(): { uid: number; gid: number } {
  const out = new TextDecoder().decode(new Deno.Command("id", { args: ["postgres"] }).outputSync().stdout);
  return { uid: Number(/uid=(\d+)/.exec(out)![1]), gid: Number(/gid=(\d+)/.exec(out)![1]) };
}

async function asPostgres(cmd: string, args: string[]): Promise<string> {
  const { uid, gid } = pgUser();
  const r = await new Deno.Command(cmd, { args, uid, gid, stdin: "null", cwd: "/tmp" } as Deno.CommandOptions)
    .output();
  const out = new TextDecoder().decode(r.stdout);
  if (!r.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed: ${out}${new TextDecoder().decode(r.stderr)}`);
  }
  return out;
}

interface Pg {
  dir: string;
  port: number;
}

async function psql(root: string, pg: Pg, sql: string): Promise<string> {
  return (await asPostgres(`${BIN}/psql`, [
    "-h",
    `${root}/sock`,
    "-p",
    String(pg.port),
    "-d",
    "postgres",
    "-Atqc",
    sql,
  ]))
    .trim();
}

async function start(root: string, pg: Pg, extra = ""): Promise<void> {
  await asPostgres(`${BIN}/pg_ctl`, [
    "start",
    "-w",
    "-t",
    "60",
    "-D",
    pg.dir,
    "-l",
    `${pg.dir}.log`,
    "-o",
    `-p ${pg.port} -c listen_addresses='' -c unix_socket_directories='${root}/sock' ${extra}`,
  ]);
}

async function stop(pg: Pg): Promise<void> {
  await asPostgres(`${BIN}/pg_ctl`, ["stop", "-m", "immediate", "-w", "-D", pg.dir]).catch(() => {});
}

async function until(what: string, cond: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond().catch(() => false))) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

Deno.test("argv: PITR bootstrap and delta standby restore", () => {
  const c = PgBackRestConfigSchema.parse({
    stanza: "main",
    configFile: "/etc/pgbr.conf",
    options: { "repo1-path": "/r" },
    bootstrap: { type: "time", target: "2025-01-01 00:00:00+00", targetAction: "promote" },
  });
  assert.deepEqual(bootstrapArgv(c, "/d"), [
    "pgbackrest",
    "--stanza=main",
    "--config=/etc/pgbr.conf",
    "--repo1-path=/r",
    "--type=time",
    "--target=2025-01-01 00:00:00+00",
    "--target-action=promote",
    "restore",
    "--pg1-path=/d",
  ]);
  assert.deepEqual(replicaArgv(c, "/d"), [
    "pgbackrest",
    "--stanza=main",
    "--config=/etc/pgbr.conf",
    "--repo1-path=/r",
    "--type=standby",
    "restore",
    "--delta",
    "--pg1-path=/d",
  ]);
});

Deno.test({
  name: "pgBackRest bootstraps a new cluster and creates a standby from a real repository",
  ignore: !(() => {
    try {
      return Deno.statSync(PGBACKREST).isFile && Deno.statSync(`${BIN}/postgres`).isFile;
    } catch {
      return false;
    }
  })(),
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "pgwarden-pgbr-" });
    const user = pgUser();
    await Deno.chmod(root, 0o755);
    for (const d of ["sock", "repo", "log", "lock"]) await Deno.mkdir(`${root}/${d}`);
    const conf = `${root}/pgbackrest.conf`;
    const primary: Pg = { dir: `${root}/primary`, port: freePort() };
    const restored: Pg = { dir: `${root}/restored`, port: freePort() };
    const standby: Pg = { dir: `${root}/standby`, port: freePort() };
    await Deno.writeTextFile(
      conf,
      [
        "[global]",
        `repo1-path=${root}/repo`,
        `log-path=${root}/log`,
        `lock-path=${root}/lock`,
        "log-level-console=warn",
        "log-level-file=off",
        "compress-type=none",
        "start-fast=y",
        "[demo]",
        `pg1-path=${primary.dir}`,
        `pg1-port=${primary.port}`,
        `pg1-socket-path=${root}/sock`,
      ].join("\n") + "\n",
    );
    for (const p of [root, `${root}/sock`, `${root}/repo`, `${root}/log`, `${root}/lock`, conf]) {
      await Deno.chown(p, user.uid, user.gid);
    }
    const logger = collectingLogger();
    const host = new PluginHost([pgbackrest({ stanza: "demo", configFile: conf, user })], { logger });
    try {
      await asPostgres(`${BIN}/initdb`, ["-D", primary.dir, "-U", "postgres", "--auth=trust", "-N"]);
      await Deno.writeTextFile(
        `${primary.dir}/postgresql.conf`,
        [
          "wal_level = replica",
          "archive_mode = on",
          `archive_command = '${PGBACKREST} --config=${conf} --stanza=demo archive-push %p'`,
          "fsync = off",
          "max_wal_senders = 5",
        ].join("\n") + "\n",
        { append: true },
      );
      await start(root, primary);
      await psql(root, primary, "CREATE TABLE t(v text); INSERT INTO t VALUES ('in backup')");
      await asPostgres(PGBACKREST, [`--config=${conf}`, "--stanza=demo", "stanza-create"]);
      await asPostgres(PGBACKREST, [`--config=${conf}`, "--stanza=demo", "--type=full", "backup"]);
      // Written after the backup: only WAL replay from the archive brings it back.
      await psql(root, primary, "INSERT INTO t VALUES ('in archive')");
      const walAfter = await psql(root, primary, "SELECT pg_walfile_name(pg_current_wal_lsn())");
      await psql(root, primary, "SELECT pg_switch_wal()");
      await until("WAL archived", async () => {
        const last = await psql(
          root,
          primary,
          "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver",
        );
        return last >= walAfter;
      });

      // Custom bootstrap: a new cluster restored from the repository.
      for (const pg of [restored, standby]) {
        await Deno.mkdir(pg.dir, { mode: 0o700 });
        await Deno.chown(pg.dir, user.uid, user.gid);
      }
      const ctx = baseContext({ scope: "demo", dataDir: restored.dir, role: null });
      assert.equal(await host.runMethod("pgbackrest", { kind: "bootstrap", ...ctx }), true);
      await start(root, restored, "-c archive_mode=off");
      await until(
        "restored cluster promoted",
        async () => (await psql(root, restored, "SELECT pg_is_in_recovery()")) === "f",
      );
      assert.equal(
        await psql(root, restored, "SELECT string_agg(v, ',' ORDER BY v) FROM t"),
        "in archive,in backup",
      );

      // Replica creation: a standby restore that keeps following the archive.
      assert.equal(
        await host.runMethod("pgbackrest", {
          kind: "createReplica",
          ...ctx,
          dataDir: standby.dir,
          source: null,
        }),
        true,
      );
      assert.ok((await Deno.stat(`${standby.dir}/standby.signal`)).isFile);
      await start(root, standby, "-c archive_mode=off -c hot_standby=on");
      assert.equal(await psql(root, standby, "SELECT pg_is_in_recovery()"), "t");
      await psql(root, primary, "INSERT INTO t VALUES ('after replica')");
      await psql(root, primary, "SELECT pg_switch_wal()");
      await until(
        "standby replays archived WAL",
        async () => (await psql(root, standby, "SELECT count(*) FROM t WHERE v = 'after replica'")) === "1",
      );

      // A failing restore (unknown stanza) is a clean false, so the agent tries its next method.
      const bad = new PluginHost([pgbackrest({ stanza: "nope", configFile: conf, user }, { name: "bad" })], {
        logger,
      });
      try {
        assert.equal(
          await bad.runMethod("bad", { kind: "bootstrap", ...ctx, dataDir: `${root}/nothing` }),
          false,
        );
      } finally {
        await bad.close();
      }
      assert.ok(logger.lines.some((l) => l.fields.plugin === "bad" && l.msg === "command failed"));
    } finally {
      await host.close();
      for (const pg of [standby, restored, primary]) await stop(pg);
      await Deno.remove(root, { recursive: true });
    }
  },
});
