/** `remove`: delete every key of a cluster from the DCS, after three confirmations as patronictl asks them. */
import type { Command } from "commander";
import { ctlAction, CtlError, type CtlRuntime } from "../context.ts";
import { prompt } from "../io.ts";
import { renderCluster } from "../members.ts";
import type { OutputFormat } from "../output.ts";
import { formatOption, groupOption } from "../options.ts";

export function register(program: Command, rt: CtlRuntime): void {
  const cmd = program.command("remove")
    .description("Remove a cluster from the DCS (all its keys)")
    .argument("<cluster_name>", "cluster");
  groupOption(cmd);
  formatOption(cmd);
  cmd.action(ctlAction(rt, async (ctx, cluster: string, o: { group?: number; format: OutputFormat }) => {
    if (ctx.citus && o.group === undefined) {
      throw new CtlError("For Citus clusters the --group must be specified");
    }
    const s = await ctx.cluster(cluster, o.group);
    ctx.out(renderCluster(s, { name: cluster, fmt: o.format, group: o.group, citus: ctx.citus }));
    if ((await prompt(ctx.io, "Please confirm the cluster name to remove")) !== cluster) {
      throw new CtlError("Cluster names specified do not match");
    }
    const phrase = "Yes I am aware";
    const typed = await prompt(
      ctx.io,
      `You are about to remove all information in DCS for ${cluster}, please type: "${phrase}"`,
    );
    if (typed !== phrase) throw new CtlError(`You did not exactly type "${phrase}"`);
    if (s.leader?.name) {
      const leader = await prompt(
        ctx.io,
        "This cluster currently is healthy. Please specify the leader name to continue",
      );
      if (leader !== s.leader.name) {
        throw new CtlError("You did not specify the current leader of the cluster");
      }
    }
    const dcs = await ctx.dcs(cluster, o.group);
    if (!(await dcs.deleteCluster())) throw new CtlError(`the DCS did not delete cluster ${cluster}`);
  }));
}
