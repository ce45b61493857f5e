/**
 * The plugin contract. A plugin has two halves:
 *
 * - its definition (`mod.ts`): name, version, config schema, the permissions it needs and the URL of its
 *   worker module. It is imported by the agent (like a config module) and must have no side effects.
 * - its worker (`worker.ts`): the hooks, run by the plugin host in a Deno Worker whose permissions are the
 *   intersection of what the definition declares and what the operator's config grants.
 *
 * Only plain data crosses between them (`PluginSpec`, hook contexts, results), never the agent's internals.
 */
import { z } from "zod";

/** Deno permission lists a plugin may ask for. Each entry is what `--allow-<kind>=<entry>` accepts. */
export const PluginPermissionsSchema = z.strictObject({
  net: z.array(z.string().min(1)).optional(),
  run: z.array(z.string().min(1)).optional(),
  read: z.array(z.string().min(1)).optional(),
  write: z.array(z.string().min(1)).optional(),
  env: z.array(z.string().min(1)).optional(),
});
export type PluginPermissions = z.infer<typeof PluginPermissionsSchema>;
export const PERMISSION_KINDS = ["net", "run", "read", "write", "env"] as const;
export type PermissionKind = typeof PERMISSION_KINDS[number];

/** Notifications: delivered in order, once per transition, result ignored. */
export const EVENT_HOOKS = [
  "onStart",
  "onStop",
  "onRestart",
  "onReload",
  "onRoleChange",
  "afterPromote",
  "onLeaderChange",
] as const;
/** Awaited with a deadline before the transition; may veto it. */
export const VETO_HOOKS = ["beforePromote", "beforeDemote", "beforeSwitchover"] as const;
/** Data-directory creation methods: return whether they succeeded. */
export const METHOD_HOOKS = ["bootstrap", "createReplica"] as const;
export const HOOK_NAMES = [...EVENT_HOOKS, ...VETO_HOOKS, ...METHOD_HOOKS] as const;

export type EventHook = typeof EVENT_HOOKS[number];
export type VetoHook = typeof VETO_HOOKS[number];
export type MethodHook = typeof METHOD_HOOKS[number];
export type HookName = typeof HOOK_NAMES[number];
export const HookNameSchema = z.enum(HOOK_NAMES);

/** Patroni 4 role names as callbacks and plugins see them. */
export type PluginRole = "primary" | "replica" | "standby_leader" | "demoted";

/** Plain-data context of every hook call (what the agent knows at that moment). */
export interface HookContextData {
  scope: string;
  /** This member's name. */
  name: string;
  /** Role at the time of the call; null before PostgreSQL runs. */
  role: PluginRole | null;
  timeline: number | null;
  /** libpq URL of the local PostgreSQL, without password. */
  connUrl: string | null;
  dataDir: string;
  /** Current WAL position (primary: flush, replica: max(receive, replay)) in bytes. */
  lsn: number | null;
  /** Why the agent is doing this (Patroni-style decision text). */
  reason: string | null;
}

/** Extra fields per hook, on top of `HookContextData`. */
export interface HookArgs {
  onStart: Record<never, never>;
  onStop: Record<never, never>;
  onRestart: Record<never, never>;
  onReload: Record<never, never>;
  onRoleChange: { oldRole: PluginRole | null; newRole: PluginRole };
  afterPromote: { oldLeader: string | null };
  onLeaderChange: { old: string | null; new: string | null };
  beforePromote: { oldLeader: string | null };
  beforeDemote: { newLeader: string | null };
  beforeSwitchover: { leader: string; candidate: string | null };
  bootstrap: { method: string } & MethodRunArgs;
  createReplica: { method: string; source: { name: string; connUrl: string } | null } & MethodRunArgs;
}

