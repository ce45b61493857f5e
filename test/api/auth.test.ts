import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { type AccessPolicy, basicAuthKey, parseNet } from "../../src/api/auth.ts";
import { harness } from "../helpers/api_harness.ts";
import {
  buildView,
  FakeAgent,
  keyPath,
  memberData,
  memoryDcs,
  threeNodeSeed,
} from "../helpers/fake_agent.ts";

async function setup(policy: Partial<AccessPolicy>) {
  const seed = threeNodeSeed({
    members: {
      node1: memberData("node1", { role: "primary", api_url: "http://10.0.0.1:8008/patroni" }),
      node2: memberData("node2", { api_url: "http://db2.internal:8008/patroni" }),
    },
  });
  const { store, dcs } = memoryDcs(seed);
  const agent = new FakeAgent(
    buildView("replica", { cluster: await dcs.getCluster(), dynamic: { failsafeMode: true } }),
    dcs,
  );
  const h = harness(agent, {
    allowlist: [],
    includeMembers: false,
    authKey: null,
    requireClientCert: false,
    ...policy,
  });
  h.ctx.resolver = (host) => Promise.resolve(host === "db2.internal" ? ["10.0.0.2"] : []);
  return { store, agent, h };
}

const auth = (user: string, pass: string) => ({ authorization: "Basic " + btoa(`${user}:${pass}`) });

Deno.test("Basic auth: unsafe requests need credentials (401 with WWW-Authenticate); GET is open", async () => {
  const s = await setup({ authKey: basicAuthKey("admin", "s3cret") });
  let res = await s.h.call("POST", "/reload");
  assertEquals([res.status, res.body, res.headers], [401, "no auth header received", {
    "WWW-Authenticate": 'Basic realm="Patroni"',
  }]);
  res = await s.h.call("POST", "/reload", { headers: auth("admin", "wrong") });
  assertEquals([res.status, res.body], [401, "not authenticated"]);
  res = await s.h.call("POST", "/reload", { headers: { authorization: "Bearer abc" } });
  assertEquals([res.status, res.body], [401, "not authenticated"]);
  assertEquals(s.agent.calls, []);
  res = await s.h.call("POST", "/reload", { headers: auth("admin", "s3cret") });
  assertEquals(res.status, 202);
  for (const path of ["/patroni", "/cluster", "/config", "/metrics", "/replica"]) {
    assertEquals((await s.h.call("GET", path)).status === 401, false, path);
  }
});

Deno.test("Basic auth guards every unsafe endpoint and changes nothing when refused", async () => {
  const s = await setup({ authKey: basicAuthKey("admin", "s3cret") });
  const config = s.store.rawGet(keyPath("config"));
  const unsafe: [string, string][] = [
    ["PATCH", "/config"],
    ["PUT", "/config"],
    ["POST", "/reload"],
    ["POST", "/restart"],
    ["DELETE", "/restart"],
    ["POST", "/switchover"],
    ["POST", "/failover"],
    ["DELETE", "/switchover"],
    ["POST", "/reinitialize"],
    ["POST", "/citus"],
    ["POST", "/mpp"],
    ["POST", "/sigterm"],
    ["POST", "/failsafe"],
  ];
  for (const [m, p] of unsafe) {
    assertEquals(
      (await s.h.call(m, p, { body: { ttl: 1, leader: "node1", name: "x" } })).status,
      401,
      `${m} ${p}`,
    );
  }
  assertEquals(s.agent.calls, []);
  assertEquals(s.store.rawGet(keyPath("config")), config);
  assertEquals(s.store.rawGet(keyPath("failover")), null);
});

Deno.test("allowlist: 403 Access is denied from outside; CIDR and member addresses allowed", async () => {
  const s = await setup({ allowlist: [parseNet("192.168.0.0/16")!] });
  let res = await s.h.call("POST", "/reload", { ip: "10.9.9.9" });
  assertEquals([res.status, res.body], [403, "Access is denied"]);
  assertEquals((await s.h.call("POST", "/reload", { ip: "192.168.4.5" })).status, 202);
  assertEquals((await s.h.call("POST", "/reload", { ip: "::ffff:192.168.4.5" })).status, 202);
  assertEquals((await s.h.call("POST", "/reload", { ip: "10.0.0.1" })).status, 403, "members not included");
  const m = await setup({ allowlist: [], includeMembers: true });
  assertEquals((await m.h.call("POST", "/reload", { ip: "10.0.0.1" })).status, 202);
  assertEquals((await m.h.call("POST", "/reload", { ip: "10.0.0.2" })).status, 202, "resolved member host");
  res = await m.h.call("POST", "/reload", { ip: "10.0.0.3" });
  assertEquals([res.status, res.body], [403, "Access is denied"]);
  // POST /failsafe does not admit members through the allowlist.
  assertEquals(
    (await m.h.call("POST", "/failsafe", { ip: "10.0.0.1", body: { name: "node1" } })).status,
    200,
  );
  const both = await setup({ allowlist: [parseNet("192.168.0.0/16")!], includeMembers: true });
  assertEquals(
    (await both.h.call("POST", "/failsafe", { ip: "10.0.0.1", body: { name: "node1" } })).status,
    403,
  );
  assertEquals((await both.h.call("POST", "/reload", { ip: "10.0.0.1" })).status, 202);
  // GET is never checked.
  assertEquals((await s.h.call("GET", "/patroni", { ip: "10.9.9.9" })).status, 200);
});

Deno.test("allowlist is checked before authentication; client certificate required when configured", async () => {
  const s = await setup({ allowlist: [parseNet("127.0.0.1")!], authKey: basicAuthKey("a", "b") });
  assertEquals((await s.h.call("POST", "/reload", { ip: "10.1.1.1" })).status, 403);
  assertEquals((await s.h.call("POST", "/reload")).status, 401);
  const c = await setup({ requireClientCert: true });
  const res = await c.h.call("POST", "/reload");
  assertEquals([res.status, res.body], [403, "client certificate required"]);
});
