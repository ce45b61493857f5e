/**
 * Patroni's YAML layout (snake_case, Patroni's section names) → pgwarden's camelCase config model.
 *
 * Most keys convert by case only. The exceptions: maps keyed by names stay verbatim (GUCs, slot and user
 * names, HTTP headers, custom tags, method options passed to commands as `--key=value`), and some sections
 * move (`etcd` → `etcd3`, named replica/bootstrap method sections → `methods`, `bootstrap.pg_hba` →
 * `postgresql.pgHba`, top-level dynamic keys of old configs → `bootstrap.dcs`). Every placed node records
 * its YAML path so validation errors can be reported in the user's spelling.
 */
import { camelToSnake, snakeToCamel } from "./case.ts";
import { DYNAMIC_KEYS } from "./dynamic.ts";
import {
  type ConfigIssue,
  describeValue,
  objectKeysAt,
  type Origins,
  pathKey,
  renderPath,
  type Seg,
  type Speller,
} from "./errors.ts";
import { ConfigSchema } from "./schema.ts";

type Obj = Record<string, unknown>;

export const isPlainObject = (v: unknown): v is Obj =>
  v !== null && typeof v === "object" && !Array.isArray(v) &&
  (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null);

/** How keys below a node are converted. */
interface Conv {
  /** Model key for a source key. */
  key(k: string): string;
  /** Keys are snake_case: a key written in the model's camelCase spelling is reported, not accepted. */
  snake?: boolean;
  child(modelKey: string): Conv;
  /** Keep explicit nulls (meaningful in the dynamic config); elsewhere `key:` with no value means unset. */
  keepNull?: boolean;
  /** Model keys whose explicit null is kept even when `keepNull` is off. */
  nullable?: readonly string[];
}

const verbatim: Conv = { key: (k) => k, child: () => verbatim, keepNull: true };

function camel(overrides: Record<string, Conv> = {}, renames: Record<string, string> = {}): Conv {
  return {
    key: (k) => renames[k] ?? snakeToCamel(k),
    child: (mk) => overrides[mk] ?? camelDeep,
    snake: true,
  };
}
const camelDeep: Conv = camel();

/** Keys are names (kept); the values below use `inner`. */
const names = (inner: Conv): Conv => ({ key: (k) => k, child: () => inner });

/** Replica-creation / custom-bootstrap method section: known keys camelCased, the rest are command options. */
const METHOD_KEYS: Record<string, string> = {
  command: "command",
  keep_data: "keepData",
  no_params: "noParams",
  no_leader: "noLeader",
  no_master: "noLeader",
  keep_existing_recovery_conf: "keepExistingRecoveryConf",
  recovery_conf: "recoveryConf",
};
const methodConv: Conv = { key: (k) => METHOD_KEYS[k] ?? k, child: () => verbatim };

/** `bootstrap.dcs`: nulls are dropped except where the dynamic schema gives them a meaning (removal). */
const dynamicConv: Conv = {
  ...camel(
    {
      postgresql: camel({ parameters: verbatim, recoveryConf: verbatim }),
      slots: names(camelDeep),
      standbyCluster: camelDeep,
    },
    {
      permanent_slots: "slots",
      permanent_replication_slots: "slots",
      master_stop_timeout: "primaryStopTimeout",
    },
  ),
  nullable: ["slots", "ignoreSlots", "standbyCluster"],
};

const TAG_KEYS: Record<string, string> = {
  failover_priority: "failoverPriority",
  sync_priority: "syncPriority",
};
const tagsConv: Conv = { key: (k) => TAG_KEYS[k] ?? k, child: () => verbatim };

const LOG_KEYS: Record<string, string> = { format: "lineFormat" };
const logConv: Conv = camel({ staticFields: verbatim, loggers: verbatim, lineFormat: verbatim }, LOG_KEYS);

const SECTION_CONV: Record<string, Conv> = {
  restapi: camel({ httpExtraHeaders: verbatim, httpsExtraHeaders: verbatim }),
  zookeeper: camel({ setAcls: verbatim, authData: verbatim }),
  // Plugin entries are resolved by src/plugins/resolve.ts, which knows which config keys are the plugin's own.
  plugins: verbatim,
};

