/**
 * A short seeded chaos run on a real 3-member cluster: six faults, one of each kind (partition, agent kill,
 * data directory removal, frozen primary agent, postmaster kill, etcd outage), with the durability,
 * split-brain and recovery checks of run.ts. The long run is `deno task chaos --faults 100`.
 */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { FAULT_KINDS, planFaults } from "./faults.ts";
import { summarize } from "./main.ts";
import { runChaos } from "./run.ts";

Deno.test("chaos planning: the first six faults of any seed cover every kind", () => {
  for (const seed of [1, 2, 3, 99]) {
    assertEquals(new Set(planFaults(seed, 6).map((f) => f.kind)), new Set(FAULT_KINDS));
  }
});

Deno.test(
  "chaos: six seeded faults, one of each kind, without a violation",
  { sanitizeOps: false, sanitizeResources: false },
  async () => {
    const records: string[] = [];
    const result = await runChaos({ faults: 6, seed: 1, emit: (r) => records.push(JSON.stringify(r)) });
    if (result.violations.length) console.error(`${records.join("\n")}\n${summarize(result)}`);
    assertEquals(result.violations, []);
    // Every kind ran (partition only where network namespaces work, else it is reported as skipped).
    assertEquals(new Set(result.faults.map((f) => f.kind)), new Set(FAULT_KINDS));
  },
);
