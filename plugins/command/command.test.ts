import assert from "node:assert/strict";
import { PluginHost } from "../../src/plugins/host.ts";
import { baseContext, collectingLogger } from "../../test/plugins/fixtures/context.ts";
import { bootstrapArgv, parseSection, replicaArgv } from "./args.ts";
import { commandMethod, methodSpecs } from "./mod.ts";

/** A script that records its arguments, one per line, and exits with `code`. */
async function recorder(dir: string, code = 0): Promise<{ path: string; args: () => string[] }> {
  const path = `${dir}/record-${code}.sh`;
  const out = `${dir}/args-${code}`;
  await Deno.writeTextFile(path, `#!/bin/sh\nprintf '%s\\n' "$@" > '${out}'\nexit ${code}\n`);
  await Deno.chmod(path, 0o755);
  return { path, args: () => Deno.readTextFileSync(out).trimEnd().split("\n") };
}

const ctx = baseContext({ scope: "batman", dataDir: "/data/pg" });

Deno.test("replica method arguments follow Patroni: extra keys, then scope, role, datadir, connstring", () => {
  const s = parseSection({
    command: "wale_restore --x 'a b'",
    envdir: "/etc/wal-e",
    threshold_megabytes: 10240,
    no_leader: true,
    keep_data: true,
    use_iam: 1,
  });
  assert.deepEqual(replicaArgv(s, { ...ctx, connstring: "postgres://r@h:5432/postgres" }), [
    "wale_restore",
    "--x",
    "a b",
    "--envdir=/etc/wal-e",
    "--threshold_megabytes=10240",
    "--no_leader=True",
    "--keep_data=True",
    "--use_iam=1",
    "--scope=batman",
    "--role=replica",
    "--datadir=/data/pg",
    "--connstring=postgres://r@h:5432/postgres",
  ]);
  // no_params: only the section's own keys.
  const np = parseSection({ command: "restore", no_params: true, keep_data: true, stanza: "main" });
  assert.deepEqual(replicaArgv(np, { ...ctx, connstring: null }), ["restore", "--stanza=main"]);
  assert.equal(np.keepData, true);
});

Deno.test("bootstrap method arguments: scope and datadir first unless no_params", () => {
  const s = parseSection({
    command: "/bin/clone",
    recovery_conf: { a: 1 },
    keep_existing_recovery_conf: true,
    target: "x",
  });
  assert.deepEqual(bootstrapArgv(s, ctx), [
    "/bin/clone",
    "--scope=batman",
    "--datadir=/data/pg",
    "--target=x",
  ]);
  assert.deepEqual(bootstrapArgv(parseSection({ command: "c", noParams: true, x: false }), ctx), [
    "c",
    "--x=False",
  ]);
});

Deno.test("the command plugin runs its script through the worker host, as both method kinds", async () => {
  const dir = await Deno.makeTempDir();
  const logger = collectingLogger();
  const ok = await recorder(dir, 0);
  const bad = await recorder(dir, 3);
  const specs = [
    ...methodSpecs({ wal_e: { command: ok.path, envdir: "/etc/wal-e", no_leader: true } }),
    commandMethod({ command: `${bad.path} --flag` }, { name: "broken" }),
    // Granted a different executable than it declares: the intersection is empty, the spawn is denied.
    commandMethod({ command: ok.path }, { name: "ungranted", grant: { run: ["/bin/true"] } }),
  ];
  const host = new PluginHost(specs, { logger });
  try {
    assert.deepEqual(host.permissionsOf("wal_e"), { run: [ok.path] });
    assert.deepEqual(host.methodTraits("wal_e"), {
      keepData: false,
      noLeader: true,
      keepExistingRecoveryConf: false,
    });
    assert.equal(host.hasMethod("wal_e", "createReplica"), true);

    assert.equal(await host.runMethod("wal_e", { kind: "createReplica", ...ctx, source: null }), true);
    assert.deepEqual(ok.args(), [
      "--envdir=/etc/wal-e",
      "--no_leader=True",
      "--scope=batman",
      "--role=replica",
      "--datadir=/data/pg",
      "--connstring=",
    ]);
    assert.equal(await host.runMethod("wal_e", { kind: "bootstrap", ...ctx }), true);
    assert.deepEqual(ok.args(), [
      "--scope=batman",
      "--datadir=/data/pg",
      "--envdir=/etc/wal-e",
      "--no_leader=True",
    ]);

    // A failing method is a clean `false`, so the caller moves on to its next method.
    const source = { name: "node2", connUrl: "postgres://replicator@127.0.0.1:5433/postgres" };
    assert.equal(await host.runMethod("broken", { kind: "createReplica", ...ctx, source }), false);
    assert.deepEqual(bad.args(), [
      "--flag",
      "--scope=batman",
      "--role=replica",
      "--datadir=/data/pg",
      `--connstring=${source.connUrl}`,
    ]);
    // Without no_leader and without a source it refuses instead of running.
    assert.equal(await host.runMethod("broken", { kind: "createReplica", ...ctx, source: null }), false);

    assert.deepEqual(host.permissionsOf("ungranted"), {});
    assert.equal(await host.runMethod("ungranted", { kind: "bootstrap", ...ctx }), false);
    assert.ok(logger.lines.some((l) => l.fields.plugin === "ungranted" && /denied a permission/.test(l.msg)));
    assert.equal(await host.runMethod("nonexistent", { kind: "bootstrap", ...ctx }), false);
  } finally {
    await host.close();
    await Deno.remove(dir, { recursive: true });
  }
});
