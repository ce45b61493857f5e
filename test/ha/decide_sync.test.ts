/**
 * decide() in synchronous modes, the rules checked against Patroni's `_is_healthiest_node`,
 * `manual_failover_process_no_leader` and `is_failover_possible`: who may vote, who may block, switchover
 * candidates, and quorum-aware failover checks.
 */
import { decide } from "../../src/ha/decide.ts";
import type { Observation, PeerStatus } from "../../src/ha/types.ts";
import { cluster, member, obs, peer, primaryPg, stoppedPg, unreachable } from "./builders.ts";
import { assertDecision, type Expected } from "./expect.ts";

const four = [member("node1"), member("node2"), member("node3"), member("node4")];

/** node3 was the leader; /sync lists `standbys`; node1 observes. */
function race(
  mode: "on" | "quorum",
  standbys: string,
  quorum: number,
  peers: PeerStatus[],
  extra: { name?: string; failover?: Record<string, string>; members?: typeof four; lastLeader?: string } =
    {},
): Observation {
  return obs({
    name: extra.name ?? "node1",
    dynamic: { synchronousMode: mode },
    cluster: cluster({
      members: extra.members ?? four,
      sync: { leader: "node3", sync_standby: standbys, quorum },
      ...(extra.failover ? { failover: extra.failover } : {}),
    }),
    peers,
    ...(extra.lastLeader ? { memory: { lastLeader: extra.lastLeader } } : {}),
  });
}

