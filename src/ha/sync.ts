/**
 * Synchronous replication, the pure part (reference §4): `synchronous_standby_names` (SSN) parsing and
 * formatting, choosing synchronous candidates from `pg_stat_replication` and member data, deciding which of
 * them are *confirmed* synchronous, the priority-mode plan (§4.3), strict mode (§4.4) and the values written
 * before a promotion. The quorum-mode resolver lives in `quorum.ts`; the executor doing the I/O in
 * `src/agent/sync_executor.ts`.
 *
 * Names compare case-insensitively everywhere (PostgreSQL matches application_name that way); sets are kept
 * lowercased and sorted so plans are deterministic.
 */
import type { Member, SyncValue } from "../dcs/types.ts";
import type { ReplicationRow } from "../postgres/port.ts";

/** Reserved SSN entry that no standby matches: commits wait until a real standby is listed (strict mode). */
export const STRICT_PLACEHOLDER = "__patroni_strict_sync_replica_placeholder__";

export type SyncMode = "off" | "on" | "quorum";

/** A parsed `synchronous_standby_names`. `members` are lowercased; the placeholder is left out. */
export interface Ssn {
  type: "off" | "priority" | "quorum";
  hasStar: boolean;
  num: number;
  members: string[];
}

export const EMPTY_SSN: Ssn = Object.freeze({ type: "off", hasStar: false, num: 0, members: [] }) as Ssn;

export class SsnParseError extends Error {
  override name = "SsnParseError";
}

const PLAIN_NAME = /^[A-Za-z_][A-Za-z_0-9$]*$/;

/** Quote a standby name for SSN when it is not a plain identifier or is a keyword (`first`, `any`). */
export function quoteStandbyName(name: string): string {
  const lower = name.toLowerCase();
  return PLAIN_NAME.test(name) && lower !== "first" && lower !== "any"
    ? name
    : `"${name.replaceAll('"', '""')}"`;
}

type Token = {
  kind: "first" | "any" | "ident" | "dquot" | "star" | "num" | "comma" | "open" | "close";
  text: string;
};

function tokenize(value: string): Token[] {
  const re =
    /\s+|(?<first>first\b)|(?<any>any\b)|(?<ident>[A-Za-z_][A-Za-z_0-9$]*)|(?<dquot>"(?:[^"]|"")*")|(?<star>\*)|(?<num>\d+)|(?<comma>,)|(?<open>\()|(?<close>\))|(?<junk>.)/giy;
  const out: Token[] = [];
  for (const m of value.matchAll(re)) {
    const g = m.groups ?? {};
    const kind = (Object.keys(g) as (keyof typeof g)[]).find((k) => g[k] !== undefined);
    if (!kind) continue; // whitespace
    if (kind === "junk") {
      throw new SsnParseError(`Cannot parse synchronous_standby_names ${JSON.stringify(value)}`);
    }
    out.push({ kind: kind as Token["kind"], text: m[0] });
  }
  return out;
}

/** Parse an SSN value the way PostgreSQL reads it. Throws `SsnParseError` on values PostgreSQL would reject. */
export function parseSsn(value: string): Ssn {
  const t = tokenize(value);
  if (t.length === 0) return { ...EMPTY_SSN, members: [] };
  const kinds = t.map((x) => x.kind);
  let type: Ssn["type"] = "priority";
  let num = 1;
  let list = t;
  const closed = kinds[kinds.length - 1] === "close";
  if (closed && (kinds[0] === "any" || kinds[0] === "first") && kinds[1] === "num" && kinds[2] === "open") {
    type = kinds[0] === "any" ? "quorum" : "priority";
    num = Number(t[1]!.text);
    list = t.slice(3, -1);
  } else if (closed && kinds[0] === "num" && kinds[1] === "open") {
    num = Number(t[0]!.text);
    list = t.slice(2, -1);
  }
  const bad = () => new SsnParseError(`Cannot parse synchronous_standby_names ${JSON.stringify(value)}`);
  if (list.length === 0) throw bad();
  const members = new Set<string>();
  let hasStar = false;
  list.forEach((tok, i) => {
    if (i % 2 === 1) {
      if (tok.kind !== "comma" || i === list.length - 1) throw bad();
      return;
    }
    if (tok.kind === "ident" || tok.kind === "first" || tok.kind === "any") {
      members.add(tok.text.toLowerCase());
    } else if (tok.kind === "star") {
      members.add("*");
      hasStar = true;
    } else if (tok.kind === "dquot") members.add(tok.text.slice(1, -1).replaceAll('""', '"').toLowerCase());
    else throw bad();
  });
  if (list.length % 2 === 0) throw bad();
  members.delete(STRICT_PLACEHOLDER);
  return { type, hasStar, num, members: [...members].sort() };
}

