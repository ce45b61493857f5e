/**
 * SQL probes through npm:postgres (postgres.js): one round trip per observation, text casts for LSNs and
 * timestamps so nothing depends on client-side type parsing. Connection-level failures become
 * `PgUnreachableError`; SQL errors keep their SQLSTATE.
 */
import postgres from "postgres";
import { PgUnreachableError } from "./errors.ts";
import { parseLsnOrNull } from "./lsn.ts";
import type { ReplicationRow } from "./port.ts";
import { upstreamOf } from "./conninfo.ts";
import { tolerateWritesAfterServerClose } from "./write_after_close.ts";

export type Sql = postgres.Sql<Record<string, never>>;

export interface ConnectParams {
  /** Host name/address, or a Unix socket directory (starts with `/`). */
  host: string;
  port: number;
  user: string;
  password?: string;
  database: string;
  connectTimeoutS?: number;
  /** Pool size; 1 keeps session state (SET) across statements. */
  max?: number;
  sslmode?: string;
  /** Called whenever one of the pool's connections closes (idle timeout, server exit, network). */
  onClose?: () => void;
}

export function openSql(p: ConnectParams): Sql {
  tolerateWritesAfterServerClose();
  const ssl = p.sslmode === "require" || p.sslmode === "verify-ca" || p.sslmode === "verify-full"
    ? "require" as const
    : p.sslmode === "prefer"
    ? "prefer" as const
    : false;
  return postgres({
    host: p.host,
    port: p.port,
    user: p.user,
    pass: p.password,
    database: p.database,
    ssl,
    max: p.max ?? 2,
    connect_timeout: p.connectTimeoutS ?? 3,
    idle_timeout: 30,
    max_lifetime: 3600,
    prepare: false,
    onnotice: () => {},
    ...(p.onClose ? { onclose: p.onClose } : {}),
    connection: { application_name: "pgwarden" },
    // All values as text: we cast in SQL and parse ourselves.
    fetch_types: false,
  }) as unknown as Sql;
}

/** Errors that mean "no usable connection" rather than "the statement failed". */
export function isConnectionError(e: unknown): boolean {
  if (e instanceof PgUnreachableError) return true;
  const code = (e as { code?: unknown })?.code;
  if (typeof code !== "string") return true;
  // SQLSTATE classes 08 (connection exception) and 57 (operator intervention: shutdown, starting up).
  if (/^(08|57)/.test(code)) return true;
  return !/^[0-9A-Z]{5}$/.test(code);
}

export interface ObservedRow {
  inRecovery: boolean;
  serverVersion: number;
  postmasterStartTime: string | null;
  /** `data_directory` of the server that answered: proves which postmaster is alive without a subprocess. */
  dataDirectory: string | null;
  timeline: number | null;
  flushLsn: number | null;
  receiveLsn: number | null;
  replayLsn: number | null;
  replayPaused: boolean;
  replayedTimestamp: string | null;
  receiverStatus: string | null;
  upstream: string | null;
  confLoadTime: string | null;
  replication: ReplicationRow[];
}

export type PendingRestart = Record<string, { old_value: string; new_value: string }>;

// pg_stat_replication's rows, read the cheap way: the view scans every backend's activity entry and joins
// pg_authid (twice the server time of the whole rest of the observation); here only the walsenders' entries.
const REPLICATION_SQL = `
    SELECT pg_get_userbyid(a.usesysid)::text AS usename, a.application_name, host(a.client_addr) AS client_addr,
      w.state, w.sync_state, w.sync_priority, w.write_lsn::text, w.flush_lsn::text, w.replay_lsn::text
    FROM pg_stat_get_wal_senders() AS w, LATERAL pg_stat_get_activity(w.pid) AS a
    ORDER BY a.application_name`;

/**
 * Recovery settings live in postgresql.conf only while in recovery: dropping them at promotion marks the
 * postmaster-context ones (`recovery_target_timeline`, ...) pending, which no restart is needed for. Patroni
 * leaves them out of its pending-restart check too.
 */
export const RECOVERY_PARAMETERS = [
  "archive_cleanup_command",
  "primary_conninfo",
  "primary_slot_name",
  "promote_trigger_file",
  "recovery_end_command",
  "recovery_min_apply_delay",
  "recovery_target",
  "recovery_target_action",
  "recovery_target_inclusive",
  "recovery_target_lsn",
  "recovery_target_name",
  "recovery_target_time",
  "recovery_target_timeline",
  "recovery_target_xid",
  "restore_command",
] as const;

