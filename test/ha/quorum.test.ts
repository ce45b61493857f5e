/**
 * Quorum resolver: hand-checked plans, then a randomized replay of every prefix of every plan against an
 * independent brute-force durability check (no candidate can collect enough votes without holding every
 * acknowledged commit), and convergence to the steady state.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { QuorumError, type QuorumInput, resolveQuorum, type Transition } from "../../src/ha/quorum.ts";
import { parseSsn, prePromoteQuorum } from "../../src/ha/sync.ts";
import { Prng } from "../../src/sim/prng.ts";

const t = (type: Transition["type"], num: number, names: string[], leader = "a"): Transition => ({
  type,
  leader,
  num,
  names,
});

function input(p: Partial<QuorumInput>): QuorumInput {
  return {
    leader: "a",
    quorum: 0,
    voters: [],
    numsync: 0,
    sync: [],
    numsyncConfirmed: 0,
    active: [],
    syncWanted: 1,
    leaderWanted: "a",
    ...p,
  };
}

Deno.test("quorum: hand-checked transitions", async (s) => {
  await s.step("steady state: nothing to do", () => {
    assertEquals(
      resolveQuorum(
        input({
          quorum: 1,
          voters: ["b", "c"],
          numsync: 1,
          sync: ["b", "c"],
          numsyncConfirmed: 1,
          active: ["b", "c"],
        }),
      ),
      [],
    );
  });
  await s.step("empty SSN: nodes go to SSN first; voters wait until someone is confirmed", () => {
    // Then a restart hint: re-read once PostgreSQL reports them synchronous.
    assertEquals(resolveQuorum(input({ active: ["b", "c"] })), [
      t("sync", 1, ["b", "c"]),
      t("restart", 0, []),
    ]);
  });
  await s.step("SSN listed, nobody confirmed yet: restart hint (re-read soon)", () => {
    assertEquals(resolveQuorum(input({ numsync: 1, sync: ["b", "c"], active: ["b", "c"] })), [
      t("restart", 0, []),
    ]);
  });
  await s.step("SSN listed and confirmed: voters follow with quorum |active| - numsync", () => {
    assertEquals(
      resolveQuorum(input({ numsync: 1, sync: ["b", "c"], numsyncConfirmed: 1, active: ["b", "c"] })),
      [
        t("quorum", 1, ["b", "c"]),
      ],
    );
  });
  await s.step("a new node joins voters (quorum raised) before SSN", () => {
    assertEquals(
      resolveQuorum(
        input({ quorum: 0, voters: ["b"], numsync: 1, sync: ["b"], numsyncConfirmed: 1, active: ["b", "c"] }),
      ),
      [t("quorum", 1, ["b", "c"]), t("sync", 1, ["b", "c"])],
    );
  });
  await s.step("a node goes away: removed from SSN and voters, quorum lowered", () => {
    assertEquals(
      resolveQuorum(
        input({
          quorum: 1,
          voters: ["b", "c"],
          numsync: 1,
          sync: ["b", "c"],
          numsyncConfirmed: 1,
          active: ["b"],
        }),
      ),
      [t("sync", 1, ["b"]), t("quorum", 0, ["b"])],
    );
  });
  await s.step("everyone gone: voters cleared before SSN", () => {
    assertEquals(
      resolveQuorum(
        input({
          quorum: 1,
          voters: ["b", "c"],
          numsync: 1,
          sync: ["b", "c"],
          numsyncConfirmed: 1,
          active: [],
        }),
      ),
      [t("quorum", 0, []), t("sync", 0, [])],
    );
  });
  await s.step("replication factor raised: SSN first, then quorum lowered", () => {
    assertEquals(
      resolveQuorum(
        input({
          quorum: 1,
          voters: ["b", "c"],
          numsync: 1,
          sync: ["b", "c"],
          numsyncConfirmed: 2,
          active: ["b", "c"],
          syncWanted: 2,
        }),
      ),
      [t("sync", 2, ["b", "c"]), t("quorum", 0, ["b", "c"])],
    );
  });
  await s.step("replication factor lowered: quorum raised first, then SSN", () => {
    assertEquals(
      resolveQuorum(
        input({
          quorum: 0,
          voters: ["b", "c"],
          numsync: 2,
          sync: ["b", "c"],
          numsyncConfirmed: 2,
          active: ["b", "c"],
          syncWanted: 1,
        }),
      ),
      [t("quorum", 1, ["b", "c"]), t("sync", 1, ["b", "c"])],
    );
  });
  await s.step("after a failover the old leader becomes a voter and we take the key", () => {
    const ssn = parseSsn(
      prePromoteQuorum({ me: "b", syncKey: { leader: "a", sync_standby: "b,c", quorum: 1 }, strict: false })!,
    );
    assertEquals(ssn.members, ["a", "c"]);
    const plan = resolveQuorum({
      leader: "a",
      quorum: 1,
      voters: ["b", "c"],
      numsync: ssn.num,
      sync: ssn.members,
      numsyncConfirmed: 0,
      active: ["c"],
      syncWanted: 1,
      leaderWanted: "b",
    });
    assertEquals(plan[0], t("quorum", 1, ["a", "c"], "b"));
  });
});

// ---- randomized replay ------------------------------------------------------------------------------

interface World {
  /** The running primary (leader_wanted). */
  primary: string;
  keyLeader: string;
  quorum: number;
  voters: string[];
  numsync: number;
  sync: string[];
}

