/**
 * `POST /switchover`, `POST /failover`, `DELETE /switchover` (Patroni `do_POST_failover`). The checks run in
 * Patroni's order with its messages; an immediate request writes the `failover` key, wakes the HA loop and
 * polls the DCS until a new leader appears or the time budget is spent.
 */
import type { AgentControl } from "../agent/status.ts";
import type { DynamicConfig } from "../config/dynamic.ts";
import { clusterTimeline } from "../dcs/snapshot.ts";
import type { ClusterSnapshot, Member } from "../dcs/types.ts";
import type { Clock } from "../util/clock.ts";
import { activeFailover, dynamicOf } from "./cluster.ts";
import { type ApiRequest, type ApiResponse, errorResponse, readJsonObject, textResponse } from "./http.ts";
import { parseSchedule } from "./units.ts";
import { isStandbyCluster, nofailover, syncMatches } from "./view_facts.ts";

export type PeerStatusFetcher = (
  apiUrl: string,
  timeoutMs: number,
) => Promise<Record<string, unknown> | null>;

export interface SwitchoverDeps {
  clock: Clock;
  /** GET a member's `api_url` (its status document); null when it does not answer with JSON. */
  fetchStatus: PeerStatusFetcher;
}

/** Peers are polled with Patroni's hard 2 s limit: a slow node is most likely unhealthy. */
export const PEER_TIMEOUT_MS = 2000;

/** Plain `fetch` of a peer's status document. */
export function httpStatusFetcher(client?: Deno.HttpClient): PeerStatusFetcher {
  return async (url, timeoutMs) => {
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), ...(client ? { client } : {}) });
      const doc = await r.json();
      return doc && typeof doc === "object" && !Array.isArray(doc) ? doc as Record<string, unknown> : null;
    } catch {
      return null;
    }
  };
}

type Action = "switchover" | "failover";
const title = (a: Action) => a[0]!.toUpperCase() + a.slice(1);
/** `switch` / `fail`, as in "switched over" / "failed over". */
const verb = (a: Action) => a.slice(0, -4);

/** Why a polled candidate may not take over (Patroni `failover_limitation` plus lag/timeline checks). */
export function candidateLimitation(
  doc: Record<string, unknown> | null,
  ctx: { leaderOptime: number | null; maxLag: number; clusterTimeline: number | null },
): string | null {
  if (!doc) return "not reachable";
  const xlog = (doc.wal ?? doc.xlog) as Record<string, unknown> | undefined;
  if (!xlog || typeof xlog !== "object") return "not reachable";
  const tags = (doc.tags ?? {}) as Record<string, unknown>;
  if (nofailover(tags)) return "not allowed to promote";
  if (doc.watchdog_failed === true) return "not watchdog capable";
  const num = (v: unknown) => (typeof v === "number" ? v : 0);
  const lsn = Math.max(num(xlog.received_location), num(xlog.replayed_location));
  if (ctx.leaderOptime !== null && ctx.leaderOptime - lsn > ctx.maxLag) return "lagging";
  const tl = num(doc.timeline);
  if (ctx.clusterTimeline !== null && tl && tl < ctx.clusterTimeline) return "on an older timeline";
  return null;
}

/** Patroni `is_failover_possible` of the API: a message when no member could take over, else null. */
export async function failoverImpossible(
  s: ClusterSnapshot,
  dyn: DynamicConfig,
  leader: string | undefined,
  candidate: string | undefined,
  action: Action,
  deps: SwitchoverDeps,
): Promise<string | null> {
  if (leader && (!s.leader || s.leader.name !== leader)) return "leader name does not match";
  const prioritySync = dyn.synchronousMode === "on" && !isStandbyCluster(dyn);
  const sync = s.sync?.value;
  let members: Member[];
  if (candidate) {
    if (action === "switchover" && prioritySync && !syncMatches(sync, candidate)) {
      return "candidate name does not match with sync_standby";
    }
    members = s.members.filter((m) => m.name === candidate);
    if (!members.length) return "candidate does not exists";
  } else if (prioritySync) {
    members = s.members.filter((m) => syncMatches(sync, m.name));
    if (!members.length) return `${action} is not possible: can not find sync_standby`;
  } else {
    members = s.members.filter((m) => !s.leader || (m.name !== s.leader.name && !!m.data.api_url));
    if (!members.length) return `${action} is not possible: cluster does not have members except leader`;
  }
  // Lag and timeline only matter while a leader exists: a leaderless manual failover may promote anyone.
  const ctx = {
    leaderOptime: s.leader ? s.status?.optime ?? null : null,
    maxLag: dyn.maximumLagOnFailover,
    clusterTimeline: s.leader && dyn.checkTimeline ? clusterTimeline(s) || null : null,
  };
  const docs = await Promise.all(
    members.map((m) =>
      m.data.api_url ? deps.fetchStatus(m.data.api_url, PEER_TIMEOUT_MS) : Promise.resolve(null)
    ),
  );
  if (docs.some((d) => candidateLimitation(d, ctx) === null)) return null;
  return `${action} is not possible: no good candidates have been found`;
}

