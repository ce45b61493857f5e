/**
 * edit-config's pure parts: `--set path=value` / `--pg name=value` parsing, applying them to the DCS config
 * document (patronictl `apply_config_changes`), the merge of an `--apply` file (Patroni `patch_config`), and
 * the merge patch that turns one document into another (sent to `PATCH /config?dry_run=1`).
 */
import { patchConfig } from "../api/config_routes.ts";
import { parseYamlStrict } from "../config/yaml.ts";

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => v !== null && typeof v === "object" && !Array.isArray(v);

export class ConfigEditError extends Error {
  override name = "ConfigEditError";
}

export interface SetPair {
  /** Key path; under `postgresql.parameters` the GUC name is one segment even when it contains dots. */
  path: string[];
  /** Parsed YAML value; `null` deletes the key. */
  value: unknown;
}

/** Parse a YAML scalar or collection the way PyYAML `safe_load` would (YAML 1.1: `on` is true). */
export function parseYamlValue(text: string): unknown {
  try {
    return parseYamlStrict(text) ?? null;
  } catch (e) {
    throw new ConfigEditError(
      `Invalid YAML value ${JSON.stringify(text)}: ${(e as Error).message.split("\n")[0]}`,
    );
  }
}

/** `--set` and `--pg` arguments to path/value pairs (`--pg x=y` is `--set postgresql.parameters.x=y`). */
export function parseSetPairs(sets: readonly string[], pgs: readonly string[] = []): SetPair[] {
  const all = [...sets, ...pgs.map((p) => "postgresql.parameters." + p.trimStart())];
  return all.map((pair) => {
    const eq = pair.indexOf("=");
    if (!pair || eq < 0) throw new ConfigEditError(`Invalid parameter setting ${pair}`);
    const segs = pair.slice(0, eq).trim().split(".");
    if (segs.some((s) => s === "")) throw new ConfigEditError(`Invalid parameter setting ${pair}: empty key`);
    // PostgreSQL GUCs cannot nest but may contain dots (pg_stat_statements.max): keep the rest as one name.
    const path = segs.length > 2 && segs[0] === "postgresql" && segs[1] === "parameters"
      ? ["postgresql", "parameters", segs.slice(2).join(".")]
      : segs;
    return { path, value: parseYamlValue(pair.slice(eq + 1)) };
  });
}

/** Apply `--set` pairs to a copy of `data`: null deletes, missing or non-object parents are created, emptied ones removed. */
export function applySetPairs(data: Json, pairs: readonly SetPair[]): Json {
  const out = structuredClone(data);
  const set = (obj: Json, path: string[], value: unknown) => {
    const [key, ...rest] = path as [string, ...string[]];
    if (!rest.length) {
      if (value === null) delete obj[key];
      else obj[key] = value;
      return;
    }
    if (!isObject(obj[key])) obj[key] = {};
    set(obj[key] as Json, rest, value);
    if (Object.keys(obj[key] as Json).length === 0) delete obj[key];
  };
  for (const p of pairs) set(out, p.path, p.value);
  return out;
}

/** Parse a whole YAML document that must be a mapping (an edited config, an --apply/--replace file). */
export function parseConfigDocument(text: string, source: string): Json {
  let v: unknown;
  try {
    v = parseYamlStrict(text);
  } catch (e) {
    throw new ConfigEditError(`${source} is not valid YAML: ${(e as Error).message.split("\n")[0]}`);
  }
  if (v === null || v === undefined) return {};
  if (!isObject(v)) {
    throw new ConfigEditError(
      `${source} must contain a mapping, got ${Array.isArray(v) ? "a list" : typeof v}`,
    );
  }
  return v;
}

/** `--apply`: merge a document into `data` with Patroni's PATCH rules (null deletes). */
export function applyDocument(data: Json, patch: Json): Json {
  return patchConfig(data, patch).result;
}

/**
 * A merge patch that turns `before` into `after` under Patroni's PATCH rules: changed or new values as they
 * are, objects recursively, removed keys as null. Arrays are replaced whole.
 */
export function mergePatch(before: Json, after: Json): Json {
  const out: Json = {};
  for (const k of Object.keys(before)) if (!(k in after)) out[k] = null;
  for (const [k, v] of Object.entries(after)) {
    const old = before[k];
    if (isObject(v) && isObject(old)) {
      const sub = mergePatch(old, v);
      if (Object.keys(sub).length) out[k] = sub;
    } else if (!(k in before) || JSON.stringify(old) !== JSON.stringify(v)) {
      out[k] = v;
    }
  }
  return out;
}

/** Deep equality of two JSON documents, ignoring key order. */
export function sameDocument(a: unknown, b: unknown): boolean {
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => k in b && sameDocument(a[k], b[k]));
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((x, i) => sameDocument(x, b[i]));
  }
  return a === b;
}
