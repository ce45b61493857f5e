/**
 * Config validation errors in one shape: `<dotted.path>: <what was expected>, got <value>`, every problem at
 * once, paths in the user's own spelling (snake_case for Patroni YAML, camelCase for TS modules).
 *
 * zod reports issues against the camelCase model; `Origins` remembers where each model node came from in the
 * user's input (YAML key path, or the `PATRONI_*` variable that set it) so paths can be spelled back.
 */
import type { z } from "zod";

export interface ConfigIssue {
  /** Dotted path in the user's spelling, `(root)` for the whole document. */
  path: string;
  message: string;
}

/** Thrown by the loader: the config cannot be used. `issues` lists every problem found. */
export class ConfigError extends Error {
  readonly issues: readonly ConfigIssue[];
  constructor(issues: readonly ConfigIssue[], readonly source?: string) {
    super(
      (source ? `invalid configuration ${source}:\n` : "invalid configuration:\n") +
        issues.map(formatIssue).join("\n"),
    );
    this.name = "ConfigError";
    this.issues = issues;
  }
}

export function formatIssue(i: ConfigIssue): string {
  return `${i.path}: ${i.message}`;
}

/** How the user wrote the config: decides key spelling and type names in messages. */
export type Flavor = "yaml" | "ts";

export type Seg = string | number;

/** Where one model node came from: its path in the user's YAML, and/or the env variable that set it. */
export interface Origin {
  path?: Seg[];
  env?: string;
}
/** Keyed by `pathKey(modelPath)`. */
export type Origins = Map<string, Origin>;

export const pathKey = (p: readonly PropertyKey[]): string => JSON.stringify(p.map((s) => String(s)));

export function renderPath(p: readonly PropertyKey[]): string {
  if (p.length === 0) return "(root)";
  let out = "";
  for (const s of p) {
    if (typeof s === "number") out += `[${s}]`;
    else if (/^[A-Za-z0-9_-]+$/.test(String(s))) out += (out ? "." : "") + String(s);
    else out += `[${JSON.stringify(String(s))}]`;
  }
  return out;
}

/** A short rendering of a user value for messages. */
export function describeValue(v: unknown): string {
  if (v === undefined) return "nothing";
  if (typeof v === "function") return "a function";
  if (v instanceof Date) return JSON.stringify(v.toISOString());
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 60 ? s.slice(0, 57) + "..." : s;
}

/** Optimal-string-alignment distance: Levenshtein plus adjacent transpositions (`etdc` → `etcd` is 1). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        v = Math.min(v, d[i - 2]![j - 2]! + 1);
      }
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** The closest candidate within a distance that still reads as a typo, if any. */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  const limit = Math.max(2, Math.floor(word.length / 3));
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const dist = editDistance(word.toLowerCase(), c.toLowerCase());
    if (dist < bestD) [best, bestD] = [c, dist];
  }
  return bestD <= limit ? best : undefined;
}

function typeName(expected: string, flavor: Flavor): string {
  switch (expected) {
    case "string":
      return "a string";
    case "number":
      return "a number";
    case "int":
      return "an integer";
    case "boolean":
      return "a boolean";
    case "object":
    case "record":
    case "map":
      return flavor === "yaml" ? "a mapping" : "an object";
    case "array":
    case "tuple":
      return flavor === "yaml" ? "a list" : "an array";
    default:
      return expected;
  }
}

type RawIssue = z.core.$ZodRawIssue;

function rangeMessage(iss: RawIssue, small: boolean): string {
  const bound = (small ? iss.minimum : iss.maximum) as number | bigint;
  const op = small ? (iss.inclusive ? ">=" : ">") : (iss.inclusive ? "<=" : "<");
  const got = describeValue(iss.input);
  switch (iss.origin) {
    case "string":
      if (small && Number(bound) === 1) return `expected a non-empty string, got ${got}`;
      return `expected a string of ${small ? "at least" : "at most"} ${bound} characters, got ${got}`;
    case "array":
    case "set":
      if (small && Number(bound) === 1) return `expected a non-empty list, got ${got}`;
      return `expected ${small ? "at least" : "at most"} ${bound} items, got ${got}`;
    default:
      return `expected a number ${op} ${bound}, got ${got}`;
  }
}

