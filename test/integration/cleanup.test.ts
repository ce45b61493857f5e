/**
 * A test module that dies of an uncaught error never reaches its `finally { cluster.stop() }`: the helper's
 * helper must still kill the postmasters the agents started and its etcd, and remove their directories (seen
 * once: a crashed module left two postmasters running for the rest of the suite).
 */
import assert from "node:assert/strict";

/** Whether `pid` is gone (a zombie waiting for PID 1 to reap it counts as gone). */
function gone(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return true;
  }
}

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
