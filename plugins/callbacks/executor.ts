/**
 * Runs Patroni's `postgresql.callbacks`: `<cmd> <action> <role> <scope>`, asynchronously, without timeout,
 * exit code only logged. Two lanes (reload, everything else); starting a callback in a lane SIGKILLs the
 * one still running there together with its whole process tree: each callback is started as the leader of
 * its own process group (session), and the group is killed.
 */
import { signalProcess } from "../../src/postgres/process.ts";
import { spawn } from "node:child_process";
import { shellSplit } from "../../src/plugins/shlex.ts";
import type { PluginLogger } from "../../src/plugins/types.ts";

export type CallbackAction = "on_start" | "on_stop" | "on_restart" | "on_reload" | "on_role_change";

interface Running {
  pid: number;
  cmd: string;
  exited: Promise<number | null>;
}

export class CallbackExecutor {
  readonly #lanes = new Map<"main" | "reload", Running>();

  constructor(private readonly scope: string, private readonly logger: PluginLogger) {}

  /** Start `cmd action role scope`; returns once started (or failed to start). */
  async run(cmd: string, action: CallbackAction, role: string): Promise<void> {
    const lane = action === "on_reload" ? "reload" : "main";
    const prev = this.#lanes.get(lane);
    if (prev) {
      this.#killGroup(prev.pid);
      this.logger.warn(`Killed ${prev.cmd} because it was still running`, { action, pid: prev.pid });
      await prev.exited;
    }
    let argv: string[];
    try {
      argv = [...shellSplit(cmd), action, role, this.scope];
    } catch (err) {
      this.logger.error(`cannot parse callback command ${JSON.stringify(cmd)}`, { error: String(err) });
      return;
    }
    // An explicit env: node's default would copy the whole process environment, which a least-privilege agent
    // may not read. Callbacks get the variables the agent was allowed to see.
    const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: "inherit", env: readableEnv() });
    const started = new Promise<boolean>((resolve) => {
      child.once("spawn", () => resolve(true));
      child.once("error", (err) => {
        this.logger.error(`failed to run callback ${argv.join(" ")}`, { action, error: String(err) });
        resolve(false);
      });
    });
    if (!(await started) || child.pid === undefined) return;
    const entry: Running = {
      pid: child.pid,
      cmd: argv.join(" "),
      exited: new Promise((resolve) => {
        child.once("exit", (code, signal) => {
          if (this.#lanes.get(lane) === entry) this.#lanes.delete(lane);
          if (code !== 0) this.logger.info("callback exited", { action, code, signal });
          resolve(code);
        });
      }),
    };
    this.#lanes.set(lane, entry);
  }

  /** Pid of the callback running in the lane of `action`, if any (tests, `ctl` diagnostics). */
  runningPid(action: CallbackAction): number | null {
    return this.#lanes.get(action === "on_reload" ? "reload" : "main")?.pid ?? null;
  }

  /** Wait for running callbacks (shutdown, tests). */
  async drain(): Promise<void> {
    await Promise.all([...this.#lanes.values()].map((r) => r.exited));
  }

  /** SIGKILL every running callback tree. */
  killAll(): void {
    for (const r of this.#lanes.values()) this.#killGroup(r.pid);
  }

  #killGroup(pid: number): void {
    // Under least privilege Deno may not signal other processes itself; signalProcess falls back to `kill`.
    // The leader may have exited and its group be empty already: signal the process itself too.
    signalProcess(-pid, "SIGKILL").then(() => signalProcess(pid, "SIGKILL")).catch(() => {});
  }
}

const CALLBACK_ENV = ["PATH", "HOME", "LANG", "LC_ALL", "TZ", "USER", "LOGNAME", "PGPASSFILE"];

function readableEnv(): Record<string, string> {
  try {
    return Deno.env.toObject();
  } catch {
    const out: Record<string, string> = {};
    for (const k of CALLBACK_ENV) {
      try {
        const v = Deno.env.get(k);
        if (v !== undefined) out[k] = v;
      } catch { /* not granted */ }
    }
    return out;
  }
}
