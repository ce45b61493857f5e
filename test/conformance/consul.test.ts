/** The DCS contract on the Consul adapter, against the in-process Consul test server (real time). */
import { ConsulDcs } from "../../src/dcs/consul.ts";
import type { Dcs, DcsOptions } from "../../src/dcs/types.ts";
import { type ConsulTestServer, startConsulServer } from "../consul_server/server.ts";
import { consulTestConfig } from "../helpers/consul.ts";
import { type DcsHarness, runDcsContract } from "./dcs_contract.ts";

// Session TTL = ttl/2 = 2 s; the test server allows TTLs down to 1 s (real Consul: 10 s).
const timings = { ttlS: 4, loopWaitS: 1, retryTimeoutS: 1.5 };

function harness(srv: ConsulTestServer, scope: string): Promise<DcsHarness> {
  const clients: Dcs[] = [];
  const kv = (key: string) => `${srv.url}/v1/kv/service/${scope}/${key}`;
  const config = consulTestConfig(srv.hostPort, scope);
  return Promise.resolve({
    virtual: false,
    timings,
    realSlackMs: 1000,
    now: () => Date.now(),
    sleep: (ms: number) => new Promise<void>((r) => setTimeout(r, ms)),
    client(name: string, opts: Partial<DcsOptions> = {}) {
      const dcs = new ConsulDcs(config, { namespace: "/service", scope, name, ...timings, ...opts });
      clients.push(dcs);
      return Promise.resolve(dcs);
    },
    async rawWrite(key: string, value: string) {
      const res = await fetch(kv(key), { method: "PUT", body: value });
      if ((await res.json()) !== true) throw new Error(`raw write of ${key} refused`);
    },
    async rawRead(key: string) {
      const res = await fetch(kv(key));
      if (res.status === 404) {
        await res.body?.cancel();
        return null;
      }
      const [e] = await res.json() as { Value: string | null }[];
      return e?.Value ? new TextDecoder().decode(Uint8Array.from(atob(e.Value), (c) => c.charCodeAt(0))) : "";
    },
    stopStore: () => Promise.resolve(srv.setFault("blackhole")),
    startStore: () => Promise.resolve(srv.setFault("none")),
    // No background renewal in this adapter: a closed client renews nothing, like a dead process.
    crash: (dcs: Dcs) => dcs.close(),
    async close() {
      srv.setFault("none");
      await Promise.all(clients.map((c) => c.close()));
      await (await fetch(`${srv.url}/v1/kv/service/${scope}/?recurse`, { method: "DELETE" })).body?.cancel();
    },
  });
}

runDcsContract("consul", async () => {
  const srv = await startConsulServer({ sessionTtlMinMs: 1000 });
  return { harness: (scope) => harness(srv, scope), close: () => srv.close() };
});
