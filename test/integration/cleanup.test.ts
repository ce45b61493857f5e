/**
 * A test module that dies of an uncaught error never reaches its `finally { cluster.stop() }`: the cluster
 * helper must still kill the postmasters the agents started and its etcd, and remove their directories (seen
 * once: a crashed module left two postmasters running for the rest of the suite).
 */
import assert from "node:assert/strict";
import { processGone as gone } from "../helpers/proc.ts";

Deno.test({
  name: "test cluster helper: an uncaught error in the test process leaves no postmaster and no directory",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const helper = new URL("../helpers/cluster.ts", import.meta.url).href;
    const script = `
      import { startCluster } from ${JSON.stringify(helper)};
      const c = await startCluster({ nodes: 1 });
      await c.waitHealthy(1);
      const etcdDir = c.etcd.dataDir.slice(0, c.etcd.dataDir.lastIndexOf("/"));
      console.log(JSON.stringify({ pid: c.nodes[0].postmasterPid(), dir: c.dir, etcdDir }));
      setTimeout(() => { throw new Error("boom"); }, 0);`;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--ext=ts", script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout).trim();
    assert.notEqual(out.code, 0, "the child died of its uncaught error");
    const { pid, dir, etcdDir } = JSON.parse(text.split("\n").at(-1)!) as {
      pid: number;
      dir: string;
      etcdDir: string;
    };
    try {
      assert.ok(pid > 0, `a postmaster was running: ${text}`);
      // SIGKILL is delivered at once; allow the kernel a moment.
      for (let i = 0; i < 50 && !gone(pid); i++) await new Promise((r) => setTimeout(r, 100));
      assert.ok(gone(pid), `postmaster ${pid} outlived the test process`);
      assert.throws(() => Deno.statSync(dir), Deno.errors.NotFound, `${dir} left behind`);
      assert.throws(() => Deno.statSync(etcdDir), Deno.errors.NotFound, `${etcdDir} left behind`);
    } finally {
      if (!gone(pid)) Deno.kill(pid, "SIGKILL");
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      await Deno.remove(etcdDir, { recursive: true }).catch(() => {});
    }
  },
});

/** Run a script in a child Deno; its exit code and stdout lines. */
async function child(script: string): Promise<{ code: number; lines: string[] }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", script],
    stdout: "piped",
    stderr: "null",
  }).output();
  return { code: out.code, lines: new TextDecoder().decode(out.stdout).trim().split("\n") };
}

Deno.test("process end hooks: run on an unhandled error, not on one an earlier listener handled", async () => {
  const mod = JSON.stringify(new URL("../helpers/process_end.ts", import.meta.url).href);
  const crashed = await child(`
    import { onProcessEnd } from ${mod};
    onProcessEnd(() => console.log("cleaned"));
    Promise.reject(new Error("boom"));`);
  assert.notEqual(crashed.code, 0);
  assert.deepEqual(crashed.lines, ["cleaned"]);
  const thrown = await child(`
    import { onProcessEnd } from ${mod};
    onProcessEnd(() => console.log("cleaned"));
    setTimeout(() => { throw new Error("boom"); }, 0);`);
  assert.notEqual(thrown.code, 0);
  assert.deepEqual(thrown.lines, ["cleaned"]);
  // As the postgres.js write-after-close filter does: handled first, so the process lives on; its normal
  // exit then runs the cleanup (once, at the end).
  const handled = await child(`
    import { onProcessEnd } from ${mod};
    globalThis.addEventListener("unhandledrejection", (e) => e.preventDefault());
    onProcessEnd(() => console.log("cleaned"));
    Promise.reject(new Error("tolerated"));
    await new Promise((r) => setTimeout(r, 50));
    console.log("alive");
    Deno.exit(0);`);
  assert.deepEqual([handled.code, handled.lines], [0, ["alive", "cleaned"]]);
});
