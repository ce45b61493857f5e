/**
 * Observe-only mode: the full loop runs against the real DCS and PostgreSQL, logs and publishes (REST
 * /explain) what it would do, and changes nothing.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { startCluster } from "../helpers/cluster.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test(
  "an observe-only agent with an empty data directory decides to clone but changes nothing",
  opts,
  async () => {
    const cluster = await startCluster({ nodes: 3, sequential: true });
    const observer = cluster.nodes[2]!;
    try {
      // Only node1 and node2 run normally; node3 starts observe-only.
      await observer.stopAgent();
      await Deno.remove(observer.dataDir, { recursive: true }).catch(() => {});
      await cluster.waitFor("node3 key to expire", async () => {
        const r = await cluster.nodes[0]!.api("/cluster");
        return !(r.body as { members: { name: string }[] }).members.some((m) => m.name === "node3");
      }, 60_000);
      observer.start(["--observe-only"]);
      const explain = await cluster.waitFor("node3 to publish its decision", async () => {
        const r = await observer.api("/explain");
        return r.status === 200 ? r.body as { code: string; message: string } : null;
      }, 60_000);
      assertEquals(explain.code, "clone");
      assert(
        observer.logs.some((l) => l.includes("[observe-only] trying to bootstrap from")),
        observer.logs.join("\n"),
      );
      // Several more cycles: still nothing changed.
      await new Promise((r) => setTimeout(r, 4000));
      let entries: string[] = [];
      try {
        entries = [...Deno.readDirSync(observer.dataDir)].map((e) => e.name);
      } catch { /* never created: fine */ }
      assertEquals(entries.filter((e) => e !== "." && e !== ".."), []);
      const c = await cluster.nodes[0]!.api("/cluster");
      const names = (c.body as { members: { name: string }[] }).members.map((m) => m.name).sort();
      assertEquals(names, ["node1", "node2"]);
    } finally {
      await cluster.stop();
    }
  },
);
