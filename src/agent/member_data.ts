/** The `members/<name>` value this node publishes each cycle, in Patroni's field names. */
import type { Config } from "../config/schema.ts";
import { camelToSnake } from "../config/case.ts";
import type { MemberData } from "../dcs/types.ts";
import type { PgState } from "../postgres/port.ts";

export const PGWARDEN_VERSION = "0.1.0";

export function connectAddress(config: Config): string {
  return config.postgresql.connectAddress ??
    config.postgresql.listen.split(",")[0]!.trim().replace(/^(\*|0\.0\.0\.0)?:/, "127.0.0.1:");
}

export function apiUrl(config: Config): string {
  const scheme = config.restapi.certfile ? "https" : "http";
  const addr = config.restapi.connectAddress ??
    config.restapi.listen.replace(/^(\*|0\.0\.0\.0)?:/, "127.0.0.1:");
  return `${scheme}://${addr}/patroni`;
}

export function connUrl(config: Config): string {
  return `postgres://${connectAddress(config)}/${config.postgresql.database}`;
}

/** Tags in Patroni's snake_case; false booleans omitted like Patroni does. */
export function snakeTags(tags: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(tags)) {
    if (v === undefined || v === false) continue;
    out[camelToSnake(k)] = v;
  }
  return out;
}

export function buildMemberData(
  config: Config,
  s: {
    state: string;
    role: string;
    pg: PgState | null;
    paused: boolean;
    checkpointAfterPromote?: boolean;
    watchdogFailed?: boolean;
    /** Patroni `scheduled_restart`: `{schedule, postmaster_start_time, ...filters}`. */
    scheduledRestart?: Record<string, unknown> | null;
  },
): MemberData {
  const pg = s.pg;
  const tags = snakeTags(config.tags as Record<string, unknown>);
  const data: MemberData = {
    conn_url: connUrl(config),
    api_url: apiUrl(config),
    state: s.state,
    role: s.role,
    version: PGWARDEN_VERSION,
  };
  if (pg?.running && pg.accepting) {
    data.xlog_location = pg.xlogLocation;
    if (pg.timeline) data.timeline = pg.timeline;
    if (pg.inRecovery) {
      if (pg.replicationState) data.replication_state = pg.replicationState;
      if (pg.receiveLsn !== null) data.receive_lsn = pg.receiveLsn;
      if (pg.replayLsn !== null) data.replay_lsn = pg.replayLsn;
    }
    if (pg.pendingRestart) {
      data.pending_restart = true;
      if (Object.keys(pg.pendingRestartReason).length) data.pending_restart_reason = pg.pendingRestartReason;
    }
  }
  if (Object.keys(tags).length) data.tags = tags;
  if (s.paused) data.pause = true;
  if (s.checkpointAfterPromote === false) data.checkpoint_after_promote = false;
  if (s.watchdogFailed) data.watchdog_failed = true;
  if (s.scheduledRestart) data.scheduled_restart = { ...s.scheduledRestart };
  return data;
}
