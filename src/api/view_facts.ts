/**
 * Facts the REST API derives from the agent's view, shared by the status document, health checks, metrics
 * and /cluster. Pure functions; `now` is an input.
 */
import type { AgentView } from "../agent/status.ts";
import type { DynamicConfig } from "../config/dynamic.ts";
import type { ClusterSnapshot, SyncValue } from "../dcs/types.ts";

/** Patroni `is_standby_cluster`: a `standby_cluster` section with host, port or restore_command. */
export function isStandbyCluster(d: Pick<DynamicConfig, "standbyCluster">): boolean {
  const s = d.standbyCluster;
  return !!s && !!(s.host || s.port || s.restoreCommand);
}

/**
 * The cached DCS view as Patroni's `dcs.cluster`: usable for `ttl` seconds after the last successful read,
 * `null` afterwards (health checks then treat the DCS as unreachable).
 */
export function cachedCluster(view: AgentView, nowMs: number): ClusterSnapshot | null {
  if (!view.cluster || view.dcsLastSeen === null) return null;
  return view.dcsLastSeen * 1000 + view.dynamic.ttl * 1000 > nowMs ? view.cluster : null;
}

/** Patroni `is_leader()`: our lock is held and not yet expired locally. */
export function holdsLock(view: AgentView, nowMs: number): boolean {
  return view.isLeader && view.leaderValidUntil > nowMs;
}

/** `SyncState.matches`: the `sync` key names this member (case-insensitive); empty without a sync leader. */
export function syncMatches(
  sync: SyncValue | null | undefined,
  name: string,
  includeLeader = false,
): boolean {
  if (!sync?.leader) return false;
  const names = (sync.sync_standby ?? "").split(",").map((s) => s.trim().toLowerCase()).filter(Boolean);
  if (includeLeader) names.push(sync.leader.toLowerCase());
  return names.includes(name.toLowerCase());
}

const TAG_NAMES: Record<string, string> = {
  nofailover: "nofailover",
  failoverPriority: "failover_priority",
  noloadbalance: "noloadbalance",
  clonefrom: "clonefrom",
  replicatefrom: "replicatefrom",
  nosync: "nosync",
  syncPriority: "sync_priority",
  nostream: "nostream",
};
const BOOL_TAGS = ["clonefrom", "nofailover", "noloadbalance", "nosync", "nostream"];

/** Configured tags in Patroni's names: every tag as configured (`tags` query filters match these). */
export function configuredTags(tags: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(tags)) if (v !== undefined) out[TAG_NAMES[k] ?? k] = v;
  return out;
}

/**
 * Tags as published (Patroni `_filter_tags`): false boolean tags are left out, except `nofailover`/`nosync`
 * when the matching priority tag is set.
 */
export function publishedTags(tags: Record<string, unknown>): Record<string, unknown> {
  const all = configuredTags(tags);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(all)) {
    if (
      !BOOL_TAGS.includes(k) || v ||
      (k === "nofailover" && "failover_priority" in all) || (k === "nosync" && "sync_priority" in all)
    ) out[k] = v;
  }
  return out;
}

/** The effective tags of this node (the agent's value when it provides one, e.g. a temporary `nosync`). */
export function effectiveTags(view: AgentView): Record<string, unknown> {
  return view.effectiveTags ?? publishedTags(view.config.tags as Record<string, unknown>);
}

/** Patroni `_bool_tag`/`_priority_tag` over snake_case tags. */
export function nofailover(tags: Record<string, unknown>): boolean {
  if (tags.nofailover !== undefined && tags.nofailover !== null) return !!tags.nofailover;
  const p = toInt(tags.failover_priority);
  return p !== null && p <= 0;
}

export function failoverPriority(tags: Record<string, unknown>): number {
  if (tags.nofailover) return 0;
  return toInt(tags.failover_priority) ?? 1;
}

function toInt(v: unknown): number | null {
  if (typeof v === "number" && Number.isFinite(v)) return Math.round(v);
  if (typeof v === "string" && /^\s*[+-]?\d+\s*$/.test(v)) return Number(v);
  return null;
}

/** The sync/quorum standby flag for this node, as the status document reports it. */
export function syncRole(view: AgentView, nowMs: number): "sync_standby" | "quorum_standby" | null {
  const mode = view.dynamic.synchronousMode;
  if (mode === "off" || isStandbyCluster(view.dynamic)) return null;
  const cluster = cachedCluster(view, nowMs);
  if (!cluster || !syncMatches(cluster.sync?.value, view.config.name)) return null;
  return mode === "quorum" ? "quorum_standby" : "sync_standby";
}
