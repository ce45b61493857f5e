/** `version`: this tool's version, and with a cluster the agent and PostgreSQL version of each member. */
import type { Command } from "commander";
import { PGWARDEN_VERSION } from "../../api/version.ts";
import { ctlAction, type CtlRuntime } from "../context.ts";
import { membersWithRole } from "../members.ts";
import { groupOption } from "../options.ts";

/** `150004` → `15.4`, `90624` → `9.6.24` (patronictl `format_pg_version`). */
export function formatPgVersion(v: number): string {
  return v < 100000
    ? `${Math.floor(v / 10000)}.${Math.floor(v / 100) % 100}.${v % 100}`
    : `${Math.floor(v / 10000)}.${v % 100}`;
}

export function register(program: Command, rt: CtlRuntime): void {
  const cmd = program.command("version")
    .description("Show the version of this tool, or of the members of a cluster")
    .argument("[cluster_name]", "cluster whose members to ask")
    .argument("[member_names...]", "only these members");
  groupOption(cmd);
  cmd.action(ctlAction(rt, async (ctx, name: string | undefined, names: string[], o: { group?: number }) => {
    ctx.out(`pgwarden ctl version ${PGWARDEN_VERSION}`);
    if (!name) return;
    ctx.out("");
    const s = await ctx.cluster(name, o.group);
    for (const m of membersWithRole(s, "any", o.group, ctx.citus)) {
      if (!m.data.api_url || (names.length && !names.includes(m.name))) continue;
      try {
        const { doc } = await ctx.rest.getJson(m);
        const agent = (doc.patroni as { version?: string } | undefined)?.version ?? "unknown";
        const pg = typeof doc.server_version === "number"
          ? ` PostgreSQL ${formatPgVersion(doc.server_version)}`
          : "";
        ctx.out(`${m.name}: pgwarden ${agent}${pg}`);
      } catch (e) {
        ctx.out(`${m.name}: failed to get version: ${(e as Error).message}`);
      }
    }
  }));
}
