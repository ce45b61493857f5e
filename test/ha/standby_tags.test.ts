/**
 * Standby cluster, tags and watchdog rules of the HA decision, and which member slots a node keeps.
 */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { decide } from "../../src/ha/decide.ts";
import { memberSlotsFor, streamsFrom } from "../../src/ha/slot_plan.ts";
import type { Observation } from "../../src/ha/types.ts";
import { cluster, emptyPg, member, obs, type ObsOpts, peer, primaryPg, stoppedPg } from "./builders.ts";

const REMOTE = { host: "10.9.9.9", port: 5433 };

/** An observation in a standby cluster following REMOTE. */
function standbyObs(o: ObsOpts): Observation {
  return {
    ...obs({ ...o, dynamic: { standbyCluster: { host: REMOTE.host, port: REMOTE.port }, ...o.dynamic } }),
    standbyCluster: REMOTE,
  };
}

Deno.test("standby cluster: an empty node bootstraps by cloning the remote primary", () => {
  const d = decide(standbyObs({ cluster: cluster({ initialize: null }), pg: emptyPg() }));
  assertEquals([d.code, d.action.type], ["bootstrap_standby", "bootstrap"]);
});

Deno.test("standby cluster: the lock holder stays a standby leader (no promotion)", () => {
  const c = cluster({
    leader: "node1",
    members: [member("node1", { role: "standby_leader" }), member("node2")],
  });
  const d = decide(standbyObs({ cluster: c }));
  assertEquals(d.action, { type: "lead", promote: false, standbyLeader: true, cleanFailover: null });
});

Deno.test("standby cluster: removing standby_cluster promotes the lock holder", () => {
  const c = cluster({
    leader: "node1",
    members: [member("node1", { role: "standby_leader" }), member("node2")],
  });
  const d = decide(obs({ cluster: c }));
  assertEquals([d.code, d.action], ["promote", {
    type: "lead",
    promote: true,
    standbyLeader: false,
    cleanFailover: null,
  }]);
});

Deno.test("standby cluster: a standby leader whose postgres died restarts following the remote source", () => {
  const c = cluster({ leader: "node1", members: [member("node1", { role: "standby_leader" })] });
  const d = decide(standbyObs({ cluster: c, pg: stoppedPg({ controlState: "in archive recovery" }) }));
  assertEquals(d.action, { type: "start", role: "replica", upstream: REMOTE, timeoutS: 300 });
});

Deno.test("standby cluster: other members cascade from the standby leader", () => {
  const c = cluster({
    leader: "node1",
    members: [member("node1", { role: "standby_leader" }), member("node2")],
  });
  const d = decide(standbyObs({ name: "node2", cluster: c }));
  assertEquals(d.action, {
    type: "follow",
    upstream: { host: "127.0.0.1", port: 5431, slot: "node2" },
    leaderName: "node1",
  });
  assertEquals(d.message, "no action. I am (node2), a secondary, and following a standby leader (node1)");
});

Deno.test("standby cluster: without a leader the winner of the race becomes standby leader, losers follow the remote", () => {
  const c = cluster({ members: [member("node1"), member("node2", { lsn: 900 })] });
  const win = decide(standbyObs({ cluster: c, peers: [peer("node2", { lsn: 900 })] }));
  assertEquals(win.action, { type: "acquire_lock", standbyLeader: true, failover: null });
  const lose = decide(
    standbyObs({
      name: "node2",
      cluster: c,
      pg: primaryPg({ inRecovery: true, xlogLocation: 900 }),
      peers: [peer("node1")],
    }),
  );
  assertEquals(lose.action, { type: "follow", upstream: REMOTE, leaderName: null });
});

Deno.test("standby cluster: adding standby_cluster demotes the primary to a standby leader keeping the lock", () => {
  const c = cluster({ leader: "node1", members: [member("node1", { role: "primary" })] });
  const d = decide(standbyObs({ cluster: c, pg: primaryPg() }));
  assertEquals([d.code, d.action], ["demote_cluster", {
    type: "demote",
    mode: "offline",
    stop: "fast",
    releaseLock: false,
    upstream: REMOTE,
  }]);
});

Deno.test("tags: replicatefrom streams from the named running member, nostream from nobody", () => {
  const c = cluster({
    leader: "node1",
    members: [member("node1", { role: "primary" }), member("node2"), member("node3")],
  });
  const viaNode2 = decide(obs({ name: "node3", tags: { replicatefrom: "node2" }, cluster: c }));
  assertEquals(viaNode2.action, {
    type: "follow",
    upstream: { host: "127.0.0.1", port: 5432, slot: "node3" },
    leaderName: "node1",
  });
  const gone = decide(obs({ name: "node3", tags: { replicatefrom: "node9" }, cluster: c }));
  assertEquals(gone.action, {
    type: "follow",
    upstream: { host: "127.0.0.1", port: 5431, slot: "node3" },
    leaderName: "node1",
  });
  const archive = decide(obs({ name: "node3", tags: { nostream: true }, cluster: c }));
  assertEquals(archive.action, { type: "follow", upstream: null, leaderName: "node1" });
});

Deno.test("tags: an empty node clones from a running clonefrom member rather than the leader", () => {
  const c = cluster({
    leader: "node1",
    members: [
      member("node1", { role: "primary" }),
      member("node2", { tags: { clonefrom: true } }),
      member("node4", { tags: { clonefrom: true }, state: "stopped" }),
    ],
  });
  const d = decide(obs({ name: "node3", cluster: c, pg: emptyPg() }));
  assertEquals([d.action.type, d.message], ["clone", "trying to bootstrap from replica 'node2'"]);
});

Deno.test("tags: nofailover and failover_priority 0 never race; a higher priority at equal LSN wins", () => {
  const c = cluster({ members: [member("node1"), member("node2")] });
  for (const tags of [{ nofailover: true }, { failoverPriority: 0 }]) {
    const d = decide(obs({ tags, cluster: c, peers: [peer("node2")] }));
    assertEquals([d.code, d.action.type], ["nofailover", "follow"]);
  }
  const lower = decide(
    obs({ tags: { failoverPriority: 1 }, cluster: c, peers: [peer("node2", { failoverPriority: 5 })] }),
  );
  assertEquals(lower.code, "not_healthiest_priority");
});

Deno.test("watchdog: required but unusable means no race; usable races", () => {
  const c = cluster({ members: [member("node1")] });
  assertEquals(decide(obs({ cluster: c, watchdog: { required: true, usable: false } })).code, "watchdog");
  assertEquals(
    decide(obs({ cluster: c, watchdog: { required: true, usable: true } })).action.type,
    "acquire_lock",
  );
});

Deno.test("slot plan: the leader holds slots for direct followers, a cascade source for its cascade", () => {
  const c = cluster({
    leader: "node1",
    members: [
      member("node1", { role: "primary" }),
      member("node2"),
      member("node3", { tags: { replicatefrom: "node2" } }),
      member("node4", { tags: { nostream: true } }),
      member("Node-5", { tags: { replicatefrom: "gone" } }),
    ],
  });
  assertEquals(memberSlotsFor(c, "node1"), ["node2", "node_5"]);
  assertEquals(memberSlotsFor(c, "node2"), ["node3"]);
  assertEquals(memberSlotsFor(c, "node3"), []);
  assertEquals(streamsFrom(c, c.members.find((m) => m.name === "node4")!), null);
});
