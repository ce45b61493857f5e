/**
 * In-process ctl runs for tests: the real commands and the real in-memory DCS, with scripted stdin, captured
 * output, and a fake REST API that records every call. Also seeds a cluster into a memory store the way agents
 * would write it.
 */
import { Command } from "commander";
import { registerClusterCommands } from "../../src/ctl/cluster_commands.ts";
import type { CtlRuntime, PgQueryOptions, PgSession } from "../../src/ctl/context.ts";
import { BufferIo } from "../../src/ctl/io.ts";
import type { RestRequest, RestResponse } from "../../src/ctl/rest.ts";
import { createDcs } from "../../src/dcs/factory.ts";
import { MemoryDcs, MemoryStore } from "../../src/dcs/memory.ts";
import type { Dcs, HistoryEntry, MemberData } from "../../src/dcs/types.ts";
import { type Clock, realClock } from "../../src/util/clock.ts";

export interface ApiCall {
  method: string;
  url: string;
  body?: unknown;
  authorization?: string;
}

export type ApiHandler = (call: ApiCall) => RestResponse | Promise<RestResponse>;

/** A fake of every member's REST API. The default answers 503 to everything. */
export class FakeApi {
  readonly calls: ApiCall[] = [];
  /** URLs (prefixes) that behave as if nothing listened there. */
  readonly down = new Set<string>();
  constructor(public handler: ApiHandler = () => ({ status: 503, body: "" })) {}
  transport = async (req: RestRequest): Promise<RestResponse> => {
    const call: ApiCall = {
      method: req.method,
      url: req.url,
      ...(req.body !== undefined ? { body: JSON.parse(req.body) } : {}),
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
    };
    this.calls.push(call);
    if ([...this.down].some((d) => req.url.startsWith(d))) {
      throw new TypeError("error sending request: Connection refused");
    }
    return await this.handler(call);
  };
}

export interface RunOptions {
  store: MemoryStore;
  api?: FakeApi;
  /** Lines typed at the prompts. */
  input?: string;
  env?: Record<string, string>;
  /** Editor stand-in: gets the temp file path. */
  editor?: (file: string) => Promise<number>;
  pg?: (o: PgQueryOptions) => Promise<PgSession>;
  /** Default: `skippingClock()`. */
  clock?: Clock;
  /** Refreshes of -W/-w loops after the first output (default 0). */
  maxWatchRefreshes?: number;
}

export interface RunResult {
  code: number;
  out: string;
  err: string;
}

/**
 * Real time plus every slept interval: a 1 s poll takes 10 ms of real time but moves `now()` by a second, so
 * waits bounded in seconds run their whole course quickly while other tasks still get real time to act.
 */
export function skippingClock(realSliceMs = 10): Clock {
  let skipped = 0;
  return {
    now: () => realClock.now() + skipped,
    sleep: async (ms, signal) => {
      await realClock.sleep(Math.min(ms, realSliceMs), signal);
      skipped += Math.max(0, ms - realSliceMs);
    },
  };
}

/** Run one ctl command line (global options first, as with patronictl). */
export async function runCtl(args: string[], o: RunOptions): Promise<RunResult> {
  const io = new BufferIo(o.input ?? "");
  let code = -1;
  const rt: CtlRuntime = {
    io,
    env: { HOME: "/nonexistent-home", ...o.env },
    cwd: Deno.cwd(),
    clock: o.clock ?? skippingClock(),
    openDcs: (config) => createDcs(config, { memoryStore: o.store }),
    transport: () => (o.api ?? new FakeApi()).transport,
    runEditor: (_cmd, file) => (o.editor ? o.editor(file) : Promise.resolve(1)),
    which: () => null,
    connectPg: o.pg ?? (() => Promise.reject(new Error("no database in this test"))),
    finish: (c) => {
      code = c;
    },
    maxWatchRefreshes: o.maxWatchRefreshes ?? 0,
  };
  const program = new Command("pgwarden-ctl").exitOverride().configureOutput({
    writeOut: (s) => io.write(s),
    writeErr: (s) => io.writeErr(s),
  });
  registerClusterCommands(program, rt);
  try {
    await program.parseAsync(args, { from: "user" });
  } catch (e) {
    // commander usage errors (exitOverride): exit code 2 like click
    const ce = e as { exitCode?: number };
    if (typeof ce.exitCode !== "number") throw e;
    code = ce.exitCode === 0 ? 0 : 2;
  }
  return { code, out: io.out, err: io.err };
}

export interface SeedSpec {
  scope: string;
  /** Citus group the members belong to. */
  group?: number;
  sysid?: string;
  leader?: string;
  members: { name: string; data: MemberData }[];
  config?: Record<string, unknown>;
  history?: HistoryEntry[];
}

/** A cluster as agents leave it in the DCS; `close()` drops the agents' sessions. */
export async function seedCluster(store: MemoryStore, spec: SeedSpec) {
  const agents = new Map<string, Dcs>();
  for (const m of spec.members) {
    const d = new MemoryDcs(store, {
      namespace: "/service",
      scope: spec.scope,
      name: m.name,
      ...(spec.group !== undefined ? { group: spec.group } : {}),
      ttlS: 30,
      loopWaitS: 10,
      retryTimeoutS: 10,
    });
    agents.set(m.name, d);
    if (!(await d.touchMember(m.data))) throw new Error(`seeding member ${m.name} failed`);
  }
  const any = agents.values().next().value!;
  if (spec.sysid !== undefined) await any.initialize(true, spec.sysid);
  if (spec.leader && !(await agents.get(spec.leader)!.attemptToAcquireLeader())) {
    throw new Error("seeding leader failed");
  }
  if (spec.config) await any.setConfigValue(JSON.stringify(spec.config));
  if (spec.history) await any.setHistoryValue(JSON.stringify(spec.history));
  return {
    agents,
    /** A ctl-independent reader of the cluster. */
    read: () => any.getCluster(),
    async close() {
      for (const d of agents.values()) await d.close();
    },
  };
}

export function memberData(port: number, extra: MemberData = {}): MemberData {
  return {
    conn_url: `postgres://127.0.0.1:${port}/postgres`,
    api_url: `http://127.0.0.1:${port + 2576}/patroni`,
    state: "running",
    role: "replica",
    ...extra,
  };
}

/** A ctl config file with only the DCS and the scope (what patronictl.yaml usually holds). */
export async function ctlConfigFile(dir: string, scope: string, extra = ""): Promise<string> {
  const path = `${dir}/patronictl.yaml`;
  await Deno.writeTextFile(path, `scope: ${scope}\nmemory:\n  id: unused\n${extra}`);
  return path;
}

export { MemoryStore };
