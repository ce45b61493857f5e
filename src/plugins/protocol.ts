/** Messages between the plugin host and a plugin worker (structured-clone data only). */
import type { HookCallData, HookName, LogLevel } from "./types.ts";

export type HostMessage =
  /** First message to a fresh worker. */
  | { type: "init"; name: string; config: unknown }
  | { type: "call"; id: number; hook: HookName; data: HookCallData; timeoutMs: number }
  /** The host gave up on call `id`: its `signal` is aborted (the worker is usually terminated right after). */
  | { type: "abort"; id: number; reason: string };

export type FailureKind = "error" | "permission";

export type WorkerMessage =
  | { type: "ready"; hooks: HookName[] }
  | { type: "result"; id: number; value: unknown }
  | { type: "error"; id: number; kind: FailureKind; error: string; message: string }
  /** An error escaped the hooks (a background task failed): the host terminates the worker. */
  | { type: "crash"; kind: FailureKind; message: string }
  | { type: "log"; id: number | null; level: LogLevel; msg: string; fields: Record<string, unknown> };

/** Is `err` (or its cause chain) a Deno permission denial? */
export function isPermissionError(err: unknown): boolean {
  for (let e = err, depth = 0; e && depth < 8; depth++) {
    if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) return true;
    if (e instanceof Error) {
      if (/\bNotCapable\b|Requires \w+ access to/.test(`${e.name} ${e.message}`)) return true;
      e = e.cause;
    } else if (typeof e === "string") {
      return /\bNotCapable\b|Requires \w+ access to/.test(e);
    } else return false;
  }
  return false;
}
