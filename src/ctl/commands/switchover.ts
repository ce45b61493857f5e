/**
 * `switchover` and `failover` (patronictl `_do_failover_or_switchover`): check the names against the DCS,
 * ask for what is missing, then `POST /switchover|/failover` to the leader (the candidate when there is no
 * leader). The call blocks while the agents hand over; a dot per second shows progress. When no API answers,
 * the request is written straight into the DCS `failover` key, which the agents act on just the same.
 */
import type { Command } from "commander";
import { patroniJson } from "../../dcs/json.ts";
import type { ClusterSnapshot } from "../../dcs/types.ts";
import { isStandbyCluster, nofailover, syncMatches } from "../../api/view_facts.ts";
import { ctlAction, type CtlContext, CtlError, type CtlRuntime, withProgress } from "../context.ts";
import { confirm, prompt, warn } from "../io.ts";
import { dynamicOf, isPaused, leaderMember, renderCluster } from "../members.ts";
import { timestamp } from "../output.ts";
import { forceOption, groupOption } from "../options.ts";
import { RestError } from "../rest.ts";
import { nextHourExample, parseScheduled } from "../schedule.ts";

export type HandoverAction = "switchover" | "failover";

export interface HandoverOptions {
  leader?: string;
  candidate?: string;
  scheduled?: string;
  force?: boolean;
  group?: number;
}

const titleCase = (a: string) => a[0]!.toUpperCase() + a.slice(1);

/** Python `str(list)` of names, as patronictl shows the candidates. */
export function pyList(names: string[]): string {
  return "[" + names.map((n) => `'${n}'`).join(", ") + "]";
}

/** Members that may take over from `leader`: everyone else without `nofailover`, sorted. */
export function candidateNames(s: ClusterSnapshot, leader: string | undefined): string[] {
  return s.members.filter((m) => m.name !== leader && !nofailover(m.data.tags ?? {})).map((m) => m.name)
    .sort();
}

/** Upper bound of the server's own wait (2·max(10, loop_wait) s) plus slack for the HTTP round trip. */
function handoverTimeoutMs(s: ClusterSnapshot): number {
  return (2 * Math.max(10, dynamicOf(s).loopWait) + 30) * 1000;
}

