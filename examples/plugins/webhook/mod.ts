/**
 * Example plugin: POST every role change to a webhook URL. Network access: that URL's host and port only.
 *
 * ```ts ignore
 * plugins: [webhook({ url: "https://hooks.example.com/pg", headers: { authorization: "Bearer …" } })]
 * ```
 */
import { z } from "zod";
import { definePlugin, pluginFactory } from "../../../mod.ts";

export const WebhookConfigSchema = z.strictObject({
  url: z.url(),
  headers: z.record(z.string(), z.string()).default({}),
});
export type WebhookConfig = z.output<typeof WebhookConfigSchema>;

export const plugin = definePlugin({
  name: "webhook",
  version: "1.0.0",
  configSchema: WebhookConfigSchema,
  // Only the webhook's own host:port (default port made explicit so the grant is exact).
  permissions: (c) => {
    const u = new URL(c.url);
    return { net: [`${u.hostname}:${u.port || (u.protocol === "https:" ? "443" : "80")}`] };
  },
  module: new URL("./worker.ts", import.meta.url),
  hooks: ["onRoleChange"],
  timeouts: { onRoleChange: 10_000 },
});
export default plugin;

export const webhook = pluginFactory(plugin);