/**
 * The SSN value for `names`: one name alone in priority mode, `N (a,b)` for several, `ANY N (...)` in quorum
 * mode. No names but `num >= 1` (strict mode) lists the placeholder so commits wait. Null means "no
 * synchronous standbys".
 */
export function formatSsn(names: Iterable<string>, opts: { quorum: boolean; num?: number }): string | null {
  let list = [...new Set([...names].map((n) => n.toLowerCase()))].sort();
  const strict = list.includes("*") || (opts.num !== undefined && opts.num >= 1 && list.length === 0);
  list = strict ? [STRICT_PLACEHOLDER] : list.map(quoteStandbyName);
  if (list.length === 0) return null;
  const num = opts.num ?? list.length;
  if (opts.quorum) return `ANY ${num} (${list.join(",")})`;
  return list.length > 1 ? `${num} (${list.join(",")})` : list[0]!;
}

/** Names in the `sync` key: its leader (lowercased, or null when sync mode is not active) and the standbys. */
export function syncKeyNames(
  v: SyncValue | null | undefined,
): { leader: string | null; voters: string[]; quorum: number } {
  if (!v?.leader) return { leader: null, voters: [], quorum: 0 };
  const voters = (v.sync_standby ?? "").split(",").map((s) => s.trim().toLowerCase()).filter(Boolean);
  return {
    leader: v.leader.toLowerCase(),
    voters: [...new Set(voters)].sort(),
    quorum: v.leader ? v.quorum ?? 0 : 0,
  };
}

/** The `sync` key value exactly as Patroni writes it: `{leader, quorum, sync_standby}`, standbys sorted. */
export function syncKeyValue(leader: string, standbys: Iterable<string>, quorum: number): SyncValue {
  const list = [...new Set([...standbys].map((s) => s.toLowerCase()))].sort();
  return { leader, quorum, sync_standby: list.length ? list.join(",") : null };
}

// ---- candidates ---------------------------------------------------------------------------------------

/** A streaming replica that may become synchronous. */
export interface SyncCandidate {
  /** Lowercased member / application name. */
  name: string;
  syncState: string;
  lsn: number;
  nofailover: boolean;
  syncPriority: number;
}

/** `synchronous_commit` decides which walsender position proves a commit is safe on the standby. */
export function lsnColumn(synchronousCommit: string | undefined): "write_lsn" | "flush_lsn" | "replay_lsn" {
  const v = (synchronousCommit ?? "on").toLowerCase();
  return v === "remote_apply" ? "replay_lsn" : v === "remote_write" ? "write_lsn" : "flush_lsn";
}

function tagsOf(m: Member) {
  const t = m.data.tags ?? {};
  const int = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? Math.trunc(v) : undefined);
  const syncPriority = int(t.sync_priority);
  const failoverPriority = int(t.failover_priority);
  return {
    nosync: t.nosync === true || (t.nosync === undefined && syncPriority !== undefined && syncPriority <= 0),
    syncPriority: syncPriority ?? 1,
    nofailover: t.nofailover === true ||
      (t.nofailover === undefined && failoverPriority !== undefined && failoverPriority <= 0),
    replicatefrom: typeof t.replicatefrom === "string" ? t.replicatefrom.toLowerCase() : undefined,
  };
}

/**
 * Replicas eligible to be synchronous: streaming rows of running members without `nosync`, not us, not
 * supposed to cascade behind a member that already streams from us. Best first: higher `sync_priority`, then
 * already-`sync` ones (so a working sync standby is kept), then the most advanced; promotable ones before
 * `nofailover` ones. Also returns the reference LSN for `maximum_lag_on_syncnode`: the best replica's when
 * there are several, else the primary's.
 */
