/**
 * camelCase <-> snake_case key conversion between pgwarden's model and Patroni's YAML/JSON.
 * Some maps are keyed by names (GUCs, slot names, tags): `opaque` paths are copied as they are;
 * `nameMaps` paths keep their own keys but convert the objects below them.
 */
export interface CaseOptions {
  /** Dotted paths (in either case) copied verbatim. */
  opaque?: string[];
  /** Dotted paths whose keys are names: keys kept, values converted. */
  nameMaps?: string[];
}

export const snakeToCamel = (s: string) => s.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
export const camelToSnake = (s: string) => s.replace(/[A-Z]/g, (c) => "_" + c.toLowerCase());

function convert(v: unknown, fn: (s: string) => string, opts: CaseOptions, path: string[]): unknown {
  if (Array.isArray(v)) return v.map((x) => convert(x, fn, opts, path));
  if (v === null || typeof v !== "object") return v;
  const here = path.map(snakeToCamel).join(".");
  const matches = (list?: string[]) =>
    (list ?? []).some((p) => p.split(".").map(snakeToCamel).join(".") === here);
  if (path.length && matches(opts.opaque)) return structuredClone(v);
  const keepKeys = path.length > 0 && matches(opts.nameMaps);
  const out: Record<string, unknown> = {};
  for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
    const nk = keepKeys ? k : fn(k);
    out[nk] = convert(val, fn, opts, [...path, keepKeys ? "*" : nk]);
  }
  return out;
}

export function keysToCamel(v: unknown, opts: CaseOptions = {}): unknown {
  return convert(v, snakeToCamel, opts, []);
}

export function keysToSnake(v: unknown, opts: CaseOptions = {}): unknown {
  return convert(v, camelToSnake, opts, []);
}
