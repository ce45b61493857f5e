/**
 * Builds the agent's lifecycle hooks from the configured plugins (each in its own Worker with only the
 * permissions it declares and the config grants) and the legacy `postgresql.callbacks` scripts, which run as a
 * trusted built-in after the plugins; and the custom bootstrap / replica-creation methods those plugins (and
 * Patroni method sections, through the `command` plugin) provide, for the PostgreSQL manager.
 */
import { dirname } from "node:path";
import type { Config } from "../config/schema.ts";
import { PluginHost } from "../plugins/host.ts";
import { resolvePlugins } from "../plugins/resolve.ts";
import type { EventHook, HookCallData, HookContextData, PluginRole } from "../plugins/types.ts";
import { legacyCallbacks } from "../../plugins/callbacks/mod.ts";
import type { AgentHooks, HookContext } from "./hooks.ts";
import type { Logger } from "./log.ts";
import { connUrl } from "./member_data.ts";
import { methodRegistries, planMethods } from "./method_plugins.ts";
import type { BootstrapMethodRegistry } from "../postgres/custom_bootstrap.ts";
import type { ReplicaMethodRegistry } from "../postgres/replica.ts";

/** How long a before-hook may take before the agent goes ahead (unless the plugin vetoes on failure). */
const VETO_DEADLINE_MS = 5000;

function pluginRole(role: string | undefined): PluginRole | null {
  if (role === "promoted") return "primary";
  return role === "primary" || role === "replica" || role === "standby_leader" || role === "demoted"
    ? role
    : null;
}

export type AgentPluginHooks = AgentHooks & {
  host: PluginHost;
  /** Plugin-backed methods for `PostgresManager` (its `replicaMethods` / `bootstrapMethods` options). */
  replicaMethods: ReplicaMethodRegistry;
  bootstrapMethods: BootstrapMethodRegistry;
  close(): Promise<void>;
};

export async function createAgentHooks(
  config: Config,
  log: Logger,
  opts: { configPath?: string } = {},
): Promise<AgentPluginHooks> {
  const baseDir = opts.configPath ? dirname(opts.configPath) : Deno.cwd();
  const specs = await resolvePlugins(config.plugins, baseDir);
  const methods = planMethods(config, specs);
  const cb = config.postgresql.callbacks;
  const plog = log.child({ plugin: "callbacks" });
  const local = Object.values(cb).some(Boolean)
    ? [legacyCallbacks(cb, config.scope, {
      debug: (m, f) => plog.debug(m, f),
      info: (m, f) => plog.info(m, f),
      warn: (m, f) => plog.warn(m, f),
      error: (m, f) => plog.error(m, f),
    })]
    : [];
  const host = new PluginHost([...specs, ...methods.specs], {
    local,
    logger: {
      log(level, msg, fields) {
        const l = level === "warn"
          ? "warn"
          : level === "error"
          ? "error"
          : level === "debug"
          ? "debug"
          : "info";
        log[l](msg, fields);
      },
    },
  });
  // A plugin process takes a few hundred ms to start: not inside the first promotion's veto deadline.
  host.prestart();
  const base = (c: HookContext): HookContextData => ({
    scope: c.scope,
    name: c.name,
    role: pluginRole(c.role),
    timeline: c.timeline,
    connUrl: connUrl(config),
    dataDir: config.postgresql.dataDir,
    lsn: c.lsn,
    reason: c.reason,
  });
  const registries = methodRegistries(config, host, methods.bindings, (reason) => ({
    scope: config.scope,
    name: config.name,
    role: null,
    timeline: null,
    connUrl: connUrl(config),
    dataDir: config.postgresql.dataDir,
    lsn: null,
    reason,
  }));
  return {
    host,
    replicaMethods: registries.replica,
    bootstrapMethods: registries.bootstrap,
    beforePromote: (c) =>
      host.veto("beforePromote", { ...base(c), oldLeader: c.oldLeader ?? null }, VETO_DEADLINE_MS),
    beforeDemote: (c) =>
      host.veto("beforeDemote", { ...base(c), newLeader: c.newLeader ?? null }, VETO_DEADLINE_MS),
    emit(event, c) {
      // Delivered in order per plugin; the agent emits once per transition, so no de-duplication key is needed.
      const data = { ...base(c) } as HookContextData & Record<string, unknown>;
      if (event === "onRoleChange") {
        Object.assign(data, { oldRole: pluginRole(c.oldRole), newRole: pluginRole(c.newRole) });
      }
      if (event === "afterPromote") Object.assign(data, { oldLeader: c.oldLeader ?? null });
      if (event === "onLeaderChange") {
        Object.assign(data, { old: c.oldLeader ?? null, new: c.newLeader ?? null });
      }
      if (event === "onRoleChange" && data.newRole === null) return;
      host.emit(event as EventHook, data as HookCallData<EventHook>).catch((e) =>
        log.warn("plugin event delivery failed", { event, error: String(e) })
      );
    },
    close: () => host.close(),
  };
}
