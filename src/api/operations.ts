/**
 * Operations on this node: `POST|DELETE /restart`, `POST /reload`, `POST /reinitialize`, `POST /failsafe`,
 * `POST /citus` (and `/mpp`), `POST /sigterm`. Requests are validated here with Patroni's messages; the work is
 * done by the agent through `AgentControl`.
 */
import type { AgentControl, RestartRequest } from "../agent/status.ts";
import type { ClusterSnapshot } from "../dcs/types.ts";
import { type ApiRequest, type ApiResponse, errorResponse, readJsonObject, textResponse } from "./http.ts";
import { parseBool, parseIntUnit, parseSchedule, postgresVersionToInt } from "./units.ts";

const ROLES = ["primary", "standby_leader", "replica"];

/** `POST /restart`: optional body of filters; immediate restarts answer when done, scheduled ones 202. */
export async function postRestart(
  control: AgentControl,
  req: ApiRequest,
  nowMs: number,
): Promise<ApiResponse> {
  const body = readJsonObject(req, true);
  const view = control.view();
  if (view.paused && "schedule" in body) {
    return textResponse(500, "Can't schedule restart in the paused state");
  }
  const request: RestartRequest = {};
  for (const [k, v] of Object.entries(body)) {
    if (k === "schedule") {
      const r = parseSchedule(v, "restart", nowMs);
      if (!r.ok) return textResponse(r.status, r.message);
      request.schedule = r.iso;
    } else if (k === "role") {
      if (typeof v !== "string" || !ROLES.includes(v)) {
        return textResponse(400, "PostgreSQL role should be either primary, standby_leader, or replica");
      }
      request.role = v;
    } else if (k === "postgres_version") {
      try {
        postgresVersionToInt(String(v));
      } catch (e) {
        return textResponse(400, (e as Error).message);
      }
      request.postgresVersion = String(v);
    } else if (k === "timeout") {
      const t = parseIntUnit(v, "s");
      if (t === null || t <= 0) return textResponse(400, "Timeout should be a positive number of seconds");
      request.timeoutS = t;
    } else if (k === "restart_pending") {
      // Only the presence of the key counts (Patroni): `false` filters too.
      request.restartPending = true;
    } else {
      return textResponse(400, `Unknown filter for the scheduled restart: ${k}`);
    }
  }
  try {
    const r = await control.restart(request);
    return textResponse(r.status, r.message);
  } catch {
    return textResponse(400, "restart failed");
  }
}

/** `DELETE /restart`: cancel a scheduled restart (200, or 404 when none). */
export async function deleteRestart(control: AgentControl): Promise<ApiResponse> {
  const r = await control.cancelScheduledRestart();
  return textResponse(r.status, r.message);
}

/** `POST /reload`: re-read local configuration at the start of the next cycle (202). */
export async function postReload(control: AgentControl): Promise<ApiResponse> {
  const r = await control.reload();
  return textResponse(r.status, r.message);
}

/**
 * `POST /reinitialize`: refused on the leader or without a leader (checked on a fresh DCS read, like
 * Patroni); `force` lets the agent cancel a running task first.
 */
export async function postReinitialize(control: AgentControl, req: ApiRequest): Promise<ApiResponse> {
  const body = readJsonObject(req, true);
  const force = parseBool(body.force) === true;
  const fromLeader = parseBool(body.from_leader) === true;
  let s: ClusterSnapshot | null;
  try {
    s = await control.dcs.getCluster();
  } catch {
    s = control.view().cluster;
  }
  if (!s?.leader) return textResponse(503, "Cluster has no leader, can not reinitialize");
  if (s.leader.name === control.view().config.name) {
    return textResponse(503, "I am the leader, can not reinitialize");
  }
  const running = control.view().asyncAction;
  if (running && !force) return textResponse(503, `${running} already in progress`);
  const r = await control.reinitialize({ force, fromLeader });
  return textResponse(r.status, r.message);
}

/**
 * `POST /failsafe` from the primary while the DCS is down: a replica accepts (200 with our LSN in the `lsn`
 * header), a node running as primary refuses (500); 502 when failsafe mode is off.
 */
export function postFailsafe(control: AgentControl, req: ApiRequest): ApiResponse {
  if (!control.view().dynamic.failsafeMode) return errorResponse(502);
  const body = readJsonObject(req);
  if (typeof body.name !== "string" || !body.name) return errorResponse(400, 'expected a member "name"');
  const lsn = control.acceptFailsafe(body as Parameters<AgentControl["acceptFailsafe"]>[0]);
  if (lsn === null) return textResponse(500, "Running as a leader");
  return textResponse(200, "Accepted", { lsn: String(lsn) });
}

/** `POST /citus` (alias `/mpp`): worker events for the coordinator leader; always `OK` like Patroni. */
export async function postCitus(control: AgentControl, req: ApiRequest): Promise<ApiResponse> {
  const body = readJsonObject(req);
  if (!control.citusEvent) return textResponse(200, "OK");
  const r = await control.citusEvent(body);
  return textResponse(r.status, r.message);
}

/** `POST /sigterm`: kept for API compatibility; Patroni only acts on it in Windows test runs. */
export function postSigterm(): ApiResponse {
  return textResponse(202, "shutdown scheduled");
}
