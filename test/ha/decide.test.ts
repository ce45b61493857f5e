/**
 * decide() as a table: one observation in, the action, reason code, Patroni-worded message and (for races
 * and failover checks) the per-member explanation out.
 */
import { decide } from "../../src/ha/decide.ts";
import type { Observation } from "../../src/ha/types.ts";
import {
  cluster,
  emptyPg,
  member,
  NOW,
  obs,
  peer,
  pgState,
  primaryPg,
  stoppedPg,
  SYSID,
  unreachable,
} from "./builders.ts";
import { assertDecision, type Expected } from "./expect.ts";

interface Case {
  name: string;
  obs: Observation;
  expect: Expected;
}

const node1Primary = member("node1", { role: "primary" });
const node2Primary = member("node2", { role: "primary" });
const three = [member("node1"), member("node2"), member("node3")];
const addr = (n: number, slot?: string) => ({ host: "127.0.0.1", port: 5430 + n, ...(slot ? { slot } : {}) });
const iso = (ms: number) => new Date(ms).toISOString();
/** Timeline 2 history: one switch from TL 1 at LSN 500. */
const tl2: [number, number, string][] = [[1, 500, "no recovery target specified"]];

const steady: Case[] = [
  {
    name: "the lock holder running as primary renews and reports Patroni's steady message",
    obs: obs({
      pg: primaryPg(),
      cluster: cluster({ leader: "node1", members: [node1Primary, member("node2")] }),
    }),
    expect: {
      type: "lead",
      code: "steady_leader",
      message: "no action. I am (node1), the leader with the lock",
      action: { promote: false, standbyLeader: false, cleanFailover: null },
    },
  },
  {
    name: "a replica follows the leader through the leader's address and its own slot",
    obs: obs({ cluster: cluster({ leader: "node2", members: [member("node1"), node2Primary] }) }),
    expect: {
      type: "follow",
      code: "steady_replica",
      message: "no action. I am (node1), a secondary, and following a leader (node2)",
      action: { leaderName: "node2", upstream: addr(2, "node1") },
    },
  },
  {
    name: "replicatefrom streams from the named running member instead of the leader",
    obs: obs({
      tags: { replicatefrom: "node3" },
      cluster: cluster({ leader: "node2", members: [member("node1"), node2Primary, member("node3")] }),
    }),
    expect: { type: "follow", code: "steady_replica", action: { upstream: addr(3, "node1") } },
  },
  {
    name: "replicatefrom a stopped member falls back to the leader",
    obs: obs({
      tags: { replicatefrom: "node3" },
      cluster: cluster({
        leader: "node2",
        members: [member("node1"), node2Primary, member("node3", { state: "stopped" })],
      }),
    }),
    expect: { type: "follow", code: "steady_replica", action: { upstream: addr(2, "node1") } },
  },
  {
    name: "nostream follows without an upstream (archive recovery)",
    obs: obs({
      tags: { nostream: true },
      cluster: cluster({ leader: "node2", members: [member("node1"), node2Primary] }),
    }),
    expect: { type: "follow", code: "steady_replica", action: { upstream: null } },
  },
  {
    name: "a lock holder still in recovery promotes",
    obs: obs({ cluster: cluster({ leader: "node1", members: [member("node1"), member("node2")] }) }),
    expect: {
      type: "lead",
      code: "promote",
      message: "promoted self to leader because I had the session lock",
      action: { promote: true },
    },
  },
  {
    name: "a lock holder whose PostgreSQL does not accept connections yet keeps renewing",
    obs: obs({
      pg: primaryPg({ accepting: false, inRecovery: null }),
      cluster: cluster({ leader: "node1" }),
    }),
    expect: {
      type: "lead",
      code: "starting",
      message: "PostgreSQL is still starting up",
      action: { promote: false },
    },
  },
  {
    name: "a replica that is still starting waits",
    obs: obs({ pg: pgState({ accepting: false, inRecovery: null }), cluster: cluster({ leader: "node2" }) }),
    expect: { type: "none", code: "starting" },
  },
  {
    name: "a long action in progress suppresses every decision",
    obs: obs({ asyncAction: "bootstrap", cluster: "down", pg: primaryPg() }),
    expect: { type: "none", code: "async_action", message: "bootstrap in progress" },
  },
];

