/**
 * `ctl permissions <config>`: the Deno permission flags the agent needs for this config, one per line
 * (bin/pgwarden passes them to `deno run`). `--json` prints the structured set instead.
 */
import type { Command } from "commander";
import { loadConfig } from "../config/load.ts";
import { type Env, readPatroniEnv } from "../config/env.ts";
import { computePermissions } from "../config/permissions.ts";
import { exitOnConfigError } from "./config_errors.ts";

/** The agent inherits this process's environment: read what the computation looks at, where permitted. */
function agentEnv(): Env {
  return readPatroniEnv(["HOME", "PATH", "PGPASSFILE", "DENO_DIR", "XDG_CACHE_HOME"]);
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
      if (opts.json) console.log(JSON.stringify(perms.toJSON(), null, 2));
      else for (const flag of perms.toDenoFlags()) console.log(flag);
    });
}
