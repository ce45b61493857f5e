/**
 * The exact Deno permissions an agent needs for one config: no bare `--allow-net`/`--allow-read` etc.
 *
 * Net: peers' REST and PostgreSQL addresses are only learned from the DCS at run time, so the grant is by host
 * where ports vary: the hosts of this node's REST connect address and PostgreSQL listen/connect addresses are
 * granted on every port (a demo cluster's peers share them), while DCS endpoints and the REST listen socket
 * are granted as `host:port`. Peers on other hosts, and whatever plugins reach, go into the config's
 * `permissions` section (extra grants), e.g. `permissions: { net: ["10.0.0.12", "10.0.0.13"] }`.
 */
import { KILL_BINARIES } from "../postgres/process.ts";
import { citusLibraryPaths } from "../citus/library.ts";
import { libcCandidates } from "../agent/watchdog_linux.ts";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type Config, parseListen } from "./schema.ts";
import { type Env, PATRONI_ENV_NAMES } from "./env.ts";

export type PermissionKind = "net" | "read" | "write" | "run" | "env" | "sys" | "ffi";
const KINDS: readonly PermissionKind[] = ["net", "read", "write", "run", "env", "sys", "ffi"];

/** The PostgreSQL programs the agent runs (by absolute path under `bin_dir`, or `bin_name` overrides). */
export const PG_BINARIES = [
  "pg_ctl",
  "initdb",
  "pg_controldata",
  "pg_basebackup",
  "postgres",
  "pg_rewind",
  "pg_isready",
] as const;
const BIN_NAME_KEY: Record<(typeof PG_BINARIES)[number], keyof Config["postgresql"]["binName"]> = {
  pg_ctl: "pgCtl",
  initdb: "initdb",
  pg_controldata: "pgControldata",
  pg_basebackup: "pgBasebackup",
  postgres: "postgres",
  pg_rewind: "pgRewind",
  pg_isready: "pgIsready",
};

/** A structured permission set; `toDenoFlags()` renders it for `deno run`. */
export class AgentPermissions {
  readonly net = new Set<string>();
  readonly read = new Set<string>();
  readonly write = new Set<string>();
  readonly run = new Set<string>();
  readonly env = new Set<string>();
  readonly sys = new Set<string>();
  readonly ffi = new Set<string>();

  add(kind: PermissionKind, ...values: (string | undefined)[]) {
    for (const v of values) if (v) this[kind].add(v);
  }

  /** Sorted, de-duplicated values; paths covered by a granted ancestor and `host:port` covered by a bare host dropped. */
  list(kind: PermissionKind): string[] {
    const all = [...this[kind]].sort();
    if (kind === "read" || kind === "write") {
      return all.filter((p) => !all.some((q) => q !== p && (p.startsWith(q.endsWith("/") ? q : q + "/"))));
    }
    if (kind === "net") {
      return all.filter((e) => !(splitHostPort(e)?.port && this.net.has(splitHostPort(e)!.host)));
    }
    return all;
  }

  toDenoFlags(): string[] {
    const flags: string[] = [];
    for (const kind of KINDS) {
      const values = this.list(kind);
      if (!values.length) continue;
      const bad = values.find((v) => v.includes(","));
      if (bad) {
        throw new Error(`cannot grant ${kind} permission for ${JSON.stringify(bad)}: it contains a comma`);
      }
      flags.push(`--allow-${kind}=${values.join(",")}`);
    }
    return flags;
  }

  toJSON(): Record<PermissionKind, string[]> {
    return Object.fromEntries(KINDS.map((k) => [k, this.list(k)])) as Record<PermissionKind, string[]>;
  }
}

export interface PermissionOptions {
  /** Path of the config file the agent will load. */
  configPath: string;
  /** The environment the agent will run with (PATRONI_* names present, HOME, PATH). */
  env: Env;
  /** The agent's uid: 0 adds `runuser` (PostgreSQL refuses to run as root). Default: this process's uid. */
  uid?: number;
  /** Directory relative paths are resolved against (the agent's working directory). Default: cwd. */
  cwd?: string;
  /** Resolve a bare executable name to an absolute path; default: a lookup along `env.PATH`. */
  which?: (name: string) => string | undefined;
}

/** pgwarden's own checkout: TS configs import `mod.ts` → `src/`, which the agent must be able to read. */
const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

const WILDCARD_HOSTS = new Set(["", "*", "0.0.0.0", "[::]", "::"]);

/** `host:port` → parts (IPv6 in brackets kept as `[addr]`); undefined when there is no port. */
export function splitHostPort(s: string): { host: string; port: string } | undefined {
  const m = /^(\[[^\]]*\]|[^:]*):(\d+)$/.exec(s.trim());
  return m ? { host: m[1]!, port: m[2]! } : undefined;
}