const bootstrap: Case[] = [
  {
    name: "empty data dir, no initialize key: race to bootstrap",
    obs: obs({ pg: emptyPg(), cluster: cluster({ initialize: null }) }),
    expect: { type: "bootstrap", code: "bootstrap", message: "trying to bootstrap a new cluster" },
  },
  {
    name: 'initialize is "" (someone is bootstrapping): wait',
    obs: obs({ pg: emptyPg(), cluster: cluster({ initialize: "" }) }),
    expect: { type: "none", code: "waiting_bootstrap", message: "waiting for leader to bootstrap" },
  },
  {
    name: "a nofailover node never bootstraps",
    obs: obs({ pg: emptyPg(), tags: { nofailover: true }, cluster: cluster({ initialize: null }) }),
    expect: { type: "none", code: "waiting_bootstrap" },
  },
  {
    name: "without a bootstrap section the node waits",
    obs: obs({ pg: emptyPg(), canBootstrap: false, cluster: cluster({ initialize: null }) }),
    expect: { type: "none", code: "waiting_bootstrap" },
  },
  {
    name: "empty data dir with a leader: clone from the leader, without a slot",
    obs: obs({
      pg: emptyPg(),
      cluster: cluster({ leader: "node2", members: [node2Primary, member("node3")] }),
    }),
    expect: {
      type: "clone",
      code: "clone",
      message: "trying to bootstrap from leader 'node2'",
      action: { sourceName: "node2", source: { ...addr(2), slot: undefined } },
    },
  },
  {
    name: "a running clonefrom member is preferred over the leader",
    obs: obs({
      pg: emptyPg(),
      cluster: cluster({
        leader: "node2",
        members: [node2Primary, member("node3", { tags: { clonefrom: true } })],
      }),
    }),
    expect: {
      type: "clone",
      code: "clone",
      message: "trying to bootstrap from replica 'node3'",
      action: { sourceName: "node3", source: { host: "127.0.0.1", port: 5433 } },
    },
  },
  {
    name: "a stopped clonefrom member is not used",
    obs: obs({
      pg: emptyPg(),
      cluster: cluster({
        leader: "node2",
        members: [node2Primary, member("node3", { state: "stopped", tags: { clonefrom: true } })],
      }),
    }),
    expect: { type: "clone", code: "clone", action: { sourceName: "node2" } },
  },
  {
    name: "a leader without a published address cannot be cloned yet",
    obs: obs({
      pg: emptyPg(),
      cluster: cluster({ leader: "node2", members: [member("node2", { connUrl: null })] }),
    }),
    expect: { type: "none", code: "waiting_leader_address" },
  },
  {
    name: "the lock holder with an empty data dir gives the lock up",
    obs: obs({ pg: emptyPg(), cluster: cluster({ leader: "node1" }) }),
    expect: { type: "release_lock", code: "empty_data_dir" },
  },
];

const crash: Case[] = [
  {
    name: "the lock holder whose primary crashed starts it again as primary",
    obs: obs({
      pg: stoppedPg({ controlState: "in production" }),
      memory: { downSince: NOW - 5_000 },
      cluster: cluster({ leader: "node1", members: [node1Primary, member("node2")] }),
      peers: [peer("node2")],
    }),
    expect: {
      type: "start",
      code: "restart_crashed_primary",
      message: "starting primary after failure",
      action: { role: "primary", upstream: null, timeoutS: 300 },
    },
  },
  {
    name: "past primary_start_timeout with a healthy replica: release the lock",
    obs: obs({
      dynamic: { primaryStartTimeout: 60 },
      pg: stoppedPg({ controlState: "in production" }),
      memory: { downSince: NOW - 61_000 },
      cluster: cluster({ leader: "node1", members: [node1Primary, member("node2")] }),
      peers: [peer("node2")],
    }),
    expect: {
      type: "release_lock",
      code: "start_timeout",
      message: "removed leader key after trying and failing to start postgres",
    },
  },
  {
    name: "past primary_start_timeout but nobody could take over: keep trying to start",
    obs: obs({
      dynamic: { primaryStartTimeout: 60 },
      pg: stoppedPg({ controlState: "in production" }),
      memory: { downSince: NOW - 61_000 },
      cluster: cluster({ leader: "node1", members: [node1Primary, member("node2")] }),
      peers: [unreachable("node2")],
    }),
    expect: { type: "start", code: "restart_crashed_primary", action: { role: "primary" } },
  },
  {
    name: "primary_start_timeout 0 fails over at once when a replica is healthy",
    obs: obs({
      dynamic: { primaryStartTimeout: 0 },
      pg: stoppedPg({ controlState: "in production" }),
      memory: { downSince: NOW },
      cluster: cluster({ leader: "node1", members: [node1Primary, member("node2")] }),
      peers: [peer("node2")],
    }),
    expect: { type: "release_lock", code: "start_timeout" },
  },
  {
    name: "a lock holder whose data dir was a replica's starts read-only (promoted on the next cycle)",
    obs: obs({
      pg: stoppedPg({ controlState: "shut down in recovery" }),
      cluster: cluster({ leader: "node1", members: [member("node1"), member("node2")] }),
      peers: [peer("node2")],
    }),
    expect: {
      type: "start",
      code: "start_readonly_holder",
      message: "starting as readonly because i had the session lock",
      action: { role: "replica", upstream: null },
    },
  },
  {
    name: "a stopped replica starts following the leader",
    obs: obs({
      pg: stoppedPg(),
      cluster: cluster({ leader: "node2", members: [member("node1"), node2Primary] }),
    }),
    expect: {
      type: "start",
      code: "start_replica",
      message: "starting as a secondary",
      action: { role: "replica", upstream: addr(2, "node1") },
    },
  },
];

