/**
 * Small builders for HA decision tests: each returns a complete, valid value from a few overrides, so a
 * test states only what matters to it (stolon's lesson: no walls of literals).
 */
import {
  type DynamicConfig,
  type DynamicConfigInput,
  DynamicConfigSchema,
} from "../../src/config/dynamic.ts";
import type {
  ClusterSnapshot,
  FailoverValue,
  HistoryEntry,
  Member,
  MemberData,
  StatusValue,
  SyncValue,
} from "../../src/dcs/types.ts";
import { initialMemory } from "../../src/ha/types.ts";
import type { AgentMemory, NodeTags, Observation, PeerStatus } from "../../src/ha/types.ts";
import type { PgState } from "../../src/postgres/port.ts";

export const SYSID = "7000000000000000001";
/** Fixed observation time (epoch ms). */
export const NOW = Date.parse("2026-01-01T12:00:00Z");

/** Node `nodeN` listens on 127.0.0.1:543N (PG) and 127.0.0.1:800N (REST). */
function port(name: string, base: number): number {
  const n = Number(name.replace(/\D/g, "")) || 0;
  return base + n;
}

/** A running, streaming replica on timeline 1 at LSN 1000 unless overridden. */
export function pgState(p: Partial<PgState> = {}): PgState {
  return {
    dataDirEmpty: false,
    running: true,
    pid: 4242,
    accepting: true,
    inRecovery: true,
    timeline: 1,
    sysid: SYSID,
    controlState: "in archive recovery",
    xlogLocation: 1000,
    receiveLsn: 1000,
    replayLsn: 1000,
    replicationState: "streaming",
    upstream: null,
    pendingRestart: false,
    pendingRestartReason: {},
    serverVersion: 150000,
    postmasterStartTime: null,
    replication: [],
    replayPaused: false,
    replayedTimestamp: null,
    ...p,
  };
}

/** A running primary. */
export function primaryPg(p: Partial<PgState> = {}): PgState {
  return pgState({
    inRecovery: false,
    controlState: "in production",
    receiveLsn: null,
    replayLsn: null,
    replicationState: null,
    ...p,
  });
}

/** A data directory that exists but whose postmaster is not running. */
export function stoppedPg(p: Partial<PgState> = {}): PgState {
  return pgState({
    running: false,
    pid: null,
    accepting: false,
    inRecovery: null,
    replicationState: null,
    controlState: "shut down in recovery",
    ...p,
  });
}

/** No data directory at all. */
export function emptyPg(): PgState {
  return stoppedPg({ dataDirEmpty: true, sysid: null, timeline: null, xlogLocation: 0, controlState: null });
}

export interface MemberOpts {
  role?: string;
  state?: string;
  lsn?: number;
  timeline?: number;
  /** Patroni snake_case tags. */
  tags?: Record<string, unknown>;
  /** Override or drop (null) the connection URL. */
  connUrl?: string | null;
  extra?: Partial<MemberData>;
}

/** A `members/<name>` entry: a running replica on timeline 1 unless overridden. */
export function member(name: string, o: MemberOpts = {}): Member {
  const data: MemberData = {
    api_url: `http://127.0.0.1:${port(name, 8000)}/patroni`,
    state: o.state ?? "running",
    role: o.role ?? "replica",
    version: "0.1.0",
    xlog_location: o.lsn ?? 1000,
    timeline: o.timeline ?? 1,
    ...(o.tags ? { tags: o.tags } : {}),
    ...o.extra,
  };
  if (o.connUrl !== null) data.conn_url = o.connUrl ?? `postgres://127.0.0.1:${port(name, 5430)}/postgres`;
  return { name, data, version: "1" };
}

export interface ClusterOpts {
  leader?: string | null;
  members?: Member[];
  initialize?: string | null;
  /** Timeline switch records; the cluster timeline is the last parent TL + 1. */
  history?: HistoryEntry[] | null;
  failover?: FailoverValue | null;
  sync?: SyncValue | null;
  failsafe?: Record<string, string> | null;
  status?: StatusValue | null;
}

/** A cluster snapshot: initialized with SYSID, history `[]` (timeline 1), no leader unless given. */
export function cluster(o: ClusterOpts = {}): ClusterSnapshot {
  const v = <T>(value: T) => ({ value, version: "7" });
  return {
    initialize: o.initialize === undefined ? SYSID : o.initialize,
    config: v({}),
    leader: o.leader ? { name: o.leader, version: "5" } : null,
    members: [...(o.members ?? [])].sort((a, b) => a.name.localeCompare(b.name)),
    history: o.history === null ? null : v(o.history ?? []),
    failover: o.failover ? v(o.failover) : null,
    sync: o.sync ? v(o.sync) : null,
    failsafe: o.failsafe ?? null,
    status: o.status === undefined ? { optime: 1000 } : o.status,
  };
}

/** What a reachable peer answered on GET /patroni: a replica at LSN 1000 unless overridden. */
export function peer(name: string, p: Partial<PeerStatus> = {}): PeerStatus {
  return { name, reachable: true, isPrimary: false, lsn: 1000, timeline: 1, ...p };
}

export function unreachable(name: string): PeerStatus {
  return { name, reachable: false };
}

/** Dynamic config with Patroni defaults plus overrides (camelCase input). */
export function dyn(d: DynamicConfigInput = {}): DynamicConfig {
  return DynamicConfigSchema.parse(d);
}

export interface ObsOpts {
  name?: string;
  tags?: NodeTags;
  dynamic?: DynamicConfigInput;
  /** The DCS view; `"down"` = the DCS could not be read. */
  cluster?: ClusterSnapshot | "down";
  pg?: PgState;
  peers?: PeerStatus[];
  failsafeAllAccepted?: boolean | null;
  memory?: Partial<AgentMemory>;
  canBootstrap?: boolean;
  watchdog?: { required: boolean; usable: boolean };
  asyncAction?: string | null;
}

/** One observation of node1 (a streaming replica) at NOW in an empty, initialized cluster. */
export function obs(o: ObsOpts = {}): Observation {
  const c = o.cluster ?? cluster();
  return {
    now: NOW,
    name: o.name ?? "node1",
    tags: o.tags ?? {},
    dynamic: dyn(o.dynamic),
    dcs: c === "down" ? { ok: false, error: "DCS is not accessible" } : { ok: true, cluster: c },
    pg: o.pg ?? pgState(),
    peers: o.peers ?? [],
    failsafeAllAccepted: o.failsafeAllAccepted ?? null,
    memory: { ...initialMemory(), ...o.memory },
    canBootstrap: o.canBootstrap ?? true,
    watchdog: o.watchdog ?? { required: false, usable: true },
    asyncAction: o.asyncAction ?? null,
    standbyCluster: null,
  };
}
