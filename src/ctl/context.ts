/**
 * What every cluster command shares: the runtime (terminal, environment, clock, DCS and HTTP factories — real
 * in the CLI, fakes in tests), the global options (`-c`, `-d`, `-k`), the per-invocation context (settings,
 * DCS clients, REST client) and the action wrapper that turns failures into `Error: ...` and an exit code.
 */
import { type Command, InvalidArgumentError, Option } from "commander";
import { ConfigError, formatIssue } from "../config/errors.ts";
import type { Env } from "../config/env.ts";
import type { Config } from "../config/schema.ts";
import { DcsError } from "../dcs/errors.ts";
import { createDcs } from "../dcs/factory.ts";
import type { ClusterSnapshot, Dcs } from "../dcs/types.ts";
import { type Clock, realClock } from "../util/clock.ts";
import { type CtlIo, denoIo, PromptAborted, warn } from "./io.ts";
import { ConfigEditError } from "./config_edit.ts";
import { fetchTransport, RestClient, RestError, type RestTransport, type TlsSettings } from "./rest.ts";
import {
  CtlConfigError,
  type CtlSettings,
  dcsConfigFor,
  type GlobalOptions,
  loadCtlSettings,
} from "./settings.ts";

/** A failure the user caused or must know about; printed as `Error: <message>`, exit 1. */
export class CtlError extends Error {
  override name = "CtlError";
}

export interface PgQueryOptions {
  host: string;
  port: number;
  database?: string;
  username?: string;
  password?: string;
}

/** A PostgreSQL session for `query`. */
export interface PgSession {
  /** Run SQL text (possibly several statements); rows of the last statement with column names. */
  run(sql: string): Promise<{ columns: string[]; rows: unknown[][] }>;
  close(): Promise<void>;
}

export interface CtlRuntime {
  io: CtlIo;
  env: Env;
  cwd: string;
  /** Time: `now()` and abortable `sleep()` (polling loops, progress ticks). */
  clock: Clock;
  /** Open the DCS the config describes (scope and group already set). */
  openDcs(config: Config): Promise<Dcs>;
  /** HTTP transport with the given TLS settings. */
  transport(tls: TlsSettings): RestTransport;
  /** Run the editor on a file, return its exit code. */
  runEditor(command: string, file: string): Promise<number>;
  /** Find an executable on PATH (editor fallbacks). */
  which(name: string): string | null;
  connectPg(o: PgQueryOptions): Promise<PgSession>;
  /** Called once per command with its exit code (the CLI exits; tests record it). */
  finish(code: number): void;
  /** Tests: stop watch loops after this many refreshes. */
  maxWatchRefreshes?: number;
}

/** The environment, or nothing when env access is restricted (the launcher's permission step). */
function readableEnv(): Record<string, string> {
  try {
    return Deno.env.toObject();
  } catch {
    return {};
  }
}

/** The real runtime of the CLI process. */
export function denoRuntime(): CtlRuntime {
  return {
    io: denoIo(),
    env: readableEnv(),
    cwd: Deno.cwd(),
    clock: realClock,
    openDcs: (config) => createDcs(config),
    transport: (tls) => fetchTransport(tls),
    runEditor: async (command, file) => {
      // $EDITOR may carry arguments (`code -w`), as a shell would split them.
      const [cmd, ...args] = command.trim().split(/\s+/) as [string, ...string[]];
      const st = await new Deno.Command(cmd, {
        args: [...args, file],
        stdin: "inherit",
        stdout: "inherit",
        stderr: "inherit",
      })
        .output();
      return st.code;
    },
    which: (name) => {
      for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
        try {
          const p = `${dir}/${name}`;
          if (Deno.statSync(p).isFile) return p;
        } catch {
          // not here
        }
      }
      return null;
    },
    connectPg: async (o) => (await import("./pg_session.ts")).connectPostgres(o),
    finish: (code) => {
      // Exit explicitly: DCS client libraries may keep sockets that would hold the process open.
      Deno.exit(code);
    },
  };
}

/** One command invocation: settings, lazily opened DCS clients, the REST client. */
export class CtlContext {
  readonly io: CtlIo;
  readonly rest: RestClient;
  readonly #dcs = new Map<string, Dcs>();
  constructor(readonly rt: CtlRuntime, readonly settings: CtlSettings) {
    this.io = rt.io;
    this.rest = new RestClient(rt.transport(settings.tls), settings.restAuth);
  }

  /** The cluster argument, else the configured scope. */
  clusterName(arg: string | undefined): string {
    const name = arg ?? this.settings.scope;
    if (!name) {
      throw new CtlError("no cluster name: pass it as an argument or set scope in the config file (-c)");
    }
    return name;
  }

  /** `--group`, else (when `useDefault`) the configured `citus.group`. */
  group(opt: number | undefined, useDefault = false): number | undefined {
    return opt ?? (useDefault ? this.settings.citusGroup : undefined);
  }

  get citus(): boolean {
    return this.settings.citus;
  }

  async dcs(cluster: string, group?: number): Promise<Dcs> {
    const key = `${cluster}\0${group ?? ""}`;
    let d = this.#dcs.get(key);
    if (!d) {
      d = await this.rt.openDcs(dcsConfigFor(this.settings, cluster, group));
      this.#dcs.set(key, d);
    }
    return d;
  }

  /** Read the cluster (every Citus group when the cluster is Citus and no group is given). */
  async cluster(cluster: string, group?: number): Promise<ClusterSnapshot> {
    const d = await this.dcs(cluster, group);
    return await d.getCluster();
  }