/** Poll the DCS once a second for up to `2*max(10, loop_wait)` s for the outcome of an immediate request. */
export async function pollFailoverResult(
  control: AgentControl,
  deps: SwitchoverDeps,
  req: { oldLeader: string | null; candidate: string | undefined; action: Action; loopWaitS: number },
): Promise<ApiResponse> {
  const { oldLeader, candidate, action } = req;
  const timeoutS = Math.max(10, req.loopWaitS);
  for (let i = 0; i < timeoutS * 2; i++) {
    await deps.clock.sleep(1000);
    let s: ClusterSnapshot;
    try {
      s = await control.dcs.getCluster();
    } catch {
      continue;
    }
    if (s.leader && s.leader.name !== oldLeader) {
      if (!candidate || candidate === s.leader.name) {
        return textResponse(200, `Successfully ${verb(action)}ed over to "${s.leader.name}"`);
      }
      return textResponse(
        200,
        `${title(action).slice(0, -4)}ed over to "${s.leader.name}" instead of "${candidate}"`,
      );
    }
    if (!activeFailover(s)) return textResponse(503, `${title(action)} failed`);
  }
  return textResponse(
    503,
    `${title(action)} status unknown after ${timeoutS * 2} seconds; operation may still be in progress`,
  );
}

/** `POST /switchover` and `POST /failover`. */
export async function postFailover(
  control: AgentControl,
  req: ApiRequest,
  requested: Action,
  deps: SwitchoverDeps,
): Promise<ApiResponse> {
  const body = readJsonObject(req);
  let action = requested;
  const str = (v: unknown) => (typeof v === "string" && v !== "" ? v : undefined);
  const leader = str(body.leader);
  const candidate = str(body.candidate) ?? str(body.member);
  const scheduledRaw = body.scheduled_at;
  let s: ClusterSnapshot;
  try {
    s = await control.dcs.getCluster();
  } catch (e) {
    return errorResponse(503, `DCS is not accessible: ${(e as Error).message}`);
  }
  const dyn = dynamicOf(s, control.view().dynamic);

  let status = 400;
  let message = "";
  let scheduledIso: string | undefined;
  if (action === "failover" && !candidate) {
    message = "Failover could be performed only to a specific candidate";
  } else if (action === "switchover" && !leader) {
    message = "Switchover could be performed only from a specific leader";
  }
  if (!message && scheduledRaw !== undefined && scheduledRaw !== null && scheduledRaw !== "") {
    if (action === "failover") message = "Failover can't be scheduled";
    else if (dyn.pause) message = "Can't schedule switchover in the paused state";
    else {
      const r = parseSchedule(scheduledRaw, action, deps.clock.now());
      if (r.ok) scheduledIso = r.iso;
      else {
        status = r.status;
        message = r.message;
      }
    }
  }
  if (!message && dyn.pause && !candidate) {
    message = "Switchover is possible only to a specific candidate in a paused state";
  }
  // A failover that names the current leader is a switchover.
  if (action === "failover" && leader) action = "switchover";
  if (!message && leader === candidate) message = "Switchover target and source are the same";
  if (!message && !scheduledIso) {
    const why = await failoverImpossible(s, dyn, leader, candidate, action, deps);
    if (why) {
      message = why;
      status = 412;
    }
  }
  if (message) return textResponse(status, message);

  const value = {
    ...(leader ? { leader } : {}),
    ...(candidate ? { member: candidate } : {}),
    ...(scheduledIso ? { scheduled_at: scheduledIso } : {}),
  };
  let written: boolean;
  try {
    written = await control.dcs.setFailoverValue(JSON.stringify(value));
  } catch {
    written = false;
  }
  if (!written) return textResponse(503, "failed to write failover key into DCS");
  control.wake();
  if (scheduledIso) return textResponse(202, `${title(action)} scheduled`);
  return await pollFailoverResult(control, deps, {
    oldLeader: s.leader?.name ?? null,
    candidate,
    action,
    loopWaitS: dyn.loopWait,
  });
}

/** `DELETE /switchover`: remove a scheduled switchover (CAS on the key version). */
export async function deleteSwitchover(control: AgentControl): Promise<ApiResponse> {
  let s: ClusterSnapshot;
  try {
    s = await control.dcs.getCluster();
  } catch (e) {
    return errorResponse(503, `DCS is not accessible: ${(e as Error).message}`);
  }
  const f = activeFailover(s);
  if (!f?.scheduled_at || !s.failover) return textResponse(404, "no switchover is scheduled");
  let ok: boolean;
  try {
    ok = await control.dcs.setFailoverValue("{}", s.failover.version);
  } catch {
    ok = false;
  }
  if (!ok) return errorResponse(409);
  control.wake();
  return textResponse(200, "scheduled switchover deleted");
}
