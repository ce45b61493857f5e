/** Restart request filters and the scheduled-restart step, as Patroni evaluates them. */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import {
  fromScheduled,
  restartFilterFailure,
  scheduledRestartStep,
  toScheduled,
} from "../../src/agent/scheduled_restart.ts";

const facts = { role: "replica", pendingRestart: false, serverVersion: 150004 };
const NOT = "restart conditions are not satisfied";

Deno.test("restart filters: role, restart_pending presence, postgres_version lower than running", () => {
  assertEquals(restartFilterFailure({}, facts), null);
  assertEquals(restartFilterFailure({ role: "primary" }, facts), NOT);
  assertEquals(restartFilterFailure({ role: "replica" }, facts), null);
  assertEquals(restartFilterFailure({ restartPending: false }, facts), NOT);
  assertEquals(restartFilterFailure({ restartPending: true }, { ...facts, pendingRestart: true }), null);
  assertEquals(restartFilterFailure({ postgresVersion: "15.4" }, facts), NOT);
  assertEquals(restartFilterFailure({ postgresVersion: "15.5" }, facts), null);
  assertEquals(restartFilterFailure({ postgresVersion: "16.0" }, facts), null);
});

Deno.test("scheduled restart: kept in Patroni's field names, round trip", () => {
  const s = toScheduled(
    { schedule: "2030-01-01T00:00:00+00:00", role: "replica", restartPending: true, timeoutS: 30 },
    "2029-12-31 10:00:00+00",
  );
  assertEquals(s, {
    schedule: "2030-01-01T00:00:00+00:00",
    postmaster_start_time: "2029-12-31 10:00:00+00",
    role: "replica",
    restart_pending: true,
    timeout: 30,
  });
  assertEquals(fromScheduled(s), {
    schedule: "2030-01-01T00:00:00+00:00",
    role: "replica",
    restartPending: true,
    timeoutS: 30,
  });
});

Deno.test("scheduled restart step: wait until within loop_wait, run, stale past 1.5 loop_wait, cancelled by a restart", () => {
  const at = Date.parse("2030-01-01T00:00:00Z");
  const s = toScheduled({ schedule: new Date(at).toISOString() }, "pst-1");
  assertEquals(scheduledRestartStep(s, at - 30_000, 10, "pst-1"), { kind: "wait", inS: 30 });
  assertEquals(scheduledRestartStep(s, at - 4_000, 10, "pst-1"), { kind: "run", delayMs: 4000 });
  assertEquals(scheduledRestartStep(s, at + 14_000, 10, "pst-1"), { kind: "run", delayMs: 0 });
  assertEquals(scheduledRestartStep(s, at + 16_000, 10, "pst-1"), { kind: "stale" });
  assertEquals(scheduledRestartStep(s, at - 4_000, 10, "pst-2"), { kind: "cancelled" });
  assertEquals(scheduledRestartStep(s, at - 4_000, 10, null), { kind: "run", delayMs: 4000 });
});
