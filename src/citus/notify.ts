/**
 * Worker side of a planned primary change: tell the coordinator leader (`POST /citus` on its `api_url`, found
 * in group 0 of the DCS) so it can hold distributed transactions for this group meanwhile. One attempt, no
 * retries; a failure is logged and never stops the worker's own switchover or failover.
 */
import type { AgentHooks, HookContext, Veto } from "../agent/hooks.ts";
import type { Logger } from "../agent/log.ts";
import type { ClusterSnapshot } from "../dcs/types.ts";
import { type CitusEventType, notifyTimeoutMs } from "./events.ts";

export interface NotifierDeps {
  group: number;
  name: string;
  /** Current ttl and retry_timeout (s). */
  timings: () => { ttlS: number; retryTimeoutS: number };
  /** Read group 0 (the coordinator) from the DCS. */
  readCoordinator: () => Promise<ClusterSnapshot>;
  /** REST credentials, the same ones the members use between themselves. */
  auth?: { username: string; password: string };
  log: Logger;
  fetch?: typeof fetch;
}

export class CoordinatorNotifier {
  constructor(readonly deps: NotifierDeps) {}

  /** POST the event; resolves when the coordinator answered or the attempt failed (never throws). */
  async notify(type: CitusEventType): Promise<void> {
    const { deps } = this;
    const { ttlS, retryTimeoutS } = deps.timings();
    let url: string | undefined;
    try {
      const c = await deps.readCoordinator();
      const leader = c.leader ? c.members.find((m) => m.name === c.leader!.name) : undefined;
      url = leader?.data.api_url;
      if (!url) {
        deps.log.warn(`Citus: no coordinator leader to send ${type} to`);
        return;
      }
      const u = new URL(url);
      u.pathname = "/citus";
      const body = JSON.stringify({
        type,
        group: deps.group,
        leader: deps.name,
        timeout: ttlS,
        cooldown: retryTimeoutS,
      });
      const r = await (deps.fetch ?? fetch)(u, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(deps.auth
            ? { authorization: "Basic " + btoa(`${deps.auth.username}:${deps.auth.password}`) }
            : {}),
        },
        body,
        signal: AbortSignal.timeout(notifyTimeoutMs(type, ttlS)),
      });
      const text = await r.text();
      if (r.status !== 200) deps.log.warn(`Citus: coordinator answered ${type} with ${r.status} ${text}`);
      else deps.log.info(`Citus: coordinator leader ${leader!.name} acknowledged ${type}`);
    } catch (e) {
      deps.log.warn(
        `Citus: request to the coordinator leader ${url ?? ""} (${type}) failed: ${
          e instanceof Error ? e.message : String(e)
        }`,
      );
    }
  }
}

/**
 * The agent's hooks, with the coordinator told about this worker's primary changes. The configured hooks run
 * first: a vetoed demotion or promotion never reaches the coordinator (it would otherwise hold the group's
 * transactions until its timeout for nothing).
 */
export function withCoordinatorNotifications<H extends AgentHooks>(inner: H, n: CoordinatorNotifier): H {
  // Spread keeps own properties only: carry `close` over explicitly in case `inner` is a class instance.
  const close = (inner as { close?: () => Promise<void> }).close;
  return {
    ...inner,
    ...(close ? { close: () => close.call(inner) } : {}),
    async beforeDemote(ctx: HookContext): Promise<Veto> {
      const v = await inner.beforeDemote(ctx);
      if (!v.vetoed) await n.notify("before_demote");
      return v;
    },
    async beforePromote(ctx: HookContext): Promise<Veto> {
      const v = await inner.beforePromote(ctx);
      if (!v.vetoed) await n.notify("before_promote");
      return v;
    },
    emit(event, ctx) {
      inner.emit(event, ctx);
      if (event === "afterPromote") n.notify("after_promote");
    },
  };
}
