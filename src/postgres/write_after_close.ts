/**
 * postgres.js batches a connection's writes in a `setImmediate`. When the server closes the connection just
 * before that fires (PostgreSQL restarting or crashing, a terminated backend), Deno's `node:net` fails the
 * write with "This socket has been ended by the other party" outside any query's promise, and the process
 * would die of an uncaught error. The connection is gone either way (the query on it fails, the pool
 * reconnects on the next one), so exactly that error, raised from postgres.js, is dropped; every other
 * uncaught error still ends the process.
 */

const MESSAGE = "This socket has been ended by the other party";

/** Whether `e` is postgres.js writing to a socket the server already closed. */
export function isWriteAfterServerClose(e: unknown): boolean {
  return e instanceof Error && e.message === MESSAGE &&
    /[/\\]postgres[/\\][^\n]*connection\.js/.test(e.stack ?? "");
}

let installed = false;

/** Install the process-wide filter once (idempotent). */
export function tolerateWritesAfterServerClose(): void {
  if (installed) return;
  installed = true;
  globalThis.addEventListener("error", (e) => {
    if (isWriteAfterServerClose(e.error)) e.preventDefault();
  });
  globalThis.addEventListener("unhandledrejection", (e) => {
    if (isWriteAfterServerClose(e.reason)) e.preventDefault();
  });
}
