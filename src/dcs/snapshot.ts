/**
 * Builds a ClusterSnapshot from raw keys, shared by every backend so Patroni's value formats are parsed in one
 * place. Corrupt values are reported through `onBadData` and ignored (the member is skipped, the key treated as
 * absent), so one bad key never stops the agent.
 */
import {
  type ClusterSnapshot,
  emptySnapshot,
  FailoverSchema,
  type HistoryEntry,
  MemberDataSchema,
  StatusSchema,
  SyncSchema,
} from "./types.ts";

export interface RawKey {
  /** Path relative to the cluster (or group) prefix, without leading slash: `leader`, `members/node1`. */
  key: string;
  value: string;
  version: string;
  session?: string;
}

export type BadDataHandler = (key: string, problem: string) => void;

/** Default handler of the backends: each distinct corrupt value is reported once, not every cycle. */
export function warnOnceBadData(): BadDataHandler {
  const seen = new Set<string>();
  return (key, problem) => {
    const id = `${key}\0${problem}`;
    if (seen.has(id)) return;
    seen.add(id);
    console.warn(`DCS: ignoring corrupt value of ${key}: ${problem}`);
  };
}

const GROUP_RE = /^(0|[1-9][0-9]*)$/;

function parseJson(raw: RawKey, onBad: BadDataHandler): unknown {
  try {
    return JSON.parse(raw.value);
  } catch {
    onBad(raw.key, `invalid JSON ${JSON.stringify(raw.value.slice(0, 80))}`);
    return undefined;
  }
}

/** Parse the keys of one cluster (paths relative to its prefix). */
export function snapshotFromKeys(keys: RawKey[], onBad: BadDataHandler = () => {}): ClusterSnapshot {
  const s = emptySnapshot();
  for (const raw of keys) {
    const k = raw.key.replace(/^\/+/, "");
    if (k === "initialize") s.initialize = raw.value;
    else if (k === "leader") {
      if (raw.value) s.leader = { name: raw.value, version: raw.version, session: raw.session };
    } else if (k.startsWith("members/")) {
      const name = k.slice("members/".length);
      if (!name || name.includes("/")) continue;
      let data: unknown;
      // Patroni < 2 stored a libpq URL with the API URL in application_name; accept it as legacy.
      if (raw.value.startsWith("postgres")) {
        let url: URL;
        try {
          url = new URL(raw.value.replace(/^postgres(ql)?:/, "http:"));
        } catch {
          onBad(raw.key, `invalid legacy connection URL ${JSON.stringify(raw.value.slice(0, 80))}`);
          continue;
        }
        data = {
          conn_url: raw.value.split("?")[0],
          api_url: url.searchParams.get("application_name") ?? undefined,
        };
      } else data = parseJson(raw, onBad);
      if (data === undefined) continue;
      const parsed = MemberDataSchema.safeParse(data);
      if (!parsed.success) {
        onBad(raw.key, `unexpected member data: ${parsed.error.issues[0]?.message}`);
        continue;
      }
      s.members.push({ name, data: parsed.data, version: raw.version, session: raw.session });
    } else if (k === "config") {
      const v = parseJson(raw, onBad);
      if (v && typeof v === "object" && !Array.isArray(v)) {
        s.config = { value: v as Record<string, unknown>, version: raw.version };
      } else if (v !== undefined) onBad(raw.key, "expected a JSON object");
    } else if (k === "history") {
      const v = parseJson(raw, onBad);
      if (Array.isArray(v) && v.every((e) => Array.isArray(e) && e.length >= 3)) {
        s.history = { value: v as HistoryEntry[], version: raw.version };
      } else if (v !== undefined) onBad(raw.key, "expected a JSON array of timeline records");
    } else if (k === "failover") {
      if (raw.value === "") continue;
      let v = parseJson(raw, () => {});
      // Legacy `leader:candidate` string form.
      if (v === undefined && raw.value.includes(":")) {
        const [leader, member] = raw.value.split(":");
        v = { ...(leader ? { leader } : {}), ...(member ? { member } : {}) };
      }
      const p = FailoverSchema.safeParse(v);
      if (p.success) s.failover = { value: p.data, version: raw.version };
      else onBad(raw.key, "expected {leader, member, scheduled_at}");
    } else if (k === "sync") {
      const p = SyncSchema.safeParse(parseJson(raw, onBad));
      if (p.success) s.sync = { value: p.data, version: raw.version };
      else onBad(raw.key, "expected {leader, sync_standby, quorum}");
    } else if (k === "failsafe") {
      const v = parseJson(raw, onBad);
      if (v && typeof v === "object" && !Array.isArray(v)) s.failsafe = v as Record<string, string>;
    } else if (k === "status") {
      const p = StatusSchema.safeParse(parseJson(raw, onBad));
      if (p.success) {
        s.status = {
          ...p.data,
          ...(s.status?.optime !== undefined && p.data.optime === undefined
            ? { optime: s.status.optime }
            : {}),
        };
      } else onBad(raw.key, "expected {optime, slots, retain_slots}");
    } else if (k === "optime/leader") {
      // Legacy plain LSN; `status` wins when both exist.
      const n = Number(raw.value);
      if (Number.isFinite(n)) s.status = { ...(s.status ?? {}), optime: s.status?.optime ?? n };
    }
  }
  s.members.sort((a, b) => a.name.localeCompare(b.name));
  return s;
}

/**
 * Parse a Citus tree: keys relative to the scope prefix, first component the group number.
 * Returns the snapshot of `ownGroup` with every other group under `groups`.
 */
export function snapshotFromGroupedKeys(
  keys: RawKey[],
  ownGroup: number,
  onBad: BadDataHandler = () => {},
): ClusterSnapshot {
  const byGroup = new Map<number, RawKey[]>();
  for (const raw of keys) {
    const k = raw.key.replace(/^\/+/, "");
    const slash = k.indexOf("/");
    if (slash < 0) continue;
    const g = k.slice(0, slash);
    if (!GROUP_RE.test(g)) continue;
    const list = byGroup.get(Number(g)) ?? [];
    list.push({ ...raw, key: k.slice(slash + 1) });
    byGroup.set(Number(g), list);
  }
  const own = snapshotFromKeys(byGroup.get(ownGroup) ?? [], (k, p) => onBad(`${ownGroup}/${k}`, p));
  own.groups = new Map();
  for (const [g, list] of [...byGroup].sort((a, b) => a[0] - b[0])) {
    if (g !== ownGroup) own.groups.set(g, snapshotFromKeys(list, (k, p) => onBad(`${g}/${k}`, p)));
  }
  return own;
}

/** Cluster timeline from history: last entry's TL + 1; `[]` → 1; missing → 0 (unknown). */
export function clusterTimeline(s: ClusterSnapshot): number {
  if (!s.history) return 0;
  const last = s.history.value[s.history.value.length - 1];
  return last ? Number(last[0]) + 1 : 1;
}
