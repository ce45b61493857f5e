/**
 * GET /patroni re-reads PostgreSQL (refreshPg) so a racing peer compares live positions; a reading begun a
 * moment ago, the agent's own cycle's included, is shared rather than queued behind on the one connection.
 */
import { AssertionError } from "node:assert";
import type { SimCluster } from "../../src/sim/cluster.ts";
import { withConvergedReplica } from "../helpers/sim.ts";
import type { SimNode } from "../../src/sim/node.ts";
import type { PgState } from "../../src/postgres/port.ts";
import { flushMicrotasks } from "../../src/util/clock.ts";

function eq(actual: unknown, expected: unknown, what: string): void {
  if (actual !== expected) throw new AssertionError({ message: `${what}: ${actual} !== ${expected}` });
}

/** A converged 3-member simulation and one of its replicas whose PostgreSQL readings we hold and count. */
function withHeldReplica(fn: (c: SimCluster, r: SimNode, held: Held) => Promise<void>): Promise<void> {
  return withConvergedReplica(async (c, replica) => {
    const held = new Held(replica);
    await fn(c, replica, held);
    held.releaseAll();
  });
}

/** Counts `observe()` calls of a member's PostgreSQL and keeps each answer until released. */
class Held {
  calls = 0;
  #pending: (() => void)[] = [];
  constructor(node: SimNode) {
    const real = node.pg.observe.bind(node.pg);
    node.pg.observe = () => {
      this.calls++;
      return new Promise<PgState>((resolve) => this.#pending.push(() => resolve(real())));
    };
  }
  releaseAll(): void {
    for (const r of this.#pending.splice(0)) r();
  }
}

Deno.test("refreshPg: two requests at once share one reading", async () => {
  await withHeldReplica(async (c, replica, held) => {
    await afterLoopReading(c, held);
    held.releaseAll();
    await c.clock.advance(100);
    const before = held.calls;
    const a = replica.agent!.refreshPg(1000);
    const b = replica.agent!.refreshPg(1000);
    await flushMicrotasks();
    eq(held.calls - before, 1, "readings for two simultaneous requests");
    held.releaseAll();
    await Promise.all([a, b]);
  });
});

Deno.test("refreshPg: shares the reading the HA cycle began, instead of queueing a second one", async () => {
  await withHeldReplica(async (c, replica, held) => {
    await afterLoopReading(c, held);
    held.releaseAll();
    await c.clock.advance(100);
    // The DCS hangs: the cycle reads PostgreSQL beside its DCS read, not after it.
    c.store.setAvailable(false);
    const before = held.calls;
    const cycle = replica.agent!.cycle();
    await flushMicrotasks();
    eq(held.calls - before, 1, "readings begun by a cycle whose DCS read hangs");
    const refresh = replica.agent!.refreshPg(1000);
    await flushMicrotasks();
    eq(held.calls - before, 1, "readings after a refresh while the cycle's reading runs");
    c.store.setAvailable(true);
    held.releaseAll();
    await refresh;
    for (let i = 0; i < 100; i++) {
      await c.clock.advance(100);
      held.releaseAll();
    }
    await cycle;
  });
});

Deno.test("refreshPg: a reading up to 50 ms old is reused, an older one is not", async () => {
  await withHeldReplica(async (c, replica, held) => {
    await afterLoopReading(c, held);
    held.releaseAll();
    const ask = async (what: string, expectNew: number) => {
      const before = held.calls;
      const p = replica.agent!.refreshPg(1000);
      await flushMicrotasks();
      eq(held.calls - before, expectNew, what);
      held.releaseAll();
      await p;
    };
    await c.clock.advance(100);
    await ask("new readings 100 ms after the last", 1);
    await c.clock.advance(49);
    await ask("new readings 49 ms after the last", 0);
    await c.clock.advance(2);
    await ask("new readings 51 ms after the last", 1);
  });
});

/** Advance until the agent's own loop begins a reading (the next is loop_wait later). */
async function afterLoopReading(c: SimCluster, held: Held): Promise<void> {
  const before = held.calls;
  for (let i = 0; i < 500 && held.calls === before; i++) await c.clock.advance(10);
  eq(held.calls > before, true, "the loop read PostgreSQL within 5 s");
}
