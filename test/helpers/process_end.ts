/**
 * Cleanup that must run however the test process ends. Deno fires `unload` on a normal exit only: a module
 * that dies of an uncaught error or an unhandled rejection never reaches its `finally`, and the servers it
 * started (etcd, ZooKeeper, the postmasters agents started) would outlive it. Those errors end the process
 * right after their events, unless a listener registered earlier handled them (`defaultPrevented`, as the
 * postgres.js write-after-close filter does); then nothing is cleaned up.
 */
const cleanups: (() => void)[] = [];
let hooked = false;

/** Run `fn` (synchronously; it may run more than once) when the test process is about to end. */
export function onProcessEnd(fn: () => void): void {
  cleanups.push(fn);
  if (hooked) return;
  hooked = true;
  const runAll = (e?: Event) => {
    if (e?.defaultPrevented) return;
    for (const f of cleanups) {
      try {
        f();
      } catch { /* the next one still runs */ }
    }
  };
  globalThis.addEventListener("unload", () => runAll());
  globalThis.addEventListener("error", runAll);
  globalThis.addEventListener("unhandledrejection", runAll);
}
