/**
 * Custom bootstrap and replica creation through the agent, with real pgBackRest: a one-node cluster archives
 * with `archive-push` into a local posix repository and is backed up; a replica of it is created with
 * `create_replica_methods: [pgbackrest, basebackup]` from a Patroni `postgresql.pgbackrest` section (run by the
 * `command` plugin) and then streams; a new cluster (another scope) bootstraps with `bootstrap.method:
 * pgbackrest` (the pgbackrest plugin), replays the archive and becomes its own primary.
 *
 * The agents run through bin/pgwarden, so the computed least-privilege permissions are exercised as well.
 */
import assert from "node:assert/strict";
import { parse, stringify } from "yaml";
import { freePort, startCluster, type TestCluster, TestNode } from "../helpers/cluster.ts";

const PG_BIN = "/usr/lib/postgresql/15/bin";
const PGBACKREST = "/usr/bin/pgbackrest";
const STANZA = "demo";

function available(): boolean {
  try {
    return Deno.statSync(PGBACKREST).isFile && Deno.statSync(`${PG_BIN}/postgres`).isFile && Deno.uid() === 0;
  } catch {
    return false;
  }
}

function pgUser(): { uid: number; gid: number } {
  const line = Deno.readTextFileSync("/etc/passwd").split("\n").find((l) => l.startsWith("postgres:"))!;
  const f = line.split(":");
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

/** pgBackRest refuses to run as root against a cluster owned by postgres: run it as postgres. */
async function pgbackrest(conf: string, ...args: string[]): Promise<string> {
  const { uid, gid } = pgUser();
  const r = await new Deno.Command(PGBACKREST, {
    args: [`--config=${conf}`, `--stanza=${STANZA}`, ...args],
    uid,
    gid,
    cwd: "/tmp",
    stdin: "null",
  } as Deno.CommandOptions).output();
  const out = new TextDecoder().decode(r.stdout) + new TextDecoder().decode(r.stderr);
  if (!r.success) throw new Error(`pgbackrest ${args.join(" ")} failed: ${out}`);
  return out;
}

async function one<T>(node: TestNode, fn: (sql: ReturnType<TestNode["sql"]>) => Promise<T>): Promise<T> {
  const sql = node.sql();
  try {
    return await fn(sql);
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/** A second member for `cluster`, from the first member's YAML, with `postgresql` keys merged in. */
async function addMember(cluster: TestCluster, name: string, postgresql: Record<string, unknown>) {
  const first = cluster.nodes[0]!;
  const cfg = parse(await Deno.readTextFile(first.configPath)) as Record<string, Record<string, unknown>>;
  const pgPort = freePort();
  const apiPort = freePort();
  const dataDir = `${cluster.dir}/${name}`;
  cfg.name = name as unknown as Record<string, unknown>;
  cfg.restapi = { listen: `127.0.0.1:${apiPort}`, connect_address: `127.0.0.1:${apiPort}` };
  Object.assign(cfg.postgresql!, {
    listen: `127.0.0.1:${pgPort}`,
    connect_address: `127.0.0.1:${pgPort}`,
    data_dir: dataDir,
    ...postgresql,
  });
  const path = `${cluster.dir}/${name}.yml`;
  await Deno.writeTextFile(path, stringify(cfg));
  const node = new TestNode(name, path, dataDir, pgPort, apiPort);
  cluster.nodes.push(node);
  return node;
}

Deno.test({
  name:
    "pgBackRest through the agent: replica method with fallback list, and a new cluster bootstrapped from the repo",
  ignore: !available(),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "pgwarden-pgbr-it-" });
    await Deno.chmod(root, 0o755);
    const user = pgUser();
    const conf = `${root}/pgbackrest.conf`;
    for (const d of ["repo", "log", "lock"]) {
      await Deno.mkdir(`${root}/${d}`);
      await Deno.chown(`${root}/${d}`, user.uid, user.gid);
    }
    // Runs once after the restored cluster is up, as the PostgreSQL user, with the superuser URL.
    const postBootstrap = `${root}/post_bootstrap.sh`;
    await Deno.writeTextFile(
      postBootstrap,
      `#!/bin/sh\nexec ${PG_BIN}/psql "$1" -Atqc "CREATE TABLE post_bootstrap_ran()"\n`,
      { mode: 0o755 },
    );
    const clusters: TestCluster[] = [];
    try {
      const src = await startCluster({
        nodes: 1,
        scope: `pgbr-src-${crypto.randomUUID().slice(0, 6)}`,
        node: () => ({
          extra: {
            postgresql: {
              parameters: {
                archive_mode: "on",
                archive_command: `${PGBACKREST} --config=${conf} --stanza=${STANZA} archive-push %p`,
              },
            },
          },
        }),
      });
      clusters.push(src);
      const primary = src.nodes[0]!;
      // pgBackRest's view of the source: its data directory, port and socket (pgwarden's default /tmp).
      await Deno.writeTextFile(
        conf,
        [
          "[global]",
          `repo1-path=${root}/repo`,
          `log-path=${root}/log`,
          `lock-path=${root}/lock`,
          "log-level-console=info",
          "log-level-file=off",
          "compress-type=none",
          "start-fast=y",
          `[${STANZA}]`,
          `pg1-path=${primary.dataDir}`,
          `pg1-port=${primary.pgPort}`,
          "pg1-socket-path=/tmp",
        ].join("\n") + "\n",
      );
      await Deno.chmod(conf, 0o644);
      await src.waitFor("source primary", async () => (await primary.role()) === "primary", 60_000);

      await one(
        primary,
        (sql) => sql`CREATE TABLE t (v text); INSERT INTO t VALUES ('before backup')`.simple(),
      );
      await pgbackrest(conf, "stanza-create");
      await pgbackrest(conf, "--type=full", "backup");
      // Written after the backup: only replaying the archive brings it back.
      const walAfter = await one(primary, async (sql) => {
        await sql`INSERT INTO t VALUES ('after backup')`;
        const [r] = await sql`SELECT pg_walfile_name(pg_current_wal_lsn()) AS w`;
        await sql`SELECT pg_switch_wal()`;
        return String(r!.w);
      });
      await src.waitFor("WAL archived", () =>
        one(primary, async (sql) => {
          const [r] = await sql`SELECT coalesce(last_archived_wal, '') AS w FROM pg_stat_archiver`;
          return String(r!.w) >= walAfter;
        }), 30_000);

      // A replica of the source: the pgbackrest method first (a Patroni section, no running source needed),
      // basebackup only as the fallback.
      const replica = await addMember(src, "node2", {
        create_replica_methods: ["pgbackrest", "basebackup"],
        pgbackrest: {
          command: `${PGBACKREST} --config=${conf} --stanza=${STANZA} --type=standby --delta restore`,
          keep_data: true,
          no_params: true,
          no_leader: true,
          "pg1-path": `${src.dir}/node2`,
        },
      });
      replica.start();
      await src.waitHealthy(2, 90_000);
      const rlog = replica.logs.join("\n");
      assert.match(rlog, /Creating replica with method "pgbackrest"/);
      assert.match(rlog, /restore command end: completed successfully/, "pgBackRest's own output is logged");
      assert.doesNotMatch(rlog, /Creating replica with method "basebackup"/);
      await one(primary, (sql) => sql`INSERT INTO t VALUES ('streamed')`);
      await src.waitFor("the replica streams new rows", () =>
        one(replica, async (sql) => {
          const [r] = await sql`SELECT count(*)::int AS n FROM t WHERE v = 'streamed'`;
          return r!.n === 1;
        }), 30_000);
      const srcSysid = ((await primary.api("/patroni")).body as { database_system_identifier?: string })
        .database_system_identifier;

      // A new cluster restored from the repository by the pgbackrest plugin.
      const restored = await startCluster({
        nodes: 1,
        scope: `pgbr-new-${crypto.randomUUID().slice(0, 6)}`,
        node: () => ({
          extra: {
            bootstrap: { method: "pgbackrest", post_bootstrap: postBootstrap },
            plugins: [{
              module: "pgbackrest",
              config: { stanza: STANZA, executable: PGBACKREST, config_file: conf },
            }],
            postgresql: { authentication: { rewind: { username: "rewinder", password: "rewind-pass" } } },
          },
        }),
      });
      clusters.push(restored);
      const b = restored.nodes[0]!;
      await restored.waitFor("restored cluster's primary", () => restored.leader(), 90_000);
      const blog = b.logs.join("\n");
      assert.match(blog, /Running custom bootstrap method "pgbackrest"/);
      assert.match(blog, /starting after custom bootstrap/);
      assert.match(blog, /restore command end: completed successfully/);
      assert.doesNotMatch(blog, /Initialising a new cluster with initdb/);
      await one(b, async (sql) => {
        const rows = await sql`SELECT v FROM t ORDER BY v`;
        assert.deepEqual(rows.map((r) => r.v), ["after backup", "before backup"]);
        // Our roles were created (the rewind user did not exist in the source), post_bootstrap ran, and the
        // restore's recovery settings are gone from postgresql.auto.conf.
        const [role] = await sql`SELECT count(*)::int AS n FROM pg_roles WHERE rolname = 'rewinder'`;
        assert.equal(role!.n, 1);
        const [pb] = await sql`SELECT to_regclass('post_bootstrap_ran') IS NOT NULL AS ok`;
        assert.equal(pb!.ok, true);
        const [rc] = await sql`SELECT count(*)::int AS n FROM pg_file_settings
          WHERE sourcefile LIKE '%postgresql.auto.conf' AND name = 'restore_command'`;
        assert.equal(rc!.n, 0);
        await sql`INSERT INTO t VALUES ('only in the new cluster')`;
      });
      const st = (await b.api("/patroni")).body as {
        role: string;
        timeline?: number;
        database_system_identifier?: string;
      };
      assert.equal(st.role, "primary");
      // It replayed the archive and promoted: a new timeline, the source's system identifier.
      assert.ok((st.timeline ?? 0) >= 2, `timeline ${st.timeline}`);
      assert.equal(st.database_system_identifier, srcSysid);
      // The two clusters are independent.
      await one(primary, async (sql) => {
        const [r] = await sql`SELECT count(*)::int AS n FROM t WHERE v = 'only in the new cluster'`;
        assert.equal(r!.n, 0);
      });
    } finally {
      for (const c of clusters.reverse()) await c.stop();
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
});