/** postgresql keys the model knows (camelCase), so other mapping-valued keys can be told apart as methods. */
const POSTGRESQL_KEYS = new Set([
  "listen",
  "connectAddress",
  "proxyAddress",
  "dataDir",
  "configDir",
  "binDir",
  "binName",
  "pgpass",
  "osUser",
  "authentication",
  "parameters",
  "pgHba",
  "pgIdent",
  "pgCtlTimeout",
  "callbacks",
  "createReplicaMethods",
  "basebackup",
  "methods",
  "usePgRewind",
  "rewind",
  "useSlots",
  "useUnixSocket",
  "useUnixSocketRepl",
  "removeDataDirectoryOnRewindFailure",
  "removeDataDirectoryOnDivergedTimelines",
  "prePromote",
  "beforeStop",
  "customConf",
  "database",
  "recoveryConf",
]);

const postgresqlConv: Conv = camel(
  { parameters: verbatim, recoveryConf: verbatim, basebackup: verbatim, rewind: verbatim },
  { create_replica_method: "createReplicaMethods" },
);

/** Top-level keys that old Patroni configs carried outside `bootstrap.dcs`. */
const TOP_LEVEL_DYNAMIC = new Set(DYNAMIC_KEYS.filter((k) => k !== "postgresql").map(camelToSnake));

const UNSUPPORTED_DCS = new Set(["kubernetes", "raft", "exhibitor"]);

export interface Mapped {
  value: Obj;
  origins: Origins;
  /** Problems found while mapping (before schema validation), already in the user's spelling. */
  issues: ConfigIssue[];
}

class Mapper {
  readonly value: Obj = {};
  readonly origins: Origins = new Map();
  readonly issues: ConfigIssue[] = [];
  constructor(private readonly sources?: Map<string, string>) {}

  issue(src: Seg[], message: string) {
    const env = this.sources?.get(pathKey(src));
    this.issues.push({ path: renderPath(src) + (env ? ` (from ${env})` : ""), message });
  }

  /** A model (camelCase) key written in YAML: report it with its Patroni spelling. */
  camelSpelling(k: string, dst: Seg[], src: Seg[]): boolean {
    if (!/[A-Z]/.test(k) || !objectKeysAt(ConfigSchema, dst).includes(k)) return false;
    this.issue([...src, k], `unknown key, did you mean ${JSON.stringify(camelToSnake(k))}?`);
    return true;
  }

  record(dst: Seg[], src: Seg[]) {
    const env = this.sources?.get(pathKey(src));
    this.origins.set(pathKey(dst), env ? { path: src, env } : { path: src });
  }

  has(dst: Seg[]): boolean {
    let cur: unknown = this.value;
    for (const s of dst) {
      if (cur === null || typeof cur !== "object") return false;
      cur = (cur as Record<string, unknown>)[s as string];
    }
    return cur !== undefined;
  }

  /** Copy `v` from YAML path `src` to model path `dst`, converting keys below with `conv`. */
  place(v: unknown, src: Seg[], dst: Seg[], conv: Conv) {
    this.record(dst, src);
    if (isPlainObject(v)) {
      this.assign(dst, {});
      for (const [k, val] of Object.entries(v)) {
        const mk = conv.key(k);
        if (val === null && !conv.keepNull && !conv.nullable?.includes(mk)) continue;
        if (conv.snake && this.camelSpelling(k, dst, src)) continue;
        this.place(val, [...src, k], [...dst, mk], conv.child(mk));
      }
    } else if (Array.isArray(v)) {
      this.assign(dst, []);
      v.forEach((x, i) => this.place(x, [...src, i], [...dst, i], conv));
    } else {
      this.assign(dst, v instanceof Date ? v.toISOString().slice(0, 10) : v);
    }
  }

  private assign(dst: Seg[], v: unknown) {
    if (dst.length === 0) return;
    let cur = this.value as Record<string | number, unknown>;
    for (const s of dst.slice(0, -1)) {
      const next = cur[s];
      if (next === null || typeof next !== "object") cur[s] = {};
      cur = cur[s] as Record<string | number, unknown>;
    }
    const last = dst[dst.length - 1]!;
    // Two sources for one section (e.g. `etcd` and `etcd3` both mapping to etcd3) merge key by key.
    if (isPlainObject(v) && isPlainObject(cur[last])) return;
    cur[last] = v;
  }
}