const lockAndDcs: Case[] = [
  {
    name: "a primary that lost the lock demotes immediate-nolock and follows the new leader",
    obs: obs({
      pg: primaryPg(),
      cluster: cluster({ leader: "node2", members: [member("node1"), node2Primary] }),
    }),
    expect: {
      type: "demote",
      code: "demote_no_lock",
      message: "demoting self because I do not have the lock and I was a leader",
      action: { mode: "immediate-nolock", stop: "immediate", releaseLock: false, upstream: addr(2, "node1") },
    },
  },
  {
    name: "DCS down: a primary demotes offline and keeps no lock to release",
    obs: obs({ pg: primaryPg(), cluster: "down" }),
    expect: {
      type: "demote",
      code: "dcs_unavailable_demote",
      message: "demoted self because DCS is not accessible and I was a leader",
      action: { mode: "offline", stop: "fast", releaseLock: false, upstream: null },
    },
  },
  {
    name: "DCS down with failsafe_mode and every member accepting: continue as primary",
    obs: obs({
      pg: primaryPg(),
      cluster: "down",
      dynamic: { failsafeMode: true },
      failsafeAllAccepted: true,
    }),
    expect: {
      type: "none",
      code: "failsafe_continue",
      message: "continue to run as a leader because failsafe mode is enabled and all members are accessible",
    },
  },
  {
    name: "DCS down with failsafe_mode but a member refused: demote offline",
    obs: obs({
      pg: primaryPg(),
      cluster: "down",
      dynamic: { failsafeMode: true },
      failsafeAllAccepted: false,
    }),
    expect: { type: "demote", code: "dcs_unavailable_demote", action: { mode: "offline" } },
  },
  {
    name: "all members accepting without failsafe_mode still demotes",
    obs: obs({ pg: primaryPg(), cluster: "down", failsafeAllAccepted: true }),
    expect: { type: "demote", code: "dcs_unavailable_demote" },
  },
  {
    name: "DCS down on a replica: nothing to do",
    obs: obs({ cluster: "down" }),
    expect: { type: "none", code: "dcs_unavailable", message: "DCS is not accessible" },
  },
  {
    name: "DCS down on a paused primary: keep running",
    obs: obs({ pg: primaryPg(), cluster: "down", dynamic: { pause: true } }),
    expect: { type: "none", code: "dcs_unavailable", message: "PAUSE: DCS is not accessible" },
  },
];

/** No leader; node1 is a replica at LSN 1000; node2 and node3 answer as given. */
function race(peers: ReturnType<typeof peer>[], extra: Parameters<typeof obs>[0] = {}) {
  return obs({ cluster: cluster({ members: three }), peers, ...extra });
}

