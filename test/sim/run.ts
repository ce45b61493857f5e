/**
 * One seeded simulation run: bootstrap a cluster from empty data directories, inject random faults for a
 * while, heal everything, and require convergence to one leader with every member following it. Safety
 * invariants are checked after every event. Everything random comes from the seed, so a failing seed replays
 * exactly: `deno task sim --seed S --verbose`.
 */
import type { DynamicConfigInput } from "../../src/config/dynamic.ts";
import { SimCluster } from "../../src/sim/cluster.ts";
import type { SimNode } from "../../src/sim/node.ts";
import { Prng } from "../../src/sim/prng.ts";
import { lostAcknowledgedCommit, SAFETY } from "./invariants.ts";

export type FaultKind =
  | "kill"
  | "pause"
  | "pg_crash"
  | "dcs_outage"
  | "dcs_partition"
  | "isolate"
  | "full_partition"
  | "slow_disk"
  | "switchover";

export const FAULT_KINDS: readonly FaultKind[] = [
  "kill",
  "pause",
  "pg_crash",
  "dcs_outage",
  "dcs_partition",
  "isolate",
  "full_partition",
  "slow_disk",
  "switchover",
];

export interface RunOptions {
  /** Member count. @default 3 */
  nodes?: number;
  /** Print every log line and fault as it happens. */
  verbose?: boolean;
  /** Where verbose output goes. @default console.log */
  print?: (line: string) => void;
  /** Only these fault kinds. @default all */
  faults?: readonly FaultKind[];
  /** Upper bound of the random number of faults per seed. @default 4 */
  maxFaults?: number;
  /** Force the simulated watchdog on or off. @default on in synchronous runs, else per seed */
  watchdog?: boolean;
  /**
   * Synchronous replication profile. Adds the durability invariant: no member may start writing without
   * every commit a primary acknowledged (checked in the fake PostgreSQL world). @default none (asynchronous)
   */
  sync?: SyncProfile;
}

export type SyncProfile = "on" | "strict" | "quorum" | "quorum_strict";
export const SYNC_PROFILES: readonly SyncProfile[] = ["on", "strict", "quorum", "quorum_strict"];

export interface RunResult {
  seed: number;
  ok: boolean;
  /** What went wrong, with the recent history of the run. */
  failure?: string;
  /** Virtual ms from healing to a stable converged cluster. */
  convergeMs?: number;
  /** Virtual seconds simulated. */
  virtualS: number;
  faults: string[];
  leaderChanges: number;
  /** Machines reset by their watchdog. */
  watchdogResets: number;
}

/** Timing profiles: Patroni defaults and shorter ones (all satisfy loop_wait + 2*retry_timeout <= ttl). */
const PROFILES: DynamicConfigInput[] = [
  { ttl: 30, loopWait: 10, retryTimeout: 10 },
  { ttl: 20, loopWait: 5, retryTimeout: 5 },
  { ttl: 10, loopWait: 2, retryTimeout: 3 },
  { ttl: 12, loopWait: 3, retryTimeout: 4 },
];

class Violation extends Error {
  override name = "Violation";
}

