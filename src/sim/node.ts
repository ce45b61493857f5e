/**
 * One simulated member: a real `HaAgent` (real decide, real executor, real `MemoryDcs` client) over a
 * `FakePg`, a simulated REST peer client and the shared virtual clock.
 *
 * Process faults are modelled with a gate in front of every port the agent uses: pausing the gate freezes
 * the agent at its next await (SIGSTOP), killing it freezes it forever (the process is gone; a restart builds
 * a fresh agent on the same data directory). PostgreSQL keeps running while the agent is paused.
 */
import type { Config } from "../config/schema.ts";
import { type DynamicConfig, fromPatroniDynamic, toPatroniDynamic } from "../config/dynamic.ts";
import { HaAgent } from "../agent/ha_agent.ts";
import { createLogger, type Logger } from "../agent/log.ts";
import { parsePeerStatus, type PeerClient } from "../agent/peers.ts";
import { statusDocument } from "../api/status_doc.ts";
import { MemoryDcs, type MemoryStore } from "../dcs/memory.ts";
import type { Dcs, Member } from "../dcs/types.ts";
import type { PeerStatus } from "../ha/types.ts";
import type { Clock } from "../util/clock.ts";
import type { FakePg } from "./fake_pg.ts";
import { Watchdog } from "../agent/watchdog.ts";
import { SimWatchdogDevice } from "./watchdog.ts";

/** Lets calls through while open, holds them while paused, forever once killed. */
export class Gate {
  #paused = false;
  #dead = false;
  #waiters: (() => void)[] = [];

  get paused(): boolean {
    return this.#paused;
  }
  get dead(): boolean {
    return this.#dead;
  }

