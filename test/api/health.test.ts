import { deepStrictEqual as assertEquals } from "node:assert/strict";
import type { AgentView } from "../../src/agent/status.ts";
import { emptySnapshot } from "../../src/dcs/types.ts";
import { healthStatus, livenessStatus, readinessFailure } from "../../src/api/health.ts";
import { statusDocument } from "../../src/api/status_doc.ts";
import {
  buildConfig,
  buildView,
  NOW,
  primaryPg,
  replicaPg,
  type ViewOverrides,
} from "../helpers/fake_agent.ts";

/** A cached DCS view with a leader, optional sync key and leader optime. */
function cluster(o: { leader?: string | null; sync?: string | null; optime?: number } = {}) {
  const s = emptySnapshot();
  if (o.leader !== null) s.leader = { name: o.leader ?? "node1", version: "1" };
  if (o.sync) s.sync = { value: { leader: "node1", sync_standby: o.sync }, version: "2" };
  if (o.optime !== undefined) s.status = { optime: o.optime };
  return s;
}

const primary = (o: ViewOverrides = {}) => buildView("primary", { cluster: cluster(), ...o });
const replica = (o: ViewOverrides = {}) =>
  buildView("replica", { cluster: cluster({ optime: 0x5000060 }), ...o });

const syncDyn = { synchronousMode: "on" as const };
const quorumDyn = { synchronousMode: "quorum" as const };
const standbyDyn = { standbyCluster: { host: "10.0.0.9", port: 5432 } };

interface Row {
  name: string;
  view: AgentView;
  path: string;
  query?: string;
  want: 200 | 503;
}

