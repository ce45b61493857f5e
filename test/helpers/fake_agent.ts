/**
 * Test builders for the REST API: a fake `AgentControl` made of plain objects, `PgState`/`AgentView` builders
 * for primary and replica nodes, and a seeded in-memory DCS (`MemoryDcs` on a `MemoryStore`).
 */
import type { AgentControl, AgentView, RestartRequest } from "../../src/agent/status.ts";
import { type DynamicConfigInput, fromPatroniDynamic, toPatroniDynamic } from "../../src/config/dynamic.ts";
import { type Config, type ConfigInput, ConfigSchema } from "../../src/config/schema.ts";
import { MemoryDcs, MemoryStore } from "../../src/dcs/memory.ts";
import { basePath, type Dcs, type MemberData } from "../../src/dcs/types.ts";
import { emptyPgState, type PgState } from "../../src/postgres/port.ts";

export const SCOPE = "batman";
export const NAMESPACE = "/service";

export function buildConfig(
  name = "node1",
  overrides: { restapi?: Partial<ConfigInput["restapi"]>; tags?: ConfigInput["tags"] } = {},
): Config {
  return ConfigSchema.parse({
    name,
    scope: SCOPE,
    namespace: NAMESPACE,
    memory: {},
    restapi: { listen: "127.0.0.1:0", ...overrides.restapi },
    postgresql: { listen: "127.0.0.1:5432", dataDir: `/tmp/${name}` },
    tags: overrides.tags ?? {},
  });
}

export function primaryPg(o: Partial<PgState> = {}): PgState {
  return {
    ...emptyPgState(),
    dataDirEmpty: false,
    running: true,
    pid: 1234,
    accepting: true,
    inRecovery: false,
    timeline: 2,
    sysid: "7350000000000000001",
    controlState: "in production",
    xlogLocation: 0x5000060,
    serverVersion: 150004,
    postmasterStartTime: "2024-06-01 10:00:00.5+00",
    replication: [{
      usename: "replicator",
      application_name: "node2",
      client_addr: "127.0.0.1",
      state: "streaming",
      sync_state: "async",
      sync_priority: 0,
    }],
    ...o,
  };
}

export function replicaPg(o: Partial<PgState> = {}): PgState {
  return primaryPg({
    inRecovery: true,
    controlState: "in archive recovery",
    xlogLocation: 0x5000060,
    receiveLsn: 0x5000060,
    replayLsn: 0x5000000,
    replicationState: "streaming",
    upstream: "127.0.0.1:5432",
    replication: [],
    replayedTimestamp: "2024-06-01 10:05:00+00",
    ...o,
  });
}

export const NOW = Date.UTC(2024, 5, 1, 12, 0, 0);

/** A view of a healthy node; `role: "primary"` holds the lock, `"replica"` follows. */
/** Overrides for `buildView`; `dynamic` may be given in input form (defaults are filled in). */
export type ViewOverrides = Omit<Partial<AgentView>, "dynamic"> & {
  dynamic?: DynamicConfigInput;
  name?: string;
};

export function buildView(role: "primary" | "replica", o: ViewOverrides = {}): AgentView {
  const { dynamic, name, ...rest } = o;
  const config = o.config ?? buildConfig(name ?? (role === "primary" ? "node1" : "node2"));
  return {
    config,
    dynamic: fromPatroniDynamic(toPatroniDynamic(dynamic ?? {})),
    cluster: null,
    dcsLastSeen: NOW / 1000 - 1,
    pg: role === "primary" ? primaryPg() : replicaPg(),
    state: "running",
    role,
    isLeader: role === "primary",
    leaderValidUntil: role === "primary" ? NOW + 20_000 : 0,
    paused: false,
    failsafeActive: false,
    watchdogFailed: false,
    nextRunAt: NOW + 5_000,
    lastDecision: null,
    scheduledRestart: null,
    asyncAction: null,
    ...rest,
  };
}

export interface ControlCall {
  op: string;
  arg?: unknown;
}

