/**
 * Operations the REST API asks of the agent (restart, reload, reinitialize, failsafe, scheduled restart),
 * serialised with the HA loop through `HaAgent.exclusive` so an operation never races a cycle's action.
 */
import type { Dcs } from "../dcs/types.ts";
import type { HaAgent } from "./ha_agent.ts";
import type { AgentControl, AgentView, RestartRequest } from "./status.ts";

type Outcome = { ok: boolean; status: number; message: string };

function versionNum(v: string): number {
  const [a = "0", b = "0", c = "0"] = v.split(".");
  return Number(a) * 10000 + Number(b) * 100 + Number(c);
}

export class AgentController implements AgentControl {
  #scheduled: (RestartRequest & { schedule: string }) | null = null;

  constructor(readonly agent: HaAgent, readonly dcs: Dcs) {}

  view(): AgentView {
    const v = this.agent.view();
    return { ...v, scheduledRestart: this.#scheduled ? { ...this.#scheduled } : null };
  }

  wake(): void {
    this.agent.wake();
  }

  /** Whether a restart request's filters match this node now. */
  #matches(req: RestartRequest): string | null {
    const v = this.agent.view();
    if (req.role && req.role !== v.role) return "restart conditions are not satisfied";
    if (req.restartPending !== undefined && !v.pg?.pendingRestart) {
      return "restart conditions are not satisfied";
    }
    if (req.postgresVersion && v.pg?.serverVersion) {
      const running = Math.floor(v.pg.serverVersion / 10000) * 10000 + (v.pg.serverVersion % 100) * 1;
      if (running >= versionNum(req.postgresVersion)) return "restart conditions are not satisfied";
    }
    return null;
  }

  async restart(req: RestartRequest): Promise<Outcome> {
    if (req.schedule) {
      if (this.agent.view().paused) {
        return { ok: false, status: 500, message: "Can't schedule restart in the paused state" };
      }
      if (this.#scheduled) return { ok: false, status: 409, message: "Another restart is already scheduled" };
      this.#scheduled = { ...req, schedule: req.schedule };
      this.#armScheduled();
      return { ok: true, status: 202, message: "Restart scheduled" };
    }
    const notOk = this.#matches(req);
    if (notOk) return { ok: false, status: 503, message: notOk };
    const r = await this.agent.restartPostgres(req.timeoutS);
    return r === "ok"
      ? { ok: true, status: 200, message: "restarted successfully" }
      : { ok: false, status: 503, message: r };
  }

  #armScheduled(): void {
    const s = this.#scheduled;
    if (!s) return;
    const delay = Math.max(0, Date.parse(s.schedule) - Date.now());
    setTimeout(async () => {
      if (this.#scheduled !== s) return;
      this.#scheduled = null;
      if (!this.#matches(s)) await this.agent.restartPostgres(s.timeoutS);
    }, delay);
  }

  cancelScheduledRestart(): Promise<Outcome> {
    if (!this.#scheduled) {
      return Promise.resolve({ ok: false, status: 404, message: "no restarts are scheduled" });
    }
    this.#scheduled = null;
    return Promise.resolve({ ok: true, status: 200, message: "scheduled restart deleted" });
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
    const r = await this.agent.reinitialize();
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