const rows: Row[] = [
  // Primary holding the lock.
  { name: "primary /", view: primary(), path: "/", want: 200 },
  { name: "primary /primary", view: primary(), path: "/primary", want: 200 },
  { name: "primary /read-write", view: primary(), path: "/read-write", want: 200 },
  { name: "primary /master (any path containing master)", view: primary(), path: "/xmasterx", want: 200 },
  { name: "primary /leader", view: primary(), path: "/leader", want: 200 },
  { name: "primary /standby-leader", view: primary(), path: "/standby-leader", want: 503 },
  { name: "primary /replica", view: primary(), path: "/replica", want: 503 },
  { name: "primary /read-only", view: primary(), path: "/read-only", want: 200 },
  { name: "primary /sync", view: primary({ dynamic: syncDyn }), path: "/sync", want: 503 },
  { name: "primary /read-only-sync", view: primary(), path: "/read-only-sync", want: 200 },
  { name: "primary /read-only-quorum", view: primary(), path: "/read-only-quorum", want: 200 },
  { name: "primary /async", view: primary(), path: "/async", want: 503 },
  { name: "primary /health", view: primary(), path: "/health", want: 200 },
  { name: "unknown path is 503", view: primary(), path: "/foo", want: 503 },
  { name: "/patroni through the generic check is 503", view: primary(), path: "/patroni", want: 503 },
  // Tags are ignored on leader paths.
  {
    name: "primary / ignores tag filters",
    view: primary(),
    path: "/primary",
    query: "tag_zone=x",
    want: 200,
  },
  // Lock expired locally: not a leader any more.
  {
    name: "expired lock /primary",
    view: primary({ leaderValidUntil: NOW - 1 }),
    path: "/primary",
    want: 503,
  },
  { name: "expired lock /leader", view: primary({ leaderValidUntil: NOW - 1 }), path: "/leader", want: 503 },
  // Replica.
  { name: "replica /", view: replica(), path: "/", want: 503 },
  { name: "replica /leader", view: replica(), path: "/leader", want: 503 },
  { name: "replica /replica", view: replica(), path: "/replica", want: 200 },
  { name: "replica /read-only", view: replica(), path: "/read-only", want: 200 },
  { name: "replica /health", view: replica(), path: "/health", want: 200 },
  { name: "replica /async", view: replica(), path: "/async", want: 200 },
  { name: "replica /asynchronous", view: replica(), path: "/asynchronous", want: 200 },
  { name: "replica /sync when not sync", view: replica(), path: "/sync", want: 503 },
  {
    name: "replica /replica lag=1kB lagging 0x60 bytes",
    view: replica(),
    path: "/replica",
    query: "lag=16",
    want: 503,
  },
  { name: "replica /replica lag=1kB", view: replica(), path: "/replica", query: "lag=1kB", want: 200 },
  { name: "replica /replica lag=1MB", view: replica(), path: "/replica", query: "lag=1MB", want: 200 },
  {
    name: "replica /replica lag=invalid means no limit",
    view: replica(),
    path: "/replica",
    query: "lag=abc",
    want: 200,
  },
  { name: "replica /async lag applies", view: replica(), path: "/async", query: "lag=1", want: 503 },
  {
    name: "replica lag uses latest_end_lsn when larger",
    view: replica({ latestEndLsn: 0x6000000 }),
    path: "/replica",
    query: "lag=1MB",
    want: 503,
  },
  {
    name: "replica /replica replication_state=streaming",
    view: replica(),
    path: "/replica",
    query: "replication_state=streaming",
    want: 200,
  },
  {
    name: "replica /replica replication_state mismatch",
    view: replica(),
    path: "/replica",
    query: "replication_state=in%20archive%20recovery",
    want: 503,
  },
  {
    name: "replica noloadbalance",
    view: replica({ config: buildConfig("node2", { tags: { noloadbalance: true } }) }),
    path: "/replica",
    want: 503,
  },
  {
    name: "replica tag filter matches string tag",
    view: replica({ config: buildConfig("node2", { tags: { zone: "a" } }) }),
    path: "/replica",
    query: "tag_zone=a",
    want: 200,
  },
  {
    name: "replica tag filter differs",
    view: replica({ config: buildConfig("node2", { tags: { zone: "a" } }) }),
    path: "/replica",
    query: "tag_zone=b",
    want: 503,
  },
  {
    name: "replica tag filter missing tag",
    view: replica(),
    path: "/replica",
    query: "tag_zone=a",
    want: 503,
  },
  {
    name: "replica tag filter compares booleans lower-cased",
    view: replica({ config: buildConfig("node2", { tags: { nofailover: true } }) }),
    path: "/replica",
    query: "tag_nofailover=true",
    want: 200,
  },
  {
    name: "replica stopped /replica",
    view: replica({ state: "stopped", pg: null }),
    path: "/replica",
    want: 503,
  },
  {
    name: "replica stopped /health",
    view: replica({ state: "stopped", pg: null }),
    path: "/health",
    want: 503,
  },
  // Sync standby (priority mode).
  {
    name: "sync replica /sync",
    view: replica({ dynamic: syncDyn, cluster: cluster({ sync: "node2" }) }),
    path: "/sync",
    want: 200,
  },
  {
    name: "sync replica /synchronous",
    view: replica({ dynamic: syncDyn, cluster: cluster({ sync: "NODE2" }) }),
    path: "/synchronous",
    want: 200,
  },
  {
    name: "sync replica /async",
    view: replica({ dynamic: syncDyn, cluster: cluster({ sync: "node2" }) }),
    path: "/async",
    want: 503,
  },
  {
    name: "sync replica /read-only-sync",
    view: replica({ dynamic: syncDyn, cluster: cluster({ sync: "node2" }) }),
    path: "/read-only-sync",
    want: 200,
  },
  {
    name: "sync paths match exactly",
    view: replica({ dynamic: syncDyn, cluster: cluster({ sync: "node2" }) }),
    path: "/sync/",
    want: 503,
  },
  {
    name: "sync replica /quorum is not quorum",
    view: replica({ dynamic: syncDyn, cluster: cluster({ sync: "node2" }) }),
    path: "/quorum",
    want: 503,
  },
  {
    name: "sync /sync needs the DCS",
    view: replica({
      dynamic: syncDyn,
      cluster: cluster({ sync: "node2" }),
      dcsLastSeen: NOW / 1000 - 31,
    }),
    path: "/sync",
    want: 503,
  },
  // Quorum mode.
  {
    name: "quorum replica /quorum",
    view: replica({ dynamic: quorumDyn, cluster: cluster({ sync: "node2" }) }),
    path: "/quorum",
    want: 200,
  },
  {
    name: "quorum replica /read-only-quorum",
    view: replica({ dynamic: quorumDyn, cluster: cluster({ sync: "node2" }) }),
    path: "/read-only-quorum",
    want: 200,
  },
  {
    name: "quorum replica /sync",
    view: replica({ dynamic: quorumDyn, cluster: cluster({ sync: "node2" }) }),
    path: "/sync",
    want: 503,
  },
  {
    name: "non-quorum replica /read-only-quorum",
    view: replica({ dynamic: quorumDyn, cluster: cluster({ sync: "node3" }) }),
    path: "/read-only-quorum",
    want: 503,
  },
  // Standby cluster leader.
  {
    name: "standby leader /standby-leader",
    view: buildView("replica", {
      dynamic: standbyDyn,
      role: "standby_leader",
      isLeader: true,
      leaderValidUntil: NOW + 10_000,
      cluster: cluster({ leader: "node2" }),
    }),
    path: "/standby-leader",
    want: 200,
  },
  {
    name: "standby leader /standby_leader",
    view: buildView("replica", {
      dynamic: standbyDyn,
      role: "standby_leader",
      isLeader: true,
      leaderValidUntil: NOW + 10_000,
      cluster: cluster({ leader: "node2" }),
    }),
    path: "/standby_leader",
    want: 200,
  },
  {
    name: "standby leader /leader",
    view: buildView("replica", {
      dynamic: standbyDyn,
      role: "standby_leader",
      isLeader: true,
      leaderValidUntil: NOW + 10_000,
      cluster: cluster({ leader: "node2" }),
    }),
    path: "/leader",
    want: 200,
  },
  {
    name: "standby leader /primary",
    view: buildView("replica", {
      dynamic: standbyDyn,
      role: "standby_leader",
      isLeader: true,
      leaderValidUntil: NOW + 10_000,
      cluster: cluster({ leader: "node2" }),
    }),
    path: "/primary",
    want: 503,
  },
  {
    name: "standby leader /replica",
    view: buildView("replica", {
      dynamic: standbyDyn,
      role: "standby_leader",
      isLeader: true,
      leaderValidUntil: NOW + 10_000,
      cluster: cluster({ leader: "node2" }),
    }),
    path: "/replica",
    want: 503,
  },
  {
    name: "standby leader /read-only",
    view: buildView("replica", {
      dynamic: standbyDyn,
      role: "standby_leader",
      isLeader: true,
      leaderValidUntil: NOW + 10_000,
      cluster: cluster({ leader: "node2" }),
    }),
    path: "/read-only",
    want: 200,
  },
  // DCS unreachable while paused: the PostgreSQL role decides.
  {
    name: "paused, DCS down, primary role /primary",
    view: primary({ paused: true, isLeader: false, cluster: null, dcsLastSeen: null }),
    path: "/primary",
    want: 200,
  },
  {
    name: "paused, DCS down, replica /leader",
    view: replica({ paused: true, cluster: null, dcsLastSeen: null }),
    path: "/leader",
    want: 503,
  },
  {
    name: "not paused, DCS down, lock expired /primary",
    view: primary({ isLeader: false, leaderValidUntil: 0, cluster: null, dcsLastSeen: null }),
    path: "/primary",
    want: 503,
  },
];

