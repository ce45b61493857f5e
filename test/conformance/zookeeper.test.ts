/**
 * The DCS contract on the ZooKeeper adapter against a real ZooKeeper 3.8 (real time). Clients connect through
 * a TCP proxy so "store down" is a network partition (nothing sent meanwhile reaches ZooKeeper).
 */
import { ConfigSchema } from "../../src/config/schema.ts";
import { ZooKeeperDcs } from "../../src/dcs/zookeeper.ts";
import type { Dcs, DcsOptions } from "../../src/dcs/types.ts";
import { startTcpProxy, type TcpProxy } from "../helpers/tcp_proxy.ts";
import { type RawZk, rawZooKeeper, startZooKeeper } from "../helpers/zookeeper.ts";
import { type DcsHarness, runDcsContract } from "./dcs_contract.ts";

// Session timeout = ttl = 4 s (the test server grants down to 1 s).
const timings = { ttlS: 4, loopWaitS: 1, retryTimeoutS: 1.5 };

function harness(proxy: TcpProxy, raw: RawZk, scope: string): Promise<DcsHarness> {
  const clients: Dcs[] = [];
  const dir = `/service/${scope}`;
  const config = ConfigSchema.parse({
    name: "test",
    scope,
    zookeeper: { hosts: [proxy.endpoint] },
    restapi: { listen: "127.0.0.1:8008" },
    postgresql: { listen: "127.0.0.1:5432", dataDir: "/nonexistent" },
  });
  return Promise.resolve({
    virtual: false,
    timings,
    realSlackMs: 1000,
    now: () => Date.now(),
    sleep: (ms: number) => new Promise<void>((r) => setTimeout(r, ms)),
    client(name: string, opts: Partial<DcsOptions> = {}) {
      const dcs = new ZooKeeperDcs(config, { namespace: "/service", scope, name, ...timings, ...opts });
      clients.push(dcs);
      return Promise.resolve(dcs);
    },
    rawWrite: (key: string, value: string) => raw.write(`${dir}/${key}`, value),
    rawRead: (key: string) => raw.read(`${dir}/${key}`),
    stopStore: () => Promise.resolve(proxy.blackhole()),
    startStore: () => Promise.resolve(proxy.restore()),
    // close() abandons the session without ending it: ZooKeeper expires it after ttl, as for a dead process.
    crash: (dcs: Dcs) => dcs.close(),
    async close() {
      proxy.restore();
      await Promise.all(clients.map((c) => c.close()));
      await raw.deleteTree(dir);
    },
  });
}

runDcsContract("zookeeper", async () => {
  const zk = await startZooKeeper({ minSessionTimeoutMs: 1000 });
  const proxy = startTcpProxy({ port: zk.port });
  const raw = await rawZooKeeper(zk.endpoint);
  return {
    harness: (scope) => harness(proxy, raw, scope),
    async close() {
      await raw.close();
      await proxy.close();
      await zk.stop();
    },
  };
});
