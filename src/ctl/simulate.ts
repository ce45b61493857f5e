/**
 * `ctl simulate`: replay a failure scenario on three simulated members that use the timings and dynamic
 * settings of the user's `bootstrap.dcs`, on virtual time, and print what each member decided when. Shows
 * what ttl / loop_wait / retry_timeout mean for failover time before trying it on real machines.
 */
import type { Config } from "../config/schema.ts";
import type { DynamicConfigInput } from "../config/dynamic.ts";
import { SIM_START_MS, SimCluster } from "../sim/cluster.ts";

export const SCENARIOS = ["leader-death", "dcs-outage", "partition", "agent-pause"] as const;
export type Scenario = typeof SCENARIOS[number];

export interface TimelineEntry {
  /** Virtual seconds since the simulated cluster started. */
  t: number;
  /** Member name, or `-` for an event of the simulation itself. */
  member: string;
  message: string;
}

export interface ScenarioResult {
  scenario: Scenario;
  timeline: TimelineEntry[];
  /** When the fault was injected / healed (virtual seconds). */
  faultAt: number;
  healedAt: number;
  leaderBefore: string;
  /** Leader once the cluster converged again (null: it did not within the bound). */
  leaderAfter: string | null;
  /** First time after the fault that the leader key named another member (virtual seconds). */
  newLeaderAt: number | null;
  /** The cluster was one leader with every member following it at the end. */
  converged: boolean;
}

class ScenarioError extends Error {
  override name = "ScenarioError";
}

/** Run `scenario` on three members configured like `config` (its scope and `bootstrap.dcs`). */
export async function runScenario(config: Config, scenario: Scenario): Promise<ScenarioResult> {
  const dcs = config.bootstrap.dcs as DynamicConfigInput;
  const timeline: TimelineEntry[] = [];
  const last = new Map<string, string>();
  const c = new SimCluster({
    nodes: 3,
    scope: config.scope,
    dcs,
    onDecision: (member, d) => {
      if (last.get(member) === d.message) return;
      last.set(member, d.message);
      timeline.push({ t: round((d.at - SIM_START_MS) / 1000), member, message: d.message });
    },
  });
  const ttlMs = dcs.ttl! * 1000, loopMs = dcs.loopWait! * 1000;
  const event = (message: string) => timeline.push({ t: round(c.elapsedS()), member: "-", message });
  const converge = async (boundMs: number) => {
    const until = c.now() + boundMs;
    let since: number | null = null;
    while (c.now() < until) {
      await c.advance(250);
      if (c.notConverged() === null) {
        since ??= c.now();
        if (c.now() - since >= loopMs) return true;
      } else since = null;
    }
    return false;
  };
  try {
    c.start();
    if (!(await converge(120_000 + 3 * loopMs))) {
      throw new ScenarioError(`the simulated cluster did not bootstrap: ${c.notConverged()}`);
    }
    const leaderBefore = c.leaderName()!;
    const leader = c.node(leaderBefore)!;
    const faultAt = round(c.elapsedS());
    let heal: () => void;
    let holdMs: number;
    switch (scenario) {
      case "leader-death":
        event(`FAULT: ${leaderBefore} dies (agent and PostgreSQL)`);
        leader.kill();
        heal = () => leader.start();
        holdMs = ttlMs + 4 * loopMs;
        break;
      case "dcs-outage":
        event("FAULT: the DCS stops answering");
        c.store.setAvailable(false, "hang");
        heal = () => c.store.setAvailable(true);
        holdMs = ttlMs + 2 * loopMs;
        break;
      case "partition":
        event(`FAULT: ${leaderBefore} is cut off from the DCS and the other members`);
        c.store.partition(leaderBefore, true);
        c.isolate(leaderBefore, true);
        heal = () => {
          c.store.partition(leaderBefore, false);
          c.isolate(leaderBefore, false);
        };
        holdMs = ttlMs + 4 * loopMs;
        break;
      case "agent-pause":
        event(`FAULT: the agent on ${leaderBefore} freezes (PostgreSQL keeps running)`);
        leader.pause();
        heal = () => leader.resume();
        holdMs = ttlMs + 4 * loopMs;
        break;
    }
    let newLeaderAt: number | null = null;
    const watchLeader = () => {
      const l = c.leaderName();
      if (newLeaderAt === null && l !== null && l !== leaderBefore) newLeaderAt = round(c.elapsedS());
    };
    c.onEvent = watchLeader;
    await c.advance(holdMs);
    heal();
    const healedAt = round(c.elapsedS());
    event("HEAL: the fault is over");
    const converged = await converge(4 * ttlMs + 12 * loopMs + 60_000);
    event(
      converged
        ? `converged: ${c.leaderName()} leads, every member follows`
        : `not converged: ${c.notConverged()}`,
    );
    // Decisions are stamped with the time their cycle started; events when they happened.
    timeline.sort((a, b) => a.t - b.t);
    return {
      scenario,
      timeline,
      faultAt,
      healedAt,
      leaderBefore,
      leaderAfter: converged ? c.leaderName() : null,
      newLeaderAt,
      converged,
    };
  } finally {
    c.close();
  }
}

function round(s: number): number {
  return Math.round(s * 10) / 10;
}

/** The timeline as text, one line per decision change: `  t=  42.0s  node2  message`. */
export function formatScenario(r: ScenarioResult): string {
  const width = Math.max(6, ...r.timeline.map((e) => e.member.length));
  const lines = r.timeline.map((e) =>
    `${e.t.toFixed(1).padStart(7)}s  ${e.member.padEnd(width)}  ${e.message}`
  );
  const summary = r.newLeaderAt === null
    ? `leader stayed ${r.leaderBefore}`
    : `new leader after ${(r.newLeaderAt - r.faultAt).toFixed(1)} s`;
  return `scenario ${r.scenario}: ${summary}; ${
    r.converged ? `converged with leader ${r.leaderAfter}` : "did not converge"
  }\n` +
    lines.join("\n");
}
