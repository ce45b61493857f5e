/**
 * Bootstrap and replica methods as the agent wires them: Patroni method sections become `command` plugin
 * instances, configured plugins win over sections of the same name, and the manager's registries call them in
 * real Workers with the PostgreSQL OS user and PGPASSFILE. Plus the permissions the agent is computed to need.
 */
import assert from "node:assert/strict";
import { stringify } from "yaml";
import { loadConfig } from "../../src/config/load.ts";
import { computePermissions } from "../../src/config/permissions.ts";
import { addPluginPermissions } from "../../src/ctl/permissions_cmd.ts";
import { methodRegistries, planMethods } from "../../src/agent/method_plugins.ts";
import { PluginHost } from "../../src/plugins/host.ts";
import { resolvePlugins } from "../../src/plugins/resolve.ts";
import { OsUser } from "../../src/postgres/os_user.ts";
import { binaries } from "../../src/postgres/pg_ctl.ts";
import { VirtualClock } from "../../src/util/clock.ts";
import { collectingLogger } from "../plugins/fixtures/context.ts";

const ROOT = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

async function setup() {
  const dir = await Deno.makeTempDir({ prefix: "pgwarden-methods-" });
  await Deno.chmod(dir, 0o755);
  // Records who ran it, its PGPASSFILE and its arguments (where the PostgreSQL user may write).
  await Deno.mkdir(`${dir}/rec`, { mode: 0o777 });
  await Deno.chmod(`${dir}/rec`, 0o777);
  const script = `${dir}/method.sh`;
  await Deno.writeTextFile(
    script,
    `#!/bin/sh\n{ id -un; echo "$PGPASSFILE"; for a in "$@"; do echo "$a"; done; } > "${dir}/rec/out"\n`,
    { mode: 0o755 },
  );
  const yaml = {
    scope: "demo",
    name: "node1",
    etcd3: { host: "127.0.0.1:2379" },
    restapi: { listen: "127.0.0.1:8008" },
    bootstrap: {
      method: "restore",
      restore: { command: `${script} --from=backup`, keep_existing_recovery_conf: true, target: "latest" },
      unused: { command: "/usr/bin/never-run" },
    },
    postgresql: {
      listen: "127.0.0.1:5432",
      data_dir: `${dir}/data`,
      create_replica_methods: ["pgbackrest", "wal_e", "basebackup"],
      wal_e: { command: script, envdir: "/etc/wal-e", no_leader: true },
      // Shadowed by the configured plugin of the same name.
      pgbackrest: { command: "/usr/bin/false", keep_data: true },
    },
    plugins: [{ module: "pgbackrest", config: { stanza: "main", executable: "/usr/bin/pgbackrest" } }],
  };
  const path = `${dir}/node1.yml`;
  await Deno.writeTextFile(path, stringify(yaml));
  return { dir, script, path, config: await loadConfig(path) };
}

