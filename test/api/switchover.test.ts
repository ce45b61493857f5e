import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { harness } from "../helpers/api_harness.ts";
import {
  buildView,
  type ClusterSeed,
  FakeAgent,
  hookDcs,
  keyPath,
  memberData,
  memoryDcs,
  threeNodeSeed,
} from "../helpers/fake_agent.ts";

const peerDoc = (o: Record<string, unknown> = {}) => ({
  state: "running",
  role: "replica",
  xlog: { received_location: 0x5000060, replayed_location: 0x5000060 },
  timeline: 2,
  ...o,
});

/** Three nodes, node1 leads; node2 and node3 answer healthy on ports 8002/8003. */
function seed(o: Partial<ClusterSeed> = {}): ClusterSeed {
  return threeNodeSeed({
    members: {
      node1: memberData("node1", { role: "primary", apiPort: 8001 }),
      node2: memberData("node2", { apiPort: 8002 }),
      node3: memberData("node3", { apiPort: 8003 }),
    },
    ...o,
  });
}

async function setup(s: ClusterSeed = seed()) {
  const { store, dcs } = memoryDcs(s);
  const agent = new FakeAgent(buildView("primary", { cluster: await dcs.getCluster() }), dcs);
  const h = harness(agent);
  h.peers.set("http://127.0.0.1:8002/patroni", peerDoc());
  h.peers.set("http://127.0.0.1:8003/patroni", peerDoc());
  const failoverKey = () => JSON.parse(store.rawGet(keyPath("failover")) ?? "null");
  /** Play the HA loop: on wake, `leader` takes the lock and the failover key is cleaned. */
  const promoteOnWake = (leader: string | null) => {
    agent.onWake = () => {
      if (leader) store.rawPut(keyPath("leader"), leader);
      store.rawPut(keyPath("failover"), "{}");
    };
  };
  return { store, dcs, agent, h, failoverKey, promoteOnWake };
}

const text = async (s: Awaited<ReturnType<typeof setup>>, path: string, body: unknown) => {
  const res = await s.h.call("POST", path, { body });
  return [res.status, res.body];
};

Deno.test("switchover/failover: request checks in Patroni's order with its messages", async () => {
  const s = await setup();
  const cases: [string, unknown, number, string][] = [
    [
      "/failover",
      { leader: "", candidate: "", x: 1 },
      400,
      "Failover could be performed only to a specific candidate",
    ],
    ["/switchover", { candidate: "node2" }, 400, "Switchover could be performed only from a specific leader"],
    [
      "/failover",
      { candidate: "node2", scheduled_at: "2030-01-01T00:00:00+00:00" },
      400,
      "Failover can't be scheduled",
    ],
    [
      "/switchover",
      { leader: "node1", scheduled_at: "2030-01-01T00:00:00" },
      400,
      "Timezone information is mandatory for the scheduled switchover",
    ],
    [
      "/switchover",
      { leader: "node1", scheduled_at: "2020-01-01T00:00:00Z" },
      422,
      "Cannot schedule switchover in the past",
    ],
    [
      "/switchover",
      { leader: "node1", scheduled_at: "soon" },
      422,
      "Unable to parse scheduled timestamp. It should be in an unambiguous format, e.g. ISO 8601",
    ],
    [
      "/switchover",
      { leader: "node1", candidate: "node1" },
      400,
      "Switchover target and source are the same",
    ],
    ["/switchover", { leader: "node2", candidate: "node3" }, 412, "leader name does not match"],
    ["/switchover", { leader: "node1", candidate: "node9" }, 412, "candidate does not exists"],
    ["/failover", { member: "node9" }, 412, "candidate does not exists"],
  ];
  for (const [path, body, status, message] of cases) {
    assertEquals(await text(s, path, body), [status, message], JSON.stringify(body));
  }
  assertEquals(s.failoverKey(), null, "nothing was written");
  assertEquals(s.agent.wakes, 0);
});

Deno.test("switchover: paused cluster needs a candidate and cannot schedule", async () => {
  const s = await setup(seed({ config: { ttl: 30, loop_wait: 10, retry_timeout: 10, pause: true } }));
  assertEquals(await text(s, "/switchover", { leader: "node1" }), [
    400,
    "Switchover is possible only to a specific candidate in a paused state",
  ]);
  assertEquals(await text(s, "/switchover", { leader: "node1", scheduled_at: "2030-01-01T00:00:00Z" }), [
    400,
    "Can't schedule switchover in the paused state",
  ]);
});

