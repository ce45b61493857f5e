/**
 * Builds the DCS client the configuration asks for. Backends other than etcd3/memory are loaded lazily so an
 * etcd deployment never loads the Consul or ZooKeeper client libraries.
 */
import { type Config, dcsKind } from "../config/schema.ts";
import type { Clock } from "../util/clock.ts";
import type { BadDataHandler } from "./snapshot.ts";
import type { Dcs, DcsOptions, DcsTimings } from "./types.ts";

export interface CreateDcsOptions {
  /** Time source (virtual in the simulation). Default: the real clock. */
  clock?: Clock;
  /** For `memory`: the store to join. Default: the process-wide store named by `memory.id`. */
  memoryStore?: import("./memory.ts").MemoryStore;
  /** Timings to start with (the dynamic config in the DCS may differ from `bootstrap.dcs`). */
  timings?: DcsTimings;
  onBadData?: BadDataHandler;
}

/** DcsOptions for this member from the resolved configuration. */
export function dcsOptions(config: Config, opts: CreateDcsOptions = {}): DcsOptions {
  const d = config.bootstrap.dcs;
  const t = opts.timings ?? { ttlS: d.ttl, loopWaitS: d.loopWait, retryTimeoutS: d.retryTimeout };
  return {
    namespace: config.namespace,
    scope: config.scope,
    name: config.name,
    ...(config.citus ? { group: config.citus.group, allGroups: config.citus.group === 0 } : {}),
    ...t,
    ...(opts.onBadData ? { onBadData: opts.onBadData } : {}),
  };
}

/** Create the DCS client selected by the configuration (`etcd3`, `consul`, `zookeeper` or `memory`). */
export async function createDcs(config: Config, opts: CreateDcsOptions = {}): Promise<Dcs> {
  const o = dcsOptions(config, opts);
  const kind = dcsKind(config);
  switch (kind) {
    case "etcd3": {
      const { Etcd3Dcs } = await import("./etcd3.ts");
      return new Etcd3Dcs(config.etcd3!, { ...o, ...(opts.clock ? { clock: opts.clock } : {}) });
    }
    case "memory": {
      const { MemoryDcs, namedMemoryStore } = await import("./memory.ts");
      return new MemoryDcs(opts.memoryStore ?? namedMemoryStore(config.memory?.id ?? "default"), o);
    }
    case "consul": {
      // A literal specifier: the least-privilege agent may only import modules of its static graph.
      const { ConsulDcs } = await import("./consul.ts");
      return new ConsulDcs(config, o);
    }
    case "zookeeper": {
      const { ZooKeeperDcs } = await import("./zookeeper.ts");
      return new ZooKeeperDcs(config, o);
    }
  }
}
