/**
 * pgwarden public API: `defineConfig` for typed config modules, and the plugin types.
 *
 * @example
 * ```ts
 * import { defineConfig } from "./mod.ts";
 * export default defineConfig({
 *   name: "node1",
 *   scope: "demo",
 *   etcd3: { hosts: ["127.0.0.1:2379"] },
 *   restapi: { listen: "127.0.0.1:8008" },
 *   postgresql: { listen: "127.0.0.1:5432", dataDir: "data/node1" },
 * });
 * ```
 * @module
 */
import type { ConfigInput } from "./src/config/schema.ts";

export type { Config, ConfigInput } from "./src/config/schema.ts";
export type { DynamicConfig, DynamicConfigInput } from "./src/config/dynamic.ts";

/** A config module's default export: the config, or a (possibly async) function returning it. */
export type ConfigModule = ConfigInput | (() => ConfigInput | Promise<ConfigInput>);

/** Identity helper that gives a config module full type checking and editor completion. */
export function defineConfig<const T extends ConfigInput>(config: T): T;
export function defineConfig(
  config: () => ConfigInput | Promise<ConfigInput>,
): () => ConfigInput | Promise<ConfigInput>;
export function defineConfig(config: ConfigModule): ConfigModule {
  return config;
}

export { definePlugin, instantiate, pluginFactory } from "./src/plugins/types.ts";
export type {
  HookArgs,
  HookContext,
  HookContextData,
  HookName,
  HookResults,
  Hooks,
  InstanceOptions,
  MethodTraits,
  PluginDefinition,
  PluginFactory,
  PluginLogger,
  PluginPermissions,
  PluginRole,
  PluginSpec,
  VetoAnswer,
} from "./src/plugins/types.ts";
export { serveHooks } from "./src/plugins/worker_entry.ts";
