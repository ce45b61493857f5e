/**
 * `pgwarden ctl`: one file per command, each exporting `register(program)`; this file only wires them up.
 * Exit codes: 0 ok, 2 invalid configuration or usage, 1 anything else.
 */
import { Command } from "commander";
import { register as registerValidate } from "./validate.ts";
import { register as registerPermissions } from "./permissions_cmd.ts";
import { register as registerClusterCommands } from "./cluster_commands.ts";
import { registerSimulate } from "./simulate_cmd.ts";

export function buildProgram(): Command {
  const program = new Command("pgwarden-ctl")
    .description("Operate a pgwarden cluster")
    .showHelpAfterError()
    .configureOutput({ writeErr: (s) => Deno.stderr.writeSync(new TextEncoder().encode(s)) })
    .exitOverride((err) => Deno.exit(err.exitCode === 0 ? 0 : 2));
  registerValidate(program);
  registerPermissions(program);
  registerClusterCommands(program);
  registerSimulate(program);
  return program;
}

if (import.meta.main) {
  await buildProgram().parseAsync(Deno.args, { from: "user" });
}
