/**
 * `PATRONI_*` environment overrides, read the way Patroni reads them (see the reference, §3.7), into an
 * overlay in Patroni's YAML layout that `mapPatroniDocument` turns into the model.
 *
 * The set of names is finite, so the agent can be granted exactly the names present (no env wildcard) and
 * `readPatroniEnv` reads only names it may read.
 */
import { pathKey } from "./errors.ts";
import { parseYamlStrict } from "./yaml.ts";

type Obj = Record<string, unknown>;
export type Env = Record<string, string | undefined>;

const RESTAPI = [
  "listen",
  "connect_address",
  "certfile",
  "keyfile",
  "keyfile_password",
  "cafile",
  "ciphers",
  "verify_client",
  "http_extra_headers",
  "https_extra_headers",
  "allowlist",
  "allowlist_include_members",
  "request_queue_size",
  "server_tokens",
];
const CTL = ["insecure", "cacert", "certfile", "keyfile", "keyfile_password"];
const POSTGRESQL = [
  "listen",
  "connect_address",
  "proxy_address",
  "config_dir",
  "data_dir",
  "pgpass",
  "bin_dir",
];
const LOG = [
  "type",
  "level",
  "traceback_level",
  "format",
  "dateformat",
  "static_fields",
  "max_queue_size",
  "dir",
  "mode",
  "file_size",
  "file_num",
  "loggers",
  "deduplicate_heartbeat_logs",
];
/** Old names Patroni still honours; the new name wins when both are set. */
const LOG_OLD: Record<string, string> = { LOGLEVEL: "level", LOGFORMAT: "format", LOG_DATEFMT: "dateformat" };
const BINARIES = [
  "pg_ctl",
  "initdb",
  "pg_controldata",
  "pg_basebackup",
  "postgres",
  "pg_isready",
  "pg_rewind",
];
const AUTH_USERS = ["superuser", "replication", "rewind"];
const AUTH_PARAMS = [
  "username",
  "password",
  "sslmode",
  "sslcert",
  "sslkey",
  "sslpassword",
  "sslrootcert",
  "sslcrl",
  "sslcrldir",
  "gssencmode",
  "channel_binding",
  "sslnegotiation",
];
/** Sections filled by the generic `PATRONI_<SECTION>_<SUFFIX>` rule that pgwarden supports. */
const DCS_SECTIONS = ["etcd", "etcd3", "consul", "zookeeper"];
const GENERIC_SUFFIXES = [
  "host",
  "hosts",
  "port",
  "use_proxies",
  "protocol",
  "srv",
  "srv_suffix",
  "url",
  "proxy",
  "cacert",
  "cert",
  "key",
  "key_password",
  "verify",
  "token",
  "checks",
  "dc",
  "consistency",
  "register_service",
  "service_check_interval",
  "service_check_tls_server_name",
  "service_tags",
  "namespace",
  "use_ssl",
  "set_acls",
  "auth_data",
];
const CITUS = ["group", "database"];

const LIST_KEYS = new Set(["hosts", "checks", "service_tags", "allowlist"]);
const DICT_KEYS = new Set([
  "set_acls",
  "auth_data",
  "http_extra_headers",
  "https_extra_headers",
  "static_fields",
  "loggers",
]);
const BOOL_KEYS = new Set([
  "use_proxies",
  "register_service",
  "verify",
  "use_ssl",
  "allowlist_include_members",
  "insecure",
  "deduplicate_heartbeat_logs",
]);
const INT_KEYS = new Set([
  "port",
  "group",
  "request_queue_size",
  "max_queue_size",
  "file_size",
  "file_num",
  "mode",
]);

/** Every environment variable name the loader understands. */
export const PATRONI_ENV_NAMES: readonly string[] = [
  ...["NAME", "NAMESPACE", "SCOPE"].map((n) => `PATRONI_${n}`),
  ...RESTAPI.map((k) => `PATRONI_RESTAPI_${k.toUpperCase()}`),
  "PATRONI_RESTAPI_USERNAME",
  "PATRONI_RESTAPI_PASSWORD",
  ...CTL.map((k) => `PATRONI_CTL_${k.toUpperCase()}`),
  "PATRONI_CTL_USERNAME",
  "PATRONI_CTL_PASSWORD",
  ...POSTGRESQL.map((k) => `PATRONI_POSTGRESQL_${k.toUpperCase()}`),
  ...BINARIES.map((b) => `PATRONI_POSTGRESQL_BIN_${b.toUpperCase()}`),
  ...LOG.map((k) => `PATRONI_LOG_${k.toUpperCase()}`),
  ...Object.keys(LOG_OLD).map((k) => `PATRONI_${k}`),
  ...AUTH_USERS.flatMap((u) => AUTH_PARAMS.map((p) => `PATRONI_${u.toUpperCase()}_${p.toUpperCase()}`)),
  ...DCS_SECTIONS.flatMap((s) =>
    GENERIC_SUFFIXES.map((k) => `PATRONI_${s.toUpperCase()}_${k.toUpperCase()}`)
  ),
  ...["etcd", "etcd3"].flatMap((s) => ["USERNAME", "PASSWORD"].map((k) => `PATRONI_${s.toUpperCase()}_${k}`)),
  ...CITUS.map((k) => `PATRONI_CITUS_${k.toUpperCase()}`),
];

