/**
 * Consul backend specifics beyond the shared contract: Patroni's session parameters, renewal frequency, key
 * layout, request counts per HA cycle, and behaviour on Consul errors. Against the in-process test server.
 */
import assert from "node:assert/strict";
import { ConsulDcs } from "../../src/dcs/consul.ts";
import { DcsUnavailableError } from "../../src/dcs/errors.ts";
import type { DcsOptions } from "../../src/dcs/types.ts";
import {
  type ConsulServerOptions,
  type ConsulTestServer,
  startConsulServer,
} from "../consul_server/server.ts";
import { consulTestConfig } from "../helpers/consul.ts";

const timings = { ttlS: 4, loopWaitS: 1, retryTimeoutS: 1.5 };
const MEMBER = { conn_url: "postgres://127.0.0.1:5432/postgres", api_url: "http://127.0.0.1:8008/patroni" };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function withConsul(
  fn: (srv: ConsulTestServer, client: (name: string, o?: Partial<DcsOptions>) => ConsulDcs) => Promise<void>,
  opts: { server?: ConsulServerOptions; consul?: Record<string, unknown> } = {},
): Promise<void> {
  const srv = await startConsulServer({ sessionTtlMinMs: 1000, ...opts.server });
  const clients: ConsulDcs[] = [];
  const config = consulTestConfig(srv.hostPort, "batman", opts.consul);
  try {
    await fn(srv, (name, o = {}) => {
      const c = new ConsulDcs(config, { namespace: "/service", scope: "batman", name, ...timings, ...o });
      clients.push(c);
      return c;
    });
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await srv.close();
  }
}

Deno.test("consul: one session per process with Patroni's name, TTL ttl/2, behavior delete and 1 ms lock-delay", () =>
  withConsul(async (srv, client) => {
    const a = client("node1");
    assert.equal(await a.touchMember(MEMBER), true);
    assert.equal(await a.attemptToAcquireLeader(), true);
    const info = srv.state.sessionInfo(a.sessionId!).sessions[0]!;
    assert.equal(info.Name, "batman-node1");
    assert.equal(info.TTL, "2s");
    assert.equal(info.Behavior, "delete");
    assert.equal(info.LockDelay, 1e6);
    assert.deepEqual(info.NodeChecks, [], "no checks unless configured");
    assert.equal(srv.state.sessionIds().length, 1, "member and leader share one session");
    const keys = srv.state.list("service/batman/").entries;
    assert.deepEqual(keys.map((e) => e.Key), ["service/batman/leader", "service/batman/members/node1"]);
    assert.ok(keys.every((e) => e.Session === a.sessionId), "both keys are held by the session");
    assert.equal(new TextDecoder().decode(keys[0]!.Value), "node1");
  }));

Deno.test("consul: configured checks are attached to the session", () =>
  withConsul(async (srv, client) => {
    const a = client("node1");
    assert.equal(await a.touchMember(MEMBER), true);
    assert.deepEqual(srv.state.sessionInfo(a.sessionId!).sessions[0]!.NodeChecks, ["serfHealth"]);
  }, { consul: { checks: ["serfHealth"] } }));

Deno.test("consul: a TTL below the agent's minimum is raised to it", () =>
  withConsul(async (srv, client) => {
    const warn = console.warn;
    const warnings: string[] = [];
    console.warn = (...a: unknown[]) => warnings.push(a.join(" "));
    try {
      const a = client("node1");
      assert.equal(await a.touchMember(MEMBER), true);
      assert.equal(srv.state.sessionInfo(a.sessionId!).sessions[0]!.TTL, "10s");
      assert.ok(warnings.some((w) => w.includes("10s")), `warned: ${warnings}`);
    } finally {
      console.warn = warn;
    }
  }, { server: { sessionTtlMinMs: 10_000 } }));

Deno.test("consul: the session is renewed at most once per loop_wait, and always for the leader key", () =>
  withConsul(async (srv, client) => {
    const a = client("node1");
    const renewals = () => srv.requestLog.filter((r) => r.startsWith("PUT /v1/session/renew/")).length;
    assert.equal(await a.touchMember(MEMBER), true); // creates the session
    assert.equal(await a.touchMember({ ...MEMBER, state: "running" }), true);
    assert.equal(await a.touchMember({ ...MEMBER, state: "stopped" }), true);
    assert.equal(renewals(), 0, "within loop_wait of creation");
    await sleep(timings.loopWaitS * 1000 + 50);
    assert.equal(await a.touchMember(MEMBER), true);
    assert.equal(renewals(), 1, "after loop_wait");
    assert.equal(await a.attemptToAcquireLeader(), true);
    const s = await a.getCluster();
    assert.equal(await a.updateLeader(s.leader), true);
    assert.equal(renewals(), 3, "acquiring and renewing the leader key always renew");
  }));