/** The OS user PostgreSQL runs as, for tools a method runs on the data directory. */
export interface MethodOsUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/** What the agent adds to a method call besides the usual context. */
export interface MethodRunArgs {
  /** Set when the agent runs as root: run data-directory tools as this user (PostgreSQL refuses root). */
  osUser?: MethodOsUser | null;
  /** Environment for the tools (PGPASSFILE for the source's credentials). */
  env?: Record<string, string>;
}

/** What the host sends for one call of `hook`. */
export type HookCallData<H extends HookName = HookName> = HookContextData & HookArgs[H];

/** Structured logger handed to hooks; lines are posted back to the host and logged with the plugin name. */
export interface PluginLogger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}
export type LogLevel = "debug" | "info" | "warn" | "error";

/** The context a hook function receives inside its worker. */
export type HookContext<H extends HookName = HookName, C = unknown> = HookCallData<H> & {
  /** The plugin's validated config. */
  config: C;
  logger: PluginLogger;
  /** Aborted when the host gives up on this call (timeout, shutdown). */
  signal: AbortSignal;
};

/** A before-hook's answer: nothing (or `{veto: false}`) lets the transition go on. */
export type VetoAnswer = void | undefined | { veto: false } | { veto: true; reason: string };

/** Result type of each hook. */
export interface HookResults {
  onStart: void;
  onStop: void;
  onRestart: void;
  onReload: void;
  onRoleChange: void;
  afterPromote: void;
  onLeaderChange: void;
  beforePromote: VetoAnswer;
  beforeDemote: VetoAnswer;
  beforeSwitchover: VetoAnswer;
  bootstrap: boolean;
  createReplica: boolean;
}

/** The hook functions a worker module implements (see `serveHooks` in `worker_entry.ts`). */
export type Hooks<C = unknown> = {
  [H in HookName]?: (ctx: HookContext<H, C>) => HookResults[H] | Promise<HookResults[H]>;
};

/** A plugin definition (its `mod.ts` default export). */
export interface PluginDefinition<S extends z.ZodType = z.ZodType> {
  /** Plugin type name, e.g. `aws-eip`; also the default instance name. */
  name: string;
  version: string;
  configSchema: S;
  /** Declared permissions; may depend on the config (e.g. the region's endpoint host). */
  permissions: PluginPermissions | ((config: z.output<S>) => PluginPermissions);
  /** URL of the worker module (usually `new URL("./worker.ts", import.meta.url)`). */
  module: string | URL;
  /** Hooks the worker implements. */
  hooks: readonly HookName[];
  /** Default per-hook timeouts in ms (method hooks usually need far more than the 5 s default). */
  timeouts?: Partial<Record<HookName, number>>;
  /** For bootstrap/replica methods: what the agent must know before running them (Patroni's special keys). */
  methodTraits?: (config: z.output<S>) => MethodTraits;
}

/**
 * Patroni's `keep_data` (do not wipe the data directory around the method), `no_leader` (needs no source) and,
 * for bootstrap methods, `keep_existing_recovery_conf` (the restore's own recovery settings are needed).
 */
export const MethodTraitsSchema = z.strictObject({
  keepData: z.boolean().default(false),
  noLeader: z.boolean().default(false),
  keepExistingRecoveryConf: z.boolean().default(false),
});
export type MethodTraits = z.input<typeof MethodTraitsSchema>;

/** Method hooks run restores and copies: far longer than notification hooks. */
export const DEFAULT_METHOD_TIMEOUT_MS = 6 * 3600_000;

/** Identity helper: gives a plugin definition full type checking. */
export function definePlugin<S extends z.ZodType>(def: PluginDefinition<S>): PluginDefinition<S> {
  return def;
}

export const DEFAULT_HOOK_TIMEOUT_MS = 5_000;

/**
 * One configured plugin instance, as plain data: what a factory returns, what the YAML `plugins:` entries are
 * resolved to, and what the host runs. Has `name`, so it fits the config schema's `PluginRefSchema`.
 */
