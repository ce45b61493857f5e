/** The tests' PostgreSQL client (npm:postgres, one connection, as the `postgres` superuser). */
import postgres from "postgres";

export interface PgClientOptions {
  host: string;
  port: number;
  database?: string;
  connectTimeoutS?: number;
  /** Close the connection after this many idle seconds (default: keep it). */
  idleTimeoutS?: number;
}

export function pgClient(o: PgClientOptions) {
  return postgres({
    host: o.host,
    port: o.port,
    user: "postgres",
    password: "postgres",
    database: o.database ?? "postgres",
    connect_timeout: o.connectTimeoutS ?? 3,
    max: 1,
    onnotice: () => {},
    ...(o.idleTimeoutS !== undefined ? { idle_timeout: o.idleTimeoutS } : {}),
    // postgres.js fetches the array types right after connecting; when the server goes away during that
    // fetch and the reconnect is refused (a PostgreSQL restarting), the fetch's rejection is left unhandled
    // and ends the test process. The agent does not fetch them either.
    fetch_types: false,
  });
}
