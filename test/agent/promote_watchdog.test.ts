/**
 * Arming the watchdog and promoting: in `required` mode the server is promoted only once the device is
 * armed; in `automatic` mode (where a failed arming changes nothing) the device opens while the server
 * promotes, so a slow or absent device does not sit between the leader lock and the first write.
 */
import { AssertionError } from "node:assert";
import { SimCluster } from "../../src/sim/cluster.ts";

function ok(cond: boolean, what: string): void {
  if (!cond) throw new AssertionError({ message: what });
}

async function leaderDiesWithSlowDevices(mode: "automatic" | "required") {
  const device = await Deno.makeTempFile({ prefix: "pgwarden-watchdog-" }); // exists: `required` checks it
  const c = new SimCluster({
    dcs: { ttl: 10, loopWait: 2, retryTimeout: 3 },
    watchdog: true,
    member: () => ({ watchdog: { mode, device } }),
  });
  c.start();
  for (let i = 0; i < 200 && c.notConverged() !== null; i++) await c.advance(500);
  ok(c.notConverged() === null, `bootstrap did not converge: ${c.notConverged()}`);
  const old = c.leaderName()!;
  const held: (() => void)[] = [];
  const promoted: string[] = [];
  for (const n of c.nodes.filter((n) => n.name !== old)) {
    const dev = n.watchdogDevice!;
    const open = dev.open.bind(dev);
    dev.open = () => new Promise<void>((resolve) => held.push(() => open().then(resolve)));
    const promote = n.pg.promote.bind(n.pg);
    n.pg.promote = (timeoutS: number) => {
      promoted.push(n.name);
      return promote(timeoutS);
    };
  }
  c.node(old)!.kill();
  for (let i = 0; i < 300 && held.length === 0; i++) await c.advance(100);
  ok(held.length > 0, "no replica took the lock and armed its watchdog within 30 s");
  await c.advance(1000); // the device still has not answered
  return {
    c,
    promoted,
    release: async () => {
      for (const r of held.splice(0)) r();
      await c.advance(1000);
    },
    cleanup: async () => {
      c.close();
      await Deno.remove(device);
    },
  };
}

Deno.test("promotion: automatic mode promotes while the watchdog device is still opening", async () => {
  const t = await leaderDiesWithSlowDevices("automatic");
  try {
    ok(t.promoted.length === 1, `promoted before the device answered: ${JSON.stringify(t.promoted)}`);
    await t.release();
  } finally {
    await t.cleanup();
  }
});

Deno.test("promotion: required mode waits for the watchdog device before promoting", async () => {
  const t = await leaderDiesWithSlowDevices("required");
  try {
    ok(t.promoted.length === 0, `promoted before the device answered: ${JSON.stringify(t.promoted)}`);
    await t.release();
    ok(t.promoted.length === 1, `promoted after the device answered: ${JSON.stringify(t.promoted)}`);
  } finally {
    await t.cleanup();
  }
});

Deno.test("promotion: with synchronous mode off, nothing is asked of PostgreSQL about SSN during the race", async () => {
  const c = new SimCluster({ dcs: { ttl: 10, loopWait: 2, retryTimeout: 3 } });
  const asked = new Map<string, number>();
  const atPromote = new Map<string, number>();
  for (const n of c.nodes) {
    const show = n.pg.synchronousStandbyNames.bind(n.pg);
    n.pg.synchronousStandbyNames = () => {
      asked.set(n.name, (asked.get(n.name) ?? 0) + 1);
      return show();
    };
    const promote = n.pg.promote.bind(n.pg);
    n.pg.promote = (timeoutS: number) => {
      atPromote.set(n.name, asked.get(n.name) ?? 0);
      return promote(timeoutS);
    };
  }
  c.start();
  try {
    for (let i = 0; i < 200 && c.notConverged() !== null; i++) await c.advance(500);
    ok(c.notConverged() === null, `bootstrap did not converge: ${c.notConverged()}`);
    await c.advance(5000);
    const old = c.leaderName()!;
    const before = new Map(asked);
    for (const n of c.nodes) {
      if (n.name !== old) {
        ok((before.get(n.name) ?? 0) === 1, `${n.name} asked ${before.get(n.name)} times while a replica`);
      }
    }
    atPromote.clear();
    c.node(old)!.kill();
    for (let i = 0; i < 300 && atPromote.size === 0; i++) await c.advance(100);
    ok(atPromote.size === 1, "no replica promoted within 30 s");
    const [name, n] = [...atPromote][0]!;
    ok(
      n === before.get(name),
      `${name} asked about SSN ${n - (before.get(name) ?? 0)} times before promoting`,
    );
  } finally {
    c.close();
  }
});