export const PluginSpecSchema = z.strictObject({
  /** Instance name (unique among the configured plugins; the method name for bootstrap/replica methods). */
  name: z.string().min(1),
  /** Plugin type name and version, from the definition. */
  plugin: z.string().min(1),
  version: z.string(),
  /** URL of the worker module. */
  module: z.string().min(1),
  /** Validated plugin config (posted to the worker). */
  config: z.unknown(),
  /** What the plugin declares it needs. */
  permissions: PluginPermissionsSchema,
  /** What the operator grants; the worker gets the intersection. Absent: the declared permissions. */
  grant: PluginPermissionsSchema.optional(),
  hooks: z.array(HookNameSchema),
  /** Default timeout of each hook call in ms. */
  timeoutMs: z.number().int().positive().default(DEFAULT_HOOK_TIMEOUT_MS),
  /** Per-hook timeouts in ms. */
  timeouts: z.partialRecord(HookNameSchema, z.number().int().positive()).default({}),
  /** Limit for loading the worker module (not charged to hook timeouts). */
  startTimeoutMs: z.number().int().positive().default(30_000),
  /** A before-hook that fails or times out vetoes (true) or lets the transition go on (false). */
  vetoOnFailure: z.boolean().default(false),
  /** Set for plugins providing bootstrap/createReplica. */
  methodTraits: MethodTraitsSchema.optional(),
});
export type PluginSpec = z.output<typeof PluginSpecSchema>;
export type PluginSpecInput = z.input<typeof PluginSpecSchema>;

/** Options an operator gives a plugin factory besides the plugin's own config. */
export interface InstanceOptions {
  /** Instance name; default the plugin's name. */
  name?: string;
  /** Permissions granted; default what the plugin declares. */
  grant?: PluginPermissions;
  timeoutMs?: number;
  timeouts?: Partial<Record<HookName, number>>;
  vetoOnFailure?: boolean;
}

/** Validate `config` against the definition and build the instance's spec. */
export function instantiate<S extends z.ZodType>(
  def: PluginDefinition<S>,
  config: z.input<S>,
  options: InstanceOptions = {},
): PluginSpec {
  const parsed = def.configSchema.safeParse(config);
  if (!parsed.success) {
    throw new PluginConfigError(options.name ?? def.name, z.prettifyError(parsed.error));
  }
  const permissions = typeof def.permissions === "function" ? def.permissions(parsed.data) : def.permissions;
  return PluginSpecSchema.parse({
    name: options.name ?? def.name,
    plugin: def.name,
    version: def.version,
    module: String(def.module),
    config: parsed.data,
    permissions,
    grant: options.grant,
    hooks: [...def.hooks],
    timeoutMs: options.timeoutMs,
    timeouts: { ...methodTimeouts(def.hooks), ...def.timeouts, ...options.timeouts },
    vetoOnFailure: options.vetoOnFailure,
    methodTraits: def.methodTraits?.(parsed.data),
  });
}

function methodTimeouts(hooks: readonly HookName[]): Partial<Record<HookName, number>> {
  return Object.fromEntries(
    hooks.filter((h) => (METHOD_HOOKS as readonly string[]).includes(h)).map((
      h,
    ) => [h, DEFAULT_METHOD_TIMEOUT_MS]),
  );
}

/** The factory TS configs call: `plugins: [awsElasticIp({ allocationId: "eipalloc-1" })]`. */
export type PluginFactory<S extends z.ZodType> = (
  config: z.input<S>,
  options?: InstanceOptions,
) => PluginSpec;

export function pluginFactory<S extends z.ZodType>(def: PluginDefinition<S>): PluginFactory<S> {
  return (config, options) => instantiate(def, config, options);
}

export class PluginConfigError extends Error {
  override name = "PluginConfigError";
  constructor(readonly plugin: string, detail: string) {
    super(`Invalid config for plugin "${plugin}": ${detail}`);
  }
}