const noLeader: Case[] = [
  {
    name: "no leader: the healthiest replica races, every peer explained",
    obs: race([peer("node2", { lsn: 900 }), peer("node3", { lsn: 1000 })]),
    expect: {
      type: "acquire_lock",
      code: "race",
      message: "promoted self to leader by acquiring session lock",
      action: { standbyLeader: false, failover: null },
      rules: { node1: null, node2: null, node3: null },
    },
  },
  {
    name: "a peer ahead of me blocks the race",
    obs: race([peer("node2", { lsn: 1100 }), peer("node3")]),
    expect: {
      type: "follow",
      code: "not_healthiest_behind",
      message: "following a different leader because i am not the healthiest node",
      action: { upstream: null, leaderName: null },
      rules: { node1: "behind", node2: null, node3: null },
    },
  },
  {
    name: "a peer ahead on an older timeline (diverged ex-primary) does not block",
    obs: race([peer("node2", { lsn: 5000, timeline: 1 }), peer("node3", { timeline: 2 })], {
      pg: pgState({ timeline: 2 }),
      cluster: cluster({ members: three, history: tl2 }),
    }),
    expect: { type: "acquire_lock", code: "race", rules: { node1: null, node2: null, node3: null } },
  },
  {
    name: "a peer ahead on a newer timeline blocks",
    obs: race([peer("node2", { lsn: 5000, timeline: 2 }), peer("node3")]),
    expect: { type: "follow", code: "not_healthiest_behind" },
  },
  {
    name: "a peer still running as primary blocks the race",
    obs: race([peer("node2", { isPrimary: true, lsn: 900 }), peer("node3")]),
    expect: {
      type: "follow",
      code: "not_healthiest_primary_alive",
      rules: { node1: "primary_alive", node2: "primary_alive", node3: null },
    },
  },
  {
    name: "unreachable peers do not block",
    obs: race([unreachable("node2"), unreachable("node3")]),
    expect: {
      type: "acquire_lock",
      code: "race",
      rules: { node1: null, node2: "unreachable", node3: "unreachable" },
    },
  },
  {
    name: "lag beyond maximum_lag_on_failover behind the last leader's optime blocks",
    obs: race([peer("node2", { lsn: 0 }), peer("node3", { lsn: 0 })], {
      cluster: cluster({ members: three, status: { optime: 1000 + 1048577 } }),
    }),
    expect: { type: "follow", code: "lag", rules: { node1: "lag" } },
  },
  {
    name: "lag exactly at maximum_lag_on_failover still races",
    obs: race([peer("node2", { lsn: 0 }), peer("node3", { lsn: 0 })], {
      cluster: cluster({ members: three, status: { optime: 1000 + 1048576 } }),
    }),
    expect: { type: "acquire_lock", code: "race" },
  },
  {
    name: "a nofailover node is not allowed to promote",
    obs: race([unreachable("node2"), unreachable("node3")], { tags: { nofailover: true } }),
    expect: {
      type: "follow",
      code: "nofailover",
      message: "following a different leader because I am not allowed to promote",
      rules: { node1: "nofailover" },
    },
  },
  {
    name: "failover_priority 0 counts as nofailover",
    obs: race([unreachable("node2"), unreachable("node3")], { tags: { failoverPriority: 0 } }),
    expect: { type: "follow", code: "nofailover" },
  },
  {
    name: "a nofailover peer ahead does not block",
    obs: race([peer("node2", { lsn: 5000, nofailover: true }), peer("node3", { lsn: 900 })]),
    expect: { type: "acquire_lock", code: "race", rules: { node1: null, node2: "nofailover", node3: null } },
  },
  {
    name: "a peer with a failed watchdog does not block",
    obs: race([peer("node2", { lsn: 5000, watchdogFailed: true }), peer("node3")]),
    expect: { type: "acquire_lock", code: "race", rules: { node1: null, node2: "watchdog", node3: null } },
  },
  {
    name: "same LSN: a peer with a higher failover_priority wins the tie",
    obs: race([peer("node2", { failoverPriority: 2 }), peer("node3")]),
    expect: {
      type: "follow",
      code: "not_healthiest_priority",
      rules: { node1: "priority", node2: null, node3: null },
    },
  },
  {
    name: "same LSN: my higher failover_priority wins the tie",
    obs: race([peer("node2", { failoverPriority: 2 }), peer("node3")], { tags: { failoverPriority: 3 } }),
    expect: { type: "acquire_lock", code: "race" },
  },
  {
    name: "failover_priority only breaks ties: a lower-priority peer ahead still blocks",
    obs: race([peer("node2", { lsn: 1001, failoverPriority: 1 }), peer("node3")], {
      tags: { failoverPriority: 9 },
    }),
    expect: { type: "follow", code: "not_healthiest_behind" },
  },
  {
    name: "members of the last view with a leader are compared too (unreachable when gone)",
    obs: obs({
      cluster: cluster({ members: [member("node1"), member("node2")] }),
      peers: [peer("node2")],
      memory: { lastMembersWithLeader: ["node1", "node2", "node3"] },
    }),
    expect: { type: "acquire_lock", code: "race", rules: { node1: null, node2: null, node3: "unreachable" } },
  },
  {
    name: "a running primary without a leader key re-takes the lock",
    obs: obs({ pg: primaryPg(), cluster: cluster({ members: three }) }),
    expect: {
      type: "acquire_lock",
      code: "acquire_lock_primary",
      message: "acquired session lock as a leader",
    },
  },
  {
    name: "stale primary: a running primary on an older timeline than the cluster demotes",
    obs: obs({ pg: primaryPg({ timeline: 1 }), cluster: cluster({ members: three, history: tl2 }) }),
    expect: {
      type: "demote",
      code: "stale_primary",
      message: "demoting self because i am not the healthiest node",
      action: { mode: "immediate-nolock", releaseLock: false, upstream: null },
      rules: { node1: "timeline" },
    },
  },
  {
    name: "a primary on the cluster timeline is not stale",
    obs: obs({ pg: primaryPg({ timeline: 2 }), cluster: cluster({ members: three, history: tl2 }) }),
    expect: { type: "acquire_lock", code: "acquire_lock_primary" },
  },
  {
    name: "check_timeline: a replica behind the cluster timeline may not race",
    obs: race([unreachable("node2"), unreachable("node3")], {
      dynamic: { checkTimeline: true },
      cluster: cluster({ members: three, history: tl2 }),
    }),
    expect: { type: "follow", code: "timeline", rules: { node1: "timeline" } },
  },
  {
    name: "check_timeline: a replica on the cluster timeline races",
    obs: race([unreachable("node2"), unreachable("node3")], {
      dynamic: { checkTimeline: true },
      pg: pgState({ timeline: 2 }),
      cluster: cluster({ members: three, history: tl2 }),
    }),
    expect: { type: "acquire_lock", code: "race" },
  },
  {
    name: "without check_timeline an older timeline does not matter",
    obs: race([unreachable("node2"), unreachable("node3")], {
      cluster: cluster({ members: three, history: tl2 }),
    }),
    expect: { type: "acquire_lock", code: "race" },
  },
  {
    name: "a before-promote veto less than ttl ago keeps the node out of races",
    obs: race([unreachable("node2")], { memory: { promoteVetoedAt: NOW - 29_000 } }),
    expect: { type: "follow", code: "promote_vetoed", rules: { node1: "vetoed" } },
  },
  {
    name: "a veto older than ttl no longer matters",
    obs: race([unreachable("node2"), unreachable("node3")], { memory: { promoteVetoedAt: NOW - 30_000 } }),
    expect: { type: "acquire_lock", code: "race" },
  },
  {
    name: "watchdog required but unusable: not allowed to promote",
    obs: race([], { watchdog: { required: true, usable: false } }),
    expect: { type: "follow", code: "watchdog", message: /not allowed to promote/ },
  },
  {
    name: "failsafe_mode: a member not listed in /failsafe may not race",
    obs: race([], {
      dynamic: { failsafeMode: true },
      cluster: cluster({ members: three, failsafe: { node2: "http://127.0.0.1:8002/patroni" } }),
    }),
    expect: { type: "follow", code: "failsafe_not_listed" },
  },
  {
    name: "failsafe_mode: members missing from /failsafe may not race, so they do not block by priority",
    obs: race([peer("node2", { failoverPriority: 5 }), peer("node3", { lsn: 900 })], {
      dynamic: { failsafeMode: true },
      cluster: cluster({
        members: three,
        failsafe: { node1: "http://127.0.0.1:8001/patroni", node3: "http://127.0.0.1:8003/patroni" },
      }),
    }),
    expect: { type: "acquire_lock", code: "race", rules: { node1: null, node2: "unreachable", node3: null } },
  },
  {
    name: "failsafe_mode: a listed member ahead still blocks",
    obs: race([peer("node2"), peer("node3", { lsn: 5000 })], {
      dynamic: { failsafeMode: true },
      cluster: cluster({
        members: three,
        failsafe: { node1: "http://127.0.0.1:8001/patroni", node3: "http://127.0.0.1:8003/patroni" },
      }),
    }),
    expect: { type: "follow", code: "not_healthiest_behind" },
  },
  {
    name: "failsafe_mode: a manual failover candidate missing from /failsafe may not race either",
    obs: race([peer("node2")], {
      dynamic: { failsafeMode: true },
      cluster: cluster({
        members: three,
        failover: { leader: "node3", member: "node1" },
        failsafe: { node2: "http://127.0.0.1:8002/patroni", node3: "http://127.0.0.1:8003/patroni" },
      }),
    }),
    expect: { type: "follow", code: "failsafe_not_listed" },
  },
  {
    name: "failsafe_mode: listed members do not wait for a candidate missing from /failsafe",
    obs: obs({
      name: "node2",
      dynamic: { failsafeMode: true },
      cluster: cluster({
        members: three,
        failover: { leader: "node3", member: "node1" },
        failsafe: { node2: "http://127.0.0.1:8002/patroni", node3: "http://127.0.0.1:8003/patroni" },
      }),
      peers: [peer("node1"), unreachable("node3")],
    }),
    expect: { type: "acquire_lock", code: "race", rules: { node1: "unreachable", node2: null } },
  },
  {
    name: "a replica told by the leader (POST /failsafe) within ttl keeps following it",
    obs: race([], { memory: { failsafeLeader: { name: "node2", at: NOW - 10_000 } } }),
    expect: {
      type: "follow",
      code: "failsafe_follow",
      action: { leaderName: "node2", upstream: addr(2, "node1") },
    },
  },
  {
    name: "a failsafe leader heard of more than ttl ago is forgotten",
    obs: race([unreachable("node2"), unreachable("node3")], {
      memory: { failsafeLeader: { name: "node2", at: NOW - 30_000 } },
    }),
    expect: { type: "acquire_lock", code: "race" },
  },
];

