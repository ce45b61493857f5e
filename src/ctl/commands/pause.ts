/**
 * `pause` / `resume`: switch maintenance mode with `PATCH /config {"pause": true|null}` through the first API
 * that answers (leader first). When none answers, the flag is written straight into the DCS config key with
 * compare-and-set. `--wait` polls the DCS until every member publishes the new state.
 */
import type { Command } from "commander";
import { patchConfig } from "../../api/config_routes.ts";
import { patroniJson } from "../../dcs/json.ts";
import type { ClusterSnapshot } from "../../dcs/types.ts";
import { ctlAction, type CtlContext, CtlError, type CtlRuntime, Progress } from "../context.ts";
import { warn } from "../io.ts";
import { dynamicOf, isPaused, membersLeaderFirst } from "../members.ts";
import { groupOption } from "../options.ts";
import { RestError } from "../rest.ts";

const word = (paused: boolean) => (paused ? "paused" : "resumed");

/**
 * Poll until every member that had an API when the request was sent reports `paused`. Members whose key did not
 * change during the wait are reported as silent rather than as refusing (they may be down).
 */
export async function waitForPause(
  ctx: CtlContext,
  cluster: string,
  group: number | undefined,
  paused: boolean,
  old: ClusterSnapshot,
): Promise<number> {
  ctx.out(`'${paused ? "pause" : "resume"}' request sent, waiting until it is recognized by all nodes`);
  const before = new Map(old.members.filter((m) => m.data.api_url).map((m) => [m.name, m.version]));
  const limitS = 2 * dynamicOf(old).loopWait + 5;
  const deadline = ctx.rt.clock.now() + limitS * 1000;
  const progress = new Progress(ctx.io);
  let s = old;
  for (;;) {
    s = await ctx.cluster(cluster, group);
    const pending = s.members.filter((m) => before.has(m.name) && (m.data.pause === true) !== paused);
    if (!pending.length) break;
    if (ctx.rt.clock.now() >= deadline) {
      progress.done();
      const silent = pending.filter((m) => before.get(m.name) === m.version).map((m) => m.name);
      const refusing = pending.filter((m) => before.get(m.name) !== m.version).map((m) => m.name);
      if (silent.length) {
        warn(ctx.io, `${silent.join(", ")} did not update their member key in ${limitS} seconds (down?)`);
      }
      if (refusing.length) {
        ctx.out(
          `Failed: ${refusing.join(", ")} did not recognize the ${
            paused ? "pause" : "resume"
          } within ${limitS} seconds`,
        );
        return 1;
      }
      break;
    }
    await ctx.rt.clock.sleep(1000);
    progress.tick();
  }
  progress.done();
  ctx.out(`Success: cluster management is ${word(paused)}`);
  return 0;
}

export async function togglePause(
  ctx: CtlContext,
  clusterArg: string | undefined,
  group: number | undefined,
  paused: boolean,
  wait: boolean,
): Promise<number> {
  const cluster = ctx.clusterName(clusterArg);
  const s = await ctx.cluster(cluster, group);
  if (isPaused(s) === paused) throw new CtlError(`Cluster is ${paused ? "already" : "not"} paused`);
  const patch = { pause: paused ? true : null };
  for (const m of membersLeaderFirst(s)) {
    let r;
    try {
      r = await ctx.rest.request(m, "PATCH", "config", patch);
    } catch (e) {
      if (!(e instanceof RestError)) throw e;
      warn(ctx.io, `${e.message}; member ${m.name} is not accessible`);
      continue;
    }
    if (r.status !== 200) {
      ctx.out(
        `Failed: ${paused ? "pause" : "resume"} cluster management status code=${r.status}, (${r.body})`,
      );
      return 1;
    }
    if (wait) return await waitForPause(ctx, cluster, group, paused, s);
    ctx.out(`Success: cluster management is ${word(paused)}`);
    return 0;
  }
  // No API answered: the agents read the config key each cycle, so writing it directly has the same effect.
  warn(ctx.io, "No member's REST API answered; writing the pause flag directly into the DCS");
  const dcs = await ctx.dcs(cluster, group);
  const { result } = patchConfig(s.config?.value ?? {}, patch);
  if (!(await dcs.setConfigValue(patroniJson(result), s.config?.version))) {
    throw new CtlError("Config modification aborted due to concurrent changes");
  }
  if (wait) return await waitForPause(ctx, cluster, group, paused, s);
  ctx.out(`Success: cluster management is ${word(paused)}`);
  return 0;
}

export function register(program: Command, rt: CtlRuntime): void {
  for (
    const [name, paused, help] of [
      ["pause", true, "Disable automatic failover (maintenance mode)"],
      ["resume", false, "Resume automatic failover"],
    ] as const
  ) {
    const cmd = program.command(name).description(help).argument(
      "[cluster_name]",
      "cluster (default: the configured scope)",
    );
    groupOption(cmd);
    cmd.option("--wait", `wait until every member reports the cluster ${word(paused)}`);
    cmd.action(
      ctlAction(
        rt,
        (ctx, cluster: string | undefined, o: { group?: number; wait?: boolean }) =>
          togglePause(ctx, cluster, ctx.group(o.group, true), paused, !!o.wait),
      ),
    );
  }
}
