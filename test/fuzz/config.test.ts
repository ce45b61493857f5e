/**
 * Fuzzing the config loader with malformed input: byte-level edits of valid Patroni YAML files, structural
 * mutations of their parsed documents (values of the wrong type, keys dropped or misspelt, junk added), and
 * mutated TS-style config objects. Each must either load or fail with a ConfigError listing at least one
 * problem; any other exception is a crash.
 */
import { ok as assert } from "node:assert/strict";
import { stringify } from "yaml";
import { ConfigError, parseConfigObject, parsePatroniYaml } from "../../src/config/load.ts";
import { BASE_YAML, baseObject } from "../config/_helpers.ts";
import { type Json, mutate, mutateText, Prng } from "./gen.ts";

const SAMPLES = [
  BASE_YAML,
  await Deno.readTextFile(new URL("../fixtures/patroni/upstream/postgres0.yml", import.meta.url)),
  await Deno.readTextFile(new URL("../fixtures/patroni/debian/postgres1.yml", import.meta.url)),
];

/** Run `f`; a ConfigError with issues or success is fine, anything else fails with the input shown. */
function expectCleanOutcome(what: string, input: unknown, f: () => unknown): "ok" | "error" {
  try {
    f();
    return "ok";
  } catch (e) {
    if (e instanceof ConfigError) {
      assert(e.issues.length > 0 && e.message.length > 0, `${what}: ConfigError without issues`);
      return "error";
    }
    const shown = typeof input === "string" ? input : JSON.stringify(input);
    throw new Error(
      `${what}: crashed with ${e instanceof Error ? e.stack : e}\ninput: ${shown.slice(0, 2000)}`,
    );
  }
}

Deno.test("config loader: 3000 byte-mutated Patroni YAML files load or give a ConfigError", () => {
  const rng = new Prng(9001);
  const tally = { ok: 0, error: 0 };
  for (let i = 0; i < 3000; i++) {
    const text = mutateText(rng, rng.pick(SAMPLES));
    tally[expectCleanOutcome(`yaml case ${i}`, text, () => parsePatroniYaml(text, { env: {} }))]++;
  }
  // The generator must produce both outcomes, or it is not exercising the error paths.
  assert(tally.ok > 0 && tally.error > 0, JSON.stringify(tally));
});

Deno.test("config loader: 3000 structurally mutated YAML documents load or give a ConfigError", async () => {
  const { parse } = await import("yaml");
  const docs = SAMPLES.map((s) => parse(s) as Json);
  const rng = new Prng(9002);
  const tally = { ok: 0, error: 0 };
  for (let i = 0; i < 3000; i++) {
    const doc = mutate(rng, rng.pick(docs));
    const text = stringify(doc);
    tally[expectCleanOutcome(`document case ${i}`, text, () => parsePatroniYaml(text, { env: {} }))]++;
  }
  assert(tally.error > 2000, JSON.stringify(tally));
});

Deno.test("config loader: 2000 mutated config objects load or give a ConfigError", () => {
  const base = baseObject() as unknown as Json;
  const rng = new Prng(9003);
  const tally = { ok: 0, error: 0 };
  for (let i = 0; i < 2000; i++) {
    const obj = mutate(rng, base);
    tally[expectCleanOutcome(`object case ${i}`, obj, () => parseConfigObject(obj, { env: {} }))]++;
  }
  assert(tally.ok > 0 && tally.error > 0, JSON.stringify(tally));
});

Deno.test("config loader: environment overrides with junk values give a ConfigError, not a crash", () => {
  const rng = new Prng(9004);
  const names = [
    "PATRONI_NAME",
    "PATRONI_SCOPE",
    "PATRONI_TTL",
    "PATRONI_LOOP_WAIT",
    "PATRONI_RESTAPI_LISTEN",
    "PATRONI_POSTGRESQL_LISTEN",
    "PATRONI_POSTGRESQL_DATA_DIR",
    "PATRONI_ETCD3_HOSTS",
    "PATRONI_LOG_LEVEL",
    "PATRONI_REPLICATION_USERNAME",
    "PATRONI_RESTAPI_ALLOWLIST",
    "PATRONI_node1_TAGS",
  ];
  for (let i = 0; i < 1000; i++) {
    const env: Record<string, string> = {};
    for (let n = rng.int(1, 3); n > 0; n--) {
      env[rng.pick(names)] = mutateText(rng, rng.pick(["1", "127.0.0.1:5432", "[a, b]", "{x: 1}", "node"]));
    }
    expectCleanOutcome(`env case ${i}`, env, () => parsePatroniYaml(BASE_YAML, { env }));
  }
});
