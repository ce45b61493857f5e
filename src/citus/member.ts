/**
 * Citus support for one agent (`citus: {group, database}` in its config), attached from outside the HA loop:
 * - every group's leader, once it runs as a writable primary, prepares the Citus database (`bootstrap.ts`);
 * - the coordinator leader (group 0) keeps `pg_dist_node` in line with the DCS after each HA cycle and
 *   answers `POST /citus` (`coordinator.ts`);
 * - a worker tells the coordinator about its planned primary changes through the agent's hooks (`notify.ts`).
 *
 * It watches the agent's published view (one snapshot per HA cycle) instead of being called by the loop, so
 * the HA code knows nothing about Citus; a slow catalog never delays a lock renewal.
 */
import type { AgentHooks } from "../agent/hooks.ts";
import type { Logger } from "../agent/log.ts";
import { connectAddress } from "../agent/member_data.ts";
import type { AgentView } from "../agent/status.ts";
import type { Config } from "../config/schema.ts";
import type { ClusterSnapshot, Dcs } from "../dcs/types.ts";
import { type Clock, realClock } from "../util/clock.ts";
import { ensureCitus } from "./bootstrap.ts";
import { type CatalogConn, citusConnectParams, SqlCatalogConn } from "./catalog.ts";
import { CitusCoordinator } from "./coordinator.ts";
import { CoordinatorNotifier, withCoordinatorNotifications } from "./notify.ts";
import { addrOfHostPort } from "./types.ts";

export interface CitusMemberDeps {
  /** The agent's config; `citus` must be set. */
  config: Config;
  /** The agent's current view (refreshed every HA cycle). */
  view: () => AgentView;
  /** The agent's DCS client (on the coordinator it reads every group). */
  dcs: Dcs;
  /** Opens a DCS client reading group 0 (workers find the coordinator leader there); closed by `close()`. */
  openCoordinatorDcs: () => Promise<Dcs>;
  log: Logger;
  clock?: Clock;
  /** Catalog connection factory (tests); default: npm:postgres to the local Citus database. */
  openCatalog?: () => CatalogConn;
  /** How often the view is checked (ms). */
  pollMs?: number;
  /** A reconcile pass runs after each new DCS snapshot, and at least this often (ms). */
  reconcileEveryMs?: number;
}

/** The view says: this node holds its group's leader lock and runs as a writable primary. */
export function isLeaderPrimary(v: AgentView): boolean {
  return v.isLeader && v.role === "primary" && !!v.pg?.running && !!v.pg.accepting &&
    v.pg.inRecovery === false;
}

export class CitusMember {
  readonly group: number;
  readonly coordinator: CitusCoordinator | null;
  #prepared = false;
  #lastCluster: ClusterSnapshot | null = null;
  #lastReconcile = 0;
  #wantReconcile = false;
  #coordinatorDcs: Promise<Dcs> | null = null;
  #notifier: CoordinatorNotifier | null = null;
  #lastError = "";
  #prepareRetryAt = 0;
  #stop = new AbortController();
  #running: Promise<void> | null = null;

  constructor(readonly deps: CitusMemberDeps) {
    const citus = deps.config.citus;
    if (!citus) throw new Error("Citus support needs a citus section in the configuration");
    this.group = citus.group;
    const addr = addrOfHostPort(connectAddress(deps.config));
    if (!addr) throw new Error(`cannot parse the PostgreSQL connect address ${connectAddress(deps.config)}`);
    this.coordinator = this.group !== 0 ? null : new CitusCoordinator({
      self: { name: deps.config.name, addr },
      secondaries: citus.secondaries,
      openConn: deps.openCatalog ??
        (() =>
          new SqlCatalogConn(citusConnectParams(deps.config, citus.database), {
            statementTimeoutMs: (deps.view().dynamic.retryTimeout + 10) * 1000,
          })),
      freshCluster: () => deps.dcs.getCluster(),
      isLeaderPrimary: () => isLeaderPrimary(deps.view()),
      retryTimeoutS: () => deps.view().dynamic.retryTimeout,
      log: deps.log,
      clock: deps.clock ?? realClock,
    });
  }

