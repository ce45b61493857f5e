import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { UI_CSP } from "../../src/api/ui.ts";
import { harness } from "../helpers/api_harness.ts";
import {
  buildConfig,
  buildView,
  FakeAgent,
  hookDcs,
  memberData,
  memoryDcs,
  threeNodeSeed,
} from "../helpers/fake_agent.ts";

type Json = Record<string, unknown>;

async function setup(scope = "batman") {
  const { dcs } = memoryDcs(threeNodeSeed());
  const config = { ...buildConfig("node1"), scope };
  const agent = new FakeAgent(buildView("primary", { config, cluster: await dcs.getCluster() }), dcs);
  return { dcs, agent, h: harness(agent) };
}

Deno.test("GET /ui: one self-contained HTML page under a CSP that allows nothing from elsewhere", async () => {
  const { h } = await setup();
  const res = await h.call("GET", "/ui");
  assertEquals([res.status, res.contentType], [200, "text/html; charset=utf-8"]);
  assertEquals(res.headers?.["Content-Security-Policy"], UI_CSP);
  assert(UI_CSP.includes("default-src 'none'") && UI_CSP.includes("connect-src 'self'"));
  const html = res.body!;
  assert(html.startsWith("<!doctype html>"));
  // No external stylesheet, script, image or font: every src/href is inline data or absent.
  assertEquals([...html.matchAll(/\b(?:src|href)="([^"]*)"/g)].map((m) => m[1]), ["data:,"]);
  assert(!/https?:\/\//.test(html.replace(/http:\/\/www\.w3\.org[^"]*/g, "")), "no absolute URLs");
  assert(html.includes('fetch("/switchover"'));
  assert(html.includes('getJson("/cluster")') && html.includes('getJson("/history")'));
  assert(html.includes("const REFRESH_MS = 2000;"));
  assert(html.includes('<span id="node">node1</span>'));
});

Deno.test("GET /ui: the scope is escaped; ?refresh is clamped", async () => {
  const { h } = await setup(`<b>"x"&$&`);
  let html = (await h.call("GET", "/ui?refresh=0.01")).body!;
  assert(html.includes("<title>&lt;b&gt;&quot;x&quot;&amp;$&amp; · pgwarden</title>"), html.slice(0, 400));
  assert(!html.includes("<b>"));
  assert(html.includes("const REFRESH_MS = 200;"));
  html = (await h.call("GET", "/ui?refresh=abc")).body!;
  assert(html.includes("const REFRESH_MS = 2000;"));
  html = (await h.call("GET", "/ui?refresh=9999")).body!;
  assert(html.includes("const REFRESH_MS = 60000;"));
});

Deno.test("GET /cluster on a Citus coordinator adds the worker groups as citus_groups", async () => {
  const { dcs, agent } = await setup();
  let h = harness(agent);
  assertEquals("citus_groups" in (h.json(await h.call("GET", "/cluster")) as Json), false);
  const own = await dcs.getCluster();
  const worker = await memoryDcs(threeNodeSeed({
    leader: "w2a",
    members: { w2a: memberData("w2a", { role: "primary" }) },
  })).dcs.getCluster();
  agent.dcs = hookDcs(dcs, {
    getCluster: () => Promise.resolve({ ...own, groups: new Map([[2, worker], [1, worker]]) }),
  });
  h = harness(agent);
  const body = h.json(await h.call("GET", "/cluster")) as Json & { citus_groups: Json[] };
  assertEquals((body.members as Json[]).map((m) => m.name), ["node1", "node2", "node3"]);
  assertEquals(body.citus_groups.map((g) => g.group), [1, 2]);
  assertEquals((body.citus_groups[0]!.members as Json[]).map((m) => [m.name, m.role]), [["w2a", "leader"]]);
});
