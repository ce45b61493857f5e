/**
 * The leader's slot executor in the cycle that acquired the lock: that cycle's snapshot has no leader yet, and
 * the member slots this node kept as a replica must survive it (they hold the WAL the other members need to
 * follow it). Dropping them was harmless only when those members had already reconnected.
 */
import assert from "node:assert/strict";
import { SlotsExecutor } from "../../src/agent/slots_executor.ts";
import type { SlotState } from "../../src/ha/permanent_slots.ts";
import type { PostgresPort } from "../../src/postgres/port.ts";
import { cluster, dyn, member } from "../ha/builders.ts";

Deno.test("leader slots in the promotion cycle: inactive member slots are kept and published", async () => {
  let slots: SlotState[] = ["node2", "node3"].map((name) => ({
    name,
    type: "physical",
    database: null,
    plugin: null,
    active: false,
    lsn: 900,
  }));
  const synced: string[][] = [];
  const pg = {
    slotStates: () => Promise.resolve(slots),
    syncReplicationSlots: (names: string[]) => {
      synced.push(names);
      slots = slots.filter((s) => names.includes(s.name));
      return Promise.resolve();
    },
  } as unknown as PostgresPort;
  const ex = new SlotsExecutor({
    name: "node1",
    pg,
    log: { info() {}, warn() {}, error() {}, debug() {} } as never,
    stopTimeoutS: 60,
    now: () => 0,
  });
  const beforeLock = cluster({ members: [member("node1"), member("node2"), member("node3")] });
  const published = await ex.primary(beforeLock, dyn({}), {}, { standbyCluster: false, myLsn: 1000 });
  assert.deepEqual(synced, [["node2", "node3"]]);
  assert.deepEqual(published, { node1: 1000, node2: 900, node3: 900 });
});
