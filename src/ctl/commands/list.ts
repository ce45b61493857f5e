/** `list` and `topology`: the members of one or more clusters from the DCS, optionally refreshed. */
import type { Command } from "commander";
import { ctlAction, type CtlContext, type CtlRuntime } from "../context.ts";
import { warn } from "../io.ts";
import { renderCluster } from "../members.ts";
import { type OutputFormat, timestamp } from "../output.ts";
import { formatOption, groupOption, watchInterval, watchOptions } from "../options.ts";

interface ListOpts {
  group?: number;
  extended?: boolean;
  timestamp?: boolean;
  format?: OutputFormat;
  W?: boolean;
  watch?: number;
}

/** Print the listing of each cluster, once or every `-w` seconds. */
export async function listClusters(
  ctx: CtlContext,
  names: string[],
  o: ListOpts,
  fmt: OutputFormat,
): Promise<number> {
  const clusters = names.length ? names : ctx.settings.scope ? [ctx.settings.scope] : [];
  if (!clusters.length) {
    warn(ctx.io, "Listing members: No cluster names were provided");
    return 0;
  }
  const interval = watchInterval(o);
  for (let i = 0;; i++) {
    if (interval && ctx.io.stdoutIsTty) ctx.io.write("\x1b[H\x1b[2J");
    if (o.timestamp) ctx.out(timestamp(ctx.rt.clock.now(), 0));
    for (const name of clusters) {
      const s = await ctx.cluster(name, o.group);
      ctx.out(renderCluster(s, { name, fmt, extended: !!o.extended, group: o.group, citus: ctx.citus }));
    }
    if (!interval || (ctx.rt.maxWatchRefreshes !== undefined && i >= ctx.rt.maxWatchRefreshes)) return 0;
    await ctx.rt.clock.sleep(interval * 1000);
  }
}

export function register(program: Command, rt: CtlRuntime): void {
  const list = program.command("list")
    .description("List the members of a cluster: role, state, timeline and lag")
    .argument("[cluster_names...]", "clusters to list (default: the configured scope)");
  groupOption(list);
  list.option("-e, --extended", "show pending restarts, scheduled restarts and tags")
    .option("-t, --timestamp", "print a timestamp first");
  formatOption(list);
  watchOptions(list);
  list.action(
    ctlAction(rt, (ctx, names: string[], o: ListOpts) => listClusters(ctx, names, o, o.format ?? "pretty")),
  );

  const topo = program.command("topology")
    .description("Show the members as a tree following replication sources (replicatefrom)")
    .argument("[cluster_names...]", "clusters to show (default: the configured scope)");
  groupOption(topo);
  watchOptions(topo);
  topo.action(ctlAction(rt, (ctx, names: string[], o: ListOpts) => listClusters(ctx, names, o, "topology")));
}
