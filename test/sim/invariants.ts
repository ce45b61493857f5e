/**
 * Safety properties checked after every simulation event. Each returns a description of the violation, or
 * null. They read the simulated world directly (store, fake PostgreSQL, agent memory), not what agents report.
 */
import type { SimCluster } from "../../src/sim/cluster.ts";

/**
 * Split brain: two members that both believe they hold the lock (lock validity not yet expired) while both
 * run as writable primaries at the same virtual instant.
 */
export function twoLeaders(c: SimCluster): string | null {
  const both = c.believers().filter((n) => n.pg.writable);
  return both.length > 1
    ? `two writable primaries believe they hold the lock: ${both.map((n) => n.name).join(", ")}`
    : null;
}

/**
 * Lease-backed leadership: a writable primary that believes it holds the lock must be named by the DCS leader
 * key (its local validity never outlives the lease), unless failsafe mode is keeping it primary while the DCS
 * is unreachable.
 */
export function unbackedLeader(c: SimCluster): string | null {
  const key = c.leaderName();
  for (const n of c.believers()) {
    if (!n.pg.writable || n.agent!.memory.failsafeActive) continue;
    if (key !== n.name) {
      const until = n.agent!.memory.leaderValidUntil - c.now();
      return `${n.name} believes it holds the lock for ${until} ms more while the leader key is ${
        key ?? "absent"
      }`;
    }
  }
  return null;
}

/**
 * Synchronous modes: no member starts writing (promotion, start as primary) without every commit some primary
 * acknowledged to a client, and no primary acknowledges commits on a history lacking earlier acknowledged ones.
 * A commit is acknowledged once the standbys `synchronous_standby_names` requires hold it (the fake PostgreSQL
 * tracks this per tick).
 */
export function lostAcknowledgedCommit(c: SimCluster): string | null {
  const v = c.world.durabilityViolations[0];
  return v ? `acknowledged commit lost: ${v}` : null;
}

export const SAFETY = [twoLeaders, unbackedLeader] as const;