/** Synchronous mode: node3 was the leader, sync lists the given standbys. */
function syncRace(
  mode: "on" | "quorum",
  standbys: string,
  quorum: number,
  peers: ReturnType<typeof peer>[],
  name = "node1",
) {
  return obs({
    name,
    dynamic: { synchronousMode: mode },
    cluster: cluster({
      members: [...three, member("node4")],
      sync: { leader: "node3", sync_standby: standbys, quorum },
    }),
    peers,
  });
}

const synchronous: Case[] = [
  {
    name: "synchronous_mode on: a member outside /sync may not race",
    obs: syncRace("on", "node2", 0, [unreachable("node3")]),
    expect: {
      type: "follow",
      code: "not_synchronous",
      message: "following a different leader because I am not allowed to promote",
      rules: { node1: "not_synchronous" },
    },
  },
  {
    name: "synchronous_mode on: a sync standby races against sync members only",
    obs: syncRace("on", "node1", 0, [
      peer("node2", { lsn: 5000 }),
      unreachable("node3"),
      peer("node4", { lsn: 5000 }),
    ]),
    expect: { type: "acquire_lock", code: "race", rules: { node1: null, node3: "unreachable" } },
  },
  {
    name: "synchronous_mode on: another sync standby ahead blocks",
    obs: syncRace("on", "node1,node2", 0, [peer("node2", { lsn: 1100 }), unreachable("node3")]),
    expect: {
      type: "follow",
      code: "not_healthiest_behind",
      rules: { node1: "behind", node2: null, node3: "unreachable" },
    },
  },
  {
    name: "synchronous_mode on: the former leader ahead does not block (it is expected to be ahead)",
    obs: syncRace("on", "node1", 0, [peer("node3", { lsn: 1100 })]),
    expect: { type: "acquire_lock", code: "race" },
  },
  {
    name: "synchronous_mode off in config: a stale /sync key is ignored",
    obs: obs({
      cluster: cluster({ members: three, sync: { leader: "node3", sync_standby: "node2" } }),
      peers: [unreachable("node2"), unreachable("node3")],
    }),
    expect: { type: "acquire_lock", code: "race" },
  },
  {
    name: "quorum: a voter collects enough votes from voters not ahead of it",
    obs: syncRace("quorum", "node1,node2", 1, [peer("node2", { lsn: 900 }), unreachable("node3")]),
    expect: { type: "acquire_lock", code: "race", rules: { node1: null, node2: null, node3: "unreachable" } },
  },
  {
    name: "quorum: without enough reachable voters no promotion",
    obs: syncRace("quorum", "node1,node2", 1, [unreachable("node2"), unreachable("node3")]),
    expect: {
      type: "follow",
      code: "quorum_votes",
      rules: { node1: "not_synchronous", node2: "unreachable", node3: "unreachable" },
    },
  },
  {
    name: "quorum: an outsider starts at -1 votes",
    obs: syncRace("quorum", "node1,node2", 1, [
      peer("node1", { lsn: 900 }),
      unreachable("node2"),
      unreachable("node3"),
    ], "node4"),
    expect: { type: "follow", code: "quorum_votes" },
  },
  {
    name: "quorum: an outsider with two voters behind it reaches quorum 1",
    obs: syncRace("quorum", "node1,node2", 1, [
      peer("node1", { lsn: 900 }),
      peer("node2", { lsn: 900 }),
      unreachable("node3"),
    ], "node4"),
    expect: { type: "acquire_lock", code: "race" },
  },
  {
    name: "quorum: a voter ahead of me vetoes",
    obs: syncRace("quorum", "node1,node2", 1, [peer("node2", { lsn: 1100 }), unreachable("node3")]),
    expect: { type: "follow", code: "not_healthiest_behind" },
  },
];

