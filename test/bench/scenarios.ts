/**
 * The HA benchmark scenarios, run on one system (pgwarden or Patroni) with given timings. Each returns
 * figures; trials keep their individual values for the charts.
 */
import { startCluster, type TestCluster, type TestNode } from "../helpers/cluster.ts";
import { startConsulServer } from "../consul_server/server.ts";
import { startPatroniCluster } from "./patroni_cluster.ts";
import {
  cpuSeconds,
  createBenchTable,
  healthyPrimary,
  rssMiB,
  waitHealthy,
  watchDelete,
  WriteLoop,
} from "./workload.ts";

export type System = "pgwarden" | "patroni";

export interface Timings {
  ttl: number;
  loopWait: number;
  retryTimeout: number;
}

export interface Figure {
  scenario: string;
  metric: string;
  system: System;
  value: number;
  unit: string;
  /** Per-trial values (value = their mean). */
  trials?: number[];
  /** Lower is better (false: higher is better). */
  lowerIsBetter: boolean;
}

export interface RunOptions {
  timings: Timings;
  trials: { failover: number; switchover: number; crash: number };
  idleSeconds: number;
  wrkSeconds: number;
  log: (msg: string) => void;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

function start(system: System, t: Timings, dcsSection?: Record<string, unknown>): Promise<TestCluster> {
  return system === "pgwarden"
    ? startCluster({ nodes: 3, ...t, ...(dcsSection ? { dcsSection } : {}) })
    : startPatroniCluster({ ...t, ...(dcsSection ? { dcsSection } : {}) });
}

/** etcd's gRPC messages received from clients (unary requests and stream messages alike), per method. */
async function etcdMessages(clientUrl: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${clientUrl}/metrics`)).text();
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line.startsWith("grpc_server_msg_received_total{")) continue;
    const method = /grpc_method="(\w+)"/.exec(line)?.[1] ?? "?";
    out.set(method, (out.get(method) ?? 0) + Number(line.split(" ").pop()));
  }
  return out;
}

const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);

async function waitWritable(node: TestNode, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const sql = node.sql({ timeoutS: 1 });
    try {
      await sql`INSERT INTO bench_writes DEFAULT VALUES`;
      return;
    } catch {
      await sleep(100);
    } finally {
      await sql.end({ timeout: 0 }).catch(() => {});
    }
  }
  throw new Error(`${node.name} did not accept writes within ${timeoutMs} ms`);
}

export async function runSystem(system: System, o: RunOptions): Promise<Figure[]> {
  const t = o.timings;
  const out: Figure[] = [];
  const fig = (
    scenario: string,
    metric: string,
    value: number,
    unit: string,
    lower = true,
    trials?: number[],
  ) =>
    out.push({
      scenario,
      metric,
      system,
      value: round(value, 3),
      unit,
      lowerIsBetter: lower,
      ...(trials ? { trials: trials.map((x) => round(x, 3)) } : {}),
    });
  const t0 = performance.now();
  const cluster = await start(system, t);
  try {
    let primary = await waitHealthy(cluster, 180_000);
    fig("bootstrap", "3-node bootstrap", (performance.now() - t0) / 1000, "s");
    o.log(`${system}: bootstrapped in ${out.at(-1)!.value} s`);
    await createBenchTable(primary);
    await sleep(3000);

    // Idle: CPU and RSS of the agent processes, and etcd requests, over the same window.
    const pids = cluster.nodes.map((n) => n.proc!.pid);
    const cpu0 = pids.map(cpuSeconds);
    const msgs0 = await etcdMessages(cluster.etcd.clientUrl);
    await sleep(o.idleSeconds * 1000);
    const msgs1 = await etcdMessages(cluster.etcd.clientUrl);
    const cpuPerMin = pids.map((p, i) => (cpuSeconds(p) - cpu0[i]!) * 60 / o.idleSeconds);
    fig("idle", "idle agent CPU", mean(cpuPerMin), "cpu s/min", true, cpuPerMin);
    const rss = pids.map(rssMiB);
    fig("idle", "idle agent RSS", mean(rss), "MiB", true, rss);
    const cycles = o.idleSeconds / t.loopWait;
    fig(
      "dcs",
      "etcd requests per HA cycle per member",
      (total(msgs1) - total(msgs0)) / cycles / cluster.nodes.length,
      "req",
    );
    const perMethod = [...msgs1].map(([m, n]) =>
      `${m} ${((n - (msgs0.get(m) ?? 0)) / cycles / 3).toFixed(2)}`
    )
      .filter((x) => !x.endsWith(" 0.00"));
    o.log(`${system}: etcd messages per cycle per member by method: ${perMethod.join(", ")}`);
    o.log(`${system}: idle cpu ${mean(cpuPerMin).toFixed(3)} s/min, rss ${mean(rss).toFixed(1)} MiB`);

    // REST /primary under wrk.
    const wrk = await new Deno.Command("wrk", {
      args: ["-t2", "-c32", `-d${o.wrkSeconds}s`, "--latency", `http://127.0.0.1:${primary.apiPort}/primary`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(wrk.stdout);
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? NaN);
    const p99 = /\s99%\s+([\d.]+)(us|ms|s)/.exec(text);
    const p99ms = p99 ? Number(p99[1]) * ({ us: 0.001, ms: 1, s: 1000 }[p99[2] as "us" | "ms" | "s"]) : NaN;
    fig("rest", "REST /primary throughput", rps, "req/s", false);
    fig("rest", "REST /primary p99 latency", p99ms, "ms");
    o.log(`${system}: wrk ${rps} req/s, p99 ${p99ms} ms`);

