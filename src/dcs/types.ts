/**
 * The DCS port: one interface for etcd v3, Consul, ZooKeeper and the in-memory store.
 *
 * Keys and values are exactly Patroni's (see ../shared/reference/patroni-dcs-and-ha.md §1): values stay in
 * Patroni's snake_case JSON on the wire and in the snapshot; the HA core reads them through these types.
 * "version" is the backend's opaque modification marker (etcd mod_revision, Consul ModifyIndex, znode
 * version) used for compare-and-set.
 */
import { z } from "zod";
import type { BadDataHandler } from "./snapshot.ts";

export type Role = "primary" | "replica" | "standby_leader" | "demoted" | "promoted" | "uninitialized";

/** `members/<name>` value (Patroni field names). Unknown fields are kept. */
export const MemberDataSchema = z.looseObject({
  conn_url: z.string().optional(),
  api_url: z.string().optional(),
  state: z.string().optional(),
  role: z.string().optional(),
  version: z.string().optional(),
  xlog_location: z.number().optional(),
  receive_lsn: z.number().optional(),
  replay_lsn: z.number().optional(),
  replication_state: z.string().optional(),
  timeline: z.number().optional(),
  tags: z.record(z.string(), z.unknown()).optional(),
  pending_restart: z.boolean().optional(),
  pending_restart_reason: z.record(z.string(), z.unknown()).optional(),
  checkpoint_after_promote: z.boolean().optional(),
  scheduled_restart: z.record(z.string(), z.unknown()).optional(),
  pause: z.boolean().optional(),
  proxy_url: z.string().optional(),
  watchdog_failed: z.boolean().optional(),
});
export type MemberData = z.infer<typeof MemberDataSchema>;

export interface Member {
  name: string;
  data: MemberData;
  /** Modification marker of the member key. */
  version: string;
  /** Lease / session / ephemeral owner that keeps the key alive. */
  session?: string;
}

export interface Versioned<T> {
  value: T;
  version: string;
}

export interface LeaderKey {
  /** Member name of the lock holder (the plain key value). */
  name: string;
  version: string;
  session?: string;
}

/** `failover` value. `{}` means cleaned. */
export const FailoverSchema = z.looseObject({
  leader: z.string().optional(),
  member: z.string().optional(),
  candidate: z.string().optional(),
  scheduled_at: z.string().optional(),
});
export type FailoverValue = z.infer<typeof FailoverSchema>;

/** `sync` value. */
export const SyncSchema = z.looseObject({
  leader: z.string().nullish(),
  sync_standby: z.string().nullish(),
  quorum: z.number().int().optional(),
});
export type SyncValue = z.infer<typeof SyncSchema>;

/** `status` value. */
export const StatusSchema = z.looseObject({
  optime: z.number().optional(),
  slots: z.record(z.string(), z.number()).optional(),
  retain_slots: z.array(z.string()).optional(),
});
export type StatusValue = z.infer<typeof StatusSchema>;

/** One `history` entry: [parent_tl, switch_lsn, reason, timestamp?, new_leader?]. */
export type HistoryEntry = [number, number, string, string?, string?];

/** An immutable view of one cluster (or Citus group), read in one go. */
export interface ClusterSnapshot {
  /** `null` when the key is absent; `""` while bootstrap is in progress; else the sysid. */
  initialize: string | null;
  /** Raw Patroni JSON of the `config` key (validated by the caller, which keeps the last good value). */
  config: Versioned<Record<string, unknown>> | null;
  leader: LeaderKey | null;
  members: Member[];
  history: Versioned<HistoryEntry[]> | null;
  failover: Versioned<FailoverValue> | null;
  sync: Versioned<SyncValue> | null;
  failsafe: Record<string, string> | null;
  status: StatusValue | null;
  /** Citus: the other groups' snapshots, keyed by group number (coordinator only). */
  groups?: Map<number, ClusterSnapshot>;
}

export function emptySnapshot(): ClusterSnapshot {
  return {
    initialize: null,
    config: null,
    leader: null,
    members: [],
    history: null,
    failover: null,
    sync: null,
    failsafe: null,
    status: null,
  };
}

/** The three dynamic-config timings every backend works to, in seconds. */
export interface DcsTimings {
  ttlS: number;
  loopWaitS: number;
  retryTimeoutS: number;
}

