/**
 * `--scheduled` timestamps as patronictl reads them: `now` (or nothing) means immediately; a time without a
 * zone is local time. The result is ISO 8601 with the offset, as Python's `isoformat()` prints it.
 */
import { isoWithOffset } from "../api/units.ts";

const RE =
  /^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,6}))?)?)?\s*(Z|z|UTC|[+-]\d{2}(?::?\d{2})?)?$/;

export class ScheduleError extends Error {
  override name = "ScheduleError";
}

/** Parse `--scheduled`; null for immediate. Throws ScheduleError with patronictl's message. */
export function parseScheduled(text: string | undefined | null): string | null {
  const t = (text ?? "now").trim();
  if (t === "" || t === "now") return null;
  const m = RE.exec(t);
  const bad = () =>
    new ScheduleError(
      `Unable to parse scheduled timestamp (${t}). It should be in an unambiguous format (e.g. ISO 8601)`,
    );
  if (!m) throw bad();
  const [y, mo, d, h, mi, s] = [m[1], m[2], m[3], m[4] ?? "0", m[5] ?? "0", m[6] ?? "0"].map(
    Number,
  ) as number[];
  const ms = m[7] ? Math.floor(Number(`0.${m[7]}`) * 1000) : 0;
  if (mo! < 1 || mo! > 12 || d! < 1 || d! > 31 || h! > 23 || mi! > 59 || s! > 59) throw bad();
  const tz = m[8];
  if (!tz) {
    const local = new Date(y!, mo! - 1, d!, h!, mi!, s!, ms);
    if (local.getDate() !== d) throw bad();
    return isoWithOffset(local.getTime(), -local.getTimezoneOffset());
  }
  let offsetMin = 0;
  if (!/^(z|utc)$/i.test(tz)) {
    const sign = tz[0] === "-" ? -1 : 1;
    const digits = tz.slice(1).replace(":", "");
    offsetMin = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4) || "0"));
  }
  const utc = Date.UTC(y!, mo! - 1, d!, h!, mi!, s!, ms) - offsetMin * 60_000;
  if (new Date(utc + offsetMin * 60_000).getUTCDate() !== d) throw bad();
  return isoWithOffset(utc, offsetMin);
}

/** The example patronictl shows in its prompt: local time an hour from now, `YYYY-MM-DDTHH:MM`. */
export function nextHourExample(nowMs: number): string {
  const d = new Date(nowMs + 3600_000);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${
    p(d.getMinutes())
  }`;
}