export function syncCandidates(input: {
  me: string;
  members: Member[];
  replication: ReplicationRow[];
  synchronousCommit?: string;
  primaryLsn: number;
}): { candidates: SyncCandidate[]; maxLsn: number } {
  const me = input.me.toLowerCase();
  const col = lsnColumn(input.synchronousCommit);
  const eligible = new Map<string, Member>();
  for (const m of input.members) {
    const n = m.name.toLowerCase();
    if (n === me || m.data.state !== "running" || tagsOf(m).nosync) continue;
    eligible.set(n, m);
  }
  const rows = new Map<string, ReplicationRow>();
  for (const r of input.replication) {
    const n = r.application_name.toLowerCase();
    if (r[col] === undefined || r[col] === null || !eligible.has(n)) continue;
    rows.set(n, r);
  }
  // A member tagged replicatefrom is expected to stream from another member; while the head of its chain
  // streams from us, a direct connection is transient and must not become synchronous.
  const cascades = (m: Member, seen: Set<string>): boolean => {
    const up = tagsOf(m).replicatefrom;
    if (!up || seen.has(up)) return false;
    const um = eligible.get(up);
    if (!um) return false;
    if (!tagsOf(um).replicatefrom) return rows.has(up);
    return cascades(um, new Set([...seen, up]));
  };
  const out: SyncCandidate[] = [];
  for (const [n, r] of rows) {
    const m = eligible.get(n)!;
    if (cascades(m, new Set([n]))) continue;
    const t = tagsOf(m);
    out.push({
      name: n,
      syncState: r.sync_state,
      lsn: r[col]!,
      nofailover: t.nofailover,
      syncPriority: t.syncPriority,
    });
  }
  out.sort((a, b) =>
    b.syncPriority - a.syncPriority || cmpDesc(a.syncState, b.syncState) || b.lsn - a.lsn ||
    a.name.localeCompare(b.name)
  );
  // Stable: promotable candidates first, order otherwise kept.
  const sorted = [...out.filter((c) => !c.nofailover), ...out.filter((c) => c.nofailover)];
  const maxLsn = out.length > 1 ? Math.max(...out.map((c) => c.lsn)) : input.primaryLsn;
  return { candidates: sorted, maxLsn };
}

function cmpDesc(a: string, b: string): number {
  return a < b ? 1 : a > b ? -1 : 0;
}

/**
 * Which standbys have proven they hold every commit acknowledged so far. A name becomes ready once it is in
 * SSN, reported synchronous, and has reached the primary's flush LSN captured when SSN last changed (commits
 * acknowledged before the change may not have reached it); in priority mode a name already in the `sync` key
 * is ready (it was proven before, e.g. by a previous agent process). Readiness is dropped when SSN no longer
 * lists the name.
 */
export interface Readiness {
  /** SSN value the readiness refers to (as read from PostgreSQL). */
  ssn: string;
  /** Primary flush LSN captured right after SSN took that value. */
  flushLsnAtChange: number;
  ready: string[];
}

export function updateReadiness(
  prev: Readiness,
  input: {
    mode: "on" | "quorum";
    ssn: Ssn;
    candidates: SyncCandidate[];
    syncKey: SyncValue | null | undefined;
  },
): Readiness {
  const ready = new Set(prev.ready.filter((n) => input.ssn.members.includes(n)));
  const inKey = syncKeyNames(input.syncKey);
  for (const c of input.candidates) {
    if (ready.has(c.name) || !input.ssn.members.includes(c.name)) continue;
    const caughtUp = c.lsn >= prev.flushLsnAtChange;
    if (input.mode === "quorum") {
      if (caughtUp && c.syncState === "quorum") ready.add(c.name);
    } else if (inKey.leader !== null && inKey.voters.includes(c.name)) ready.add(c.name);
    else if (c.syncState === "sync" && caughtUp) ready.add(c.name);
  }
  return { ...prev, ready: [...ready].sort() };
}

/** What the primary sees now (Patroni's `_SyncState`). */
export interface CurrentSync {
  ssn: Ssn;
  /** SSN members; the placeholder name when SSN is `*`. */
  sync: string[];
  /** Ready standbys that PostgreSQL also reports synchronous. */
  confirmed: string[];
  /** Candidates we want synchronous (priority mode: the first `synchronous_node_count`). */
  active: string[];
}

