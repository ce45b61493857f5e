import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { harness } from "../helpers/api_harness.ts";
import { buildView, FakeAgent, hookDcs, keyPath, memoryDcs, threeNodeSeed } from "../helpers/fake_agent.ts";

type Json = Record<string, unknown>;

async function setup(seed = threeNodeSeed()) {
  const { store, dcs } = memoryDcs(seed);
  const agent = new FakeAgent(buildView("primary", { cluster: await dcs.getCluster() }), dcs);
  const stored = () => JSON.parse(store.rawGet(keyPath("config")) ?? "null");
  return { store, dcs, agent, h: harness(agent), stored };
}

Deno.test("GET /config: the stored document, 502 when the key is absent", async () => {
  const s = await setup();
  const res = await s.h.call("GET", "/config");
  assertEquals([res.status, s.h.json(res)], [200, s.stored()]);
  const empty = await setup(threeNodeSeed({ config: undefined }));
  assertEquals((await empty.h.call("GET", "/config")).status, 502);
});

Deno.test("PATCH /config: deep merge, null deletes, written to the DCS, HA loop woken", async () => {
  const s = await setup();
  const res = await s.h.call("PATCH", "/config", {
    body: { loop_wait: 5, retry_timeout: null, postgresql: { parameters: { work_mem: "8MB" } } },
  });
  const want = {
    ttl: 30,
    loop_wait: 5,
    postgresql: { parameters: { max_connections: 100, work_mem: "8MB" } },
  };
  assertEquals([res.status, s.h.json(res)], [200, want]);
  assertEquals(s.stored(), want);
  assertEquals(s.agent.wakes, 1);
});

Deno.test("PATCH /config: an unchanged document is not rewritten", async () => {
  const s = await setup();
  const before = s.store.revision;
  const res = await s.h.call("PATCH", "/config", { body: { ttl: "30" } });
  assertEquals(res.status, 200);
  assertEquals(s.store.revision, before);
});

Deno.test("PATCH /config: a concurrent change loses the compare-and-set with 409", async () => {
  const s = await setup();
  const racing = hookDcs(s.dcs, {
    setConfigValue: async (json: string, version?: string) => {
      s.store.rawPut(keyPath("config"), JSON.stringify({ ttl: 60, loop_wait: 10, retry_timeout: 10 }));
      return await s.dcs.setConfigValue(json, version);
    },
  });
  s.agent.dcs = racing;
  const res = await s.h.call("PATCH", "/config", { body: { loop_wait: 5 } });
  assertEquals(res.status, 409);
  assertEquals(s.stored(), { ttl: 60, loop_wait: 10, retry_timeout: 10 });
  assertEquals(s.agent.wakes, 0);
});

Deno.test("PATCH /config: 503 when the config key is missing", async () => {
  const s = await setup(threeNodeSeed({ config: undefined }));
  assertEquals((await s.h.call("PATCH", "/config", { body: { ttl: 40 } })).status, 503);
  assertEquals(s.stored(), null);
});

Deno.test("PATCH /config: an invalid result is refused with 400 naming the path; nothing written", async () => {
  const s = await setup();
  const before = s.stored();
  let res = await s.h.call("PATCH", "/config", { body: { ttl: 20 } });
  assertEquals(res.status, 400);
  assertEquals(
    res.body,
    "Bad Request: invalid configuration: ttl: expected loop_wait + 2*retry_timeout <= ttl, got 10 + 2*10 = 30 > 20",
  );
  res = await s.h.call("PATCH", "/config", { body: { postgresql: { use_slots: "sometimes" } } });
  assertEquals(res.status, 400);
  assertEquals(
    res.body!.startsWith("Bad Request: invalid configuration: postgresql.use_slots: "),
    true,
    res.body ?? "",
  );
  assertEquals(s.stored(), before);
  assertEquals(s.agent.wakes, 0);
});

