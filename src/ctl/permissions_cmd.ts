/**
 * `ctl permissions <config>`: the Deno permission flags the agent needs for this config, one per line
 * (bin/pgwarden passes them to `deno run`). `--json` prints the structured set instead.
 */
import type { Command } from "commander";
import { loadConfig } from "../config/load.ts";
import { type Env, readPatroniEnv } from "../config/env.ts";
import { type AgentPermissions, computePermissions } from "../config/permissions.ts";
import type { Config } from "../config/schema.ts";
import { planMethods } from "../agent/method_plugins.ts";
import { moduleGraphReads, pluginPermissions } from "../plugins/permissions.ts";
import { resolvePlugins } from "../plugins/resolve.ts";
import { PERMISSION_KINDS } from "../plugins/types.ts";
import { dirname, resolve } from "node:path";
import { exitOnConfigError } from "./config_errors.ts";

/** The agent inherits this process's environment: read what the computation looks at, where permitted. */
function agentEnv(): Env {
  return readPatroniEnv(["HOME", "PATH", "PGPASSFILE", "DENO_DIR", "XDG_CACHE_HOME"]);
}

/**
 * The agent must hold what its plugins' workers are granted (a worker cannot exceed its parent), and read
 * access to the plugin modules it loads. Resolving imports each plugin's definition module. Patroni method
 * sections with a `command` run as `command` plugin instances, so they count as plugins here.
 */
export async function addPluginPermissions(
  perms: AgentPermissions,
  config: Config,
  configPath: string,
): Promise<void> {
  const resolved = await resolvePlugins(config.plugins, dirname(resolve(configPath)));
  const specs = [...resolved, ...planMethods(config, resolved).specs];
  if (specs.length === 0) return;
  const union = pluginPermissions(specs);
  for (const k of PERMISSION_KINDS) perms.add(k, ...(union[k] ?? []));
  // Plugin definitions resolve bare executable names along PATH when the agent instantiates them (that is how
  // a method plugin's `run` grant names the binary): PATH, and a stat of each granted executable.
  perms.add("env", "PATH");
  perms.add("read", ...(union.run ?? []).filter((r) => r.startsWith("/")));
  // Each plugin's Worker runs in a `deno run` child process of this same Deno (src/plugins/jail.ts).
  perms.add("run", Deno.execPath());
  // A worker loads its module graph with the agent's read permission.
  perms.add("read", ...moduleGraphReads(specs.map((s) => s.module)));
  for (const ref of config.plugins) {
    const mod = (ref as { module?: string }).module;
    if (mod && !mod.includes(":") && mod.includes("/")) {
      perms.add("read", dirname(resolve(dirname(resolve(configPath)), mod)));
    }
  }
}

export function register(program: Command) {
  program.command("permissions")
    .description("Print the Deno permission flags the agent needs for a configuration")
    .argument("<config>", "path of the configuration file")
    .option("--json", "print the structured permission set as JSON")
    .action(async (path: string, opts: { json?: boolean }) => {
      const env = agentEnv();
      const config = await exitOnConfigError(() => loadConfig(path, { env }));
      const perms = computePermissions(config, { configPath: path, env });
      await addPluginPermissions(perms, config, path);
      if (opts.json) console.log(JSON.stringify(perms.toJSON(), null, 2));
      else for (const flag of perms.toDenoFlags()) console.log(flag);
    });
}
