/** The DCS contract on a real etcd 3.4 (one member, started for this file). */
import { Etcd3 } from "etcd3";
import { Etcd3Dcs } from "../../src/dcs/etcd3.ts";
import type { Dcs, DcsOptions } from "../../src/dcs/types.ts";
import { startEtcd } from "../helpers/etcd.ts";
import { type DcsHarness, runDcsContract } from "./dcs_contract.ts";

const timings = { ttlS: 4, loopWaitS: 1, retryTimeoutS: 1.5 };

runDcsContract("etcd3", async () => {
  const etcd = await startEtcd();
  const raw = new Etcd3({ hosts: [etcd.endpoint] });
  let paused = false;
  return {
    harness(scope: string): Promise<DcsHarness> {
      const clients: Dcs[] = [];
      const prefix = `/service/${scope}/`;
      return Promise.resolve({
        virtual: false,
        timings,
        realSlackMs: 500,
        now: () => Date.now(),
        sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
        client(name: string, opts: Partial<DcsOptions> = {}) {
          const dcs = new Etcd3Dcs({ hosts: [etcd.endpoint] }, {
            namespace: "/service",
            scope,
            name,
            ...timings,
            ...opts,
          });
          clients.push(dcs);
          return Promise.resolve(dcs);
        },
        rawWrite: async (key, value) => void await raw.put(prefix + key).value(value),
        rawRead: (key) => raw.get(prefix + key).string(),
        stopStore() {
          etcd.pause();
          paused = true;
          return Promise.resolve();
        },
        startStore() {
          etcd.resume();
          paused = false;
          return Promise.resolve();
        },
        crash: (dcs) => dcs.close(),
        async close() {
          if (paused) etcd.resume();
          paused = false;
          await Promise.all(clients.map((c) => c.close()));
          await raw.delete().prefix(prefix);
        },
      });
    },
    async close() {
      raw.close();
      await etcd.stop();
    },
  };
});