/** node1 leads; the failover key holds `f`; node2 and node3 answer as given. */
function switchover(f: Record<string, string>, peers: ReturnType<typeof peer>[], dynamic = {}) {
  return obs({
    pg: primaryPg(),
    dynamic,
    cluster: cluster({
      leader: "node1",
      members: [node1Primary, member("node2"), member("node3")],
      failover: f,
    }),
    peers,
  });
}

const manual: Case[] = [
  {
    name: "switchover scheduled beyond loop_wait: wait, keep the key",
    obs: switchover({ leader: "node1", member: "node2", scheduled_at: iso(NOW + 60_000) }, [peer("node2")]),
    expect: {
      type: "lead",
      code: "switchover_scheduled",
      message: /^Awaiting failover at .* \(in 60 seconds\)$/,
      action: { cleanFailover: null },
    },
  },
  {
    name: "switchover scheduled more than 1.5 loop_wait ago is stale: clean it",
    obs: switchover({ leader: "node1", member: "node2", scheduled_at: iso(NOW - 16_000) }, [peer("node2")]),
    expect: {
      type: "lead",
      code: "switchover_stale",
      message: "Found a stale failover value, cleaning up",
      action: { cleanFailover: { version: "7" } },
    },
  },
  {
    name: "an unparsable scheduled_at is cleaned",
    obs: switchover({ leader: "node1", scheduled_at: "tomorrow-ish" }, []),
    expect: { type: "lead", code: "failover_invalid", action: { cleanFailover: { version: "7" } } },
  },
  {
    name: "switchover due now to a healthy named candidate: graceful demote towards it",
    obs: switchover({ leader: "node1", member: "node2", scheduled_at: iso(NOW - 1_000) }, [peer("node2")]),
    expect: {
      type: "demote",
      code: "manual_switchover",
      message: "manual failover: demoting myself",
      action: { mode: "graceful", stop: "fast", releaseLock: true, upstream: addr(2, "node1") },
      rules: { node2: null },
    },
  },
  {
    name: "switchover without candidate: the best eligible member is the target",
    obs: switchover({ leader: "node1" }, [peer("node2", { lsn: 900 }), peer("node3", { lsn: 1000 })]),
    expect: {
      type: "demote",
      code: "manual_switchover",
      action: { upstream: addr(3, "node1") },
      rules: { node2: null, node3: null },
    },
  },
  {
    name: "switchover to an unreachable candidate is impossible: clean the key",
    obs: switchover({ leader: "node1", member: "node2" }, [unreachable("node2"), peer("node3")]),
    expect: {
      type: "lead",
      code: "manual_failover_impossible",
      message: "manual failover: no healthy members found, failover is not possible",
      action: { cleanFailover: { version: "7" } },
      rules: { node2: "unreachable" },
    },
  },
  {
    name: "switchover to a lagging candidate is impossible",
    obs: switchover({ leader: "node1", member: "node2" }, [peer("node2", { lsn: 0 })], {
      maximumLagOnFailover: 10,
    }),
    expect: { type: "lead", code: "manual_failover_impossible", rules: { node2: "lag" } },
  },
  {
    name: "switchover to a nofailover candidate is impossible",
    obs: switchover({ leader: "node1", member: "node2" }, [peer("node2", { nofailover: true })]),
    expect: { type: "lead", code: "manual_failover_impossible", rules: { node2: "nofailover" } },
  },
  {
    name: "switchover naming another leader is cleaned",
    obs: switchover({ leader: "node3", member: "node2" }, [peer("node2")]),
    expect: { type: "lead", code: "failover_not_for_me", action: { cleanFailover: { version: "7" } } },
  },
  {
    name: "a failover to the current leader is cleaned",
    obs: switchover({ member: "node1" }, []),
    expect: { type: "lead", code: "failover_to_self" },
  },
  {
    name: "the named candidate is me while there is no leader: race",
    obs: obs({
      cluster: cluster({ members: three, failover: { member: "node1" }, status: { optime: 99_000_000 } }),
      peers: [peer("node2", { lsn: 5000 })],
    }),
    expect: { type: "acquire_lock", code: "race", action: { failover: { value: { member: "node1" } } } },
  },
  {
    name: "a healthy named candidate that is not me: do not race",
    obs: obs({
      cluster: cluster({ members: three, failover: { member: "node2" } }),
      peers: [peer("node2"), peer("node3")],
    }),
    expect: { type: "follow", code: "manual_failover_other", rules: { node1: "priority" } },
  },
  {
    name: "the named candidate is gone: race as for an untargeted failover, without the lag limit",
    obs: obs({
      cluster: cluster({ members: three, failover: { member: "node2" }, status: { optime: 99_000_000 } }),
      peers: [unreachable("node2"), peer("node3", { lsn: 900 })],
    }),
    expect: { type: "acquire_lock", code: "race", rules: { node1: null, node2: "unreachable", node3: null } },
  },
  {
    name: "untargeted switchover: the old leader is left out of the comparison",
    obs: obs({
      cluster: cluster({ members: three, failover: { leader: "node3" } }),
      peers: [peer("node2", { lsn: 900 }), peer("node3", { lsn: 5000 })],
    }),
    expect: { type: "acquire_lock", code: "race", rules: { node1: null, node2: null } },
  },
];

