/**
 * A simulated cluster: N members (real HaAgent over FakePg), one in-memory DCS store, a simulated network,
 * all on one VirtualClock. `advanceTo` moves virtual time event by event (timers and world ticks), letting
 * every pending continuation run before time moves on, and calls `onEvent` after each step so checkers see
 * every state the cluster passes through.
 */
import { type Config, ConfigSchema } from "../config/schema.ts";
import type { DynamicConfigInput } from "../config/dynamic.ts";
import { MemoryStore } from "../dcs/memory.ts";
import { basePath } from "../dcs/types.ts";
import type { Decision } from "../ha/types.ts";
import { VirtualClock } from "../util/clock.ts";
import { commonPrefix, type FakePg, type PgTimings, PgWorld } from "./fake_pg.ts";
import { type SimNetwork, SimNode } from "./node.ts";

export interface SimClusterOptions {
  /** Member count. @default 3 */
  nodes?: number;
  scope?: string;
  /** bootstrap.dcs of every member (camelCase). */
  dcs?: DynamicConfigInput;
  /** Extra local config per member index (tags, postgresql options). */
  member?: (i: number) => Record<string, unknown>;
  /** World tick (replication + writes), ms. @default 200 */
  tickMs?: number;
  /** WAL bytes a primary writes per tick. @default 8192 */
  writeBytes?: number;
  pgTimings?: Partial<PgTimings>;
  /** REST request latency (one way), ms. @default 5 */
  latencyMs?: number;
  onLog?: (node: string, line: string) => void;
  /** Give every member a simulated watchdog; an expired one resets the machine. @default false */
  watchdog?: boolean;
  /** How long a machine reset by its watchdog takes to come back, ms. @default 10000 */
  rebootMs?: number;
  /** Called with each new decision of a member (after the cycle that made it). */
  onDecision?: (node: string, d: Decision) => void;
}

/** Let every queued continuation run: one macrotask turn drains the microtask queue completely. */
class Drain {
  #ch = new MessageChannel();
  #waiting: (() => void)[] = [];
  constructor() {
    this.#ch.port1.onmessage = () => this.#waiting.shift()?.();
  }
  run(): Promise<void> {
    return new Promise((resolve) => {
      this.#waiting.push(resolve);
      this.#ch.port2.postMessage(0);
    });
  }
  close(): void {
    this.#ch.port1.close();
    this.#ch.port2.close();
  }
}

export const SIM_START_MS = Date.parse("2030-01-01T00:00:00Z");

export class SimCluster implements SimNetwork {
  readonly clock = new VirtualClock(SIM_START_MS);
  readonly store = new MemoryStore(this.clock);
  readonly world: PgWorld;
  readonly nodes: SimNode[] = [];
  readonly tickMs: number;
  latencyMs: number;
  timeoutMs = 2000;
  /** Called after every event (timer or tick) with the cluster in a settled state. */
  onEvent: (() => void) | null = null;
  readonly #isolated = new Set<string>();
  readonly #drain = new Drain();
  #nextTickAt: number;
  readonly #lastDecision = new Map<string, Decision | null>();
  readonly #onDecision?: (node: string, d: Decision) => void;
  readonly #onLog?: (node: string, line: string) => void;
  readonly #rebootMs: number;
  /** Machines reset by their watchdog and when they boot again. */
  #reboots: { node: SimNode; at: number }[] = [];
  /** Watchdog resets so far. */
  watchdogResets = 0;
  /** Key prefix of the cluster in the store (`/service/<scope>`). */
  readonly prefix: string;
  readonly leaderKey: string;

