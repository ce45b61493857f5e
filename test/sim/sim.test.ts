/**
 * The seeded simulation inside `deno test`: 1000 seeds of 3 members with random faults, every safety
 * invariant checked after every event, convergence required after healing. A failure prints the seed, its
 * faults, the recent log and the replay command.
 */
import { AssertionError } from "node:assert";
import { SimCluster } from "../../src/sim/cluster.ts";
import { twoLeaders, unbackedLeader } from "./invariants.ts";
import { runSeed } from "./run.ts";

const SEEDS = 1000;

Deno.test(`simulation: ${SEEDS} seeds with random faults stay safe and converge`, async () => {
  let changes = 0, faults = 0, worst = 0;
  for (let seed = 1; seed <= SEEDS; seed++) {
    const r = await runSeed(seed);
    if (!r.ok) throw new AssertionError({ message: r.failure! });
    changes += r.leaderChanges;
    faults += r.faults.length;
    worst = Math.max(worst, r.convergeMs!);
  }
  // The faults must actually exercise failover, or the run proves nothing.
  if (changes < SEEDS / 4) {
    throw new AssertionError({ message: `only ${changes} leader changes in ${SEEDS} seeds` });
  }
  console.log(`${SEEDS} seeds, ${faults} faults, ${changes} leader changes, slowest convergence ${worst} ms`);
});

Deno.test("simulation: a seed replays identically", async () => {
  for (const seed of [7, 187, 2617]) {
    const a = await runSeed(seed);
    const b = await runSeed(seed);
    const strip = (r: typeof a) => JSON.stringify({ ...r, failure: undefined });
    if (strip(a) !== strip(b)) {
      throw new AssertionError({ message: `seed ${seed} differs:\n${strip(a)}\n${strip(b)}` });
    }
  }
});

/** A healthy 3-member cluster, bootstrapped and converged. */
async function healthy(): Promise<SimCluster> {
  const c = new SimCluster({ dcs: { ttl: 10, loopWait: 2, retryTimeout: 3 } });
  c.start();
  for (let i = 0; i < 200 && c.notConverged() !== null; i++) await c.advance(500);
  if (c.notConverged() !== null) throw new Error(`bootstrap did not converge: ${c.notConverged()}`);
  return c;
}

Deno.test("simulation checkers: a second primary that believes it holds the lock is a violation", async () => {
  const c = await healthy();
  try {
    if (twoLeaders(c) !== null || unbackedLeader(c) !== null) {
      throw new Error("violation in a healthy cluster");
    }
    const leader = c.node(c.leaderName()!)!;
    const other = c.nodes.find((n) => n !== leader)!;
    other.pause(); // freeze its agent so nothing undoes what we do by hand
    await c.advance(100);
    other.agent!.memory.leaderValidUntil = c.now() + 10_000;
    if (twoLeaders(c) !== null) throw new Error("a replica believing it leads is not yet two primaries");
    const failure = unbackedLeader(c);
    if (failure !== null) throw new Error(`a non-writable believer must not count: ${failure}`);
    const promoted = other.pg.promote(10);
    await c.advance(1000); // PostgreSQL operations take virtual time
    if (!(await promoted)) throw new Error("could not promote by hand");
    const v = twoLeaders(c);
    if (!v?.includes(leader.name) || !v.includes(other.name)) {
      throw new Error(`split brain not detected: ${v}`);
    }
    if (!unbackedLeader(c)?.includes(other.name)) throw new Error("unbacked belief not detected");
  } finally {
    c.close();
  }
});

Deno.test("simulation checkers: convergence needs every member streaming from the leader", async () => {
  const c = await healthy();
  try {
    const replica = c.nodes.find((n) => n.name !== c.leaderName())!;
    replica.pause();
    const stopped = replica.pg.stop("fast", 10);
    await c.advance(1000);
    await stopped;
    const why = c.notConverged();
    if (!why?.includes(replica.name)) throw new Error(`a stopped replica counted as converged: ${why}`);
  } finally {
    c.close();
  }
});