function parseBool(v: string): boolean | string {
  const l = v.toLowerCase();
  if (["on", "true", "yes", "1"].includes(l)) return true;
  if (["off", "false", "no", "0"].includes(l)) return false;
  return v; // left as text so validation reports it with the variable's name
}

function parseInt10(v: string): number | string {
  return /^\s*-?\d+\s*$/.test(v) ? Number(v) : v;
}

/** A YAML list or mapping; a bare value is wrapped in `[...]` / `{...}` like Patroni does. */
function parseStructured(v: string, kind: "list" | "dict"): unknown {
  const t = v.trim();
  const text = kind === "list"
    ? (t.startsWith("-") || t.includes("[") ? v : `[${v}]`)
    : (t.startsWith("{") ? v : `{${v}}`);
  try {
    return parseYamlStrict(text);
  } catch {
    return v;
  }
}

function parseValue(key: string, v: string): unknown {
  if (LIST_KEYS.has(key)) return parseStructured(v, "list");
  if (DICT_KEYS.has(key)) return parseStructured(v, "dict");
  if (BOOL_KEYS.has(key)) return parseBool(v);
  if (INT_KEYS.has(key)) return parseInt10(v);
  return v;
}

export interface EnvOverlay {
  /** Patroni-layout document with the overriding values. */
  doc: Obj;
  /** `pathKey(yamlPath)` → the variable that set it. */
  sources: Map<string, string>;
  /** The recognized variables that were present (and non-empty). */
  used: string[];
}

/** Build the overlay from an environment snapshot. Empty values are ignored, as in Patroni. */
export function patroniEnvOverlay(env: Env): EnvOverlay {
  const doc: Obj = {};
  const sources = new Map<string, string>();
  const used: string[] = [];
  const get = (name: string) => {
    const v = env[name];
    return v === undefined || v === "" ? undefined : v;
  };
  const put = (path: string[], name: string, value: unknown) => {
    let cur = doc;
    for (const s of path.slice(0, -1)) cur = (cur[s] ??= {}) as Obj;
    cur[path[path.length - 1]!] = value;
    sources.set(pathKey(path), name);
    used.push(name);
  };
  const section = (sec: string, keys: string[], prefix = sec.toUpperCase(), path = [sec]) => {
    for (const k of keys) {
      const name = `PATRONI_${prefix}_${k.toUpperCase()}`;
      const v = get(name);
      if (v !== undefined) put([...path, k], name, parseValue(k, v));
    }
  };

  for (const k of ["name", "namespace", "scope"]) {
    const v = get(`PATRONI_${k.toUpperCase()}`);
    if (v !== undefined) put([k], `PATRONI_${k.toUpperCase()}`, v);
  }
  section("restapi", RESTAPI);
  section("ctl", CTL);
  section("postgresql", POSTGRESQL);
  section("log", LOG);
  for (const [old, key] of Object.entries(LOG_OLD)) {
    const v = get(`PATRONI_${old}`);
    if (v !== undefined && get(`PATRONI_LOG_${key.toUpperCase()}`) === undefined) {
      put(["log", key], `PATRONI_${old}`, v);
    }
  }
  // A log.format that is not a Python %-style format is a list of fields (JSON logging).
  const fmt = (doc.log as Obj | undefined)?.format;
  if (typeof fmt === "string" && !/%\(\w+\)/.test(fmt)) {
    (doc.log as Obj).format = parseStructured(fmt, "list");
  }
  for (const b of BINARIES) {
    const name = `PATRONI_POSTGRESQL_BIN_${b.toUpperCase()}`;
    const v = get(name);
    if (v !== undefined) put(["postgresql", "bin_name", b], name, v);
  }
  for (const sec of ["restapi", "ctl"]) {
    section(sec, ["username", "password"], sec.toUpperCase(), [sec, "authentication"]);
  }
  for (const u of AUTH_USERS) section(u, AUTH_PARAMS, u.toUpperCase(), ["postgresql", "authentication", u]);
  for (const s of DCS_SECTIONS) section(s, GENERIC_SUFFIXES);
  // Credentials only complete a section some other variable created (Patroni's rule).
  for (const s of ["etcd", "etcd3"]) if (doc[s]) section(s, ["username", "password"]);
  section("citus", CITUS);
  return { doc, sources, used };
}

/**
 * Snapshot of the recognized `PATRONI_*` variables from the process environment, reading only names this
 * process may read (so an agent granted exactly the present names does not fail on the others).
 */
export function readPatroniEnv(extra: readonly string[] = []): Env {
  const out: Env = {};
  for (const name of [...PATRONI_ENV_NAMES, ...extra]) {
    if (Deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") continue;
    const v = Deno.env.get(name);
    if (v !== undefined) out[name] = v;
  }
  return out;
}
