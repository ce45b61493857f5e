/**
 * The postmaster outlives the agent: PostgreSQL started by a process that is then SIGKILLed keeps running,
 * and a new manager adopts it. Also covers stop() and removeDataDirectory().
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { PostgresManager } from "../../src/postgres/manager.ts";
import { cleanup, makeNodeConfig, makeTestRoot } from "../helpers/pg.ts";

async function readFirstLine(stream: ReadableStream<Uint8Array>): Promise<string> {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  try {
    while (!buf.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return buf.split("\n")[0]!;
}

Deno.test("PostgreSQL started by a SIGKILLed agent keeps running and is adopted", async () => {
  const root = await makeTestRoot();
  const c = makeNodeConfig(root, "node-c");
  const m = new PostgresManager(c);
  let child: Deno.ChildProcess | null = null;
  try {
    await m.bootstrap();
    assert(await m.stop("fast", 30));
    const stopped = await m.observe();
    assertEquals([stopped.running, stopped.accepting, stopped.controlState], [false, false, "shut down"]);

    child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", new URL("./_start_child.ts", import.meta.url).pathname],
      env: { PGWARDEN_TEST_CONFIG: JSON.stringify(c) },
      stdout: "piped",
      stderr: "inherit",
      // Its own process group, so the kill below hits everything the "agent" started that did not detach.
      detached: true,
    }).spawn();
    const report = JSON.parse(await readFirstLine(child.stdout)) as {
      ok: boolean;
      pid: number;
      accepting: boolean;
    };
    assertEquals([report.ok, report.accepting], [true, true]);
    assert(report.pid > 0);

    Deno.kill(-child.pid, "SIGKILL");
    const status = await child.status;
    child = null;
    assertEquals(status.signal, "SIGKILL");

    const s = await m.observe();
    assertEquals([s.running, s.accepting, s.pid, s.inRecovery], [true, true, report.pid, false]);
    // A restarted agent does not start a second postmaster.
    assert(await m.start({ role: "primary", timeoutS: 10 }));
    assertEquals((await m.observe()).pid, report.pid);

    await m.removeDataDirectory();
    const gone = await m.observe();
    assertEquals([gone.dataDirEmpty, gone.running], [true, false]);
    assertEquals([...Deno.readDirSync(c.postgresql.dataDir)], []);
  } finally {
    if (child) {
      child.kill("SIGKILL");
      await child.status;
    }
    await m.close();
    await cleanup(root, [c]);
  }
});