Deno.test("switchover: feasibility 412s (sync mode, no members, no good candidates, lag)", async () => {
  const sync = await setup(seed({
    config: { ttl: 30, loop_wait: 10, retry_timeout: 10, synchronous_mode: "on" },
    sync: { leader: "node1", sync_standby: "node2" },
  }));
  assertEquals(await text(sync, "/switchover", { leader: "node1", candidate: "node3" }), [
    412,
    "candidate name does not match with sync_standby",
  ]);
  const noSync = await setup(
    seed({ config: { ttl: 30, loop_wait: 10, retry_timeout: 10, synchronous_mode: "on" } }),
  );
  assertEquals(await text(noSync, "/switchover", { leader: "node1" }), [
    412,
    "switchover is not possible: can not find sync_standby",
  ]);
  const alone = await setup(seed({ members: { node1: memberData("node1", { role: "primary" }) } }));
  assertEquals(await text(alone, "/switchover", { leader: "node1" }), [
    412,
    "switchover is not possible: cluster does not have members except leader",
  ]);
  const bad = await setup();
  bad.h.peers.delete("http://127.0.0.1:8002/patroni");
  bad.h.peers.set("http://127.0.0.1:8003/patroni", peerDoc({ tags: { nofailover: true } }));
  assertEquals(await text(bad, "/switchover", { leader: "node1" }), [
    412,
    "switchover is not possible: no good candidates have been found",
  ]);
  bad.h.peers.set("http://127.0.0.1:8003/patroni", peerDoc({ tags: { failover_priority: 0 } }));
  assertEquals((await text(bad, "/switchover", { leader: "node1" }))[0], 412);
  bad.h.peers.set("http://127.0.0.1:8003/patroni", peerDoc({ watchdog_failed: true }));
  assertEquals((await text(bad, "/switchover", { leader: "node1" }))[0], 412);
  bad.h.peers.set("http://127.0.0.1:8003/patroni", { state: "running", role: "replica" });
  assertEquals((await text(bad, "/switchover", { leader: "node1" }))[0], 412, "no xlog: counted unreachable");
  // More than maximum_lag_on_failover behind the leader's optime.
  bad.h.peers.set(
    "http://127.0.0.1:8003/patroni",
    peerDoc({ xlog: { received_location: 0x4000000, replayed_location: 0 } }),
  );
  assertEquals(await text(bad, "/failover", { leader: "node1", candidate: "node3" }), [
    412,
    "switchover is not possible: no good candidates have been found",
  ]);
  assertEquals(bad.failoverKey(), null);
});

Deno.test("switchover: immediate success writes the key, wakes the loop, reports the new leader", async () => {
  const s = await setup();
  let written: unknown = null;
  s.agent.onWake = () => {
    written = s.failoverKey();
    s.store.rawPut(keyPath("leader"), "node2");
    s.store.rawPut(keyPath("failover"), "{}");
  };
  assertEquals(await text(s, "/switchover", { leader: "node1", candidate: "node2" }), [
    200,
    'Successfully switched over to "node2"',
  ]);
  assertEquals(written, { leader: "node1", member: "node2" });
  assertEquals(s.agent.wakes, 1);
  assertEquals(s.h.clock.sleeps, 1);
});

Deno.test("switchover: another member won, or the request was dropped", async () => {
  const other = await setup();
  other.promoteOnWake("node3");
  assertEquals(await text(other, "/switchover", { leader: "node1", candidate: "node2" }), [
    200,
    'Switched over to "node3" instead of "node2"',
  ]);
  const untargeted = await setup();
  untargeted.promoteOnWake("node3");
  assertEquals(await text(untargeted, "/switchover", { leader: "node1" }), [
    200,
    'Successfully switched over to "node3"',
  ]);
  const dropped = await setup();
  dropped.promoteOnWake(null);
  assertEquals(await text(dropped, "/switchover", { leader: "node1", candidate: "node2" }), [
    503,
    "Switchover failed",
  ]);
});

