import { deepStrictEqual as assertEquals } from "node:assert/strict";
import type { Decision } from "../../src/ha/types.ts";
import { apiRequest, harness } from "../helpers/api_harness.ts";
import { buildView, FakeAgent, memberData, memoryDcs, NOW, threeNodeSeed } from "../helpers/fake_agent.ts";
import { route } from "../../src/api/router.ts";

type Json = Record<string, unknown>;

async function setup(
  role: "primary" | "replica",
  seed = threeNodeSeed(),
  dynamic: Record<string, unknown> = {},
) {
  const { store, dcs } = memoryDcs(seed, role === "primary" ? "node1" : "node2");
  const cluster = await dcs.getCluster();
  const agent = new FakeAgent(buildView(role, { cluster, dynamic }), dcs);
  return { store, dcs, agent, h: harness(agent) };
}

Deno.test("GET /patroni: 200 with the status document on primary and replica", async () => {
  const p = await setup("primary");
  const res = await p.h.call("GET", "/patroni");
  assertEquals([res.status, res.contentType], [200, "application/json"]);
  const doc = p.h.json(res) as Json;
  assertEquals([doc.role, doc.state, doc.timeline, doc.server_version], ["primary", "running", 2, 150004]);
  assertEquals(doc.xlog, { location: 0x5000060 });
  assertEquals(doc.patroni, { version: "0.1.0", scope: "batman", name: "node1" });
  const r = await setup("replica");
  const rdoc = r.h.json(await r.h.call("GET", "/patroni")) as Json;
  assertEquals([rdoc.role, rdoc.replication_state], ["replica", "streaming"]);
  assertEquals((rdoc.xlog as Json).replayed_location, 0x5000000);
});

Deno.test("generic GET: health code with the status body; unknown paths 503", async () => {
  const p = await setup("primary");
  for (
    const [path, want] of [["/", 200], ["/primary", 200], ["/replica", 503], ["/foo", 503], ["/health", 200]]
  ) {
    const res = await p.h.call("GET", path as string);
    assertEquals(res.status, want, path as string);
    assertEquals((p.h.json(res) as Json).role, "primary");
  }
  const r = await setup("replica");
  assertEquals((await r.h.call("GET", "/replica?lag=1MB")).status, 200);
  assertEquals((await r.h.call("GET", "/read-only")).status, 200);
  assertEquals((await r.h.call("GET", "/master")).status, 503);
});

Deno.test("HEAD and OPTIONS answer with the bare status on any path", async () => {
  const p = await setup("primary");
  for (
    const [method, path, want] of [
      ["HEAD", "/", 200],
      ["HEAD", "/primary", 200],
      ["OPTIONS", "/primary", 200],
      ["HEAD", "/replica", 503],
      ["HEAD", "/patroni", 503],
      ["OPTIONS", "/cluster", 503],
      ["HEAD", "/liveness", 200],
    ] as const
  ) {
    const res = await p.h.call(method, path);
    assertEquals([res.status, res.body, res.headers], [want, undefined, undefined], `${method} ${path}`);
  }
});

Deno.test("/liveness and /readiness are bare status answers", async () => {
  const r = await setup("replica");
  let res = await r.h.call("GET", "/liveness");
  assertEquals([res.status, res.body], [200, undefined]);
  res = await r.h.call("GET", "/readiness");
  assertEquals([res.status, res.body], [200, undefined]);
  res = await r.h.call("GET", "/readiness?lag=16");
  assertEquals(res.status, 503);
  r.agent.current = { ...r.agent.current, nextRunAt: NOW - 61_000 };
  assertEquals((await r.h.call("GET", "/liveness")).status, 503);
});

Deno.test("other methods on unknown paths are 501", async () => {
  const p = await setup("primary");
  for (const m of ["POST", "PUT", "DELETE", "PATCH"]) {
    assertEquals((await p.h.call(m, "/foo", { body: { a: 1 } })).status, 501, m);
  }
  assertEquals((await p.h.call("DELETE", "/config")).status, 501);
});