export function currentSync(input: {
  mode: "on" | "quorum";
  ssn: Ssn;
  candidates: SyncCandidate[];
  maxLsn: number;
  readiness: Readiness;
  synchronousNodeCount: number;
  maximumLagOnSyncnode: number;
}): CurrentSync {
  const active: string[] = [];
  const confirmed: string[] = [];
  const ready = new Set(input.readiness.ready);
  for (const c of input.candidates) {
    if (input.maximumLagOnSyncnode > 0 && input.maxLsn - c.lsn > input.maximumLagOnSyncnode) continue;
    if (input.mode === "quorum") {
      // nofailover members only fill up to synchronous_node_count: they cannot be promoted, so counting on
      // them for durability would reduce availability.
      if (!c.nofailover || active.length < input.synchronousNodeCount) {
        active.push(c.name);
        if (ready.has(c.name)) confirmed.push(c.name);
      }
    } else {
      active.push(c.name);
      if (c.syncState === "sync" && ready.has(c.name)) confirmed.push(c.name);
      if (active.length >= input.synchronousNodeCount) break;
    }
  }
  const sync = input.ssn.hasStar ? [STRICT_PLACEHOLDER] : input.ssn.members;
  return { ssn: input.ssn, sync, confirmed: confirmed.sort(), active: active.sort() };
}

// ---- priority mode ------------------------------------------------------------------------------------

/** One step of a plan; the executor runs them in order and stops at the first failed CAS. */
export type SyncStep =
  | { kind: "sync_key"; leader: string; standbys: string[]; quorum: number; why: string }
  | { kind: "ssn"; names: string[]; num?: number; quorum: boolean; why: string }
  /** Wait for PostgreSQL to apply SSN, then re-read which standbys are confirmed and write them. */
  | { kind: "confirm"; why: string }
  | { kind: "delete_sync_key"; why: string };

const eq = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((x, i) => x === b[i]);
const lower = (xs: Iterable<string>) => [...new Set([...xs].map((x) => x.toLowerCase()))].sort();

/**
 * Strict mode without enough streaming candidates (§4.4): keep SSN naming the standbys recorded in `sync` (or
 * the placeholder) so commits wait for a known-safe node. Non-strict mode with nothing to list clears SSN.
 * Returns the SSN step (if any) and whether strict mode took over this cycle.
 */
export function strictModeStep(input: {
  mode: "on" | "quorum";
  strict: boolean;
  cur: CurrentSync;
  syncKey: SyncValue | null | undefined;
}): { step: SyncStep | null; active: boolean } {
  const minSync = input.strict ? 1 : 0;
  const key = syncKeyNames(input.syncKey);
  if (input.cur.active.length < minSync) {
    const quorum = input.mode === "quorum" ? key.quorum : 0;
    const numsync = Math.max(minSync, key.voters.length - quorum);
    const type = input.mode === "quorum" ? "quorum" : "priority";
    const same = eq(key.voters, lower(input.cur.sync)) && input.cur.ssn.num === numsync &&
      input.cur.ssn.type === type && !input.cur.ssn.hasStar;
    return {
      active: true,
      step: same ? null : {
        kind: "ssn",
        names: key.voters,
        num: numsync,
        quorum: input.mode === "quorum",
        why: "synchronous_mode_strict: no eligible streaming standby, commits wait for a recorded one",
      },
    };
  }
  if (
    minSync === 0 && input.cur.active.length === 0 && key.voters.length === 0 &&
    (input.cur.sync.length > 0 || input.cur.ssn.num > 0)
  ) {
    return {
      active: false,
      step: { kind: "ssn", names: [], quorum: false, why: "no synchronous candidates" },
    };
  }
  return { active: false, step: null };
}

/**
 * Priority mode (`synchronous_mode: on`, §4.3): the ordered steps that bring SSN and `sync` to the picked
 * standbys while keeping the invariant "a name is in `sync` only while it is really synchronous": shrink
 * `sync` to the confirmed ones first, then write SSN, then (after PostgreSQL confirms) grow `sync`.
 */
