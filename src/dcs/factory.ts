/**
 * Builds the DCS client the configuration asks for. Backends other than etcd3/memory are loaded lazily so an
 * etcd deployment never loads the Consul or ZooKeeper client libraries.
 */
import { type Config, dcsKind } from "../config/schema.ts";
import type { Clock } from "../util/clock.ts";
import type { BadDataHandler } from "./snapshot.ts";
import type { Dcs, DcsOptions } from "./types.ts";

export interface CreateDcsOptions {
  /** Time source (virtual in the simulation). Default: the real clock. */
  clock?: Clock;
  /** For `memory`: the store to join. Default: the process-wide store named by `memory.id`. */
  memoryStore?: import("./memory.ts").MemoryStore;
  /** Timings to start with (the dynamic config in the DCS may differ from `bootstrap.dcs`). */
  timings?: { ttlS: number; loopWaitS: number; retryTimeoutS: number };
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
      // TODO(consul backend): src/dcs/consul.ts exports `ConsulDcs` with constructor (config, opts).
      const { ConsulDcs } = await loadBackend<"ConsulDcs">("./consul.ts", "ConsulDcs");
      return new ConsulDcs(config, o);
    }
    case "zookeeper": {
      // TODO(zookeeper backend): src/dcs/zookeeper.ts exports `ZooKeeperDcs` with constructor (config, opts).
      const { ZooKeeperDcs } = await loadBackend<"ZooKeeperDcs">("./zookeeper.ts", "ZooKeeperDcs");
      return new ZooKeeperDcs(config, o);
    }
  }
}

type BackendClass = new (config: Config, opts: DcsOptions) => Dcs;

/**
 * Import a backend module written in parallel with this factory. The specifier is computed so type-checking
 * does not require the file to exist yet; replace with a literal `import("./x.ts")` once it does.
 */
async function loadBackend<K extends string>(file: string, exportName: K): Promise<Record<K, BackendClass>> {
  let mod: Record<string, unknown>;
  try {
    mod = await import(new URL(file, import.meta.url).href);
  } catch (e) {
    throw new Error(`DCS backend ${file} could not be loaded: ${e instanceof Error ? e.message : e}`, {
      cause: e,
    });
  }
  if (typeof mod[exportName] !== "function") {
    throw new Error(`DCS backend ${file} does not export ${exportName}`);
  }
  return mod as Record<K, BackendClass>;
}