function methodsFrom(v: unknown): string[] {
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === "string");
  if (typeof v === "string") return v.split(",").map((s) => s.trim()).filter(Boolean);
  return [];
}

function mapPostgresql(m: Mapper, pg: unknown) {
  if (!isPlainObject(pg)) {
    m.place(pg, ["postgresql"], ["postgresql"], postgresqlConv);
    return;
  }
  m.record(["postgresql"], ["postgresql"]);
  const replicaMethods = methodsFrom(pg.create_replica_methods ?? pg.create_replica_method);
  for (const [k, v] of Object.entries(pg)) {
    if (v === null) continue;
    const src = ["postgresql", k];
    const mk = snakeToCamel(k);
    if (
      isPlainObject(v) && !POSTGRESQL_KEYS.has(mk) &&
      (replicaMethods.includes(k) || "command" in v)
    ) {
      m.place(v, src, ["postgresql", "methods", k], methodConv);
    } else if ((k === "replication" || k === "superuser") && isPlainObject(v) && !("authentication" in pg)) {
      // Patroni < 1.0 layout: credentials directly under postgresql.
      m.place(v, src, ["postgresql", "authentication", k], camelDeep);
    } else if (k === "name" && typeof v === "string") {
      if (!m.has(["name"])) m.place(v, src, ["name"], verbatim);
    } else if (!m.camelSpelling(k, ["postgresql"], ["postgresql"])) {
      const key = postgresqlConv.key(k);
      m.place(v, src, ["postgresql", key], postgresqlConv.child(key));
    }
  }
}

function mapBootstrap(m: Mapper, bs: unknown, deferredHba: { v: unknown } | undefined) {
  if (!isPlainObject(bs)) {
    m.place(bs, ["bootstrap"], ["bootstrap"], camelDeep);
    return;
  }
  m.record(["bootstrap"], ["bootstrap"]);
  const method = typeof bs.method === "string" ? bs.method : undefined;
  for (const [k, v] of Object.entries(bs)) {
    if (v === null && k !== "dcs") continue;
    const src = ["bootstrap", k];
    if (k === "dcs") m.place(v ?? {}, src, ["bootstrap", "dcs"], dynamicConv);
    else if (k === "method" || k === "initdb") m.place(v, src, ["bootstrap", k], verbatim);
    else if (k === "post_bootstrap" || (k === "post_init" && !("post_bootstrap" in bs))) {
      m.place(v, src, ["bootstrap", "postBootstrap"], verbatim);
    } else if (k === "post_init") continue;
    else if (k === "users") m.place(v, src, ["bootstrap", "users"], names(camelDeep));
    else if (k === "pg_hba") {
      if (deferredHba) deferredHba.v = v;
    } else if (isPlainObject(v) && (k === method || "command" in v)) {
      m.place(v, src, ["bootstrap", "methods", k], methodConv);
    } else if (!m.camelSpelling(k, ["bootstrap"], ["bootstrap"])) {
      m.place(v, src, ["bootstrap", camelDeep.key(k)], camelDeep);
    }
  }
}

function mapLog(m: Mapper, log: unknown) {
  if (!isPlainObject(log)) {
    m.place(log, ["log"], ["log"], logConv);
    return;
  }
  const { type, ...rest } = log;
  m.place(rest, ["log"], ["log"], logConv);
  if (type === undefined || type === null) return;
  if (type === "plain" || type === "json") {
    m.place(type === "plain" ? "patroni" : "json", ["log", "type"], ["log", "format"], verbatim);
  } else m.issue(["log", "type"], `expected one of "plain", "json", got ${describeValue(type)}`);
}

/**
 * Map a parsed Patroni YAML document (or an env overlay in the same layout) into the model.
 * `sources` names the env variable behind each YAML path, for messages.
 */
