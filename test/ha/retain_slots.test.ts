/** retain_slots (Patroni 4), pure part: which vanished members' slots the leader keeps, and for how long. */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { planSlots } from "../../src/ha/permanent_slots.ts";
import { restartRetainTimers, retainSlots } from "../../src/ha/retain_slots.ts";
import { cluster, dyn, member } from "./builders.ts";

const TTL = 1800;
const min = 60_000;

Deno.test("retainSlots: every member seen within member_slots_ttl is retained, then let go", () => {
  const cases: {
    why: string;
    seen: [string, number][];
    current: string[];
    now: number;
    ttl?: number;
    retain: string[];
  }[] = [
    { why: "all present", seen: [], current: ["a", "b"], now: 0, retain: ["a", "b"] },
    {
      why: "b vanished 10 min ago: kept",
      seen: [["a", 0], ["b", 0]],
      current: ["a"],
      now: 10 * min,
      retain: ["a", "b"],
    },
    {
      why: "b vanished 30 min ago: let go",
      seen: [["a", 0], ["b", 0]],
      current: ["a"],
      now: 30 * min,
      retain: ["a"],
    },
    { why: "b back: its timer restarts", seen: [["b", 0]], current: ["b"], now: 29 * min, retain: ["b"] },
    { why: "member_slots_ttl 0: nothing kept", seen: [["b", 0]], current: ["a"], now: 1, ttl: 0, retain: [] },
  ];
  for (const k of cases) {
    const r = retainSlots({
      seen: new Map(k.seen),
      current: k.current,
      now: k.now,
      memberSlotsTtlS: k.ttl ?? TTL,
    });
    assertEquals(r.retain, k.retain, k.why);
  }
  const back = retainSlots({
    seen: new Map([["b", 0]]),
    current: ["b"],
    now: 29 * min,
    memberSlotsTtlS: TTL,
  });
  assertEquals(retainSlots({ seen: back.seen, current: [], now: 58 * min, memberSlotsTtlS: TTL }).retain, [
    "b",
  ]);
});

Deno.test("retainSlots: a present member streaming from another member is not retained here", () => {
  const r = retainSlots({
    seen: new Map([["node3", 0]]),
    current: ["node1", "node2"],
    elsewhere: ["node3"],
    now: min,
    memberSlotsTtlS: TTL,
  });
  assertEquals(r.retain, ["node1", "node2"]);
});

Deno.test("retainSlots: a new leadership restarts the published timers from now", () => {
  const seen = restartRetainTimers(["old1", "old2"], 7 * min);
  const r = retainSlots({ seen, current: ["node2"], now: 7 * min + 29 * min, memberSlotsTtlS: TTL });
  assertEquals(r.retain, ["node2", "old1", "old2"], "kept a full ttl after the new leader took over");
  assertEquals(retainSlots({ seen, current: [], now: 37 * min, memberSlotsTtlS: TTL }).retain, []);
});

Deno.test("planSlots: the leader holds retained slots, replicas keep copies of them", () => {
  const c = cluster({
    leader: "node1",
    members: [member("node1", { role: "primary" }), member("node2")],
    status: { optime: 500, slots: { node2: 400, node3: 300 }, retain_slots: ["node3"] },
  });
  const base = { c, tags: {}, dynamic: dyn({}), standbyCluster: false, existing: [] };
  assertEquals(planSlots({ ...base, me: "node1", role: "primary", retain: ["node3"] }).physical, [
    "node2",
    "node3",
  ]);
  assertEquals(planSlots({ ...base, me: "node1", role: "primary" }).physical, ["node2"]);
  assertEquals(planSlots({ ...base, me: "node2", role: "replica" }).physical, ["node1", "node3"]);
});
