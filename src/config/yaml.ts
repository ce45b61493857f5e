/** YAML read the way Patroni's PyYAML reads it (one place for the config file, env values and ctl edits). */
import { parseDocument, type ScalarTag } from "yaml";

/**
 * PyYAML's booleans (YAML 1.1 without `y`/`n`): Patroni reads configs with PyYAML, where `name: n` is a string.
 */
const pyYamlBool: ScalarTag = {
  tag: "tag:yaml.org,2002:bool",
  default: true,
  identify: (v) => typeof v === "boolean",
  test: /^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$/,
  resolve: (s) => /^(?:yes|true|on)$/i.test(s),
};

/** Parse YAML the way Patroni's PyYAML does (YAML 1.1: `on`/`off`/`yes`/`no` are booleans). */
export function parseYamlDocument(text: string) {
  return parseDocument(text, {
    version: "1.1",
    uniqueKeys: true,
    prettyErrors: true,
    // Warnings become config errors below (PyYAML refuses an unknown tag), never lines on stderr.
    logLevel: "silent",
    customTags: (
      tags,
    ) => [...tags.filter((t) => typeof t === "string" || t.tag !== "tag:yaml.org,2002:bool"), pyYamlBool],
  });
}

/**
 * One YAML value the way PyYAML's `safe_load` reads it; throws on any problem, warnings (an unknown tag)
 * included, with the first problem's message.
 */
export function parseYamlStrict(text: string): unknown {
  const doc = parseYamlDocument(text);
  const problem = doc.errors[0] ?? doc.warnings[0];
  if (problem) throw new Error(problem.message.split("\n")[0]);
  return doc.toJS({ maxAliasCount: 1000 });
}
