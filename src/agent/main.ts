/**
 * The agent process: `deno run <computed permissions> src/agent/main.ts <config> [--observe-only]`.
 * Normally started through bin/pgwarden, which computes the least-privilege permission set first and
 * `exec`s this, so the PID a supervisor sees is the agent itself.
 */
import { ConfigError, loadConfig } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import { type DynamicConfig, fromPatroniDynamic, toPatroniDynamic } from "../config/dynamic.ts";
import { createDcs } from "../dcs/factory.ts";
import { PostgresManager } from "../postgres/manager.ts";
import { startApi } from "../api/server.ts";
import { realClock } from "../util/clock.ts";
import { createLogger, type Logger } from "./log.ts";
import { HaAgent } from "./ha_agent.ts";
import { AgentController } from "./control.ts";
import { httpPeerClient } from "./peers.ts";
import { createAgentHooks } from "./plugin_hooks.ts";
import { CitusMember } from "../citus/member.ts";
import type { AgentView } from "./status.ts";
import { Watchdog } from "./watchdog.ts";
import { readDynamicCache, writeDynamicCache } from "./dynamic_cache.ts";

function usage(): never {
  console.error("usage: pgwarden <config.ts|patroni.yml> [--observe-only]");
  Deno.exit(2);
}

/** Refuse to start when a member with our name is alive (Patroni: duplicate-name guard). */
async function checkDuplicateName(config: Config, log: Logger, dcsRead: () => Promise<{ api?: string }>) {
  try {
    const { api } = await dcsRead();
    if (!api) return;
    const r = await fetch(api.replace(/\/patroni$/, "/liveness"), { signal: AbortSignal.timeout(2000) });
    await r.body?.cancel();
    if (r.status === 200) {
      log.error(`Can't start; there is already a node named '${config.name}' running`);
      Deno.exit(1);
    }
  } catch {
    // nobody answers: fine
  }
}

export async function main(args: string[]): Promise<void> {
  const path = args.find((a) => !a.startsWith("--"));
  if (!path) usage();
  let config: Config;
  try {
    // Without an explicit env the loader reads exactly the PATRONI_* variables this process was granted.
    config = await loadConfig(path);
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(e.message);
      Deno.exit(2);
    }
    throw e;
  }
  const observeOnly = args.includes("--observe-only") || config.observeOnly;
  const log = createLogger({ level: config.log.level, format: config.log.format });

  // The cluster's last known settings first, so a node can start while the DCS is down.
  const dynamic: DynamicConfig = (await readDynamicCache(config.postgresql.dataDir)) ??
    fromPatroniDynamic(toPatroniDynamic(config.bootstrap.dcs));
  const dcs = await createDcs(config, {
    timings: { ttlS: dynamic.ttl, loopWaitS: dynamic.loopWait, retryTimeoutS: dynamic.retryTimeout },
    onBadData: (key, problem) => log.warn(`ignoring bad value in DCS key ${key}: ${problem}`),
  });
  await checkDuplicateName(config, log, async () => {
    const c = await dcs.getCluster();
    return { api: c.members.find((m) => m.name === config.name)?.data.api_url };
  });

  const hooks = await createAgentHooks(config, log, { configPath: path });
  // Plugin-backed bootstrap and replica methods (and Patroni method sections, via the command plugin).
  const pg = new PostgresManager(config, {
    dynamic,
    log,
    replicaMethods: hooks.replicaMethods,
    bootstrapMethods: hooks.bootstrapMethods,
  });
  const watchdog = new Watchdog(config.watchdog, { ttl: dynamic.ttl, loopWait: dynamic.loopWait }, log);
  // Citus (not in observe-only mode: it writes the Citus catalog): watches the agent's view, and on workers
  // tells the coordinator about primary changes through the hooks.
  const citus: CitusMember | null = config.citus && !observeOnly
    ? new CitusMember({
      config,
      view: (): AgentView => agent.view(),
      dcs,
      openCoordinatorDcs: () =>
        createDcs({ ...config, citus: { ...config.citus!, group: 0 } }, {
          timings: { ttlS: dynamic.ttl, loopWaitS: dynamic.loopWait, retryTimeoutS: dynamic.retryTimeout },
        }),
      log,
    })
    : null;
  const agent = new HaAgent({
    config,
    dcs,
    pg,
    peers: httpPeerClient({ auth: config.restapi.authentication }),
    clock: realClock,
    log,
    hooks: citus ? citus.hooks(hooks) : hooks,
    dynamic,
    observeOnly,
    postmasterAlive: () => pg.postmasterAlive(),
    onPgConnectionClosed: (fn) => pg.onConnectionClosed(fn),
    watchdog,
    onFatal: (reason) => {
      log.error(`${reason}: exiting`);
      // An armed watchdog closed without the magic character would reset the machine.
      watchdog.disable().finally(() => Deno.exit(1));
    },
    saveDynamicCache: (d) => writeDynamicCache(config.postgresql.dataDir, d),
  });
  const control = new AgentController(agent, dcs);
  const api = await startApi(
    citus
      ? Object.assign(control, { citusEvent: (b: Record<string, unknown>) => citus.citusEvent(b) })
      : control,
    config,
  );
  log.info(
    `pgwarden ${config.name} in cluster ${config.scope}: REST API on ${config.restapi.listen}` +
      (observeOnly ? " (observe-only: no changes will be made)" : ""),
  );

  const stop = new AbortController();
  let shuttingDown = false;
  const shutdown = async (sig: string) => {
    if (shuttingDown) return;
    shuttingDown = true;
    log.info(`received ${sig}, shutting down`);
    stop.abort();
    agent.wake();
    // Citus first: a worker primary warns the coordinator; the coordinator's catalog connection must not
    // outlive PostgreSQL, nor hold a transaction open.
    await citus?.beforeShutdown();
    await citus?.close();
    await agent.exclusive(() => agent.shutdown());
    await hooks.close?.();
    await api.close();
    await dcs.close();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGTERM", () => shutdown("SIGTERM"));
  Deno.addSignalListener("SIGINT", () => shutdown("SIGINT"));
  Deno.addSignalListener("SIGHUP", () => {
    log.info("received SIGHUP, reloading");
    agent.reloadPostgres().catch((e) => log.warn("reload failed", { error: String(e) }));
  });
  citus?.start();
  await agent.run(stop.signal);
  // Keep the process until shutdown finishes.
  await new Promise(() => {});
}

if (import.meta.main) await main(Deno.args);
