/**
 * JSON exactly as Patroni writes it: Python's `json.dumps(value, separators=(',', ':'))`, which also escapes
 * every non-ASCII character as `\uXXXX` (ensure_ascii). Byte-identical values keep mixed pgwarden/Patroni
 * clusters from rewriting keys back and forth.
 */
export function patroniJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[\u0080-\uffff]/g,
    (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"),
  );
}

/** Stable JSON (sorted object keys) for comparing values regardless of key order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(
    value,
    (_k, v) =>
      v && typeof v === "object" && !Array.isArray(v)
        ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0),
        )
        : v,
  );
}
