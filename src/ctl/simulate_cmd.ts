/**
 * `ctl simulate <config> --scenario leader-death|dcs-outage|partition|agent-pause`: run the scenario on three
 * simulated members with the config's `bootstrap.dcs` timings and print the decision timeline.
 */
import { type Command, InvalidArgumentError, Option } from "commander";
import { loadConfig } from "../config/load.ts";
import { exitOnConfigError } from "./config_errors.ts";
import { formatScenario, runScenario, type Scenario, SCENARIOS } from "./simulate.ts";

function parseScenario(v: string): Scenario {
  if (!(SCENARIOS as readonly string[]).includes(v)) {
    throw new InvalidArgumentError(`expected one of ${SCENARIOS.join(", ")}`);
  }
  return v as Scenario;
}

export function registerSimulate(program: Command): void {
  program.command("simulate")
    .description("Replay a failure on three simulated members using this configuration's timings")
    .argument("<config>", "path of the configuration file")
    .addOption(
      new Option("--scenario <name>", "failure to simulate").choices(SCENARIOS).argParser(parseScenario)
        .makeOptionMandatory(),
    )
    .option("--json", "print the result as JSON")
    .action(async (path: string, opts: { scenario: Scenario; json?: boolean }) => {
      const config = await exitOnConfigError(() => loadConfig(path));
      const result = await runScenario(config, opts.scenario);
      console.log(opts.json ? JSON.stringify(result, null, 2) : formatScenario(result));
      if (!result.converged) Deno.exitCode = 1;
    });
}
