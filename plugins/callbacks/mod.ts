/**
 * Patroni's `postgresql.callbacks` as a built-in plugin.
 *
 * It runs in the agent process rather than in a Worker: the commands are the operator's own agent
 * configuration (like `pre_promote`), a Worker with run permission for an arbitrary executable could do
 * anything that executable can anyway, and killing a callback's whole process tree needs `Deno.kill` on a
 * process group, which Deno allows only with unrestricted run permission.
 */
import type { LocalPlugin } from "../../src/plugins/host.ts";
import type { PluginLogger, PluginRole } from "../../src/plugins/types.ts";
import { type CallbackAction, CallbackExecutor } from "./executor.ts";

export interface CallbacksConfig {
  onStart?: string;
  onStop?: string;
  onRestart?: string;
  onReload?: string;
  onRoleChange?: string;
}

export interface CallbacksPlugin extends LocalPlugin {
  executor: CallbackExecutor;
}

/**
 * The built-in plugin for `postgresql.callbacks`, to pass as `local` to the `PluginHost`.
 * `logger` receives the executor's own lines (kills, exit codes).
 */
export function legacyCallbacks(
  callbacks: CallbacksConfig,
  scope: string,
  logger: PluginLogger = consoleLogger,
): CallbacksPlugin {
  const executor = new CallbackExecutor(scope, logger);
  const fire = (cmd: string | undefined, action: CallbackAction, role: PluginRole | null) =>
    cmd ? executor.run(cmd, action, role ?? "replica") : undefined;
  return {
    name: "callbacks",
    executor,
    close: () => executor.killAll(),
    hooks: {
      onStart: (c) => fire(callbacks.onStart, "on_start", c.role),
      onStop: (c) => fire(callbacks.onStop, "on_stop", c.role),
      onRestart: (c) => fire(callbacks.onRestart, "on_restart", c.role),
      onReload: (c) => fire(callbacks.onReload, "on_reload", c.role),
      onRoleChange: (c) => fire(callbacks.onRoleChange, "on_role_change", c.newRole),
    },
  };
}

const consoleLogger: PluginLogger = {
  debug: () => {},
  info: (msg, f) => console.error(JSON.stringify({ level: "info", plugin: "callbacks", msg, ...f })),
  warn: (msg, f) => console.error(JSON.stringify({ level: "warn", plugin: "callbacks", msg, ...f })),
  error: (msg, f) => console.error(JSON.stringify({ level: "error", plugin: "callbacks", msg, ...f })),
};
