import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { harness } from "../helpers/api_harness.ts";
import { buildView, FakeAgent, memoryDcs, threeNodeSeed } from "../helpers/fake_agent.ts";

async function setup(role: "primary" | "replica" = "replica", seed = threeNodeSeed(), dynamic = {}) {
  const { store, dcs } = memoryDcs(seed, role === "primary" ? "node1" : "node2");
  const agent = new FakeAgent(buildView(role, { cluster: await dcs.getCluster(), dynamic }), dcs);
  return { store, dcs, agent, h: harness(agent) };
}

const post = async (s: Awaited<ReturnType<typeof setup>>, path: string, body?: unknown) => {
  const res = await s.h.call("POST", path, body === undefined ? {} : { body });
  return [res.status, res.body];
};

Deno.test("POST /restart: immediate restart with no body reports the agent's outcome", async () => {
  const s = await setup();
  assertEquals(await post(s, "/restart"), [200, "restarted successfully"]);
  assertEquals(s.agent.calls, [{ op: "restart", arg: {} }]);
  s.agent.restartResult = { ok: false, status: 503, message: "restart conditions are not satisfied" };
  assertEquals(await post(s, "/restart", { role: "primary" }), [503, "restart conditions are not satisfied"]);
});

Deno.test("POST /restart: filters are validated and passed on", async () => {
  const s = await setup();
  assertEquals(
    await post(s, "/restart", {
      role: "replica",
      postgres_version: "16.1",
      timeout: "2min",
      restart_pending: false,
    }),
    [200, "restarted successfully"],
  );
  assertEquals(s.agent.calls.at(-1), {
    op: "restart",
    arg: { role: "replica", postgresVersion: "16.1", timeoutS: 120, restartPending: true },
  });
  const refusals: [unknown, number, string][] = [
    [{ role: "master" }, 400, "PostgreSQL role should be either primary, standby_leader, or replica"],
    [{ postgres_version: "9.6" }, 400, "Invalid PostgreSQL version format: X.Y or X.Y.Z is accepted: 9.6"],
    [{ postgres_version: "x.y" }, 400, "Invalid PostgreSQL version: x.y"],
    [{ timeout: 0 }, 400, "Timeout should be a positive number of seconds"],
    [{ timeout: "soon" }, 400, "Timeout should be a positive number of seconds"],
    [{ force: true }, 400, "Unknown filter for the scheduled restart: force"],
    [{ schedule: "2030-01-01T00:00:00" }, 400, "Timezone information is mandatory for the scheduled restart"],
    [{ schedule: "2020-01-01T00:00:00Z" }, 422, "Cannot schedule restart in the past"],
  ];
  const before = s.agent.calls.length;
  for (const [body, status, message] of refusals) {
    assertEquals(await post(s, "/restart", body), [status, message], JSON.stringify(body));
  }
  assertEquals(s.agent.calls.length, before, "refused requests never reach the agent");
});

Deno.test("POST /restart: scheduling (202), refused while paused (500)", async () => {
  const s = await setup();
  assertEquals(await post(s, "/restart", { schedule: "2024-06-02T01:00:00+01:00", role: "replica" }), [
    202,
    "Restart scheduled",
  ]);
  assertEquals(s.agent.calls.at(-1), {
    op: "restart",
    arg: { schedule: "2024-06-02T01:00:00+01:00", role: "replica" },
  });
  s.agent.current = { ...s.agent.current, paused: true };
  assertEquals(await post(s, "/restart", { schedule: "2024-06-02T01:00:00+01:00" }), [
    500,
    "Can't schedule restart in the paused state",
  ]);
});

Deno.test("POST /restart: malformed body is 400 and nothing happens", async () => {
  const s = await setup();
  assertEquals((await s.h.call("POST", "/restart", { raw: "{bad" })).status, 400);
  assertEquals((await s.h.call("POST", "/restart", { raw: "[]" })).status, 400);
  assertEquals(s.agent.calls, []);
  // An empty body with a length of zero is fine.
  assertEquals((await s.h.call("POST", "/restart", { raw: "" })).status, 200);
});

