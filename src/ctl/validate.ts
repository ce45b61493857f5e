/** `ctl validate <config>`: prints `ok` (exit 0), or every problem one per line (exit 2). */
import type { Command } from "commander";
import { loadConfig } from "../config/load.ts";
import { exitOnConfigError } from "./config_errors.ts";

export function register(program: Command) {
  program.command("validate")
    .description("Check a configuration file (TS/JS module or Patroni YAML), PATRONI_* overrides included")
    .argument("<config>", "path of the configuration file")
    .action(async (path: string) => {
      await exitOnConfigError(() => loadConfig(path));
      console.log("ok");
    });
}
