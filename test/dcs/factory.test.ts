import assert from "node:assert/strict";
import { ConfigSchema } from "../../src/config/schema.ts";
import { createDcs, dcsOptions } from "../../src/dcs/factory.ts";
import { Etcd3Dcs } from "../../src/dcs/etcd3.ts";
import { MemoryDcs, MemoryStore } from "../../src/dcs/memory.ts";
import { VirtualClock } from "../../src/util/clock.ts";

const base = {
  name: "node1",
  scope: "batman",
  restapi: { listen: "127.0.0.1:8008" },
  postgresql: { listen: "127.0.0.1:5432", dataDir: "/tmp/x" },
  bootstrap: { dcs: { ttl: 20, loopWait: 5, retryTimeout: 5 } },
};

Deno.test("dcsOptions maps scope, name, timings and the Citus group", () => {
  const c = ConfigSchema.parse({ ...base, memory: {}, citus: { group: 0, database: "citus" } });
  assert.deepEqual(dcsOptions(c), {
    namespace: "/service",
    scope: "batman",
    name: "node1",
    group: 0,
    allGroups: true,
    ttlS: 20,
    loopWaitS: 5,
    retryTimeoutS: 5,
  });
  const w = ConfigSchema.parse({ ...base, memory: {}, citus: { group: 2, database: "citus" } });
  assert.equal(dcsOptions(w).allGroups, false);
  assert.equal(dcsOptions(w).group, 2);
  assert.equal(dcsOptions(ConfigSchema.parse({ ...base, memory: {} })).group, undefined);
});

Deno.test("createDcs picks the memory backend and joins the given store", async () => {
  const store = new MemoryStore(new VirtualClock());
  const c = ConfigSchema.parse({ ...base, memory: { id: "t" } });
  const dcs = await createDcs(c, { memoryStore: store });
  assert.ok(dcs instanceof MemoryDcs);
  assert.equal(dcs.kind, "memory");
  assert.equal(await dcs.attemptToAcquireLeader(), true);
  assert.equal(store.rawGet("/service/batman/leader"), "node1");
  await dcs.close();
});

Deno.test("createDcs picks etcd3 for an etcd3 section", async () => {
  const c = ConfigSchema.parse({ ...base, etcd3: { hosts: ["127.0.0.1:1", "127.0.0.1:2"] } });
  const dcs = await createDcs(c);
  assert.ok(dcs instanceof Etcd3Dcs);
  assert.equal(dcs.kind, "etcd3");
  await dcs.close();
});
