/**
 * Go `time.Duration` parsing and formatting, as Consul applies them to `TTL`, `LockDelay` and `wait`.
 * Durations are handled in nanoseconds (as bigint-free numbers: the largest value we meet, 24h, fits).
 */

const UNIT_NS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  "µs": 1e3,
  "μs": 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/** Parse `"1.5s"`, `"10s"`, `"1h2m"`, `"0"`; throws like Go's `time.ParseDuration` on bad input. */
export function parseGoDuration(text: string): number {
  let s = text;
  let sign = 1;
  if (s.startsWith("-") || s.startsWith("+")) {
    if (s[0] === "-") sign = -1;
    s = s.slice(1);
  }
  if (s === "0") return 0;
  if (s === "") throw new Error(`time: invalid duration ${JSON.stringify(text)}`);
  let total = 0;
  const re = /^([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)/;
  while (s.length > 0) {
    const m = re.exec(s);
    if (!m || m[1] === "" || m[1] === ".") {
      const unitless = /^[0-9.]+$/.test(s);
      throw new Error(
        unitless
          ? `time: missing unit in duration ${JSON.stringify(text)}`
          : `time: invalid duration ${JSON.stringify(text)}`,
      );
    }
    total += Number(m[1]) * UNIT_NS[m[2]!]!;
    s = s.slice(m[0].length);
  }
  return sign * Math.round(total);
}

/** Format nanoseconds as Go's `Duration.String()` does (`10s`, `24h0m0s`, `1.5s`, `500ms`). */
export function formatGoDuration(ns: number): string {
  if (ns === 0) return "0s";
  const neg = ns < 0;
  let n = Math.abs(ns);
  let out: string;
  if (n < 1e9) {
    // Sub-second: the largest unit that keeps the integer part non-zero.
    const [unit, size] = n < 1e3 ? ["ns", 1] : n < 1e6 ? ["µs", 1e3] : ["ms", 1e6];
    out = trimFraction(n / (size as number)) + unit;
  } else {
    const h = Math.floor(n / 3600e9);
    n -= h * 3600e9;
    const m = Math.floor(n / 60e9);
    n -= m * 60e9;
    const sec = trimFraction(n / 1e9) + "s";
    out = h > 0 ? `${h}h${m}m${sec}` : m > 0 ? `${m}m${sec}` : sec;
  }
  return (neg ? "-" : "") + out;
}

function trimFraction(x: number): string {
  return String(Number(x.toFixed(9)));
}