const pause: Case[] = [
  {
    name: "pause: no leader, a replica never races",
    obs: race([unreachable("node2")], { dynamic: { pause: true } }),
    expect: { type: "none", code: "paused", message: "PAUSE: no action. I am (node1)" },
  },
  {
    name: "pause: the lock holder that is not primary releases the lock",
    obs: obs({ dynamic: { pause: true }, cluster: cluster({ leader: "node1", members: three }) }),
    expect: {
      type: "release_lock",
      code: "paused_not_primary",
      message: "PAUSE: removed leader lock because postgres is not running as primary",
    },
  },
  {
    name: "pause: the primary keeps the lock",
    obs: obs({
      dynamic: { pause: true },
      pg: primaryPg(),
      cluster: cluster({ leader: "node1", members: three }),
    }),
    expect: {
      type: "lead",
      code: "steady_leader",
      message: "PAUSE: no action. I am (node1), the leader with the lock",
    },
  },
  {
    name: "pause: a primary without the lock keeps running",
    obs: obs({
      dynamic: { pause: true },
      pg: primaryPg(),
      cluster: cluster({ leader: "node2", members: three }),
    }),
    expect: {
      type: "none",
      code: "paused_primary_without_lock",
      message: "PAUSE: continue to run as primary without lock",
    },
  },
  {
    name: "pause: a primary of this cluster takes an empty lock",
    obs: obs({ dynamic: { pause: true }, pg: primaryPg(), cluster: cluster({ members: three }) }),
    expect: { type: "acquire_lock", code: "paused_primary_takes_lock" },
  },
  {
    name: "pause: a stopped lock holder releases the lock and stays stopped",
    obs: obs({
      dynamic: { pause: true },
      pg: stoppedPg(),
      cluster: cluster({ leader: "node1", members: three }),
    }),
    expect: { type: "release_lock", code: "paused_stopped" },
  },
  {
    name: "pause: a stopped replica stays stopped",
    obs: obs({
      dynamic: { pause: true },
      pg: stoppedPg(),
      cluster: cluster({ leader: "node2", members: three }),
    }),
    expect: { type: "none", code: "paused_stopped", message: "PAUSE: postgres is not running" },
  },
  {
    name: "pause: a scheduled switchover is not executed",
    obs: obs({
      dynamic: { pause: true },
      pg: primaryPg(),
      cluster: cluster({ leader: "node1", members: three, failover: { leader: "node1", member: "node2" } }),
      peers: [peer("node2")],
    }),
    expect: { type: "lead", code: "steady_leader" },
  },
];

