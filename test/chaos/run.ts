/**
 * One chaos run: a 3-member pgwarden cluster (real etcd + PostgreSQL 15), a writer and a write prober running
 * throughout, and seeded faults one at a time. After each fault:
 *
 * - durability: every acknowledged write is on the current primary. With `synchronous` (synchronous_mode +
 *   synchronous_mode_strict) this is checked after every fault. Without it (asynchronous replication, the
 *   default while the agent does not manage synchronous_standby_names) it is checked only where asynchronous
 *   replication guarantees it: the same member is primary on the same timeline as before the fault (no
 *   promotion happened); writes lost in a failover are counted and reported, not flagged;
 * - split brain: no probe instant at which two members accepted writes (see probe.ts for the definition);
 * - recovery: one primary and every replica streaming within ttl + 10 s of the fault's end.
 *
 * Every member runs with `watchdog: required` on the `testing` driver (unless `watchdog: false`), and the
 * harness plays the hardware (watchdog_hw.ts): a primary whose agent stops feeding it is reset (every process
 * of the member SIGKILLed, agent started again 2 s later), which is what keeps a frozen agent's PostgreSQL
 * from serving writes after its lock expired.
 *
 * Members live in their own network namespaces when ip netns works (root), so a partition is a real cut
 * of a member from etcd and its peers; otherwise partition faults are skipped with the reason printed.
 */
import { startCluster, type TestCluster, type TestNode } from "../helpers/cluster.ts";
import { startTcpProxy, type TcpProxy } from "../helpers/tcp_proxy.ts";
import { type FaultKind, inject, planFaults, type PlannedFault } from "./faults.ts";
import { createTestNetwork, netnsUnavailable, type TestNetwork } from "./netns.ts";
import { createChaosTables, missingOn, Prober, Writer } from "./probe.ts";
import { WatchdogHardware } from "./watchdog_hw.ts";

export interface ChaosOptions {
  faults: number;
  seed: number;
  /** Fault kinds to draw from (default: all). */
  only?: FaultKind[];
  ttl?: number;
  loopWait?: number;
  retryTimeout?: number;
  /** synchronous_mode + synchronous_mode_strict: check durability after every fault. */
  synchronous?: boolean;
  /**
   * Run with `watchdog: required` and the harness as the hardware (default). Without it a frozen primary
   * agent leaves its PostgreSQL accepting writes after the lock expired: expect split brains.
   */
  watchdog?: boolean;
  /** Stop injecting after the current fault (the run still cleans up and reports). */
  signal?: AbortSignal;
  /** Receives every report record (one JSON line each). */
  emit?: (rec: Record<string, unknown>) => void;
}

export interface FaultResult {
  index: number;
  kind: string;
  role: string;
  target: string | null;
  primaryBefore: string;
  primaryAfter: string | null;
  /** ms from the fault's end until one primary and all replicas streamed; null = not within the bound. */
  recoveredMs: number | null;
  acked: number;
  /** Acknowledged writes not on the primary after this fault (writes reported lost earlier excluded). */
  missing: number[];
  /** Whether `missing` is a violation (no promotion, or synchronous mode). */
  durabilityChecked: boolean;
  /** Watchdog resets during this fault. */
  resets: number;
  skipped?: string;
  violations: string[];
}

export interface ChaosResult {
  seed: number;
  faults: FaultResult[];
  splitBrains: number;
  violations: string[];
  partition: string;
  synchronous: boolean;
}

const exists = (path: string) => Deno.stat(path).then(() => true, () => false);

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * A watchdog reset: the machine dies at once and boots again 2 s later. In a namespace every process in it
 * dies (agent, postmaster, backends, a running pg_rewind); otherwise the agent and the postmaster.
 */
async function reset(n: TestNode, net: TestNetwork | null, i: number): Promise<void> {
  if (net) {
    for (const pid of await net.pids(i)) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* gone */ }
    }
  }
  n.killPostmaster();
  await n.killAgent();
  await sleep(2000);
  if (!n.proc) n.start();
}

