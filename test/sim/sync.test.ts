/**
 * Simulation of synchronous replication and failsafe mode: seeded runs with random faults in each synchronous
 * profile (the durability invariant — no member starts writing without every acknowledged commit — checked
 * after every event), plus deterministic scenarios for quorum promotion and DCS outages with failsafe on/off.
 */
import { AssertionError } from "node:assert";
import type { DynamicConfigInput } from "../../src/config/dynamic.ts";
import { SimCluster } from "../../src/sim/cluster.ts";
import { syncKeyNames } from "../../src/ha/sync.ts";
import { lostAcknowledgedCommit, SAFETY } from "./invariants.ts";
import { runSeed, SYNC_PROFILES } from "./run.ts";

const SEEDS = 60;

for (const profile of SYNC_PROFILES) {
  Deno.test(`simulation (${profile}): ${SEEDS} seeds with random faults lose no acknowledged commit`, async () => {
    let changes = 0;
    for (let seed = 1; seed <= SEEDS; seed++) {
      const r = await runSeed(seed, { sync: profile, nodes: 2 + (seed % 3) });
      if (!r.ok) throw new AssertionError({ message: r.failure! });
      changes += r.leaderChanges;
    }
    if (changes < SEEDS / 5) throw new AssertionError({ message: `only ${changes} leader changes` });
  });
}

Deno.test("simulation (strict): repeated kills of the primary lose nothing and the cluster recovers", async () => {
  for (let seed = 100; seed < 130; seed++) {
    const r = await runSeed(seed, { sync: "strict", faults: ["kill", "pg_crash"], maxFaults: 6 });
    if (!r.ok) throw new AssertionError({ message: r.failure! });
  }
});

/** A converged cluster with synchronous replication settled (the sync key lists standbys). */
async function settled(
  dcs: DynamicConfigInput,
  nodes: number,
  member?: (i: number) => Record<string, unknown>,
) {
  const c = new SimCluster({ nodes, dcs, ...(member ? { member } : {}) });
  c.world.trackDurability = true;
  const checks = [...SAFETY, lostAcknowledgedCommit];
  c.onEvent = () => {
    for (const check of checks) {
      const v = check(c);
      if (v) throw new AssertionError({ message: `${v}\n  at ${c.describe()}` });
    }
  };
  c.start();
  const syncKey = () => {
    const raw = c.store.rawGet(`${c.prefix}/sync`);
    return raw ? syncKeyNames(JSON.parse(raw)) : null;
  };
  for (let i = 0; i < 400; i++) {
    await c.advance(500);
    const k = syncKey();
    if (c.notConverged() === null && k && k.voters.length >= nodes - 2) break;
  }
  if (c.notConverged() !== null) throw new Error(`no convergence: ${c.notConverged()}`);
  return { c, syncKey };
}

Deno.test("simulation (quorum): after the leader dies, only a member of the voting set is promoted", async () => {
  // node4 never syncs (nosync): it streams but is no voter, so it may not win on its own.
  const dcs: DynamicConfigInput = { ttl: 10, loopWait: 2, retryTimeout: 3, synchronousMode: "quorum" };
  const { c, syncKey } = await settled(dcs, 4, (i) => (i === 4 ? { tags: { nosync: true } } : {}));
  try {
    for (let round = 0; round < 3; round++) {
      const before = syncKey()!;
      const leader = c.leaderName()!;
      if (before.leader !== leader.toLowerCase() || before.voters.includes("node4")) {
        throw new AssertionError({
          message: `unexpected sync key ${JSON.stringify(before)} with leader ${leader}`,
        });
      }
      c.node(leader)!.kill();
      let next: string | null = null;
      for (let i = 0; i < 120 && (next === null || next === leader); i++) {
        await c.advance(500);
        next = c.leaderName();
      }
      if (!next || next === leader) throw new AssertionError({ message: `no new leader: ${c.describe()}` });
      if (!before.voters.includes(next.toLowerCase())) {
        throw new AssertionError({ message: `${next} promoted but voters were ${before.voters}` });
      }
      c.node(leader)!.start();
      for (let i = 0; i < 200 && (c.notConverged() !== null || syncKey()!.voters.length < 2); i++) {
        await c.advance(500);
      }
      if (c.notConverged() !== null) {
        throw new AssertionError({ message: `no recovery: ${c.notConverged()}` });
      }
    }
  } finally {
    c.close();
  }
});

for (const failsafeMode of [true, false]) {
  Deno.test(
    `simulation: DCS down for 3 x ttl with failsafe_mode ${
      failsafeMode ? "on keeps the primary writable" : "off demotes it within ttl"
    }`,
    async () => {
      const ttl = 8;
      const dcs: DynamicConfigInput = { ttl, loopWait: 1, retryTimeout: 2, failsafeMode };
      const { c } = await settled(dcs, 3);
      try {
        // Let the leader publish /failsafe (it needs every member's api_url).
        await c.advance(5000);
        const leader = c.node(c.leaderName()!)!;
        const start = c.now();
        c.store.setAvailable(false, "refuse");
        let notWritableAt: number | null = null;
        let otherPrimary: string | null = null;
        c.onEvent = () => {
          if (!leader.pg.writable && notWritableAt === null) notWritableAt = c.now();
          for (const n of c.nodes) if (n !== leader && n.pg.writable) otherPrimary ??= n.name;
        };
        await c.advance(3 * ttl * 1000);
        c.store.setAvailable(true);
        if (otherPrimary) {
          throw new AssertionError({ message: `${otherPrimary} became primary during the outage` });
        }
        if (failsafeMode && notWritableAt !== null) {
          throw new AssertionError({
            message: `primary stopped being writable after ${(notWritableAt - start) / 1000} s`,
          });
        }
        if (!failsafeMode && (notWritableAt === null || notWritableAt - start > ttl * 1000)) {
          throw new AssertionError({ message: `primary still writable ${notWritableAt} (ttl ${ttl} s)` });
        }
        for (let i = 0; i < 120 && c.notConverged() !== null; i++) await c.advance(500);
        if (c.notConverged() !== null) {
          throw new AssertionError({ message: `no recovery: ${c.notConverged()}` });
        }
        if (failsafeMode && c.leaderName() !== leader.name) {
          throw new AssertionError({
            message: `leader changed to ${c.leaderName()} after a failsafe outage`,
          });
        }
      } finally {
        c.close();
      }
    },
  );
}