export function mapPatroniDocument(doc: unknown, sources?: Map<string, string>): Mapped {
  const m = new Mapper(sources);
  if (!isPlainObject(doc)) {
    m.issues.push({ path: "(root)", message: `expected a mapping, got ${describeValue(doc)}` });
    return m;
  }
  const topDynamic: [string, unknown][] = [];
  const hba = { v: undefined as unknown };
  // bootstrap first so that explicit bootstrap.dcs values win over legacy top-level ones
  const order = Object.keys(doc).sort((a, b) => Number(b === "bootstrap") - Number(a === "bootstrap"));
  if (doc.etcd !== undefined && doc.etcd !== null && doc.etcd3 !== undefined && doc.etcd3 !== null) {
    m.issue(["etcd3"], "only one DCS may be configured, found etcd, etcd3");
  }
  for (const k of order) {
    const v = doc[k];
    if (v === null) continue;
    if (k === "etcd" || k === "etcd3") m.place(v, [k], ["etcd3"], camelDeep);
    else if (k === "postgresql") mapPostgresql(m, v);
    else if (k === "bootstrap") mapBootstrap(m, v, hba);
    else if (k === "log") mapLog(m, v);
    else if (k === "tags") m.place(v, [k], ["tags"], tagsConv);
    else if (k === "name" || k === "scope" || k === "namespace") m.place(v, [k], [k], verbatim);
    else if (UNSUPPORTED_DCS.has(k)) {
      m.issue([k], "unsupported DCS, expected one of etcd, etcd3, consul, zookeeper");
    } else if (k === "zookeeper" && isPlainObject(v) && "exhibitor" in v) {
      m.issue([k, "exhibitor"], "unsupported DCS, expected one of etcd, etcd3, consul, zookeeper");
    } else if (TOP_LEVEL_DYNAMIC.has(k)) topDynamic.push([k, v]);
    else if (!m.camelSpelling(k, [], [])) {
      const key = camelDeep.key(k);
      m.place(v, [k], [key], SECTION_CONV[key] ?? camelDeep);
    }
  }
  for (const [k, v] of topDynamic) {
    const dst = ["bootstrap", "dcs", snakeToCamel(k)];
    if (!m.has(dst)) m.place(v, [k], dst, dynamicConv.child(snakeToCamel(k)));
  }
  if (hba.v !== undefined && !m.has(["postgresql", "pgHba"])) {
    m.place(hba.v, ["bootstrap", "pg_hba"], ["postgresql", "pgHba"], verbatim);
  }
  return m;
}

/** Model keys that YAML spells differently from plain camel→snake. */
const YAML_RENAMES: Record<string, Record<string, string>> = {
  "": { etcd3: "etcd3" },
  log: { format: "type", lineFormat: "format" },
};
/** Model keys with no YAML spelling (internal placement targets) and YAML-only extras, per object path. */
const YAML_HIDDEN: Record<string, string[]> = {
  postgresql: ["methods"],
  bootstrap: ["methods"],
};
const YAML_EXTRA: Record<string, string[]> = {
  "": ["etcd", ...TOP_LEVEL_DYNAMIC],
  bootstrap: ["pg_hba", "post_init"],
};

/** Spells model keys the way Patroni YAML writes them, for suggestions and paths. */
export const yamlSpeller: Speller = {
  candidates(modelPath, modelKeys) {
    const at = modelPath.filter((s) => typeof s === "string").join(".");
    const renames = YAML_RENAMES[at] ?? {};
    const hidden = YAML_HIDDEN[at] ?? [];
    const keys = modelKeys.filter((k) => !hidden.includes(k)).map((k) => renames[k] ?? camelToSnake(k));
    return [...new Set([...keys, ...(YAML_EXTRA[at] ?? [])])];
  },
  segment: (s) => typeof s === "string" ? camelToSnake(s) : s,
};

/** Tags in Patroni's spelling for the DCS member key (`failoverPriority` → `failover_priority`). */
export function tagsToPatroni(tags: Record<string, unknown>): Record<string, unknown> {
  const back = Object.fromEntries(Object.entries(TAG_KEYS).map(([snake, c]) => [c, snake]));
  return Object.fromEntries(Object.entries(tags).map(([k, v]) => [back[k] ?? k, v]));
}
