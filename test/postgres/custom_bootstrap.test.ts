/** Custom bootstrap after-steps without a server: recovery settings, and when a restored cluster is promoted. */
import assert from "node:assert/strict";
import {
  awaitEndOfRecovery,
  recoveryPlan,
  type RecoveryProbe,
  type RecoveryWaitDeps,
} from "../../src/postgres/custom_bootstrap.ts";
import type { Clock } from "../../src/util/clock.ts";

/** Sleeping moves time at once: the wait loop runs through its probes without real delays. */
function instantClock(): Clock {
  let now = 0;
  return {
    now: () => now,
    sleep: (ms) => {
      now += ms;
      return Promise.resolve();
    },
  };
}

/** A server whose probes follow `script` (the last entry repeats); records promotions and log lines. */
function fakeServer(script: (RecoveryProbe | null)[], opts: { standby?: boolean; dies?: boolean } = {}) {
  let i = 0;
  let promotedAt: number | null = null;
  const logs: string[] = [];
  const clock = instantClock();
  const deps: RecoveryWaitDeps = {
    probe: () => {
      const p = script[Math.min(i++, script.length - 1)] ?? null;
      // After a promotion the server leaves recovery.
      if (promotedAt !== null && p) return Promise.resolve({ ...p, inRecovery: false });
      return Promise.resolve(p);
    },
    alive: () => Promise.resolve(!opts.dies),
    promote: () => {
      promotedAt = clock.now();
      return Promise.resolve();
    },
    standbyMode: () => Promise.resolve(opts.standby ?? false),
    clock,
    log: (_level, msg) => logs.push(msg),
  };
  return { deps, logs, promotedAt: () => promotedAt, probes: () => i };
}

const rec = (lsn: number, paused = false): RecoveryProbe => ({ inRecovery: true, paused, replayLsn: lsn });
const done: RecoveryProbe = { inRecovery: false, paused: false, replayLsn: null };

Deno.test("recovery settings: recovery_conf wins, then keep_existing_recovery_conf, else ours only", () => {
  assert.deepEqual(recoveryPlan({}), { keepExisting: false, settings: null, signal: null });
  assert.deepEqual(recoveryPlan({ keepExistingRecoveryConf: true }), {
    keepExisting: true,
    settings: null,
    signal: null,
  });
  assert.deepEqual(
    recoveryPlan({
      keepExistingRecoveryConf: true,
      recoveryConf: {
        restore_command: "cp /arch/%f %p",
        Recovery_Target_Time: "2025-01-01 00:00:00+00",
        recovery_target_inclusive: false,
        ignored: { nested: 1 },
      },
    }),
    {
      keepExisting: false,
      settings: {
        restore_command: "cp /arch/%f %p",
        recovery_target_time: "2025-01-01 00:00:00+00",
        recovery_target_inclusive: false,
      },
      signal: "recovery",
    },
  );
  // Patroni's pre-12 standby_mode picks the signal file and is not a setting.
  assert.deepEqual(recoveryPlan({ recoveryConf: { standby_mode: "on", restore_command: "x" } }), {
    keepExisting: false,
    settings: { restore_command: "x" },
    signal: "standby",
  });
});

Deno.test("end of recovery: recovery that ends by itself is not cut short", async () => {
  const s = fakeServer([null, null, rec(100), rec(200), rec(300), done]);
  assert.equal(await awaitEndOfRecovery(s.deps), "ended");
  assert.equal(s.promotedAt(), null);
  assert.equal(s.probes(), 6);
  assert.deepEqual(s.logs, ["waiting for end of recovery after bootstrap"]);
});

Deno.test("end of recovery: a server paused at its recovery target is promoted", async () => {
  const s = fakeServer([rec(100), rec(200, true)]);
  assert.equal(await awaitEndOfRecovery(s.deps), "promoted");
  assert.notEqual(s.promotedAt(), null);
  assert.ok(s.logs.some((l) => /paused at its target/.test(l)));
});

Deno.test("end of recovery: standby mode is promoted once replay stops moving, not while it moves", async () => {
  // Replay advances for 30 s (60 probes, 500 ms apart), then stalls.
  const moving = Array.from({ length: 60 }, (_, k) => rec(100 + k));
  const s = fakeServer([...moving, rec(999)], { standby: true });
  assert.equal(await awaitEndOfRecovery({ ...s.deps, stallMs: 10_000 }), "promoted");
  // Promoted 10 s after the last movement (probe 61 at 30 s), not before.
  assert.equal(s.promotedAt(), 30_000 + 10_000);

  // Without standby.signal the same stall is archive recovery still working: keep waiting.
  const t = fakeServer([...moving, rec(999), ...Array.from({ length: 100 }, () => rec(999)), done]);
  assert.equal(await awaitEndOfRecovery({ ...t.deps, stallMs: 10_000 }), "ended");
  assert.equal(t.promotedAt(), null);
});

Deno.test("end of recovery: a postmaster that dies fails the bootstrap", async () => {
  const s = fakeServer([rec(100), null], { dies: true });
  await assert.rejects(awaitEndOfRecovery(s.deps), /stopped while recovering/);
});
