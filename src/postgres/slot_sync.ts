/**
 * Replication slot I/O beyond the member slots of `slots.ts`: positions of every slot, permanent logical slots
 * on the primary, advancing slot copies on replicas (`pg_replication_slot_advance`, PostgreSQL 11+), and
 * copying logical slots to a replica.
 *
 * PostgreSQL 15 cannot create or copy a logical slot on a standby (`pg_copy_logical_replication_slot` and
 * `pg_create_logical_replication_slot` refuse during recovery), so, like Patroni, the slot's on-disk state is
 * read from the primary (`pg_read_binary_file('pg_replslot/<name>/state')`) and written into this replica's
 * `pg_replslot/<name>/state`; PostgreSQL loads it at the next start, after which the copy is advanced. The
 * copy stays usable after a failover once this replica's physical slot on the primary holds back the catalog
 * rows the logical slot needs: `hot_standby_feedback` reports the copy's catalog_xmin to the primary.
 */
import type { SlotState } from "../ha/permanent_slots.ts";
import { formatLsn, parseLsnOrNull } from "./lsn.ts";
import type { OsUser } from "./os_user.ts";
import type { Sql } from "./queries.ts";

type Row = Record<string, unknown>;

/** Every non-temporary slot with its position (restart_lsn for physical, confirmed_flush_lsn for logical). */
export async function slotStates(sql: Sql): Promise<SlotState[]> {
  const rows = await sql.unsafe(`
    SELECT slot_name::text AS name, slot_type AS type, database::text AS database, plugin::text AS plugin, active,
      CASE WHEN slot_type = 'logical' THEN confirmed_flush_lsn ELSE restart_lsn END::text AS lsn
    FROM pg_replication_slots WHERE NOT temporary ORDER BY slot_name`);
  return (rows as Row[]).map((r) => ({
    name: String(r.name),
    type: r.type === "logical" ? "logical" : "physical",
    database: r.database === null ? null : String(r.database),
    plugin: r.plugin === null ? null : String(r.plugin),
    active: r.active === true || r.active === "t",
    lsn: parseLsnOrNull(r.lsn === null ? null : String(r.lsn)),
  }));
}

/** Create a logical slot (the connection must be to the slot's database). */
export async function createLogicalSlot(dbSql: Sql, name: string, plugin: string): Promise<void> {
  await dbSql.unsafe(
    `SELECT pg_create_logical_replication_slot($1, $2)
     WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)`,
    [name, plugin],
  );
}

export async function dropSlot(sql: Sql, name: string): Promise<void> {
  await sql.unsafe(
    `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active`,
    [name],
  );
}

/**
 * Move a slot forward to `lsn` (PostgreSQL clamps to what this server has replayed). A logical slot needs a
 * connection to its database.
 */
export async function advanceSlot(sql: Sql, name: string, lsn: number): Promise<void> {
  await sql.unsafe(`SELECT pg_replication_slot_advance($1, $2::pg_lsn)`, [name, formatLsn(lsn)]);
}

/** A logical slot's state file as read from the primary. */
export interface SlotFile {
  name: string;
  /** Raw bytes of `pg_replslot/<name>/state`. */
  state: Uint8Array;
}

/** On the primary: the state files of the logical slots `names`. */
export async function readLogicalSlotFiles(primary: Sql, names: string[]): Promise<SlotFile[]> {
  if (names.length === 0) return [];
  const rows = await primary.unsafe(
    `SELECT slot_name::text AS name, encode(pg_read_binary_file('pg_replslot/' || slot_name || '/state'), 'base64') AS state
     FROM pg_replication_slots
     WHERE slot_type = 'logical' AND slot_name = ANY(string_to_array($1, ',')) AND NOT pg_is_in_recovery()`,
    // Slot names are [a-z0-9_] (validated), so a comma-separated list is unambiguous.
    [names.join(",")],
  );
  return (rows as Row[]).map((r) => ({
    name: String(r.name),
    state: Uint8Array.from(atob(String(r.state).replace(/\s+/g, "")), (c) => c.charCodeAt(0)),
  }));
}

/**
 * Write slot state files into `dataDir/pg_replslot` (through a temporary directory, fsynced, renamed), owned
 * by the PostgreSQL user. PostgreSQL must be restarted to load them.
 */
export async function writeSlotFiles(dataDir: string, files: SlotFile[], user: OsUser): Promise<void> {
  const base = `${dataDir}/pg_replslot`;
  for (const f of files) {
    const dir = `${base}/${f.name}`;
    const tmp = `${dir}.tmp`;
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    await Deno.mkdir(tmp, { mode: 0o700 });
    await user.chown(tmp);
    const file = await Deno.open(`${tmp}/state`, { write: true, create: true, truncate: true, mode: 0o600 });
    try {
      await file.write(f.state);
      await file.sync();
    } finally {
      file.close();
    }
    await user.chown(`${tmp}/state`);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    await Deno.rename(tmp, dir);
  }
  if (files.length) {
    const d = await Deno.open(base, { read: true });
    try {
      await d.sync();
    } catch {
      /* directory fsync is not supported everywhere */
    } finally {
      d.close();
    }
  }
}
