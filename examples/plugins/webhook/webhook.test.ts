import assert from "node:assert/strict";
import { PluginHost } from "../../../src/plugins/host.ts";
import { baseContext, collectingLogger } from "../../../test/plugins/fixtures/context.ts";
import { webhook } from "./mod.ts";

Deno.test("the webhook plugin posts role changes, and only to its own URL", async () => {
  const received: unknown[] = [];
  let status = 204;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    received.push({ auth: req.headers.get("authorization"), body: await req.json() });
    return new Response(null, { status });
  });
  const logger = collectingLogger();
  const url = `http://127.0.0.1:${server.addr.port}/hook`;
  const host = new PluginHost([webhook({ url, headers: { authorization: "Bearer t" } })], { logger });
  try {
    assert.deepEqual(host.permissionsOf("webhook"), { net: [`127.0.0.1:${server.addr.port}`] });
    const ctx = {
      ...baseContext({ timeline: 4, lsn: 12345, reason: "manual failover" }),
      oldRole: "replica" as const,
      newRole: "primary" as const,
    };
    await host.emit("onRoleChange", ctx);
    assert.deepEqual(received, [{
      auth: "Bearer t",
      body: {
        event: "role_change",
        scope: "demo",
        member: "node1",
        oldRole: "replica",
        newRole: "primary",
        timeline: 4,
        lsn: 12345,
        reason: "manual failover",
      },
    }]);
    status = 500;
    const [r] = await host.emit("onRoleChange", ctx);
    assert.equal(r?.outcome.ok, false);
    assert.ok(logger.lines.some((l) => l.fields.plugin === "webhook" && /hook failed/.test(l.msg)));
  } finally {
    await host.close();
    await server.shutdown();
  }
});
