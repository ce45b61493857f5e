/**
 * The coordinator's own connection to its Citus database: reads `pg_dist_node` and calls the Citus node
 * functions. One connection, so one transaction at a time, which is what lets a worker switchover keep a
 * transaction open across HTTP events. Every statement is bounded (statement_timeout), and an open
 * transaction is bounded on the server too (idle_in_transaction_session_timeout), so a stuck agent can never
 * leave the coordinator's metadata locked.
 */
import type { Config } from "../config/schema.ts";
import { localHost, parseListen } from "../postgres/config_file.ts";
import postgres from "postgres";
import { tolerateWritesAfterServerClose } from "../postgres/write_after_close.ts";
import type { ConnectParams, Sql } from "../postgres/queries.ts";
import type { CatalogStep, NodeRole, PgDistNode } from "./types.ts";

/** What the coordinator needs from its catalog connection (a fake implements it in unit tests). */
export interface CatalogConn {
  readNodes(): Promise<PgDistNode[]>;
  /** Run one step; `cooldownMs` is citus_update_node's lock_cooldown. */
  apply(step: CatalogStep, cooldownMs: number): Promise<void>;
  /** BEGIN; statements then time out after `statementTimeoutMs`, the open transaction after `idleTimeoutMs`. */
  begin(o: { statementTimeoutMs: number; idleTimeoutMs: number }): Promise<void>;
  commit(): Promise<void>;
  rollback(): Promise<void>;
  close(): Promise<void>;
}

/** Connection parameters of the local server's Citus database, as the superuser. */
export function citusConnectParams(config: Config, database: string): ConnectParams {
  const pg = config.postgresql;
  const su = pg.authentication.superuser;
  const socketDir = String(pg.parameters.unix_socket_directories ?? "/tmp").split(",")[0]!.trim() || "/tmp";
  return {
    host: pg.useUnixSocket ? socketDir : localHost(pg.listen),
    port: parseListen(pg.listen).port,
    user: su.username,
    ...(su.password !== undefined ? { password: su.password } : {}),
    ...(su.sslmode !== undefined ? { sslmode: su.sslmode } : {}),
    database,
    max: 1,
    connectTimeoutS: 3,
  };
}

const ROLES = new Set<NodeRole>(["primary", "secondary", "unavailable"]);

/** `CatalogConn` over npm:postgres with a single connection. */
export class SqlCatalogConn implements CatalogConn {
  #sql: Sql;

  /** `statementTimeoutMs` bounds statements outside transactions (a startup parameter: survives reconnects). */
  constructor(p: ConnectParams, o: { statementTimeoutMs: number }) {
    const tls = ["require", "verify-ca", "verify-full"].includes(p.sslmode ?? "")
      ? "require" as const
      : false;
    tolerateWritesAfterServerClose();
    this.#sql = postgres({
      host: p.host,
      port: p.port,
      user: p.user,
      pass: p.password,
      database: p.database,
      ssl: p.sslmode === "prefer" ? "prefer" : tls,
      max: 1,
      connect_timeout: p.connectTimeoutS ?? 3,
      idle_timeout: 60,
      prepare: false,
      onnotice: () => {},
      fetch_types: false,
      connection: {
        application_name: "pgwarden-citus",
        statement_timeout: Math.max(1, Math.round(o.statementTimeoutMs)),
      },
    }) as unknown as Sql;
  }

  async #q(text: string, params: unknown[] = []): Promise<Record<string, unknown>[]> {
    // deno-lint-ignore no-explicit-any
    return [...(await this.#sql.unsafe(text, params as any[]))] as Record<string, unknown>[];
  }

  async readNodes(): Promise<PgDistNode[]> {
    const rows = await this.#q(
      `SELECT nodeid, groupid, nodename, nodeport, noderole::text AS noderole
         FROM pg_catalog.pg_dist_node WHERE nodecluster = 'default' ORDER BY nodeid`,
    );
    return rows.map((r) => ({
      nodeid: Number(r.nodeid),
      groupid: Number(r.groupid),
      host: String(r.nodename),
      port: Number(r.nodeport),
      role: ROLES.has(r.noderole as NodeRole) ? r.noderole as NodeRole : "unavailable",
    }));
  }

  async apply(s: CatalogStep, cooldownMs: number): Promise<void> {
    switch (s.op) {
      case "add":
        await this.#q("SELECT pg_catalog.citus_add_node($1, $2, $3, $4, 'default')", [
          s.host,
          s.port,
          s.group,
          s.role,
        ]);
        return;
      case "set_coordinator":
        await this.#q("SELECT pg_catalog.citus_set_coordinator_host($1, $2, 'primary', 'default')", [
          s.host,
          s.port,
        ]);
        return;
      case "update":
        await this.#q("SELECT pg_catalog.citus_update_node($1, $2, $3, true, $4)", [
          s.nodeid,
          s.host,
          s.port,
          Math.max(0, Math.round(cooldownMs)),
        ]);
        return;
      case "remove":
        await this.#q("SELECT pg_catalog.citus_remove_node($1, $2)", [s.host, s.port]);
        return;
    }
  }

  async begin(o: { statementTimeoutMs: number; idleTimeoutMs: number }): Promise<void> {
    await this.#q("BEGIN");
    await this.#q(`SET LOCAL statement_timeout = ${Math.max(1, Math.round(o.statementTimeoutMs))}`);
    await this.#q(
      `SET LOCAL idle_in_transaction_session_timeout = ${Math.max(1, Math.round(o.idleTimeoutMs))}`,
    );
  }

  async commit(): Promise<void> {
    await this.#q("COMMIT");
  }

  async rollback(): Promise<void> {
    await this.#q("ROLLBACK");
  }

  async close(): Promise<void> {
    await this.#sql.end({ timeout: 1 }).catch(() => {});
  }
}
