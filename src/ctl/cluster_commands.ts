/**
 * Registers the cluster-operating commands (patronictl's set plus `why`) and the global options they share.
 * `main.ts` calls `registerClusterCommands(program)`; tests pass their own runtime.
 */
import type { Command } from "commander";
import { addGlobalOptions, type CtlRuntime, denoRuntime } from "./context.ts";
import { register as dsn } from "./commands/dsn.ts";
import { register as editConfig } from "./commands/edit_config.ts";
import { register as flush } from "./commands/flush.ts";
import { register as history } from "./commands/history.ts";
import { register as list } from "./commands/list.ts";
import { register as pause } from "./commands/pause.ts";
import { register as query } from "./commands/query.ts";
import { register as reinit } from "./commands/reinit.ts";
import { register as reload } from "./commands/reload.ts";
import { register as remove } from "./commands/remove.ts";
import { register as restart } from "./commands/restart.ts";
import { register as showConfig } from "./commands/show_config.ts";
import { register as switchover } from "./commands/switchover.ts";
import { register as version } from "./commands/version.ts";
import { register as why } from "./commands/why.ts";

export function registerClusterCommands(program: Command, rt: CtlRuntime = denoRuntime()): void {
  addGlobalOptions(program);
  for (
    const register of [
      list,
      switchover,
      restart,
      reload,
      reinit,
      pause,
      editConfig,
      showConfig,
      history,
      remove,
      query,
      dsn,
      flush,
      version,
      why,
    ]
  ) register(program, rt);
}

/** Same as registerClusterCommands with the process runtime (one `register(program)` like other modules). */
export function register(program: Command): void {
  registerClusterCommands(program);
}
