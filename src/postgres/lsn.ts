/**
 * PostgreSQL LSNs (`X/Y` text, two 32-bit hex halves) as byte positions. Numbers are exact up to 2^53 bytes
 * (8 PiB of WAL), which is why Patroni's member data can carry them as plain JSON numbers.
 */

const LSN_RE = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;

/** Parse `X/Y` into bytes. Throws a TypeError for anything else. */
export function parseLsn(text: string): number {
  const m = LSN_RE.exec(text.trim());
  if (!m) throw new TypeError(`Cannot parse LSN: expected "X/Y" in hex, got ${JSON.stringify(text)}`);
  return parseInt(m[1]!, 16) * 0x1_0000_0000 + parseInt(m[2]!, 16);
}

/** Like `parseLsn`, but `null`/`undefined`/empty input gives `null`. */
export function parseLsnOrNull(text: string | null | undefined): number | null {
  if (text === null || text === undefined || text === "") return null;
  return parseLsn(text);
}

/** Bytes → `X/Y` (upper-case hex, no padding), as PostgreSQL prints it. */
export function formatLsn(bytes: number): string {
  if (!Number.isSafeInteger(bytes) || bytes < 0) {
    throw new RangeError(`Cannot format LSN: expected a non-negative safe integer, got ${bytes}`);
  }
  const hi = Math.floor(bytes / 0x1_0000_0000);
  const lo = bytes % 0x1_0000_0000;
  return `${hi.toString(16).toUpperCase()}/${lo.toString(16).toUpperCase()}`;
}

/** WAL file name prefix → timeline: `000000020000000000000003` → 2. */
export function timelineFromWalFileName(name: string): number {
  if (!/^[0-9A-Fa-f]{24}$/.test(name)) {
    throw new TypeError(
      `Cannot read timeline: expected a 24-digit WAL file name, got ${JSON.stringify(name)}`,
    );
  }
  return parseInt(name.slice(0, 8), 16);
}
