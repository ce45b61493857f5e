/**
 * Compatibility with real Patroni: run Debian's Patroni 3.0.2 for one node against a real etcd (etcd3 API) and a
 * temp PostgreSQL 15 data dir, wait until it leads, then read the cluster with our Etcd3Dcs and check that every
 * key parses exactly as Patroni wrote it. Ignored (with a printed reason) when Patroni is not installed or we
 * cannot switch to the postgres OS user.
 */
import assert from "node:assert/strict";
import { Etcd3Dcs } from "../../src/dcs/etcd3.ts";
import type { ClusterSnapshot } from "../../src/dcs/types.ts";
import { freePort, startEtcd } from "../helpers/etcd.ts";

const PATRONI = "/usr/bin/patroni";
const BIN_DIR = "/usr/lib/postgresql/15/bin";
const OS_USER = "postgres";

function skipReason(): string | null {
  try {
    Deno.statSync(PATRONI);
  } catch {
    return `${PATRONI} is not installed`;
  }
  try {
    Deno.statSync(`${BIN_DIR}/postgres`);
  } catch {
    return `PostgreSQL 15 is not installed in ${BIN_DIR}`;
  }
  if (Deno.uid() !== 0) return "needs root to run Patroni as the postgres OS user";
  return null;
}

async function userIds(name: string): Promise<{ uid: number; gid: number }> {
  const out = await new Deno.Command("id", { args: ["-u", name] }).output();
  const gout = await new Deno.Command("id", { args: ["-g", name] }).output();
  if (!out.success || !gout.success) throw new Error(`no OS user ${name}`);
  return {
    uid: Number(new TextDecoder().decode(out.stdout)),
    gid: Number(new TextDecoder().decode(gout.stdout)),
  };
}

async function sysidOf(dataDir: string, ids: { uid: number; gid: number }): Promise<string> {
  const out = await new Deno.Command(`${BIN_DIR}/pg_controldata`, {
    args: ["-D", dataDir],
    ...ids,
    env: { LC_ALL: "C" },
  })
    .output();
  const m = /Database system identifier:\s+(\d+)/.exec(new TextDecoder().decode(out.stdout));
  if (!m) throw new Error(`pg_controldata: ${new TextDecoder().decode(out.stderr)}`);
  return m[1]!;
}

function signalGroup(pid: number, sig: Deno.Signal): void {
  try {
    Deno.kill(-pid, sig);
  } catch { /* group gone */ }
}

function alive(pid: number): boolean {
  try {
    Deno.kill(pid, "SIGCONT"); // signal 0 is not exposed; SIGCONT is harmless to a running process
    return true;
  } catch {
    return false;
  }
}

