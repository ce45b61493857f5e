/**
 * The desired `pg_dist_node` content, computed from the DCS view of every Citus group (pure).
 *
 * Group 0 is the coordinator: its primary is the reconciling node itself. A worker group is included only
 * while its leader key holder reports itself running as primary; a group in the middle of a failover keeps
 * its rows untouched (the catalog must never lose a worker because its leader is changing).
 */
import type { ClusterSnapshot, Member } from "../dcs/types.ts";
import { addrOfConnUrl, type DesiredGroup, type NodeAddr, sameAddr } from "./types.ts";

const PRIMARY_ROLES = new Set(["primary", "master"]);
const REPLICA_ROLES = new Set(["replica", "sync_standby", "quorum_standby"]);

export interface DesiredOptions {
  /** Register running replicas as `secondary` rows (`citus.secondaries`). */
  secondaries: boolean;
}

/** Running replicas that may serve reads: not the leader, running, not tagged `noloadbalance`. */
export function secondaryAddrs(s: ClusterSnapshot, leaderName: string | null): NodeAddr[] {
  const out: NodeAddr[] = [];
  for (const m of s.members) {
    if (m.name === leaderName || !isRunningReplica(m) || m.data.tags?.noloadbalance === true) continue;
    const a = addrOfConnUrl(m.data.conn_url);
    if (a && !out.some((o) => sameAddr(o, a))) out.push(a);
  }
  return out.sort((a, b) => a.host.localeCompare(b.host) || a.port - b.port);
}

function isRunningReplica(m: Member): boolean {
  return m.data.state === "running" && REPLICA_ROLES.has(String(m.data.role));
}

/** The leader of a worker group, when it runs as primary; null otherwise. */
export function runningPrimary(s: ClusterSnapshot): { name: string; addr: NodeAddr } | null {
  const name = s.leader?.name;
  if (!name) return null;
  const m = s.members.find((x) => x.name === name);
  if (!m || m.data.state !== "running" || !PRIMARY_ROLES.has(String(m.data.role))) return null;
  const addr = addrOfConnUrl(m.data.conn_url);
  return addr ? { name, addr } : null;
}

/**
 * Desired groups from the coordinator's snapshot (`coordinator` = group 0, `coordinator.groups` = workers).
 * `self` is the coordinator primary's own address and name (the reconciler runs there).
 */
export function desiredGroups(
  coordinator: ClusterSnapshot,
  self: { name: string; addr: NodeAddr },
  o: DesiredOptions,
): Map<number, DesiredGroup> {
  const out = new Map<number, DesiredGroup>();
  out.set(0, {
    group: 0,
    primary: self.addr,
    secondaries: o.secondaries
      ? secondaryAddrs(coordinator, self.name).filter((a) => !sameAddr(a, self.addr))
      : [],
  });
  for (
    const [g, s] of [...(coordinator.groups ?? new Map<number, ClusterSnapshot>())].sort((a, b) =>
      a[0] - b[0]
    )
  ) {
    if (g === 0) continue;
    const p = runningPrimary(s);
    if (!p) continue;
    out.set(g, {
      group: g,
      primary: p.addr,
      secondaries: o.secondaries ? secondaryAddrs(s, p.name).filter((a) => !sameAddr(a, p.addr)) : [],
    });
  }
  return out;
}
