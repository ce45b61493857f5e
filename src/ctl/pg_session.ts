/** `query`'s PostgreSQL session over npm:postgres (simple protocol, so the text may hold several statements). */
import postgres from "postgres";
import { tolerateWritesAfterServerClose } from "../postgres/write_after_close.ts";
import type { PgQueryOptions, PgSession } from "./context.ts";

/** A database error with its SQLSTATE, as `query` prints it (`ERROR, SQLSTATE: <code>`). */
export class PgQueryError extends Error {
  override name = "PgQueryError";
  constructor(readonly sqlstate: string | null, message: string) {
    super(message);
  }
}

export function connectPostgres(o: PgQueryOptions): Promise<PgSession> {
  tolerateWritesAfterServerClose();
  const sql = postgres({
    host: o.host,
    port: o.port,
    ...(o.database ? { database: o.database } : {}),
    ...(o.username ? { username: o.username } : {}),
    ...(o.password !== undefined ? { password: o.password } : {}),
    max: 1,
    connect_timeout: 5,
    idle_timeout: 0,
    onnotice: () => {},
    connection: { application_name: "Patroni ctl" },
  });
  return Promise.resolve({
    async run(text: string) {
      let res: unknown;
      try {
        res = await sql.unsafe(text).simple();
      } catch (e) {
        const err = e as { code?: string; message?: string };
        const code = typeof err.code === "string" && /^[0-9A-Z]{5}$/.test(err.code) ? err.code : null;
        throw new PgQueryError(code, err.message ?? String(e));
      }
      // Several statements give an array of results; the last one is shown, like psycopg's cursor.
      const results =
        Array.isArray(res) && res.length && Array.isArray(res[0]) && "columns" in (res[0] as object)
          ? res as unknown[]
          : [res];
      const last = results[results.length - 1] as Record<string, unknown>[] & {
        columns?: { name: string }[];
      };
      const columns = (last?.columns ?? []).map((c) => c.name);
      return { columns, rows: (last ?? []).map((r) => columns.map((c) => r[c])) };
    },
    async close() {
      await sql.end({ timeout: 1 });
    },
  });
}
