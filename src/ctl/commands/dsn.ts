/** `dsn`: `host=... port=...` of the leader, of a member with a role, or of a named member. */
import type { Command } from "commander";
import { ctlAction, CtlError, type CtlRuntime } from "../context.ts";
import { connKwargs, membersWithRole, type RoleChoice } from "../members.ts";
import { groupOption, roleOption } from "../options.ts";

export function register(program: Command, rt: CtlRuntime): void {
  const cmd = program.command("dsn")
    .description("Print a connection string for a member (default: the leader)")
    .argument("[cluster_name]", "cluster (default: the configured scope)");
  roleOption(cmd, "a member with this role");
  cmd.option("-m, --member <name>", "this member");
  groupOption(cmd);
  cmd.action(
    ctlAction(
      rt,
      async (ctx, name: string | undefined, o: { role?: RoleChoice; member?: string; group?: number }) => {
        if (o.member !== undefined && o.role !== undefined) {
          throw new CtlError(
            "--role and --member are mutually exclusive options",
          );
        }
        const role: RoleChoice = o.member !== undefined ? "any" : o.role ?? "leader";
        const s = await ctx.cluster(ctx.clusterName(name), o.group);
        const m = membersWithRole(s, role, o.group, ctx.citus).find((x) =>
          o.member === undefined || x.name === o.member
        );
        const kw = m && connKwargs(m);
        if (!kw) throw new CtlError("Can not find a suitable member");
        ctx.out(`host=${kw.host} port=${kw.port}`);
      },
    ),
  );
}
