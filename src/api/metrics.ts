/**
 * `GET /metrics`: Patroni's gauges (same names, `{scope, name}` labels) rendered from the agent view, then
 * pgwarden's own series kept in a prom-client registry. The agent, DCS wrapper and plugin host record into the
 * exported `metrics` object; rendering adds the `{scope, name}` labels so no global default labels are needed.
 */
import { Counter, Histogram, Registry } from "prom-client";
import type { AgentView } from "../agent/status.ts";
import { statusDocument } from "./status_doc.ts";
import { paddedVersion, PGWARDEN_VERSION } from "./version.ts";
import { configuredTags, failoverPriority } from "./view_facts.ts";

/** Patroni's `PostgresqlState` indexes (never renumbered upstream). */
export const POSTGRES_STATE_CODES: Record<string, number> = {
  "initializing new cluster": 0,
  "initdb failed": 1,
  "running custom bootstrap script": 2,
  "custom bootstrap failed": 3,
  "creating replica": 4,
  "running": 5,
  "starting": 6,
  "starting after custom bootstrap": 7,
  "start failed": 8,
  "restarting": 9,
  "restart failed": 10,
  "stopping": 11,
  "stopped": 12,
  "stop failed": 13,
  "crashed": 14,
};
const STATE_NAMES = [
  "initdb",
  "initdb_failed",
  "custom_bootstrap",
  "custom_bootstrap_failed",
  "creating_replica",
  "running",
  "starting",
  "bootstrap_starting",
  "start_failed",
  "restarting",
  "restart_failed",
  "stopping",
  "stopped",
  "stop_failed",
  "crashed",
];