/** Kill the postmaster (Patroni starts it in its own session) recorded in postmaster.pid. */
async function killPostmaster(dataDir: string): Promise<void> {
  let pid: number;
  try {
    pid = Number((await Deno.readTextFile(`${dataDir}/postmaster.pid`)).split("\n")[0]);
  } catch {
    return;
  }
  if (!(pid > 1)) return;
  try {
    Deno.kill(pid, "SIGQUIT"); // immediate shutdown: the postmaster takes its children down
  } catch {
    return;
  }
  for (let i = 0; i < 50 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
  try {
    Deno.kill(pid, "SIGKILL");
  } catch { /* gone */ }
}

const reason = skipReason();
if (reason) console.log(`patroni_keys.test.ts ignored: ${reason}`);

Deno.test({
  name: "etcd3: keys written by real Patroni 3.0.2 parse as Patroni wrote them",
  ignore: reason !== null,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const etcd = await startEtcd();
    const dir = await Deno.makeTempDir({ prefix: "pgwarden-patroni-" });
    const dataDir = `${dir}/data`;
    const ids = await userIds(OS_USER);
    let patroni: Deno.ChildProcess | undefined;
    const dcs = new Etcd3Dcs({ hosts: [etcd.endpoint] }, {
      namespace: "/service",
      scope: "pk-test",
      name: "observer",
      ttlS: 20,
      loopWaitS: 2,
      retryTimeoutS: 5,
    });
    const log = `${dir}/patroni.log`;
    try {
      await Deno.chown(dir, ids.uid, ids.gid);
      const restPort = freePort();
      const pgPort = freePort();
      await Deno.writeTextFile(
        `${dir}/patroni.yml`,
        [
          "scope: pk-test",
          "namespace: /service/",
          "name: pnode1",
          "restapi:",
          `  listen: 127.0.0.1:${restPort}`,
          `  connect_address: 127.0.0.1:${restPort}`,
          "etcd3:",
          `  hosts: 127.0.0.1:${etcd.endpoint.split(":")[1]}`,
          "bootstrap:",
          "  dcs:",
          "    ttl: 20",
          "    loop_wait: 2",
          "    retry_timeout: 5",
          "    postgresql:",
          "      use_pg_rewind: false",
          "  initdb:",
          "  - encoding: UTF8",
          "postgresql:",
          `  listen: 127.0.0.1:${pgPort}`,
          `  connect_address: 127.0.0.1:${pgPort}`,
          `  data_dir: ${dataDir}`,
          `  bin_dir: ${BIN_DIR}`,
          `  pgpass: ${dir}/pgpass`,
          "  authentication:",
          "    superuser: {username: postgres, password: pk-secret}",
          "    replication: {username: replicator, password: pk-repl}",
          "  parameters:",
          `    unix_socket_directories: ${dir}`,
          "",
        ].join("\n"),
      );
      await Deno.chown(`${dir}/patroni.yml`, ids.uid, ids.gid);
      const out = await Deno.open(log, { create: true, write: true });
      const err = await Deno.open(log, { append: true });
      patroni = new Deno.Command(PATRONI, {
        args: [`${dir}/patroni.yml`],
        ...ids,
        cwd: dir,
        env: { HOME: dir, LC_ALL: "C.UTF-8", PATH: "/usr/bin:/bin" },
        clearEnv: true,
        detached: true, // own process group, so cleanup can signal Patroni and everything it forked
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      patroni.stdout.pipeTo(out.writable).catch(() => {});
      patroni.stderr.pipeTo(err.writable).catch(() => {});
      let exited = false;
      patroni.status.then(() => exited = true);

      // Wait until Patroni leads with a running primary and has published its status.
      let s: ClusterSnapshot | null = null;
      const deadline = Date.now() + 120_000;
      while (Date.now() < deadline && !exited) {
        try {
          s = await dcs.getCluster();
          const me = s.members.find((m) => m.name === "pnode1");
          if (s.leader?.name === "pnode1" && me?.data.state === "running" && s.status?.optime !== undefined) {
            break;
          }
        } catch { /* etcd busy */ }
        await new Promise((r) => setTimeout(r, 500));
      }
      const me = s?.members.find((m) => m.name === "pnode1");
      if (!s || s.leader?.name !== "pnode1" || me?.data.state !== "running") {
        const tail = (await Deno.readTextFile(log).catch(() => "")).split("\n").slice(-30).join("\n");
        throw new Error(
          `Patroni did not become leader (exited: ${exited}); last snapshot ${JSON.stringify(s)}\n${tail}`,
        );
      }

      assert.equal(s.leader!.name, "pnode1");
      assert.ok(s.leader!.session && s.leader!.session !== "0", "leader key is bound to a lease");
      assert.equal(me.session, s.leader!.session, "one lease per process: member and leader share it");
      assert.equal(me.data.conn_url, `postgres://127.0.0.1:${pgPort}/postgres`);
      assert.equal(me.data.api_url, `http://127.0.0.1:${restPort}/patroni`);
      assert.equal(me.data.state, "running");
      assert.equal(me.data.role, "master", "Patroni 3.0.2 still calls the primary master");
      assert.equal(me.data.version, "3.0.2");
      assert.equal(typeof me.data.xlog_location, "number");
      assert.ok(me.data.xlog_location! > 0);
      assert.equal(me.data.timeline, 1);
      assert.match(s.initialize ?? "", /^\d{10,}$/);
      assert.equal(
        s.initialize,
        await sysidOf(dataDir, ids),
        "initialize holds the data dir's system identifier",
      );
      assert.ok(s.config, "config key present");
      assert.equal(s.config.value.ttl, 20);
      assert.equal(s.config.value.loop_wait, 2);
      assert.equal(s.config.value.retry_timeout, 5);
      assert.deepEqual(s.config.value.postgresql, { use_pg_rewind: false });
      assert.ok(/^\d+$/.test(s.config.version));
      assert.equal(typeof s.status!.optime, "number");

      // Our lock logic respects Patroni's key: no acquire, renew or delete by another member.
      assert.equal(await dcs.attemptToAcquireLeader(), false);
      assert.equal(await dcs.updateLeader(s.leader!), false);
      assert.equal(await dcs.deleteLeader(s.leader), false);
      const after = await dcs.getCluster();
      assert.equal(after.leader?.name, "pnode1");
      assert.equal(after.leader?.session, s.leader!.session);
    } finally {
      await dcs.close().catch(() => {});
      if (patroni) {
        signalGroup(patroni.pid, "SIGTERM");
        const stopped = await Promise.race([
          patroni.status.then(() => true),
          new Promise<boolean>((r) => setTimeout(() => r(false), 15_000)),
        ]);
        if (!stopped) signalGroup(patroni.pid, "SIGKILL");
        await patroni.status;
        signalGroup(patroni.pid, "SIGKILL"); // anything left in Patroni's group
      }
      await killPostmaster(dataDir);
      await etcd.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
