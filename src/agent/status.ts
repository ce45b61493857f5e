/**
 * What the running agent exposes to the REST API, the CLI and plugins: a read-only view refreshed every HA
 * cycle, and a narrow control surface. The API never touches the HA internals directly.
 */
import type { Config } from "../config/schema.ts";
import type { DynamicConfig } from "../config/dynamic.ts";
import type { ClusterSnapshot, Dcs } from "../dcs/types.ts";
import type { PgState } from "../postgres/port.ts";
import type { Decision } from "../ha/types.ts";

/** Patroni member `state` values. */
export type PgRunState =
  | "running"
  | "starting"
  | "stopped"
  | "stopping"
  | "restarting"
  | "crashed"
  | "creating replica"
  | "initializing new cluster"
  | "running custom bootstrap script"
  | "starting after custom bootstrap"
  | "start failed"
  | "restart failed"
  | "stop failed"
  | "initdb failed"
  | "custom bootstrap failed"
  | "unknown";

export interface AgentView {
  config: Config;
  dynamic: DynamicConfig;
  /** Latest DCS snapshot (null until the first successful read). */
  cluster: ClusterSnapshot | null;
  /** Epoch seconds of the last successful DCS read. */
  dcsLastSeen: number | null;
  pg: PgState | null;
  /** Patroni state string. */
  state: PgRunState;
  /** Internal role: primary, replica, standby_leader, demoted, promoted, uninitialized. */
  role: string;
  /** This node holds an unexpired leader lock (local validity, like Patroni's is_leader()). */
  isLeader: boolean;
  /** Epoch ms until which our leadership is valid (last renewal + ttl). */
  leaderValidUntil: number;
  paused: boolean;
  failsafeActive: boolean;
  watchdogFailed: boolean;
  /** Epoch ms when the next HA cycle is due (REST /liveness). */
  nextRunAt: number;
  /** Last HA decision (REST /explain, ctl why). */
  lastDecision: Decision | null;
  scheduledRestart: { schedule: string; [k: string]: unknown } | null;
  /** A long action in progress (`restart`, `reinitialize`, `bootstrap`, ...), if any. */
  asyncAction: string | null;
  /**
   * Effective tags in Patroni's snake_case as published in the member key, including a temporary
   * `nosync: true, sync_priority: 0` while leaving sync duty. Optional: the API derives them from config.
   */
  effectiveTags?: Record<string, unknown>;
  /** WAL receiver `latest_end_lsn` (bytes) on a streaming replica; REST lag checks use max(this, status.optime). */
  latestEndLsn?: number | null;
}

export interface RestartRequest {
  schedule?: string;
  role?: string;
  postgresVersion?: string;
  timeoutS?: number;
  restartPending?: boolean;
}

/** Control surface the REST API uses. Each method returns a Patroni-compatible outcome. */
export interface AgentControl {
  view(): AgentView;
  /**
   * Re-read the local PostgreSQL state now (bounded), so GET /patroni answers peers in a race with live LSNs
   * rather than the last cycle's, as Patroni does. Optional: views without it answer from the last cycle.
   */
  refreshPg?(timeoutMs: number): Promise<void>;
  dcs: Dcs;
  /** Wake the HA loop now (after a DCS write such as /config or /switchover). */
  wake(): void;
  restart(req: RestartRequest): Promise<{ ok: boolean; status: number; message: string }>;
  cancelScheduledRestart(): Promise<{ ok: boolean; status: number; message: string }>;
  reload(): Promise<{ ok: boolean; status: number; message: string }>;
  reinitialize(
    opts: { force: boolean; fromLeader: boolean },
  ): Promise<{ ok: boolean; status: number; message: string }>;
  /** POST /failsafe from the leader while the DCS is down. Returns our LSN header value, or null if we refuse. */
  acceptFailsafe(
    body: { name: string; conn_url?: string; api_url?: string; slots?: Record<string, number> },
  ): number | null;
  /** Problems of dynamic `postgresql.parameters` values against this node's PostgreSQL (PATCH/PUT /config). */
  validateParameters?(params: Record<string, unknown>): string[];
  /** POST /citus from a worker (coordinator leader only). */
  citusEvent?(body: Record<string, unknown>): Promise<{ status: number; message: string }>;
}
