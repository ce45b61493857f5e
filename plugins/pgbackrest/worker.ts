/** Worker of the `pgbackrest` method plugin. */
import { methodRunOptions, runLogged } from "../../src/plugins/exec.ts";
import { serveHooks } from "../../src/plugins/worker_entry.ts";
import { bootstrapArgv, replicaArgv } from "./args.ts";
import type { PgBackRestConfig } from "./mod.ts";

serveHooks<PgBackRestConfig>({
  async bootstrap(ctx) {
    return (await runLogged(
      bootstrapArgv(ctx.config, ctx.dataDir),
      methodRunOptions(ctx, ctx.config.user),
    )) === 0;
  },
  async createReplica(ctx) {
    return (await runLogged(replicaArgv(ctx.config, ctx.dataDir), methodRunOptions(ctx, ctx.config.user))) ===
      0;
  },
});
