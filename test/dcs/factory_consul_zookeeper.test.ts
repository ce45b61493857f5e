/** The factory builds the Consul and ZooKeeper backends from configuration (lazily loaded modules). */
import assert from "node:assert/strict";
import { ConfigSchema } from "../../src/config/schema.ts";
import { ConsulDcs } from "../../src/dcs/consul.ts";
import { createDcs } from "../../src/dcs/factory.ts";
import { ZooKeeperDcs } from "../../src/dcs/zookeeper.ts";

const base = {
  name: "node1",
  scope: "batman",
  restapi: { listen: "127.0.0.1:8008" },
  postgresql: { listen: "127.0.0.1:5432", dataDir: "/nonexistent" },
};

Deno.test("createDcs builds ConsulDcs for a consul section", async () => {
  const dcs = await createDcs(ConfigSchema.parse({ ...base, consul: { host: "127.0.0.1:1" } }));
  try {
    assert.ok(dcs instanceof ConsulDcs);
    assert.equal(dcs.kind, "consul");
    assert.equal(dcs.requestCount, 0, "constructing sends nothing");
  } finally {
    await dcs.close();
  }
});

Deno.test("createDcs builds ZooKeeperDcs for a zookeeper section", async () => {
  const dcs = await createDcs(ConfigSchema.parse({ ...base, zookeeper: { hosts: ["127.0.0.1:1"] } }));
  try {
    assert.ok(dcs instanceof ZooKeeperDcs);
    assert.equal(dcs.kind, "zookeeper");
    assert.equal(dcs.requestCount, 0, "constructing connects to nothing");
  } finally {
    await dcs.close();
  }
});