Deno.test("PATCH /config: malformed bodies are 400/411 and change nothing", async () => {
  const s = await setup();
  const before = s.stored();
  const rev = s.store.revision;
  const cases: [Parameters<typeof s.h.call>[2], number][] = [
    [{ raw: "{not json" }, 400],
    [{ raw: "" }, 400],
    [{ raw: "[1,2]" }, 400],
    [{ raw: "42" }, 400],
    [{ raw: "{}" }, 400],
    [{ body: { ttl: 40 }, noLength: true }, 411],
  ];
  for (const [init, want] of cases) {
    const res = await s.h.call("PATCH", "/config", init);
    assertEquals(res.status, want, JSON.stringify(init));
    assertEquals(typeof res.body, "string");
  }
  assertEquals(
    (await s.h.call("PATCH", "/config", { raw: "{oops" })).body!.startsWith("Bad Request: invalid JSON"),
    true,
  );
  assertEquals(s.stored(), before);
  assertEquals(s.store.revision, rev);
});

Deno.test("PATCH /config?dry_run=1: the plan, without writing", async () => {
  const s = await setup();
  const before = s.stored();
  const rev = s.store.revision;
  const res = await s.h.call("PATCH", "/config?dry_run=1", {
    body: { postgresql: { parameters: { max_connections: 200, work_mem: "8MB" } } },
  });
  assertEquals(res.status, 200);
  assertEquals(s.h.json(res), {
    diff: [
      { path: "postgresql.parameters.max_connections", old: 100, new: 200 },
      { path: "postgresql.parameters.work_mem", new: "8MB" },
    ],
    restart_parameters: ["max_connections"],
    members: [
      { name: "node1", action: "restart" },
      { name: "node2", action: "restart" },
      { name: "node3", action: "restart" },
    ],
  });
  const reload = s.h.json(
    await s.h.call("PATCH", "/config?dry_run=true", { body: { loop_wait: 5 } }),
  ) as Json;
  assertEquals(reload.members, [
    { name: "node1", action: "reload" },
    { name: "node2", action: "reload" },
    { name: "node3", action: "reload" },
  ]);
  // An invalid patch is refused in a dry run too.
  assertEquals((await s.h.call("PATCH", "/config?dry_run=1", { body: { ttl: 2 } })).status, 400);
  assertEquals(s.stored(), before);
  assertEquals(s.store.revision, rev);
  assertEquals(s.agent.wakes, 0);
});

Deno.test("PUT /config: replaces the document, echoes it; invalid → 400; dry run writes nothing", async () => {
  const s = await setup();
  const doc = { ttl: 40, loop_wait: 10, retry_timeout: 10, pause: true };
  let res = await s.h.call("PUT", "/config?dry_run=1", { body: doc });
  assertEquals((s.h.json(res) as Json).diff, [
    { path: "pause", new: true },
    { path: "postgresql.parameters.max_connections", old: 100 },
    { path: "ttl", old: 30, new: 40 },
  ]);
  assertEquals(s.stored().ttl, 30);
  res = await s.h.call("PUT", "/config", { body: doc });
  assertEquals([res.status, s.h.json(res)], [200, doc]);
  assertEquals(s.stored(), doc);
  res = await s.h.call("PUT", "/config", { body: { ttl: 5, loop_wait: 10, retry_timeout: 10 } });
  assertEquals(res.status, 400);
  assertEquals(s.stored(), doc);
  // Creates the key when it is missing.
  const e = await setup(threeNodeSeed({ config: undefined }));
  assertEquals((await e.h.call("PUT", "/config", { body: { ttl: 30 } })).status, 200);
  assertEquals(e.stored(), { ttl: 30 });
});

Deno.test("PUT /config: 502 when the write fails", async () => {
  const s = await setup();
  s.agent.dcs = hookDcs(s.dcs, { setConfigValue: () => Promise.resolve(false) });
  assertEquals((await s.h.call("PUT", "/config", { body: { ttl: 40 } })).status, 502);
});
