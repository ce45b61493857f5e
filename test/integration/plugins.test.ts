/**
 * Plugins and legacy callbacks in a real failover: on_role_change fires exactly once per role change on the
 * right member (a Worker plugin and a Patroni-style callback script both), while a hostile plugin's forbidden
 * attempts are denied and logged and its hanging before-hook does not stop the failover.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { startCluster } from "../helpers/cluster.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test(
  "role changes reach plugins and callbacks exactly once; hostile hooks do not stop failover",
  opts,
  async () => {
    const posts: { member: string; oldRole: string | null; newRole: string }[] = [];
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
      posts.push(await req.json());
      return new Response("ok");
    });
    const url = `http://127.0.0.1:${server.addr.port}/role`;
    const dir = await Deno.makeTempDir({ prefix: "pgwarden-plugins-" });
    await Deno.chmod(dir, 0o777);
    const secret = `${dir}/secret`;
    await Deno.writeTextFile(secret, "not for plugins");
    const script = `${dir}/on_role_change.sh`;
    // Patroni's callback arguments: action, role, scope. The node name comes from the script's own name.
    await Deno.writeTextFile(script, `#!/bin/sh\necho "$1 $2 $3" >> "$0.$NODE.log"\n`);
    await Deno.chmod(script, 0o755);
    const plugin = new URL("./fixtures/hostile.ts", import.meta.url).pathname;
    const cluster = await startCluster({
      nodes: 3,
      sequential: true,
      node: (i) => {
        // One wrapper per node so each appends to its own file.
        const wrapper = `${dir}/cb${i + 1}.sh`;
        Deno.writeTextFileSync(wrapper, `#!/bin/sh\nNODE=node${i + 1} exec ${script} "$@"\n`);
        Deno.chmodSync(wrapper, 0o755);
        return {
          extra: {
            plugins: [{ module: plugin, config: { url, secret_file: secret } }],
          },
          postgresqlExtra: { callbacks: { on_role_change: wrapper } },
        };
      },
    });
    try {
      const first = await cluster.waitHealthy(3);
      assertEquals(first.name, "node1");
      posts.length = 0;
      const logsBefore = Object.fromEntries(
        cluster.nodes.map((n) => [n.name, readLines(`${script}.${n.name}.log`)]),
      );

      first.killPostmaster();
      await first.killAgent();
      const next = await cluster.waitFor("a new primary", async () => {
        const l = await cluster.leader();
        return l && l.name !== first.name ? l : null;
      }, 60_000);
      await new Promise((r) => setTimeout(r, 3000));

      // The plugin saw exactly one promotion, on the new primary, and nothing else changed role.
      const promotions = posts.filter((p) => p.newRole === "primary");
      assertEquals(promotions, [{ member: next.name, oldRole: "replica", newRole: "primary" }]);
      // The legacy script likewise: one `on_role_change primary <scope>` line, on the new primary only.
      for (const n of cluster.nodes.filter((x) => x !== first)) {
        const added = readLines(`${script}.${n.name}.log`).slice(logsBefore[n.name]!.length);
        const expected = n === next ? [`on_role_change primary ${cluster.opts.scope}`] : [];
        assertEquals(added, expected, `callback lines on ${n.name}`);
      }
      // The hostile hooks were denied and logged with the plugin's name, and the hung before-hook was cut.
      const logs = next.logs.join("\n");
      assert(
        /hostile/.test(logs) && /(denied|NotCapable|permission)/i.test(logs),
        "denial logged with plugin name",
      );
      assert(
        /beforePromote/.test(logs) && /timeout|timed out/i.test(logs),
        "hung beforePromote cut at its timeout",
      );
    } finally {
      await cluster.stop();
      await server.shutdown();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
);

function readLines(path: string): string[] {
  try {
    return Deno.readTextFileSync(path).split("\n").filter(Boolean);
  } catch {
    return [];
  }
}
