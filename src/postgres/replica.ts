/**
 * Replica creation through a small registry of methods. `basebackup` is built in; a configured section
 * with a `command` becomes a generic command method with Patroni's arguments; plugins register others.
 */
import type { Clock } from "../util/clock.ts";
import { userOptionArgs, type UserOptions } from "./bootstrap.ts";
import type { OsUser } from "./os_user.ts";
import type { PgBinaries } from "./pg_ctl.ts";
import { shlexSplit } from "./shlex.ts";

export type LogFn = (level: "debug" | "info" | "warning" | "error", message: string) => void;

export interface ReplicaContext {
  dataDir: string;
  scope: string;
  /** key=value conninfo of the source for the replication user, no password; null without a source. */
  conninfo: string | null;
  /** postgres:// URL of the source without password (what command methods get); null without a source. */
  connUrl: string | null;
  /** PGPASSFILE and the like, for every tool that connects to the source. */
  env: Record<string, string>;
  user: OsUser;
  bin: PgBinaries;
  majorVersion: number;
  clock: Clock;
  log: LogFn;
}

export interface ReplicaMethod {
  readonly name: string;
  /** Works without a running source (restore from a backup). */
  readonly noLeader?: boolean;
  /** Do not empty the data directory before running or after a failure. */
  readonly keepData?: boolean;
  /** true when the data directory now holds a replica. */
  create(ctx: ReplicaContext): Promise<boolean>;
}

