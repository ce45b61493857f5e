/** Worker of the `command` method plugin. */
import { methodRunOptions, runLogged } from "../../src/plugins/exec.ts";
import { serveHooks } from "../../src/plugins/worker_entry.ts";
import { bootstrapArgv, parseSection, replicaArgv } from "./args.ts";
import type { CommandConfig } from "./mod.ts";

serveHooks<CommandConfig>({
  async bootstrap(ctx) {
    const argv = bootstrapArgv(parseSection(ctx.config), ctx);
    return (await runLogged(argv, methodRunOptions(ctx, ctx.config.user))) === 0;
  },
  async createReplica(ctx) {
    const s = parseSection(ctx.config);
    if (!ctx.source && !s.noLeader) {
      ctx.logger.warn("method needs a running source and none is given (set no_leader to run without)");
      return false;
    }
    const argv = replicaArgv(s, { ...ctx, connstring: ctx.source?.connUrl ?? null });
    return (await runLogged(argv, methodRunOptions(ctx, ctx.config.user))) === 0;
  },
});
