/**
 * What the ctl needs from configuration, loaded like patronictl does: `-c` (or `PATRONICTL_CONFIG_FILE`, or
 * `~/.config/patroni/patronictl.yaml`), a pgwarden TS module or a Patroni YAML, `PATRONI_*` variables on top,
 * and `--dcs-url` replacing the DCS section. A ctl config usually holds only the DCS, `scope` and `ctl`
 * sections, so what the agent needs (name, restapi, postgresql, even the DCS) is filled with placeholders before
 * validation; the placeholders are never used.
 */
import { resolve } from "node:path";
import { parse, stringify } from "yaml";
import { ConfigError, importConfigModule, parseConfigObject, parsePatroniYaml } from "../config/load.ts";
import type { Env } from "../config/env.ts";
import type { Config } from "../config/schema.ts";
import type { TlsSettings } from "./rest.ts";

type Obj = Record<string, unknown>;

export class CtlConfigError extends Error {
  override name = "CtlConfigError";
}

export interface CtlSettings {
  /** The config file that was read; null when none was. */
  source: string | null;
  /** Complete config for opening the DCS; `dcsConfigured` says whether its DCS section is real. */
  config: Config;
  dcsConfigured: boolean;
  /** Default cluster name (`scope`), if configured. */
  scope?: string;
  /** Default Citus group (`citus.group`); `citus` says whether the cluster is a Citus one. */
  citusGroup?: number;
  citus: boolean;
  restAuth?: { username: string; password: string };
  tls: TlsSettings;
  /** Credentials for `query` (the local superuser) and the database to connect to. */
  superuser?: { username: string; password?: string };
  database: string;
}

export interface GlobalOptions {
  configFile?: string;
  dcsUrl?: string;
  insecure?: boolean;
}

export const PLACEHOLDER_NAME = "pgwarden-ctl";
const PLACEHOLDER_SCOPE = "pgwarden-ctl-no-scope";
const NO_DCS_ID = "pgwarden-ctl-no-dcs";

/** Default config path of patronictl (click's app dir for "patroni"). */
export function defaultConfigPath(env: Env): string {
  const base = env.XDG_CONFIG_HOME || `${env.HOME ?? "."}/.config`;
  return `${base}/patroni/patronictl.yaml`;
}

const DCS_DEFAULT_PORTS: Record<string, number> = { etcd: 2379, etcd3: 2379, consul: 8500, zookeeper: 2181 };

/**
 * `--dcs-url scheme://host:port/namespace` to a DCS section (snake/camel agnostic: the keys are the same).
 * Without a scheme the port picks it, etcd v3 otherwise. `memory://id` selects the in-memory store (tests).
 */
export function parseDcsUrl(
  url: string,
): { section: "etcd3" | "consul" | "zookeeper" | "memory"; value: Obj; namespace?: string } {
  const withScheme = url.includes("//") ? url : "//" + url;
  const m = /^(?:([a-z0-9]+):)?\/\/([^/]*)(\/.*)?$/i.exec(withScheme);
  if (!m) {
    throw new CtlConfigError(`Invalid DCS URL ${JSON.stringify(url)}: expected scheme://host:port/namespace`);
  }
  let scheme = m[1]?.toLowerCase() ?? "";
  const hostPort = m[2] ?? "";
  const namespace = m[3] && m[3] !== "/" ? m[3] : undefined;
  if (scheme === "memory") {
    return { section: "memory", value: { id: hostPort || "default" }, ...(namespace ? { namespace } : {}) };
  }
  const hp = /^(\[[^\]]+\]|[^:]*)(?::(\d+))?$/.exec(hostPort);
  if (!hp) throw new CtlConfigError(`Invalid DCS URL ${JSON.stringify(url)}: bad host:port`);
  const port = hp[2] ? Number(hp[2]) : undefined;
  if (!scheme) {
    scheme = Object.entries(DCS_DEFAULT_PORTS).find(([k, p]) => p === port && k !== "etcd")?.[0] ?? "etcd3";
  }
  if (!(scheme in DCS_DEFAULT_PORTS)) {
    throw new CtlConfigError(`Unknown dcs scheme: ${scheme} (expected etcd, etcd3, consul or zookeeper)`);
  }
  const host = `${hp[1] || "localhost"}:${port ?? DCS_DEFAULT_PORTS[scheme]}`;
  const ns = namespace ? { namespace } : {};
  if (scheme === "consul") return { section: "consul", value: { host }, ...ns };
  if (scheme === "zookeeper") return { section: "zookeeper", value: { hosts: [host] }, ...ns };
  return { section: "etcd3", value: { hosts: [host] }, ...ns };
}

const DCS_KEYS = ["etcd", "etcd3", "consul", "zookeeper", "memory"];

/** Fill what the agent schema requires and the ctl does not need. `snake` selects Patroni YAML spelling. */
function withPlaceholders(doc: Obj, snake: boolean, noDcs: boolean): Obj {
  const out: Obj = { ...doc };
  out.name ??= PLACEHOLDER_NAME;
  out.scope ??= PLACEHOLDER_SCOPE;
  const restapi = isObj(out.restapi) ? { ...out.restapi } : {};
  restapi.listen ??= "127.0.0.1:8008";
  out.restapi = restapi;
  const pg = isObj(out.postgresql) ? { ...out.postgresql } : {};
  pg.listen ??= "127.0.0.1:5432";
  const dataKey = snake ? "data_dir" : "dataDir";
  pg[dataKey] ??= "/nonexistent/pgwarden-ctl";
  out.postgresql = pg;
  if (noDcs) out.memory = { id: NO_DCS_ID };
  return out;
}