async function status(n: TestNode): Promise<{ role?: string; timeline?: number } | null> {
  if (!n.proc) return null;
  try {
    const r = await fetch(`http://${n.host}:${n.apiPort}/patroni`, { signal: AbortSignal.timeout(1000) });
    return (await r.json()) as { role?: string; timeline?: number };
  } catch {
    return null;
  }
}

async function timelineOf(n: TestNode): Promise<number | null> {
  return (await status(n))?.timeline ?? null;
}

/** The primary's name when exactly one member is primary and the rest stream from it, else null. */
export async function healthyPrimary(cluster: TestCluster): Promise<string | null> {
  const roles = (await Promise.all(cluster.nodes.map(status))).map((s) => s?.role ?? null);
  const primaries = cluster.nodes.filter((_, i) => roles[i] === "primary");
  if (primaries.length !== 1) return null;
  const p = primaries[0]!;
  try {
    const r = await fetch(`http://${p.host}:${p.apiPort}/cluster`, { signal: AbortSignal.timeout(1000) });
    const members = ((await r.json()) as { members?: { name: string; role: string; state: string }[] })
      .members ?? [];
    const leaderOk = members.some((m) => m.name === p.name && m.role === "leader" && m.state === "running");
    const streaming = members.filter((m) => m.name !== p.name && m.state === "streaming").length;
    return leaderOk && streaming === cluster.nodes.length - 1 ? p.name : null;
  } catch {
    return null;
  }
}

async function waitHealthy(
  cluster: TestCluster,
  deadline: number,
  settled: () => Promise<boolean> = () => Promise.resolve(true),
): Promise<string | null> {
  while (Date.now() < deadline) {
    const p = (await settled()) ? await healthyPrimary(cluster) : null;
    if (p) return p;
    await sleep(200);
  }
  return null;
}

