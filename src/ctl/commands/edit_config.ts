/**
 * `edit-config`: change the dynamic configuration in the DCS. Changes come from `--set`/`--pg`, `--apply` or
 * `--replace` files, or `$EDITOR`; the result is validated like the agents validate it, shown as a unified
 * diff, and written with compare-and-set after confirmation. `--dry-run` asks an agent for the plan (what
 * changes, which members reload or restart) via `PATCH /config?dry_run=1` and writes nothing.
 */
import type { Command } from "commander";
import { type ConfigPlan, configPlan, validateDynamic } from "../../api/config_routes.ts";
import { patroniJson } from "../../dcs/json.ts";
import type { ClusterSnapshot } from "../../dcs/types.ts";
import {
  applyDocument,
  applySetPairs,
  mergePatch,
  parseConfigDocument,
  parseSetPairs,
  sameDocument,
} from "../config_edit.ts";
import { ctlAction, type CtlContext, CtlError, type CtlRuntime } from "../context.ts";
import { colorDiff, unifiedDiff } from "../diff.ts";
import { confirm, warn } from "../io.ts";
import { membersLeaderFirst } from "../members.ts";
import { pyJson, toYaml } from "../output.ts";
import { forceOption, groupOption } from "../options.ts";
import { RestError } from "../rest.ts";

type Json = Record<string, unknown>;

export interface EditOptions {
  group?: number;
  quiet?: boolean;
  set?: string[];
  pg?: string[];
  apply?: string;
  replace?: string;
  force?: boolean;
  dryRun?: boolean;
}

const show = (v: unknown) => (v === undefined ? "(unset)" : pyJson(v));

/** The plan in plain lines: each changed setting, the restart-only parameters, each member's action. */
export function renderPlan(plan: ConfigPlan): string[] {
  if (!plan.diff.length) return ["No changes."];
  const out = ["Changes:"];
  for (const c of plan.diff) out.push(`  ${c.path}: ${show(c.old)} -> ${show(c.new)}`);
  if (plan.restart_parameters.length) {
    out.push(`Needs a PostgreSQL restart to take effect: ${plan.restart_parameters.join(", ")}`);
  }
  if (plan.members.length) {
    out.push("Members:");
    const w = Math.max(...plan.members.map((m) => m.name.length));
    for (const m of plan.members) out.push(`  ${m.name.padEnd(w)}  ${m.action}`);
  }
  return out;
}

async function readSource(ctx: CtlContext, file: string): Promise<string> {
  if (file === "-") return await ctx.io.readAll();
  try {
    return await Deno.readTextFile(file);
  } catch (e) {
    throw new CtlError(`cannot read ${file}: ${(e as Error).message}`);
  }
}

async function runEditor(ctx: CtlContext, cluster: string, before: string): Promise<Json> {
  const editor = ctx.rt.env.EDITOR || ctx.rt.which("editor") || ctx.rt.which("vi");
  if (!editor) throw new CtlError("EDITOR environment variable is not set. editor or vi are not available");
  const file = await Deno.makeTempFile({ prefix: `${cluster}-config-`, suffix: ".yaml" });
  try {
    await Deno.writeTextFile(file, before);
    const code = await ctx.rt.runEditor(editor, file);
    if (code !== 0) throw new CtlError(`Editor exited with return code ${code}`);
    return parseConfigDocument(await Deno.readTextFile(file), "the edited configuration");
  } finally {
    await Deno.remove(file).catch(() => {});
  }
}

/** Ask the agents for the plan; compute it locally when no API answers. */
async function dryRunPlan(
  ctx: CtlContext,
  s: ClusterSnapshot,
  current: Json,
  after: Json,
): Promise<ConfigPlan> {
  const patch = mergePatch(current, after);
  for (const m of membersLeaderFirst(s)) {
    try {
      const r = await ctx.rest.request(m, "PATCH", "config?dry_run=1", patch);
      if (r.status === 200) {
        const plan = JSON.parse(r.body) as ConfigPlan;
        if (Array.isArray(plan.diff) && Array.isArray(plan.members)) return plan;
        throw new CtlError(
          `${m.name} answered the dry run with something that is not a plan: ${r.body.slice(0, 200)}`,
        );
      }
      throw new CtlError(`dry run refused by ${m.name}: HTTP ${r.status}, ${r.body}`);
    } catch (e) {
      if (!(e instanceof RestError)) throw e;
      warn(ctx.io, `${e.message}; member ${m.name} is not accessible`);
    }
  }
  warn(ctx.io, "No member's REST API answered; the plan below was computed locally");
  return configPlan(current, after, s.members.map((m) => m.name));
}

export async function editConfig(
  ctx: CtlContext,
  clusterArg: string | undefined,
  o: EditOptions,
): Promise<number> {
  const cluster = ctx.clusterName(clusterArg);
  const group = ctx.group(o.group, true);
  const s = await ctx.cluster(cluster, group);
  const current: Json = s.config?.value ?? {};
  const before = toYaml(current);
  let after: Json | null = null;
  if (o.replace) after = applyDocument({}, parseConfigDocument(await readSource(ctx, o.replace), o.replace));
  if (o.apply) {
    after = applyDocument(after ?? current, parseConfigDocument(await readSource(ctx, o.apply), o.apply));
  }
  if (o.set?.length || o.pg?.length) {
    after = applySetPairs(after ?? current, parseSetPairs(o.set ?? [], o.pg ?? []));
  }
  if (after === null) after = await runEditor(ctx, cluster, before);

  if (sameDocument(current, after)) {
    if (!o.quiet) ctx.out("Not changed");
    return 0;
  }
  const invalid = validateDynamic(after);
  if (invalid) throw new CtlError(invalid);
  if (!o.quiet) {
    const diff = unifiedDiff(before, toYaml(after));
    for (const l of ctx.io.stdoutIsTty ? colorDiff(diff) : diff) ctx.out(l);
  }
  if (o.dryRun) {
    for (const l of renderPlan(await dryRunPlan(ctx, s, current, after))) ctx.out(l);
    return 0;
  }
  if ((o.apply === "-" || o.replace === "-") && !o.force) {
    ctx.out("Use --force option to apply changes");
    return 0;
  }
  if (o.force || (await confirm(ctx.io, "Apply these changes?"))) {
    const dcs = await ctx.dcs(cluster, group);
    if (!(await dcs.setConfigValue(patroniJson(after), s.config?.version))) {
      throw new CtlError("Config modification aborted due to concurrent changes");
    }
    ctx.out("Configuration changed");
  }
  return 0;
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

export function register(program: Command, rt: CtlRuntime): void {
  const cmd = program.command("edit-config")
    .description("Edit the cluster configuration stored in the DCS")
    .argument("[cluster_name]", "cluster (default: the configured scope)");
  groupOption(cmd);
  cmd.option("-q, --quiet", "do not show changes")
    .option(
      "-s, --set <path=value>",
      "set a value by dotted path (YAML value, null deletes); repeatable",
      collect,
    )
    .option(
      "-p, --pg <name=value>",
      "set a PostgreSQL parameter (postgresql.parameters.<name>); repeatable",
      collect,
    )
    .option("--apply <file>", "merge a YAML file into the configuration (- for stdin)")
    .option("--replace <file>", "replace the configuration with a YAML file (- for stdin)")
    .option("--dry-run", "show what would change and which members would reload or restart; write nothing");
  forceOption(cmd);
  cmd.action(
    ctlAction(rt, (ctx, cluster: string | undefined, o: EditOptions) => editConfig(ctx, cluster, o)),
  );
}