  pass(): Promise<void> {
    if (this.#dead) return new Promise(() => {});
    if (!this.#paused) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  pause(): void {
    if (!this.#dead) this.#paused = true;
  }

  resume(): void {
    if (this.#dead) return;
    this.#paused = false;
    const w = this.#waiters;
    this.#waiters = [];
    for (const r of w) r();
  }

  kill(): void {
    this.#dead = true;
    this.#waiters = [];
  }
}

/** Wrap every promise-returning method of `target` so it waits for the gate before and after the call. */
export function gated<T extends object>(target: T, gate: Gate, syncMethods: readonly string[] = []): T {
  return new Proxy(target, {
    get(t, prop, _receiver) {
      const v = Reflect.get(t, prop, t);
      if (typeof v !== "function" || syncMethods.includes(String(prop))) {
        return typeof v === "function" ? v.bind(t) : v;
      }
      return async (...args: unknown[]) => {
        await gate.pass();
        const r = await v.apply(t, args);
        await gate.pass();
        return r;
      };
    },
  });
}

export function gatedClock(clock: Clock, gate: Gate): Clock {
  return {
    now: () => clock.now(),
    sleep: async (ms, signal) => {
      await gate.pass();
      await clock.sleep(ms, signal);
      await gate.pass();
    },
  };
}

/** What the simulated network needs to know about members. */
export interface SimNetwork {
  clock: Clock;
  node(name: string): SimNode | undefined;
  /** Can `a` open a connection to `b` (REST, replication)? */
  canTalk(a: string, b: string): boolean;
  /** One-way latency of a REST request, ms. */
  latencyMs: number;
  /** Client timeout of a REST request to a silent host, ms. */
  timeoutMs: number;
}

/** Outcome of one simulated request to a member's REST API. */
type Reach = "ok" | "refused" | "timeout";

function reach(net: SimNetwork, from: string, to: string): Reach {
  const n = net.node(to);
  if (!n || n.gate.dead) return "refused";
  if (n.gate.paused || !net.canTalk(from, to)) return "timeout";
  return "ok";
}

/** Peer client of member `self`: GET /patroni and POST /failsafe answered by the other simulated members. */
export class SimPeerClient implements PeerClient {
  constructor(readonly net: SimNetwork, readonly self: string) {}

  /** The wait until every parallel request finished: a timeout if any host is silent. */
  async #wait(outcomes: Reach[], attempts = 1): Promise<void> {
    const ms = outcomes.includes("timeout")
      ? this.net.timeoutMs * attempts
      : outcomes.length
      ? 2 * this.net.latencyMs
      : 0;
    if (ms > 0) await this.net.clock.sleep(ms);
  }

  async status(members: Member[]): Promise<PeerStatus[]> {
    const outcomes = members.map((m) => reach(this.net, this.self, m.name));
    // The answer reflects the peer at request time; the reply arrives after the round trip.
    const answers = members.map((m, i): PeerStatus => {
      const n = this.net.node(m.name);
      if (outcomes[i] !== "ok" || !n?.agent) return { name: m.name, reachable: false };
      return parsePeerStatus(m.name, n.statusDoc() as unknown as Record<string, unknown>);
    });
    await this.#wait(outcomes);
    return answers;
  }

  async failsafe(
    targets: { name: string; apiUrl: string }[],
    body: Record<string, unknown>,
  ): Promise<boolean> {
    const outcomes = targets.map((t) => reach(this.net, this.self, t.name));
    const accepted = targets.map((t, i) => {
      const n = this.net.node(t.name);
      if (outcomes[i] !== "ok" || !n?.agent) return false;
      return n.agent.acceptFailsafe(body as { name: string; conn_url?: string }) !== null;
    });
    await this.#wait(outcomes, 2); // one retry, as Patroni
    return accepted.every(Boolean);
  }
}

export interface SimNodeOptions {
  config: Config;
  store: MemoryStore;
  pg: FakePg;
  net: SimNetwork;
  /** Receives every log line of the agent (already prefixed with nothing; the caller adds context). */
  onLog?: (node: string, line: string) => void;
  /** Give the agent a simulated watchdog (mode from the config, `automatic` by default). */
  watchdog?: boolean;
}

const DCS_SYNC_METHODS = ["setTimings", "leaderlessHint"] as const;

export class SimNode {
  readonly name: string;
  readonly config: Config;
  readonly pg: FakePg;
  gate = new Gate();
  agent: HaAgent | null = null;
  #dcs: MemoryDcs | null = null;
  #abort = new AbortController();
  /** Agent restarts so far (0 = the first process). */
  incarnation = -1;
  /** The watchdog device of the current process (when the simulation gives it one). */
  watchdogDevice: SimWatchdogDevice | null = null;

  constructor(readonly opts: SimNodeOptions) {
    this.name = opts.config.name;
    this.config = opts.config;
    this.pg = opts.pg;
  }

  get alive(): boolean {
    return this.agent !== null && !this.gate.dead;
  }

  /** Start a fresh agent process (first start, or after a kill). */
  start(): void {
    if (this.alive) return;
    const { config, store, net } = this.opts;
    this.incarnation++;
    this.gate = new Gate();
    this.#abort = new AbortController();
    const dynamic: DynamicConfig = fromPatroniDynamic(toPatroniDynamic(config.bootstrap.dcs));
    this.#dcs = new MemoryDcs(store, {
      namespace: config.namespace,
      scope: config.scope,
      name: config.name,
      ttlS: dynamic.ttl,
      loopWaitS: dynamic.loopWait,
      retryTimeoutS: dynamic.retryTimeout,
      onBadData: () => {},
    });
    const gate = this.gate;
    const clock = gatedClock(net.clock, gate);
    const log: Logger = createLogger({
      level: "DEBUG",
      format: "patroni",
      now: () => net.clock.now(),
      write: (line) => this.opts.onLog?.(this.name, line),
    });
    this.watchdogDevice = this.opts.watchdog && config.watchdog.mode !== "off"
      ? new SimWatchdogDevice(net.clock)
      : null;
    const device = this.watchdogDevice;
    this.agent = new HaAgent({
      ...(device
        ? {
          watchdog: new Watchdog(
            config.watchdog,
            { ttl: dynamic.ttl, loopWait: dynamic.loopWait },
            log,
            () => device,
          ),
        }
        : {}),
      config,
      dcs: gated<Dcs>(this.#dcs, gate, DCS_SYNC_METHODS),
      pg: gated(this.pg, gate),
      peers: gated<PeerClient>(new SimPeerClient(net, this.name), gate),
      clock,
      log,
      dynamic,
    });
    const agent = this.agent;
    agent.run(this.#abort.signal).catch((e) => log.error(`agent loop ended: ${String(e)}`));
  }

  /** Node death: the agent process and PostgreSQL die at once. */
  kill(): void {
    this.gate.kill();
    this.#abort.abort();
    this.#dcs?.close().catch(() => {});
    this.pg.crash();
  }

  pause(): void {
    this.gate.pause();
  }

  resume(): void {
    this.gate.resume();
  }

  /** GET /patroni as the real API builds it, with PostgreSQL queried live (like Patroni's API thread). */
  statusDoc() {
    const agent = this.agent!;
    const view = agent.view();
    const pg = this.pg.state();
    const state = pg.running ? (pg.accepting ? "running" : "starting") : view.state;
    return statusDocument({ ...view, pg, state }, this.opts.net.clock.now());
  }

  /** Stop everything at the end of a run: nothing of this node may run afterwards. */
  shutdown(): void {
    this.gate.kill();
    this.#abort.abort();
    this.#dcs?.close().catch(() => {});
  }
}