const identity: Case[] = [
  {
    name: "a data dir from another cluster (sysid mismatch) touches nothing",
    obs: obs({
      pg: pgState({ sysid: "7999999999999999999" }),
      cluster: cluster({ leader: "node2", members: three }),
    }),
    expect: {
      type: "none",
      code: "sysid_mismatch",
      message:
        `system ID mismatch, node node1 belongs to a different cluster: 7999999999999999999 != ${SYSID}`,
    },
  },
  {
    name: "a lock holder with a foreign sysid releases the lock",
    obs: obs({
      pg: primaryPg({ sysid: "7999999999999999999" }),
      cluster: cluster({ leader: "node1", members: three }),
    }),
    expect: { type: "release_lock", code: "sysid_mismatch" },
  },
  {
    name: 'initialize "" (bootstrap in progress) is no mismatch',
    obs: obs({
      pg: pgState({ sysid: "7999999999999999999" }),
      cluster: cluster({ leader: "node2", initialize: "", members: three }),
    }),
    expect: { type: "follow", code: "steady_replica" },
  },
];

const tables: Record<string, Case[]> = {
  steady,
  bootstrap,
  crash,
  "lock and DCS": lockAndDcs,
  "no leader": noLeader,
  synchronous,
  "manual switchover": manual,
  pause,
  identity,
};

for (const [group, cases] of Object.entries(tables)) {
  Deno.test(`decide: ${group}`, async (t) => {
    for (const c of cases) {
      await t.step(c.name, () => {
        const input = structuredClone(c.obs);
        const d = decide(c.obs);
        assertDecision(d, c.expect);
        if (d.at !== c.obs.now) throw new Error(`decision time ${d.at} != observation time ${c.obs.now}`);
        // decide is pure: it must not modify its input.
        if (JSON.stringify(input) !== JSON.stringify(c.obs)) {
          throw new Error("decide mutated its observation");
        }
      });
    }
  });
}

Deno.test("decide: same observation, same decision", () => {
  const o = race([peer("node2", { lsn: 900 }), peer("node3", { lsn: 1100 })]);
  const a = decide(o);
  const b = decide(structuredClone(o));
  if (JSON.stringify(a) !== JSON.stringify(b)) throw new Error("decide is not deterministic");
});
