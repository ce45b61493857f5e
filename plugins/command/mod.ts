/**
 * `command`: Patroni's generic method for WAL-E/WAL-G style tools, as bootstrap method and as replica
 * creation method. The worker may run exactly the configured executable, nothing else.
 *
 * @example
 * ```ts ignore
 * plugins: [commandMethod({ command: "/usr/local/bin/wale_restore", envdir: "/etc/wal-e", no_leader: true },
 *   { name: "wal_e" })]
 * // postgresql.createReplicaMethods: ["wal_e", "basebackup"]
 * ```
 */
import { z } from "zod";
import { resolveExecutable } from "../../src/plugins/exec.ts";
import { shellSplit } from "../../src/plugins/shlex.ts";
import {
  definePlugin,
  type InstanceOptions,
  pluginFactory,
  type PluginSpec,
} from "../../src/plugins/types.ts";
import { parseSection } from "./args.ts";

/** A Patroni method section: `command` plus free-form keys; `user` runs it as that OS user (agent as root). */
export const CommandConfigSchema = z.looseObject({
  command: z.string().min(1).refine((c) => {
    try {
      return shellSplit(c).length > 0;
    } catch {
      return false;
    }
  }, "expected a command line"),
  user: z.strictObject({ uid: z.number().int(), gid: z.number().int() }).optional(),
});
export type CommandConfig = z.output<typeof CommandConfigSchema>;

export const plugin = definePlugin({
  name: "command",
  version: "1.0.0",
  configSchema: CommandConfigSchema,
  permissions: (c) => ({ run: [resolveExecutable(shellSplit(c.command)[0]!)] }),
  module: new URL("./worker.ts", import.meta.url),
  hooks: ["bootstrap", "createReplica"],
  methodTraits: (c) => {
    const s = parseSection(c);
    return {
      keepData: s.keepData,
      noLeader: s.noLeader,
      keepExistingRecoveryConf: s.keepExistingRecoveryConf,
    };
  },
});
export default plugin;

export const commandMethod = pluginFactory(plugin);

/** Plugin specs for Patroni method sections (`postgresql.<method>` / `bootstrap.<method>`), named by method. */
export function methodSpecs(
  sections: Record<string, Record<string, unknown>>,
  options: Omit<InstanceOptions, "name"> = {},
): PluginSpec[] {
  return Object.entries(sections)
    .filter(([, s]) => typeof s.command === "string")
    .map(([name, s]) => commandMethod(s as CommandConfig, { ...options, name }));
}
