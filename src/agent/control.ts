/**
 * Operations the REST API asks of the agent (restart, reload, reinitialize, failsafe, scheduled restart),
 * serialised with the HA loop through `HaAgent.exclusive` so an operation never races a cycle's action.
 */
import type { Dcs } from "../dcs/types.ts";
import type { HaAgent } from "./ha_agent.ts";
import type { AgentControl, AgentView, RestartRequest } from "./status.ts";

type Outcome = { ok: boolean; status: number; message: string };

export class AgentController implements AgentControl {
  constructor(readonly agent: HaAgent, readonly dcs: Dcs) {}

  view(): AgentView {
    return this.agent.view();
  }

  wake(): void {
    this.agent.wake();
  }

  refreshPg(timeoutMs: number): Promise<void> {
    return this.agent.refreshPg(timeoutMs);
  }

  validateParameters(params: Record<string, unknown>): string[] {
    return this.agent.parameterProblems(params);
  }

  async restart(req: RestartRequest): Promise<Outcome> {
    if (req.schedule) {
      if (this.agent.view().paused) {
        return { ok: false, status: 500, message: "Can't schedule restart in the paused state" };
      }
      // The filters are checked when it fires (the node may have changed by then), like Patroni.
      if (!this.agent.scheduleRestart({ ...req, schedule: req.schedule })) {
        return { ok: false, status: 409, message: "Another restart is already scheduled" };
      }
      return { ok: true, status: 202, message: "Restart scheduled" };
    }
    const notOk = this.agent.restartFilterFailure(req);
    if (notOk) return { ok: false, status: 503, message: notOk };
    const r = await this.agent.restartPostgres(req.timeoutS);
    return r === "ok"
      ? { ok: true, status: 200, message: "restarted successfully" }
      : { ok: false, status: 503, message: r };
  }

  cancelScheduledRestart(): Promise<Outcome> {
    return Promise.resolve(
      this.agent.cancelScheduledRestart()
        ? { ok: true, status: 200, message: "scheduled restart deleted" }
        : { ok: false, status: 404, message: "no restarts are scheduled" },
    );
  }

  async reload(): Promise<Outcome> {
    await this.agent.reloadPostgres();
    return { ok: true, status: 202, message: "reload scheduled" };
  }

  async reinitialize(opts: { force: boolean; fromLeader: boolean }): Promise<Outcome> {
    const v = this.agent.view();
    if (v.cluster?.leader?.name === this.agent.name) {
      return { ok: false, status: 503, message: "I am the leader, can not reinitialize" };
    }
    if (!v.cluster?.leader) {
      return { ok: false, status: 503, message: "Cluster has no leader, can not reinitialize" };
    }
    if (v.asyncAction && !opts.force) {
      return { ok: false, status: 503, message: `${v.asyncAction} already in progress` };
    }
    const r = await this.agent.reinitialize({ fromLeader: opts.fromLeader });
    return r === "ok"
      ? { ok: true, status: 200, message: "reinitialize started" }
      : { ok: false, status: 503, message: r };
  }

  acceptFailsafe(
    body: { name: string; conn_url?: string; api_url?: string; slots?: Record<string, number> },
  ): number | null {
    return this.agent.acceptFailsafe(body);
  }
}