  out(line = ""): void {
    this.io.write(line + "\n");
  }

  async close(): Promise<void> {
    for (const d of this.#dcs.values()) {
      try {
        await d.close();
      } catch {
        // closing is best effort
      }
    }
    this.#dcs.clear();
  }
}

/** `-c`, `-d`, `-k` on the program; options must come before the command name, as with patronictl. */
export function addGlobalOptions(program: Command): void {
  program.enablePositionalOptions();
  const has = (flag: string) => program.options.some((o) => o.long === flag);
  if (!has("--config-file")) {
    program.option(
      "-c, --config-file <path>",
      "configuration file (default: $PATRONICTL_CONFIG_FILE or ~/.config/patroni/patronictl.yaml)",
    );
  }
  if (!has("--dcs-url")) {
    program.option(
      "-d, --dcs-url <url>",
      "DCS to use instead of the config's, e.g. etcd3://127.0.0.1:2379/service",
    );
    program.addOption(new Option("--dcs <url>").hideHelp());
  }
  if (!has("--insecure")) program.option("-k, --insecure", "do not verify the members' TLS certificates");
}

function globalsOf(cmd: Command): GlobalOptions {
  const o = cmd.optsWithGlobals() as {
    configFile?: string;
    dcsUrl?: string;
    dcs?: string;
    insecure?: boolean;
  };
  return {
    ...(o.configFile ? { configFile: o.configFile } : {}),
    ...(o.dcsUrl ?? o.dcs ? { dcsUrl: (o.dcsUrl ?? o.dcs)! } : {}),
    ...(o.insecure ? { insecure: true } : {}),
  };
}

/** Which store a config points at, for messages: `etcd3 127.0.0.1:2379`. */
export function describeDcs(c: Config): string {
  if (c.etcd3) return `etcd3 ${c.etcd3.url ?? c.etcd3.hosts?.join(",") ?? c.etcd3.host ?? ""}`.trim();
  if (c.consul) return `consul ${c.consul.url ?? c.consul.host}`;
  if (c.zookeeper) return `zookeeper ${c.zookeeper.hosts.join(",")}`;
  return `memory ${c.memory?.id ?? "default"}`;
}

/** Print a failure the way patronictl does and return the exit code. */
export function reportError(io: CtlIo, e: unknown, env: Env, settings?: CtlSettings): number {
  if (e instanceof ConfigError) {
    warn(io, `Error: ${e.source ? `invalid configuration ${e.source}` : "invalid configuration"}`);
    for (const i of e.issues) warn(io, formatIssue(i));
    return 2;
  }
  if (e instanceof PromptAborted) {
    warn(io, "Aborted!");
    return 1;
  }
  if (e instanceof DcsError) {
    const where = settings?.dcsConfigured ? ` (${describeDcs(settings.config)})` : "";
    warn(io, `Error: DCS is not accessible${where}: ${e.message}`);
    return 1;
  }
  if (
    e instanceof CtlError || e instanceof CtlConfigError || e instanceof RestError ||
    e instanceof ConfigEditError
  ) {
    warn(io, `Error: ${e.message}`);
    return 1;
  }
  const msg = e instanceof Error ? e.message : String(e);
  warn(io, `Error: ${msg}`);
  if (env.PGWARDEN_CTL_DEBUG && e instanceof Error && e.stack) warn(io, e.stack);
  return 1;
}

/**
 * Wrap a command body: load settings from the global options, run, close the DCS clients, report failures,
 * hand the exit code to the runtime. The body returns an exit code or nothing (0).
 */
export function ctlAction<A extends unknown[]>(
  rt: CtlRuntime,
  body: (ctx: CtlContext, ...args: A) => Promise<number | void>,
): (...args: [...A, Command]) => Promise<void> {
  return async (...args) => {
    const cmd = args[args.length - 1] as Command;
    let ctx: CtlContext | null = null;
    let code = 0;
    try {
      const settings = await loadCtlSettings(globalsOf(cmd), rt.env, rt.cwd);
      ctx = new CtlContext(rt, settings);
      code = (await body(ctx, ...(args.slice(0, -1) as A))) ?? 0;
    } catch (e) {
      code = reportError(rt.io, e, rt.env, ctx?.settings);
    } finally {
      await ctx?.close();
    }
    rt.finish(code);
  };
}

/** Parse an integer option (`--group`). */
export function intOption(name: string) {
  return (v: string): number => {
    if (!/^-?\d+$/.test(v.trim())) throw new InvalidArgumentError(`${name} must be an integer`);
    return Number(v);
  };
}

/** Parse a positive number of seconds (`-w`). */
export function secondsOption(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError("expected a positive number of seconds");
  return n;
}

/** A progress indicator on stderr: one dot per tick, a newline at the end. */
export class Progress {
  #dots = 0;
  constructor(readonly io: CtlIo) {}
  tick(): void {
    this.io.writeErr(".");
    this.#dots++;
  }
  done(): void {
    if (this.#dots) this.io.writeErr("\n");
    this.#dots = 0;
  }
}

/** Run `work` while printing a dot per second on stderr (the REST call blocks for the whole operation). */
export async function withProgress<T>(rt: CtlRuntime, work: Promise<T>): Promise<T> {
  const p = new Progress(rt.io);
  const stop = new AbortController();
  const ticker = (async () => {
    try {
      for (;;) {
        await rt.clock.sleep(1000, stop.signal);
        p.tick();
      }
    } catch {
      // aborted: the work finished
    }
  })();
  try {
    return await work;
  } finally {
    stop.abort();
    await ticker;
    p.done();
  }
}
