/**
 * Inputs and outputs of the pure HA decision. One frozen `Observation` per cycle goes in; one `Decision`
 * (an action for the executor plus an explanation) comes out. Nothing here performs I/O.
 */
import type { DynamicConfig } from "../config/dynamic.ts";
import type { ClusterSnapshot, FailoverValue, Versioned } from "../dcs/types.ts";
import type { PgState, StopMode, Upstream } from "../postgres/port.ts";

/** What a peer answered on `GET <api_url>` (its /patroni status), or that it did not answer. */
export interface PeerStatus {
  name: string;
  reachable: boolean;
  /** `role` says primary / not in recovery. */
  isPrimary?: boolean;
  /** max(received, replayed) for replicas, current location for a primary. */
  lsn?: number;
  timeline?: number;
  nofailover?: boolean;
  failoverPriority?: number;
  watchdogFailed?: boolean;
}

/** Effective tags of this node (camelCase, from config). */
export interface NodeTags {
  nofailover?: boolean;
  failoverPriority?: number;
  noloadbalance?: boolean;
  clonefrom?: boolean;
  replicatefrom?: string;
  nosync?: boolean;
  syncPriority?: number;
  nostream?: boolean;
}

/** Memory the agent carries between cycles (the executor updates it; decide only reads it). */
export interface AgentMemory {
  /** Epoch ms until which our lock is valid (last successful renewal + ttl); 0 = not leader. */
  leaderValidUntil: number;
  /** We bootstrapped or raced this process lifetime and PostgreSQL was ever started by us. */
  startedPg: boolean;
  /** Epoch ms when PostgreSQL was first seen down while we expected it up (crash detection). */
  downSince: number | null;
  /** Epoch ms when we started PostgreSQL and are waiting for it to accept connections. */
  startingSince: number | null;
  /** A start was requested as primary after a crash (for primary_start_timeout). */
  startingAsPrimary: boolean;
  /** Epoch ms of a failed before-promote veto / pre_promote failure: stay out of races for ttl. */
  promoteVetoedAt: number | null;
  /** Name of the leader we last followed (for on_role_change / rewind decisions). */
  lastLeader: string | null;
  /** Members seen in the last cluster view that had a leader (Patroni: old cluster). */
  lastMembersWithLeader: string[];
  /** Received `POST /failsafe` from this leader at that time (replicas). */
  failsafeLeader: { name: string; at: number; connUrl?: string } | null;
  /** Failsafe is keeping us primary while the DCS is down. */
  failsafeActive: boolean;
}

export function initialMemory(): AgentMemory {
  return {
    leaderValidUntil: 0,
    startedPg: false,
    downSince: null,
    startingSince: null,
    startingAsPrimary: false,
    promoteVetoedAt: null,
    lastLeader: null,
    lastMembersWithLeader: [],
    failsafeLeader: null,
    failsafeActive: false,
  };
}

export interface Observation {
  /** One `now` for the whole decision (epoch ms). */
  now: number;
  name: string;
  tags: NodeTags;
  dynamic: DynamicConfig;
  /** The DCS view, or why it could not be read. */
  dcs: { ok: true; cluster: ClusterSnapshot } | { ok: false; error: string };
  pg: PgState;
  /** Peer answers, gathered by observe when a race or failover check may be needed. */
  peers: PeerStatus[];
  /** Failsafe confirmation: every listed member accepted our POST /failsafe (only gathered when DCS is down). */
  failsafeAllAccepted: boolean | null;
  memory: AgentMemory;
  /** Local config has a `bootstrap` section permitting initdb (Patroni: races for initialize). */
  canBootstrap: boolean;
  /** Watchdog state: usable, or required-but-unusable. */
  watchdog: { required: boolean; usable: boolean };
  /** Async action running (the executor runs long actions in the background). */
  asyncAction: string | null;
  /** `standby_cluster` source, when this cluster is a standby cluster. */
  standbyCluster: Upstream | null;
}

/** What the executor must do. Compound actions list their fallbacks explicitly. */
export type Action =
  | { type: "none" }
  /** Race for `initialize`; on win run bootstrap, then take the leader key. */
  | { type: "bootstrap" }
  /** Clone the data directory from `source`, then start as replica. */
  | { type: "clone"; source: Upstream; sourceName: string }
  /** Start PostgreSQL (not running). */
  | { type: "start"; role: "primary" | "replica"; upstream: Upstream | null; timeoutS: number }
  /** Create the leader key; on win clean `failover` and promote (or become standby leader). */
  | { type: "acquire_lock"; standbyLeader: boolean; failover: Versioned<FailoverValue> | null }
  /** Renew our lock; on success run leader housekeeping and promote if still in recovery; on failure demote. */
  | { type: "lead"; promote: boolean; standbyLeader: boolean; cleanFailover: Versioned<FailoverValue> | null }
  /** Ensure PostgreSQL replicates from `upstream` (rewind/reinit when diverged). */
  | { type: "follow"; upstream: Upstream | null; leaderName: string | null }
  /** Stop as primary and restart as replica (Patroni demote modes). */
  | {
    type: "demote";
    mode: "offline" | "graceful" | "immediate" | "immediate-nolock";
    stop: StopMode;
    releaseLock: boolean;
    upstream: Upstream | null;
  }
  /** Delete our leader key (pause + not primary, failed start). */
  | { type: "release_lock" }
  /** Write `{}` to `failover` (CAS on version). */
  | { type: "clean_failover"; version: string };

/** Why a member may not be promoted (shown by /explain and `ctl why`). */
export type RuleOut =
  | "unreachable"
  | "nofailover"
  | "lag"
  | "timeline"
  | "behind"
  | "primary_alive"
  | "not_synchronous"
  | "watchdog"
  | "priority"
  | "paused"
  | "vetoed";

export interface CandidateVerdict {
  name: string;
  eligible: boolean;
  lsn?: number;
  rule?: RuleOut;
  detail?: string;
}

export interface Decision {
  action: Action;
  /** Stable machine-readable reason. */
  code: string;
  /** One line in Patroni's wording (prefixed `PAUSE: ` while paused). */
  message: string;
  /** Candidate ranking when a race or failover check was evaluated. */
  candidates: CandidateVerdict[];
  /** The observation time. */
  at: number;
}
