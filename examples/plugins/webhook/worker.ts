/** Worker of the webhook example: runs with net access to the webhook only. */
import { serveHooks } from "../../../mod.ts";
import type { WebhookConfig } from "./mod.ts";

serveHooks<WebhookConfig>({
  async onRoleChange(ctx) {
    const res = await fetch(ctx.config.url, {
      method: "POST",
      headers: { "content-type": "application/json", ...ctx.config.headers },
      body: JSON.stringify({
        event: "role_change",
        scope: ctx.scope,
        member: ctx.name,
        oldRole: ctx.oldRole,
        newRole: ctx.newRole,
        timeline: ctx.timeline,
        lsn: ctx.lsn,
        reason: ctx.reason,
      }),
      signal: ctx.signal,
    });
    await res.body?.cancel();
    // A failure is reported to the host (logged and counted); the HA loop is not affected.
    if (!res.ok) throw new Error(`webhook answered ${res.status}`);
    ctx.logger.info("posted role change", { newRole: ctx.newRole, status: res.status });
  },
});
