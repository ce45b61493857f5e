/**
 * The host's handle on one plugin jail (jail.ts): spawns `deno run` with the plugin's permissions, relays
 * protocol messages as frames, and kills the process to stop the plugin. Killing a process always works; a
 * Worker's `terminate()` does not stop one spinning on the CPU on current Deno (see jail.ts).
 */
import { fileURLToPath } from "node:url";
import { encodeFrame, FrameDecoder } from "./frames.ts";
import type { JailEvent } from "./jail.ts";
import { moduleGraphReads, permissionFlags, workerPermissions } from "./permissions.ts";
import type { HostMessage, WorkerMessage } from "./protocol.ts";
import type { PluginPermissions } from "./types.ts";

const ROOT = new URL("../../", import.meta.url);
const JAIL = new URL("./jail.ts", import.meta.url);

export interface JailSpec {
  name: string;
  module: string | URL;
  /** The plugin's effective permissions: its Worker gets exactly these. */
  permissions: PluginPermissions;
}

export interface JailEvents {
  message(m: WorkerMessage): void;
  /** The worker or its process failed; called at most once, never after `terminate()`. */
  crash(message: string): void;
}

/** The `deno run` arguments of a jail. */
export function jailArgs(spec: JailSpec): string[] {
  const perms = spec.permissions;
  // Besides the plugin's own: its module graph, and the config and lock file the process is started with.
  const extra = [
    ...moduleGraphReads([spec.module]),
    ...["deno.json", "deno.lock"].map((p) => fileURLToPath(new URL(p, ROOT))),
  ];
  const outer: PluginPermissions = { ...perms, read: [...(perms.read ?? []), ...extra] };
  return [
    "run",
    "--quiet",
    "--no-prompt",
    "--unstable-worker-options",
    `--config=${fileURLToPath(new URL("deno.json", ROOT))}`,
    // As for the agent (bin/pgwarden): an idle process would otherwise run full collections for nothing.
    "--v8-flags=--no-memory-reducer",
    ...permissionFlags(outer),
    fileURLToPath(JAIL),
    String(spec.module),
    `plugin:${spec.name}`,
    JSON.stringify(workerPermissions(perms)),
  ];
}

export class JailedWorker {
  readonly #child: Deno.ChildProcess | null = null;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array> | null = null;
  readonly #exited: Promise<void>;
  #writes: Promise<void> = Promise.resolve();
  #ended = false;

  constructor(spec: JailSpec, readonly events: JailEvents) {
    try {
      this.#child = new Deno.Command(Deno.execPath(), {
        args: jailArgs(spec),
        stdin: "piped",
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      this.#stdin = this.#child.stdin.getWriter();
    } catch (e) {
      // Reported after the constructor returns, as every other crash is.
      const msg = `could not start the plugin process: ${e instanceof Error ? e.message : String(e)}`;
      this.#exited = Promise.resolve().then(() => this.#crash(msg));
      return;
    }
    const child = this.#child;
    this.#exited = Promise.all([this.#read(child), child.status]).then(([, status]) => {
      this.#crash(`plugin process exited (${status.signal ?? `code ${status.code}`})`);
    });
  }

  /** The jail's process id (null if it could not be started). */
  get pid(): number | null {
    return this.#child?.pid ?? null;
  }

  /** Resolves once the process is gone and its pipes are closed. */
  get exited(): Promise<void> {
    return this.#exited;
  }

  postMessage(m: HostMessage): void {
    if (this.#ended || !this.#stdin) return;
    const writer = this.#stdin;
    const frame = encodeFrame(m);
    // Ordered; a write to a dead process fails and the exit is reported by #exited.
    this.#writes = this.#writes.then(() => writer.write(frame)).catch(() => {});
  }

  /** Kill the process (and with it the Worker); no event is delivered afterwards. False if already ended. */
  terminate(): boolean {
    if (this.#ended) return false;
    this.#ended = true;
    try {
      this.#child?.kill("SIGKILL");
    } catch { /* already exited */ }
    this.#stdin?.close().catch(() => {});
    return true;
  }

  async #read(child: Deno.ChildProcess): Promise<void> {
    const decoder = new FrameDecoder();
    try {
      for await (const chunk of child.stdout) {
        for (const e of decoder.push(chunk) as JailEvent[]) this.#deliver(e);
      }
    } catch (e) {
      this.#crash(`plugin process broke the protocol: ${e instanceof Error ? e.message : String(e)}`);
      await child.stdout.cancel().catch(() => {});
    }
  }

  #deliver(e: JailEvent): void {
    if (this.#ended) return;
    if (e.kind === "message") this.events.message(e.data as WorkerMessage);
    else if (e.kind === "error") this.#crash(e.message);
    else this.#crash("unreadable message from worker");
  }

  #crash(message: string): void {
    if (this.terminate()) this.events.crash(message);
  }
}
