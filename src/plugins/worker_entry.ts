/**
 * The worker side of the plugin protocol. A plugin's `worker.ts` imports `serveHooks` and passes its hook
 * functions; everything else (context, logger, abort signal, error reporting) is handled here.
 *
 * @example
 * ```ts ignore
 * import { serveHooks } from "../../src/plugins/worker_entry.ts";
 * serveHooks<{ url: string }>({
 *   onRoleChange: async (ctx) => { await fetch(ctx.config.url, { method: "POST", signal: ctx.signal }); },
 * });
 * ```
 */
import { type HostMessage, isPermissionError, type WorkerMessage } from "./protocol.ts";
import type { HookContext, HookName, Hooks, LogLevel, PluginLogger } from "./types.ts";

interface WorkerScope {
  postMessage(msg: WorkerMessage): void;
  onmessage: ((e: MessageEvent<HostMessage>) => void) | null;
}

/**
 * In a plugin jail the process's stdout carries the protocol's frames (jail.ts), so the plugin's console output
 * becomes log messages: the agent logs them as the plugin's, with its name. Done when this module is
 * evaluated, before the plugin's own module body runs.
 */
if ("WorkerGlobalScope" in globalThis) {
  const text = (args: unknown[]) => args.map((a) => typeof a === "string" ? a : Deno.inspect(a)).join(" ");
  const to = (level: LogLevel) => (...args: unknown[]) =>
    (globalThis as unknown as WorkerScope).postMessage({
      type: "log",
      id: null,
      level,
      msg: text(args),
      fields: {},
    });
  Object.assign(console, {
    log: to("info"),
    info: to("info"),
    debug: to("debug"),
    trace: to("debug"),
    warn: to("warn"),
    error: to("error"),
  });
}

/** Keep log fields cloneable: anything structured clone cannot carry is turned into text. */
function cloneable(fields: Record<string, unknown> | undefined): Record<string, unknown> {
  if (!fields) return {};
  try {
    return structuredClone(fields);
  } catch {
    return JSON.parse(JSON.stringify(fields, (_k, v) => (typeof v === "bigint" ? String(v) : v)));
  }
}

export function serveHooks<C = unknown>(hooks: Hooks<C>): void {
  const scope = globalThis as unknown as WorkerScope;
  const post = (m: WorkerMessage) => scope.postMessage(m);
  const calls = new Map<number, AbortController>();
  let config: C | undefined;

  const loggerFor = (id: number | null): PluginLogger => {
    const at = (level: LogLevel) => (msg: string, fields?: Record<string, unknown>) =>
      post({ type: "log", id, level, msg: String(msg), fields: cloneable(fields) });
    return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
  };

  async function run(id: number, hook: HookName, ctx: HookContext): Promise<void> {
    const fn = hooks[hook] as ((c: HookContext) => unknown) | undefined;
    try {
      if (!fn) throw new Error(`Hook "${hook}" is not implemented`);
      const value = await fn(ctx);
      post({ type: "result", id, value: value === undefined ? null : structuredClone(value) });
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      post({
        type: "error",
        id,
        kind: isPermissionError(err) ? "permission" : "error",
        error: e.name,
        message: e.message,
      });
    } finally {
      calls.delete(id);
    }
  }

  // Errors outside any hook's promise (timers, unawaited promises) are reported, not printed by the runtime.
  const crash = (err: unknown) => {
    const e = err instanceof Error ? err : new Error(String(err));
    post({
      type: "crash",
      kind: isPermissionError(err) ? "permission" : "error",
      message: `${e.name}: ${e.message}`,
    });
  };
  globalThis.addEventListener("error", (e) => {
    e.preventDefault();
    crash(e.error ?? e.message);
  });
  globalThis.addEventListener("unhandledrejection", (e) => {
    e.preventDefault();
    crash(e.reason);
  });

  scope.onmessage = (e) => {
    const msg = e.data;
    switch (msg.type) {
      case "init":
        config = msg.config as C;
        post({ type: "ready", hooks: Object.keys(hooks).filter((k) => hooks[k as HookName]) as HookName[] });
        break;
      case "abort":
        calls.get(msg.id)?.abort(new Error(msg.reason));
        break;
      case "call": {
        const ac = new AbortController();
        calls.set(msg.id, ac);
        const ctx = {
          ...msg.data,
          config: config as C,
          logger: loggerFor(msg.id),
          signal: ac.signal,
        } as HookContext;
        void run(msg.id, msg.hook, ctx);
        break;
      }
    }
  };
}
