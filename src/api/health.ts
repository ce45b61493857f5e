/**
 * Health checks (Patroni `do_GET`, `do_GET_liveness`, `_readiness`) as pure functions of the agent view, the
 * request path and query, and `now`. They return status codes only; the router adds the status document.
 */
import type { AgentView } from "../agent/status.ts";
import { queryParam } from "./http.ts";
import { statusDocument } from "./status_doc.ts";
import { parseIntUnit } from "./units.ts";
import { cachedCluster, configuredTags, holdsLock, isStandbyCluster } from "./view_facts.ts";

type Code = 200 | 503;

/** Paths matched exactly by the DCS-dependent checks. */
const SYNC_PATHS = ["/sync", "/synchronous"];
const ASYNC_PATHS = ["/async", "/asynchronous"];
const READ_ONLY_SYNC_PATHS = ["/read-only-sync", "/read-only-synchronous"];

function xlogNumber(doc: ReturnType<typeof statusDocument>, key: string): number {
  const v = (doc.xlog as Record<string, unknown> | undefined)?.[key];
  return typeof v === "number" ? v : 0;
}

/** Leader LSN for lag checks: max(`status.optime` from the cached DCS view, WAL receiver latest_end_lsn). */
function leaderOptime(view: AgentView, nowMs: number): number {
  const cluster = cachedCluster(view, nowMs);
  return Math.max(cluster?.status?.optime ?? 0, view.pg?.inRecovery ? view.latestEndLsn ?? 0 : 0);
}

/**
 * The status code of a generic health check for `path` (`/` means `/primary`). Matching rules follow
 * Patroni: substring for leader/primary/replica/read-only/health paths, exact for sync/async/quorum paths.
 */
export function healthStatus(view: AgentView, rawPath: string, query: URLSearchParams, nowMs: number): Code {
  const path = rawPath === "/" ? "/primary" : rawPath;
  const doc = statusDocument(view, nowMs);
  const cluster = cachedCluster(view, nowMs);
  const tags = configuredTags(view.config.tags as Record<string, unknown>);

  const optime = leaderOptime(view, nowMs);
  const replayed = xlogNumber(doc, "replayed_location");
  const maxLag = parseIntUnit(queryParam(query, "lag") ?? null, "B") ?? Number.MAX_SAFE_INTEGER;
  const lagging = optime > 0 && optime > replayed + maxLag;
  const wantedState = queryParam(query, "replication_state");
  const stateMatches = wantedState ? doc.replication_state === wantedState : true;

  let replica: Code = !tags.noloadbalance && !lagging && doc.role === "replica" && doc.state === "running" &&
      stateMatches
    ? 200
    : 503;
  let leader: Code, primary: Code, standbyLeader: Code;
  if (!cluster && doc.pause) {
    // DCS unreachable while paused: trust the PostgreSQL role (the lock cannot be checked).
    leader = doc.role === "primary" || doc.role === "standby_leader" ? 200 : 503;
    primary = doc.role === "primary" ? 200 : 503;
    standbyLeader = doc.role === "standby_leader" ? 200 : 503;
  } else if (holdsLock(view, nowMs)) {
    leader = 200;
    if (isStandbyCluster(view.dynamic)) {
      primary = replica = 503;
      standbyLeader = doc.role === "replica" || doc.role === "standby_leader" ? 200 : 503;
    } else {
      primary = 200;
      standbyLeader = 503;
    }
  } else {
    leader = primary = standbyLeader = 503;
  }

  let code: Code = 503;
  let ignoreTags = false;
  if (path.includes("standby_leader") || path.includes("standby-leader")) {
    code = standbyLeader;
    ignoreTags = true;
  } else if (path.includes("leader")) {
    code = leader;
    ignoreTags = true;
  } else if (path.includes("master") || path.includes("primary") || path.includes("read-write")) {
    code = primary;
    ignoreTags = true;
  } else if (path.includes("replica")) {
    code = replica;
  } else if (path.includes("read-only") && !path.includes("sync") && !path.includes("quorum")) {
    code = primary === 200 || standbyLeader === 200 ? 200 : replica;
  } else if (path.includes("health")) {
    code = doc.state === "running" ? 200 : 503;
  } else if (cluster) {
    const quorum = doc.quorum_standby === true;
    const sync = doc.sync_standby === true;
    const writable = primary === 200 || standbyLeader === 200;
    if (SYNC_PATHS.includes(path) && sync) code = replica;
    else if (path === "/quorum" && quorum) code = replica;
    else if (ASYNC_PATHS.includes(path) && !sync && !quorum) code = replica;
    else if (path === "/read-only-quorum") code = writable ? 200 : quorum ? replica : 503;
    else if (READ_ONLY_SYNC_PATHS.includes(path)) code = writable ? 200 : sync ? replica : 503;
  }

  if (!ignoreTags && code === 200) {
    for (const [key, value] of query) {
      if (!key.startsWith("tag_") || value === "") continue;
      const tag = tags[key.slice(4)];
      if (tag === undefined || tag === null) return 503;
      const text = typeof tag === "string" ? tag : String(tag).toLowerCase();
      if (text !== value) return 503;
    }
  }
  return code;
}

/**
 * `GET /liveness`: 200 while paused or while the HA loop is not overdue — `ttl` past the next planned run on a
 * running primary, `2*ttl` elsewhere. No SQL.
 */
export function livenessStatus(view: AgentView, nowMs: number): Code {
  const runningPrimary = view.role === "primary" && !!view.pg?.running;
  const thresholdMs = view.dynamic.ttl * 1000 * (runningPrimary ? 1 : 2);
  return view.paused || view.nextRunAt + thresholdMs > nowMs ? 200 : 503;
}

/**
 * `GET /readiness` (Patroni 4.1): the leader is ready; otherwise PostgreSQL must run, stream, and be within
 * `lag` (default `maximum_lag_on_failover`) of the leader, measured on replayed WAL (`mode=apply`) or
 * received WAL (`mode=write`). Returns the failure reason, or null when ready.
 */
export function readinessFailure(view: AgentView, query: URLSearchParams, nowMs: number): string | null {
  if (holdsLock(view, nowMs)) return null;
  if (view.state !== "running") return "PostgreSQL is not running";
  const doc = statusDocument(view, nowMs);
  if (doc.replication_state !== "streaming") return "PostgreSQL replication state is not streaming";
  const cluster = cachedCluster(view, nowMs);
  const latestEnd = view.latestEndLsn ?? 0;
  if (!cluster && !latestEnd) return view.failsafeActive ? null : "DCS is not accessible";
  const optime = Math.max(cluster?.status?.optime ?? 0, latestEnd);
  const mode = queryParam(query, "mode") === "write" ? "write" : "apply";
  const location = xlogNumber(doc, mode === "write" ? "received_location" : "replayed_location");
  const lag = optime - location;
  const maxLag = parseIntUnit(queryParam(query, "lag") ?? null, "B") ?? view.dynamic.maximumLagOnFailover;
  return lag > maxLag ? `Replication ${mode} lag ${lag} exceeds maximum allowable ${maxLag}` : null;
}

export function readinessStatus(view: AgentView, query: URLSearchParams, nowMs: number): Code {
  return readinessFailure(view, query, nowMs) === null ? 200 : 503;
}
