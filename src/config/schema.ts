/**
 * The one zod schema for pgwarden's configuration: source of both the static types (`ConfigInput` for what
 * users write, `Config` for what the agent reads) and runtime validation. Defaults match Patroni's.
 *
 * Local configuration is camelCase (TS modules); Patroni YAML is mapped into this model by `patroni_yaml.ts`.
 * The dynamic configuration (`bootstrap.dcs` and the DCS `config` key) has its own schema in `dynamic.ts`.
 */
import { z } from "zod";
import { DYNAMIC_KEYS, DynamicConfigSchema } from "./dynamic.ts";

/** `host:port`; host may be empty or `*` (all interfaces), or a bracketed IPv6 address. */
export const HostPort = z.string({
  error: (iss) =>
    iss.input === undefined
      ? `required, expected "host:port"`
      : `expected "host:port", got ${JSON.stringify(iss.input)}`,
}).regex(/^(\[[0-9a-fA-F:.]+\]|[^\s:]*|\*):\d{1,5}$/, {
  error: (iss) => `expected "host:port", got ${JSON.stringify(iss.input)}`,
});

/** Several `host:port` endpoints, given as a list or a comma-separated string (Patroni accepts both). */
export const HostList = z.union([z.string(), z.array(z.string())]).transform((v, ctx) => {
  const list = (Array.isArray(v) ? v : v.split(",")).map((s) => s.trim()).filter(Boolean);
  for (const [i, h] of list.entries()) {
    if (!HostPort.safeParse(h.replace(/^https?:\/\//, "")).success) {
      ctx.addIssue({
        code: "custom",
        path: Array.isArray(v) ? [i] : [],
        message: `expected "host:port", got ${JSON.stringify(h)}`,
      });
    }
  }
  if (list.length === 0) ctx.addIssue({ code: "custom", message: "expected at least one host" });
  return list;
});

const TlsFiles = {
  cacert: z.string().optional(),
  cert: z.string().optional(),
  key: z.string().optional(),
};

export const Etcd3Schema = z.strictObject({
  host: HostPort.optional(),
  hosts: HostList.optional(),
  url: z.string().optional(),
  protocol: z.enum(["http", "https"]).default("http"),
  username: z.string().optional(),
  password: z.string().optional(),
  ...TlsFiles,
  /** Legacy Patroni keys accepted and ignored where they do not apply to etcd v3. */
  useProxies: z.boolean().optional(),
  srv: z.string().optional(),
  srvSuffix: z.string().optional(),
  proxy: z.string().optional(),
});

export const ConsulSchema = z.strictObject({
  host: HostPort.default("127.0.0.1:8500"),
  url: z.string().optional(),
  port: z.number().int().min(1).max(65535).optional(),
  scheme: z.enum(["http", "https"]).default("http"),
  token: z.string().optional(),
  dc: z.string().optional(),
  consistency: z.enum(["default", "consistent", "stale"]).default("default"),
  checks: z.array(z.string()).default([]),
  registerService: z.boolean().default(false),
  serviceTags: z.array(z.string()).default([]),
  serviceCheckInterval: z.string().default("5s"),
  serviceCheckTlsServerName: z.string().optional(),
  ...TlsFiles,
  verify: z.boolean().optional(),
});

export const ZooKeeperSchema = z.strictObject({
  hosts: HostList,
  useSsl: z.boolean().default(false),
  ...TlsFiles,
  keyPassword: z.string().optional(),
  verify: z.boolean().optional(),
  setAcls: z.record(z.string(), z.array(z.string())).optional(),
  authData: z.record(z.string(), z.string()).optional(),
});

const UserAuth = z.strictObject({
  username: z.string().min(1),
  password: z.string().optional(),
  sslmode: z.string().optional(),
  sslkey: z.string().optional(),
  sslcert: z.string().optional(),
  sslrootcert: z.string().optional(),
  sslpassword: z.string().optional(),
  sslcrl: z.string().optional(),
  sslcrldir: z.string().optional(),
  sslnegotiation: z.string().optional(),
  channelBinding: z.string().optional(),
  gssencmode: z.string().optional(),
});

export const CallbacksSchema = z.strictObject({
  onStart: z.string().optional(),
  onStop: z.string().optional(),
  onRestart: z.string().optional(),
  onReload: z.string().optional(),
  onRoleChange: z.string().optional(),
});

/** A replica-creation or custom-bootstrap method section (Patroni: `command` plus free-form keys). */
/** Patroni tests method flags for truthiness; its docs write `no_master: 1`. */
const Flag = z.union([z.boolean(), z.number()]).transform((v) => Boolean(v));

export const MethodSchema = z.looseObject({
  command: z.string().optional(),
  noParams: Flag.optional(),
  keepData: Flag.optional(),
  noLeader: Flag.optional(),
  keepExistingRecoveryConf: Flag.optional(),
  recoveryConf: z.record(z.string(), z.unknown()).optional(),
});

/**
 * PostgreSQL's `listen`: `host[,host...]:port` (Patroni's form, one port for all hosts); `host:port,host:port`
 * with one shared port is accepted too. Returns undefined when malformed.
 */
export function parseListen(listen: string): { hosts: string[]; port: number } | undefined {
  const parts = listen.split(",").map((p) => p.trim());
  const hosts: string[] = [];
  let port: number | undefined;
  for (const [i, part] of parts.entries()) {
    const m = /^(\[[^\]]*\]|[^:]*):(\d{1,5})$/.exec(part);
    if (m) {
      if (port !== undefined && Number(m[2]) !== port) return undefined;
      port = Number(m[2]);
    } else if (i === parts.length - 1) return undefined; // the last host carries the port
    const host = m ? m[1]! : part;
    if (!/^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]*|\*)$/.test(host)) return undefined;
    hosts.push(host);
  }
  return port === undefined ? undefined : { hosts, port };
}

