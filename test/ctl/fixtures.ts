/** Snapshot builders for the ctl tests. */
import {
  type ClusterSnapshot,
  emptySnapshot,
  type HistoryEntry,
  type MemberData,
} from "../../src/dcs/types.ts";

export function member(
  name: string,
  port: number,
  extra: MemberData = {},
): { name: string; data: MemberData } {
  return {
    name,
    data: {
      conn_url: `postgres://127.0.0.1:${port}/postgres`,
      api_url: `http://127.0.0.1:${port + 2576}/patroni`,
      state: "running",
      role: "replica",
      ...extra,
    },
  };
}

export interface SnapshotSpec {
  sysid?: string | null;
  leader?: string;
  members: { name: string; data: MemberData }[];
  config?: Record<string, unknown>;
  sync?: { leader: string; sync_standby: string };
  failover?: Record<string, string>;
  history?: HistoryEntry[];
  optime?: number;
}

export function snapshot(spec: SnapshotSpec): ClusterSnapshot {
  const s = emptySnapshot();
  s.initialize = spec.sysid === undefined ? "7290932069385928812" : spec.sysid;
  s.members = spec.members.map((m, i) => ({ ...m, version: String(i + 1) }));
  if (spec.leader) s.leader = { name: spec.leader, version: "10" };
  if (spec.config) s.config = { value: spec.config, version: "11" };
  if (spec.sync) s.sync = { value: spec.sync, version: "12" };
  if (spec.failover) s.failover = { value: spec.failover, version: "13" };
  if (spec.history) s.history = { value: spec.history, version: "14" };
  if (spec.optime !== undefined) s.status = { optime: spec.optime };
  return s;
}

const MB = 1024 * 1024;

/** The three-member cluster also rendered by Patroni 3.0.2's own `output_members` for the golden outputs. */
export function batman(): ClusterSnapshot {
  return snapshot({
    leader: "node1",
    optime: 48 * MB,
    config: { pause: true, synchronous_mode: true, loop_wait: 10 },
    sync: { leader: "node1", sync_standby: "node2" },
    failover: { leader: "node1", member: "node3", scheduled_at: "2030-01-01T12:00:00+00:00" },
    members: [
      member("node1", 5432, { role: "primary", timeline: 2, xlog_location: 48 * MB }),
      member("node2", 5433, {
        timeline: 2,
        xlog_location: 45 * MB,
        tags: { nofailover: true, clonefrom: true },
      }),
      member("node3", 5434, {
        pending_restart: true,
        scheduled_restart: { schedule: "2030-01-01T12:00:00+00:00", postgres_version: "15.5" },
      }),
    ],
  });
}
