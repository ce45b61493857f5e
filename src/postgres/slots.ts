/**
 * Physical replication slots on the primary: one per member that streams from it (named as Patroni names
 * them), plus permanent ones. Everything else physical is dropped unless `ignore_slots` matches it.
 */
import type { Sql } from "./queries.ts";

const MAX_SLOT_NAME = 63;

/** Patroni's member → slot name: lowercase, `-`/`.` → `_`, other chars → `u%04d` (code point), 63 chars. */
export function slotNameFromMember(member: string): string {
  let out = "";
  for (const ch of member.toLowerCase()) {
    if (/[a-z0-9_]/.test(ch)) out += ch;
    else if (ch === "-" || ch === ".") out += "_";
    else out += `u${String(ch.codePointAt(0)!).padStart(4, "0")}`;
  }
  return out.slice(0, MAX_SLOT_NAME);
}

export function isValidSlotName(name: string): boolean {
  return /^[a-z0-9_]{1,63}$/.test(name);
}

export interface IgnoreSlot {
  name?: string;
  type?: string;
  database?: string;
  plugin?: string;
}

export interface SlotRow {
  slot_name: string;
  slot_type: string;
  database: string | null;
  plugin: string | null;
  active: boolean;
}

/** Does any `ignore_slots` rule match this slot? Every field a rule sets must match. Pure. */
export function isIgnored(slot: SlotRow, rules: IgnoreSlot[]): boolean {
  return rules.some((r) =>
    (r.name === undefined || r.name === slot.slot_name) &&
    (r.type === undefined || r.type === slot.slot_type) &&
    (r.database === undefined || r.database === slot.database) &&
    (r.plugin === undefined || r.plugin === slot.plugin)
  );
}

export interface SlotPlan {
  create: string[];
  drop: string[];
  /** Unwanted but active: cannot be dropped this time. */
  keepActive: string[];
}

/** What to change so the physical slots are exactly `wanted` (ignored ones untouched). Pure. */
export function planSlots(existing: SlotRow[], wanted: string[], ignore: IgnoreSlot[]): SlotPlan {
  const have = new Set(existing.filter((s) => s.slot_type === "physical").map((s) => s.slot_name));
  const want = new Set(wanted);
  const plan: SlotPlan = { create: [], drop: [], keepActive: [] };
  for (const n of [...want].sort()) if (!have.has(n)) plan.create.push(n);
  for (const s of existing) {
    if (s.slot_type !== "physical" || want.has(s.slot_name) || isIgnored(s, ignore)) continue;
    (s.active ? plan.keepActive : plan.drop).push(s.slot_name);
  }
  return plan;
}

export async function listSlots(sql: Sql): Promise<SlotRow[]> {
  const rows = await sql.unsafe(
    // Temporary slots (pg_basebackup's) belong to their session and vanish with it: never ours to manage.
    `SELECT slot_name::text, slot_type, database::text, plugin::text, active FROM pg_replication_slots
      WHERE NOT temporary`,
  );
  return (rows as Record<string, unknown>[]).map((r) => ({
    slot_name: String(r.slot_name),
    slot_type: String(r.slot_type),
    database: r.database === null ? null : String(r.database),
    plugin: r.plugin === null ? null : String(r.plugin),
    active: r.active === true || r.active === "t",
  }));
}

/** Apply `planSlots` on a primary. Returns the plan that was carried out. */
export async function syncPhysicalSlots(sql: Sql, wanted: string[], ignore: IgnoreSlot[]): Promise<SlotPlan> {
  for (const n of wanted) {
    if (!isValidSlotName(n)) throw new TypeError(`Cannot create slot: invalid name ${JSON.stringify(n)}`);
  }
  const plan = planSlots(await listSlots(sql), wanted, ignore);
  for (const n of plan.create) {
    // immediately_reserve: WAL is kept from now on, before the replica first connects.
    await sql.unsafe(
      `SELECT pg_create_physical_replication_slot($1, true)
       WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)`,
      [n],
    );
  }
  for (const n of plan.drop) {
    // Only inactive ones: a walsender may have attached since we listed them.
    await sql.unsafe(
      `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
       WHERE slot_name = $1 AND NOT active`,
      [n],
    );
  }
  return plan;
}