Deno.test("DELETE /restart: 404 without a schedule, 200 with one", async () => {
  const s = await setup();
  let res = await s.h.call("DELETE", "/restart");
  assertEquals([res.status, res.body], [404, "no restarts are scheduled"]);
  s.agent.current = { ...s.agent.current, scheduledRestart: { schedule: "2030-01-01T00:00:00+00:00" } };
  res = await s.h.call("DELETE", "/restart");
  assertEquals([res.status, res.body], [200, "scheduled restart deleted"]);
});

Deno.test("POST /reload: 202 reload scheduled", async () => {
  const s = await setup();
  assertEquals(await post(s, "/reload"), [202, "reload scheduled"]);
  assertEquals(s.agent.calls, [{ op: "reload" }]);
});

Deno.test("POST /reinitialize: refused on the leader, without a leader, or while busy; else started", async () => {
  const leader = await setup("primary");
  assertEquals(await post(leader, "/reinitialize"), [503, "I am the leader, can not reinitialize"]);
  const leaderless = await setup("replica", threeNodeSeed({ leader: undefined }));
  assertEquals(await post(leaderless, "/reinitialize"), [503, "Cluster has no leader, can not reinitialize"]);
  const busy = await setup();
  busy.agent.current = { ...busy.agent.current, asyncAction: "restart" };
  assertEquals(await post(busy, "/reinitialize"), [503, "restart already in progress"]);
  assertEquals(busy.agent.calls, []);
  assertEquals(await post(busy, "/reinitialize", { force: "yes" }), [200, "reinitialize started"]);
  assertEquals(busy.agent.calls, [{ op: "reinitialize", arg: { force: true, fromLeader: false } }]);
  const s = await setup();
  assertEquals(await post(s, "/reinitialize", { from_leader: true }), [200, "reinitialize started"]);
  assertEquals(s.agent.calls, [{ op: "reinitialize", arg: { force: false, fromLeader: true } }]);
});

Deno.test("POST /failsafe: 502 when off; replica accepts with lsn header; primary refuses with 500", async () => {
  const off = await setup();
  assertEquals((await off.h.call("POST", "/failsafe", { body: { name: "node1" } })).status, 502);
  const s = await setup("replica", threeNodeSeed(), { failsafeMode: true });
  const body = {
    name: "node1",
    conn_url: "postgres://127.0.0.1:5432/postgres",
    api_url: "http://127.0.0.1:8008/patroni",
  };
  let res = await s.h.call("POST", "/failsafe", { body });
  assertEquals([res.status, res.body, res.headers], [200, "Accepted", { lsn: String(0x5000000) }]);
  assertEquals(s.agent.calls, [{ op: "acceptFailsafe", arg: body }]);
  s.agent.failsafeLsn = null;
  res = await s.h.call("POST", "/failsafe", { body });
  assertEquals([res.status, res.body], [500, "Running as a leader"]);
  assertEquals((await s.h.call("POST", "/failsafe", { raw: "nope" })).status, 400);
});

Deno.test("POST /citus and /mpp: OK without a handler, delegated with one", async () => {
  const s = await setup("primary");
  const event = { type: "before_demote", group: 1, leader: "w1", timeout: 30, cooldown: 10 };
  assertEquals(await post(s, "/citus", event), [200, "OK"]);
  const seen: unknown[] = [];
  s.agent.citusEvent = (b) => {
    seen.push(b);
    return Promise.resolve({ status: 200, message: "OK" });
  };
  assertEquals(await post(s, "/mpp", event), [200, "OK"]);
  assertEquals(seen, [event]);
  assertEquals((await s.h.call("POST", "/citus", { raw: "{}" })).status, 400);
});

Deno.test("POST /sigterm: 202 and no effect", async () => {
  const s = await setup();
  assertEquals(await post(s, "/sigterm"), [202, "shutdown scheduled"]);
  assertEquals(s.agent.calls, []);
});
