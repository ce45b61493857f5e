/**
 * `deno task bench:floors [--trials N] [--idle S]`: the floors under two issue-9 figures, measured on this
 * machine with the bench clusters' PostgreSQL settings, so a target can be checked against what PostgreSQL
 * and the runtime need before any agent code runs:
 *
 * - PostgreSQL promotion alone: a streaming standby of a standalone primary, `pg_promote(false)`, then an
 *   INSERT retried at once until accepted. No agent, no DCS; the floor of "failover reaction after leader
 *   key expiry" for any HA agent.
 * - The minimal HA cycle on Deno: every loop_wait one etcd request over `fetch` and one SQL statement over
 *   postgres.js in a bare process (floor_cycle.ts), its CPU seconds per minute; also each half alone.
 *
 * JSON lines on stdout, one per figure.
 */
import { parseArgs } from "node:util";
import postgres from "postgres";
import { PostgresManager } from "../../src/postgres/manager.ts";
import { parseListen } from "../../src/postgres/config_file.ts";
import { startEtcd } from "../helpers/etcd.ts";
import { cleanup, makeNodeConfig, makeTestRoot, SUPERUSER_PASSWORD } from "../helpers/pg.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { trials: { type: "string", default: "5" }, idle: { type: "string", default: "120" } },
});
const log = (m: string) => console.error(`[floors] ${m}`);
const HOST = "127.0.0.1";
// The bench clusters' settings (test/helpers/cluster.ts, test/bench/patroni_cluster.ts).
const parameters = { shared_buffers: "32MB", fsync: "off", wal_log_hints: "on", max_connections: 50 };

const root = await makeTestRoot("pgwarden-floors-");
const a = makeNodeConfig(root, "primary", { postgresql: { parameters } });
const b = makeNodeConfig(root, "standby", { postgresql: { parameters } });
const portA = parseListen(a.postgresql.listen).port;
const portB = parseListen(b.postgresql.listen).port;
const quiet = () => {};
const ma = new PostgresManager(a, { log: quiet });
const etcd = await startEtcd();
try {
  await ma.bootstrap();
  const promotions: number[] = [];
  for (let i = 0; i < Number(values.trials); i++) {
    const mb = new PostgresManager(b, { log: quiet });
    await mb.createReplica({ host: HOST, port: portA });
    if (!(await mb.start({ role: "replica", upstream: { host: HOST, port: portA }, timeoutS: 30 }))) {
      throw new Error("standby did not start");
    }
    for (;;) { // streaming, as the bench's replicas are when their leader dies
      if ((await mb.observe()).replicationState === "streaming") break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const conn = () =>
      postgres({
        host: HOST,
        port: portB,
        user: "postgres",
        pass: SUPERUSER_PASSWORD,
        database: "postgres",
        max: 1,
      });
    const ctl = conn();
    const writer = conn();
    await writer`SELECT 1`;
    await new Promise((r) => setTimeout(r, 1000));
    const t0 = performance.now();
    await ctl.unsafe("SELECT pg_promote(false)");
    for (;;) {
      try {
        await writer.unsafe("CREATE TABLE IF NOT EXISTS floor_probe (x int)");
        break;
      } catch { /* still in recovery */ }
    }
    promotions.push(performance.now() - t0);
    log(`promotion ${i + 1}: ${promotions.at(-1)!.toFixed(1)} ms`);
    await ctl.end();
    await writer.end();
    await mb.stop("immediate", 30);
    await mb.close();
    await mb.removeDataDirectory();
  }
  const mean = promotions.reduce((x, y) => x + y, 0) / promotions.length;
  console.log(JSON.stringify({
    figure: "PostgreSQL promotion alone (pg_promote to first accepted write)",
    unit: "ms",
    mean: Math.round(mean * 10) / 10,
    trials: promotions.map((x) => Math.round(x * 10) / 10),
  }));

  log(`minimal HA cycle, ${values.idle} s per variant (run one after another, the machine otherwise idle)`);
  for (const what of ["both", "etcd", "sql"]) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        "--v8-flags=--no-memory-reducer",
        new URL("./floor_cycle.ts", import.meta.url).pathname,
        etcd.clientUrl,
        String(portA),
        values.idle!,
        "2",
        what,
      ],
      env: { PGPASSWORD: SUPERUSER_PASSWORD },
      stderr: "inherit",
    }).output();
    const r = JSON.parse(new TextDecoder().decode(out.stdout)) as { what: string; cpuPerMin: number };
    console.log(JSON.stringify({
      figure: `minimal HA cycle on Deno every 2 s (${
        what === "both" ? "etcd fetch + SQL query" : what + " only"
      })`,
      unit: "cpu s/min",
      value: r.cpuPerMin,
    }));
  }
} finally {
  await ma.close();
  await etcd.stop();
  await cleanup(root, [a, b]);
}