  constructor(opts: SimClusterOptions = {}) {
    const n = opts.nodes ?? 3;
    this.tickMs = opts.tickMs ?? 200;
    this.latencyMs = opts.latencyMs ?? 5;
    this.world = new PgWorld(this.clock, { writeBytes: opts.writeBytes, timings: opts.pgTimings });
    this.world.canConnect = (a, b) => this.canTalk(a, b);
    this.#nextTickAt = this.clock.now() + this.tickMs;
    this.#onDecision = opts.onDecision;
    this.#onLog = opts.onLog;
    this.#rebootMs = opts.rebootMs ?? 10_000;
    const scope = opts.scope ?? "sim";
    for (let i = 1; i <= n; i++) {
      const config = simMemberConfig(`node${i}`, i, scope, opts.dcs ?? {}, opts.member?.(i) ?? {});
      const pg = this.world.add(config.name, "127.0.0.1", 5432 + i);
      this.nodes.push(
        new SimNode({ config, store: this.store, pg, net: this, onLog: opts.onLog, watchdog: opts.watchdog }),
      );
    }
    this.prefix = basePath(this.nodes[0]!.config.namespace, scope);
    this.leaderKey = `${this.prefix}/leader`;
  }

  now(): number {
    return this.clock.now();
  }

  /** Virtual seconds since the start. */
  elapsedS(): number {
    return (this.clock.now() - SIM_START_MS) / 1000;
  }

  node(name: string): SimNode | undefined {
    return this.nodes.find((n) => n.name === name);
  }

