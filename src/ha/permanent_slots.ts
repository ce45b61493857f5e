/**
 * Replication slots beyond the member slots of `slot_plan.ts` (reference §3.16), pure: permanent slots from
 * the dynamic `slots` map, what the leader publishes in `status.slots`, and what a replica keeps so the slots
 * survive a failover — copies of the other members' slots and of the permanent physical slots, advanced to
 * the leader's positions, and the permanent logical slots (copied from the primary, then advanced).
 */
import type { DynamicConfig } from "../config/dynamic.ts";
import type { ClusterSnapshot } from "../dcs/types.ts";
import { memberSlotsFor } from "./slot_plan.ts";
import { isNoFailover, slotNameFor } from "./members.ts";
import type { NodeTags } from "./types.ts";

export interface PermanentSlot {
  name: string;
  type: "physical" | "logical";
  database?: string;
  plugin?: string;
}

const VALID = /^[a-z0-9_]{1,63}$/;

/** Citus moves shards with temporary logical slots it manages itself (Patroni leaves them alone too). */
const CITUS_SLOT = /^citus_shard_(move|split)_slot(_[0-9]+){2,3}$/;

/**
 * Permanent slots that apply here: valid names only; `cluster_type` matching this cluster; physical only in a
 * standby cluster; logical ones need `database` and `plugin`. A `nofailover` replica keeps none (it can
 * never become the primary that would need them).
 */
