/**
 * A plugin jail: the child process that holds one plugin's Worker.
 *
 * Why a process: Deno 2.7 and later cannot stop a Worker that spins on the CPU (`terminate()` returns but the
 * thread keeps running, denoland/deno#35657), so a hung hook would burn a core of the agent forever. The host
 * kills this process instead, which always ends the Worker. The Worker still runs with exactly the plugin's
 * effective permissions; this process is started with those plus read access to the module graph.
 *
 * `deno run <flags> jail.ts <module URL> <worker name> <permissions JSON>`; frames (frames.ts) on stdin carry
 * host→worker messages, frames on stdout carry worker events. worker_entry.ts turns the plugin's console
 * output into log messages, so stdout carries frames only.
 */
import { encodeFrame, FrameDecoder, writeAllSync } from "./frames.ts";

/** What the jail reports to the host about its Worker. */
export type JailEvent =
  | { kind: "message"; data: unknown }
  | { kind: "error"; message: string }
  | { kind: "messageerror" };

if (import.meta.main) {
  const [module, name, permissions] = Deno.args;
  if (!module || !name || !permissions) {
    console.error("usage: jail.ts <module URL> <worker name> <permissions JSON>");
    Deno.exit(2);
  }
  const send = (e: JailEvent) => writeAllSync(Deno.stdout, encodeFrame(e));
  const worker = new Worker(module, {
    type: "module",
    name,
    deno: { permissions: JSON.parse(permissions) },
  } as WorkerOptions);
  worker.onmessage = (e) => send({ kind: "message", data: e.data });
  worker.onerror = (e) => {
    e.preventDefault();
    send({ kind: "error", message: e.message || String(e.error) });
  };
  worker.onmessageerror = () => send({ kind: "messageerror" });
  const decoder = new FrameDecoder();
  for await (const chunk of Deno.stdin.readable) {
    for (const m of decoder.push(chunk)) worker.postMessage(m);
  }
  // The host closed our stdin (it is gone or done with us).
  Deno.exit(0);
}
