import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { isValidSlotName, planSlots, slotNameFromMember, type SlotRow } from "./slots.ts";

Deno.test("slotNameFromMember normalises like Patroni", () => {
  assertEquals(slotNameFromMember("Node-1.dc"), "node_1_dc");
  assertEquals(slotNameFromMember("pg@é"), "pgu0064u0233");
  assertEquals(slotNameFromMember("x".repeat(80)).length, 63);
  assertEquals(isValidSlotName(slotNameFromMember("Any Name!")), true);
});

const slot = (slot_name: string, extra: Partial<SlotRow> = {}): SlotRow => ({
  slot_name,
  slot_type: "physical",
  database: null,
  plugin: null,
  active: false,
  ...extra,
});

Deno.test("planSlots creates missing, drops unwanted inactive physical slots, spares the rest", () => {
  const plan = planSlots(
    [
      slot("keep"),
      slot("old"),
      slot("busy", { active: true }),
      slot("logical1", { slot_type: "logical", database: "db", plugin: "pgoutput" }),
      slot("ignored"),
    ],
    ["keep", "new_b", "new_a"],
    [{ name: "ignored", type: "physical" }],
  );
  assertEquals(plan, { create: ["new_a", "new_b"], drop: ["old"], keepActive: ["busy"] });
});
