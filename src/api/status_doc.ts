/**
 * The status document (Patroni `get_postgresql_status` + `_write_status_response`): the body of every health
 * check and of `GET /patroni`, and what peers read during leader races. Built purely from the agent view.
 */
import type { AgentView } from "../agent/status.ts";
import type { ReplicationRow } from "../postgres/port.ts";
import { PGWARDEN_VERSION } from "./version.ts";
import { cachedCluster, effectiveTags, isStandbyCluster, syncRole } from "./view_facts.ts";

export interface StatusDocument {
  state: string;
  postmaster_start_time?: string | null;
  role: string;
  server_version?: number;
  xlog?:
    | { location: number }
    | {
      received_location: number;
      replayed_location: number;
      replayed_timestamp: string | null;
      paused: boolean;
    };
  sync_standby?: true;
  quorum_standby?: true;
  timeline?: number;
  replication_state?: string;
  replication?: Pick<
    ReplicationRow,
    "usename" | "application_name" | "client_addr" | "state" | "sync_state" | "sync_priority"
  >[];
  pause?: true;
  cluster_unlocked?: true;
  failsafe_mode_is_active?: true;
  dcs_last_seen: number;
  tags?: Record<string, unknown>;
  database_system_identifier?: string;
  pending_restart?: true;
  pending_restart_reason?: Record<string, unknown>;
  patroni: { version: string; scope: string; name: string };
  scheduled_restart?: Record<string, unknown>;
  watchdog_failed?: true;
}

/** States in which Patroni queries PostgreSQL for the document. */
const QUERYABLE = new Set(["running", "restarting", "starting"]);

/** Patroni 4 role names; older internal names are mapped (`master` → `primary`). */
function roleName(role: string): string {
  return role === "master" ? "primary" : role;
}

/** The full status document for `GET /patroni` and health check bodies. */
export function statusDocument(view: AgentView, nowMs: number): StatusDocument {
  const pg = view.pg;
  const queryable = QUERYABLE.has(view.state) && !!pg && pg.running && pg.accepting && pg.inRecovery !== null;
  let doc: StatusDocument;
  if (queryable) {
    const replica = pg.inRecovery === true;
    let role = replica ? "replica" : "primary";
    if (replica && isStandbyCluster(view.dynamic) && view.role === "standby_leader") role = "standby_leader";
    doc = {
      state: view.state,
      postmaster_start_time: pg.postmasterStartTime,
      role,
      ...(pg.serverVersion !== null ? { server_version: pg.serverVersion } : {}),
      xlog: replica
        ? {
          received_location: pg.receiveLsn ?? pg.replayLsn ?? 0,
          replayed_location: pg.replayLsn ?? 0,
          replayed_timestamp: pg.replayedTimestamp,
          paused: pg.replayPaused,
        }
        : { location: pg.xlogLocation },
    } as StatusDocument;
    if (role === "replica") {
      const sync = syncRole(view, nowMs);
      if (sync) doc[sync] = true;
    }
    if (pg.timeline !== null) doc.timeline = pg.timeline;
    if (replica && pg.replicationState) doc.replication_state = pg.replicationState;
    if (pg.replication.length) {
      doc.replication = pg.replication.map((r) => ({
        usename: r.usename,
        application_name: r.application_name,
        client_addr: r.client_addr,
        state: r.state,
        sync_state: r.sync_state,
        sync_priority: r.sync_priority,
      }));
    }
  } else {
    doc = {
      state: view.state === "running" ? "unknown" : view.state,
      role: roleName(view.role),
    } as StatusDocument;
  }
  if (view.paused) doc.pause = true;
  const cluster = cachedCluster(view, nowMs);
  if (!cluster || !cluster.leader) doc.cluster_unlocked = true;
  if (view.failsafeActive) doc.failsafe_mode_is_active = true;
  doc.dcs_last_seen = view.dcsLastSeen ?? 0;

  const tags = effectiveTags(view);
  if (Object.keys(tags).length) doc.tags = tags;
  if (pg?.sysid) doc.database_system_identifier = pg.sysid;
  const reason = pg?.pendingRestartReason ?? {};
  if (pg?.pendingRestart || Object.keys(reason).length) {
    doc.pending_restart = true;
    doc.pending_restart_reason = { ...reason };
  }
  doc.patroni = { version: PGWARDEN_VERSION, scope: view.config.scope, name: view.config.name };
  if (view.scheduledRestart) {
    const { postmaster_start_time: _pst, ...rest } = view.scheduledRestart;
    doc.scheduled_restart = rest;
  }
  if (view.watchdogFailed) doc.watchdog_failed = true;
  return doc;
}