export const PostgresqlSchema = z.strictObject({
  listen: z.string({
    error: (iss) =>
      iss.input === undefined
        ? `required, expected "host:port"`
        : `expected "host:port", got ${JSON.stringify(iss.input)}`,
  }).refine((s) => parseListen(s) !== undefined, {
    error: (iss) => `expected "host:port", got ${JSON.stringify(iss.input)}`,
  }),
  connectAddress: HostPort.optional(),
  proxyAddress: HostPort.optional(),
  dataDir: z.string().min(1),
  configDir: z.string().optional(),
  binDir: z.string().default("/usr/lib/postgresql/15/bin"),
  binName: z.strictObject({
    pgCtl: z.string().optional(),
    initdb: z.string().optional(),
    pgControldata: z.string().optional(),
    pgBasebackup: z.string().optional(),
    postgres: z.string().optional(),
    pgIsready: z.string().optional(),
    pgRewind: z.string().optional(),
  }).prefault({}),
  pgpass: z.string().optional(),
  /** pgwarden addition: the OS user PostgreSQL runs as when the agent runs as root. */
  osUser: z.string().default("postgres"),
  authentication: z.strictObject({
    superuser: UserAuth.prefault({ username: "postgres" }),
    replication: UserAuth.prefault({ username: "replicator" }),
    rewind: UserAuth.optional(),
  }).prefault({}),
  parameters: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
  pgHba: z.array(z.string()).optional(),
  pgIdent: z.array(z.string()).optional(),
  pgCtlTimeout: z.number().positive().default(60),
  callbacks: CallbacksSchema.prefault({}),
  createReplicaMethods: z.array(z.string().min(1)).default(["basebackup"]),
  basebackup: z.union([
    z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])),
    z.array(z.union([z.string(), z.record(z.string(), z.union([z.string(), z.number()]))])),
  ]).optional(),
  methods: z.record(z.string(), MethodSchema).default({}),
  /** Unset: the dynamic configuration's value applies (Patroni: local postgresql keys override dynamic ones). */
  usePgRewind: z.boolean().optional(),
  /** Extra pg_rewind options, rendered like `basebackup` (Patroni: `postgresql.rewind`). */
  rewind: z.array(z.union([z.string(), z.record(z.string(), z.union([z.string(), z.number()]))])).optional(),
  useSlots: z.boolean().default(true),
  useUnixSocket: z.boolean().default(false),
  useUnixSocketRepl: z.boolean().default(false),
  removeDataDirectoryOnRewindFailure: z.boolean().optional(),
  removeDataDirectoryOnDivergedTimelines: z.boolean().optional(),
  prePromote: z.string().optional(),
  beforeStop: z.string().optional(),
  customConf: z.string().optional(),
  database: z.string().default("postgres"),
  recoveryConf: z.record(z.string(), z.unknown()).optional(),
});

