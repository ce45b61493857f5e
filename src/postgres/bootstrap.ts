/**
 * New-cluster bootstrap pieces: initdb arguments, the roles Patroni creates (superuser password,
 * replication role, pg_rewind role with its grants) and the post_bootstrap script.
 */
import type { Config } from "../config/schema.ts";
import { PgCommandError, PgStateError } from "./errors.ts";
import type { OsUser } from "./os_user.ts";
import { quoteIdent, quoteLiteral, type Sql } from "./queries.ts";
import { shlexSplit } from "./shlex.ts";

export type UserOptions = Array<string | Record<string, string | number>>;

/**
 * `["data-checksums", {encoding: "UTF8"}]` → `["--data-checksums", "--encoding=UTF8"]`. Options the agent
 * sets itself (or that break it) are rejected, as Patroni does.
 */
export function userOptionArgs(options: UserOptions, forbidden: readonly string[], what: string): string[] {
  const out: string[] = [];
  const add = (k: string, v?: string | number) => {
    const key = k.replace(/^-+/, "");
    if (forbidden.includes(key)) {
      throw new PgStateError(`Cannot use ${what} option "${key}": it is set by pgwarden or not allowed`);
    }
    out.push(v === undefined ? `--${key}` : `--${key}=${v}`);
  };
  for (const o of options) {
    if (typeof o === "string") add(o);
    else for (const [k, v] of Object.entries(o)) add(k, v);
  }
  return out;
}

export const INITDB_FORBIDDEN = ["pgdata", "nosync", "pwfile", "sync-only", "version"] as const;

export function initdbArgs(dataDir: string, config: Config, pwfile: string | null): string[] {
  return [
    "-D",
    dataDir,
    `--username=${config.postgresql.authentication.superuser.username}`,
    ...(pwfile ? [`--pwfile=${pwfile}`] : []),
    ...userOptionArgs(config.bootstrap.initdb, INITDB_FORBIDDEN, "initdb"),
  ];
}

/** The SQL statements that create or update the cluster's roles. Pure; contains passwords: never log. */
export function roleStatements(config: Config, existing: Set<string>): string[] {
  const auth = config.postgresql.authentication;
  const su = auth.superuser.username;
  const stmts: string[] = [];
  const upsert = (name: string, options: string, password: string | undefined) => {
    const pw = password !== undefined ? ` PASSWORD ${quoteLiteral(password)}` : "";
    stmts.push(`${existing.has(name) ? "ALTER" : "CREATE"} ROLE ${quoteIdent(name)} WITH ${options}${pw}`);
  };
  if (auth.superuser.password !== undefined) upsert(su, "SUPERUSER LOGIN", auth.superuser.password);
  if (auth.replication.username !== su) {
    upsert(auth.replication.username, "REPLICATION LOGIN", auth.replication.password);
  }
  const rw = auth.rewind;
  if (rw && rw.username !== su) {
    upsert(rw.username, "LOGIN", rw.password);
    // What pg_rewind needs from a non-superuser (PG 11+).
    for (
      const fn of [
        "pg_catalog.pg_ls_dir(text, boolean, boolean)",
        "pg_catalog.pg_stat_file(text, boolean)",
        "pg_catalog.pg_read_binary_file(text)",
        "pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean)",
      ]
    ) stmts.push(`GRANT EXECUTE ON FUNCTION ${fn} TO ${quoteIdent(rw.username)}`);
  }
  return stmts;
}

/** Create/update the roles over `sql` (a single-connection client), with statement logging off. */
export async function createRoles(sql: Sql, config: Config): Promise<void> {
  await sql.unsafe(`SET log_statement TO 'none'`);
  await sql.unsafe(`SET log_min_duration_statement TO -1`);
  await sql.unsafe(`SET log_min_error_statement TO 'panic'`);
  await sql.unsafe(`SET synchronous_commit TO 'local'`);
  const rows = await sql.unsafe(`SELECT rolname::text FROM pg_roles`);
  const existing = new Set((rows as Record<string, unknown>[]).map((r) => String(r.rolname)));
  for (const stmt of roleStatements(config, existing)) await sql.unsafe(stmt);
}

/**
 * Run `bootstrap.post_bootstrap` as the PostgreSQL user: its one argument is the superuser URL without
 * password; PGPASSFILE has the password. A non-zero exit fails the bootstrap.
 */
export async function runPostBootstrap(
  user: OsUser,
  command: string,
  url: string,
  passfile: string,
  timeoutMs?: number,
): Promise<void> {
  const [cmd, ...args] = shlexSplit(command);
  if (!cmd) throw new PgStateError("Cannot run post_bootstrap: the command is empty");
  const r = await user.run(cmd, [...args, url], {
    env: { PGPASSFILE: passfile, PGOPTIONS: "-c synchronous_commit=local -c statement_timeout=0" },
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
  });
  if (!r.success) {
    throw new PgCommandError(`post_bootstrap ${command}`, r.code, r.stderr || r.stdout, {
      timedOut: r.timedOut,
    });
  }
}
