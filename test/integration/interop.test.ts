/**
 * A real pgwarden cluster operated by Debian's patronictl 3.0.2 (list, pause/resume, edit-config, restart,
 * reload, switchover, history; 401 without credentials) and then by our own ctl (`ctlScenario`). The cluster
 * has `restapi.authentication`, so both CLIs' REST calls are authenticated. The patronictl part is skipped
 * with a printed reason when patronictl cannot be installed.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { stringify } from "yaml";
import { ctlScenario } from "../ctl/cluster_scenario.ts";
import { parseListJson, PATRONICTL_BIN, runPatronictl } from "../ctl/run_ctl.ts";
import { debianBinaryUnavailable } from "../helpers/apt.ts";
import { startCluster, type TestCluster, type TestNode } from "../helpers/cluster.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const AUTH = { username: "ops", password: "ctl-pass" };

/** A patronictl config: the DCS and scope, plus the REST credentials (3.0.2 reads them from `restapi`). */
async function patronictlConfig(cluster: TestCluster, withAuth: boolean): Promise<string> {
  const path = `${cluster.dir}/patronictl${withAuth ? "" : "-noauth"}.yaml`;
  const cfg: Record<string, unknown> = {
    scope: cluster.opts.scope,
    namespace: "/service",
    etcd3: { hosts: [cluster.etcd.endpoint] },
    ...(withAuth ? { restapi: { authentication: AUTH } } : {}),
  };
  await Deno.writeTextFile(path, stringify(cfg));
  return path;
}

async function show(node: TestNode, setting: string): Promise<string> {
  const sql = node.sql();
  try {
    const rows = await sql.unsafe(`SHOW ${setting}`);
    return String(Object.values(rows[0] as Record<string, unknown>)[0]);
  } finally {
    await sql.end();
  }
}

async function paused(node: TestNode): Promise<boolean> {
  return ((await node.api("/patroni")).body as { pause?: boolean }).pause === true;
}

Deno.test("patronictl 3.0.2 and pgwarden ctl operate a real pgwarden cluster", opts, async (t) => {
  const cluster = await startCluster({
    nodes: 3,
    sequential: true,
    node: () => ({ extra: { restapi: { authentication: AUTH } } }),
  });
  try {
    const first = await cluster.waitHealthy(3);
    const missing = await debianBinaryUnavailable(PATRONICTL_BIN, "patroni");
    if (missing) console.log(`patronictl steps skipped: ${missing}`);

    await t.step({
      name: "patronictl: list, pause/resume, edit-config, restart, reload, switchover, history",
      ignore: missing !== null,
      fn: async () => {
        const config = await patronictlConfig(cluster, true);
        const noAuth = await patronictlConfig(cluster, false);
        const pctl = async (args: string[], cfg = config) => {
          const r = await runPatronictl(args, { config: cfg, timeoutMs: 90_000 });
          assertEquals(r.code, 0, `patronictl ${args.join(" ")}: ${r.stdout}${r.stderr}`);
          return r.stdout;
        };
        const members = async () =>
          parseListJson(await pctl(["list", "-f", "json"])).map((r) => [r.Member, r.Role, r.Host]);
        const hostOf = (n: TestNode) => `127.0.0.1:${n.pgPort}`;

        assertEquals(
          await members(),
          cluster.nodes.map((n) => [n.name, n === first ? "Leader" : "Replica", hostOf(n)]),
        );

        // Without credentials the REST call is refused; 3.0.2 reports it and exits 0.
        const refused = await pctl(["pause"], noAuth);
        assert(/Failed: pause cluster management status code=401/.test(refused), refused);
        assertEquals(await paused(first), false);

        assert((await pctl(["pause", "--wait"])).includes("Success: cluster management is paused"));
        for (const n of cluster.nodes) assert(await paused(n), `${n.name} paused`);
        const list = await pctl(["list"]);
        assert(
          list.startsWith(`+ Cluster: ${cluster.opts.scope} `) && list.includes("Maintenance mode: on"),
          list,
        );
        assert((await pctl(["resume", "--wait"])).includes("Success: cluster management is resumed"));
        for (const n of cluster.nodes) assertEquals(await paused(n), false, `${n.name} resumed`);

        // edit-config writes the DCS directly; every member then applies the parameter.
        const edit = await pctl(["edit-config", "--pg", "maintenance_work_mem=32MB", "--force"]);
        assert(
          edit.includes("+    maintenance_work_mem: 32MB") && edit.includes("Configuration changed"),
          edit,
        );
        for (const n of cluster.nodes) {
          await cluster.waitFor(
            `maintenance_work_mem on ${n.name}`,
            async () => (await show(n, "maintenance_work_mem")) === "32MB",
            20_000,
          );
        }

        const replica = cluster.nodes.find((n) => n !== first)!;
        const pid = replica.postmasterPid();
        const restart = await pctl(["restart", cluster.opts.scope, replica.name, "--force"]);
        assert(restart.includes(`Success: restart on member ${replica.name}`), restart);
        assert(replica.postmasterPid() !== pid, "the replica's postmaster was restarted");
        const reload = await pctl(["reload", cluster.opts.scope, first.name, "--force"]);
        assert(reload.includes(`Reload request received for member ${first.name}`), reload);
        await cluster.waitHealthy(3);

        const target = cluster.nodes.find((n) => n !== first && n !== replica)!;
        const sw = await pctl(["switchover", "--leader", first.name, "--candidate", target.name, "--force"]);
        assert(sw.includes(`Successfully switched over to "${target.name}"`), sw);
        assertEquals((await cluster.waitHealthy(3)).name, target.name);
        assertEquals(
          await members(),
          cluster.nodes.map((n) => [n.name, n === target ? "Leader" : "Replica", hostOf(n)]),
        );
        const history = JSON.parse(await pctl(["history", "-f", "json"])) as Record<string, unknown>[];
        assertEquals(history.map((h) => [h.TL, h["New Leader"]]), [[1, target.name]]);
      },
    });

    await t.step(
      "pgwarden ctl scenario: list, why, edit-config, pause/resume, query, switchover",
      async () => {
        await ctlScenario(cluster);
      },
    );
  } finally {
    await cluster.stop();
  }
});
