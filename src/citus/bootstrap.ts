/**
 * Prepares a group's primary for Citus (every group, coordinator and workers): the Citus database, the
 * extension, and the superuser's credentials in `pg_dist_authinfo` (how Citus authenticates to the other
 * nodes). Idempotent, so it runs whenever a node starts leading its group, which covers a fresh bootstrap and
 * an adopted cluster alike. Workers are registered on the coordinator by the reconciler, not here.
 *
 * Connections use `synchronous_commit = local`: in a new quorum-mode cluster no standby may be there yet.
 */
import postgres from "postgres";
import { tolerateWritesAfterServerClose } from "../postgres/write_after_close.ts";
import type { Config } from "../config/schema.ts";
import { formatConninfo } from "../postgres/conninfo.ts";
import type { ConnectParams } from "../postgres/queries.ts";

function open(p: ConnectParams) {
  tolerateWritesAfterServerClose();
  return postgres({
    host: p.host,
    port: p.port,
    user: p.user,
    pass: p.password,
    database: p.database,
    ssl: ["require", "verify-ca", "verify-full"].includes(p.sslmode ?? "") ? "require" : false,
    max: 1,
    connect_timeout: 3,
    idle_timeout: 1,
    prepare: false,
    onnotice: () => {},
    fetch_types: false,
    connection: {
      application_name: "pgwarden-citus",
      synchronous_commit: "local",
      statement_timeout: 60_000,
    },
  });
}

const quoteIdent = (s: string) => `"${s.replaceAll('"', '""')}"`;

/** `pg_dist_authinfo` text for the superuser: password, sslcert, sslkey (those that are set), or null. */
export function superuserAuthinfo(config: Config): string | null {
  const su = config.postgresql.authentication.superuser;
  const s = formatConninfo({ password: su.password, sslcert: su.sslcert, sslkey: su.sslkey });
  return s || null;
}

/** What `ensureCitus` did, for the log. */
export interface EnsureResult {
  createdDatabase: boolean;
  authinfoChanged: boolean;
}

/**
 * Create the Citus database and extension if missing and keep the superuser's `pg_dist_authinfo` row
 * current. `admin` connects to the maintenance database, `citus` to the Citus one.
 */
export async function ensureCitus(
  config: Config,
  admin: ConnectParams,
  citus: ConnectParams,
): Promise<EnsureResult> {
  const db = citus.database;
  let createdDatabase = false;
  if (db !== admin.database) {
    const sql = open(admin);
    try {
      const rows = await sql.unsafe("SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1", [db]);
      if (rows.length === 0) {
        try {
          await sql.unsafe(`CREATE DATABASE ${quoteIdent(db)}`);
          createdDatabase = true;
        } catch (e) {
          if ((e as { code?: string }).code !== "42P04") throw e; // created meanwhile
        }
      }
    } finally {
      await sql.end({ timeout: 1 }).catch(() => {});
    }
  }
  const sql = open(citus);
  try {
    await sql.unsafe("CREATE EXTENSION IF NOT EXISTS citus");
    const want = superuserAuthinfo(config);
    let authinfoChanged = false;
    if (want !== null) {
      const have = await sql.unsafe(
        "SELECT authinfo FROM pg_catalog.pg_dist_authinfo WHERE nodeid = 0 AND rolename = current_user",
      );
      if (have.length !== 1 || have[0]!.authinfo !== want) {
        await sql.begin(async (tx) => {
          await tx.unsafe(
            "DELETE FROM pg_catalog.pg_dist_authinfo WHERE nodeid = 0 AND rolename = current_user",
          );
          await tx.unsafe("INSERT INTO pg_catalog.pg_dist_authinfo VALUES (0, current_user, $1)", [want]);
        });
        authinfoChanged = true;
      }
    }
    return { createdDatabase, authinfoChanged };
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
}
