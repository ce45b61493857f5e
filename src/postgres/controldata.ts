/**
 * `pg_controldata`: the one source of truth about a data directory that works while PostgreSQL is down
 * (system identifier, cluster state, checkpoint and minimum-recovery positions and timelines).
 */
import { parseLsnOrNull } from "./lsn.ts";

export interface ControlData {
  /** Every "key: value" line as printed. */
  raw: Record<string, string>;
  sysid: string | null;
  /** "Database cluster state", e.g. `in production`, `shut down`, `shut down in recovery`. */
  state: string | null;
  checkpointLsn: number | null;
  checkpointRedoLsn: number | null;
  checkpointTimeline: number | null;
  /** "Minimum recovery ending location" (0 when none). */
  minRecoveryLsn: number | null;
  minRecoveryTimeline: number | null;
  walLogHints: boolean;
  dataChecksums: boolean;
  /** `max_connections setting` etc., for the equal-or-higher rule on replicas. */
  settings: Record<string, number>;
}

/** Parse pg_controldata's output (run with LANG=C). Pure. */
export function parseControlData(text: string): ControlData {
  const raw: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const i = line.indexOf(":");
    if (i <= 0) continue;
    raw[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  const num = (k: string) => (raw[k] !== undefined && /^\d+$/.test(raw[k]!) ? Number(raw[k]) : null);
  const lsn = (k: string) => {
    try {
      return parseLsnOrNull(raw[k]);
    } catch {
      return null;
    }
  };
  const settings: Record<string, number> = {};
  for (const [k, v] of Object.entries(raw)) {
    const m = /^(\w+) setting$/.exec(k);
    if (m && /^\d+$/.test(v)) settings[m[1]!] = Number(v);
  }
  return {
    raw,
    sysid: raw["Database system identifier"] ?? null,
    state: raw["Database cluster state"] ?? null,
    checkpointLsn: lsn("Latest checkpoint location"),
    checkpointRedoLsn: lsn("Latest checkpoint's REDO location"),
    checkpointTimeline: num("Latest checkpoint's TimeLineID"),
    minRecoveryLsn: lsn("Minimum recovery ending location"),
    minRecoveryTimeline: num("Min recovery ending loc's timeline"),
    walLogHints: raw["wal_log_hints setting"] === "on",
    dataChecksums: (num("Data page checksum version") ?? 0) > 0,
    settings,
  };
}

/**
 * Where the local WAL ends according to pg_control, for a stopped cluster: a cleanly stopped replica's
 * minimum recovery point when set, else the last checkpoint. Used to decide whether pg_rewind is needed.
 */
export function localWalEnd(cd: ControlData): { timeline: number; lsn: number } | null {
  if (cd.state === "shut down in recovery" || cd.state === "in archive recovery") {
    if (cd.minRecoveryLsn && cd.minRecoveryTimeline) {
      return { timeline: cd.minRecoveryTimeline, lsn: cd.minRecoveryLsn };
    }
  }
  if (cd.checkpointLsn === null || cd.checkpointTimeline === null) return null;
  return { timeline: cd.checkpointTimeline, lsn: cd.checkpointLsn };
}
