/**
 * Restart requests (`POST /restart`) as Patroni evaluates them (pure): the filters a node must match, and what
 * the HA loop does with a scheduled restart each cycle. A scheduled restart lives in the member key as
 * `scheduled_restart: {schedule, postmaster_start_time, ...filters}` until it runs, goes stale or is cancelled.
 */
import { postgresVersionToInt } from "../api/units.ts";
import type { RestartRequest } from "./status.ts";

/** What `scheduled_restart` holds (Patroni field names). */
export interface ScheduledRestart {
  schedule: string;
  /** The postmaster this request was made against; another postmaster means it restarted meanwhile. */
  postmaster_start_time?: string | null;
  role?: string;
  postgres_version?: string;
  restart_pending?: boolean;
  timeout?: number;
}

export function toScheduled(
  req: RestartRequest & { schedule: string },
  postmasterStartTime: string | null,
): ScheduledRestart {
  return {
    schedule: req.schedule,
    postmaster_start_time: postmasterStartTime,
    ...(req.role !== undefined ? { role: req.role } : {}),
    ...(req.postgresVersion !== undefined ? { postgres_version: req.postgresVersion } : {}),
    ...(req.restartPending !== undefined ? { restart_pending: req.restartPending } : {}),
    ...(req.timeoutS !== undefined ? { timeout: req.timeoutS } : {}),
  };
}

export function fromScheduled(s: ScheduledRestart): RestartRequest {
  return {
    schedule: s.schedule,
    ...(s.role !== undefined ? { role: s.role } : {}),
    ...(s.postgres_version !== undefined ? { postgresVersion: s.postgres_version } : {}),
    ...(s.restart_pending !== undefined ? { restartPending: s.restart_pending } : {}),
    ...(s.timeout !== undefined ? { timeoutS: s.timeout } : {}),
  };
}

/** The node facts the filters look at. */
export interface RestartFacts {
  /** primary, replica, standby_leader, ... */
  role: string;
  pendingRestart: boolean;
  /** server_version_num, e.g. 150004; null when unknown. */
  serverVersion: number | null;
}

/**
 * Why this node does not match the request's filters (Patroni restart_matches), or null when it does: a role
 * filter, `restart_pending` (only its presence counts), and `postgres_version` (restart only if older).
 */
export function restartFilterFailure(req: RestartRequest, f: RestartFacts): string | null {
  if (req.role && req.role !== f.role) return "restart conditions are not satisfied";
  if (req.restartPending !== undefined && !f.pendingRestart) return "restart conditions are not satisfied";
  if (req.postgresVersion && f.serverVersion !== null) {
    if (postgresVersionToInt(req.postgresVersion) <= f.serverVersion) {
      return "restart conditions are not satisfied";
    }
  }
  return null;
}

export type ScheduledStep =
  /** Not yet due within this loop. */
  | { kind: "wait"; inS: number }
  /** More than 1.5 × loop_wait late: drop it. */
  | { kind: "stale" }
  /** The postmaster restarted since the request: the restart already happened. */
  | { kind: "cancelled" }
  /** Due: run after `delayMs`. */
  | { kind: "run"; delayMs: number };

/** What to do with a scheduled restart in this cycle (Patroni evaluate_scheduled_restart). */
export function scheduledRestartStep(
  s: ScheduledRestart,
  nowMs: number,
  loopWaitS: number,
  postmasterStartTime: string | null,
): ScheduledStep {
  if (
    s.postmaster_start_time && postmasterStartTime && s.postmaster_start_time !== postmasterStartTime
  ) return { kind: "cancelled" };
  const at = Date.parse(s.schedule);
  if (!Number.isFinite(at)) return { kind: "stale" };
  const delta = at - nowMs;
  if (delta > loopWaitS * 1000) return { kind: "wait", inS: Math.round(delta / 1000) };
  if (delta < -Math.trunc(loopWaitS * 1.5) * 1000) return { kind: "stale" };
  return { kind: "run", delayMs: Math.max(0, delta) };
}