export const RestApiSchema = z.strictObject({
  listen: HostPort,
  connectAddress: HostPort.optional(),
  authentication: z.strictObject({ username: z.string().min(1), password: z.string() }).optional(),
  certfile: z.string().optional(),
  keyfile: z.string().optional(),
  keyfilePassword: z.string().optional(),
  cafile: z.string().optional(),
  ciphers: z.string().optional(),
  verifyClient: z.enum(["none", "optional", "required"]).optional(),
  allowlist: z.array(z.string()).optional(),
  allowlistIncludeMembers: z.boolean().optional(),
  httpExtraHeaders: z.record(z.string(), z.string()).optional(),
  httpsExtraHeaders: z.record(z.string(), z.string()).optional(),
  serverTokens: z.enum(["original", "productonly", "minimal"]).default("original"),
  requestQueueSize: z.number().int().min(1).max(4096).default(5),
});

export const CtlSchema = z.strictObject({
  insecure: z.boolean().default(false),
  cacert: z.string().optional(),
  certfile: z.string().optional(),
  keyfile: z.string().optional(),
  keyfilePassword: z.string().optional(),
  authentication: z.strictObject({ username: z.string(), password: z.string() }).optional(),
});

export const WatchdogSchema = z.strictObject({
  mode: z.enum(["off", "disable", "disabled", "automatic", "auto", "required", "require"])
    .default("automatic")
    .transform((
      m,
    ) => (m === "disable" || m === "disabled"
      ? "off"
      : m === "auto"
      ? "automatic"
      : m === "require"
      ? "required"
      : m)
    ),
  device: z.string().default("/dev/watchdog"),
  safetyMargin: z.number().int().default(5),
  driver: z.enum(["default", "testing"]).default("default"),
});

export const TagsSchema = z.looseObject({
  nofailover: z.boolean().optional(),
  failoverPriority: z.number().int().optional(),
  noloadbalance: z.boolean().optional(),
  clonefrom: z.boolean().optional(),
  replicatefrom: z.string().optional(),
  nosync: z.boolean().optional(),
  syncPriority: z.number().int().optional(),
  nostream: z.boolean().optional(),
});

export const CitusSchema = z.strictObject({
  group: z.number().int().min(0),
  database: z.string().min(1),
  /** Register running replicas as `secondary` rows in `pg_dist_node` (Patroni 4 does). */
  secondaries: z.boolean().default(true),
});

/**
 * Logging. `format` picks pgwarden's line format; Patroni YAML's `log.type` (plain/json) maps onto it and
 * Patroni's Python `log.format` string lands in `lineFormat`. Patroni's file-rotation and queue settings are
 * kept so a Patroni config loads; the agent may ignore those it does not implement.
 */
export const LogSchema = z.strictObject({
  level: z.enum(["DEBUG", "INFO", "WARN", "WARNING", "ERROR", "FATAL", "CRITICAL"]).default("INFO")
    .transform((l): "DEBUG" | "INFO" | "WARNING" | "ERROR" | "CRITICAL" =>
      l === "WARN" ? "WARNING" : l === "FATAL" ? "CRITICAL" : l
    ),
  format: z.enum(["patroni", "json"]).default("patroni"),
  dir: z.string().optional(),
  fileSize: z.number().int().positive().default(25000000),
  fileNum: z.number().int().min(0).default(4),
  mode: z.number().int().min(0).max(0o777).optional(),
  tracebackLevel: z.enum(["DEBUG", "ERROR"]).default("ERROR"),
  lineFormat: z.union([z.string(), z.array(z.union([z.string(), z.record(z.string(), z.string())]))])
    .optional(),
  dateformat: z.string().optional(),
  staticFields: z.record(z.string(), z.unknown()).optional(),
  maxQueueSize: z.number().int().positive().default(1000),
  loggers: z.record(z.string(), z.string()).optional(),
  deduplicateHeartbeatLogs: z.boolean().default(false),
});

/** Plugin instances are produced by plugin factories (see `src/plugins/types.ts`); validated there. */
/**
 * A plugin entry: an instance made by a plugin factory in a TS config (`name`, permissions, hooks...), or a YAML
 * reference `{module, config, grant}` resolved by `src/plugins/resolve.ts` when the agent starts.
 */