export function planPriority(input: {
  me: string;
  cur: CurrentSync;
  syncKey: SyncValue | null | undefined;
  strict: boolean;
}): SyncStep[] {
  const me = input.me;
  const steps: SyncStep[] = [];
  const key = syncKeyNames(input.syncKey);
  let voters = key.voters;
  const picked = input.cur.active;
  const confirmed = input.cur.confirmed;
  if (key.leader === null) {
    steps.push({
      kind: "sync_key",
      leader: me,
      standbys: [],
      quorum: 0,
      why: "enabled synchronous replication",
    });
    voters = [];
  } else if (key.leader !== me.toLowerCase()) {
    steps.push({
      kind: "sync_key",
      leader: me,
      standbys: [],
      quorum: 0,
      why: `the sync key names leader ${key.leader}, not us`,
    });
    voters = [];
  }
  // SSN already lists exactly the picked ones but `sync` disagrees with what PostgreSQL confirms: repair.
  if (eq(picked, voters) && !eq(voters, confirmed)) {
    steps.push({
      kind: "sync_key",
      leader: me,
      standbys: confirmed,
      quorum: 0,
      why: "sync key did not match the confirmed synchronous standbys",
    });
    voters = confirmed;
  }
  const strict = strictModeStep({
    mode: "on",
    strict: input.strict,
    cur: input.cur,
    syncKey: { ...input.syncKey, leader: me, sync_standby: voters.join(",") || null },
  });
  if (strict.active || strict.step) return strict.step ? [...steps, strict.step] : steps;
  const ssnNames = lower(input.cur.sync);
  if (eq(picked, voters) && eq(voters, ssnNames) && input.cur.ssn.num === picked.length) {
    if (input.cur.ssn.type !== "priority" && picked.length) {
      steps.push({
        kind: "ssn",
        names: picked,
        quorum: false,
        why: "switching SSN from quorum to priority syntax",
      });
    }
    return steps;
  }
  const common = voters.filter((v) => confirmed.includes(v));
  if (!eq(common, voters)) {
    steps.push({
      kind: "sync_key",
      leader: me,
      standbys: common,
      quorum: 0,
      why: `dropping unconfirmed standbys before changing SSN (was ${voters.join(",") || "none"})`,
    });
  }
  steps.push({ kind: "ssn", names: picked, quorum: false, why: "synchronous standbys picked" });
  if (picked.length > 0) {
    steps.push({ kind: "confirm", why: "waiting for PostgreSQL to confirm the standbys" });
  }
  return steps;
}

/**
 * Before promoting in priority mode: take over `sync` (strict mode keeps the previous members other than us
 * as standbys so commits keep waiting for one of them) and point SSN at the same names.
 */
export function prePromotePriority(input: {
  me: string;
  syncKey: SyncValue | null | undefined;
  strict: boolean;
}): { key: SyncValue; ssn: string | null } {
  const me = input.me.toLowerCase();
  const k = syncKeyNames(input.syncKey);
  const members = input.strict ? [...(k.leader ? [k.leader] : []), ...k.voters].filter((n) => n !== me) : [];
  const num = input.strict && members.length === 0 ? 1 : undefined;
  return {
    key: syncKeyValue(input.me, members, 0),
    ssn: formatSsn(members, { quorum: false, ...(num !== undefined ? { num } : {}) }),
  };
}

/**
 * Before promoting in quorum mode: SSN over the previous voting set minus us, with `numsync` chosen so any
 * commit still overlaps any promotion quorum; the `sync` key itself is rewritten after promotion.
 */
export function prePromoteQuorum(input: {
  me: string;
  syncKey: SyncValue | null | undefined;
  strict: boolean;
}): string | null {
  const me = input.me.toLowerCase();
  const k = syncKeyNames(input.syncKey);
  const members = k.leader ? [k.leader, ...k.voters] : [];
  let numsync = members.length - k.quorum - 1;
  const others = members.filter((n) => n !== me);
  if (others.length === members.length) numsync += 1;
  numsync = Math.max(numsync, input.strict ? 1 : 0);
  if (numsync === 0 && others.length === 0) return null;
  return formatSsn(others, { quorum: true, num: numsync });
}
