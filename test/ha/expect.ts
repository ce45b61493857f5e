/** Assertions for decision tables: partial structural match with a path in the failure message. */
import { AssertionError } from "node:assert";
import type { Action, Decision, RuleOut } from "../../src/ha/types.ts";

/** Every key in `expected` must be present in `actual` with a matching value (recursively). */
export function assertPartial(actual: unknown, expected: unknown, path = "$"): void {
  if (expected instanceof RegExp) {
    if (typeof actual !== "string" || !expected.test(actual)) fail(path, actual, expected);
    return;
  }
  if (expected === null || typeof expected !== "object") {
    if (!Object.is(actual, expected)) fail(path, actual, expected);
    return;
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length) fail(path, actual, expected);
    expected.forEach((e, i) => assertPartial((actual as unknown[])[i], e, `${path}[${i}]`));
    return;
  }
  if (actual === null || typeof actual !== "object") fail(path, actual, expected);
  for (const [k, v] of Object.entries(expected)) {
    assertPartial((actual as Record<string, unknown>)[k], v, `${path}.${k}`);
  }
}

function fail(path: string, actual: unknown, expected: unknown): never {
  throw new AssertionError({
    message: `${path}: expected ${show(expected)}, got ${show(actual)}`,
    actual,
    expected,
  });
}

function show(v: unknown): string {
  return v instanceof RegExp ? String(v) : JSON.stringify(v);
}

export interface Expected {
  type: Action["type"];
  code: string;
  message?: string | RegExp;
  /** Partial match on the action's fields. */
  action?: Record<string, unknown>;
  /**
   * Candidate explanations, exactly these names: the rule that ruled each member out, or `null` for an
   * eligible member without a rule.
   */
  rules?: Record<string, RuleOut | null>;
}

export function assertDecision(d: Decision, e: Expected): void {
  const ctx = `(decision: ${d.code} ${d.action.type} "${d.message}")`;
  if (d.action.type !== e.type) throw new AssertionError({ message: `action ${e.type} expected ${ctx}` });
  if (d.code !== e.code) throw new AssertionError({ message: `code ${e.code} expected ${ctx}` });
  if (e.message !== undefined) assertPartial(d.message, e.message, "message");
  if (e.action) assertPartial(d.action, e.action, "action");
  if (e.rules) {
    const got: Record<string, RuleOut | null> = {};
    for (const c of d.candidates) got[c.name] = c.rule ?? null;
    const want = Object.keys(e.rules).sort();
    if (JSON.stringify(Object.keys(got).sort()) !== JSON.stringify(want)) {
      throw new AssertionError({
        message: `candidates ${JSON.stringify(want)} expected, got ${JSON.stringify(got)}`,
      });
    }
    for (const [n, r] of Object.entries(e.rules)) {
      if (got[n] !== r) {
        throw new AssertionError({ message: `candidate ${n}: rule ${r} expected, got ${got[n]}` });
      }
    }
    for (const c of d.candidates) {
      if (c.rule && !c.detail) {
        throw new AssertionError({ message: `candidate ${c.name}: rule ${c.rule} without detail` });
      }
    }
  }
}
