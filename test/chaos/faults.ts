/**
 * The chaos run's fault kinds and their seeded schedule. Each fault is injected, held, and healed by
 * `inject`, which returns the instant the fault ended (recovery is measured from there).
 */
import { Prng } from "../../src/sim/prng.ts";
import type { TestCluster, TestNode } from "../helpers/cluster.ts";
import type { TestNetwork } from "./netns.ts";

export const FAULT_KINDS = [
  "kill_postmaster",
  "kill_agent",
  "stop_agent",
  "etcd_down",
  "partition",
  "remove_datadir",
] as const;
export type FaultKind = typeof FAULT_KINDS[number];

export interface PlannedFault {
  kind: FaultKind;
  /** Which role the target has when the fault starts. */
  role: "primary" | "replica";
}

/**
 * `count` faults from `seed`. The first ones are a shuffled full set of `only` (default: every kind), so any
 * run at least that long covers every kind; later ones are drawn at random from `only`.
 */
export function planFaults(
  seed: number,
  count: number,
  only: readonly FaultKind[] = FAULT_KINDS,
): PlannedFault[] {
  const rng = new Prng(seed);
  const kinds: FaultKind[] = [...only];
  for (let i = kinds.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [kinds[i], kinds[j]] = [kinds[j]!, kinds[i]!];
  }
  const out: PlannedFault[] = [];
  for (let i = 0; i < count; i++) {
    const kind = i < kinds.length ? kinds[i]! : rng.pick(only);
    const role = kind === "kill_agent" || kind === "partition"
      ? (rng.chance(0.5) ? "primary" : "replica")
      : kind === "remove_datadir"
      ? "replica"
      : "primary";
    out.push({ kind, role });
  }
  return out;
}

export interface FaultEnv {
  cluster: TestCluster;
  net: TestNetwork | null;
  ttlS: number;
  sleep(ms: number): Promise<void>;
}

/** Inject `f` on `target` (index `i` in the cluster), hold it, heal it; returns when it ended (ms epoch). */
export async function inject(env: FaultEnv, f: PlannedFault, target: TestNode): Promise<number> {
  const { cluster, ttlS, sleep } = env;
  const i = cluster.nodes.indexOf(target);
  switch (f.kind) {
    case "kill_postmaster":
      target.killPostmaster();
      return Date.now();
    case "kill_agent":
      await target.killAgent();
      await sleep(1000); // a supervisor's restart delay
      if (!target.proc) target.start();
      return Date.now();
    case "stop_agent":
      // Longer than ttl: the leader key expires while the agent is frozen and its PostgreSQL still runs.
      target.signal("SIGSTOP");
      try {
        await sleep((ttlS + 4) * 1000);
      } finally {
        target.signal("SIGCONT");
      }
      return Date.now();
    case "etcd_down":
      await cluster.etcd.shutdown();
      try {
        await sleep(2 * ttlS * 1000);
      } finally {
        await cluster.etcd.start();
      }
      return Date.now();
    case "partition": {
      const net = env.net!;
      await net.cut(i);
      try {
        await sleep((ttlS + 4) * 1000);
      } finally {
        await net.heal(i);
      }
      return Date.now();
    }
    case "remove_datadir":
      await Deno.remove(target.dataDir, { recursive: true });
      return Date.now();
  }
}