/** Recent lines kept for failure reports. */
class Tail {
  #lines: string[] = [];
  constructor(readonly max: number, readonly echo?: (l: string) => void) {}
  push(l: string): void {
    this.echo?.(l);
    this.#lines.push(l);
    if (this.#lines.length > this.max * 2) this.#lines = this.#lines.slice(-this.max);
  }
  text(): string {
    return this.#lines.slice(-this.max).join("\n");
  }
}

export async function runSeed(seed: number, opts: RunOptions = {}): Promise<RunResult> {
  const rng = new Prng(seed);
  const print = opts.print ?? ((l: string) => console.log(l));
  const tail = new Tail(120, opts.verbose ? print : undefined);
  const profile = rng.pick(PROFILES);
  const dcs: DynamicConfigInput = {
    ...profile,
    failsafeMode: rng.chance(0.3),
    checkTimeline: rng.chance(0.3),
    maximumLagOnFailover: rng.pick([1048576, 1048576, 262144, 16 * 1048576]),
    primaryStartTimeout: rng.pick([300, 300, 0, 20]),
  };
  const nodes = opts.nodes ?? 3;
  // Drawn only in synchronous runs, so asynchronous seeds replay as before.
  if (opts.sync) {
    dcs.synchronousMode = opts.sync.startsWith("quorum") ? "quorum" : "on";
    dcs.synchronousModeStrict = opts.sync.endsWith("strict");
    dcs.synchronousNodeCount = rng.int(1, Math.max(1, nodes - 1));
  }
  const priorities = Array.from({ length: nodes }, () => rng.pick([1, 1, 1, 2, 3]));
  const nofailover = rng.chance(0.15) ? rng.int(1, nodes) : 0;
  // A watchdog in half of the asynchronous runs and in every synchronous one: without it a frozen agent's
  // PostgreSQL keeps committing (with synchronous acks) after its lock expired, which no HA logic can undo.
  // Drawn from its own generator so the fault schedule of a seed does not depend on it.
  const watchdog = opts.watchdog ?? (opts.sync !== undefined || new Prng(seed ^ 0x5bd1e995).chance(0.5));
  const c = new SimCluster({
    nodes,
    dcs,
    tickMs: 200,
    watchdog,
    writeBytes: rng.pick([2048, 8192, 32768]),
    member: (i) => ({
      tags: i === nofailover ? { nofailover: true } : { failoverPriority: priorities[i - 1] },
    }),
    onDecision: opts.verbose
      ? (node, d) => {
        if (d.candidates.length) {
          const cands = d.candidates.map((v) => `${v.name}${v.rule ? `:${v.rule}` : ""}@${v.lsn ?? "?"}`)
            .join(" ");
          tail.push(`${node} [decision] ${d.code} ${d.action.type}: ${cands}`);
        }
      }
      : undefined,
    onLog: (node, line) => {
      if (opts.verbose || !line.includes(" DEBUG: ")) tail.push(`${node} ${line}`);
    },
  });
  c.world.trackDurability = opts.sync !== undefined;
  const checks = opts.sync ? [...SAFETY, lostAcknowledgedCommit] : SAFETY;
  const ttlMs = (profile.ttl ?? 30) * 1000;
  const loopMs = (profile.loopWait ?? 10) * 1000;
  const setup = `profile ${JSON.stringify(dcs)} priorities ${JSON.stringify(priorities)} nofailover ${
    nofailover || "-"
  } watchdog ${watchdog ? "on" : "off"}`;
  tail.push(`seed ${seed}: ${setup}`);
  const result: RunResult = { seed, ok: false, virtualS: 0, faults: [], leaderChanges: 0, watchdogResets: 0 };
  let lastLeader: string | null = null;
  c.onEvent = () => {
    for (const check of checks) {
      const v = check(c);
      if (v) throw new Violation(`${v}\n  at ${c.describe()}`);
    }
    const l = c.leaderName();
    if (l && l !== lastLeader) {
      if (lastLeader !== null) result.leaderChanges++;
      lastLeader = l;
      tail.push(`[sim] t=${c.elapsedS().toFixed(1)}s leader key -> ${l}`);
    }
  };

  const holds = new Holds();
  const heals: { at: number; label: string; heal: () => void }[] = [];
  const fault = (label: string, durationMs: number, heal: () => void) => {
    result.faults.push(`t=${c.elapsedS().toFixed(1)}s ${label} for ${(durationMs / 1000).toFixed(1)}s`);
    tail.push(`[sim] FAULT ${label} for ${(durationMs / 1000).toFixed(1)}s | ${c.describe()}`);
    heals.push({ at: c.now() + durationMs, label, heal });
  };
  const runHeals = (all: boolean) => {
    for (const h of [...heals]) {
      if (!all && h.at > c.now()) continue;
      heals.splice(heals.indexOf(h), 1);
      h.heal();
      tail.push(`[sim] HEAL ${h.label} | ${c.describe()}`);
    }
  };

  try {
    c.start();
    // Bootstrap from empty data directories.
    const bootBound = c.now() + 60_000 + 3 * loopMs;
    while (c.notConverged() !== null) {
      if (c.now() > bootBound) throw new Violation(`bootstrap did not converge: ${c.notConverged()}`);
      await c.advance(500);
    }

    // Fault phase.
    const faultKinds = opts.faults ?? FAULT_KINDS;
    const faultEnd = c.now() + rng.int(40, 100) * 1000;
    const count = rng.int(1, opts.maxFaults ?? 4);
    const times = Array.from({ length: count }, () => rng.int(0, faultEnd - c.now() - 5_000)).sort((a, b) =>
      a - b
    );
    const start = c.now();
    for (const t of times) {
      await advanceWithHeals(c, start + t, runHeals);
      inject(c, rng, holds, rng.pick(faultKinds), ttlMs, fault);
    }
    await advanceWithHeals(c, faultEnd, runHeals);

    // Heal everything and converge.
    runHeals(true);
    const healedAt = c.now();
    const bound = 4 * ttlMs + 12 * loopMs + 60_000;
    const stableMs = 2 * loopMs;
    let since: number | null = null;
    for (;;) {
      await c.advance(250);
      const why = c.notConverged();
      if (why === null) {
        since ??= c.now();
        if (c.now() - since >= stableMs) break;
      } else since = null;
      if (c.now() - healedAt > bound) {
        throw new Violation(`no convergence ${bound / 1000}s after healing: ${why}\n  at ${c.describe()}`);
      }
    }
    result.convergeMs = since! - healedAt;
    result.ok = true;
  } catch (e) {
    const what = e instanceof Violation
      ? e.message
      : `simulation error: ${e instanceof Error ? e.stack : String(e)}`;
    result.failure = `seed ${seed} FAILED at t=${c.elapsedS().toFixed(1)}s: ${what}\n` +
      `  setup: ${setup}\n  faults: ${result.faults.join("; ") || "none"}\n` +
      `  replay: deno task sim --seed ${seed} --verbose${replayFlags(opts)}\n` +
      `--- last log lines ---\n${tail.text()}`;
  } finally {
    result.virtualS = c.elapsedS();
    result.watchdogResets = c.watchdogResets;
    c.close();
  }
  return result;
}

/** The options that change what a seed does, as command-line flags. */
function replayFlags(o: RunOptions): string {
  return (o.nodes ? ` --nodes ${o.nodes}` : "") + (o.faults ? ` --faults ${o.faults.join(",")}` : "") +
    (o.maxFaults ? ` --max-faults ${o.maxFaults}` : "") + (o.sync ? ` --sync ${o.sync}` : "") +
    (o.watchdog !== undefined ? ` --watchdog ${o.watchdog ? "on" : "off"}` : "");
}

async function advanceWithHeals(
  c: SimCluster,
  until: number,
  runHeals: (all: boolean) => void,
): Promise<void> {
  while (c.now() < until) {
    await c.advanceTo(Math.min(until, c.now() + 500));
    runHeals(false);
  }
}

/** Reference-counted fault state, so overlapping faults on one resource heal only when the last one ends. */
class Holds {
  #n = new Map<string, number>();
  hold(key: string, apply: () => void, undo: () => void): () => void {
    const n = this.#n.get(key) ?? 0;
    if (n === 0) apply();
    this.#n.set(key, n + 1);
    return () => {
      const m = this.#n.get(key)! - 1;
      this.#n.set(key, m);
      if (m === 0) undo();
    };
  }
}

type FaultFn = (label: string, durationMs: number, heal: () => void) => void;

/** Inject one fault; about half of them aim at the current leader, where faults matter most. */
function inject(
  c: SimCluster,
  rng: Prng,
  holds: Holds,
  kind: FaultKind,
  ttlMs: number,
  fault: FaultFn,
): void {
  const leader = c.node(c.leaderName() ?? "");
  const target: SimNode = leader && rng.chance(0.5) ? leader : rng.pick(c.nodes);
  const dur = rng.int(5, 60) * 1000;
  const name = target.name;
  const cutDcs = () =>
    holds.hold(`dcs:${name}`, () => c.store.partition(name, true), () => c.store.partition(name, false));
  const cutPeers = () =>
    holds.hold(`peers:${name}`, () => c.isolate(name, true), () => c.isolate(name, false));
  switch (kind) {
    case "kill":
      if (!target.alive) return;
      target.kill();
      return fault(`kill ${name}`, dur, () => target.start());
    case "pause":
      if (!target.alive || target.gate.paused) return;
      target.pause();
      return fault(`pause agent ${name}`, ttlMs + rng.int(1, 20) * 1000, () => target.resume());
    case "pg_crash":
      if (!target.pg.proc) return;
      target.pg.crash();
      return fault(`postgres crash on ${name}`, 0, () => {});
    case "dcs_outage": {
      const mode = rng.pick(["hang", "refuse"] as const);
      const heal = holds.hold(
        "dcs",
        () => c.store.setAvailable(false, mode),
        () => c.store.setAvailable(true),
      );
      return fault(`DCS outage (${mode})`, dur, heal);
    }
    case "dcs_partition":
      return fault(`cut ${name} from DCS`, dur, cutDcs());
    case "isolate":
      return fault(`cut ${name} from peers`, dur, cutPeers());
    case "full_partition": {
      const a = cutDcs(), b = cutPeers();
      return fault(`cut ${name} from DCS and peers`, dur, () => {
        a();
        b();
      });
    }
    case "switchover": {
      // An operator asks for a switchover (POST /switchover writes the failover key).
      if (!leader) return;
      const candidate = rng.chance(0.7) ? rng.pick(c.nodes.filter((n) => n !== leader)).name : undefined;
      const value = { leader: leader.name, ...(candidate ? { member: candidate } : {}) };
      c.store.rawPut(`${c.prefix}/failover`, JSON.stringify(value));
      return fault(`switchover ${JSON.stringify(value)}`, 0, () => {});
    }
    case "slow_disk": {
      const factor = rng.pick([3, 10, 30]);
      const heal = holds.hold(`slow:${name}`, () => (target.pg.slow = factor), () => (target.pg.slow = 1));
      return fault(`slow disk x${factor} on ${name}`, dur, heal);
    }
  }
}
