/** `reinit`: rebuild replicas from scratch (POST /reinitialize), optionally waiting until they run again. */
import type { Command } from "commander";
import type { Member } from "../../dcs/types.ts";
import { ctlAction, type CtlContext, type CtlRuntime, Progress } from "../context.ts";
import { confirm, warn } from "../io.ts";
import { forceOption, groupOption } from "../options.ts";
import { RestError } from "../rest.ts";
import { selectMembers } from "../select.ts";

interface ReinitOptions {
  group?: number;
  force?: boolean;
  wait?: boolean;
  fromLeader?: boolean;
}

/** Bound of `--wait`: a base backup of a large database takes long, but a wait must end. */
const WAIT_LIMIT_MS = 6 * 3600_000;

/** What a member's status says about a reinitialization that started after `startedBefore`. */
export function reinitProgress(
  doc: Record<string, unknown> | null,
  startedBefore: unknown,
): "waiting" | "done" | "failed" {
  if (!doc) return "waiting";
  const state = String(doc.state ?? "");
  if (state.endsWith("failed")) return "failed";
  // "running" with the postmaster started before the request is the old instance, not the rebuilt one.
  if (state === "running" && doc.postmaster_start_time !== startedBefore) return "done";
  return "waiting";
}

async function reinit(ctx: CtlContext, cluster: string, names: string[], o: ReinitOptions): Promise<number> {
  const s = await ctx.cluster(cluster, o.group);
  const members = await selectMembers(ctx, s, {
    cluster,
    names,
    role: "replica",
    force: !!o.force,
    action: "reinitialize",
    group: o.group,
  });
  const waitOn: { m: Member; before: unknown }[] = [];
  let failed = 0;
  for (const m of members) {
    let before: unknown = null;
    try {
      before = (await ctx.rest.getJson(m)).doc.postmaster_start_time ?? null;
    } catch {
      // the member may be down: that is often why it is reinitialized
    }
    const body: Record<string, unknown> = {
      force: !!o.force,
      ...(o.fromLeader ? { from_leader: true } : {}),
    };
    for (;;) {
      let r;
      try {
        r = await ctx.rest.request(m, "POST", "reinitialize", body);
      } catch (e) {
        if (!(e instanceof RestError)) throw e;
        ctx.out(`Failed: reinitialize for member ${m.name}: ${e.message}`);
        failed++;
        break;
      }
      if (r.status < 400) {
        ctx.out(`Success: reinitialize for member ${m.name}`);
        if (o.wait) waitOn.push({ m, before });
        break;
      }
      ctx.out(`Failed: reinitialize for member ${m.name}, status code=${r.status}, (${r.body})`);
      if (
        r.body.endsWith(" already in progress") && !o.force && !body.force &&
        (await confirm(ctx.io, "Do you want to cancel it and reinitialize anyway?"))
      ) {
        body.force = true;
        continue;
      }
      failed++;
      break;
    }
  }
  if (waitOn.length) {
    ctx.out(`Waiting for reinitialize to complete on: ${waitOn.map((w) => w.m.name).join(", ")}`);
    const progress = new Progress(ctx.io);
    const deadline = ctx.rt.clock.now() + WAIT_LIMIT_MS;
    while (waitOn.length) {
      if (ctx.rt.clock.now() > deadline) {
        progress.done();
        warn(ctx.io, `Gave up waiting for: ${waitOn.map((w) => w.m.name).join(", ")}`);
        return 1;
      }
      await ctx.rt.clock.sleep(1000);
      progress.tick();
      for (const w of [...waitOn]) {
        let doc: Record<string, unknown> | null = null;
        try {
          doc = (await ctx.rest.getJson(w.m)).doc;
        } catch {
          // restarting: keep waiting
        }
        const st = reinitProgress(doc, w.before);
        if (st === "waiting") continue;
        progress.done();
        if (st === "done") ctx.out(`Reinitialize is completed on: ${w.m.name}`);
        else {
          ctx.out(`Failed: reinitialize on ${w.m.name} ended in state ${String(doc?.state)}`);
          failed++;
        }
        waitOn.splice(waitOn.indexOf(w), 1);
      }
    }
  }
  return failed ? 1 : 0;
}

export function register(program: Command, rt: CtlRuntime): void {
  const cmd = program.command("reinit")
    .description("Reinitialize replicas: wipe the data directory and clone it again")
    .argument("<cluster_name>", "cluster")
    .argument("[member_names...]", "replicas to reinitialize");
  groupOption(cmd);
  forceOption(cmd);
  cmd.option("--wait", "wait until the reinitialization completes")
    .option("--from-leader", "clone from the leader even when another source is configured");
  cmd.action(
    ctlAction(
      rt,
      (ctx, cluster: string, names: string[], o: ReinitOptions) => reinit(ctx, cluster, names, o),
    ),
  );
}
