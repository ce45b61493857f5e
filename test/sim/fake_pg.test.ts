/**
 * The simulated PostgreSQL's WAL semantics, which every simulation verdict rests on: replication with a
 * tick of delay, promotion bumps the timeline, an ex-primary that wrote past the switch point needs
 * pg_rewind, a clean stop hands the shutdown checkpoint to streaming replicas, crashes abort operations.
 */
import { AssertionError } from "node:assert";
import { commonPrefix, type FakePg, PgWorld, type Segment, walPrefix } from "../../src/sim/fake_pg.ts";
import { VirtualClock } from "../../src/util/clock.ts";

function eq<T>(actual: T, expected: T, what: string): void {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) {
    throw new AssertionError({
      message: `${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`,
    });
  }
}

/** A world with a primary (a) and two streaming replicas (b, c), all on timeline 1. */
async function world() {
  const clock = new VirtualClock(0);
  const w = new PgWorld(clock, { writeBytes: 100 });
  const [a, b, c] = ["a", "b", "c"].map((n, i) => w.add(n, "10.0.0.1", 5432 + i)) as [FakePg, FakePg, FakePg];
  const run = async <T>(p: Promise<T>, ms = 10_000): Promise<T> => {
    await clock.advance(ms);
    return await p;
  };
  const ticks = (n: number) => {
    for (let i = 0; i < n; i++) w.tick();
  };
  await run(a.bootstrap());
  for (const r of [b, c]) {
    await run(r.createReplica({ host: a.host, port: a.port }));
    await run(r.start({ role: "replica", upstream: { host: a.host, port: a.port }, timeoutS: 30 }));
  }
  return { clock, w, a, b, c, run, ticks };
}

const seg = (branch: number, from: number, to: number): Segment => ({ branch, timeline: 1, from, to });

Deno.test("fake pg: commonPrefix and walPrefix follow writer branches", () => {
  eq(commonPrefix([seg(1, 0, 100)], [seg(1, 0, 60)]), 60, "a prefix");
  eq(commonPrefix([seg(1, 0, 100), seg(2, 100, 150)], [seg(1, 0, 120)]), 100, "fork at 100");
  eq(commonPrefix([seg(1, 0, 100)], [seg(3, 0, 100)]), 0, "different from the start");
  eq(walPrefix([seg(1, 0, 100), seg(2, 100, 150)], 120), [seg(1, 0, 100), seg(2, 100, 120)], "cut");
});

Deno.test("fake pg: replicas stream one tick behind the primary", async () => {
  const { a, b, ticks } = await world();
  ticks(5);
  eq(b.state().replicationState, "streaming", "replication state");
  eq(a.end - b.end, 100, "one tick of delay");
  eq(a.state().replication.map((r) => r.application_name).sort(), ["b", "c"], "pg_stat_replication");
});

Deno.test("fake pg: promotion bumps the timeline; the old primary that wrote past it needs rewind", async () => {
  const { a, b, c, run, ticks } = await world();
  ticks(3);
  a.crash(); // a had one tick of WAL that b never received
  eq(a.state().controlState, "in production", "crashed primary's pg_control");
  ticks(1);
  eq(await run(b.promote(10)), true, "promote");
  eq([b.timeline, b.state().inRecovery], [2, false], "b after promotion");
  await b.follow(null);
  await c.follow({ host: b.host, port: b.port });
  ticks(2);
  eq([c.state().replicationState, c.timeline], ["streaming", 2], "c follows the new timeline");
  eq(await a.needsRewind({ host: b.host, port: b.port }), true, "a diverged");
  eq(await c.needsRewind({ host: b.host, port: b.port }), false, "c did not");
  // Starting a diverged replica: it runs but cannot stream.
  await run(a.start({ role: "replica", upstream: { host: b.host, port: b.port }, timeoutS: 30 }));
  ticks(2);
  eq(a.state().replicationState, "in archive recovery", "diverged replica does not stream");
  await run(a.stop("fast", 10));
  eq(await run(a.rewind({ host: b.host, port: b.port })), true, "rewind");
  await run(a.start({ role: "replica", upstream: { host: b.host, port: b.port }, timeoutS: 30 }));
  ticks(2);
  eq([a.state().replicationState, a.timeline], ["streaming", 2], "rewound a streams");
});

Deno.test("fake pg: a clean stop hands the shutdown checkpoint to streaming replicas (lossless switchover)", async () => {
  const { a, b, run, ticks } = await world();
  ticks(4);
  await run(a.stop("fast", 10));
  eq(b.end, a.end, "b has everything a wrote");
  eq(await run(b.promote(10)), true, "promote");
  eq(await a.needsRewind({ host: b.host, port: b.port }), false, "a can follow without rewind");
});

Deno.test("fake pg: an immediate stop does not flush", async () => {
  const { a, b, run, ticks } = await world();
  ticks(4);
  await run(a.stop("immediate", 10));
  eq(a.end - b.end, 100, "the last tick is only on a");
});

Deno.test("fake pg: a crash aborts a running operation; slow disks stretch operations", async () => {
  const { a, b, clock } = await world();
  b.slow = 10;
  const p = b.promote(10);
  await clock.advance(300);
  eq(b.state().inRecovery, true, "not promoted yet after 300 ms at x10");
  b.crash();
  await clock.advance(5000);
  let error = "";
  await p.catch((e) => (error = (e as Error).name));
  eq(error, "FakePgCrashedError", "the operation failed");
  eq([b.state().running, a.writable], [false, true], "b down, a untouched");
});

Deno.test("fake pg: start times out but PostgreSQL keeps starting", async () => {
  const { b, run, clock } = await world();
  await run(b.stop("fast", 10));
  b.slow = 10; // start takes 15 s
  eq(await run(b.start({ role: "replica", upstream: null, timeoutS: 5 }), 6_000), false, "timed out");
  eq([b.state().running, b.state().accepting], [true, false], "still starting");
  await clock.advance(10_000);
  eq(b.state().accepting, true, "accepting later");
});