export async function handover(
  ctx: CtlContext,
  action: HandoverAction,
  clusterArg: string | undefined,
  o: HandoverOptions,
): Promise<number> {
  const name = ctx.clusterName(clusterArg);
  let group = o.group;
  let s = await ctx.cluster(name, group);
  const show = () => ctx.out(renderCluster(s, { name, group, citus: ctx.citus }));
  ctx.out("Current cluster topology");
  show();
  if (ctx.citus && group === undefined) {
    if (o.force) throw new CtlError("For Citus clusters the --group must be specified");
    const g = await prompt(ctx.io, "Citus group");
    if (!/^\d+$/.test(g)) throw new CtlError(`Citus group must be a number, got ${JSON.stringify(g)}`);
    group = Number(g);
    s = await ctx.cluster(name, group);
  }
  const current = s.leader?.name || undefined;
  if (action === "switchover" && !current) throw new CtlError("This cluster has no leader");

  let leader = o.leader;
  if (leader === undefined) {
    if (o.force || action === "failover") leader = current;
    else {
      const label = isStandbyCluster(dynamicOf(s)) ? "Standby Leader" : "Primary";
      leader = await prompt(ctx.io, label, { default: current! });
    }
  }
  if (leader !== undefined && current && current !== leader) {
    throw new CtlError(`Member ${leader} is not the leader of cluster ${name}`);
  }

  const candidates = candidateNames(s, leader);
  if (!candidates.length) throw new CtlError(`No candidates found to ${action} to`);
  let candidate = o.candidate;
  if (candidate === undefined && !o.force) {
    candidate = await prompt(ctx.io, `Candidate ${pyList(candidates)}`, { default: "" });
  }
  if (candidate === "") candidate = undefined;
  if (action === "failover" && !candidate) {
    throw new CtlError("Failover could be performed only to a specific candidate");
  }
  if (candidate !== undefined && candidate === leader) {
    throw new CtlError(`${titleCase(action)} target and source are the same.`);
  }
  if (candidate !== undefined && !candidates.includes(candidate)) {
    throw new CtlError(`Member ${candidate} does not exist in cluster ${name} or is tagged as nofailover`);
  }
  const dyn = dynamicOf(s);
  if (
    action === "failover" && candidate && dyn.synchronousMode !== "off" && !isStandbyCluster(dyn) &&
    !syncMatches(s.sync?.value, candidate) && !o.force &&
    !(await confirm(ctx.io, `Are you sure you want to failover to the asynchronous node ${candidate}?`))
  ) throw new CtlError("Aborting failover");

  let scheduledAt: string | null = null;
  if (action === "switchover") {
    let when = o.scheduled;
    if (when === undefined && !o.force) {
      when = await prompt(
        ctx.io,
        `When should the switchover take place (e.g. ${nextHourExample(ctx.rt.clock.now())} ) `,
        {
          default: "now",
        },
      );
    }
    scheduledAt = parseScheduled(when);
    if (scheduledAt && isPaused(s)) throw new CtlError("Can't schedule switchover in the paused state");
  }

  if (!o.force) {
    const demote = leader ? `, demoting current leader ${leader}` : "";
    const question = scheduledAt
      ? `Are you sure you want to schedule ${action} of cluster ${name} at ${scheduledAt}${demote}?`
      : `Are you sure you want to ${action} cluster ${name}${demote}?`;
    if (!(await confirm(ctx.io, question))) {
      throw new CtlError(`Aborting ${scheduledAt ? "scheduled " : ""}${action}`);
    }
  }

  // Only a switchover names the leader: the API turns a failover that names one into a switchover, whose
  // stricter checks a failover is meant to bypass.
  const named = action === "switchover" ? leader : undefined;
  const body: Record<string, string> = {
    ...(named ? { leader: named } : {}),
    ...(candidate ? { candidate } : {}),
    ...(scheduledAt ? { scheduled_at: scheduledAt } : {}),
  };
  const target = leaderMember(s) ?? s.members.find((m) => m.name === candidate) ?? null;
  let code = 0;
  try {
    if (!target) throw new RestError(candidate ?? "?", "-", "no member to send the request to");
    const r = await withProgress(
      ctx.rt,
      ctx.rest.request(target, "POST", action, body, handoverTimeoutMs(s)),
    );
    if (r.status === 200 || r.status === 202) {
      ctx.out(`${timestamp(ctx.rt.clock.now())} ${r.body}`);
      s = await ctx.cluster(name, group);
    } else {
      ctx.out(`${titleCase(action)} failed, details: ${r.status}, ${r.body}`);
      return 1;
    }
  } catch (e) {
    if (!(e instanceof RestError)) throw e;
    warn(ctx.io, e.message);
    ctx.out(`${timestamp(ctx.rt.clock.now())} Could not ${action} using the REST API, falling back to DCS`);
    const dcs = await ctx.dcs(name, group);
    const value = {
      ...(named ? { leader: named } : {}),
      ...(candidate ? { member: candidate } : {}),
      ...(scheduledAt ? { scheduled_at: scheduledAt } : {}),
    };
    if (!(await dcs.setFailoverValue(patroniJson(value)))) {
      throw new CtlError("failed to write the failover key into the DCS");
    }
    code = 0;
  }
  show();
  return code;
}

export function register(program: Command, rt: CtlRuntime): void {
  const sw = program.command("switchover")
    .description("Hand the leader role to a healthy replica (now or at a scheduled time)")
    .argument("[cluster_name]", "cluster (default: the configured scope)")
    .option("--leader <name>", "the current leader")
    .option("--primary <name>", "alias of --leader")
    .option("--candidate <name>", "the member to promote (default: the healthiest)")
    .option("--scheduled <time>", "when, e.g. 2030-01-01T12:00+00:00 (a time without zone is local), or now");
  groupOption(sw);
  forceOption(sw);
  sw.action(
    ctlAction(
      rt,
      (ctx, name: string | undefined, o: HandoverOptions & { primary?: string }) =>
        handover(ctx, "switchover", name, { ...o, leader: o.leader ?? o.primary }),
    ),
  );

  const fo = program.command("failover")
    .description("Promote a specific replica, also when the cluster has no healthy leader")
    .argument("[cluster_name]", "cluster (default: the configured scope)")
    .option("--candidate <name>", "the member to promote");
  groupOption(fo);
  forceOption(fo);
  fo.action(
    ctlAction(rt, (ctx, name: string | undefined, o: HandoverOptions) => handover(ctx, "failover", name, o)),
  );
}
