/** `reload`: ask members to re-read their configuration (POST /reload). */
import type { Command } from "commander";
import { ctlAction, type CtlRuntime } from "../context.ts";
import { dynamicOf, type RoleChoice } from "../members.ts";
import { forceOption, groupOption, roleOption } from "../options.ts";
import { RestError } from "../rest.ts";
import { selectMembers } from "../select.ts";

export function register(program: Command, rt: CtlRuntime): void {
  const cmd = program.command("reload")
    .description("Reload the configuration of cluster members")
    .argument("<cluster_name>", "cluster")
    .argument("[member_names...]", "members (default: all with the role)");
  groupOption(cmd);
  roleOption(cmd, "reload only members with this role", "any");
  forceOption(cmd);
  cmd.action(
    ctlAction(
      rt,
      async (
        ctx,
        cluster: string,
        names: string[],
        o: { group?: number; role: RoleChoice; force?: boolean },
      ) => {
        const s = await ctx.cluster(cluster, o.group);
        const members = await selectMembers(ctx, s, {
          cluster,
          names,
          role: o.role,
          force: !!o.force,
          action: "reload",
          group: o.group,
        });
        let failed = 0;
        for (const m of members) {
          try {
            const r = await ctx.rest.request(m, "POST", "reload");
            if (r.status === 200) ctx.out(`No changes to apply on member ${m.name}`);
            else if (r.status === 202) {
              ctx.out(
                `Reload request received for member ${m.name} and will be processed within ${
                  dynamicOf(s).loopWait
                } seconds`,
              );
            } else {
              failed++;
              ctx.out(`Failed: reload for member ${m.name}, status code=${r.status}, (${r.body})`);
            }
          } catch (e) {
            if (!(e instanceof RestError)) throw e;
            failed++;
            ctx.out(`Failed: reload for member ${m.name}: ${e.message}`);
          }
        }
        return failed ? 1 : 0;
      },
    ),
  );
}
