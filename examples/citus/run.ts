/**
 * Runs the Citus example locally: etcd (unless one answers on 127.0.0.1:2379), six agents (coordinator group 0,
 * worker groups 1 and 2, two nodes each), optionally HAProxy, then waits until the coordinator's pg_dist_node
 * lists every group and prints it. Ctrl-C stops everything; data stays under data/citus.
 *
 *   deno run --allow-all examples/citus/run.ts [--haproxy] [--emulation]
 *
 * Citus must be installed for PostgreSQL 15. Without it, `--emulation` installs pgwarden's TEST emulation of
 * the Citus node functions (test/citus_emulation; not Citus: no distributed tables) so the HA and catalog
 * behaviour can still be watched.
 */
import postgres from "postgres";
import { apiPort, DATABASE, pgPort } from "./common.ts";
import { citusLibraryPaths } from "../../src/citus/library.ts";
import { startLocalEtcd } from "../../src/demo/local_etcd.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const DATA = `${ROOT}data/citus`;
const GROUPS = [0, 1, 2];
const NODES = GROUPS.flatMap((g) => [1, 2].map((i) => ({ g, i, name: `g${g}n${i}` })));
const args = new Set(Deno.args);
const say = (s: string) => console.log(`citus example: ${s}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function startEtcd(): Promise<Deno.ChildProcess | null> {
  return await startLocalEtcd("citus-example", `${DATA}/etcd`);
}

/** The member of `group` that leads it and runs, from any member's /cluster. */
async function leaderPort(group: number): Promise<number | null> {
  for (const i of [1, 2]) {
    try {
      const r = await fetch(`http://127.0.0.1:${apiPort(group, i)}/cluster`, {
        signal: AbortSignal.timeout(1000),
      });
      const members = (await r.json()).members as { role: string; state: string; port: number }[];
      const l = members.find((m) => m.role === "leader" && m.state === "running");
      if (l) return l.port;
    } catch {
      // try the other member
    }
  }
  return null;
}

function sql(port: number, database = DATABASE) {
  return postgres({
    host: "127.0.0.1",
    port,
    user: "postgres",
    pass: "postgres",
    database,
    max: 1,
    connect_timeout: 2,
    onnotice: () => {},
  });
}

async function query<T>(port: number, text: string): Promise<T[]> {
  const s = sql(port);
  try {
    return [...await s.unsafe(text)] as T[];
  } finally {
    await s.end({ timeout: 1 });
  }
}

async function main() {
  const installed = citusLibraryPaths("/usr/lib/postgresql/15/bin").some((p) => {
    try {
      return Deno.statSync(p).isFile;
    } catch {
      return false;
    }
  });
  let uninstall = async () => {};
  if (!installed && !args.has("--emulation")) {
    console.error(
      "citus example: Citus is not installed for PostgreSQL 15 (no citus.so). Install it (e.g. the " +
        "postgresql-15-citus package from Citus's repository), or run with --emulation to watch pgwarden " +
        "drive its test emulation of the Citus node functions instead.",
    );
    Deno.exit(1);
  }
  await Deno.mkdir(DATA, { recursive: true });
  if (!installed) {
    const { installCitusEmulation } = await import("../../test/citus_emulation/install.ts");
    const dir = await Deno.makeTempDir({ prefix: "pgwarden-citus-example-" });
    await Deno.chmod(dir, 0o755);
    const e = await installCitusEmulation(dir);
    uninstall = async () => {
      await e.uninstall();
      await Deno.remove(dir, { recursive: true });
    };
    say("Citus is not installed: using pgwarden's TEST emulation of its node functions (not Citus)");
  }
  const etcd = await startEtcd();
  const children: Deno.ChildProcess[] = [];
  for (const n of NODES) {
    const log = await Deno.open(`${DATA}/${n.name}.log`, { create: true, append: true });
    const child = new Deno.Command(`${ROOT}bin/pgwarden`, {
      args: [`${ROOT}examples/citus/${n.name}.ts`],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    for (const s of [child.stdout, child.stderr]) {
      (async () => {
        for await (const chunk of s) log.writeSync(chunk);
      })().catch(() => {});
    }
    children.push(child);
  }
  say(`started ${NODES.length} agents (logs in data/citus/<name>.log)`);
  if (args.has("--haproxy")) {
    children.push(
      new Deno.Command("haproxy", {
        args: ["-q", "-f", `${ROOT}examples/citus/haproxy.cfg`],
        stdout: "null",
        stderr: "null",
      }).spawn(),
    );
    say(
      "HAProxy: coordinator primary on 127.0.0.1:5000, coordinator replicas on 127.0.0.1:5001, stats :7000",
    );
  }

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    say("stopping");
    for (const c of children) {
      try {
        c.kill("SIGTERM");
      } catch { /* gone */ }
    }
    await Promise.all(children.map((c) => c.status));
    try {
      etcd?.kill("SIGTERM");
    } catch { /* Ctrl-C reached it first */ }
    await etcd?.status;
    await uninstall();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);

  const deadline = Date.now() + 300_000;
  let rows: Record<string, unknown>[] = [];
  let primariesAt: number | undefined;
  while (Date.now() < deadline) {
    await sleep(2000);
    const coordinator = await leaderPort(0);
    if (coordinator === null) continue;
    try {
      if (!installed) {
        // The emulation reaches other nodes through dblink (Citus has its own connections).
        await query(coordinator, "CREATE EXTENSION IF NOT EXISTS dblink");
      }
      rows = await query(
        coordinator,
        "SELECT groupid, nodename || ':' || nodeport AS node, noderole::text AS role FROM pg_dist_node ORDER BY 1, 3",
      );
    } catch {
      continue; // database or extension not there yet
    }
    const has = (role: string) =>
      GROUPS.every((g) => rows.some((r) => Number(r.groupid) === g && r.role === role));
    // Every primary, then (replicas clone a little later) every secondary, or a minute more at most.
    const current = rows.some((r) =>
      Number(r.groupid) === 0 && r.role === "primary" && r.node === `127.0.0.1:${coordinator}`
    );
    if (has("primary") && current) primariesAt ??= Date.now();
    if (primariesAt !== undefined && (has("secondary") || Date.now() - primariesAt > 60_000)) break;
  }
  console.table(rows);
  const coordinator = await leaderPort(0);
  console.log(
    `\nCoordinator: postgres://postgres:postgres@127.0.0.1:${coordinator ?? pgPort(0, 1)}/${DATABASE}`,
  );
  if (args.has("--haproxy")) {
    console.log(`Via HAProxy:  postgres://postgres:postgres@127.0.0.1:5000/${DATABASE}`);
  }
  console.log(`Members:     deno task ctl -c examples/citus/g0n1.ts list`);
  console.log(`Switchover:  deno task ctl -c examples/citus/g1n1.ts switchover --group 1`);
  say("running; press Ctrl-C to stop");
  await Promise.all(children.map((c) => c.status));
}

if (import.meta.main) await main();