// The names are our own constants (identifier characters only), so they can be inlined as literals.
const PENDING_SQL = `
    SELECT s.name, current_setting(s.name) AS old_value,
      (SELECT f.setting FROM pg_file_settings f WHERE f.name = s.name ORDER BY f.seqno DESC LIMIT 1)
        AS new_value
    FROM pg_settings s WHERE s.pending_restart
      AND s.name NOT IN (${RECOVERY_PARAMETERS.map((n) => `'${n}'`).join(", ")}) ORDER BY s.name`;

/** The rows of a sub-select as one JSON text column (so one round trip carries everything). */
const asJson = (select: string) => `(SELECT coalesce(json_agg(x), '[]')::text FROM (${select}) AS x)`;

// One statement per HA cycle (pending restarts only after a configuration load): every round trip costs the
// idle agent CPU, every scan the server.
const OBSERVE_SQL = `
SELECT pg_is_in_recovery() AS in_recovery,
  current_setting('server_version_num')::int AS server_version,
  current_setting('data_directory') AS data_directory,
  pg_postmaster_start_time()::text AS postmaster_start_time,
  pg_conf_load_time()::text AS conf_load_time,
  CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_flush_lsn()::text END AS flush_lsn,
  CASE WHEN pg_is_in_recovery() THEN NULL
    ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END AS primary_timeline,
  (SELECT timeline_id FROM pg_control_checkpoint()) AS checkpoint_timeline,
  pg_last_wal_receive_lsn()::text AS receive_lsn,
  pg_last_wal_replay_lsn()::text AS replay_lsn,
  CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() ELSE false END AS replay_paused,
  pg_last_xact_replay_timestamp()::text AS replayed_timestamp,
  w.status AS receiver_status, w.received_tli, w.sender_host, w.sender_port,
  current_setting('primary_conninfo') AS primary_conninfo,
  ${asJson(REPLICATION_SQL)} AS replication
FROM (SELECT 1) AS one LEFT JOIN pg_stat_wal_receiver AS w ON true`;

type Row = Record<string, unknown>;

const str = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));
const int = (v: unknown): number | null => (v === null || v === undefined || v === "" ? null : Number(v));
const bool = (v: unknown): boolean => v === true || v === "t" || v === "true";

function jsonRows(v: unknown): Row[] {
  if (typeof v !== "string") return [];
  const parsed: unknown = JSON.parse(v);
  return Array.isArray(parsed) ? parsed as Row[] : [];
}

/** Parse the one row of OBSERVE_SQL. Pure. */
export function parseObservedRow(r: Row): ObservedRow {
  const inRecovery = bool(r.in_recovery);
  const receiverTl = int(r.received_tli);
  const senderHost = str(r.sender_host);
  const senderPort = int(r.sender_port);
  const conninfo = str(r.primary_conninfo) ?? "";
  return {
    inRecovery,
    serverVersion: Number(r.server_version),
    postmasterStartTime: str(r.postmaster_start_time),
    dataDirectory: str(r.data_directory),
    confLoadTime: str(r.conf_load_time),
    timeline: inRecovery ? receiverTl ?? int(r.checkpoint_timeline) : int(r.primary_timeline),
    flushLsn: parseLsnOrNull(str(r.flush_lsn)),
    receiveLsn: parseLsnOrNull(str(r.receive_lsn)),
    replayLsn: parseLsnOrNull(str(r.replay_lsn)),
    replayPaused: bool(r.replay_paused),
    replayedTimestamp: str(r.replayed_timestamp),
    receiverStatus: str(r.receiver_status),
    upstream: !inRecovery
      ? null
      : senderHost && senderPort
      ? `${senderHost}:${senderPort}`
      : conninfo
      ? upstreamOf(conninfo)
      : null,
    replication: jsonRows(r.replication).map(toReplicationRow),
  };
}

export async function observeQuery(sql: Sql): Promise<ObservedRow> {
  const rows = await sql.unsafe(OBSERVE_SQL);
  return parseObservedRow(rows[0] as Row);
}