export interface DcsOptions {
  /** `/service` by default. */
  namespace: string;
  scope: string;
  /** This member's name. */
  name: string;
  /** Citus group of this member; undefined without Citus. */
  group?: number;
  /** Read all groups (Citus coordinator). */
  allGroups?: boolean;
  ttlS: number;
  loopWaitS: number;
  retryTimeoutS: number;
  /** Told about every corrupt value met while reading (the value is ignored); default: a console warning. */
  onBadData?: BadDataHandler;
}

/**
 * Every operation is bounded by `retryTimeoutS`; transport failures throw `DcsUnavailableError`.
 * A lost compare-and-set returns `false` (or `null` where a version is returned).
 */
export interface Dcs {
  readonly kind: "etcd3" | "consul" | "zookeeper" | "memory";
  /** Read the whole cluster (this group; every group when `allGroups`). */
  getCluster(): Promise<ClusterSnapshot>;
  /** Create the leader key with our name, bound to our lease/session; false if it exists. */
  attemptToAcquireLeader(): Promise<boolean>;
  /**
   * Keep our leader key alive; false if someone else holds it. If the key vanished (our lease/session expired),
   * it may be re-created for us only while nobody else holds it (Patroni's etcd3 behaviour); a backend that
   * cannot do that atomically returns false. The contract suite accepts either, never a stolen key.
   */
  updateLeader(leader: LeaderKey): Promise<boolean>;
  /** Delete the leader key only if it is still ours. */
  deleteLeader(leader: LeaderKey | null): Promise<boolean>;
  /** Unconditionally take the leader key (right after bootstrap only). */
  takeLeader(): Promise<boolean>;
  /** Publish this member's data, kept alive with our TTL. */
  touchMember(data: MemberData): Promise<boolean>;
  /** Race (`create=true`, create-only) for or overwrite the `initialize` key. */
  initialize(create: boolean, sysid: string): Promise<boolean>;
  /** Delete `initialize` (failed bootstrap). */
  cancelInitialization(): Promise<boolean>;
  /** Write `config`; with `version`, only if unchanged since. */
  setConfigValue(json: string, version?: string): Promise<boolean>;
  setFailoverValue(json: string, version?: string): Promise<boolean>;
  /** Write `sync` (CAS when `version` given); returns the new version, or null when the CAS lost. */
  setSyncState(value: SyncValue, version?: string): Promise<string | null>;
  deleteSyncState(version?: string): Promise<boolean>;
  setHistoryValue(json: string): Promise<boolean>;
  writeStatus(status: StatusValue): Promise<boolean>;
  writeFailsafe(map: Record<string, string>): Promise<boolean>;
  /**
   * Wait up to `timeoutMs` for a change of the leader key (or config/status/failover); resolve `true` when woken
   * by a change, `false` on timeout. A change made after this client's last `getCluster` (or the leader version
   * given) but before the call counts, so it resolves at once. Never throws (an unreachable store means waiting
   * out the timeout); resolves `false` early when `signal` aborts.
   */
  watch(leaderVersion: string | null, timeoutMs: number, signal?: AbortSignal): Promise<boolean>;
  /**
   * Whether this client's unproven local view (etcd's watch-fed copy) shows no leader key right now, without
   * a request. A hint for starting work early, never a basis for a decision: `getCluster` stays the proof.
   * Backends without such a view leave it out.
   */
  leaderlessHint?(): boolean;
  /** Remove every key of this cluster (patronictl remove). */
  deleteCluster(): Promise<boolean>;
  /** Timings changed in dynamic config: new lease TTL / budgets from the next operation on. */
  setTimings(t: DcsTimings): void;
  /** Stop background work, drop our session/lease (the caller decides whether keys should vanish). */
  close(): Promise<void>;
  /** Requests sent to the store so far (bench: requests per operation). Optional for backends. */
  readonly requestCount?: number;
}

/** Base path `/<namespace>/<scope>` with repeated slashes collapsed, as Patroni builds it. */
export function basePath(namespace: string, scope: string): string {
  return ("/" + namespace + "/" + scope).replace(/\/+/g, "/").replace(/\/$/, "");
}

/** Prefix of this member's keys: base path, plus `/<group>` with Citus. */
export function clientPath(o: Pick<DcsOptions, "namespace" | "scope" | "group">): string {
  const base = basePath(o.namespace, o.scope);
  return o.group === undefined ? base : `${base}/${o.group}`;
}