function combos<T>(xs: T[], k: number): T[][] {
  if (k === 0) return [[]];
  if (xs.length < k) return [];
  const [h, ...rest] = xs;
  return [...combos(rest, k - 1).map((c) => [h!, ...c]), ...combos(rest, k)];
}

/**
 * Independent durability check: a commit is acknowledged by the primary plus any `numsync` SSN members; the
 * primary then dies. Can some other node without that commit win a race? It starts with 0 votes when in the
 * voting set (key leader + voters), else -1, and every voter without the commit (not the dead primary) votes.
 */
function unsafe(w: World, nodes: string[]): string | null {
  const votingSet = new Set([...w.voters, w.keyLeader]);
  if (w.voters.length === 0 && w.quorum === 0) {
    // Nobody recorded: only the key leader may win (as the recorded leader), and it is the primary.
    return w.keyLeader === w.primary ? null : `key leader ${w.keyLeader} is not the primary`;
  }
  for (const acked of combos(w.sync, Math.min(w.numsync, w.sync.length))) {
    for (const x of nodes) {
      if (x === w.primary || acked.includes(x)) continue;
      const start = votingSet.has(x) ? 0 : -1;
      const votes = [...votingSet].filter((v) => v !== x && v !== w.primary && !acked.includes(v)).length;
      if (start + votes >= w.quorum) {
        return `${x} wins with ${start + votes} votes >= quorum ${w.quorum} missing a commit acked by ` +
          `${w.primary}+[${acked}] (${JSON.stringify(w)})`;
      }
    }
  }
  return null;
}

function apply(w: World, tr: Transition): World {
  if (tr.type === "quorum") return { ...w, keyLeader: tr.leader, quorum: tr.num, voters: tr.names };
  if (tr.type === "sync") return { ...w, numsync: tr.num, sync: tr.names };
  return w;
}

const NODES = ["a", "b", "c", "d", "e"];

function steady(w: World, active: string[], wanted: number): boolean {
  const numsync = Math.min(wanted, active.length);
  return JSON.stringify([w.sync, w.voters]) === JSON.stringify([active, active]) && w.numsync === numsync &&
    w.quorum === (active.length ? active.length - numsync : 0);
}