/** A fake agent: a mutable view, a real in-memory DCS client, and recorded control calls. */
export class FakeAgent implements AgentControl {
  calls: ControlCall[] = [];
  wakes = 0;
  restartResult = { ok: true, status: 200, message: "restarted successfully" };
  reinitResult = { ok: true, status: 200, message: "reinitialize started" };
  failsafeLsn: number | null = 0x5000000;
  citusEvent?: AgentControl["citusEvent"];
  /** Called on `wake()`: lets a test play the HA loop's part (e.g. move the leader key). */
  onWake: () => void = () => {};
  constructor(public current: AgentView, public dcs: Dcs) {}
  view(): AgentView {
    return this.current;
  }
  wake(): void {
    this.wakes++;
    this.onWake();
  }
  restart(req: RestartRequest) {
    this.calls.push({ op: "restart", arg: req });
    if (req.schedule) return Promise.resolve({ ok: true, status: 202, message: "Restart scheduled" });
    return Promise.resolve(this.restartResult);
  }
  cancelScheduledRestart() {
    this.calls.push({ op: "cancelScheduledRestart" });
    return Promise.resolve(
      this.current.scheduledRestart
        ? { ok: true, status: 200, message: "scheduled restart deleted" }
        : { ok: false, status: 404, message: "no restarts are scheduled" },
    );
  }
  reload() {
    this.calls.push({ op: "reload" });
    return Promise.resolve({ ok: true, status: 202, message: "reload scheduled" });
  }
  reinitialize(opts: { force: boolean; fromLeader: boolean }) {
    this.calls.push({ op: "reinitialize", arg: opts });
    return Promise.resolve(this.reinitResult);
  }
  acceptFailsafe(body: { name: string }) {
    this.calls.push({ op: "acceptFailsafe", arg: body });
    return this.failsafeLsn;
  }
}

/** Raw keys of a cluster in the store (no leases: they live until rewritten). */
export interface ClusterSeed {
  leader?: string;
  members?: Record<string, MemberData>;
  config?: Record<string, unknown>;
  sync?: Record<string, unknown>;
  failover?: Record<string, unknown>;
  status?: Record<string, unknown>;
  history?: unknown[];
  failsafe?: Record<string, string>;
  initialize?: string;
}

export function seedStore(store: MemoryStore, seed: ClusterSeed): void {
  const base = basePath(NAMESPACE, SCOPE);
  const put = (k: string, v: unknown) =>
    store.rawPut(`${base}/${k}`, typeof v === "string" ? v : JSON.stringify(v));
  if (seed.initialize !== undefined) put("initialize", seed.initialize);
  if (seed.leader) put("leader", seed.leader);
  for (const [n, d] of Object.entries(seed.members ?? {})) put(`members/${n}`, d);
  for (const k of ["config", "sync", "failover", "status", "history", "failsafe"] as const) {
    if (seed[k] !== undefined) put(k, seed[k]);
  }
}

export function memberData(name: string, o: Partial<MemberData> & { apiPort?: number } = {}): MemberData {
  const { apiPort, ...rest } = o;
  return {
    conn_url: `postgres://127.0.0.${name.replace(/\D/g, "") || "1"}:5432/postgres`,
    api_url: `http://127.0.0.1:${apiPort ?? 8008}/patroni`,
    state: "running",
    role: "replica",
    version: "0.1.0",
    xlog_location: 0x5000000,
    timeline: 2,
    ...rest,
  };
}

/** A standard three-node cluster: node1 leads, node2 and node3 replicate. */
export function threeNodeSeed(o: Partial<ClusterSeed> = {}): ClusterSeed {
  return {
    initialize: "7350000000000000001",
    leader: "node1",
    members: {
      node1: memberData("node1", { role: "primary", xlog_location: 0x5000060 }),
      node2: memberData("node2", {
        replication_state: "streaming",
        receive_lsn: 0x5000060,
        replay_lsn: 0x5000000,
      }),
      node3: memberData("node3", {
        replication_state: "streaming",
        receive_lsn: 0x4000000,
        replay_lsn: 0x4000000,
      }),
    },
    config: {
      ttl: 30,
      loop_wait: 10,
      retry_timeout: 10,
      postgresql: { parameters: { max_connections: 100 } },
    },
    status: { optime: 0x5000060 },
    history: [[1, 0x3000060, "no recovery target specified", "2024-06-01T10:00:00+00:00", "node1"]],
    ...o,
  };
}

/** A store seeded with `seed` and a DCS client for `name` on it. */
export function memoryDcs(
  seed: ClusterSeed = threeNodeSeed(),
  name = "node1",
): { store: MemoryStore; dcs: MemoryDcs } {
  const store = new MemoryStore();
  seedStore(store, seed);
  const dcs = new MemoryDcs(store, {
    namespace: NAMESPACE,
    scope: SCOPE,
    name,
    ttlS: 30,
    loopWaitS: 10,
    retryTimeoutS: 10,
  });
  return { store, dcs };
}

/** The DCS key path of `rel` in the test cluster. */
export function keyPath(rel: string): string {
  return `${basePath(NAMESPACE, SCOPE)}/${rel}`;
}

/** Wrap a DCS so single methods can be replaced (e.g. to lose a compare-and-set race). */
export function hookDcs<T extends Dcs>(dcs: T, hooks: Partial<Dcs>): Dcs {
  return new Proxy(dcs, {
    get(target, prop) {
      const hook = (hooks as Record<PropertyKey, unknown>)[prop];
      if (hook !== undefined) return hook;
      const v = Reflect.get(target, prop, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}
