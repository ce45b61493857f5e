/** Feeds plugin hook outcomes into the agent's `pgwarden_plugin_hook_*` series (src/api/metrics.ts). */
import { metrics as agentMetrics, type PgwardenMetrics } from "../api/metrics.ts";
import type { CallRecord } from "./host.ts";

export function recordHookMetrics(r: CallRecord, m: PgwardenMetrics = agentMetrics): void {
  m.observePluginHook(r.plugin, r.hook, r.ms / 1000);
  if (r.outcome === "ok") return;
  // The metrics module knows three reasons; permission denials, crashes and shutdown count as errors there
  // (the host's own counters keep them apart).
  m.pluginHookFailed(
    r.plugin,
    r.hook,
    r.outcome === "vetoed" ? "veto" : r.outcome === "timeout" ? "timeout" : "error",
  );
}