Deno.test("GET /cluster: members sorted by name with roles, LSNs, lags, host and port", async () => {
  const seed = threeNodeSeed({
    members: {
      node3: memberData("node3", {
        replication_state: "streaming",
        receive_lsn: 0x4000000,
        replay_lsn: 0x4000000,
      }),
      node1: memberData("node1", { role: "primary", xlog_location: 0x5000060, tags: { zone: "a" } }),
      node2: memberData("node2", {
        replication_state: "streaming",
        receive_lsn: 0x5000060,
        replay_lsn: 0x5000000,
        xlog_location: 0x5000060,
        pending_restart: true,
      }),
      node4: memberData("node4", { state: "stopped", xlog_location: undefined, timeline: undefined }),
    },
    config: { ttl: 30, loop_wait: 10, retry_timeout: 10, synchronous_mode: true },
    sync: { leader: "node1", sync_standby: "node2", quorum: 0 },
    failover: { leader: "node1", member: "node2", scheduled_at: "2024-06-02T10:00:00+00:00" },
  });
  const p = await setup("primary", seed);
  const res = await p.h.call("GET", "/cluster");
  assertEquals(res.status, 200);
  const body = p.h.json(res) as { members: Json[]; scope: string; scheduled_switchover: Json };
  assertEquals(body.scope, "batman");
  assertEquals(body.members.map((m) => m.name), ["node1", "node2", "node3", "node4"]);
  assertEquals(body.members.map((m) => m.role), ["leader", "sync_standby", "replica", "replica"]);
  assertEquals(body.members[0], {
    name: "node1",
    role: "leader",
    state: "running",
    api_url: "http://127.0.0.1:8008/patroni",
    host: "127.0.0.1",
    port: 5432,
    timeline: 2,
    tags: { zone: "a" },
  });
  const n2 = body.members[1]!;
  assertEquals([n2.state, n2.receive_lsn, n2.receive_lag, n2.replay_lsn, n2.replay_lag, n2.lsn, n2.lag], [
    "streaming",
    "0/5000060",
    0,
    "0/5000000",
    0x60,
    "0/5000060",
    0,
  ]);
  assertEquals(n2.pending_restart, true);
  assertEquals(n2.host, "127.0.0.2");
  const n3 = body.members[2]!;
  assertEquals([n3.receive_lag, n3.replay_lsn, n3.lsn, n3.lag], [0x1000060, "0/4000000", "0/5000000", 0x60]);
  const n4 = body.members[3]!;
  assertEquals([n4.state, n4.lsn, n4.lag, n4.receive_lsn], ["stopped", "unknown", "unknown", "unknown"]);
  assertEquals(body.scheduled_switchover, { at: "2024-06-02T10:00:00+00:00", from: "node1", to: "node2" });
});

Deno.test("GET /cluster: quorum and standby-cluster roles, pause flag", async () => {
  const q = await setup(
    "primary",
    threeNodeSeed({
      config: { ttl: 30, loop_wait: 10, retry_timeout: 10, synchronous_mode: "quorum", pause: true },
      sync: { leader: "node1", sync_standby: "node2,node3", quorum: 1 },
    }),
  );
  const qb = q.h.json(await q.h.call("GET", "/cluster")) as { members: Json[]; pause?: boolean };
  assertEquals(qb.members.map((m) => m.role), ["leader", "quorum_standby", "quorum_standby"]);
  assertEquals(qb.pause, true);
  const s = await setup(
    "primary",
    threeNodeSeed({
      config: { ttl: 30, loop_wait: 10, retry_timeout: 10, standby_cluster: { host: "10.9.9.9" } },
      members: { node1: memberData("node1", { role: "standby_leader", replication_state: "streaming" }) },
    }),
  );
  const sb = s.h.json(await s.h.call("GET", "/cluster")) as { members: Json[] };
  assertEquals(sb.members[0]!.role, "standby_leader");
  // A standby leader reports its replication state, like any non-leader.
  assertEquals(sb.members[0]!.state, "streaming");
});

Deno.test("GET /cluster: 503 when the DCS cannot be read", async () => {
  const p = await setup("primary");
  p.store.setAvailable(false, "refuse");
  p.agent.dcs.setTimings({ ttlS: 4, loopWaitS: 1, retryTimeoutS: 1 });
  const res = await p.h.call("GET", "/cluster");
  assertEquals(res.status, 503);
});

Deno.test("GET /history: the history key (or [])", async () => {
  const p = await setup("primary");
  assertEquals(p.h.json(await p.h.call("GET", "/history")), [[
    1,
    0x3000060,
    "no recovery target specified",
    "2024-06-01T10:00:00+00:00",
    "node1",
  ]]);
  const e = await setup("primary", threeNodeSeed({ history: undefined }));
  assertEquals(e.h.json(await e.h.call("GET", "/history")), []);
});

Deno.test("GET /failsafe: 502 when failsafe mode is off, the member map when on", async () => {
  const seed = threeNodeSeed({ failsafe: { node1: "http://127.0.0.1:8008/patroni" } });
  const off = await setup("primary", seed);
  assertEquals((await off.h.call("GET", "/failsafe")).status, 502);
  const on = await setup("primary", seed, { failsafeMode: true });
  const res = await on.h.call("GET", "/failsafe");
  assertEquals([res.status, on.h.json(res)], [200, { node1: "http://127.0.0.1:8008/patroni" }]);
});