    const writer = new WriteLoop(cluster);
    try {
      await sleep(1000);
      // Crash restart: kill -9 the primary's postmaster; the agent restarts it in place.
      const crash: number[] = [];
      for (let i = 0; i < o.trials.crash; i++) {
        const since = performance.now();
        primary.killPostmaster();
        await waitWritable(primary, t.ttl * 1000 + 60_000);
        crash.push((performance.now() - since) / 1000);
        primary = await waitHealthy(cluster, 120_000);
        await sleep(2000);
      }
      fig("crash_restart", "crash restart (writable again)", mean(crash), "s", true, crash);
      o.log(`${system}: crash restart ${crash.map((x) => x.toFixed(2)).join(", ")} s`);

      // Switchover: planned, through the REST API of the primary.
      const sw: number[] = [];
      for (let i = 0; i < o.trials.switchover; i++) {
        const candidate = cluster.nodes.find((n) => n !== primary)!;
        const since = performance.now();
        const r = await primary.api("/switchover", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ leader: primary.name, candidate: candidate.name }),
        });
        if (r.status !== 200) throw new Error(`${system} switchover refused: ${r.status} ${r.text}`);
        primary = await waitHealthy(cluster, 120_000);
        await sleep(2000);
        sw.push(writer.gapAfter(since) / 1000);
      }
      fig("switchover", "switchover write unavailability", mean(sw), "s", true, sw);
      o.log(`${system}: switchover ${sw.map((x) => x.toFixed(2)).join(", ")} s`);

      // Unplanned failover: kill -9 of the primary's postmaster and agent.
      const fo: number[] = [];
      const reaction: number[] = [];
      for (let i = 0; i < o.trials.failover; i++) {
        const old = primary;
        const stopWatch = new AbortController();
        const expired = watchDelete(
          cluster.etcd.clientUrl,
          `/service/${cluster.opts.scope}/leader`,
          stopWatch.signal,
        );
        expired.catch(() => {});
        await sleep(200); // the watch is registered
        const since = performance.now();
        old.killPostmaster();
        await old.killAgent();
        const next = await cluster.waitFor("a new primary", async () => {
          const h = await Promise.all(
            cluster.nodes.filter((n) => n !== old).map(async (n) => ({ n, r: await n.role() })),
          );
          return h.find((x) => x.r === "primary")?.n ?? null;
        }, t.ttl * 1000 + 60_000);
        await waitWritable(next, 30_000);
        await sleep(1500);
        fo.push(writer.gapAfter(since) / 1000);
        // From the moment etcd expired the dead leader's key to the first commit on the new primary.
        const expiredAt = await Promise.race([expired, sleep(100).then(() => null)]);
        stopWatch.abort();
        const firstCommit = expiredAt === null ? undefined : writer.commits.find((c) => c > expiredAt);
        if (expiredAt !== null && firstCommit !== undefined) reaction.push((firstCommit - expiredAt) / 1000);
        else o.log(`${system}: leader key expiry not observed in trial ${i + 1}`);
        old.start();
        primary = await waitHealthy(cluster, 180_000);
        await sleep(2000);
      }
      fig("failover", "failover write unavailability", mean(fo), "s", true, fo);
      fig("failover", "failover reaction after leader key expiry", mean(reaction), "s", true, reaction);
      o.log(`${system}: failover ${fo.map((x) => x.toFixed(2)).join(", ")} s (ttl ${t.ttl})`);
    } finally {
      await writer.stop();
    }
    if (!(await healthyPrimary(cluster))) o.log(`${system}: cluster not healthy at the end`);
  } finally {
    await cluster.stop();
  }
  return out;
}

/** DCS requests per HA cycle per member on Consul (the in-repo Consul test server counts requests). */
export async function consulRequests(system: System, o: RunOptions): Promise<Figure[]> {
  const server = await startConsulServer({ sessionTtlMinMs: 1000 });
  let cluster: TestCluster | null = null;
  try {
    cluster = await start(system, o.timings, { consul: { host: `127.0.0.1:${server.port}` } });
    await waitHealthy(cluster, 90_000);
    await sleep(3000);
    const before = server.requestCount;
    const pids = cluster.nodes.map((n) => n.proc!.pid);
    const cpu0 = pids.map(cpuSeconds);
    await sleep(o.idleSeconds / 2 * 1000);
    const n = server.requestCount - before;
    const cpuPerMin = pids.map((p, i) => (cpuSeconds(p) - cpu0[i]!) * 60 / (o.idleSeconds / 2));
    const cycles = o.idleSeconds / 2 / o.timings.loopWait;
    const value = n / cycles / cluster.nodes.length;
    o.log(`${system}: consul ${value.toFixed(2)} requests per cycle per member`);
    return [{
      scenario: "dcs",
      metric: "Consul requests per HA cycle per member",
      system,
      value: round(value, 3),
      unit: "req",
      lowerIsBetter: true,
    }, {
      scenario: "idle",
      metric: "idle agent CPU on Consul",
      system,
      value: round(mean(cpuPerMin), 3),
      unit: "cpu s/min",
      lowerIsBetter: true,
      trials: cpuPerMin.map((x) => round(x, 3)),
    }];
  } finally {
    await cluster?.stop();
    await server.close();
  }
}