Deno.test("method plan: sections become command-plugin instances, a plugin wins over its namesake section", async () => {
  const { dir, script, config } = await setup();
  try {
    const plugins = await resolvePlugins(config.plugins, dir);
    const plan = planMethods(config, plugins);
    assert.deepEqual(plan.bindings, [
      { kind: "bootstrap", method: "pgbackrest", instance: "pgbackrest" },
      { kind: "createReplica", method: "pgbackrest", instance: "pgbackrest" },
      { kind: "bootstrap", method: "restore", instance: "bootstrap.restore" },
      { kind: "createReplica", method: "wal_e", instance: "postgresql.wal_e" },
    ]);
    // Only the selected bootstrap section runs, each with exactly its own executable.
    assert.deepEqual(
      plan.specs.map((s) => [s.name, s.plugin, s.permissions]),
      [
        ["bootstrap.restore", "command", { run: [script] }],
        ["postgresql.wal_e", "command", { run: [script] }],
      ],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "method registries run sections in Workers as the PostgreSQL user, with Patroni's arguments",
  ignore: Deno.uid() !== 0,
  async fn() {
    const { dir, config } = await setup();
    const logger = collectingLogger();
    const plugins = await resolvePlugins(config.plugins, dir);
    const plan = planMethods(config, plugins);
    const host = new PluginHost([...plugins, ...plan.specs], { logger });
    try {
      const base = (reason: string) => ({
        scope: "demo",
        name: "node1",
        role: null,
        timeline: null,
        connUrl: null,
        dataDir: config.postgresql.dataDir,
        lsn: null,
        reason,
      });
      const reg = methodRegistries(config, host, plan.bindings, base);
      const out = () => Deno.readTextFileSync(`${dir}/rec/out`).trimEnd().split("\n");
      const user = new OsUser("postgres");

      const restore = reg.bootstrap.get("restore")!;
      assert.equal(restore.keepExistingRecoveryConf, true);
      assert.equal(reg.bootstrap.get("pgbackrest")!.keepExistingRecoveryConf, true);
      const log: string[] = [];
      const bctx = {
        dataDir: `${dir}/data`,
        scope: "demo",
        user,
        env: { PGPASSFILE: "/pass" },
        log: () => {},
      };
      assert.equal(await restore.run(bctx), true);
      assert.deepEqual(out(), [
        "postgres",
        "/pass",
        "--from=backup",
        "--scope=demo",
        `--datadir=${dir}/data`,
        "--target=latest",
      ]);

      const walE = reg.replica.get("wal_e")!;
      assert.deepEqual([walE.noLeader, walE.keepData], [true, false]);
      const pgbr = reg.replica.get("pgbackrest")!;
      assert.deepEqual([pgbr.noLeader, pgbr.keepData], [true, true]);
      assert.equal(reg.replica.get("basebackup"), undefined, "basebackup stays the manager's built-in");
      const rctx = {
        dataDir: `${dir}/data`,
        scope: "demo",
        conninfo: "host=10.0.0.2 port=5432 user=replicator",
        connUrl: "postgres://replicator@10.0.0.2:5432/postgres",
        env: { PGPASSFILE: "/pass" },
        user,
        bin: binaries("/usr/lib/postgresql/15/bin"),
        majorVersion: 15,
        clock: new VirtualClock(),
        log: (_l: string, m: string) => log.push(m),
      };
      assert.equal(await walE.create(rctx), true);
      assert.deepEqual(out(), [
        "postgres",
        "/pass",
        // The config schema lists its known keys first, so no_leader precedes the free-form keys.
        "--no_leader=True",
        "--envdir=/etc/wal-e",
        "--scope=demo",
        "--role=replica",
        `--datadir=${dir}/data`,
        "--connstring=postgres://replicator@10.0.0.2:5432/postgres",
      ]);
      // The tool's output lines reach the agent's log under the instance name.
      assert.ok(
        logger.lines.some((l) => l.fields.plugin === "postgresql.wal_e" && l.msg === "running command"),
      );
    } finally {
      await host.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("permissions: the agent may run each method's executable and load the method plugins", async () => {
  const { dir, script, path, config } = await setup();
  try {
    const perms = computePermissions(config, { configPath: path, env: { PATH: "/usr/bin:/bin" }, uid: 0 });
    await addPluginPermissions(perms, config, path);
    const run = perms.list("run");
    // The tools, and this Deno for the plugin jails the workers run in.
    for (const exe of [script, "/usr/bin/pgbackrest", Deno.execPath()]) {
      assert.ok(run.includes(exe), `run ${exe}: ${run}`);
    }
    const read = perms.list("read");
    for (const p of [`${ROOT}/src`, `${ROOT}/plugins`, "/usr/bin/pgbackrest", script]) {
      assert.ok(read.some((r) => p === r || p.startsWith(r + "/")), `read ${p}: ${read}`);
    }
    assert.ok(perms.list("env").includes("PATH"));
    // The data directory (and its parent, where the pass file lives) for the tools' output.
    assert.ok(perms.list("write").includes(dir));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