/** Per-parse zod error map producing our message texts (schema-level custom messages still win). */
export function makeErrorMap(flavor: Flavor): (iss: RawIssue) => string {
  return (iss) => {
    const got = describeValue(iss.input);
    switch (iss.code) {
      case "invalid_type":
        return iss.input === undefined
          ? `required, expected ${typeName(String(iss.expected), flavor)}`
          : `expected ${typeName(String(iss.expected), flavor)}, got ${got}`;
      case "invalid_value": {
        const values = (iss.values as unknown[]).map((v) => JSON.stringify(v));
        return values.length === 1
          ? `expected ${values[0]}, got ${got}`
          : `expected one of ${values.join(", ")}, got ${got}`;
      }
      case "too_small":
        return rangeMessage(iss, true);
      case "too_big":
        return rangeMessage(iss, false);
      case "invalid_format":
        return iss.format === "regex"
          ? `expected a string matching ${String(iss.pattern)}, got ${got}`
          : `expected ${String(iss.format)}, got ${got}`;
      case "not_multiple_of":
        return `expected a multiple of ${String(iss.divisor)}, got ${got}`;
      case "invalid_union":
        return iss.input === undefined ? "required" : `invalid value, got ${got}`;
      case "invalid_key":
        return `invalid key ${got}`;
      case "unrecognized_keys":
        return "unknown key";
      default:
        return `invalid value, got ${got}`;
    }
  };
}

/** Flavor-specific spelling of model keys and paths (the YAML mapper supplies one). */
export interface Speller {
  /** Candidate key names, in the user's spelling, for an object at `modelPath` whose model keys are given. */
  candidates(modelPath: readonly Seg[], modelKeys: readonly string[]): string[];
  /** A model path segment (below the last recorded origin) in the user's spelling. */
  segment(seg: Seg): Seg;
}

const identitySpeller: Speller = { candidates: (_p, keys) => [...keys], segment: (s) => s };

export interface FormatContext {
  flavor: Flavor;
  origins: Origins;
  /** The schema the issues came from, to list valid keys of an object for suggestions. */
  schema: z.ZodType;
  speller?: Speller;
}

/** The user's spelling of a model path plus, if an env variable set it, that variable's name. */
export function userPath(modelPath: readonly Seg[], ctx: FormatContext): string {
  const speller = ctx.speller ?? identitySpeller;
  for (let n = modelPath.length; n >= 0; n--) {
    const o = ctx.origins.get(pathKey(modelPath.slice(0, n)));
    if (!o) continue;
    const head = ctx.flavor === "yaml" && o.path ? o.path : modelPath.slice(0, n);
    const tail = modelPath.slice(n).map((s) => ctx.flavor === "yaml" ? speller.segment(s) : s);
    const rendered = renderPath([...head, ...tail]);
    return o.env ? `${rendered} (from ${o.env})` : rendered;
  }
  return renderPath(modelPath.map((s) => ctx.flavor === "yaml" ? speller.segment(s) : s));
}

function unknownKeyIssue(
  parent: readonly Seg[],
  key: string,
  modelKeys: readonly string[],
  ctx: FormatContext,
) {
  const speller = ctx.speller ?? identitySpeller;
  const path = userPath([...parent, key], ctx);
  const o = ctx.origins.get(pathKey([...parent, key]));
  const spelled = ctx.flavor === "yaml" && o?.path ? String(o.path[o.path.length - 1]) : key;
  const candidates = speller.candidates(parent, modelKeys);
  const near = suggest(spelled, candidates);
  const message = near
    ? `unknown key, did you mean ${JSON.stringify(near)}?`
    : candidates.length && candidates.length <= 20
    ? `unknown key, expected one of ${candidates.join(", ")}`
    : "unknown key";
  return { path, message };
}

// --- walking zod schemas to find the keys of the object at a path ---------------------------------------

interface Def {
  type: string;
  innerType?: z.ZodType;
  in?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  valueType?: z.ZodType;
  element?: z.ZodType;
  options?: z.ZodType[];
  getter?: () => z.ZodType;
}
const defOf = (s: z.ZodType): Def => (s as unknown as { _zod: { def: Def } })._zod.def;