Deno.test("switchover: no outcome within 2*max(10, loop_wait) s", async () => {
  const s = await setup(seed({ config: { ttl: 60, loop_wait: 15, retry_timeout: 10 } }));
  assertEquals(await text(s, "/switchover", { leader: "node1", candidate: "node2" }), [
    503,
    "Switchover status unknown after 30 seconds; operation may still be in progress",
  ]);
  assertEquals(s.h.clock.sleeps, 30);
  assertEquals(s.failoverKey(), { leader: "node1", member: "node2" });
});

Deno.test("failover: leaderless failover to a candidate; a failover naming the leader is a switchover", async () => {
  const s = await setup(seed({ leader: undefined }));
  s.promoteOnWake("node2");
  assertEquals(await text(s, "/failover", { candidate: "node2" }), [
    200,
    'Successfully failed over to "node2"',
  ]);
  const sw = await setup();
  sw.promoteOnWake("node3");
  assertEquals(await text(sw, "/failover", { leader: "node1", member: "node3" }), [
    200,
    'Successfully switched over to "node3"',
  ]);
  // Without a leader, lag does not matter: a lagging candidate may still be promoted.
  const lag = await setup(seed({ leader: undefined }));
  lag.h.peers.set(
    "http://127.0.0.1:8002/patroni",
    peerDoc({ xlog: { received_location: 1, replayed_location: 1 } }),
  );
  lag.promoteOnWake("node2");
  assertEquals((await text(lag, "/failover", { candidate: "node2" }))[0], 200);
});

Deno.test("switchover: scheduled requests are written with a normalised time and answered 202", async () => {
  const s = await setup();
  assertEquals(await text(s, "/switchover", { leader: "node1", scheduled_at: "2024-06-01T14:30:00+03:00" }), [
    422,
    "Cannot schedule switchover in the past",
  ]);
  assertEquals(
    await text(s, "/switchover", { leader: "node1", candidate: "node2", scheduled_at: "2024-06-02T10:00Z" }),
    [
      202,
      "Switchover scheduled",
    ],
  );
  assertEquals(s.failoverKey(), {
    leader: "node1",
    member: "node2",
    scheduled_at: "2024-06-02T10:00:00+00:00",
  });
  assertEquals(s.h.clock.sleeps, 0, "no polling for a scheduled switchover");
  assertEquals(s.agent.wakes, 1);
});

Deno.test("switchover: 503 when the failover key cannot be written", async () => {
  const s = await setup();
  s.agent.dcs = hookDcs(s.dcs, { setFailoverValue: () => Promise.resolve(false) });
  assertEquals(await text(s, "/switchover", { leader: "node1", candidate: "node2" }), [
    503,
    "failed to write failover key into DCS",
  ]);
  assertEquals(s.agent.wakes, 0);
});

Deno.test("DELETE /switchover: 404 without a schedule, 200 removes it, 409 on a lost compare-and-set", async () => {
  const none = await setup(seed({ failover: { leader: "node1", member: "node2" } }));
  let res = await none.h.call("DELETE", "/switchover");
  assertEquals([res.status, res.body], [404, "no switchover is scheduled"]);
  const sched = seed({ failover: { leader: "node1", scheduled_at: "2024-06-02T10:00:00+00:00" } });
  const s = await setup(sched);
  res = await s.h.call("DELETE", "/switchover");
  assertEquals([res.status, res.body], [200, "scheduled switchover deleted"]);
  assertEquals(s.failoverKey(), {});
  const race = await setup(sched);
  race.agent.dcs = hookDcs(race.dcs, {
    setFailoverValue: async (json: string, version?: string) => {
      race.store.rawPut(keyPath("failover"), JSON.stringify({ leader: "node1", member: "node3" }));
      return await race.dcs.setFailoverValue(json, version);
    },
  });
  res = await race.h.call("DELETE", "/switchover");
  assertEquals(res.status, 409);
  assertEquals(race.failoverKey(), { leader: "node1", member: "node3" });
});

Deno.test("switchover: malformed bodies change nothing", async () => {
  const s = await setup();
  assertEquals((await s.h.call("POST", "/switchover", { raw: "leader=node1" })).status, 400);
  assertEquals(
    (await s.h.call("POST", "/switchover", { body: { leader: "node1" }, noLength: true })).status,
    411,
  );
  assertEquals(s.failoverKey(), null);
});