function toReplicationRow(r: Row): ReplicationRow {
  const row: ReplicationRow = {
    usename: str(r.usename) ?? "",
    application_name: str(r.application_name) ?? "",
    client_addr: str(r.client_addr),
    state: str(r.state) ?? "",
    sync_state: str(r.sync_state) ?? "",
    sync_priority: Number(r.sync_priority ?? 0),
  };
  const w = parseLsnOrNull(str(r.write_lsn));
  const f = parseLsnOrNull(str(r.flush_lsn));
  const p = parseLsnOrNull(str(r.replay_lsn));
  if (w !== null) row.write_lsn = w;
  if (f !== null) row.flush_lsn = f;
  if (p !== null) row.replay_lsn = p;
  return row;
}

function toPending(rows: Row[]): PendingRestart {
  const out: PendingRestart = {};
  for (const r of rows) {
    out[String(r.name)] = { old_value: str(r.old_value) ?? "", new_value: str(r.new_value) ?? "" };
  }
  return out;
}

/** Settings whose new value (in the files) needs a restart: name → {old_value, new_value}. */
export async function pendingRestart(sql: Sql): Promise<PendingRestart> {
  return toPending((await sql.unsafe(PENDING_SQL)) as Row[]);
}

/**
 * The pending-restart settings, read again only when the configuration was (re)loaded since the last
 * reading: scanning pg_settings every HA cycle would cost as much server time as the rest of the observation.
 * A session sets its pending flags only while loading the files, which also moves its pg_conf_load_time, so a
 * reading keyed by the load time of the session that produced it cannot go stale; a pool whose sessions
 * differ only costs extra readings.
 */
/** When a session last loaded the configuration files (a restart counts): the pending flags change only then. */
const loadedKey = (postmasterStart: string | null, confLoad: string | null) =>
  `${postmasterStart} ${confLoad}`;

export class PendingRestartReader {
  #last: { loaded: string; pending: PendingRestart } | null = null;

  async read(sql: Sql, row: ObservedRow): Promise<PendingRestart> {
    const loaded = loadedKey(row.postmasterStartTime, row.confLoadTime);
    if (this.#last !== null && this.#last.loaded === loaded) return this.#last.pending;
    const rows = await sql.unsafe(
      `SELECT pg_postmaster_start_time()::text AS postmaster_start_time, pg_conf_load_time()::text AS conf_load_time,
        ${asJson(PENDING_SQL)} AS pending`,
    ) as Row[];
    const r = rows[0] ?? {};
    const pending = toPending(jsonRows(r.pending));
    this.#last = { loaded: loadedKey(str(r.postmaster_start_time), str(r.conf_load_time)), pending };
    return pending;
  }
}

/**
 * `pg_reload_conf()` and wait (≤ `timeoutMs`) until the session answering has re-read the files: its
 * `pg_conf_load_time()` is not older than the moment the reload was requested (server clock). A backend that
 * connects before the postmaster itself reloaded inherits the old time, so it is never mistaken for done.
 */
export async function reloadAndWait(
  sql: Sql,
  sleep: (ms: number) => Promise<void>,
  timeoutMs = 5000,
): Promise<boolean> {
  const rows = await sql.unsafe(`SELECT clock_timestamp()::text AS t`);
  const t = String((rows[0] as Row).t);
  await sql.unsafe(`SELECT pg_reload_conf()`);
  for (let waited = 0; waited <= timeoutMs; waited += 20) {
    const r = await sql.unsafe(`SELECT pg_conf_load_time() >= $1::timestamptz AS ok`, [t]);
    if (bool((r[0] as Row).ok)) return true;
    await sleep(20);
  }
  return false;
}

/** Ask the server to leave recovery without waiting (`pg_promote(false)`); true when it took the request. */
export async function requestPromotion(sql: Sql): Promise<boolean> {
  const rows = await sql.unsafe(`SELECT pg_promote(false) AS ok`);
  return bool((rows[0] as Row | undefined)?.ok);
}

/** `pg_is_in_recovery()`, or null when the server gave no answer row. */
export async function queryInRecovery(sql: Sql): Promise<boolean | null> {
  const rows = await sql.unsafe(`SELECT pg_is_in_recovery() AS r`);
  const v = (rows[0] as Row | undefined)?.r;
  return v === undefined || v === null ? null : bool(v);
}

/** Quote an identifier (role, slot in DDL). */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Quote a string literal; backslashes use the E'' form so standard_conforming_strings does not matter. */
export function quoteLiteral(value: string): string {
  if (!value.includes("\\")) return `'${value.replaceAll("'", "''")}'`;
  return `E'${value.replaceAll("\\", "\\\\").replaceAll("'", "''")}'`;
}