Deno.test("GET /explain: 503 before the first cycle, then the last decision", async () => {
  const p = await setup("primary");
  assertEquals((await p.h.call("GET", "/explain")).status, 503);
  const decision: Decision = {
    action: { type: "lead", promote: false, standbyLeader: false, cleanFailover: null },
    code: "healthy_leader",
    message: "no action. I am (node1), the leader with the lock",
    candidates: [{ name: "node2", eligible: false, rule: "lag", detail: "lag 2MB > 1MB" }],
    at: NOW,
  };
  p.agent.current = { ...p.agent.current, lastDecision: decision };
  const res = await p.h.call("GET", "/explain");
  assertEquals(res.status, 200);
  assertEquals(p.h.json(res), {
    at: "2024-06-01T12:00:00.000Z",
    code: "healthy_leader",
    message: "no action. I am (node1), the leader with the lock",
    action: "lead",
    details: { type: "lead", promote: false, standbyLeader: false, cleanFailover: null },
    candidates: [{ name: "node2", eligible: false, rule: "lag", detail: "lag 2MB > 1MB" }],
  });
});

Deno.test("GET /metrics: Patroni gauges with {scope, name} and pgwarden series", async () => {
  const r = await setup("replica");
  r.h.ctx.metrics.observeHaCycle(0.12);
  r.h.ctx.metrics.observeDcsRequest("get_cluster", 0.003, "ok");
  r.h.ctx.metrics.observePluginHook("aws-eip", "afterPromote", 0.5);
  r.h.ctx.metrics.pluginHookFailed("aws-eip", "afterPromote", "timeout");
  const res = await route(r.h.ctx, apiRequest("GET", "/metrics"));
  assertEquals([res.status, res.contentType], [200, "text/plain"]);
  const text = res.body!;
  const sample = (name: string) => {
    const line = text.split("\n").find((l) => l.startsWith(name + "{"));
    return line?.slice(line.lastIndexOf(" ") + 1);
  };
  const l = '{scope="batman",name="node2"}';
  assertEquals(text.includes(`patroni_version${l} 000100`), true);
  assertEquals(sample("patroni_replica"), "1");
  assertEquals(sample("patroni_primary"), "0");
  assertEquals(sample("patroni_postgres_running"), "1");
  assertEquals(sample("patroni_xlog_replayed_location"), String(0x5000000));
  assertEquals(sample("patroni_xlog_received_location"), String(0x5000060));
  assertEquals(sample("patroni_xlog_location"), "0");
  assertEquals(sample("patroni_postgres_streaming"), "1");
  assertEquals(sample("patroni_postgres_server_version"), "150004");
  assertEquals(sample("patroni_postgres_timeline"), "2");
  assertEquals(sample("patroni_postgres_state"), "5");
  assertEquals(sample("patroni_failover_priority"), "1");
  assertEquals(sample("patroni_postmaster_start_time"), String(Date.UTC(2024, 5, 1, 10, 0, 0, 500) / 1000));
  assertEquals(sample("patroni_xlog_replayed_timestamp"), String(Date.UTC(2024, 5, 1, 10, 5, 0) / 1000));
  assertEquals(sample("pgwarden_info"), "1");
  assertEquals(text.includes('pgwarden_info{scope="batman",name="node2",version="0.1.0"} 1'), true);
  assertEquals(text.includes("# TYPE patroni_xlog_location counter"), true);
  assertEquals(text.includes("# TYPE pgwarden_ha_cycle_duration_seconds histogram"), true);
  assertEquals(
    text.includes('pgwarden_ha_cycle_duration_seconds_bucket{scope="batman",name="node2",le="0.25"} 1'),
    true,
  );
  assertEquals(
    text.includes('pgwarden_ha_cycle_duration_seconds_bucket{scope="batman",name="node2",le="+Inf"} 1'),
    true,
  );
  assertEquals(sample("pgwarden_dcs_request_duration_seconds_count"), "1");
  assertEquals(
    text.includes(
      'pgwarden_plugin_hook_failures_total{scope="batman",name="node2",plugin="aws-eip",hook="afterPromote",reason="timeout"} 1',
    ),
    true,
  );
  // Every sample line parses as `name{labels} value`.
  for (const line of text.split("\n").filter((x) => x && !x.startsWith("#"))) {
    assertEquals(/^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? [-+0-9.eInfa]+$/.test(line), true, line);
  }
});