const cases: { name: string; obs: Observation; expect: Expected }[] = [
  {
    name: "quorum: a voter whose PostgreSQL is down (no position) does not vote",
    obs: race("quorum", "node1,node2", 1, [peer("node2", { lsn: undefined }), unreachable("node3")]),
    expect: { type: "follow", code: "quorum_votes" },
  },
  {
    name: "quorum: a nofailover voter neither votes nor blocks (Patroni's failover_limitation)",
    obs: race("quorum", "node1,node2", 1, [
      peer("node2", { lsn: 900, nofailover: true }),
      unreachable("node3"),
    ]),
    expect: {
      type: "follow",
      code: "quorum_votes",
      rules: { node1: "not_synchronous", node2: "nofailover", node3: "unreachable" },
    },
  },
  {
    name: "quorum: a nofailover voter ahead does not block a voter that has the votes",
    obs: race("quorum", "node1,node2,node4", 1, [
      peer("node2", { lsn: 5000, nofailover: true }),
      unreachable("node3"),
      peer("node4", { lsn: 900 }),
    ]),
    expect: { type: "acquire_lock", code: "race" },
  },
  {
    name: "quorum: an equal-LSN member outside the voting set with a higher priority does not block",
    obs: race("quorum", "node1,node2", 1, [
      peer("node2", { lsn: 1000 }),
      unreachable("node3"),
      peer("node4", { lsn: 1000, failoverPriority: 9 }),
    ], { members: four }),
    expect: { type: "acquire_lock", code: "race" },
  },
  {
    name: "quorum: an equal-LSN voter with a higher priority blocks",
    obs: race("quorum", "node1,node2", 1, [
      peer("node2", { lsn: 1000, failoverPriority: 9 }),
      unreachable("node3"),
    ]),
    expect: { type: "follow", code: "not_healthiest_priority" },
  },
  {
    name: "on: the former leader at the same LSN with a higher priority does not block",
    obs: race("on", "node1", 0, [peer("node3", { lsn: 1000, failoverPriority: 9 })]),
    expect: { type: "acquire_lock", code: "race" },
  },
  {
    name: "async: the last leader at the same LSN with a higher priority does not block either",
    obs: obs({
      cluster: cluster({ members: four }),
      peers: [peer("node2"), peer("node3", { failoverPriority: 9 }), peer("node4")],
      memory: { lastLeader: "node3" },
    }),
    expect: { type: "acquire_lock", code: "race" },
  },
  {
    name: "switchover in sync mode: a candidate outside /sync may not race",
    obs: race("on", "node1", 0, [peer("node1"), unreachable("node3")], {
      name: "node2",
      failover: { leader: "node3", member: "node2" },
    }),
    expect: { type: "follow", code: "not_synchronous" },
  },
  {
    name: "switchover in sync mode: members in /sync do not wait for a candidate that may not race",
    obs: race("on", "node1", 0, [peer("node2"), unreachable("node3")], {
      failover: { leader: "node3", member: "node2" },
    }),
    expect: { type: "acquire_lock", code: "race" },
  },
  {
    name: "switchover in quorum mode: the named voter still needs the votes when the leader is gone",
    obs: race("quorum", "node1,node2", 1, [peer("node2", { lsn: 1100 }), unreachable("node3")], {
      failover: { leader: "node3", member: "node1" },
    }),
    expect: { type: "follow", code: "not_healthiest_behind" },
  },
  {
    name: "switchover in quorum mode: the named voter with the votes wins despite priorities",
    obs: race("quorum", "node1,node2", 1, [
      peer("node2", { lsn: 1000, failoverPriority: 9 }),
      unreachable("node3"),
    ], {
      failover: { leader: "node3", member: "node1" },
    }),
    expect: { type: "acquire_lock", code: "race" },
  },
  {
    name: "switchover in quorum mode: others do not wait for a named candidate behind them",
    obs: race("quorum", "node1,node2", 1, [peer("node2", { lsn: 900 }), unreachable("node3")], {
      failover: { leader: "node3", member: "node2" },
    }),
    expect: { type: "acquire_lock", code: "race" },
  },
  {
    name: "failover (no leader named) in quorum mode: the named member goes at once",
    obs: race("quorum", "node1,node2", 1, [peer("node2", { lsn: 1100 }), unreachable("node3")], {
      failover: { member: "node1" },
    }),
    // Only our own verdict: nobody else was compared.
    expect: { type: "acquire_lock", code: "race", rules: { node1: null } },
  },
  {
    name: "quorum: the crashed primary keeps its lock when fewer than quorum+1 members could take over",
    obs: obs({
      name: "node3",
      dynamic: { synchronousMode: "quorum", primaryStartTimeout: 0 },
      pg: stoppedPg({ controlState: "in production" }),
      cluster: cluster({
        leader: "node3",
        members: four,
        sync: { leader: "node3", sync_standby: "node1,node2", quorum: 1 },
      }),
      peers: [peer("node1"), unreachable("node2"), unreachable("node4")],
    }),
    expect: { type: "start", code: "restart_crashed_primary" },
  },
  {
    name: "quorum: ... and releases it when quorum+1 healthy members exist",
    obs: obs({
      name: "node3",
      dynamic: { synchronousMode: "quorum", primaryStartTimeout: 0 },
      pg: stoppedPg({ controlState: "in production" }),
      cluster: cluster({
        leader: "node3",
        members: four,
        sync: { leader: "node3", sync_standby: "node1,node2", quorum: 1 },
      }),
      peers: [peer("node1"), peer("node2"), unreachable("node4")],
    }),
    expect: { type: "release_lock", code: "start_timeout" },
  },
  {
    name: "manual failover (no leader named) in priority mode may target an asynchronous member",
    obs: obs({
      name: "node3",
      pg: primaryPg(),
      dynamic: { synchronousMode: "on" },
      cluster: cluster({
        leader: "node3",
        members: four,
        sync: { leader: "node3", sync_standby: "node1" },
        failover: { member: "node2" },
      }),
      peers: [peer("node2")],
    }),
    expect: { type: "demote", code: "manual_switchover" },
  },
  {
    name: "switchover in priority mode to an asynchronous member is refused by the leader",
    obs: obs({
      name: "node3",
      pg: primaryPg(),
      dynamic: { synchronousMode: "on" },
      cluster: cluster({
        leader: "node3",
        members: four,
        sync: { leader: "node3", sync_standby: "node1" },
        failover: { leader: "node3", member: "node2" },
      }),
      peers: [peer("node2")],
    }),
    expect: { type: "lead", code: "manual_failover_impossible" },
  },
];

for (const c of cases) {
  Deno.test(`decide (sync): ${c.name}`, () => assertDecision(decide(c.obs), c.expect));
}