/** An endpoint given as `host:port` or a URL, as `host:port` (scheme's default port when absent). */
export function endpointOf(s: string, defaultPort: number): string | undefined {
  const t = s.trim();
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(t)) {
    try {
      const u = new URL(t);
      const port = u.port || (u.protocol === "https:" ? "443" : String(defaultPort));
      return `${
        u.hostname.includes(":") && !u.hostname.startsWith("[") ? `[${u.hostname}]` : u.hostname
      }:${port}`;
    } catch {
      return undefined;
    }
  }
  const hp = splitHostPort(t);
  return hp ? `${hp.host}:${hp.port}` : t ? `${t}:${defaultPort}` : undefined;
}

/** First word of a command line, honouring quotes (Patroni splits commands like a shell, runs them without one). */
export function executableOf(command: string): string | undefined {
  const m = /^\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|((?:[^\s"'\\]|\\.)+))/.exec(command);
  if (!m) return undefined;
  return (m[1] ?? m[2] ?? m[3] ?? "").replace(/\\(.)/g, "$1") || undefined;
}

function pathWhich(env: Env): (name: string) => string | undefined {
  const dirs = (env.PATH ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin").split(":");
  return (name) => {
    for (const d of dirs) {
      if (!d) continue;
      const p = join(d, name);
      try {
        if (Deno.statSync(p).isFile) return p;
      } catch { /* not here */ }
    }
    return undefined;
  };
}

/** Compute the permissions the agent needs to run with `config`. */
export function computePermissions(config: Config, opts: PermissionOptions): AgentPermissions {
  const p = new AgentPermissions();
  const cwd = opts.cwd ?? Deno.cwd();
  const which = opts.which ?? pathWhich(opts.env);
  const abs = (f: string | undefined) => f ? (isAbsolute(f) ? f : resolve(cwd, f)) : undefined;
  const executable = (cmd: string | undefined) => {
    const exe = cmd ? executableOf(cmd) : undefined;
    if (!exe) return undefined;
    return exe.includes("/") ? abs(exe) : which(exe) ?? exe;
  };

  // --- net ---
  const dcsEndpoints: string[] = [];
  if (config.etcd3) {
    const e = config.etcd3;
    for (const h of [e.host, ...(e.hosts ?? []), e.url, e.proxy]) {
      if (h) dcsEndpoints.push(endpointOf(h, 2379)!);
    }
  }
  if (config.consul) {
    const c = config.consul;
    const host = c.port ? `${splitHostPort(c.host)?.host ?? c.host}:${c.port}` : c.host;
    dcsEndpoints.push(endpointOf(c.url ?? host, c.scheme === "https" ? 443 : 8500)!);
  }
  if (config.zookeeper) { for (const h of config.zookeeper.hosts) dcsEndpoints.push(endpointOf(h, 2181)!); }
  p.add("net", ...dcsEndpoints);

  const rest = splitHostPort(config.restapi.listen)!;
  p.add("net", `${WILDCARD_HOSTS.has(rest.host) ? "0.0.0.0" : rest.host}:${rest.port}`);
  const restConnect = config.restapi.connectAddress
    ? splitHostPort(config.restapi.connectAddress)!.host
    : rest.host;
  p.add("net", WILDCARD_HOSTS.has(restConnect) ? "127.0.0.1" : restConnect);

  for (const h of parseListen(config.postgresql.listen)?.hosts ?? []) {
    p.add("net", WILDCARD_HOSTS.has(h) ? "127.0.0.1" : h);
  }
  if (config.postgresql.connectAddress) p.add("net", splitHostPort(config.postgresql.connectAddress)!.host);

  // --- run ---
  const pg = config.postgresql;
  for (const b of PG_BINARIES) {
    const name = pg.binName[BIN_NAME_KEY[b]] ?? b;
    if (name.includes("/")) p.add("run", abs(name));
    else p.add("run", pg.binDir ? join(pg.binDir, name) : which(name) ?? name);
  }
  // pg_waldump reads the old primary's shutdown checkpoint when deciding on pg_rewind.
  p.add("run", pg.binDir ? join(pg.binDir, "pg_waldump") : which("pg_waldump") ?? "pg_waldump");
  const uid = opts.uid ?? Deno.uid();
  if (uid === 0) {
    p.add("run", which("runuser") ?? "/usr/sbin/runuser");
    // The PostgreSQL OS user's uid/gid come from /etc/passwd.
    p.add("read", "/etc/passwd");
  }
  const commands = [
    ...Object.values(pg.callbacks),
    pg.prePromote,
    pg.beforeStop,
    config.bootstrap.postBootstrap,
    ...Object.values(pg.methods).map((m) => m.command),
    ...Object.values(config.bootstrap.methods).map((m) => m.command),
  ];
  for (const c of commands) p.add("run", executable(c));

  // --- read / write ---
  const configPath = abs(opts.configPath)!;
  p.add("read", configPath);
  if (/\.(ts|mts|js|mjs)$/i.test(configPath)) {
    // A TS config is imported at run time: its directory (sibling modules like common.ts) and pgwarden's API.
    p.add("read", dirname(configPath), join(REPO_ROOT, "mod.ts"), join(REPO_ROOT, "src"));
  }
  const rw = (...paths: (string | undefined)[]) => {
    p.add("read", ...paths.map(abs));
    p.add("write", ...paths.map(abs));
  };
  const dataDir = abs(pg.dataDir)!;
  // The parent too: a failed data directory is renamed aside next to it before a fresh clone.
  rw(
    dataDir,
    dirname(dataDir),
    pg.configDir,
    pg.pgpass ?? (opts.env.HOME ? join(opts.env.HOME, "pgpass") : undefined),
  );
  rw(config.log.dir);
  p.add("read", abs(pg.customConf));
  // Citus is preloaded only when its library is installed: the agent looks for it.
  if (config.citus && pg.binDir) p.add("read", ...citusLibraryPaths(abs(pg.binDir)!));
  // Whether the postmaster named in postmaster.pid is alive, and signalling it: Deno allows neither /proc nor
  // kill(2) on other processes without unrestricted run permission, so the agent runs `kill` by path.
  for (const k of KILL_BINARIES) if (existsSync(k)) p.add("run", k);
  {
    // Bootstrap talks to the new server over its socket (local trust) before any role has a password.
    const sockDir = String(pg.parameters.unix_socket_directories ?? "/tmp").split(",")[0]!.trim() || "/tmp";
    const port = parseListen(pg.listen)?.port;
    if (port) {
      const sock = join(isAbsolute(sockDir) ? sockDir : resolve(dataDir, sockDir), `.s.PGSQL.${port}`);
      rw(sock);
      p.add("net", `unix:${sock}`);
    }
  }
  if (pg.useUnixSocket || pg.useUnixSocketRepl) {
    const dirs = String(pg.parameters.unix_socket_directories ?? "/var/run/postgresql").split(",");
    rw(...dirs.map((d) => d.trim()).filter(Boolean).map((d) => isAbsolute(d) ? d : resolve(dataDir, d)));
  }
  for (const t of [config.etcd3, config.consul, config.zookeeper]) {
    if (t) p.add("read", abs(t.cacert), abs(t.cert), abs(t.key));
  }
  p.add("read", abs(config.restapi.certfile), abs(config.restapi.keyfile), abs(config.restapi.cafile));
  if (config.watchdog.mode !== "off") rw(config.watchdog.device);
  // The Linux watchdog driver calls open/ioctl/write/close in libc through FFI: only libc, by its usual paths.
  if (config.watchdog.mode !== "off" && config.watchdog.driver === "default") {
    p.add("ffi", ...libcCandidates());
  }

  // --- env / sys ---
  for (const name of PATRONI_ENV_NAMES) if (opts.env[name]) p.add("env", name);
  p.add("env", "PGPASSFILE", "HOME");
  // Legacy callbacks inherit a minimal environment (plugins/callbacks/executor.ts); node:child_process reads
  // NODE_V8_COVERAGE when it spawns.
  if (Object.values(config.postgresql.callbacks).some(Boolean)) {
    p.add("env", "PATH", "LANG", "LC_ALL", "TZ", "NODE_V8_COVERAGE");
  }
  // npm:yaml (Patroni YAML, list-valued PATRONI_* variables) checks its debug switches on every parse.
  p.add("env", "LOG_TOKENS", "LOG_STREAM");
  // npm:postgres falls back to the libpq-style variables for anything a connection leaves unset.
  p.add(
    "env",
    ...["HOST", "PORT", "USER", "USERNAME", "PASSWORD", "DATABASE", "APPNAME", "TARGETSESSIONATTRS"].map((
      k,
    ) => `PG${k}`),
    ...[
      "MAX",
      "SSL",
      "SSLNEGOTIATION",
      "IDLE_TIMEOUT",
      "CONNECT_TIMEOUT",
      "MAX_LIFETIME",
      "MAX_PIPELINE",
      "BACKOFF",
      "KEEP_ALIVE",
    ]
      .map((k) => `PG${k}`),
    ...["PREPARE", "DEBUG", "FETCH_TYPES", "PUBLICATIONS", "TARGET_SESSION_ATTRS"].map((k) => `PG${k}`),
    "USER",
    "USERNAME",
    "LOGNAME",
  );
  // Deno.uid()/gid(): the agent decides whether to hand PostgreSQL commands to runuser.
  p.add("sys", "uid", "gid");

  // --- extra grants from the config ---
  const extra = config.permissions;
  if (extra) {
    p.add("net", ...extra.net);
    p.add("read", ...extra.read.map(abs));
    p.add("write", ...extra.write.map(abs));
    p.add("run", ...extra.run.map((r) => r.includes("/") ? abs(r) : which(r) ?? r));
    p.add("env", ...extra.env);
  }
  return p;
}

function existsSync(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}