export const PluginRefSchema = z.looseObject({
  name: z.string().min(1).optional(),
  module: z.string().min(1).optional(),
}).refine((p) => p.name !== undefined || p.module !== undefined, {
  message: "expected a plugin instance (with a name) or a {module, config, grant} entry",
});

/**
 * pgwarden addition: extra Deno permissions for the agent beyond those derived from the config (see
 * `permissions.ts`), e.g. the hosts of peers on other machines, or what a plugin needs.
 */
export const PermissionExtrasSchema = z.strictObject({
  net: z.array(z.string().min(1)).default([]),
  read: z.array(z.string().min(1)).default([]),
  write: z.array(z.string().min(1)).default([]),
  run: z.array(z.string().min(1)).default([]),
  env: z.array(z.string().min(1)).default([]),
});

export const BootstrapSchema = z.strictObject({
  dcs: DynamicConfigSchema.prefault({}),
  method: z.string().default("initdb"),
  initdb: z.array(z.union([z.string(), z.record(z.string(), z.union([z.string(), z.number()]))])).default([]),
  postBootstrap: z.string().optional(),
  /** Custom bootstrap method sections, keyed by method name (Patroni: `bootstrap.<name>`). */
  methods: z.record(z.string(), MethodSchema).default({}),
  /** Extra roles created after bootstrap (Patroni ≤ 3 sample configs carry them). */
  users: z.record(
    z.string(),
    z.strictObject({
      password: z.string().optional(),
      options: z.array(z.string()).default([]),
    }),
  ).default({}),
}).superRefine((b, ctx) => {
  // The dynamic schema keeps unknown keys (values written by Patroni must survive a round trip), but in a
  // local file an unknown key is a typo.
  for (const key of Object.keys(b.dcs ?? {})) {
    if (!DYNAMIC_KEYS.includes(key)) {
      ctx.addIssue({
        code: "custom",
        path: ["dcs", key],
        message: "unknown key",
        params: { unknownKey: key, candidates: DYNAMIC_KEYS },
      });
    }
  }
});

const ConfigObject = z.strictObject({
  name: z.string().min(1).refine((n) => n !== "__patroni_strict_sync_replica_placeholder__", {
    message: "is a reserved name",
  }),
  scope: z.string().min(1),
  namespace: z.string().default("/service"),
  observeOnly: z.boolean().default(false),
  log: LogSchema.prefault({}),
  etcd3: Etcd3Schema.optional(),
  consul: ConsulSchema.optional(),
  zookeeper: ZooKeeperSchema.optional(),
  /** In-memory store: for tests and simulation only. */
  memory: z.strictObject({ id: z.string().default("default") }).optional(),
  restapi: RestApiSchema,
  ctl: CtlSchema.prefault({}),
  postgresql: PostgresqlSchema,
  bootstrap: BootstrapSchema.prefault({}),
  watchdog: WatchdogSchema.prefault({}),
  tags: TagsSchema.default({}),
  citus: CitusSchema.optional(),
  plugins: z.array(PluginRefSchema).default([]),
  permissions: PermissionExtrasSchema.optional(),
});

export const ConfigSchema = ConfigObject.superRefine((c, ctx) => {
  const dcs = ["etcd3", "consul", "zookeeper", "memory"].filter((k) => c[k as keyof typeof c] !== undefined);
  if (dcs.length === 0) {
    ctx.addIssue({
      code: "custom",
      path: [],
      message: "no DCS configured: expected one of etcd3, consul, zookeeper",
    });
  } else if (dcs.length > 1) {
    ctx.addIssue({
      code: "custom",
      path: [dcs[1]!],
      message: `only one DCS may be configured, found ${dcs.join(", ")}`,
    });
  }
  if (c.etcd3 && !c.etcd3.host && !c.etcd3.hosts && !c.etcd3.url) {
    ctx.addIssue({ code: "custom", path: ["etcd3"], message: "expected host, hosts or url" });
  }
});

/** What users write (defaults optional). */
export type ConfigInput = z.input<typeof ConfigSchema>;
/** The resolved configuration the agent reads. */
export type Config = z.output<typeof ConfigSchema>;
export type DcsKind = "etcd3" | "consul" | "zookeeper" | "memory";

export function dcsKind(c: Config): DcsKind {
  if (c.etcd3) return "etcd3";
  if (c.consul) return "consul";
  if (c.zookeeper) return "zookeeper";
  return "memory";
}