Deno.test("quorum: every prefix of every plan keeps acknowledged commits durable, and plans converge", () => {
  const rng = new Prng(20260101);
  let plans = 0, steps = 0;
  for (let round = 0; round < 400; round++) {
    let w: World = { primary: "a", keyLeader: "a", quorum: 0, voters: [], numsync: 0, sync: [] };
    for (let change = 0; change < 6; change++) {
      const others = NODES.filter((n) => n !== "a");
      const active = others.filter(() => rng.chance(0.6)).sort();
      const wanted = rng.int(1, 3);
      let converged = false;
      for (let iter = 0; iter < 12 && !converged; iter++) {
        const inSyncActive = w.sync.filter((n) => active.includes(n)).length;
        // Sometimes standbys have not confirmed yet (just added to SSN).
        const confirmed = rng.chance(0.25) ? 0 : Math.min(inSyncActive, w.numsync);
        const plan = resolveQuorum({
          leader: w.keyLeader,
          quorum: w.quorum,
          voters: w.voters,
          numsync: w.numsync,
          sync: w.sync,
          numsyncConfirmed: confirmed,
          active,
          syncWanted: wanted,
          leaderWanted: w.primary,
        });
        plans++;
        // A CAS failure may cut any plan short: every prefix must be safe.
        const cut = rng.chance(0.2) ? rng.int(0, plan.length) : plan.length;
        for (const tr of plan.slice(0, cut)) {
          if (tr.type === "restart") break;
          w = apply(w, tr);
          steps++;
          const bad = unsafe(w, NODES);
          assert(bad === null, `after ${JSON.stringify(tr)} of ${JSON.stringify(plan)}: ${bad}`);
        }
        converged = plan.length === 0 && steady(w, active, wanted);
      }
      assert(converged, `no convergence to active=${active} wanted=${wanted}: ${JSON.stringify(w)}`);
    }
  }
  assert(plans > 1000 && steps > 1000, `too little exercised: ${plans} plans, ${steps} steps`);
});

Deno.test("quorum: failover plans are safe once the new leader took the key", () => {
  const rng = new Prng(7);
  for (let round = 0; round < 300; round++) {
    // A steady cluster led by "a" with some of b..e active.
    const active = ["b", "c", "d", "e"].filter(() => rng.chance(0.7));
    if (active.length === 0) continue;
    const wanted = rng.int(1, active.length);
    const quorum = active.length - Math.min(wanted, active.length);
    // One voter wins the race and promotes with the pre-promote SSN.
    const me = rng.pick(active);
    const ssn = prePromoteQuorum({
      me,
      syncKey: { leader: "a", sync_standby: active.join(","), quorum },
      strict: false,
    });
    const parsed = ssn ? parseSsn(ssn) : { num: 0, members: [] as string[] };
    let w: World = {
      primary: me,
      keyLeader: "a",
      quorum,
      voters: active,
      numsync: parsed.num,
      sync: parsed.members,
    };
    const nowActive = [
      ...active.filter((n) => n !== me && rng.chance(0.8)),
      ...(rng.chance(0.5) ? ["a"] : []),
    ].sort();
    for (let iter = 0; iter < 12; iter++) {
      const plan = resolveQuorum({
        leader: w.keyLeader,
        quorum: w.quorum,
        voters: w.voters,
        numsync: w.numsync,
        sync: w.sync,
        numsyncConfirmed: w.sync.filter((n) => nowActive.includes(n)).length,
        active: nowActive,
        syncWanted: wanted,
        leaderWanted: me,
      });
      if (plan.length === 0) break;
      for (const tr of plan) {
        if (tr.type === "restart") break;
        w = apply(w, tr);
        if (w.keyLeader === me) {
          const bad = unsafe(w, NODES);
          assert(bad === null, `after ${JSON.stringify(tr)}: ${bad}`);
        }
      }
    }
    assertEquals(w.keyLeader, me);
  }
});

Deno.test("quorum: a broken state (voters and SSN disjoint) is repaired from SSN first", () => {
  const plan = resolveQuorum(
    input({ quorum: 0, voters: ["b"], numsync: 1, sync: ["c"], numsyncConfirmed: 1, active: ["b", "c"] }),
  );
  // Voters first follow SSN ({c}); that write merges with adding b to the voters, then b joins SSN.
  assertEquals(plan, [t("quorum", 1, ["b", "c"]), t("sync", 1, ["b", "c"])]);
  let thrown: unknown;
  try {
    resolveQuorum(
      input({ quorum: 3, voters: ["b"], numsync: 1, sync: ["b"], active: ["b"], leaderWanted: "c" }),
    );
  } catch (e) {
    thrown = e;
  }
  assert(thrown instanceof QuorumError, `expected a QuorumError, got ${thrown}`);
});