const isObj = (v: unknown): v is Obj => v !== null && typeof v === "object" && !Array.isArray(v);

function replaceDcs(doc: Obj, dcsUrl: string): Obj {
  const parsed = parseDcsUrl(dcsUrl);
  const out: Obj = {};
  for (const [k, v] of Object.entries(doc)) if (!DCS_KEYS.includes(k)) out[k] = v;
  out[parsed.section] = parsed.value;
  if (parsed.namespace) out.namespace = parsed.namespace;
  return out;
}

const isNoDcs = (e: unknown) =>
  e instanceof ConfigError && e.issues.some((i) => i.message.startsWith("no DCS configured"));

/** Validate a raw document with placeholders; a second try with a placeholder DCS when none is configured. */
async function validate(
  doc: Obj,
  snake: boolean,
  env: Env,
  cwd: string,
): Promise<{ config: Config; dcs: boolean }> {
  const run = (noDcs: boolean) => {
    const filled = withPlaceholders(doc, snake, noDcs);
    return snake
      ? parsePatroniYaml(stringify(filled, { version: "1.1" }), { env, cwd })
      : parseConfigObject(filled, { env, cwd });
  };
  try {
    return { config: await run(false), dcs: true };
  } catch (e) {
    if (!isNoDcs(e)) throw e;
    return { config: await run(true), dcs: false };
  }
}

/** Read the raw config document (YAML → Patroni snake_case object; TS → its default export). */
async function readDocument(path: string): Promise<{ doc: Obj; snake: boolean }> {
  if (/\.(ts|mts|js|mjs)$/i.test(path)) {
    const v = await importConfigModule(path);
    if (!isObj(v)) throw new ConfigError([{ path: "(root)", message: "expected an object" }], path);
    return { doc: v, snake: false };
  }
  const text = await Deno.readTextFile(path);
  let v: unknown;
  try {
    v = parse(text, { version: "1.1" });
  } catch (e) {
    throw new ConfigError([{ path: "(yaml)", message: (e as Error).message.split("\n")[0]! }], path);
  }
  if (v === null || v === undefined) v = {};
  if (!isObj(v)) throw new ConfigError([{ path: "(root)", message: "expected a mapping" }], path);
  return { doc: v, snake: true };
}

async function exists(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

/** Load the ctl settings from the global options and the environment. Throws CtlConfigError/ConfigError. */
export async function loadCtlSettings(opts: GlobalOptions, env: Env, cwd = Deno.cwd()): Promise<CtlSettings> {
  const explicit = opts.configFile ?? env.PATRONICTL_CONFIG_FILE;
  const path = resolve(cwd, explicit ?? defaultConfigPath(env));
  let doc: Obj = {};
  let snake = true;
  let source: string | null = null;
  if (await exists(path)) {
    ({ doc, snake } = await readDocument(path));
    source = path;
  } else if (explicit) {
    throw new CtlConfigError(
      `Provided config file ${path} not existing or no read rights. Check the -c/--config-file parameter`,
    );
  }
  const dcsUrl = opts.dcsUrl ?? env.DCS_URL;
  if (dcsUrl) doc = replaceDcs(doc, dcsUrl);
  let result;
  try {
    result = await validate(doc, snake, env, cwd);
  } catch (e) {
    if (e instanceof ConfigError && !e.source && source) throw new ConfigError(e.issues, source);
    throw e;
  }
  const c = result.config;
  const rest = c.restapi;
  const certfile = c.ctl.certfile ?? rest.certfile;
  const keyfile = c.ctl.keyfile ?? rest.keyfile;
  const scope = c.scope === PLACEHOLDER_SCOPE ? undefined : c.scope;
  const restAuth = c.ctl.authentication ?? rest.authentication;
  const superuser = c.postgresql.authentication.superuser;
  return {
    source,
    config: c,
    dcsConfigured: result.dcs,
    ...(scope ? { scope } : {}),
    ...(c.citus ? { citusGroup: c.citus.group } : {}),
    citus: !!c.citus,
    ...(restAuth ? { restAuth } : {}),
    tls: {
      ...(c.ctl.cacert ?? rest.cafile ? { cacert: (c.ctl.cacert ?? rest.cafile)! } : {}),
      ...(certfile ? { certfile } : {}),
      ...(keyfile ? { keyfile } : {}),
      insecure: !!(opts.insecure || c.ctl.insecure),
    },
    superuser: {
      username: superuser.username,
      ...(superuser.password !== undefined ? { password: superuser.password } : {}),
    },
    database: c.postgresql.database,
  };
}

/** The config to open the DCS of `cluster` (and Citus `group`) with. */
export function dcsConfigFor(s: CtlSettings, cluster: string, group: number | undefined): Config {
  if (!s.dcsConfigured) {
    throw new CtlConfigError(
      "no DCS configured: pass --dcs-url (e.g. etcd3://127.0.0.1:2379) or a config file (-c) with an etcd3, " +
        "consul or zookeeper section",
    );
  }
  const c: Config = { ...s.config, scope: cluster, name: PLACEHOLDER_NAME };
  if (group !== undefined) {
    c.citus = { database: s.config.citus?.database ?? "citus", secondaries: true, ...s.config.citus, group };
  } else if (s.config.citus) c.citus = { ...s.config.citus, group: 0 };
  return c;
}
