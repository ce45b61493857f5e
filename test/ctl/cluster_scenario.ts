/**
 * The ctl against a real three-node cluster (agents, PostgreSQL 15, etcd), run as a process with an agent's own
 * Patroni YAML as its config: list, why, dry-run and real config edits, pause/resume --wait, query, switchover.
 *
 * Not a test file on its own: the integration suite calls it once its cluster is healthy, e.g.
 *
 * ```ts
 * Deno.test({ name: "ctl operates a running cluster", sanitizeOps: false, sanitizeResources: false, fn: async () => {
 *   const cluster = await startCluster({ nodes: 3, sequential: true });
 *   try { await ctlScenario(cluster); } finally { await cluster.stop(); }
 * }});
 * ```
 *
 * It switches the leader over at the end (to a replica), so run it last on a cluster or on its own one.
 */
import assert from "node:assert/strict";
import type { TestCluster } from "../helpers/cluster.ts";
import { parseListJson, runCtlProcess } from "./run_ctl.ts";

export async function ctlScenario(cluster: TestCluster): Promise<void> {
  const leader = await cluster.waitHealthy();
  const config = cluster.nodes[1]!.configPath;
  const ctl = async (args: string[], stdin?: string) => {
    const r = await runCtlProcess(args, { config, ...(stdin !== undefined ? { stdin } : {}) });
    return r;
  };

  const list = await ctl(["list", "-f", "json"]);
  assert.equal(list.code, 0, list.stderr);
  const rows = parseListJson(list.stdout);
  assert.deepEqual(rows.map((r) => r.Member), ["node1", "node2", "node3"]);
  assert.deepEqual(rows.filter((r) => r.Role === "Leader").map((r) => r.Member), [leader.name]);
  assert.ok(rows.filter((r) => r.Role !== "Leader").every((r) => r.State === "streaming"), list.stdout);

  const why = await ctl(["why"]);
  assert.equal(why.code, 0, why.stdout + why.stderr);
  for (const n of ["node1", "node2", "node3"]) assert.match(why.stdout, new RegExp(`^${n} \\(`, "m"));
  assert.match(why.stdout, /reason: \S+; action: \S+; decided at /);

  const plan = await ctl(["edit-config", "-q", "--pg", "max_connections=60", "--dry-run"]);
  assert.equal(plan.code, 0, plan.stderr);
  assert.match(plan.stdout, /postgresql\.parameters\.max_connections: 50 -> 60/);
  assert.match(plan.stdout, /Needs a PostgreSQL restart to take effect: max_connections/);
  assert.match((await ctl(["show-config"])).stdout, /max_connections: 50/, "dry run wrote nothing");

  const edit = await ctl(["edit-config", "-q", "--pg", "work_mem=8MB", "--force"]);
  assert.equal(edit.code, 0, edit.stderr);
  assert.match((await ctl(["show-config"])).stdout, /work_mem: 8MB/);

  const pause = await ctl(["pause", "--wait"]);
  assert.equal(pause.code, 0, pause.stdout + pause.stderr);
  assert.match(pause.stdout, /Success: cluster management is paused/);
  assert.match((await ctl(["list"])).stdout, /Maintenance mode: on/);
  const resume = await ctl(["resume", "--wait"]);
  assert.equal(resume.code, 0, resume.stdout + resume.stderr);

  const q = await ctl(["query", "-c", "SELECT pg_is_in_recovery() AS r", "-r", "replica"]);
  assert.equal(q.code, 0, q.stdout + q.stderr);
  assert.equal(q.stdout, "r\nTrue\n"); // Python-style booleans, as patronictl prints them

  const target = rows.find((r) => r.Role !== "Leader")!.Member as string;
  const sw = await ctl(["switchover", "--leader", leader.name, "--candidate", target, "--force"]);
  assert.equal(sw.code, 0, sw.stdout + sw.stderr);
  assert.match(sw.stdout, new RegExp(`Successfully switched over to "${target}"`));
  const after = await cluster.waitHealthy();
  assert.equal(after.name, target);
  const history = await ctl(["history", "-f", "json"]);
  assert.ok(JSON.parse(history.stdout).length >= 1, history.stdout);
}