for (const r of rows) {
  Deno.test(`healthStatus: ${r.name} → ${r.want}`, () => {
    assertEquals(healthStatus(r.view, r.path, new URLSearchParams(r.query ?? ""), NOW), r.want);
  });
}

Deno.test("livenessStatus: within ttl of the planned run on a primary, 2*ttl elsewhere, always when paused", () => {
  const cases: [AgentView, number][] = [
    [primary({ nextRunAt: NOW - 29_000 }), 200],
    [primary({ nextRunAt: NOW - 31_000 }), 503],
    [replica({ nextRunAt: NOW - 31_000 }), 200],
    [replica({ nextRunAt: NOW - 61_000 }), 503],
    [primary({ nextRunAt: NOW - 31_000, pg: primaryPg({ running: false }) }), 200],
    [replica({ nextRunAt: NOW - 600_000, paused: true }), 200],
  ];
  for (const [view, want] of cases) assertEquals(livenessStatus(view, NOW), want);
});

Deno.test("readinessFailure: leader ready; replica needs running, streaming, and lag within the limit", () => {
  const q = (s = "") => new URLSearchParams(s);
  assertEquals(readinessFailure(primary(), q(), NOW), null);
  assertEquals(readinessFailure(replica(), q(), NOW), null);
  assertEquals(readinessFailure(replica({ state: "starting" }), q(), NOW), "PostgreSQL is not running");
  assertEquals(
    readinessFailure(replica({ pg: replicaPg({ replicationState: "in archive recovery" }) }), q(), NOW),
    "PostgreSQL replication state is not streaming",
  );
  assertEquals(
    readinessFailure(replica(), q("lag=16"), NOW),
    "Replication apply lag 96 exceeds maximum allowable 16",
  );
  // mode=write measures received WAL, which is at the leader's optime here.
  assertEquals(readinessFailure(replica(), q("lag=16&mode=write"), NOW), null);
  // Default limit: maximum_lag_on_failover (1 MiB).
  assertEquals(
    readinessFailure(replica({ pg: replicaPg({ replayLsn: 0x4000000 }) }), q(), NOW),
    `Replication apply lag ${0x5000060 - 0x4000000} exceeds maximum allowable 1048576`,
  );
  const offline = { cluster: null, dcsLastSeen: null };
  assertEquals(readinessFailure(replica(offline), q(), NOW), "DCS is not accessible");
  assertEquals(readinessFailure(replica({ ...offline, failsafeActive: true }), q(), NOW), null);
  assertEquals(readinessFailure(replica({ ...offline, latestEndLsn: 0x5000010 }), q(), NOW), null);
});

