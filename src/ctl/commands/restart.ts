/** `restart`: restart PostgreSQL on members, now or scheduled, optionally only when a condition holds. */
import type { Command } from "commander";
import { postgresVersionToInt } from "../../api/units.ts";
import { ctlAction, type CtlContext, CtlError, type CtlRuntime, withProgress } from "../context.ts";
import { prompt } from "../io.ts";
import { isPaused, type RoleChoice } from "../members.ts";
import { forceOption, groupOption, roleOption } from "../options.ts";
import { RestError } from "../rest.ts";
import { nextHourExample, parseScheduled } from "../schedule.ts";
import { confirmMembers, selectMembers } from "../select.ts";

export interface RestartOptions {
  group?: number;
  role: RoleChoice;
  any?: boolean;
  scheduled?: string;
  pgVersion?: string;
  pending?: boolean;
  timeout?: string;
  force?: boolean;
}

/** The `POST /restart` body from the options (Patroni field names). */
export function restartBody(
  o: { pending?: boolean; pgVersion?: string; scheduledAt?: string | null; timeout?: string },
) {
  const body: Record<string, unknown> = {};
  if (o.pending) body.restart_pending = true;
  if (o.pgVersion) {
    try {
      postgresVersionToInt(o.pgVersion);
    } catch (e) {
      throw new CtlError((e as Error).message);
    }
    body.postgres_version = o.pgVersion;
  }
  if (o.scheduledAt) body.schedule = o.scheduledAt;
  if (o.timeout !== undefined) body.timeout = o.timeout;
  return body;
}

/** A restart waits for PostgreSQL to come back: allow the requested timeout, else a generous bound. */
function restartTimeoutMs(timeout?: string): number {
  const n = timeout !== undefined ? parseFloat(timeout) : NaN;
  return (Number.isFinite(n) ? n + 60 : 600) * 1000;
}

async function restart(
  ctx: CtlContext,
  cluster: string,
  names: string[],
  o: RestartOptions,
): Promise<number> {
  const s = await ctx.cluster(cluster, o.group);
  let members = await selectMembers(ctx, s, {
    cluster,
    names,
    role: o.role,
    force: !!o.force,
    action: "restart",
    group: o.group,
    askConfirmation: false,
  });
  let when = o.scheduled;
  if (when === undefined && !o.force) {
    when = await prompt(
      ctx.io,
      `When should the restart take place (e.g. ${nextHourExample(ctx.rt.clock.now())}) `,
      {
        default: "now",
      },
    );
  }
  const scheduledAt = parseScheduled(when);
  await confirmMembers(ctx, members, !!o.force, "restart", scheduledAt);
  if (o.any && members.length) members = [members[Math.floor(Math.random() * members.length)]!];
  let version = o.pgVersion;
  if (version === undefined && !o.force) {
    version = await prompt(ctx.io, "Restart if the PostgreSQL version is less than provided (e.g. 9.5.2) ", {
      default: "",
    });
  }
  if (scheduledAt && isPaused(s)) throw new CtlError("Can't schedule restart in the paused state");
  const body = restartBody({
    pending: o.pending,
    pgVersion: version || undefined,
    scheduledAt,
    timeout: o.timeout,
  });
  let failed = 0;
  for (const m of members) {
    try {
      if (body.schedule && o.force && m.data.scheduled_restart) {
        const d = await ctx.rest.request(m, "DELETE", "restart");
        if (d.status >= 400) {
          ctx.out(
            `Failed: flush scheduled restart for member ${m.name}, status code=${d.status}, (${d.body})`,
          );
        }
      }
      const call = ctx.rest.request(m, "POST", "restart", body, restartTimeoutMs(o.timeout));
      const r = body.schedule ? await call : await withProgress(ctx.rt, call);
      if (r.status === 200) ctx.out(`Success: restart on member ${m.name}`);
      else if (r.status === 202) ctx.out(`Success: restart scheduled on member ${m.name}`);
      else {
        failed++;
        if (r.status === 409) ctx.out(`Failed: another restart is already scheduled on member ${m.name}`);
        else ctx.out(`Failed: restart for member ${m.name}, status code=${r.status}, (${r.body})`);
      }
    } catch (e) {
      if (!(e instanceof RestError)) throw e;
      failed++;
      ctx.out(`Failed: restart for member ${m.name}: ${e.message}`);
    }
  }
  return failed ? 1 : 0;
}

export function register(program: Command, rt: CtlRuntime): void {
  const cmd = program.command("restart")
    .description("Restart PostgreSQL on cluster members")
    .argument("<cluster_name>", "cluster")
    .argument("[member_names...]", "members (default: all with the role)");
  groupOption(cmd);
  roleOption(cmd, "restart only members with this role", "any");
  cmd.option("--any", "restart a single random member only")
    .option("--scheduled <time>", "when, e.g. 2030-01-01T12:00+00:00 (local time without zone), or now")
    .option("--pg-version <version>", "restart only if the running PostgreSQL version is lower (e.g. 15.4)")
    .option("--pending", "restart only if a restart is pending")
    .option("--timeout <seconds>", "fail (and fail over if needed) when the restart takes longer");
  forceOption(cmd);
  cmd.action(
    ctlAction(rt, (ctx, name: string, names: string[], o: RestartOptions) => restart(ctx, name, names, o)),
  );
}
