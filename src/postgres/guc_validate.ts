/**
 * Checking parameter values against the running server's `pg_settings` before they are written (pure), so a
 * dynamic configuration with a bad value is refused as a whole instead of being half applied by a reload
 * (PostgreSQL skips the lines it rejects and applies the rest).
 *
 * Parsing follows PostgreSQL's own rules: booleans as `parse_bool` (unique prefixes of true/false/yes/no,
 * on/off, 1/0), integers and reals with an optional unit converted to the setting's unit and rounded,
 * bounds from `min_val`/`max_val`, enums case-insensitively.
 */

/** One row of `pg_settings` (the columns used). */
export interface GucSetting {
  name: string;
  vartype: "bool" | "integer" | "real" | "string" | "enum";
  unit: string | null;
  min_val: string | null;
  max_val: string | null;
  enumvals: string[] | null;
}

export const GUC_CATALOG_SQL =
  "SELECT name, vartype, unit, min_val, max_val, enumvals FROM pg_catalog.pg_settings";

/** Rows from `GUC_CATALOG_SQL` (enumvals arrive as a JS array or as `{a,b}` text). */
export function parseCatalog(rows: Record<string, unknown>[]): Map<string, GucSetting> {
  const out = new Map<string, GucSetting>();
  for (const r of rows) {
    const ev = r.enumvals;
    const enumvals = Array.isArray(ev)
      ? ev.map(String)
      : typeof ev === "string"
      ? ev.replace(/^\{|\}$/g, "").split(",").map((s) => s.replace(/^"|"$/g, ""))
      : null;
    out.set(String(r.name).toLowerCase(), {
      name: String(r.name),
      vartype: String(r.vartype) as GucSetting["vartype"],
      unit: r.unit === null || r.unit === undefined ? null : String(r.unit),
      min_val: r.min_val === null || r.min_val === undefined ? null : String(r.min_val),
      max_val: r.max_val === null || r.max_val === undefined ? null : String(r.max_val),
      enumvals,
    });
  }
  return out;
}

const MEMORY: Record<string, number> = { B: 1, kB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };
const TIME: Record<string, number> = { us: 0.001, ms: 1, s: 1000, min: 60_000, h: 3_600_000, d: 86_400_000 };

/** `8kB` → {factor: 8192, table: MEMORY}; null for unitless settings. */
function baseUnit(unit: string | null): { size: number; table: Record<string, number> } | null {
  if (!unit) return null;
  const m = /^(\d*)\s*(\w+)$/.exec(unit);
  if (!m) return null;
  const mult = m[1] ? Number(m[1]) : 1;
  if (m[2]! in MEMORY) return { size: mult * MEMORY[m[2]!]!, table: MEMORY };
  if (m[2]! in TIME) return { size: mult * TIME[m[2]!]!, table: TIME };
  return null;
}

/** A number with an optional unit, in the setting's unit; a string when it cannot be read. */
function parseNumber(v: string, s: GucSetting): number | string {
  const m = /^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|0x[0-9a-fA-F]+)\s*([a-zA-Z]*)\s*$/.exec(v);
  if (!m) return `invalid value for parameter "${s.name}": "${v}"`;
  let n = Number(m[1]);
  const unit = m[2]!;
  if (unit) {
    const base = baseUnit(s.unit);
    if (!base || !(unit in base.table)) {
      const valid = base ? Object.keys(base.table).join(", ") : "none";
      return `invalid value for parameter "${s.name}": "${v}" (valid units: ${valid})`;
    }
    n = (n * base.table[unit]!) / base.size;
  }
  // PostgreSQL rounds fractional (or unit-converted) input of integer settings.
  return s.vartype === "integer" ? Math.round(n) : n;
}

const TRANSLATED = new Set(["wal_keep_segments", "wal_keep_size"]);

const BOOL_WORDS: [string, boolean][] = [["true", true], ["false", false], ["yes", true], ["no", false]];

function parseBool(v: string): boolean | null {
  const s = v.trim().toLowerCase();
  if (s === "1") return true;
  if (s === "0") return false;
  if (s.length >= 2 && "on".startsWith(s)) return true;
  if (s.length >= 2 && "off".startsWith(s)) return false;
  for (const [w, b] of BOOL_WORDS) if (s.length >= 1 && w.startsWith(s)) return b;
  return null;
}

/** Why `value` is not acceptable for `s`, or null. */
export function gucValueProblem(s: GucSetting, value: unknown): string | null {
  const v = typeof value === "boolean" ? (value ? "on" : "off") : String(value);
  switch (s.vartype) {
    case "bool":
      return parseBool(v) === null ? `parameter "${s.name}" requires a Boolean value, got "${v}"` : null;
    case "integer":
    case "real": {
      const n = parseNumber(v, s);
      if (typeof n === "string") return n;
      const min = s.min_val === null ? -Infinity : Number(s.min_val);
      const max = s.max_val === null ? Infinity : Number(s.max_val);
      if (n < min || n > max) {
        return `${n} is outside the valid range for parameter "${s.name}" (${s.min_val} .. ${s.max_val})`;
      }
      return null;
    }
    case "enum": {
      const ok = (s.enumvals ?? []).some((e) => e.toLowerCase() === v.trim().toLowerCase());
      return ok
        ? null
        : `invalid value for parameter "${s.name}": "${v}" (one of: ${(s.enumvals ?? []).join(", ")})`;
    }
    default:
      return null;
  }
}

/**
 * Problems of a parameters map against the catalog: bad values, and names the server does not know (names
 * with a dot are extension/custom settings PostgreSQL accepts as placeholders).
 */
export function parameterProblems(
  params: Record<string, unknown>,
  catalog: Map<string, GucSetting>,
): string[] {
  const out: string[] = [];
  for (const [name, value] of Object.entries(params)) {
    // Translated into each other by version when the config is written (wal_keep_segments before 13).
    if (TRANSLATED.has(name.toLowerCase())) continue;
    const s = catalog.get(name.toLowerCase());
    if (!s) {
      if (!name.includes(".")) out.push(`unrecognized configuration parameter "${name}"`);
      continue;
    }
    const p = gucValueProblem(s, value);
    if (p) out.push(p);
  }
  return out;
}
