import assert from "node:assert/strict";
import { DcsDataError, DcsUnavailableError } from "../../src/dcs/errors.ts";
import { withRetry } from "../../src/dcs/retry.ts";
import { VirtualClock } from "../../src/util/clock.ts";

/** Run `p` while advancing virtual time in 10 ms steps; returns its outcome and the virtual time taken. */
async function drive<T>(clock: VirtualClock, p: Promise<T>, limitMs = 60_000) {
  const t0 = clock.now();
  let out: { ok: boolean; value?: T; error?: unknown } | null = null;
  p.then((value) => out = { ok: true, value }, (error) => out = { ok: false, error });
  await clock.advance(0);
  while (out === null && clock.now() - t0 < limitMs) await clock.advance(10);
  assert.ok(out, "operation never settled");
  return { ...(out as { ok: boolean; value?: T; error?: unknown }), ms: clock.now() - t0 };
}

Deno.test("withRetry returns the first success and backs off 100, 200 ms between failures", async () => {
  const clock = new VirtualClock();
  const starts: number[] = [];
  const r = await drive(
    clock,
    withRetry("op", (a) => {
      starts.push(clock.now());
      return a.n < 3 ? Promise.reject(new Error("boom")) : Promise.resolve("done");
    }, { clock, budgetMs: 10_000, attemptTimeoutMs: 1000 }),
  );
  assert.equal(r.value, "done");
  assert.deepEqual(starts.map((t) => t - starts[0]!), [0, 100, 300]);
});

Deno.test("withRetry caps the backoff at 1 s and fails with DcsUnavailableError exactly at the budget", async () => {
  const clock = new VirtualClock();
  const starts: number[] = [];
  const r = await drive(
    clock,
    withRetry("get cluster", () => {
      starts.push(clock.now());
      return Promise.reject(new TypeError("socket hang up"));
    }, { clock, budgetMs: 5000, attemptTimeoutMs: 1000 }),
  );
  assert.equal(r.ok, false);
  assert.ok(r.error instanceof DcsUnavailableError);
  assert.match((r.error as Error).message, /get cluster failed .*socket hang up/);
  assert.ok((r.error as Error).cause instanceof TypeError);
  const gaps = starts.slice(1).map((t, i) => t - starts[i]!);
  assert.deepEqual(gaps.slice(0, 5), [100, 200, 400, 800, 1000]);
  assert.ok(gaps.every((g) => g <= 1000));
  assert.ok(r.ms >= 5000 && r.ms <= 5010, `failed after ${r.ms} ms`);
});

Deno.test("withRetry bounds a hanging attempt by its timeout and the whole call by the budget", async () => {
  const clock = new VirtualClock();
  const aborted: number[] = [];
  const r = await drive(
    clock,
    withRetry("hang", (a) =>
      new Promise<never>((_, reject) => {
        a.signal.addEventListener("abort", () => {
          aborted.push(clock.now());
          reject(a.signal.reason);
        });
      }), { clock, budgetMs: 2500, attemptTimeoutMs: 1000 }),
  );
  assert.ok(r.error instanceof DcsUnavailableError);
  assert.ok(r.ms <= 2510, `took ${r.ms} ms`);
  const t0 = aborted[0]! - 1000;
  // Attempts: [0, 1000] timeout, backoff 100, [1100, 2100], backoff 200, [2300, 2500] cut to what is left.
  assert.deepEqual(aborted.map((t) => t - t0), [1000, 2100, 2500]);
});

Deno.test("withRetry: an attempt that ignores its signal still ends on time", async () => {
  const clock = new VirtualClock();
  const r = await drive(
    clock,
    withRetry("deaf", () => new Promise<never>(() => {}), { clock, budgetMs: 1500, attemptTimeoutMs: 500 }),
  );
  assert.ok(r.error instanceof DcsUnavailableError);
  assert.ok(r.ms <= 1510);
});

Deno.test("withRetry: permanent errors stop at once; non-DCS ones become DcsUnavailableError", async () => {
  const clock = new VirtualClock();
  let calls = 0;
  const data = new DcsDataError("config", "bad");
  const r1 = await drive(
    clock,
    withRetry("a", () => {
      calls++;
      return Promise.reject(data);
    }, { clock, budgetMs: 5000, attemptTimeoutMs: 1000, isPermanent: () => true }),
  );
  assert.equal(r1.error, data);
  assert.equal(calls, 1);
  const r2 = await drive(
    clock,
    withRetry("b", () => Promise.reject("a string"), {
      clock,
      budgetMs: 5000,
      attemptTimeoutMs: 1000,
      isPermanent: () => true,
    }),
  );
  assert.ok(r2.error instanceof DcsUnavailableError);
  assert.equal(r2.ms, 0);
});

Deno.test("withRetry: an aborted signal ends the retries with DcsUnavailableError", async () => {
  const clock = new VirtualClock();
  const ctl = new AbortController();
  const p = withRetry("op", () => Promise.reject(new Error("no")), {
    clock,
    budgetMs: 10_000,
    attemptTimeoutMs: 1000,
    signal: ctl.signal,
  });
  await clock.advance(150);
  ctl.abort();
  const r = await drive(clock, p);
  assert.ok(r.error instanceof DcsUnavailableError);
  assert.ok(r.ms < 1000);
});
