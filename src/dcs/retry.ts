/**
 * Retry one DCS operation until a deadline (Patroni's `retry_timeout`): backoff doubling up to 1 s, every
 * attempt bounded by a per-request timeout, the last failure reported as `DcsUnavailableError`. We own the
 * timing here instead of leaving it to a client library (patroni/patroni#2036): the HA loop relies on
 * "a DCS call returns or fails within retry_timeout" to demote before the leader key expires.
 */
import type { Clock } from "../util/clock.ts";
import { DcsError, DcsUnavailableError } from "./errors.ts";

export interface RetryOptions {
  clock: Clock;
  /** Total budget for the operation (retry_timeout), ms. */
  budgetMs: number;
  /** Upper bound for one attempt, ms (cut to what is left of the budget). */
  attemptTimeoutMs: number;
  /** First backoff, ms. @default 100 */
  initialBackoffMs?: number;
  /** Backoff cap, ms. @default 1000 */
  maxBackoffMs?: number;
  /**
   * Errors for which retrying cannot help; they are rethrown at once (wrapped as `DcsUnavailableError` unless
   * they already are a `DcsError`). @default never
   */
  isPermanent?: (e: unknown) => boolean;
  /** Stops retrying (the operation fails with `DcsUnavailableError`). */
  signal?: AbortSignal;
}

/** Thrown into an attempt that ran out of its time slice. */
export class AttemptTimeoutError extends Error {
  override name = "AttemptTimeoutError";
}

/** What one attempt receives: when it must finish, and a signal that fires at that time. */
export interface Attempt {
  /** 1-based attempt number. */
  n: number;
  /** Milliseconds this attempt may take. */
  timeoutMs: number;
  /** Aborted when the attempt timed out (or the caller's signal aborted). */
  signal: AbortSignal;
}

/**
 * Run `fn` with retries. Resolves with the first successful result; throws `DcsUnavailableError` once the
 * budget is spent (the error's `cause` is the last failure).
 *
 * @example
 * ```ts
 * const v = await withRetry("get cluster", (a) => store.read(a.signal), { clock, budgetMs: 10_000, attemptTimeoutMs: 3_000 });
 * ```
 */
export async function withRetry<T>(
  op: string,
  fn: (attempt: Attempt) => Promise<T>,
  opts: RetryOptions,
): Promise<T> {
  const { clock } = opts;
  const start = clock.now();
  const deadline = start + opts.budgetMs;
  const maxBackoff = opts.maxBackoffMs ?? 1000;
  let backoff = Math.min(opts.initialBackoffMs ?? 100, maxBackoff);
  let last: unknown = undefined;
  for (let n = 1;; n++) {
    const left = deadline - clock.now();
    if (left <= 0 || opts.signal?.aborted) break;
    const timeoutMs = Math.min(opts.attemptTimeoutMs, left);
    try {
      return await runAttempt(fn, { n, timeoutMs }, clock, opts.signal);
    } catch (e) {
      last = e;
      if (opts.isPermanent?.(e)) {
        throw e instanceof DcsError
          ? e
          : new DcsUnavailableError(`${op} failed: ${message(e)}`, { cause: e });
      }
    }
    const pause = Math.min(backoff, deadline - clock.now());
    if (pause <= 0) break;
    try {
      await clock.sleep(pause, opts.signal);
    } catch {
      break; // aborted
    }
    backoff = Math.min(backoff * 2, maxBackoff);
  }
  const spent = clock.now() - start;
  throw new DcsUnavailableError(
    `${op} failed within retry budget ${opts.budgetMs} ms (spent ${spent} ms): ${message(last ?? "aborted")}`,
    { cause: last },
  );
}

/** Race one attempt against its time slice; the loser's timer is always cancelled. */
async function runAttempt<T>(
  fn: (a: Attempt) => Promise<T>,
  a: { n: number; timeoutMs: number },
  clock: Clock,
  outer?: AbortSignal,
): Promise<T> {
  const ctl = new AbortController();
  const onOuter = () => ctl.abort(outer!.reason);
  outer?.addEventListener("abort", onOuter, { once: true });
  const timer = new AbortController();
  const timeout = clock.sleep(a.timeoutMs, timer.signal).then(
    () => {
      const err = new AttemptTimeoutError(`attempt ${a.n} timed out after ${a.timeoutMs} ms`);
      ctl.abort(err);
      throw err;
    },
    () => new Promise<never>(() => {}), // cancelled timer: never settles, the attempt won
  );
  try {
    // `fn` may ignore the signal; the race still ends the attempt on time.
    return await Promise.race([fn({ ...a, signal: ctl.signal }), timeout]);
  } finally {
    timer.abort();
    outer?.removeEventListener("abort", onOuter);
  }
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
