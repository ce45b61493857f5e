/** `ctl simulate`: scenario timelines on the user's timings, and the command wiring. */
import { AssertionError } from "node:assert";
import { Command } from "commander";
import { ConfigSchema } from "../../src/config/schema.ts";
import type { DynamicConfigInput } from "../../src/config/dynamic.ts";
import { formatScenario, runScenario, type ScenarioResult } from "../../src/ctl/simulate.ts";
import { registerSimulate } from "../../src/ctl/simulate_cmd.ts";

function config(dcs: DynamicConfigInput) {
  return ConfigSchema.parse({
    name: "pg1",
    scope: "demo",
    memory: {},
    restapi: { listen: "127.0.0.1:8008" },
    postgresql: { listen: "127.0.0.1:5432", dataDir: "/tmp/unused" },
    bootstrap: { dcs },
  });
}

function check(cond: boolean, r: ScenarioResult, what: string): void {
  if (!cond) throw new AssertionError({ message: `${what}\n${formatScenario(r)}` });
}

/** First timeline entry of `member` whose message contains `text`, at or after `from`. */
function when(r: ScenarioResult, member: string, text: string, from = 0): number | null {
  return r.timeline.find((e) => e.member === member && e.message.includes(text) && e.t >= from)?.t ?? null;
}

const PATRONI_DEFAULTS = { ttl: 30, loopWait: 10, retryTimeout: 10 };

for (const dcs of [PATRONI_DEFAULTS, { ttl: 10, loopWait: 2, retryTimeout: 3 }]) {
  Deno.test(`simulate leader-death (ttl ${dcs.ttl}): a new leader after about ttl`, async () => {
    const r = await runScenario(config(dcs), "leader-death");
    check(r.converged && r.leaderAfter !== r.leaderBefore, r, "expected a new leader and convergence");
    const after = r.newLeaderAt! - r.faultAt;
    // The lock expires ttl after the dead leader's last renewal, which was at most loop_wait before it died.
    check(after > dcs.ttl - dcs.loopWait && after <= dcs.ttl + 1, r, `new leader after ${after} s`);
    check(
      when(r, r.leaderAfter!, "promoted self to leader by acquiring session lock", r.faultAt) !== null,
      r,
      "no promotion",
    );
    const back = when(r, r.leaderBefore, "a secondary, and following a leader", r.healedAt);
    check(back !== null, r, "the old leader did not come back as a replica");
  });
}

Deno.test("simulate dcs-outage: the leader demotes within loop_wait and nobody else promotes", async () => {
  const r = await runScenario(config(PATRONI_DEFAULTS), "dcs-outage");
  const demoted = when(r, r.leaderBefore, "demoted self because DCS is not accessible", r.faultAt);
  check(demoted !== null && demoted - r.faultAt <= PATRONI_DEFAULTS.loopWait, r, `demoted at ${demoted}`);
  check(r.newLeaderAt === null || r.newLeaderAt >= r.healedAt, r, "a leader was elected during the outage");
  check(r.converged, r, "no convergence after the outage");
});

Deno.test("simulate dcs-outage with failsafe_mode: the leader keeps running", async () => {
  const r = await runScenario(config({ ...PATRONI_DEFAULTS, failsafeMode: true }), "dcs-outage");
  check(when(r, r.leaderBefore, "demoted self", r.faultAt) === null, r, "demoted despite failsafe");
  check(
    when(r, r.leaderBefore, "failsafe mode is enabled and all members are accessible", r.faultAt) !== null,
    r,
    "no failsafe",
  );
  check(r.converged && r.leaderAfter === r.leaderBefore, r, "leader changed");
});

Deno.test("simulate partition: the cut-off leader demotes before another member takes over", async () => {
  const r = await runScenario(config(PATRONI_DEFAULTS), "partition");
  const demoted = when(r, r.leaderBefore, "demoted self because DCS is not accessible", r.faultAt);
  check(demoted !== null && r.newLeaderAt !== null && demoted < r.newLeaderAt, r, "demotion must come first");
  check(r.converged, r, "no convergence");
});

Deno.test("simulate agent-pause: replaced after ttl, the resumed ex-leader demotes and follows", async () => {
  const r = await runScenario(config(PATRONI_DEFAULTS), "agent-pause");
  check(
    r.newLeaderAt !== null && r.newLeaderAt - r.faultAt <= PATRONI_DEFAULTS.ttl + 1,
    r,
    "no timely new leader",
  );
  const demoted = when(r, r.leaderBefore, "demoting self because I do not have the lock", r.healedAt);
  check(demoted !== null, r, "the resumed ex-leader did not demote");
  check(r.converged, r, "no convergence");
});

Deno.test("ctl simulate <config> --scenario: prints the timeline of a Patroni YAML config", async () => {
  const out: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => out.push(a.join(" "));
  try {
    const program = new Command("ctl").exitOverride();
    registerSimulate(program);
    await program.parseAsync(
      ["simulate", "test/fixtures/patroni/upstream/postgres0.yml", "--scenario", "leader-death"],
      { from: "user" },
    );
  } finally {
    console.log = log;
  }
  const text = out.join("\n");
  if (!/^scenario leader-death: new leader after \d+\.\d s; converged with leader node\d/.test(text)) {
    throw new AssertionError({ message: `unexpected output:\n${text}` });
  }
  if (!/\d+\.\ds {2}node\d {3}promoted self to leader by acquiring session lock/.test(text)) {
    throw new AssertionError({ message: `no promotion line:\n${text}` });
  }
});

Deno.test("ctl simulate rejects an unknown scenario", async () => {
  const program = new Command("ctl").exitOverride().configureOutput({ writeErr: () => {} });
  registerSimulate(program);
  let code: string | undefined;
  try {
    await program.parseAsync(["simulate", "x.yml", "--scenario", "meteor"], { from: "user" });
  } catch (e) {
    code = (e as { code?: string }).code;
  }
  if (code !== "commander.invalidArgument") throw new AssertionError({ message: `got ${code}` });
});