/** pgwarden's own series. One instance per process; `/metrics` labels them with the agent's scope and name. */
export class PgwardenMetrics {
  readonly registry = new Registry();
  readonly haCycle = new Histogram({
    name: "pgwarden_ha_cycle_duration_seconds",
    help: "Duration of one HA cycle (observe, decide, act).",
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly dcsRequest = new Histogram({
    name: "pgwarden_dcs_request_duration_seconds",
    help: "Duration of DCS operations by operation and outcome.",
    labelNames: ["op", "outcome"],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly pluginHook = new Histogram({
    name: "pgwarden_plugin_hook_duration_seconds",
    help: "Duration of plugin hook calls.",
    labelNames: ["plugin", "hook"],
    buckets: [0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60],
    registers: [this.registry],
  });
  readonly pluginHookFailures = new Counter({
    name: "pgwarden_plugin_hook_failures_total",
    help: "Plugin hook calls that failed, timed out or vetoed.",
    labelNames: ["plugin", "hook", "reason"],
    registers: [this.registry],
  });

  observeHaCycle(seconds: number): void {
    this.haCycle.observe(seconds);
  }
  observeDcsRequest(op: string, seconds: number, outcome: "ok" | "error"): void {
    this.dcsRequest.observe({ op, outcome }, seconds);
  }
  observePluginHook(plugin: string, hook: string, seconds: number): void {
    this.pluginHook.observe({ plugin, hook }, seconds);
  }
  pluginHookFailed(plugin: string, hook: string, reason: "error" | "timeout" | "veto"): void {
    this.pluginHookFailures.inc({ plugin, hook, reason });
  }
  /** Run `fn` and record its duration as a DCS request (`error` when it throws). */
  async timeDcs<T>(op: string, fn: () => Promise<T>): Promise<T> {
    const start = performance.now();
    let outcome: "ok" | "error" = "error";
    try {
      const r = await fn();
      outcome = "ok";
      return r;
    } finally {
      this.observeDcsRequest(op, (performance.now() - start) / 1000, outcome);
    }
  }
  reset(): void {
    this.registry.resetMetrics();
  }
}

export const metrics = new PgwardenMetrics();

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function labelText(labels: Record<string, string | number>): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(String(v))}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
}

/** PostgreSQL timestamp text (`2024-06-01 10:00:00.123+00`) → epoch seconds; 0 when absent or unreadable. */
export function epochSeconds(ts: string | null | undefined): number {
  if (!ts) return 0;
  const iso = ts.trim().replace(" ", "T").replace(/([+-]\d{2})$/, "$1:00").replace(
    /([+-]\d{2})(\d{2})$/,
    "$1:$2",
  );
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? 0 : ms / 1000;
}

/** The Patroni-compatible gauges, one `# HELP`/`# TYPE` pair each, in Patroni's order. */
export function renderPatroniMetrics(view: AgentView, nowMs: number): string {
  const doc = statusDocument(view, nowMs);
  const labels = labelText({ scope: view.config.scope, name: view.config.name });
  const xlog = (doc.xlog ?? {}) as Record<string, unknown>;
  const num = (v: unknown) => (typeof v === "number" ? v : 0);
  const lines: string[] = [];
  const add = (
    name: string,
    type: "gauge" | "counter",
    help: string,
    value: number | string,
    extra?: string,
  ) => {
    lines.push(`# HELP ${name} ${help}`);
    if (extra) lines.push(extra);
    lines.push(`# TYPE ${name} ${type}`);
    lines.push(`${name}${labels} ${value}`);
  };
  const b = (v: unknown) => (v ? 1 : 0);
  add("patroni_version", "gauge", "Patroni semver without periods.", paddedVersion(PGWARDEN_VERSION));
  add(
    "patroni_postgres_running",
    "gauge",
    "Value is 1 if Postgres is running, 0 otherwise.",
    b(doc.state === "running"),
  );
  add(
    "patroni_postmaster_start_time",
    "gauge",
    "Epoch seconds since Postgres started.",
    epochSeconds(doc.postmaster_start_time),
  );
  add(
    "patroni_primary",
    "gauge",
    "Value is 1 if this node is the leader, 0 otherwise.",
    b(doc.role === "primary"),
  );
  add(
    "patroni_xlog_location",
    "counter",
    "Current location of the Postgres transaction log, 0 if this node is not the leader.",
    num(xlog.location),
  );
  add(
    "patroni_standby_leader",
    "gauge",
    "Value is 1 if this node is the standby_leader, 0 otherwise.",
    b(doc.role === "standby_leader"),
  );
  add(
    "patroni_replica",
    "gauge",
    "Value is 1 if this node is a replica, 0 otherwise.",
    b(doc.role === "replica"),
  );
  add(
    "patroni_sync_standby",
    "gauge",
    "Value is 1 if this node is a sync standby, 0 otherwise.",
    b(doc.sync_standby),
  );
  add(
    "patroni_quorum_standby",
    "gauge",
    "Value is 1 if this node is a quorum standby, 0 otherwise.",
    b(doc.quorum_standby),
  );
  add(
    "patroni_xlog_received_location",
    "counter",
    "Current location of the received Postgres transaction log, 0 if this node is not a replica.",
    num(xlog.received_location),
  );
  add(
    "patroni_xlog_replayed_location",
    "counter",
    "Current location of the replayed Postgres transaction log, 0 if this node is not a replica.",
    num(xlog.replayed_location),
  );
  add(
    "patroni_xlog_replayed_timestamp",
    "gauge",
    "Current timestamp of the replayed Postgres transaction log, 0 if null.",
    epochSeconds(xlog.replayed_timestamp as string | null | undefined),
  );
  add(
    "patroni_xlog_paused",
    "gauge",
    "Value is 1 if the Postgres xlog is paused, 0 otherwise.",
    b(xlog.paused === true),
  );
  if ((doc.server_version ?? 0) >= 90600) {
    add(
      "patroni_postgres_streaming",
      "gauge",
      "Value is 1 if Postgres is streaming, 0 otherwise.",
      b(doc.replication_state === "streaming"),
    );
    add(
      "patroni_postgres_in_archive_recovery",
      "gauge",
      "Value is 1 if Postgres is replicating from archive, 0 otherwise.",
      b(doc.replication_state === "in archive recovery"),
    );
  }
  add(
    "patroni_postgres_server_version",
    "gauge",
    "Version of Postgres (if running), 0 otherwise.",
    doc.server_version ?? 0,
  );
  add(
    "patroni_cluster_unlocked",
    "gauge",
    "Value is 1 if the cluster is unlocked, 0 if locked.",
    b(doc.cluster_unlocked),
  );
  add(
    "patroni_failsafe_mode_is_active",
    "gauge",
    "Value is 1 if failsafe mode is active, 0 if inactive.",
    b(doc.failsafe_mode_is_active),
  );
  add(
    "patroni_failsafe_mode_enabled",
    "gauge",
    "Value is 1 if failsafe_mode is enabled, 0 otherwise.",
    b(view.dynamic.failsafeMode),
  );
  const failsafe = view.cluster?.failsafe;
  add(
    "patroni_failsafe_member",
    "gauge",
    "Value is 1 if this node is a member of failsafe, 0 otherwise.",
    b(failsafe && typeof failsafe === "object" && view.config.name in failsafe),
  );
  add(
    "patroni_postgres_timeline",
    "gauge",
    "Postgres timeline of this node (if running), 0 otherwise.",
    doc.timeline ?? 0,
  );
  add(
    "patroni_dcs_last_seen",
    "gauge",
    "Epoch timestamp when DCS was last contacted successfully by Patroni.",
    doc.dcs_last_seen,
  );
  add(
    "patroni_pending_restart",
    "gauge",
    "Value is 1 if the node needs a restart, 0 otherwise.",
    b(doc.pending_restart),
  );
  add("patroni_is_paused", "gauge", "Value is 1 if auto failover is disabled, 0 otherwise.", b(doc.pause));
  add(
    "patroni_postgres_state",
    "gauge",
    "Numeric representation of Postgres state.",
    POSTGRES_STATE_CODES[doc.state] ?? -1,
    `# Values: ${STATE_NAMES.map((n, i) => `${i}=${n}`).join(", ")}`,
  );
  add(
    "patroni_failover_priority",
    "gauge",
    "Failover priority of this node.",
    failoverPriority(configuredTags(view.config.tags as Record<string, unknown>)),
  );
  return lines.join("\n") + "\n";
}

function formatValue(v: number): string {
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return Number.isNaN(v) ? "NaN" : String(v);
}

/** pgwarden's series (`pgwarden_info` plus the registry), each sample labelled with scope and name. */
export async function renderOwnMetrics(
  m: PgwardenMetrics,
  ids: { scope: string; name: string },
): Promise<string> {
  const lines = [
    "# HELP pgwarden_info pgwarden build information.",
    "# TYPE pgwarden_info gauge",
    `pgwarden_info${labelText({ ...ids, version: PGWARDEN_VERSION })} 1`,
  ];
  for (const metric of await m.registry.getMetricsAsJSON()) {
    lines.push(`# HELP ${metric.name} ${metric.help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`);
    lines.push(`# TYPE ${metric.name} ${metric.type}`);
    for (const v of metric.values) {
      const sampleLabels: Record<string, string | number> = { ...ids };
      for (const [k, val] of Object.entries(v.labels)) {
        if (val !== undefined) {
          sampleLabels[k] = k === "le" && typeof val === "number" ? formatValue(val) : val;
        }
      }
      const sampleName = (v as { metricName?: string }).metricName ?? metric.name;
      lines.push(`${sampleName}${labelText(sampleLabels)} ${formatValue(v.value)}`);
    }
  }
  return lines.join("\n") + "\n";
}

/** The whole `/metrics` body. */
export async function renderMetrics(
  view: AgentView,
  nowMs: number,
  m: PgwardenMetrics = metrics,
): Promise<string> {
  const ids = { scope: view.config.scope, name: view.config.name };
  return renderPatroniMetrics(view, nowMs) + await renderOwnMetrics(m, ids);
}