export class ReplicaMethodRegistry {
  #methods = new Map<string, ReplicaMethod>();
  register(m: ReplicaMethod): void {
    this.#methods.set(m.name, m);
  }
  get(name: string): ReplicaMethod | undefined {
    return this.#methods.get(name);
  }
  names(): string[] {
    return [...this.#methods.keys()];
  }
}

export const BASEBACKUP_FORBIDDEN = [
  "pgdata",
  "format",
  "wal-method",
  "xlog-method",
  "gzip",
  "version",
  "compress",
  "dbname",
  "host",
  "port",
  "username",
  "password",
] as const;

/** `postgresql.basebackup` (map or list) → pg_basebackup switches. `compress` only as `server-*` on 15+. */
export function basebackupArgs(
  options: Record<string, string | number | boolean> | UserOptions | undefined,
  majorVersion: number,
): string[] {
  const list: UserOptions = Array.isArray(options)
    ? options
    : Object.entries(options ?? {}).map(([k, v]) =>
      v === true ? k : { [k]: typeof v === "boolean" ? String(v) : v }
    );
  const compress: string[] = [];
  const rest: UserOptions = [];
  for (const o of list) {
    if (typeof o === "object" && "compress" in o) {
      const v = String(o.compress);
      if (majorVersion < 15 || !v.startsWith("server-")) {
        throw new TypeError(
          `Cannot use basebackup option compress=${JSON.stringify(v)}: expected server-* on PG 15+`,
        );
      }
      compress.push(`--compress=${v}`);
    } else rest.push(o);
  }
  return [...userOptionArgs(rest, BASEBACKUP_FORBIDDEN, "basebackup"), ...compress];
}

/** Built-in method: `pg_basebackup -X stream`, two attempts 5 s apart. */
export function basebackupMethod(
  options: Record<string, string | number | boolean> | UserOptions | undefined,
): ReplicaMethod {
  return {
    name: "basebackup",
    async create(ctx) {
      if (!ctx.conninfo) {
        ctx.log("error", "Cannot run basebackup: no source member to copy from");
        return false;
      }
      const args = [
        `--pgdata=${ctx.dataDir}`,
        "-X",
        "stream",
        `--dbname=${ctx.conninfo}`,
        ...basebackupArgs(options, ctx.majorVersion),
      ];
      for (let attempt = 1; attempt <= 2; attempt++) {
        const r = await ctx.user.run(ctx.bin.pgBasebackup, args, { env: ctx.env });
        if (r.success) return true;
        ctx.log("error", `pg_basebackup attempt ${attempt} failed (exit code ${r.code}): ${r.stderr.trim()}`);
        if (attempt < 2) {
          await emptyDir(ctx.dataDir);
          await ctx.clock.sleep(5000);
        }
      }
      return false;
    },
  };
}

const COMMAND_OWN_KEYS = new Set([
  "command",
  "noParams",
  "keepData",
  "noLeader",
  "no_params",
  "keep_data",
  "no_leader",
]);

function snake(k: string): string {
  return k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** Python's str() of a scalar, which is what Patroni-era scripts expect to parse. */
function pyStr(v: unknown): string {
  return v === true ? "True" : v === false ? "False" : typeof v === "object" ? JSON.stringify(v) : String(v);
}

/** argv of a generic command method (Patroni semantics). Pure. */
export function commandMethodArgs(
  section: Record<string, unknown>,
  ctx: { scope: string; dataDir: string; connUrl: string | null },
): string[] {
  const command = String(section.command ?? "");
  const argv = shlexSplit(command);
  for (const [k, v] of Object.entries(section)) {
    if (COMMAND_OWN_KEYS.has(k) || v === undefined) continue;
    argv.push(`--${snake(k)}=${pyStr(v)}`);
  }
  const noParams = section.noParams === true || section.no_params === true;
  if (!noParams) {
    argv.push(
      `--scope=${ctx.scope}`,
      "--role=replica",
      `--datadir=${ctx.dataDir}`,
      `--connstring=${ctx.connUrl ?? ""}`,
    );
    const noLeader = section.noLeader ?? section.no_leader;
    const keepData = section.keepData ?? section.keep_data;
    if (noLeader !== undefined) argv.push(`--no_leader=${pyStr(noLeader)}`);
    if (keepData !== undefined) argv.push(`--keep_data=${pyStr(keepData)}`);
  }
  return argv;
}

/** A configured `command` method (e.g. pgBackRest restore), run as the PostgreSQL user. */
export function commandMethod(name: string, section: Record<string, unknown>): ReplicaMethod {
  return {
    name,
    noLeader: section.noLeader === true || section.no_leader === true,
    keepData: section.keepData === true || section.keep_data === true,
    async create(ctx) {
      const [cmd, ...args] = commandMethodArgs(section, ctx);
      if (!cmd) {
        ctx.log("error", `Cannot run replica method "${name}": no command configured`);
        return false;
      }
      const r = await ctx.user.run(cmd, args, { env: ctx.env });
      if (!r.success) {
        ctx.log(
          "error",
          `Replica method "${name}" failed (exit code ${r.code}): ${(r.stderr || r.stdout).trim()}`,
        );
      }
      return r.success;
    },
  };
}

/** Remove everything inside `dir` (keeps the directory, its owner and mode). */
export async function emptyDir(dir: string): Promise<void> {
  try {
    for await (const e of Deno.readDir(dir)) await Deno.remove(`${dir}/${e.name}`, { recursive: true });
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

/**
 * Try `methods` in order until one succeeds. The data directory is emptied before a method runs and after
 * it fails, unless the method keeps data. Without a source only `noLeader` methods are tried.
 */
export async function runReplicaMethods(
  registry: ReplicaMethodRegistry,
  methods: string[],
  ctx: ReplicaContext,
): Promise<string | null> {
  for (const name of methods.length ? methods : ["basebackup"]) {
    const m = registry.get(name);
    if (!m) {
      ctx.log("warning", `Skipped replica method "${name}": not configured`);
      continue;
    }
    if (!ctx.conninfo && !m.noLeader) {
      ctx.log("info", `Skipped replica method "${name}": it needs a running source member`);
      continue;
    }
    if (!m.keepData) await emptyDir(ctx.dataDir);
    ctx.log("info", `Creating replica with method "${name}"`);
    let ok = false;
    try {
      ok = await m.create(ctx);
    } catch (e) {
      ctx.log("error", `Replica method "${name}" threw: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (ok) return name;
    if (!m.keepData) await emptyDir(ctx.dataDir);
  }
  return null;
}
