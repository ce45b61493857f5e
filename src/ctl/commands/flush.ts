/** `flush`: discard scheduled events: a scheduled restart on members, or the scheduled switchover. */
import type { Command } from "commander";
import { patroniJson } from "../../dcs/json.ts";
import { ctlAction, type CtlContext, CtlError, type CtlRuntime } from "../context.ts";
import { warn } from "../io.ts";
import { membersLeaderFirst, type RoleChoice, scheduledSwitchover } from "../members.ts";
import { forceOption, groupOption, roleOption } from "../options.ts";
import { RestError } from "../rest.ts";
import { selectMembers } from "../select.ts";
import { timestamp } from "../output.ts";

async function flush(
  ctx: CtlContext,
  cluster: string,
  rest: string[],
  o: { group?: number; role: RoleChoice; force?: boolean },
) {
  const target = rest[rest.length - 1];
  const names = rest.slice(0, -1);
  if (target !== "restart" && target !== "switchover") {
    throw new CtlError(
      `expected the target restart or switchover as the last argument, got ${JSON.stringify(target)}`,
    );
  }
  const s = await ctx.cluster(cluster, o.group);
  let failed = 0;
  if (target === "restart") {
    for (
      const m of await selectMembers(ctx, s, {
        cluster,
        names,
        role: o.role,
        force: !!o.force,
        action: "flush",
        group: o.group,
      })
    ) {
      if (!m.data.scheduled_restart) {
        ctx.out(`No scheduled restart for member ${m.name}`);
        continue;
      }
      try {
        const r = await ctx.rest.request(m, "DELETE", "restart");
        if (r.status >= 400) {
          failed++;
          ctx.out(
            `Failed: flush scheduled restart for member ${m.name}, status code=${r.status}, (${r.body})`,
          );
        } else ctx.out(`Success: flush scheduled restart for member ${m.name}`);
      } catch (e) {
        if (!(e instanceof RestError)) throw e;
        failed++;
        ctx.out(`Failed: flush scheduled restart for member ${m.name}: ${e.message}`);
      }
    }
    return failed ? 1 : 0;
  }
  const f = scheduledSwitchover(s);
  if (!f) {
    ctx.out("No pending scheduled switchover");
    return 0;
  }
  for (const m of membersLeaderFirst(s)) {
    try {
      const r = await ctx.rest.request(m, "DELETE", "switchover");
      if (r.status === 200 || r.status === 404) {
        ctx.out(`${r.status === 200 ? "Success" : "Failed"}: ${r.body}`);
        return r.status === 200 ? 0 : 1;
      }
      ctx.out(`Failed: member=${m.name}, status_code=${r.status}, (${r.body})`);
    } catch (e) {
      if (!(e instanceof RestError)) throw e;
      warn(ctx.io, `${e.message}; member ${m.name} is not accessible`);
    }
  }
  ctx.out(
    `${
      timestamp(ctx.rt.clock.now())
    } Could not find any accessible member of cluster ${cluster}, clearing the switchover in the DCS`,
  );
  const dcs = await ctx.dcs(cluster, o.group);
  if (!(await dcs.setFailoverValue(patroniJson({}), s.failover?.version))) {
    throw new CtlError("the failover key changed concurrently; nothing was flushed");
  }
  return 0;
}

export function register(program: Command, rt: CtlRuntime): void {
  const cmd = program.command("flush")
    .description("Discard scheduled events: flush <cluster> [members...] restart|switchover")
    .argument("<cluster_name>", "cluster")
    .argument("<args...>", "member names (restart only), then the target: restart or switchover");
  groupOption(cmd);
  roleOption(cmd, "flush only members with this role", "any");
  forceOption(cmd);
  cmd.action(
    ctlAction(
      rt,
      (ctx, cluster: string, args: string[], o: { group?: number; role: RoleChoice; force?: boolean }) =>
        flush(ctx, cluster, args, o),
    ),
  );
}
