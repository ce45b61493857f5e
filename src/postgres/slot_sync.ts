/**
 * Replication slot I/O beyond the member slots of `slots.ts`: positions of every slot, permanent logical slots
 * on the primary, advancing slot copies on replicas (`pg_replication_slot_advance`, PostgreSQL 11+), and
 * copying logical slots to a replica.
 *
 * PostgreSQL 15 cannot create or copy a logical slot on a standby (`pg_copy_logical_replication_slot` and
 * `pg_create_logical_replication_slot` refuse during recovery), so, like Patroni, the slot's on-disk state is
 * read from the primary (`pg_read_binary_file('pg_replslot/<name>/state')`) and written into this replica's
 * `pg_replslot/<name>/state`; PostgreSQL loads it at the next start, after which the copy is advanced. The
 * copy is safe only while this replica's physical slot on the primary holds back catalog rows the logical slot
 * needs (`hot_standby_feedback`): checked before copying.
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

/**
 * On the primary: the state files of `names`, but only those whose catalog_xmin our own physical slot
 * (`physicalSlot`, fed by hot_standby_feedback) already holds back. Returns the files and the names that
 * are not ready yet.
 */
export async function readLogicalSlotFiles(
  primary: Sql,
  names: string[],
  physicalSlot: string,
): Promise<{ files: SlotFile[]; notReady: string[] }> {
  if (names.length === 0) return { files: [], notReady: [] };
  const rows = await primary.unsafe(
    `SELECT s.slot_name::text AS name,
       encode(pg_read_binary_file('pg_replslot/' || s.slot_name || '/state'), 'base64') AS state,
       p.catalog_xmin IS NOT NULL AND age(p.catalog_xmin) >= age(s.catalog_xmin) AS ready
     FROM pg_replication_slots s LEFT JOIN pg_replication_slots p ON p.slot_name = $2
     WHERE s.slot_type = 'logical' AND s.slot_name = ANY($1::text[]) AND NOT pg_is_in_recovery()`,
    [names, physicalSlot],
  );
  const files: SlotFile[] = [];
  const notReady: string[] = [];
  for (const r of rows as Row[]) {
    const ready = r.ready === true || r.ready === "t";
    if (!ready) notReady.push(String(r.name));
    else {
      const b64 = String(r.state).replace(/\s+/g, "");
      files.push({ name: String(r.name), state: Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)) });
    }
  }
  return { files, notReady };
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
