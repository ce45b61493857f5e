/** The DCS contract on the in-memory store, in virtual time. */
import { MemoryDcs, MemoryStore } from "../../src/dcs/memory.ts";
import type { Dcs, DcsOptions } from "../../src/dcs/types.ts";
import { VirtualClock } from "../../src/util/clock.ts";
import { type DcsHarness, runDcsContract } from "./dcs_contract.ts";

const timings = { ttlS: 4, loopWaitS: 1, retryTimeoutS: 1.5 };

function harness(scope: string): Promise<DcsHarness> {
  const clock = new VirtualClock();
  const store = new MemoryStore(clock);
  const clients: Dcs[] = [];
  const prefix = `/service/${scope}/`;
  // Serialise time: concurrent sleepers each advance the clock in turn, never backwards.
  let queue = Promise.resolve();
  return Promise.resolve({
    virtual: true,
    timings,
    realSlackMs: 0,
    now: () => clock.now(),
    sleep: (ms) => queue = queue.then(() => clock.advance(ms)),
    client(name: string, opts: Partial<DcsOptions> = {}) {
      const dcs = new MemoryDcs(store, { namespace: "/service", scope, name, ...timings, ...opts });
      clients.push(dcs);
      return Promise.resolve(dcs);
    },
    rawWrite: (key, value) => Promise.resolve(store.rawPut(prefix + key, value)),
    rawRead: (key) => Promise.resolve(store.rawGet(prefix + key)),
    stopStore: () => Promise.resolve(store.setAvailable(false)),
    startStore: () => Promise.resolve(store.setAvailable(true)),
    crash: (dcs) => dcs.close(),
    async close() {
      await Promise.all(clients.map((c) => c.close()));
    },
  });
}

runDcsContract("memory", () => Promise.resolve({ harness }), { sanitize: true });