export async function runChaos(o: ChaosOptions): Promise<ChaosResult> {
  const ttl = o.ttl ?? 10;
  const synchronous = o.synchronous ?? false;
  const watchdog = o.watchdog ?? true;
  const emit = o.emit ?? (() => {});
  const unavailable = await netnsUnavailable();
  const plan = planFaults(o.seed, o.faults, o.only);
  emit({
    type: "start",
    seed: o.seed,
    faults: plan.map((f) => f.kind),
    ttl,
    synchronous_mode_strict: synchronous,
    watchdog: watchdog ? "required, harness-played hardware" : "off",
    durability: synchronous
      ? "after every fault"
      : "after faults without a promotion (asynchronous replication)",
    partition: unavailable ? `skipped: ${unavailable}` : "network namespaces (veth cut)",
  });

  let net: TestNetwork | null = null;
  let etcdFwd: TcpProxy | null = null;
  let cluster: TestCluster | null = null;
  const prober: { p: Prober | null; w: Writer | null } = { p: null, w: null };
  const hardware: WatchdogHardware[] = [];
  let hwDir: string | null = null;
  const result: ChaosResult = {
    seed: o.seed,
    faults: [],
    splitBrains: 0,
    violations: [],
    partition: unavailable ?? "netns",
    synchronous,
  };
  try {
    if (!unavailable) net = await createTestNetwork(3);
    hwDir = await Deno.makeTempDir({ prefix: "pgwarden-chaos-" });
    // Agents inside a namespace cannot reach a registry: give bin/pgwarden this very Deno binary on PATH.
    await Deno.mkdir(`${hwDir}/bin`);
    await Deno.symlink(Deno.execPath(), `${hwDir}/bin/deno`);
    const env = { PATH: `${hwDir}/bin:${Deno.env.get("PATH") ?? ""}` };
    const fifo = (i: number) => `${hwDir}/watchdog${i}`;
    const nodes: TestNode[] = [];
    for (let i = 0; watchdog && i < 3; i++) {
      hardware.push(await WatchdogHardware.create(fifo(i), () => reset(nodes[i]!, net, i)));
    }
    cluster = await startCluster({
      nodes: 3,
      ttl,
      loopWait: o.loopWait ?? 1,
      retryTimeout: o.retryTimeout ?? 3,
      dcs: synchronous ? { synchronous_mode: true, synchronous_mode_strict: true } : {},
      sequential: true,
      ...(net
        ? {
          etcdHosts: (etcd) => {
            etcdFwd ??= startTcpProxy({ port: Number(etcd.endpoint.split(":")[1]) }, {
              hostname: net!.gateway,
            });
            return [etcdFwd.endpoint];
          },
          hbaExtra: [
            `host all all ${net.gateway}/24 md5`,
            `host replication replicator ${net.gateway}/24 md5`,
          ],
        }
        : {}),
      node: (i) => ({
        env,
        extra: {
          ...(watchdog
            ? { watchdog: { mode: "required", driver: "testing", device: fifo(i), safety_margin: -1 } }
            : {}),
          // Peers' REST APIs are on other addresses than the agent's own: grant them explicitly.
          ...(net
            ? { permissions: { net: [0, 1, 2].filter((j) => j !== i).map((j) => net!.address(j)) } }
            : {}),
        },
        ...(net ? { host: net.address(i), wrap: net.wrap(i) } : {}),
      }),
    });
    const c = cluster;
    nodes.push(...c.nodes);
    const first = await waitHealthy(c, Date.now() + 120_000);
    if (!first) throw new Error(`cluster did not bootstrap\n${c.tail()}`);
    await createChaosTables(c.node(first));
    if (synchronous) await waitSyncStandby(c.node(first));
    prober.p = new Prober(c.nodes);
    prober.w = new Writer(c.nodes);
    prober.p.start();
    prober.w.start();
    await sleep(1000);

    let primary = first;
    /** Acknowledged writes already reported lost in a failover (asynchronous mode): not counted again. */
    const lost = new Set<number>();
    for (const [index, f] of plan.entries()) {
      if (o.signal?.aborted) break;
      const resetsBefore = hardware.reduce((a, h) => a + h.resets, 0);
      const startedAt = Date.now();
      const r = await runFault(c, net, unavailable, ttl, synchronous, index, f, primary, prober.w, lost);
      r.resets = hardware.reduce((a, h) => a + h.resets, 0) - resetsBefore;
      if (r.primaryAfter) primary = r.primaryAfter;
      result.faults.push(r);
      result.violations.push(...r.violations);
      emit({
        type: "fault",
        at: new Date(startedAt).toISOString(),
        seconds: Math.round((Date.now() - startedAt) / 100) / 10,
        ...r,
        missing: r.missing.slice(0, 20),
        missingCount: r.missing.length,
      });
      if (r.violations.length) {
        // What each member logged around the violation, so a failure can be diagnosed from the report.
        emit({ type: "violation_logs", index, kind: f.kind, logs: c.tail(80) });
      }
      if (r.recoveredMs === null) {
        // Give it more time so later faults still start from a healthy cluster (the violation stands).
        const late = await waitHealthy(c, Date.now() + 60_000);
        if (!late) throw new Error(`cluster did not recover after fault ${index} (${f.kind})\n${c.tail(40)}`);
        primary = late;
      }
    }
  } finally {
    await prober.p?.stop();
    await prober.w?.stop();
    if (cluster) {
      for (const n of cluster.nodes) n.signal("SIGCONT");
      await cluster.stop();
    }
    for (const h of hardware) await h.stop();
    if (hwDir) await Deno.remove(hwDir, { recursive: true }).catch(() => {});
    await (etcdFwd as TcpProxy | null)?.close();
    await net?.destroy();
  }
  const p = prober.p!;
  result.splitBrains = p.splitBrains.length;
  for (const s of p.splitBrains) {
    result.violations.push(`split brain at probe instant ${s.instant} (${s.at}): ${s.nodes.join(", ")}`);
    emit({ type: "violation", kind: "split_brain", ...s });
  }
  emit({
    type: "summary",
    seed: o.seed,
    faults: result.faults.length,
    skipped: result.faults.filter((f) => f.skipped).length,
    acked: prober.w!.acked.length,
    writeAttempts: prober.w!.attempts,
    probeInstants: p.instants,
    writableInstants: p.writableInstants,
    splitBrains: p.splitBrains.length,
    violations: result.violations.length,
  });
  return result;
}

