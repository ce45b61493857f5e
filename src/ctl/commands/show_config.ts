/** `show-config`: the dynamic configuration stored in the DCS, as YAML. */
import type { Command } from "commander";
import { ctlAction, type CtlRuntime } from "../context.ts";
import { toYaml } from "../output.ts";
import { groupOption } from "../options.ts";

export function register(program: Command, rt: CtlRuntime): void {
  const cmd = program.command("show-config")
    .description("Show the cluster configuration stored in the DCS")
    .argument("[cluster_name]", "cluster (default: the configured scope)");
  groupOption(cmd);
  cmd.action(ctlAction(rt, async (ctx, name: string | undefined, o: { group?: number }) => {
    const s = await ctx.cluster(ctx.clusterName(name), ctx.group(o.group, true));
    ctx.out(toYaml(s.config?.value ?? {}));
  }));
}
