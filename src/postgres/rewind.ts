/**
 * Does this data directory need pg_rewind before it can stream from a primary, and running pg_rewind.
 *
 * The decision follows Patroni's: compare the local timeline and WAL position with the primary's timeline
 * history. We read the primary's history file with `pg_read_file()` over a superuser SQL connection
 * instead of the replication protocol's TIMELINE_HISTORY (npm:postgres has no physical replication mode).
 */
import { runCommand } from "./os_user.ts";
import { parseLsn } from "./lsn.ts";
import type { PgBinaries } from "./pg_ctl.ts";

export interface HistoryEntry {
  parentTimeline: number;
  switchLsn: number;
  reason: string;
}

/** Parse a `0000000N.history` file: `parentTLI<TAB>switchpoint<TAB>reason` lines. Pure. */
export function parseTimelineHistory(text: string): HistoryEntry[] {
  const out: HistoryEntry[] = [];
  for (const line of text.split("\n")) {
    const t = line.trim();
    if (!t || t.startsWith("#")) continue;
    const [tli, lsn, ...reason] = t.split(/\s+/);
    if (!tli || !lsn || !/^\d+$/.test(tli)) continue;
    try {
      out.push({ parentTimeline: Number(tli), switchLsn: parseLsn(lsn), reason: reason.join(" ") });
    } catch { /* skip malformed line */ }
  }
  return out;
}

export function historyFileName(timeline: number): string {
  return `${timeline.toString(16).toUpperCase().padStart(8, "0")}.history`;
}

export interface LocalPosition {
  timeline: number;
  /** Replica: replay position / minimum recovery point. Former primary: checkpoint (or flush) position. */
  lsn: number;
  /** Was (or is) this node a replica at that position? */
  inRecovery: boolean;
  /** Former primary, stopped cleanly: where its shutdown checkpoint record ends (from pg_waldump). */
  checkpointEnd?: number | null;
  /** Stopped without a shutdown checkpoint: where its WAL really ends is unknown. */
  unclean?: boolean;
  /** Entries of the local history file of `timeline` (absent: unknown or timeline 1). */
  history?: HistoryEntry[];
}

export interface PrimaryPosition {
  timeline: number;
  /** Current WAL position (flush), used when timelines are equal. */
  lsn: number | null;
  /** Entries of the primary's current timeline history file (empty on timeline 1). */
  history: HistoryEntry[];
}

export interface RewindDecision {
  need: boolean;
  reason: string;
}

/** Pure rewind decision (Patroni's `_check_timeline_and_lsn`, plus a guard for equal timelines). */
export function decideRewind(local: LocalPosition, primary: PrimaryPosition): RewindDecision {
  if (local.timeline > primary.timeline) {
    return {
      need: true,
      reason: `local timeline ${local.timeline} is ahead of the primary's ${primary.timeline}`,
    };
  }
  if (local.timeline === primary.timeline) {
    // Two nodes promoted from the same parent land on the same timeline number with different WAL. Their
    // history files tell: the same timeline reached from a different switch point is another branch.
    const mine = local.history?.at(-1);
    const theirs = primary.history.at(-1);
    if (
      mine && theirs &&
      (mine.parentTimeline !== theirs.parentTimeline || mine.switchLsn !== theirs.switchLsn)
    ) {
      return {
        need: true,
        reason: `same timeline ${local.timeline} but forked: local switch from ${mine.parentTimeline} at ` +
          `${mine.switchLsn}, the primary's from ${theirs.parentTimeline} at ${theirs.switchLsn}`,
      };
    }
    // Otherwise a local position past the primary's end is the one symptom we can see.
    if (primary.lsn !== null && local.lsn > primary.lsn && !local.inRecovery) {
      return {
        need: true,
        reason: `same timeline ${local.timeline} but local WAL is ahead of the primary's`,
      };
    }
    return { need: false, reason: `same timeline ${local.timeline}` };
  }
  for (const h of primary.history) {
    if (h.parentTimeline === local.timeline) {
      if (local.unclean) {
        return { need: true, reason: "former primary was not shut down cleanly; its WAL end is unknown" };
      }
      if (local.inRecovery) {
        return local.lsn > h.switchLsn
          ? { need: true, reason: `replayed past the switch point of timeline ${local.timeline}` }
          : {
            need: false,
            reason: `replay position is before the switch point of timeline ${local.timeline}`,
          };
      }
      if (local.lsn >= h.switchLsn) {
        return {
          need: true,
          reason: `checkpoint is at or past the switch point of timeline ${local.timeline}`,
        };
      }
      if (local.checkpointEnd === undefined || local.checkpointEnd === null) {
        return { need: true, reason: "cannot tell where the shutdown checkpoint record ends" };
      }
      return local.checkpointEnd === h.switchLsn
        ? { need: false, reason: "shutdown checkpoint ends exactly at the switch point" }
        : { need: true, reason: "shutdown checkpoint does not end at the switch point" };
    }
    if (h.parentTimeline > local.timeline) {
      return { need: true, reason: `timeline ${local.timeline} is not in the primary's history` };
    }
  }
  return { need: true, reason: `timeline ${local.timeline} is not in the primary's history` };
}

/**
 * End of the WAL record starting at `lsn` on `timeline`: pg_waldump prints the next record's start, or an
 * "invalid record length at X/Y" error at the place the next record would begin.
 */
export async function recordEnd(
  bin: PgBinaries,
  dataDir: string,
  timeline: number,
  lsn: string,
): Promise<number | null> {
  const r = await runCommand(bin.pgWaldump, [
    "-p",
    `${dataDir}/pg_wal`,
    "-t",
    String(timeline),
    "-s",
    lsn,
    "-n",
    "2",
  ], {
    timeoutMs: 15_000,
  });
  return parseRecordEnd(r.stdout + "\n" + r.stderr);
}

/** Pure part of `recordEnd`. */
export function parseRecordEnd(output: string): number | null {
  const lsns = [...output.matchAll(/\blsn: ([0-9A-F]+\/[0-9A-F]+)/gi)].map((m) => m[1]!);
  if (lsns.length >= 2) return parseLsn(lsns[1]!);
  const m =
    /(?:invalid record length|invalid magic number|record with incorrect prev-link|contrecord)[^\n]* at ([0-9A-F]+\/[0-9A-F]+)/i
      .exec(output);
  return m ? parseLsn(m[1]!) : null;
}
