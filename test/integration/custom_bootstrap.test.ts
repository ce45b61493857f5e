/**
 * A custom bootstrap method that fails: the agent gives the initialize key back, leaves no half-made cluster
 * behind (no fallback to initdb) and exits non-zero, like a failed initdb.
 */
import assert from "node:assert/strict";
import { Etcd3 } from "etcd3";
import { startCluster } from "../helpers/cluster.ts";

Deno.test("a failing bootstrap.method releases initialize, sets the data directory aside and exits 1", async () => {
  const cluster = await startCluster({
    nodes: 1,
    node: () => ({
      extra: {
        bootstrap: { method: "restore", restore: { command: "/bin/false --pretend-restore" } },
      },
    }),
  });
  const etcd = new Etcd3({ hosts: `http://${cluster.etcd.endpoint}` });
  try {
    const node = cluster.nodes[0]!;
    const status = await Promise.race([
      node.proc!.status,
      new Promise<null>((r) => setTimeout(() => r(null), 60_000)),
    ]);
    assert.ok(status, `the agent did not exit\n${cluster.tail()}`);
    node.proc = null;
    assert.equal(status.code, 1);
    const logs = node.logs.join("\n");
    assert.match(logs, /Running custom bootstrap method "restore"/);
    assert.match(logs, /"plugin":"bootstrap.restore"/, "the section ran through the command plugin");
    assert.match(logs, /Failed to bootstrap cluster.*Custom bootstrap method \\?"restore\\?" failed/);
    assert.doesNotMatch(logs, /initdb/i);
    assert.equal(await etcd.get(`/service/${cluster.opts.scope}/initialize`).string(), null);
    // Set aside as <data_dir>_<timestamp> (Patroni's move_data_directory), not deleted.
    assert.throws(() => Deno.statSync(node.dataDir), Deno.errors.NotFound);
    const parent = node.dataDir.replace(/\/[^/]+$/, "");
    const base = node.dataDir.slice(parent.length + 1);
    const aside = [...Deno.readDirSync(parent)].map((e) => e.name)
      .filter((n) => new RegExp(`^${base}_\\d{4}-\\d{2}-\\d{2}-\\d{2}-\\d{2}-\\d{2}$`).test(n));
    assert.equal(aside.length, 1, `one set-aside data directory next to ${node.dataDir}`);
    assert.match(logs, /renamed data directory to /);
  } finally {
    etcd.close();
    await cluster.stop();
  }
});
