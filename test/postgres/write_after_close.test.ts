/**
 * The process-wide filter for postgres.js writing to a socket the server already closed (seen in CI: an
 * uncaught "This socket has been ended by the other party" from connection.js's nextWrite while a replica's
 * PostgreSQL restarted). Run in a child process: the filter must keep it alive through exactly that error,
 * thrown or rejected, and let any other uncaught error end it.
 */
import assert from "node:assert/strict";
import { isWriteAfterServerClose } from "../../src/postgres/write_after_close.ts";

const FRAME =
  "    at Immediate.nextWrite (file:///root/.cache/deno/npm/registry.npmjs.org/postgres/3.4.9/src/connection.js:255:22)";
const MESSAGE = "This socket has been ended by the other party";

function fromPostgresJs(message = MESSAGE): Error {
  const e = new Error(message);
  e.stack =
    `Error: ${message}\n    at Socket._writeAfterFIN [as write] (ext:deno_node/net.ts:1:10175)\n${FRAME}`;
  return e;
}

Deno.test("write after server close: only postgres.js's error is recognised", () => {
  assert.equal(isWriteAfterServerClose(fromPostgresJs()), true);
  assert.equal(isWriteAfterServerClose(new Error(MESSAGE)), false, "same text from elsewhere");
  assert.equal(isWriteAfterServerClose(fromPostgresJs("boom")), false, "other error from postgres.js");
  assert.equal(isWriteAfterServerClose(MESSAGE), false);
});

async function child(body: string): Promise<{ code: number; out: string }> {
  const mod = new URL("../../src/postgres/write_after_close.ts", import.meta.url).href;
  const script = `
    import { tolerateWritesAfterServerClose } from ${JSON.stringify(mod)};
    tolerateWritesAfterServerClose();
    const FRAME = ${JSON.stringify(FRAME)};
    const mk = (m) => { const e = new Error(m); e.stack = "Error: " + m + "\\n" + FRAME; return e; };
    ${body}
    await new Promise((r) => setTimeout(r, 50));
    console.log("survived");`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, out: new TextDecoder().decode(out.stdout) };
}

Deno.test("write after server close: the process survives it, thrown or rejected, and dies of anything else", async () => {
  const thrown = await child(`setTimeout(() => { throw mk(${JSON.stringify(MESSAGE)}); }, 0);`);
  assert.deepEqual([thrown.code, thrown.out.trim()], [0, "survived"]);
  const rejected = await child(`Promise.reject(mk(${JSON.stringify(MESSAGE)}));`);
  assert.deepEqual([rejected.code, rejected.out.trim()], [0, "survived"]);
  const other = await child(`setTimeout(() => { throw mk("some other failure"); }, 0);`);
  assert.notEqual(other.code, 0);
  assert.equal(other.out.trim(), "");
  const otherRejected = await child(`Promise.reject(new Error(${JSON.stringify(MESSAGE)}));`);
  assert.notEqual(otherRejected.code, 0, "the same text without postgres.js in the stack");
});
