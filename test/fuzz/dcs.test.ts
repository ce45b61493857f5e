/**
 * Fuzzing what the agent reads from the DCS: random and corrupted raw key values go through snapshotFromKeys
 * (shared by every backend) and random `config` values through the agent's DynamicState. Nothing may throw;
 * a corrupt member value drops that member with an onBad report; an invalid dynamic config leaves the one
 * in force unchanged and is logged.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { fromPatroniDynamic } from "../../src/config/dynamic.ts";
import { DynamicState } from "../../src/agent/dynamic_state.ts";
import { memoryLogger } from "../../src/agent/log.ts";
import { type RawKey, snapshotFromKeys } from "../../src/dcs/snapshot.ts";
import { emptySnapshot, MemberDataSchema } from "../../src/dcs/types.ts";
import { memberData, threeNodeSeed } from "../helpers/fake_agent.ts";
import { type Json, jsonValue, mutate, mutateText, Prng, randomString } from "./gen.ts";

const VALID: Record<string, string> = {
  initialize: "7350000000000000001",
  leader: "node1",
  config: JSON.stringify(threeNodeSeed().config),
  history: JSON.stringify(threeNodeSeed().history),
  failover: JSON.stringify({ leader: "node1", member: "node2", scheduled_at: "2024-06-01T12:00:00+00:00" }),
  sync: JSON.stringify({ leader: "node1", sync_standby: "node2", quorum: 0 }),
  failsafe: JSON.stringify({ node1: "http://127.0.0.1:8008/patroni" }),
  status: JSON.stringify({ optime: 83886176, slots: { node2: 1 }, retain_slots: ["node2"] }),
  "optime/leader": "83886176",
  "members/node1": JSON.stringify(memberData("node1", { role: "primary" })),
  "members/node2": "postgres://127.0.0.1:5433/postgres?application_name=http://127.0.0.1:8009/patroni",
};
const KEYS = [
  ...Object.keys(VALID),
  "members/",
  "members/a/b",
  "junk",
  "/leader",
  "0/leader",
  "members/node3",
];

/** A value for `key`: valid, text-mutated, structurally mutated, random JSON or random text. */
function rawValue(rng: Prng, key: string): string {
  const valid = VALID[key] ?? VALID["members/node1"]!;
  switch (rng.int(0, 5)) {
    case 0:
      return valid;
    case 1:
    case 2:
      return mutateText(rng, valid);
    case 3: {
      let doc: Json;
      try {
        doc = JSON.parse(valid);
      } catch {
        return mutateText(rng, valid);
      }
      return JSON.stringify(mutate(rng, doc));
    }
    case 4:
      return JSON.stringify(jsonValue(rng));
    default:
      return rng.chance(0.5) ? `postgres://${randomString(rng, rng.int(0, 20))}` : randomString(rng, 10);
  }
}

function memberValueValid(value: string): boolean {
  if (value.startsWith("postgres")) {
    try {
      new URL(value.replace(/^postgres(ql)?:/, "http:"));
      return true;
    } catch {
      return false;
    }
  }
  try {
    return MemberDataSchema.safeParse(JSON.parse(value)).success;
  } catch {
    return false;
  }
}

Deno.test("snapshotFromKeys: 5000 sets of corrupt keys never throw; bad members are dropped and reported", () => {
  const rng = new Prng(7001);
  let reported = 0;
  for (let i = 0; i < 5000; i++) {
    const keys: RawKey[] = [];
    const used = new Set<string>();
    for (let n = rng.int(1, 8); n > 0; n--) {
      const key = rng.pick(KEYS);
      if (used.has(key)) continue;
      used.add(key);
      keys.push({ key, value: rawValue(rng, key), version: String(rng.int(1, 1e6)) });
    }
    const bad: string[] = [];
    let snap;
    try {
      snap = snapshotFromKeys(keys, (k) => bad.push(k));
    } catch (e) {
      throw new Error(
        `case ${i} crashed: ${e instanceof Error ? e.stack : e}\nkeys: ${JSON.stringify(keys)}`,
      );
    }
    reported += bad.length;
    for (const k of keys) {
      const name = k.key.startsWith("members/") ? k.key.slice("members/".length) : null;
      if (!name || name.includes("/")) continue;
      const present = snap.members.some((m) => m.name === name);
      const valid = memberValueValid(k.value);
      assert(
        present === valid,
        `case ${i}: member ${name} present=${present}, value ${JSON.stringify(k.value)}`,
      );
      if (!valid) assert(bad.includes(k.key), `case ${i}: dropping ${k.key} was not reported`);
    }
    for (const m of snap.members) assert(MemberDataSchema.safeParse(m.data).success);
    if (snap.history) assert(Array.isArray(snap.history.value), `case ${i}: history not an array`);
    if (snap.config) assert(typeof snap.config.value === "object" && !Array.isArray(snap.config.value));
  }
  assert(reported > 1000, `only ${reported} bad values reported: the generator is too tame`);
});

Deno.test("DynamicState: 3000 corrupt config values never throw, never replace the config in force", () => {
  const rng = new Prng(7002);
  const base = threeNodeSeed().config as Json;
  let adopted = 0;
  let rejected = 0;
  for (let i = 0; i < 3000; i++) {
    const log = memoryLogger();
    const initial = fromPatroniDynamic(base);
    const state = new DynamicState(initial, log);
    const value = rng.chance(0.8) ? mutate(rng, base) : jsonValue(rng);
    const before = structuredClone(state.current);
    let valid = true;
    try {
      fromPatroniDynamic(value);
    } catch {
      valid = false;
    }
    const snap = emptySnapshot();
    if (value && typeof value === "object" && !Array.isArray(value)) {
      snap.config = { value: value as Record<string, unknown>, version: "1" };
    }
    let changed: boolean;
    try {
      changed = state.update(snap);
      // The same bad value again: still kept out, reported only once.
      state.update(snap);
    } catch (e) {
      throw new Error(
        `case ${i} crashed: ${e instanceof Error ? e.stack : e}\nvalue: ${JSON.stringify(value)}`,
      );
    }
    if (!snap.config || !valid) {
      assertEquals(changed, false, `case ${i}`);
      assertEquals(state.current, before, `case ${i}: invalid config ${JSON.stringify(value)} changed state`);
      if (snap.config) {
        assertEquals(log.lines.filter((l) => l.includes("ignoring invalid dynamic configuration")).length, 1);
        rejected++;
      }
    } else {
      assert(
        changed || JSON.stringify(value) === JSON.stringify(base),
        `case ${i}: valid config not adopted`,
      );
      adopted++;
    }
  }
  assert(adopted > 100 && rejected > 100, `adopted ${adopted}, rejected ${rejected}`);
});
