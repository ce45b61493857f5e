/**
 * When the watch has already shown the leader key gone, a replica asks its peers for their positions beside
 * the cluster read instead of after it; the answers serve the race only if the proven snapshot has no leader
 * and the same members to ask.
 */
import { AssertionError } from "node:assert";
import type { SimCluster } from "../../src/sim/cluster.ts";
import { withConvergedReplica } from "../helpers/sim.ts";
import type { SimNode } from "../../src/sim/node.ts";
import type { ClusterSnapshot, Dcs, Member } from "../../src/dcs/types.ts";
import type { PeerClient } from "../../src/agent/peers.ts";

function eq(actual: unknown, expected: unknown, what: string): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new AssertionError({ message: `${what}: ${a} !== ${e}` });
}

/** One replica of a converged 3-member simulation, its DCS and peer calls recorded in order. */
async function withReplica(
  fn: (c: SimCluster, r: SimNode, events: string[], ctl: Control) => Promise<void>,
): Promise<void> {
  await withConvergedReplica(async (c, r) => {
    const events: string[] = [];
    const ctl: Control = { hint: null, rewrite: null };
    const deps = r.agent!.deps;
    const dcs = deps.dcs;
    const peers = deps.peers;
    deps.dcs = new Proxy(dcs, {
      get(t, prop) {
        if (prop === "leaderlessHint") return () => ctl.hint ?? dcs.leaderlessHint?.() ?? false;
        if (prop === "getCluster") {
          return async () => {
            events.push("getCluster");
            const s = await dcs.getCluster();
            events.push(`cluster leader=${s.leader?.name ?? "none"}`);
            return ctl.rewrite ? ctl.rewrite(s) : s;
          };
        }
        const v = Reflect.get(t, prop, t);
        return typeof v === "function" ? v.bind(t) : v;
      },
    }) as Dcs;
    deps.peers = {
      status: (members) => {
        events.push(`status ${members.map((m) => m.name).sort().join(",")}`);
        return peers.status(members);
      },
      failsafe: (t, b) => peers.failsafe(t, b),
    } satisfies PeerClient;
    await fn(c, r, events, ctl);
  });
}

/** One HA cycle of `r`, the virtual clock moved on while it waits (peer answers take simulated time). */
async function runCycle(c: SimCluster, r: SimNode) {
  let done = false;
  const p = r.agent!.cycle().finally(() => done = true);
  for (let i = 0; i < 200 && !done; i++) await c.advance(10);
  return await p;
}

interface Control {
  /** Force the hint (null: the store's own). */
  hint: boolean | null;
  /** Change what the cluster read returns. */
  rewrite: ((s: ClusterSnapshot) => ClusterSnapshot) | null;
}

const leaderless = (s: ClusterSnapshot): ClusterSnapshot => ({ ...s, leader: null });

Deno.test("hinted peers: the dead leader's key gone, the peers are asked before the cluster read, once", async () => {
  await withReplica(async (c, _r, events) => {
    c.nodes.find((n) => n.name === c.leaderName())!.kill();
    for (let i = 0; i < 400 && !events.includes("cluster leader=none"); i++) await c.advance(50);
    const race = events.indexOf("cluster leader=none");
    eq(race >= 0, true, "the replica saw the leader key gone");
    // Its cycle: [status, getCluster, cluster leader=none, <next cycle>] — asked first, not asked again.
    const start = events.lastIndexOf("getCluster", race) - 1;
    eq(events[start]?.startsWith("status "), true, `asked before the read: ${events.slice(start, race + 2)}`);
    eq(
      events[race + 1]?.startsWith("status ") ?? false,
      false,
      `asked again: ${events.slice(start, race + 2)}`,
    );
  });
});

Deno.test("hinted peers: no hint, the peers are asked after the cluster read", async () => {
  await withReplica(async (c, r, events, ctl) => {
    ctl.hint = false;
    ctl.rewrite = leaderless;
    await runCycle(c, r);
    const asks = events.flatMap((e, i) => e.startsWith("status ") ? [i] : []);
    eq(events[0], "getCluster", "the cycle starts with the read");
    eq(asks.length === 1 && asks[0]! > 1, true, `one ask, after the read: ${events}`);
  });
});

Deno.test("hinted peers: a proven snapshot with other members is asked again, with its members", async () => {
  await withReplica(async (c, r, events, ctl) => {
    ctl.hint = true;
    const extra: Member = {
      name: "newcomer",
      data: { state: "running", role: "replica", api_url: "http://127.0.0.1:1/patroni" },
      version: "1",
    } as Member;
    ctl.rewrite = (s) => ({ ...leaderless(s), members: [...s.members, extra] });
    await runCycle(c, r);
    const asks = events.filter((e) => e.startsWith("status"));
    const others = c.nodes.filter((n) => n !== r).map((n) => n.name).sort();
    eq(asks, [`status ${others.join(",")}`, `status ${[...others, "newcomer"].sort().join(",")}`], "asks");
  });
});

Deno.test("hinted peers: a proven snapshot with a leader is no race, the hinted answers are not used", async () => {
  await withReplica(async (c, r, events, ctl) => {
    ctl.hint = true;
    const d = await runCycle(c, r);
    eq(events.filter((e) => e.startsWith("status")).length, 1, "only the hinted ask");
    eq(d.action.type === "follow" || d.action.type === "none", true, `action ${d.action.type}`);
    eq(c.leaderName() !== r.name, true, "still a replica");
  });
});