function unwrap(s: z.ZodType): z.ZodType {
  for (let i = 0; i < 32; i++) {
    const d = defOf(s);
    if (d.innerType) s = d.innerType;
    else if (d.type === "pipe" && d.in) s = d.in;
    else if (d.type === "lazy" && d.getter) s = d.getter();
    else break;
  }
  return s;
}

function step(s: z.ZodType, seg: Seg): z.ZodType[] {
  const d = defOf(unwrap(s));
  switch (d.type) {
    case "object":
      return typeof seg === "string" && d.shape?.[seg] ? [d.shape[seg]!] : [];
    case "record":
      return d.valueType ? [d.valueType] : [];
    case "array":
      return d.element ? [d.element] : [];
    case "union":
      return (d.options ?? []).flatMap((o) => step(o, seg));
    default:
      return [];
  }
}

/** The known keys of the object schema at `path` (first match through unions), or `[]`. */
export function objectKeysAt(schema: z.ZodType, path: readonly Seg[]): string[] {
  let current = [schema];
  for (const seg of path) current = current.flatMap((s) => step(s, seg));
  for (const s of current) {
    const d = defOf(unwrap(s));
    if (d.type === "object" && d.shape) return Object.keys(d.shape);
    if (d.type === "union") {
      for (const o of d.options ?? []) {
        const od = defOf(unwrap(o));
        if (od.type === "object" && od.shape) return Object.keys(od.shape);
      }
    }
  }
  return [];
}

// --- zod issues → ConfigIssues -----------------------------------------------------------------------------

type Issue = z.core.$ZodIssue;

const orList = (xs: string[]) =>
  xs.length < 2 ? xs.join("") : `${xs.slice(0, -1).join(", ")} or ${xs.at(-1)}`;

function expectedOfBranch(branch: readonly Issue[], flavor: Flavor): string | undefined {
  const root = branch.find((i) => i.path.length === 0);
  if (!root) return undefined;
  if (root.code === "invalid_type") return typeName(root.expected, flavor);
  if (root.code === "invalid_value") return `one of ${root.values.map((v) => JSON.stringify(v)).join(", ")}`;
  return undefined;
}

function convert(issue: Issue, ctx: FormatContext, prefix: readonly Seg[], out: ConfigIssue[]) {
  const path = [...prefix, ...issue.path] as Seg[];
  if (issue.code === "unrecognized_keys") {
    const keys = objectKeysAt(ctx.schema, path);
    for (const k of issue.keys) out.push(unknownKeyIssue(path, k, keys, ctx));
    return;
  }
  const params = (issue as { params?: { unknownKey?: string; candidates?: string[] } }).params;
  if (issue.code === "custom" && params?.unknownKey !== undefined) {
    out.push(unknownKeyIssue(path.slice(0, -1), params.unknownKey, params.candidates ?? [], ctx));
    return;
  }
  if (issue.code === "invalid_union") {
    // A branch whose issues are not a plain type mismatch at its root matched the shape: report its issues
    // (e.g. a list of hosts with one bad entry) instead of the union summary.
    const deep = issue.errors.filter((b) =>
      b.length > 0 &&
      !b.some((i) => i.path.length === 0 && (i.code === "invalid_type" || i.code === "invalid_value"))
    );
    if (deep.length === 1) {
      for (const i of deep[0]!) convert(i, ctx, path, out);
      return;
    }
    const expected = [...new Set(issue.errors.map((b) => expectedOfBranch(b, ctx.flavor)).filter(Boolean))];
    const input = (issue as { input?: unknown }).input;
    const what = expected.length ? orList(expected as string[]) : "a valid value";
    out.push({
      path: userPath(path, ctx),
      message: input === undefined
        ? `required, expected ${what}`
        : `expected ${what}, got ${describeValue(input)}`,
    });
    return;
  }
  out.push({ path: userPath(path, ctx), message: issue.message });
}

/** Every zod issue as a ConfigIssue in the user's spelling (duplicates dropped, input order kept). */
export function issuesFromZod(error: z.ZodError, ctx: FormatContext): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const issue of error.issues) convert(issue, ctx, [], out);
  const seen = new Set<string>();
  return out.filter((i) => {
    const k = formatIssue(i);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
