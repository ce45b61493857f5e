/**
 * The Citus metadata pgwarden manages: rows of `pg_dist_node` as read from the coordinator, the state they
 * should have (derived from the DCS), and the catalog operations that get from one to the other.
 */

/** A PostgreSQL address as registered in `pg_dist_node` (`nodename`, `nodeport`). */
export interface NodeAddr {
  host: string;
  port: number;
}

/** Citus's `noderole` enum. */
export type NodeRole = "primary" | "secondary" | "unavailable";

/** One `pg_dist_node` row (the columns pgwarden reads). */
export interface PgDistNode extends NodeAddr {
  nodeid: number;
  groupid: number;
  role: NodeRole;
}

/** What one group's rows should be: its primary, and (with `citus.secondaries`) its running replicas. */
export interface DesiredGroup {
  group: number;
  primary: NodeAddr;
  secondaries: NodeAddr[];
}

/**
 * One catalog call, with the Citus SQL function it maps to:
 * - `add`: `citus_add_node(host, port, group, role, 'default')`
 * - `set_coordinator`: `citus_set_coordinator_host(host, port, 'primary', 'default')` (group 0's primary)
 * - `update`: `citus_update_node(nodeid, host, port, true, cooldown)`: rows keep their nodeid
 * - `remove`: `citus_remove_node(host, port)`
 */
export type CatalogStep =
  | { op: "add"; group: number; role: "primary" | "secondary"; host: string; port: number }
  | { op: "set_coordinator"; host: string; port: number }
  | { op: "update"; nodeid: number; host: string; port: number; why: string }
  | { op: "remove"; host: string; port: number };

/** Steps for one group, applied in one transaction (no reader ever sees a half-moved group). */
export interface GroupBatch {
  group: number;
  steps: CatalogStep[];
}

export interface CatalogPlan {
  /** Per-group transactions, lowest group first. */
  batches: GroupBatch[];
  /**
   * Secondary rows nobody wants any more. Removed one by one after the batches, each allowed to fail (Citus
   * refuses while a metadata node is down); the next pass tries again.
   */
  removals: Extract<CatalogStep, { op: "remove" }>[];
  /** Why a group could not be planned this pass (an address it needs is held by another group's primary). */
  blocked: string[];
}

export const sameAddr = (a: NodeAddr, b: NodeAddr): boolean => a.host === b.host && a.port === b.port;
export const addrText = (a: NodeAddr): string => `${a.host}:${a.port}`;

/** `host`/`port` of a member's `conn_url` (`postgres://host:port/db`); null when absent or malformed. */
export function addrOfConnUrl(url: string | undefined): NodeAddr | null {
  if (!url) return null;
  try {
    const u = new URL(url.replace(/^postgres(ql)?:/, "http:"));
    const host = decodeURIComponent(u.hostname.replace(/^\[(.*)\]$/, "$1"));
    if (!host) return null;
    return { host, port: u.port ? Number(u.port) : 5432 };
  } catch {
    return null;
  }
}

/** A `host:port` connect address (IPv6 in brackets) as a NodeAddr. */
export function addrOfHostPort(s: string): NodeAddr | null {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(s.trim());
  return m ? { host: (m[1] ?? m[2])!, port: Number(m[3]) } : null;
}