/** Synchronous mode names a standby soon after bootstrap; start the writer only then. */
async function waitSyncStandby(primary: TestNode): Promise<void> {
  const sql = primary.sql({ socket: true });
  try {
    for (let i = 0; i < 150; i++) {
      const rows = await sql`SELECT 1 FROM pg_stat_replication WHERE sync_state IN ('sync', 'quorum')`;
      if (rows.length) return;
      await sleep(200);
    }
    throw new Error("no synchronous standby after 30 s");
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
}

async function runFault(
  c: TestCluster,
  net: TestNetwork | null,
  unavailable: string | null,
  ttl: number,
  synchronous: boolean,
  index: number,
  f: PlannedFault,
  primaryBefore: string,
  writer: Writer,
  lost: Set<number>,
): Promise<FaultResult> {
  const r: FaultResult = {
    index,
    kind: f.kind,
    role: f.role,
    target: null,
    primaryBefore,
    primaryAfter: null,
    recoveredMs: null,
    acked: 0,
    missing: [],
    durabilityChecked: false,
    resets: 0,
    violations: [],
  };
  if (f.kind === "partition" && unavailable) {
    r.skipped = unavailable;
    r.primaryAfter = primaryBefore;
    r.recoveredMs = 0;
    return r;
  }
  const replicas = c.nodes.filter((n) => n.name !== primaryBefore);
  const target = f.role === "primary" ? c.node(primaryBefore) : replicas[index % replicas.length]!;
  r.target = target.name;
  const timelineBefore = await timelineOf(c.node(primaryBefore));
  const pidBefore = target.postmasterPid();
  const ended = await inject({ cluster: c, net, ttlS: ttl, sleep }, f, target);
  const bound = (ttl + 10) * 1000;
  // Healthy is judged only once the fault's own effect is repaired, not on views that predate it.
  const settled = async () => {
    if (f.kind === "kill_agent") return (await status(target)) !== null;
    if (f.kind === "kill_postmaster" || f.kind === "remove_datadir") {
      const pid = target.postmasterPid();
      const cloned = f.kind === "kill_postmaster" || (await exists(`${target.dataDir}/PG_VERSION`));
      return cloned && pid !== null && pid !== pidBefore;
    }
    return true;
  };
  const p = await waitHealthy(c, ended + bound, settled);
  r.recoveredMs = p ? Date.now() - ended : null;
  r.primaryAfter = p;
  if (!p) r.violations.push(`fault ${index} (${f.kind} on ${target.name}): not healthy within ${bound} ms`);
  // Let the writer commit on the recovered primary before checking.
  await sleep(500);
  const checkOn = p ?? primaryBefore;
  r.acked = writer.acked.length;
  const acked = writer.acked.filter((id) => !lost.has(id));
  for (let attempt = 1;; attempt++) {
    try {
      r.missing = await missingOn(c.node(checkOn), acked);
      break;
    } catch (e) {
      if (attempt === 5) {
        r.violations.push(`fault ${index}: could not read acknowledged writes on ${checkOn}: ${e}`);
        break;
      }
      await sleep(1000);
    }
  }
  r.durabilityChecked = synchronous ||
    (p === primaryBefore && timelineBefore !== null && (await timelineOf(c.node(p))) === timelineBefore);
  if (!r.durabilityChecked) { for (const id of r.missing) lost.add(id); }
  if (r.missing.length && r.durabilityChecked) {
    r.violations.push(
      `fault ${index} (${f.kind} on ${target.name}): ${r.missing.length} acknowledged writes missing on ${checkOn}`,
    );
  }
  return r;
}
