/**
 * The PostgreSQL port the agent drives. `src/postgres/manager.ts` implements it on a real PostgreSQL
 * (pg_ctl, initdb, pg_basebackup, pg_rewind, npm:postgres); the simulation implements it in memory.
 */
import type { DynamicConfig } from "../config/dynamic.ts";
import type { SlotState } from "../ha/permanent_slots.ts";

/** A walsender row from pg_stat_replication (Patroni's `replication` field). */
export interface ReplicationRow {
  usename: string;
  application_name: string;
  client_addr: string | null;
  state: string;
  sync_state: string;
  sync_priority: number;
  /** flush_lsn as bytes, when known. */
  flush_lsn?: number;
  replay_lsn?: number;
  write_lsn?: number;
}

/** What one observation of the local PostgreSQL found. */
export interface PgState {
  /** The data directory has no PG_VERSION (never initialised, or wiped). */
  dataDirEmpty: boolean;
  /** A postmaster for this data directory is alive (postmaster.pid + signal 0). */
  running: boolean;
  pid: number | null;
  /** A SQL connection succeeded. */
  accepting: boolean;
  /** pg_is_in_recovery(); null when not connected. */
  inRecovery: boolean | null;
  timeline: number | null;
  /** Database system identifier (pg_controldata), null if unknown. */
  sysid: string | null;
  /** pg_controldata "Database cluster state". */
  controlState: string | null;
  /** Primary: flush LSN; replica: max(receive, replay); 0 if unknown. */
  xlogLocation: number;
  receiveLsn: number | null;
  replayLsn: number | null;
  /** Replica: `streaming` when the WAL receiver streams, else `in archive recovery`. */
  replicationState: "streaming" | "in archive recovery" | null;
  /** `host:port` of primary_conninfo currently in effect, or null. */
  upstream: string | null;
  pendingRestart: boolean;
  pendingRestartReason: Record<string, { old_value: string; new_value: string }>;
  serverVersion: number | null;
  postmasterStartTime: string | null;
  replication: ReplicationRow[];
  /** Replay paused (pg_is_wal_replay_paused). */
  replayPaused: boolean;
  replayedTimestamp: string | null;
}

export interface Upstream {
  host: string;
  port: number;
  /** Slot on the upstream to stream from (Patroni: member slot name of this node). */
  slot?: string;
  /** Remote standby-cluster source extras (`standby_cluster` keys that become recovery settings). */
  restoreCommand?: string;
  archiveCleanupCommand?: string;
  recoveryMinApplyDelay?: string | number;
}

export type StopMode = "smart" | "fast" | "immediate";

export interface StartOptions {
  /** Start as primary (no standby.signal) or replica of `upstream` (standby.signal; no upstream = archive recovery only). */
  role: "primary" | "replica";
  upstream?: Upstream | null;
  /** Seconds to wait until PostgreSQL accepts connections; false returned on timeout (it keeps starting). */
  timeoutS: number;
}

/** Patroni's member states while a custom bootstrap method runs. */
export type BootstrapState =
  | "running custom bootstrap script"
  | "starting after custom bootstrap"
  | "custom bootstrap failed";

export interface BootstrapOptions {
  /** Progress of a custom bootstrap, as the member state to publish. */
  onState?(state: BootstrapState): void;
}

export interface PostgresPort {
  observe(): Promise<PgState>;
  /**
   * A new cluster: initdb with bootstrap.initdb options, or the custom method `bootstrap.method` names (then
   * Patroni's after-steps); render config, start, create users, run post_bootstrap.
   */
  bootstrap(opts?: BootstrapOptions): Promise<void>;
  /**
   * Clone from a running member (pg_basebackup or a configured replica method). `methods` overrides
   * `create_replica_methods` (a standby cluster's own list for cloning the remote primary).
   */
  createReplica(source: Upstream & { connUrl?: string; methods?: string[] }): Promise<void>;
  /** Render postgresql.conf (+ recovery settings) and start; resolves when accepting or on timeout. */
  start(opts: StartOptions): Promise<boolean>;
  stop(mode: StopMode, timeoutS: number): Promise<boolean>;
  /** Stop (`fast` unless `stopMode`) and start again; optional (the HA loop can stop + start). */
  restart?(opts: StartOptions & { stopMode?: StopMode }): Promise<boolean>;
  /** Promote to primary (pg_promote() over SQL, else pg_ctl promote -w) and wait until it left recovery. */
  promote(timeoutS: number): Promise<boolean>;
  /** Point a running replica at a new upstream (primary_conninfo/slot) and reload or restart as needed. */
  follow(upstream: Upstream | null): Promise<void>;
  /** pg_rewind from a running primary; false when it failed. */
  rewind(source: Upstream): Promise<boolean>;
  /** Would this replica need pg_rewind to follow `source` (diverged timeline)? */
  needsRewind(source: Upstream): Promise<boolean>;
  /** Remove the data directory (re-clone on next cycle). */
  removeDataDirectory(): Promise<void>;
  /**
   * Stop PostgreSQL and set the data directory aside as `<data_dir>_<timestamp>` (Patroni's
   * move_data_directory after a failed bootstrap); returns the new path, or null when it was emptied instead.
   */
  moveDataDirectory(): Promise<string | null>;
  checkpoint(): Promise<void>;
  reload(): Promise<void>;
  /** Apply dynamic parameters: rewrite config, reload; returns whether a restart is pending. */
  applyParameters(params: Record<string, string | number | boolean>): Promise<{ pendingRestart: boolean }>;
  /** Primary: make the physical replication slots exactly `names` (plus permanent ones kept by caller). */
  syncReplicationSlots(names: string[]): Promise<void>;
  /**
   * Set synchronous_standby_names (null = none) and reload; `undefined` hands the setting back to the user's
   * configuration (synchronous mode turned off).
   */
  setSynchronousStandbyNames(ssn: string | null | undefined): Promise<void>;
  /** The synchronous_standby_names value in effect (SHOW); optional for ports that cannot tell. */
  synchronousStandbyNames?(): Promise<string>;
  /** Every non-temporary slot with its position (permanent slots, slot copies on replicas). */
  slotStates?(): Promise<SlotState[]>;
  createLogicalSlot?(name: string, database: string, plugin: string): Promise<void>;
  /** Drop an inactive slot (logical ones; physical ones go through syncReplicationSlots). */
  dropSlot?(name: string): Promise<void>;
  /** pg_replication_slot_advance (a logical slot needs its `database`). */
  advanceSlot?(name: string, database: string | null, lsn: number): Promise<void>;
  /** Replica, PostgreSQL stopped: copy logical slots' state from the primary (loaded at the next start). */
  copyLogicalSlots?(source: Upstream, names: string[]): Promise<string[]>;
  /** Run one SQL query (ctl query, Citus); rows as objects. */
  query(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  /** New effective dynamic configuration (parameters, pg_hba, slots to ignore); used from the next rewrite. */
  setDynamicConfig?(d: DynamicConfig | null): void;
  close(): Promise<void>;
}

/** The state of a data directory nobody has looked at yet: empty, nothing running. */
export function emptyPgState(): PgState {
  return {
    dataDirEmpty: true,
    running: false,
    pid: null,
    accepting: false,
    inRecovery: null,
    timeline: null,
    sysid: null,
    controlState: null,
    xlogLocation: 0,
    receiveLsn: null,
    replayLsn: null,
    replicationState: null,
    upstream: null,
    pendingRestart: false,
    pendingRestartReason: {},
    serverVersion: null,
    postmasterStartTime: null,
    replication: [],
    replayPaused: false,
    replayedTimestamp: null,
  };
}