export function permanentSlots(
  d: Pick<DynamicConfig, "slots">,
  opts: { standbyCluster: boolean; nofailoverReplica: boolean },
): { slots: PermanentSlot[]; invalid: string[] } {
  const slots: PermanentSlot[] = [];
  const invalid: string[] = [];
  if (opts.nofailoverReplica) return { slots, invalid };
  for (const [name, s] of Object.entries(d.slots ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
    if (!VALID.test(name)) {
      invalid.push(name);
      continue;
    }
    const clusterType = s.clusterType;
    if (clusterType === "primary" && opts.standbyCluster) continue;
    if (clusterType === "standby" && !opts.standbyCluster) continue;
    if (s.type === "logical") {
      if (opts.standbyCluster) continue;
      if (!s.database || !s.plugin) {
        invalid.push(name);
        continue;
      }
      slots.push({ name, type: "logical", database: s.database, plugin: s.plugin });
    } else slots.push({ name, type: "physical" });
  }
  return { slots, invalid };
}

/** A slot as read from `pg_replication_slots` with its position. */
export interface SlotState {
  name: string;
  type: "physical" | "logical";
  database: string | null;
  plugin: string | null;
  active: boolean;
  /** restart_lsn (physical) or confirmed_flush_lsn (logical), bytes; null when not reserved. */
  lsn: number | null;
}

export interface SlotsPlan {
  /** Physical slots to have (created when missing; other physical slots are dropped unless ignored). */
  physical: string[];
  /** Permanent logical slots: created on a primary, copied from it on a replica. */
  logical: PermanentSlot[];
  /** Replica: advance these slots to these positions when they are behind. */
  advance: Record<string, number>;
  /** Replica: logical slots missing here that must be copied from the primary. */
  copy: string[];
  /** Primary: logical slots to drop (not permanent, not ignored, not Citus'). */
  dropLogical: SlotState[];
}

export interface IgnoreRule {
  name?: string;
  type?: string;
  database?: string;
  plugin?: string;
}

function ignored(s: SlotState, rules: IgnoreRule[]): boolean {
  return rules.some((r) =>
    (r.name === undefined || r.name === s.name) && (r.type === undefined || r.type === s.type) &&
    (r.database === undefined || r.database === s.database) &&
    (r.plugin === undefined || r.plugin === s.plugin)
  );
}

/**
 * What this node's slots should be. The primary (or standby leader) holds its member slots and the permanent
 * ones. A replica (not tagged nofailover) holds its own cascade slots plus copies of the slots the leader
 * holds — except the one the leader keeps for this replica — advanced from `status.slots`.
 */
export function planSlots(input: {
  c: ClusterSnapshot;
  me: string;
  role: "primary" | "replica";
  tags: NodeTags;
  dynamic: Pick<DynamicConfig, "slots" | "ignoreSlots"> & Partial<Pick<DynamicConfig, "memberSlotsTtl">>;
  standbyCluster: boolean;
  existing: SlotState[];
  /** Leader: member slots kept for vanished members (`retain_slots`). */
  retain?: string[];
}): SlotsPlan {
  const { c, me, role, existing } = input;
  const mine = slotNameFor(me);
  const nofailoverReplica = role === "replica" && isNoFailover(input.tags);
  const perm = permanentSlots(input.dynamic, { standbyCluster: input.standbyCluster, nofailoverReplica })
    .slots
    .filter((s) => s.name !== mine);
  // The primary holds slots for the members that stream from the leader, which it is by role even in the
  // cycle that took the lock (that cycle's snapshot still has no leader).
  const physical = new Set(memberSlotsFor(c, me, role === "primary" ? me : c.leader?.name ?? null));
  for (const s of perm) if (s.type === "physical") physical.add(s.name);
  if (role === "primary") { for (const n of input.retain ?? []) if (n !== mine) physical.add(n); }
  const logical = perm.filter((s) => s.type === "logical");
  const advance: Record<string, number> = {};
  const copy: string[] = [];
  const dropLogical: SlotState[] = [];
  const rules = (input.dynamic.ignoreSlots ?? []) as IgnoreRule[];
  const have = new Map(existing.map((s) => [s.name, s]));
  if (role === "replica") {
    const leader = c.leader?.name;
    // Member slot positions are published only with member_slots_ttl > 0: without them a copy could never
    // advance and would hold WAL here forever.
    if (leader && !nofailoverReplica && (input.dynamic.memberSlotsTtl ?? 1800) > 0) {
      // Keep what the leader keeps, so WAL for the other members survives our promotion.
      for (const n of memberSlotsFor(c, leader)) if (n !== mine) physical.add(n);
      // ... and one for the leader itself: when it comes back as a replica of us its WAL is still there.
      if (leader !== me) physical.add(slotNameFor(leader));
      // ... and those it retains for members that are away.
      for (const n of c.status?.retain_slots ?? []) if (n !== mine) physical.add(n);
    }
    const positions = c.status?.slots ?? {};
    for (const n of [...physical, ...logical.map((s) => s.name)]) {
      const want = positions[n];
      const cur = have.get(n);
      if (want === undefined || !cur) continue;
      if (cur.lsn === null || cur.lsn < want) advance[n] = want;
    }
    for (const s of logical) {
      const cur = have.get(s.name);
      if (!cur || cur.type !== "logical" || cur.database !== s.database || cur.plugin !== s.plugin) {
        copy.push(s.name);
      }
    }
  } else {
    const wanted = new Set(logical.map((s) => s.name));
    for (const s of existing) {
      if (s.type !== "logical" || s.active || ignored(s, rules) || CITUS_SLOT.test(s.name)) continue;
      const spec = logical.find((l) => l.name === s.name);
      // A permanent name with another database or plugin is re-created.
      if (!wanted.has(s.name) || spec?.database !== s.database || spec?.plugin !== s.plugin) {
        dropLogical.push(s);
      }
    }
  }
  return { physical: [...physical].sort(), logical, advance, copy: copy.sort(), dropLogical };
}

/**
 * `status.slots` as the leader publishes it: permanent slots' positions (physical restart_lsn, logical
 * confirmed_flush_lsn), member slots too when `member_slots_ttl > 0`, and our own slot name at our LSN (a
 * replica holding a permanent slot with our name advances it from there).
 */
export function statusSlots(input: {
  me: string;
  myLsn: number;
  plan: Pick<SlotsPlan, "physical" | "logical">;
  existing: SlotState[];
  memberSlotsTtl: number;
  memberSlotNames: string[];
}): Record<string, number> {
  const out: Record<string, number> = {};
  const members = new Set(input.memberSlotNames);
  const wanted = new Set([...input.plan.physical, ...input.plan.logical.map((s) => s.name)]);
  for (const s of input.existing) {
    if (!wanted.has(s.name) || s.lsn === null) continue;
    if (members.has(s.name) && input.memberSlotsTtl <= 0) continue;
    out[s.name] = s.lsn;
  }
  if (input.myLsn > 0) out[slotNameFor(input.me)] = input.myLsn;
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}
