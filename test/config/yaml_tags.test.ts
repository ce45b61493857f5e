/** YAML that PyYAML's safe loader refuses is refused here too, with a position, and nothing goes to stderr. */
import assert from "node:assert/strict";
import { ConfigError } from "../../src/config/errors.ts";
import { parsePatroniYaml } from "../../src/config/load.ts";
import { parseYamlStrict } from "../../src/config/yaml.ts";
import { parseConfigDocument } from "../../src/ctl/config_edit.ts";

Deno.test("an unknown YAML tag is a config error with its line and column", () => {
  let issue: ConfigError["issues"][number] | undefined;
  try {
    parsePatroniYaml("scope: demo\nname: !python/object node1\n", { env: {} });
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    issue = err.issues[0];
  }
  assert.equal(issue?.path, "line 2, column 7");
  assert.match(issue?.message ?? "", /Unresolved tag: !python\/object/);
});

Deno.test("env values and ctl documents refuse unknown tags too", () => {
  assert.throws(() => parseYamlStrict("!s4 x"), /Unresolved tag/);
  assert.throws(() => parseConfigDocument("ttl: !x 30\n", "edited config"), /not valid YAML: Unresolved tag/);
  assert.deepEqual(parseYamlStrict("{a: on, b: n}"), { a: true, b: "n" }, "PyYAML booleans");
});
