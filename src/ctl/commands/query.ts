/**
 * `query`: run SQL on a member (default: the leader) found in the DCS, connecting to its `conn_url` with the
 * superuser credentials from the config unless `-U`/`--password` say otherwise.
 */
import type { Command } from "commander";
import type { ClusterSnapshot } from "../../dcs/types.ts";
import { ctlAction, type CtlContext, CtlError, type CtlRuntime, type PgSession } from "../context.ts";
import { prompt } from "../io.ts";
import { connKwargs, membersWithRole, type RoleChoice } from "../members.ts";
import { type Cell, formatOutput, type OutputFormat, timestamp } from "../output.ts";
import { groupOption, parseFormatOption, roleOption, watchInterval, watchOptions } from "../options.ts";
import { PgQueryError } from "../pg_session.ts";

interface QueryOptions {
  group?: number;
  format: OutputFormat;
  file?: string;
  password?: boolean;
  username?: string;
  role?: RoleChoice;
  member?: string;
  delimiter: string;
  command?: string;
  dbname?: string;
  W?: boolean;
  watch?: number;
}

/** Connect to a member with `role`/`member`; null when none qualifies (or is in the wrong recovery state). */
async function open(
  ctx: CtlContext,
  s: ClusterSnapshot,
  o: QueryOptions,
  role: RoleChoice,
  creds: { username?: string; password?: string },
): Promise<PgSession | null> {
  const m = membersWithRole(s, role, o.group, ctx.citus).find((x) =>
    o.member === undefined || x.name === o.member
  );
  const kw = m && connKwargs(m);
  if (!kw) return null;
  const session = await ctx.rt.connectPg({
    host: kw.host,
    port: kw.port,
    database: o.dbname ?? (kw.dbname || ctx.settings.database),
    ...creds,
  });
  if (role === "any" || role === "leader") return session;
  // The DCS may lag behind reality: check the server's own idea of its role.
  const r = await session.run("SELECT pg_catalog.pg_is_in_recovery()");
  const inRecovery = r.rows[0]?.[0] === true;
  if (
    (inRecovery && (role === "replica" || role === "standby" || role === "standby-leader")) ||
    (!inRecovery && role === "primary")
  ) {
    return session;
  }
  await session.close();
  return null;
}

async function query(ctx: CtlContext, clusterArg: string | undefined, o: QueryOptions): Promise<number> {
  if (o.member !== undefined && o.role !== undefined) {
    throw new CtlError("--role and --member are mutually exclusive options");
  }
  if (o.file !== undefined && o.command !== undefined) {
    throw new CtlError("--file and --command are mutually exclusive options");
  }
  if (o.file === undefined && o.command === undefined) {
    throw new CtlError("You need to specify either --command or --file");
  }
  const role: RoleChoice = o.member !== undefined ? "any" : o.role ?? "leader";
  let sql = o.command ?? "";
  if (o.file !== undefined) {
    try {
      sql = o.file === "-" ? await ctx.io.readAll() : await Deno.readTextFile(o.file);
    } catch (e) {
      throw new CtlError(`cannot read ${o.file}: ${(e as Error).message}`);
    }
  }
  const su = ctx.settings.superuser;
  const creds: { username?: string; password?: string } = {
    ...(o.username ?? su?.username ? { username: (o.username ?? su?.username)! } : {}),
    ...(o.password
      ? { password: await prompt(ctx.io, "Password") }
      : !o.username && su?.password !== undefined
      ? { password: su.password }
      : {}),
  };
  const cluster = ctx.clusterName(clusterArg);
  const interval = watchInterval(o);
  let session: PgSession | null = null;
  let failed = false;
  try {
    for (let i = 0;; i++) {
      let columns: string[] = [];
      let rows: Cell[][];
      try {
        if (!session) session = await open(ctx, await ctx.cluster(cluster, o.group), o, role, creds);
        if (!session) {
          const what = o.member !== undefined ? `member ${o.member}` : `role=${role}`;
          rows = [[timestamp(ctx.rt.clock.now(), 0), `No connection to ${what} is available`]];
          failed = true;
        } else {
          const r = await session.run(sql);
          columns = r.columns;
          rows = r.rows.map((row) => row.map(toCell));
        }
      } catch (e) {
        failed = true;
        const msg = e instanceof PgQueryError && e.sqlstate ? e.sqlstate : (e as Error).message;
        rows = [[timestamp(ctx.rt.clock.now(), 0), `ERROR, SQLSTATE: ${msg.replace(/\n/g, " ")}`]];
        await session?.close().catch(() => {});
        session = null;
      }
      ctx.out(formatOutput(columns, rows, { fmt: o.format, delimiter: o.delimiter }));
      if (!interval || (ctx.rt.maxWatchRefreshes !== undefined && i >= ctx.rt.maxWatchRefreshes)) break;
      await ctx.rt.clock.sleep(interval * 1000);
    }
  } finally {
    await session?.close().catch(() => {});
  }
  return failed ? 1 : 0;
}

function toCell(v: unknown): Cell {
  if (v === null || v === undefined) return "None";
  if (v instanceof Date) return v.toISOString();
  if (typeof v === "bigint") return String(v);
  if (typeof v === "object") return JSON.stringify(v);
  return v as Cell;
}

export function register(program: Command, rt: CtlRuntime): void {
  const cmd = program.command("query")
    .description("Run SQL on a cluster member (default: the leader)")
    .argument("[cluster_name]", "cluster (default: the configured scope)");
  groupOption(cmd);
  cmd.option("--format <format>", "output format: pretty, tsv, json, yaml", parseFormatOption, "tsv")
    .option("-f, --file <file>", "run the SQL in this file (- for stdin)")
    .option("--password", "ask for a password")
    .option("-U, --username <user>", "database user (default: the configured superuser)");
  watchOptions(cmd);
  roleOption(cmd, "a member with this role");
  cmd.option("-m, --member <name>", "this member")
    .option("--delimiter <text>", "column delimiter of the tsv format", "\t")
    .option("-c, --command <sql>", "SQL to run")
    .option("-d, --dbname <name>", "database to connect to");
  cmd.action(ctlAction(rt, (ctx, cluster: string | undefined, o: QueryOptions) => query(ctx, cluster, o)));
}
