/** `GET /cluster`, `GET /history`, `GET /failsafe` (Patroni `cluster_as_json` and friends). */
import type { AgentControl } from "../agent/status.ts";
import { type DynamicConfig, fromPatroniDynamic } from "../config/dynamic.ts";
import type { ClusterSnapshot, Member } from "../dcs/types.ts";
import { type ApiResponse, errorResponse, jsonResponse } from "./http.ts";
import { formatLsn } from "./units.ts";
import { cachedCluster, isStandbyCluster, syncMatches } from "./view_facts.ts";

export interface ClusterMemberJson {
  name: string;
  role: "leader" | "standby_leader" | "sync_standby" | "quorum_standby" | "replica";
  state: string;
  api_url?: string;
  host?: string;
  port?: number;
  timeline?: number;
  pending_restart?: boolean;
  pending_restart_reason?: Record<string, unknown>;
  scheduled_restart?: Record<string, unknown>;
  tags?: Record<string, unknown>;
  receive_lsn?: string;
  receive_lag?: number | "unknown";
  replay_lsn?: string;
  replay_lag?: number | "unknown";
  lsn?: string;
  lag?: number | "unknown";
}

export interface ClusterJson {
  members: ClusterMemberJson[];
  scope?: string;
  pause?: true;
  scheduled_switchover?: { at: string; from?: string; to?: string };
  /**
   * pgwarden addition on a Citus coordinator: the worker groups, by group number (`members` above is group
   * 0). Patroni's `/cluster` shows the own group only; clients that do not know the key ignore it.
   */
  citus_groups?: (ClusterJson & { group: number })[];
}

/** The cluster-wide settings in effect for a snapshot: its `config` key if valid, else `fallback`. */
export function dynamicOf(s: ClusterSnapshot, fallback: DynamicConfig): DynamicConfig {
  if (!s.config) return fallback;
  try {
    return fromPatroniDynamic(s.config.value);
  } catch {
    return fallback;
  }
}

/** `host`/`port` of a member's `conn_url` (`postgres://host:port/db`). */
export function memberHostPort(m: Member): { host?: string; port?: number } {
  const url = m.data.conn_url;
  if (!url) return {};
  try {
    const u = new URL(url.replace(/^postgres(ql)?:/, "http:"));
    const host = u.hostname.replace(/^\[(.*)\]$/, "$1");
    if (!host) return {};
    return { host, ...(u.port ? { port: Number(u.port) } : {}) };
  } catch {
    return {};
  }
}

/** A failover key that requests something (Patroni treats `{}` as no failover). */
export function activeFailover(s: ClusterSnapshot) {
  const f = s.failover?.value;
  return f && (f.leader || f.member || f.candidate || f.scheduled_at) ? f : null;
}

/** Patroni `cluster_as_json`: members sorted by name with role, state, LSNs and lags. */
export function clusterAsJson(s: ClusterSnapshot, fallback: DynamicConfig): ClusterJson {
  const dyn = dynamicOf(s, fallback);
  const standby = isStandbyCluster(dyn);
  const syncMode = !standby && dyn.synchronousMode !== "off";
  const syncRoleName = dyn.synchronousMode === "quorum" ? "quorum_standby" : "sync_standby";
  const leaderName = s.leader?.name ?? null;
  const clusterLsn = s.status?.optime ?? 0;
  const members = s.members.map((m): ClusterMemberJson => {
    const role: ClusterMemberJson["role"] = m.name === leaderName
      ? (standby ? "standby_leader" : "leader")
      : syncMode && syncMatches(s.sync?.value, m.name)
      ? syncRoleName
      : "replica";
    const state = (role !== "leader" ? m.data.replication_state ?? "" : "") || (m.data.state ?? "");
    const out: ClusterMemberJson = {
      name: m.name,
      role,
      state,
      api_url: m.data.api_url,
      ...memberHostPort(m),
    };
    for (
      const k of [
        "timeline",
        "pending_restart",
        "pending_restart_reason",
        "scheduled_restart",
        "tags",
      ] as const
    ) {
      if (m.data[k] !== undefined) (out as unknown as Record<string, unknown>)[k] = m.data[k];
    }
    if (m.name !== leaderName) {
      const lsns = { receive_: m.data.receive_lsn, replay_: m.data.replay_lsn, "": m.data.xlog_location };
      for (const [prefix, lsn] of Object.entries(lsns)) {
        const rec = out as unknown as Record<string, unknown>;
        if (!lsn) {
          rec[`${prefix}lsn`] = rec[`${prefix}lag`] = "unknown";
        } else {
          rec[`${prefix}lag`] = clusterLsn >= lsn ? clusterLsn - lsn : 0;
          rec[`${prefix}lsn`] = formatLsn(lsn);
        }
      }
    }
    return out;
  });
  members.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const ret: ClusterJson = { members };
  if (dyn.pause) ret.pause = true;
  const f = activeFailover(s);
  if (f?.scheduled_at) {
    ret.scheduled_switchover = {
      at: f.scheduled_at,
      ...(f.leader ? { from: f.leader } : {}),
      ...(f.member ?? f.candidate ? { to: (f.member ?? f.candidate)! } : {}),
    };
  }
  return ret;
}

async function freshCluster(control: AgentControl): Promise<ClusterSnapshot | ApiResponse> {
  try {
    return await control.dcs.getCluster();
  } catch (e) {
    return errorResponse(503, `DCS is not accessible: ${(e as Error).message}`);
  }
}

const isResponse = (v: unknown): v is ApiResponse => typeof (v as ApiResponse).status === "number";

/** `GET /cluster`: read fresh from the DCS. */
export async function getCluster(control: AgentControl): Promise<ApiResponse> {
  const s = await freshCluster(control);
  if (isResponse(s)) return s;
  const view = control.view();
  const out: ClusterJson = { ...clusterAsJson(s, view.dynamic), scope: view.config.scope };
  if (s.groups?.size) {
    out.citus_groups = [...s.groups].sort(([a], [b]) => a - b)
      .map(([group, g]) => ({ group, ...clusterAsJson(g, view.dynamic) }));
  }
  return jsonResponse(200, out);
}

/** `GET /history`: the cached view when fresh, else a DCS read. */
export async function getHistory(control: AgentControl, nowMs: number): Promise<ApiResponse> {
  let s: ClusterSnapshot | ApiResponse | null = cachedCluster(control.view(), nowMs);
  if (!s) s = await freshCluster(control);
  if (isResponse(s)) return s;
  return jsonResponse(200, s.history?.value ?? []);
}

/** `GET /failsafe`: `{member: api_url}` from the last DCS read, 502 when failsafe mode is off. */
export function getFailsafe(control: AgentControl): ApiResponse {
  const view = control.view();
  const map = view.cluster?.failsafe;
  if (!view.dynamic.failsafeMode || !map || typeof map !== "object") return errorResponse(502);
  return jsonResponse(200, map);
}