Deno.test("consul: requests per steady HA cycle (bench numbers)", () =>
  withConsul(async (srv, client) => {
    const leader = client("node1");
    const replica = client("node2");
    assert.equal(await leader.touchMember(MEMBER), true);
    assert.equal(await leader.attemptToAcquireLeader(), true);
    assert.equal(await replica.touchMember(MEMBER), true);
    // Leader cycle: read, renew lock (session renew + confirming acquire), member unchanged (no request).
    let before = leader.requestCount;
    const ls = await leader.getCluster();
    assert.equal(await leader.updateLeader(ls.leader), true);
    assert.equal(await leader.touchMember(MEMBER), true);
    assert.equal(leader.requestCount - before, 3);
    // Replica cycle: read, member unchanged within loop_wait (no request), watch (one or two blocking reads).
    before = replica.requestCount;
    const rs = await replica.getCluster();
    assert.equal(await replica.touchMember(MEMBER), true);
    assert.equal(replica.requestCount - before, 1);
    assert.equal(await replica.watch(rs.leader!.version, 300), false);
    const watchRequests = replica.requestCount - before - 1;
    assert.ok(watchRequests >= 1 && watchRequests <= 2, `watch took ${watchRequests} requests`);
    assert.ok(srv.requestLog.some((r) => r.includes("/v1/kv/service/batman/leader?index=")));
  }));

Deno.test("consul: reads use the configured consistency; sync writes read back consistently", () =>
  withConsul(async (srv, client) => {
    const a = client("node1");
    await a.getCluster();
    assert.ok(srv.requestLog.at(-1)!.startsWith("GET /v1/kv/service/batman/?recurse"));
    assert.ok(srv.requestLog.at(-1)!.includes("stale"), srv.requestLog.at(-1)!);
    const v = await a.setSyncState({ leader: "node1", sync_standby: null });
    assert.match(srv.requestLog.at(-2)!, /^PUT \/v1\/kv\/service\/batman\/sync/);
    assert.match(srv.requestLog.at(-1)!, /^GET \/v1\/kv\/service\/batman\/sync\?.*consistent/);
    assert.equal(v, String(srv.state.get("service/batman/sync").entry!.ModifyIndex));
  }, { consul: { consistency: "stale" } }));

Deno.test("consul: a session Consul forgot is recreated and our keys come back", () =>
  withConsul(async (srv, client) => {
    const a = client("node1");
    assert.equal(await a.touchMember(MEMBER), true);
    assert.equal(await a.attemptToAcquireLeader(), true);
    const old = a.sessionId!;
    srv.state.expireSession(old);
    assert.deepEqual(srv.state.list("service/batman/").entries, [], "behavior=delete dropped both keys");
    const s = await a.getCluster();
    assert.equal(s.leader, null);
    // The leader renews at once (forced renewal finds the session gone, makes a new one, re-acquires).
    assert.equal(await a.updateLeader({ name: "node1", version: "1", session: old }), true);
    assert.notEqual(a.sessionId, old);
    assert.equal(await a.touchMember(MEMBER), true);
    const after = await a.getCluster();
    assert.equal(after.leader?.name, "node1");
    assert.equal(after.leader?.session, a.sessionId);
    assert.deepEqual(after.members.map((m) => [m.name, m.session]), [["node1", a.sessionId]]);
  }));

Deno.test("consul: a lock-delay refusal is a lost race, not an error", () =>
  withConsul(async (srv, client) => {
    const foreign = srv.state.createSession({ LockDelay: "1500ms", Behavior: "delete" });
    assert.equal(
      srv.state.put("service/batman/leader", new TextEncoder().encode("node9"), {
        op: "lock",
        session: foreign,
      }),
      true,
    );
    srv.state.destroySession(foreign);
    const a = client("node1");
    assert.equal(await a.attemptToAcquireLeader(), false, "refused during the dead holder's lock-delay");
    await sleep(1600);
    assert.equal(await a.attemptToAcquireLeader(), true);
  }));

Deno.test("consul: Consul errors become DcsUnavailableError within retry_timeout; watch only waits", () =>
  withConsul(async (srv, client) => {
    const a = client("node1");
    assert.equal(await a.touchMember(MEMBER), true);
    const s = await a.getCluster();
    srv.setFault("error");
    for (
      const [name, op] of Object.entries({
        getCluster: () => a.getCluster(),
        touchMember: () => a.touchMember({ ...MEMBER, state: "x" }),
        acquire: () => a.attemptToAcquireLeader(),
        setConfigValue: () => a.setConfigValue("{}"),
      })
    ) {
      const t0 = Date.now();
      await assert.rejects(
        op(),
        (e) => e instanceof DcsUnavailableError && /No cluster leader/.test(e.message),
        name,
      );
      const took = Date.now() - t0;
      assert.ok(took <= timings.retryTimeoutS * 1000 + 300, `${name} took ${took} ms`);
      assert.ok(took >= 500, `${name} gave up after ${took} ms instead of retrying`);
    }
    const t0 = Date.now();
    assert.equal(await a.watch(s.leader?.version ?? null, 400), false);
    assert.ok(Date.now() - t0 >= 390);
    srv.setFault("none");
    assert.equal(await a.touchMember(MEMBER), true, "recovers");
  }));

Deno.test("consul: an unknown session check fails the operation within retry_timeout", () =>
  withConsul(async (_srv, client) => {
    const a = client("node1");
    await assert.rejects(
      a.touchMember(MEMBER),
      (e) => e instanceof DcsUnavailableError && /Missing check/.test(e.message),
    );
  }, { consul: { checks: ["service:pgwarden"] } }));