  canTalk(a: string, b: string): boolean {
    return a === b || (!this.#isolated.has(a) && !this.#isolated.has(b));
  }

  /** Cut a member off from the other members (REST and replication), or reconnect it. */
  isolate(name: string, cut: boolean): void {
    if (cut) this.#isolated.add(name);
    else this.#isolated.delete(name);
  }

  isolated(name: string): boolean {
    return this.#isolated.has(name);
  }

  start(): void {
    for (const n of this.nodes) n.start();
  }

  /** Advance virtual time to `target` (epoch ms), event by event. */
  async advanceTo(target: number): Promise<void> {
    let sameInstant = 0;
    let last = this.clock.now();
    for (;;) {
      await this.#drain.run();
      const now = this.clock.now();
      const timer = this.clock.nextTimerAt();
      const next = Math.min(timer ?? Infinity, this.#nextTickAt, target);
      if (next <= now && timer !== undefined && timer <= now) {
        await this.clock.advance(0);
      } else if (next > now) {
        await this.clock.advance(next - now);
      }
      await this.#drain.run();
      if (this.clock.now() >= this.#nextTickAt) {
        this.world.tick();
        this.#nextTickAt += this.tickMs;
      }
      this.#watchdogs();
      this.#observeDecisions();
      this.onEvent?.();
      if (this.clock.now() === last) {
        if (++sameInstant > 100_000) throw new Error(`simulation livelock at ${this.elapsedS()} s`);
      } else {
        sameInstant = 0;
        last = this.clock.now();
      }
      const pending = this.clock.nextTimerAt();
      if (this.clock.now() >= target && (pending === undefined || pending > target)) return;
    }
  }

  advance(ms: number): Promise<void> {
    return this.advanceTo(this.clock.now() + ms);
  }

  /** Reset machines whose watchdog ran out; boot reset machines when their time comes. */
  #watchdogs(): void {
    const now = this.clock.now();
    for (const n of this.nodes) {
      if (!n.alive || n.gate.dead || !n.watchdogDevice?.expired(now)) continue;
      this.watchdogResets++;
      this.#onLog?.(n.name, `[sim] t=${this.elapsedS().toFixed(1)}s WATCHDOG RESET of ${n.name}`);
      n.kill();
      this.#reboots.push({ node: n, at: now + this.#rebootMs });
    }
    for (const r of [...this.#reboots]) {
      if (r.at > now) continue;
      this.#reboots.splice(this.#reboots.indexOf(r), 1);
      r.node.start(); // no-op when something else already restarted it
    }
  }

  #observeDecisions(): void {
    if (!this.#onDecision) return;
    for (const n of this.nodes) {
      const d = n.agent?.view().lastDecision ?? null;
      if (d && d !== this.#lastDecision.get(n.name)) {
        this.#lastDecision.set(n.name, d);
        this.#onDecision(n.name, d);
      }
    }
  }

  /** Name in the DCS leader key (read directly from the store, ignoring faults). */
  leaderName(): string | null {
    return this.store.rawGet(this.leaderKey);
  }

  /** Members whose agent believes it holds the lock right now. */
  believers(): SimNode[] {
    const now = this.clock.now();
    return this.nodes.filter((n) => n.agent !== null && n.agent.memory.leaderValidUntil > now);
  }

  /** Why the cluster is not (yet) one leader with every member following it; null when it is. */
  notConverged(): string | null {
    const leader = this.leaderName();
    if (!leader) return "no leader key";
    const l = this.node(leader);
    if (!l?.alive) return `leader ${leader} is not alive`;
    if (!l.pg.writable) return `leader ${leader} is not a writable primary`;
    const believers = this.believers().map((n) => n.name);
    if (believers.length !== 1 || believers[0] !== leader) return `lock believers: [${believers.join(",")}]`;
    for (const n of this.nodes) {
      if (n === l) continue;
      if (!n.alive) return `${n.name} is not alive`;
      const p = n.pg.proc;
      if (n.pg.writable) return `${n.name} is also a writable primary`;
      if (!p || !p.accepting || p.role !== "replica") return `${n.name} is not a running replica`;
      const up = n.pg.upstreamNode();
      const want = n.config.tags.replicatefrom ?? leader;
      if (!p.streaming || up?.name !== want) return `${n.name} is not streaming from ${want}`;
      if (commonPrefix(n.pg.segments, l.pg.segments) < n.pg.end) return `${n.name} diverged from ${leader}`;
    }
    return null;
  }

  /** A one-line state summary (verbose logs, failure reports). */
  describe(): string {
    const parts = this.nodes.map((n) => {
      const flags = [n.gate.dead ? "dead" : n.gate.paused ? "paused" : "up"];
      if (this.isolated(n.name)) flags.push("isolated");
      if (!this.store.reachable(n.name)) flags.push("no-dcs");
      if (n.pg.slow > 1) flags.push(`slow${n.pg.slow}`);
      return `${n.name}[${flags.join(",")}] ${pgSummary(n.pg)} believes=${
        n.agent ? n.agent.memory.leaderValidUntil > this.now() : false
      }`;
    });
    return `t=${this.elapsedS().toFixed(1)}s leader=${this.leaderName() ?? "-"} ` + parts.join(" | ");
  }

  close(): void {
    for (const n of this.nodes) n.shutdown();
    this.#drain.close();
  }
}

function pgSummary(pg: FakePg): string {
  if (!pg.data) return "pg:empty";
  const p = pg.proc;
  const role = !p
    ? `down(${pg.data.controlState})`
    : !p.accepting
    ? "starting"
    : p.busy
    ? `${p.role}-busy`
    : p.role;
  const up = p?.role === "replica" ? `<-${pg.upstreamNode()?.name ?? "none"}${p.streaming ? "" : "!"}` : "";
  return `pg:${role}${up} tl${pg.timeline} lsn${pg.end}`;
}

/** Local configuration of simulated member `name` (index `i`). */
export function simMemberConfig(
  name: string,
  i: number,
  scope: string,
  dcs: DynamicConfigInput,
  extra: Record<string, unknown> = {},
): Config {
  const { postgresql, ...rest } = extra as { postgresql?: Record<string, unknown> };
  return ConfigSchema.parse({
    name,
    scope,
    memory: { id: scope },
    restapi: { listen: `127.0.0.1:${8008 + i}` },
    postgresql: {
      listen: `127.0.0.1:${5432 + i}`,
      dataDir: `/sim/${name}`,
      usePgRewind: true,
      ...postgresql,
    },
    bootstrap: { dcs },
    ...rest,
  });
}