Deno.test("statusDocument: primary fields in Patroni 4 naming", () => {
  const doc = statusDocument(
    primary({ config: buildConfig("node1", { tags: { nofailover: false, zone: "a" } }) }),
    NOW,
  );
  assertEquals(doc.state, "running");
  assertEquals(doc.role, "primary");
  assertEquals(doc.server_version, 150004);
  assertEquals(doc.xlog, { location: 0x5000060 });
  assertEquals(doc.timeline, 2);
  assertEquals(doc.postmaster_start_time, "2024-06-01 10:00:00.5+00");
  assertEquals(doc.replication?.[0], {
    usename: "replicator",
    application_name: "node2",
    client_addr: "127.0.0.1",
    state: "streaming",
    sync_state: "async",
    sync_priority: 0,
  });
  assertEquals(doc.cluster_unlocked, undefined);
  assertEquals(doc.dcs_last_seen, NOW / 1000 - 1);
  assertEquals(doc.tags, { zone: "a" });
  assertEquals(doc.database_system_identifier, "7350000000000000001");
  assertEquals(doc.patroni, { version: "0.1.0", scope: "batman", name: "node1" });
  assertEquals(doc.replication_state, undefined);
  assertEquals(doc.pending_restart, undefined);
});

Deno.test("statusDocument: replica xlog, replication state, sync flag, pending restart, schedule", () => {
  const view = replica({
    dynamic: syncDyn,
    cluster: cluster({ sync: "node2", optime: 1 }),
    pg: replicaPg({
      pendingRestart: true,
      pendingRestartReason: { shared_buffers: { old_value: "128MB", new_value: "256MB" } },
    }),
    scheduledRestart: { schedule: "2030-01-01T00:00:00+00:00", postmaster_start_time: "x", role: "replica" },
    paused: true,
    watchdogFailed: true,
  });
  const doc = statusDocument(view, NOW);
  assertEquals(doc.role, "replica");
  assertEquals(doc.xlog, {
    received_location: 0x5000060,
    replayed_location: 0x5000000,
    replayed_timestamp: "2024-06-01 10:05:00+00",
    paused: false,
  });
  assertEquals(doc.replication_state, "streaming");
  assertEquals(doc.sync_standby, true);
  assertEquals(doc.quorum_standby, undefined);
  assertEquals(doc.pause, true);
  assertEquals(doc.pending_restart, true);
  assertEquals(doc.pending_restart_reason, { shared_buffers: { old_value: "128MB", new_value: "256MB" } });
  assertEquals(doc.scheduled_restart, { schedule: "2030-01-01T00:00:00+00:00", role: "replica" });
  assertEquals(doc.watchdog_failed, true);
  assertEquals(doc.replication, undefined);
});

Deno.test("statusDocument: PostgreSQL down gives the internal role; running without SQL gives unknown", () => {
  const down = statusDocument(
    replica({ state: "stopped", role: "demoted", pg: replicaPg({ running: false, accepting: false }) }),
    NOW,
  );
  assertEquals([down.state, down.role, down.xlog, down.timeline], [
    "stopped",
    "demoted",
    undefined,
    undefined,
  ]);
  const noSql = statusDocument(replica({ pg: replicaPg({ accepting: false, inRecovery: null }) }), NOW);
  assertEquals([noSql.state, noSql.role], ["unknown", "replica"]);
  const unlocked = statusDocument(replica({ cluster: cluster({ leader: null }) }), NOW);
  assertEquals(unlocked.cluster_unlocked, true);
  const master = statusDocument(primary({ state: "stopped", role: "master", pg: null }), NOW);
  assertEquals(master.role, "primary");
});

Deno.test("statusDocument: standby leader role in a standby cluster", () => {
  const doc = statusDocument(
    buildView("replica", {
      dynamic: standbyDyn,
      role: "standby_leader",
      cluster: cluster({ leader: "node2" }),
    }),
    NOW,
  );
  assertEquals(doc.role, "standby_leader");
});
