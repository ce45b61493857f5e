/** Permanent slots and slot copies, pure part: which slots each node keeps, advances, copies, drops, publishes. */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { permanentSlots, planSlots, type SlotState, statusSlots } from "../../src/ha/permanent_slots.ts";
import { dyn } from "./builders.ts";
import { cluster, member } from "./builders.ts";

const slots = {
  phys_keep: { type: "physical" as const },
  logi: { type: "logical" as const, database: "postgres", plugin: "test_decoding" },
  bad_logical: { type: "logical" as const },
  "Bad-Name": { type: "physical" as const },
  only_standby: { type: "physical" as const, clusterType: "standby" as const },
};

function slot(name: string, p: Partial<SlotState> = {}): SlotState {
  return { name, type: "physical", database: null, plugin: null, active: false, lsn: 100, ...p };
}

Deno.test("permanentSlots: validity, cluster_type, standby clusters, nofailover replicas", () => {
  const d = dyn({ slots });
  const r = permanentSlots(d, { standbyCluster: false, nofailoverReplica: false });
  assertEquals(r.slots.map((s) => s.name), ["logi", "phys_keep"]);
  assertEquals(r.invalid.sort(), ["Bad-Name", "bad_logical"]);
  assertEquals(
    permanentSlots(d, { standbyCluster: true, nofailoverReplica: false }).slots.map((s) => s.name),
    [
      "only_standby",
      "phys_keep",
    ],
  );
  assertEquals(permanentSlots(d, { standbyCluster: false, nofailoverReplica: true }).slots, []);
});

const c = cluster({
  leader: "node1",
  members: [member("node1", { role: "primary" }), member("node2"), member("node3")],
  status: { optime: 500, slots: { node2: 400, node3: 300, phys_keep: 250, logi: 200, node1: 500 } },
});

Deno.test("planSlots (primary): member + permanent physical slots, permanent logical ones, stray logical dropped", () => {
  const existing = [
    slot("node2"),
    slot("logi", { type: "logical", database: "postgres", plugin: "test_decoding" }),
    slot("stray", { type: "logical", database: "postgres", plugin: "pgoutput" }),
    slot("in_use", { type: "logical", database: "postgres", plugin: "pgoutput", active: true }),
    slot("kept", { type: "logical", database: "app", plugin: "pgoutput" }),
    slot("citus_shard_move_slot_1_2_3", { type: "logical", database: "postgres", plugin: "citus" }),
  ];
  const p = planSlots({
    c,
    me: "node1",
    role: "primary",
    tags: {},
    dynamic: dyn({ slots, ignoreSlots: [{ database: "app" }] }),
    standbyCluster: false,
    existing,
  });
  assertEquals(p.physical, ["node2", "node3", "phys_keep"]);
  assertEquals(p.logical.map((s) => s.name), ["logi"]);
  assertEquals(p.dropLogical.map((s) => s.name), ["stray"]);
  assertEquals(p.advance, {});
  assertEquals(p.copy, []);
});

Deno.test("planSlots (primary) in the cycle that took the lock: the members' slot copies are kept, not dropped", () => {
  // The snapshot was read before the lock was acquired: no leader in it. node2 and node3 have not reconnected
  // yet, so their slots (copies kept while this node was a replica) are inactive: dropping them here would
  // give up the WAL they hold for exactly this failover.
  const before = cluster({
    members: [member("node1"), member("node2"), member("node3", { tags: { replicatefrom: "node2" } })],
  });
  const p = planSlots({
    c: before,
    me: "node1",
    role: "primary",
    tags: {},
    dynamic: dyn({}),
    standbyCluster: false,
    existing: [slot("node2"), slot("node3")],
  });
  // node3 cascades from node2 (which holds its slot), as Patroni decides for a primary.
  assertEquals(p.physical, ["node2"]);
});

Deno.test("planSlots (replica): copies of the leader's slots and its own, advanced forward only; logical copied", () => {
  const existing = [
    slot("node3", { lsn: 350 }),
    slot("phys_keep", { lsn: 100 }),
    slot("node1", { lsn: null }),
  ];
  const p = planSlots({
    c,
    me: "node2",
    role: "replica",
    tags: {},
    dynamic: dyn({ slots }),
    standbyCluster: false,
    existing,
  });
  // Not its own slot (node2); the leader's one (node1) so the old leader can rejoin after a failover.
  assertEquals(p.physical, ["node1", "node3", "phys_keep"]);
  // node3 is already ahead (350 > 300): never moved back.
  assertEquals(p.advance, { node1: 500, phys_keep: 250 });
  assertEquals(p.copy, ["logi"]);
  const nofo = planSlots({
    c,
    me: "node2",
    role: "replica",
    tags: { nofailover: true },
    dynamic: dyn({ slots }),
    standbyCluster: false,
    existing,
  });
  assertEquals([nofo.physical, nofo.copy], [[], []]);
  const noTtl = planSlots({
    c,
    me: "node2",
    role: "replica",
    tags: {},
    dynamic: dyn({ slots, memberSlotsTtl: 0 }),
    standbyCluster: false,
    existing,
  });
  assertEquals(noTtl.physical, ["phys_keep"]);
});

Deno.test("planSlots (replica): an existing logical copy is advanced, not copied again", () => {
  const existing = [
    slot("logi", { type: "logical", database: "postgres", plugin: "test_decoding", lsn: 150 }),
  ];
  const p = planSlots({
    c,
    me: "node2",
    role: "replica",
    tags: {},
    dynamic: dyn({ slots }),
    standbyCluster: false,
    existing,
  });
  assertEquals(p.copy, []);
  assertEquals(p.advance.logi, 200);
});

Deno.test("statusSlots: permanent and member positions, our own name at our LSN", () => {
  const existing = [
    slot("node2", { lsn: 400 }),
    slot("phys_keep", { lsn: 250 }),
    slot("logi", { type: "logical", lsn: 200 }),
  ];
  const plan = { physical: ["node2", "phys_keep"], logical: [{ name: "logi", type: "logical" as const }] };
  assertEquals(
    statusSlots({
      me: "node1",
      myLsn: 500,
      plan,
      existing,
      memberSlotsTtl: 1800,
      memberSlotNames: ["node2"],
    }),
    { logi: 200, node1: 500, node2: 400, phys_keep: 250 },
  );
  // member_slots_ttl 0: member slots are not published.
  assertEquals(
    statusSlots({ me: "node1", myLsn: 500, plan, existing, memberSlotsTtl: 0, memberSlotNames: ["node2"] }),
    { logi: 200, node1: 500, phys_keep: 250 },
  );
});
