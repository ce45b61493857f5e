/**
 * `why` (pgwarden addition): every member's last HA decision from `GET /explain`, in plain words — the reason
 * code, the agent's message, what it did, and for each candidate it weighed whether it could take over and,
 * if not, why it was ruled out.
 */
import type { Command } from "commander";
import { clusterAsJson } from "../../api/cluster.ts";
import type { ExplainJson } from "../../api/explain.ts";
import { formatLsn } from "../../api/units.ts";
import type { CandidateVerdict, RuleOut } from "../../ha/types.ts";
import { ctlAction, type CtlRuntime } from "../context.ts";
import { dynamicOf, membersWithRole } from "../members.ts";
import { groupOption } from "../options.ts";
import { RestError } from "../rest.ts";

/** One member's answer: the decision, or why there is none. */
export interface WhyEntry {
  name: string;
  /** Role in the cluster listing (Leader, Replica, Sync Standby...). */
  role?: string;
  explain?: ExplainJson;
  /** Text of a non-200 answer or a transport failure. */
  error?: string;
}

const RULE_WORDS: Record<RuleOut, string> = {
  unreachable: "did not answer",
  nofailover: "is tagged nofailover",
  lag: "lags too far behind the leader",
  timeline: "is on an older timeline",
  behind: "is behind another member",
  primary_alive: "a primary is still running",
  not_synchronous: "is not a synchronous standby",
  watchdog: "has no working watchdog",
  priority: "has a lower failover priority",
  paused: "the cluster is paused",
  vetoed: "its promotion was vetoed",
};

/** A candidate verdict as a sentence. */
export function describeCandidate(c: CandidateVerdict): string {
  const where = c.lsn !== undefined ? ` (WAL position ${formatLsn(c.lsn)})` : "";
  const detail = c.detail && c.detail !== c.rule ? `: ${c.detail}` : "";
  if (c.eligible && !c.rule) return `${c.name}: could take over${where}${detail}`;
  if (c.eligible) return `${c.name}: could take over, but ${RULE_WORDS[c.rule!] ?? c.rule}${where}${detail}`;
  const why = c.rule ? RULE_WORDS[c.rule] ?? c.rule : "not eligible";
  return `${c.name}: ruled out, ${why}${where}${detail}`;
}

/** The report of all members. */
export function renderWhy(entries: WhyEntry[]): string[] {
  const out: string[] = [];
  for (const e of entries) {
    const head = e.role ? `${e.name} (${e.role})` : e.name;
    if (!e.explain) {
      out.push(`${head}: no decision available: ${e.error ?? "unknown"}`);
      continue;
    }
    const x = e.explain;
    out.push(`${head}: ${x.message}`);
    out.push(`  reason: ${x.code}; action: ${x.action}; decided at ${x.at}`);
    if (x.candidates?.length) {
      out.push("  candidates considered:");
      for (const c of x.candidates) out.push(`    ${describeCandidate(c)}`);
    }
  }
  return out;
}

const roleTitle = (r: string) => r.replace(/_/g, " ").replace(/\b\w/g, (c) => c.toUpperCase());

function isExplain(v: unknown): v is ExplainJson {
  const o = v as Record<string, unknown>;
  return !!o && typeof o === "object" && typeof o.code === "string" && typeof o.message === "string";
}

export function register(program: Command, rt: CtlRuntime): void {
  const cmd = program.command("why")
    .description("Explain each member's last HA decision and why candidates were ruled out")
    .argument("[cluster_name]", "cluster (default: the configured scope)")
    .argument("[member_names...]", "only these members");
  groupOption(cmd);
  cmd.action(ctlAction(rt, async (ctx, name: string | undefined, names: string[], o: { group?: number }) => {
    const cluster = ctx.clusterName(name);
    const s = await ctx.cluster(cluster, o.group);
    const roles = new Map(clusterAsJson(s, dynamicOf(s)).members.map((m) => [m.name, roleTitle(m.role)]));
    const members = membersWithRole(s, "any", o.group, ctx.citus).filter((m) =>
      !names.length || names.includes(m.name)
    );
    if (!members.length) {
      ctx.out(
        names.length
          ? `None of ${names.join(", ")} is a member of cluster ${cluster}`
          : `${cluster} cluster doesn't have any members`,
      );
      return 1;
    }
    const entries = await Promise.all(members.map(async (m): Promise<WhyEntry> => {
      const role = roles.get(m.name);
      const base = { name: m.name, ...(role ? { role } : {}) };
      try {
        const r = await ctx.rest.request(m, "GET", "explain");
        let body: unknown;
        try {
          body = JSON.parse(r.body);
        } catch {
          body = null;
        }
        if (r.status === 200 && isExplain(body)) return { ...base, explain: body };
        const msg = (body as { message?: unknown } | null)?.message;
        return {
          ...base,
          error: `HTTP ${r.status}${
            typeof msg === "string" ? `, ${msg}` : r.body ? `, ${r.body.slice(0, 200)}` : ""
          }`,
        };
      } catch (e) {
        if (!(e instanceof RestError)) throw e;
        return { ...base, error: e.message };
      }
    }));
    for (const l of renderWhy(entries)) ctx.out(l);
    return entries.some((e) => !e.explain) ? 1 : 0;
  }));
}
