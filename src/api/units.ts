/**
 * Value parsing shared by the routes, following Patroni's rules (`patroni/utils.py` `parse_int`,
 * `parse_bool`; `postgres_version_to_int`; `format_lsn`; `parse_schedule`).
 */

const MEMORY: Record<string, number> = { B: 1, kB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };
const TIME_S: Record<string, number> = { us: 1e-6, ms: 1e-3, s: 1, min: 60, h: 3600, d: 86400 };
/** The next smaller unit: values with a unit are rounded to a whole number of it (Patroni `round_order`). */
const SMALLER: Record<string, string> = {
  TB: "GB",
  GB: "MB",
  MB: "kB",
  kB: "B",
  d: "h",
  h: "min",
  min: "s",
  s: "ms",
  ms: "us",
};

/** strtol(3) with base 0 / strtod(3): the leading number and the rest of the text. */
function leadingNumber(text: string): [number, string] | null {
  const s = text.trim();
  const hex = /^[+-]?0[xX][0-9a-fA-F]+/.exec(s);
  if (hex) return [parseInt(hex[0], 16), s.slice(hex[0].length)];
  const dbl = /^[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?)/.exec(s);
  if (!dbl) return null;
  const lit = dbl[0];
  // Leading-zero integers are octal for strtol, as in PostgreSQL's GUC parser.
  if (/^[+-]?0[0-7]+$/.test(lit)) return [parseInt(lit, 8), s.slice(lit.length)];
  return [Number(lit), s.slice(lit.length)];
}

/**
 * An integer in `base` units from a number or text with an optional unit suffix (`10MB`, `30s`); `null` when
 * it cannot be parsed or the unit does not belong to the base's family.
 */
export function parseIntUnit(value: unknown, base: "B" | "s"): number | null {
  if (typeof value === "number") return Number.isFinite(value) ? Math.round(value) : null;
  if (typeof value !== "string") return null;
  const n = leadingNumber(value);
  if (!n) return null;
  const [num, restRaw] = n;
  const unit = restRaw.trim();
  if (!unit) return Math.round(num);
  const table = base === "B" ? MEMORY : TIME_S;
  const factor = table[unit];
  if (factor === undefined) return null;
  let v = num * factor / table[base]!;
  const smaller = SMALLER[unit];
  if (smaller && table[smaller] !== undefined) {
    const step = table[smaller]! / table[base]!;
    if (step >= 1) v = Math.round(v / step) * step;
  }
  return Math.round(v);
}

/** Patroni `parse_bool`: `on/true/yes/1` and `off/false/no/0`, case-insensitive; anything else `null`. */
export function parseBool(value: unknown): boolean | null {
  const s = String(value).toLowerCase();
  if (["on", "true", "yes", "1"].includes(s)) return true;
  if (["off", "false", "no", "0"].includes(s)) return false;
  return null;
}

/** `X.Y` (10+) or `X.Y.Z` → `server_version_num`-like integer; throws with Patroni's message. */
export function postgresVersionToInt(version: string): number {
  const parts = String(version).split(".");
  if (!parts.every((p) => /^\s*[+-]?\d+\s*$/.test(p))) {
    throw new RangeError(`Invalid PostgreSQL version: ${version}`);
  }
  const nums = parts.map(Number);
  if (nums.length < 2 || (nums.length === 2 && nums[0]! < 10) || nums.length > 3) {
    throw new RangeError(`Invalid PostgreSQL version format: X.Y or X.Y.Z is accepted: ${version}`);
  }
  if (nums.length === 2) nums.splice(1, 0, 0);
  return Number(nums.map((c) => String(c).padStart(2, "0")).join(""));
}

/** `X/Y` in upper-case hex, as Patroni's `format_lsn` (no zero padding of the low half). */
export function formatLsn(lsn: number): string {
  const hi = Math.floor(lsn / 0x1_0000_0000);
  const lo = lsn % 0x1_0000_0000;
  return `${hi.toString(16).toUpperCase()}/${lo.toString(16).toUpperCase()}`;
}

export type ScheduleResult =
  | { ok: true; at: number; iso: string }
  | { ok: false; status: 400 | 422; message: string };

const ISO_RE =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;

/**
 * Validate a schedule timestamp (Patroni `parse_schedule`): it must carry a timezone (400 otherwise) and lie
 * in the future (422); unparseable text is 422. `iso` is the normalised `isoformat()` with the given offset.
 */
export function parseSchedule(text: unknown, action: string, nowMs: number): ScheduleResult {
  const unparsable: ScheduleResult = {
    ok: false,
    status: 422,
    message: "Unable to parse scheduled timestamp. It should be in an unambiguous format, e.g. ISO 8601",
  };
  if (typeof text !== "string") return unparsable;
  const m = ISO_RE.exec(text.trim());
  if (!m) return unparsable;
  const [, y, mo, d, h, mi, s, frac, tz] = m;
  const fields = [y, mo, d, h, mi, s ?? "0"].map(Number) as [number, number, number, number, number, number];
  const fracMs = frac ? Number(`0.${frac}`) * 1000 : 0;
  const localMs = Date.UTC(fields[0], fields[1] - 1, fields[2], fields[3], fields[4], fields[5]) + fracMs;
  const check = new Date(localMs);
  if (
    Number.isNaN(localMs) || check.getUTCMonth() !== fields[1] - 1 || check.getUTCDate() !== fields[2] ||
    fields[3] > 23 || fields[4] > 59 || fields[5] > 59
  ) return unparsable;
  if (!tz) {
    return {
      ok: false,
      status: 400,
      message: `Timezone information is mandatory for the scheduled ${action}`,
    };
  }
  let offsetMin = 0;
  if (tz !== "Z" && tz !== "z") {
    const sign = tz[0] === "-" ? -1 : 1;
    const digits = tz.slice(1).replace(":", "");
    offsetMin = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4) || "0"));
  }
  const at = localMs - offsetMin * 60_000;
  if (at < nowMs) return { ok: false, status: 422, message: `Cannot schedule ${action} in the past` };
  return { ok: true, at, iso: isoWithOffset(at, offsetMin) };
}

/** Python `datetime.isoformat()` of an aware timestamp: microseconds only when non-zero, `±HH:MM` offset. */
export function isoWithOffset(atMs: number, offsetMin: number): string {
  const d = new Date(atMs + offsetMin * 60_000);
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  const ms = d.getUTCMilliseconds();
  const sign = offsetMin < 0 ? "-" : "+";
  const off = Math.abs(offsetMin);
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())}T${p(d.getUTCHours())}:` +
    `${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}${ms ? "." + p(ms * 1000, 6) : ""}` +
    `${sign}${p(Math.floor(off / 60))}:${p(off % 60)}`;
}