  /** The agent's hooks, extended for a worker (the coordinator's own hooks are unchanged). */
  hooks<H extends AgentHooks>(inner: H): H {
    if (this.group === 0) return inner;
    const { config, log } = this.deps;
    const notifier = new CoordinatorNotifier({
      group: this.group,
      name: config.name,
      timings: () => {
        const d = this.deps.view().dynamic;
        return { ttlS: d.ttl, retryTimeoutS: d.retryTimeout };
      },
      readCoordinator: async () => {
        this.#coordinatorDcs ??= this.deps.openCoordinatorDcs();
        try {
          return await (await this.#coordinatorDcs).getCluster();
        } catch (e) {
          this.#coordinatorDcs = null;
          throw e;
        }
      },
      ...(config.restapi.authentication ? { auth: config.restapi.authentication } : {}),
      log,
    });
    this.#notifier = notifier;
    return withCoordinatorNotifications(inner, notifier);
  }

  /**
   * The agent is about to stop PostgreSQL for good (SIGTERM): a worker primary tells the coordinator first,
   * as for a switchover, so distributed transactions wait for the replica that takes over. Not in pause
   * (PostgreSQL keeps running then).
   */
  async beforeShutdown(): Promise<void> {
    const v = this.deps.view();
    if (this.#notifier && isLeaderPrimary(v) && !v.paused) await this.#notifier.notify("before_demote");
  }

  /** `POST /citus` on this node. */
  citusEvent(body: Record<string, unknown>): Promise<{ status: number; message: string }> {
    if (!this.coordinator) {
      this.deps.log.info(`Citus: not a coordinator member, discarding ${JSON.stringify(body)}`);
      return Promise.resolve({ status: 200, message: "OK" });
    }
    const r = this.coordinator.handleEvent(body);
    // An after_promote without an open transaction still means a new worker primary: reconcile soon.
    this.#wantReconcile = true;
    return r;
  }

  /** Start watching the agent. */
  start(): void {
    this.#running ??= this.#loop();
  }

  async #loop(): Promise<void> {
    const pollMs = this.deps.pollMs ?? 500;
    const signal = this.#stop.signal;
    while (!signal.aborted) {
      try {
        await this.tick();
      } catch (e) {
        this.#report(`Citus: ${e instanceof Error ? e.message : String(e)}`);
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, pollMs);
        signal.addEventListener("abort", () => (clearTimeout(t), resolve()), { once: true });
      });
    }
  }

  #report(msg: string): void {
    if (msg !== this.#lastError) this.deps.log.warn(msg);
    this.#lastError = msg;
  }

  /** One look at the agent: prepare the database once per leadership, reconcile on the coordinator. */
  async tick(): Promise<void> {
    const v = this.deps.view();
    if (!isLeaderPrimary(v)) {
      if (this.#prepared) {
        this.#prepared = false;
        await this.coordinator?.stepDown();
      }
      return;
    }
    const { config } = this.deps;
    const citus = config.citus!;
    const now = (this.deps.clock ?? realClock).now();
    if (!this.#prepared) {
      if (now < this.#prepareRetryAt) return;
      // Not every 500 ms against a server that refuses (e.g. Citus not installed): once per loop_wait.
      this.#prepareRetryAt = now + v.dynamic.loopWait * 1000;
      const r = await ensureCitus(
        config,
        citusConnectParams(config, config.postgresql.database),
        citusConnectParams(config, citus.database),
      );
      this.#prepared = true;
      this.#lastError = "";
      this.deps.log.info(
        `Citus: database ${citus.database} ready on group ${this.group}` +
          (r.createdDatabase ? " (created)" : "") + (r.authinfoChanged ? ", pg_dist_authinfo updated" : ""),
      );
    }
    if (!this.coordinator || !v.cluster) return;
    const due = v.cluster !== this.#lastCluster || this.#wantReconcile ||
      now - this.#lastReconcile >= (this.deps.reconcileEveryMs ?? 10_000);
    if (!due) return;
    this.#lastCluster = v.cluster;
    this.#wantReconcile = false;
    this.#lastReconcile = now;
    await this.coordinator.reconcile(v.cluster);
  }

  async close(): Promise<void> {
    this.#stop.abort();
    await this.#running;
    await this.coordinator?.close();
    const d = this.#coordinatorDcs;
    this.#coordinatorDcs = null;
    if (d) await (await d.catch(() => null))?.close();
  }
}
