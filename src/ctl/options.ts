/** Options several commands share, spelled as in patronictl. */
import { type Command, InvalidArgumentError, Option } from "commander";
import { intOption, secondsOption } from "./context.ts";
import { ROLE_CHOICES, type RoleChoice } from "./members.ts";
import { type OutputFormat, parseFormat } from "./output.ts";

export function groupOption(cmd: Command): Command {
  return cmd.option("--group <n>", "Citus group", intOption("--group"));
}

export function formatOption(cmd: Command, dflt: OutputFormat = "pretty"): Command {
  return cmd.option(
    "-f, --format <format>",
    "output format: pretty, tsv, json, yaml",
    parseFormatOption,
    dflt,
  );
}

export function parseFormatOption(v: string): OutputFormat {
  try {
    return parseFormat(v);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

export function watchOptions(cmd: Command): Command {
  return cmd.option("-W", "refresh the output every 2 seconds")
    .option("-w, --watch <seconds>", "refresh the output every N seconds", secondsOption);
}

export function forceOption(cmd: Command): Command {
  return cmd.option("--force", "do not ask for confirmation at any point");
}

/** `-r/--role`; `master` is accepted as an alias of `primary` (patronictl 3). */
export function roleOption(cmd: Command, help: string, dflt?: RoleChoice): Command {
  const o = new Option("-r, --role <role>", help).choices([...ROLE_CHOICES, "master"])
    .argParser((v: string) => {
      if (v === "master") return "primary";
      if (!(ROLE_CHOICES as readonly string[]).includes(v)) {
        throw new InvalidArgumentError(`expected one of ${ROLE_CHOICES.join(", ")}`);
      }
      return v;
    });
  if (dflt) o.default(dflt);
  return cmd.addOption(o);
}

/** The refresh interval of `-W`/`-w`, or undefined for a single run. */
export function watchInterval(o: { W?: boolean; watch?: number }): number | undefined {
  return o.watch ?? (o.W ? 2 : undefined);
}
