/**
 * The Citus emulation behaves like Citus 13.0 where pgwarden depends on it (see README.md): checked on two
 * real PostgreSQL 15 servers (a "coordinator" and a "worker").
 */
import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert/strict";
import postgres from "postgres";
import { tolerateWritesAfterServerClose } from "../../src/postgres/write_after_close.ts";
import { installCitusEmulation } from "./install.ts";
import { freePort } from "../helpers/pg.ts";

// postgres.js on Deno: a write racing the server closing the connection must not end the process.
tolerateWritesAfterServerClose();

const BIN = "/usr/lib/postgresql/15/bin";
const opts = { sanitizeOps: false, sanitizeResources: false };

async function asPostgres(cmd: string, args: string[]): Promise<void> {
  const out = await new Deno.Command("runuser", { args: ["-u", "postgres", "--", `${BIN}/${cmd}`, ...args] })
    .output();
  if (!out.success) throw new Error(`${cmd} failed: ${new TextDecoder().decode(out.stderr)}`);
}

async function startServer(dir: string, name: string) {
  const data = `${dir}/${name}`;
  const port = freePort();
  await asPostgres("initdb", ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync"]);
  await asPostgres("pg_ctl", [
    "-D",
    data,
    "-w",
    "-l",
    `${dir}/${name}.log`,
    "-o",
    `-p ${port} -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off`,
    "start",
  ]);
  return { data, port };
}

const connect = (port: number, database = "postgres") =>
  postgres({ host: "127.0.0.1", port, user: "postgres", database, max: 1, onnotice: () => {} });

Deno.test(
  "Citus emulation: node functions, the address conflict, shard locks with cooldown, removal checks",
  opts,
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "pgwarden-citus-emul-" });
    await Deno.chmod(dir, 0o755);
    const id = async (flag: string) =>
      Number(
        new TextDecoder().decode(
          (await new Deno.Command("id", { args: [flag, "postgres"] }).output()).stdout,
        ),
      );
    await Deno.chown(dir, await id("-u"), await id("-g"));
    const emulation = await installCitusEmulation(dir);
    const servers: { data: string }[] = [];
    const clients: postgres.Sql[] = [];
    try {
      const coord = await startServer(dir, "coord");
      servers.push(coord);
      const worker = await startServer(dir, "worker");
      servers.push(worker);
      for (const s of [coord, worker]) {
        const admin = connect(s.port);
        await admin`CREATE DATABASE citus`;
        await admin.end();
        const c = connect(s.port, "citus");
        await c`CREATE EXTENSION dblink`;
        await c`CREATE EXTENSION citus`;
        await c.end();
      }
      const w = connect(worker.port, "citus");
      clients.push(w);
      await w`CREATE TABLE acked(id int)`;
      const sql = connect(coord.port, "citus");
      clients.push(sql);
      await sql`SELECT citus_set_coordinator_host('127.0.0.1', ${coord.port})`;
      const [{ id }] = await sql`SELECT citus_add_node('127.0.0.1', ${worker.port}, 1) AS id`;
      // Adding a known node returns its id; a second primary in a group is refused.
      assertEquals((await sql`SELECT citus_add_node('127.0.0.1', ${worker.port}, 1) AS id`)[0]!.id, id);
      await rejects(
        sql`SELECT citus_add_node('localhost', ${worker.port}, 1)`,
        /group 1 already has a primary node/,
      );
      // A secondary pointing at an address nobody answers on.
      await sql`SELECT citus_add_node('127.0.0.2', 1, 1, 'secondary')`;
      await rejects(
        sql`SELECT citus_update_node(${id}, '127.0.0.2', 1)`,
        /there is already another node with the specified hostname and port/,
      );

      // A distributed statement lands on the primary pg_dist_node names.
      await sql`SELECT citus_emulation.run_on_group(1, 'INSERT INTO acked VALUES (1)')`;
      assertEquals((await w`SELECT count(*)::int AS n FROM acked`)[0]!.n, 1);

      // citus_update_node of the primary waits for an open distributed transaction, then (force) ends it.
      // (psql: a terminated session is then an exit status, not a client library's socket error)
      const holder = new Deno.Command(`${BIN}/psql`, {
        args: [
          `postgresql://postgres@127.0.0.1:${coord.port}/citus`,
          "-v",
          "ON_ERROR_STOP=1",
          "-c",
          "BEGIN; SELECT citus_emulation.run_on_group(1, 'INSERT INTO acked VALUES (2)'); SELECT pg_sleep(5); COMMIT;",
        ],
        stdout: "null",
        stderr: "null",
      }).output();
      await new Promise((r) => setTimeout(r, 500));
      const blocked = connect(coord.port, "citus");
      clients.push(blocked);
      let done = false;
      let pending: Promise<unknown> = Promise.resolve();
      const t0 = Date.now();
      await sql.begin(async (tx) => {
        await tx`SELECT citus_update_node(${id}, '127.0.0.1-demoted', ${worker.port}, true, 500)`;
        const waited = Date.now() - t0;
        assert(waited >= 450 && waited < 3000, `waited ${waited} ms for the shard lock`);
        // While this transaction is open, new distributed statements of group 1 wait.
        pending = blocked`SELECT citus_emulation.run_on_group(1, 'INSERT INTO acked VALUES (3)')`.then(() => {
          done = true;
        });
        await new Promise((r) => setTimeout(r, 300));
        assertEquals(done, false);
        await tx`SELECT citus_update_node(${id}, '127.0.0.1', ${worker.port}, true, 500)`;
      });
      await pending; // continues once the update committed, against the primary it now names
      // Terminated after the cooldown. (Its remote INSERT 2 stays: the emulation runs remote statements in
      // autocommit, without Citus's 2PC, so only acknowledged-implies-committed is modelled.)
      assertEquals((await holder).success, false);
      await new Promise((r) => setTimeout(r, 300));
      assertEquals((await w`SELECT array_agg(id ORDER BY id) AS ids FROM acked`)[0]!.ids, [1, 2, 3]);

      // Removing a worker primary is refused; removing a secondary needs every metadata node up.
      await rejects(sql`SELECT citus_remove_node('127.0.0.1', ${worker.port})`, /only shard placement/);
      await asPostgres("pg_ctl", ["-D", worker.data, "-m", "immediate", "stop"]);
      await rejects(sql`SELECT citus_remove_node('127.0.0.2', 1)`, /connection to the remote node/);
      assertEquals((await sql`SELECT count(*)::int AS n FROM pg_dist_node`)[0]!.n, 3);
    } finally {
      for (const c of clients) await c.end({ timeout: 1 }).catch(() => {});
      for (const s of servers) {
        await asPostgres("pg_ctl", ["-D", s.data, "-m", "immediate", "stop"]).catch(
          () => {},
        );
      }
      await emulation.uninstall();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
);
