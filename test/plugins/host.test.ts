import assert from "node:assert/strict";
import { type CallRecord, PluginHost } from "../../src/plugins/host.ts";
import {
  covers,
  effectivePermissions,
  intersect,
  permissionFlags,
  pluginPermissions,
} from "../../src/plugins/permissions.ts";
import { resolvePlugins } from "../../src/plugins/resolve.ts";
import { baseContext, collectingLogger } from "./fixtures/context.ts";
import { recorder } from "./fixtures/recorder.ts";

Deno.test("permission intersection keeps the narrower entry of each overlapping pair", () => {
  assert.ok(covers("net", "example.com", "example.com:443"));
  assert.ok(!covers("net", "example.com:80", "example.com:443"));
  assert.ok(covers("read", "/var/lib", "/var/lib/pg/data"));
  assert.ok(!covers("read", "/var/lib", "/var/library"));
  assert.ok(covers("env", "AWS_*", "AWS_REGION"));
  assert.deepEqual(
    intersect(
      {
        net: ["example.com", "10.0.0.1:80"],
        read: ["/data/pg"],
        run: ["/usr/bin/pgbackrest"],
        env: ["AWS_*"],
      },
      { net: ["example.com:443"], read: ["/data"], run: ["/usr/bin/true"], env: ["AWS_REGION", "HOME"] },
    ),
    { net: ["example.com:443"], read: ["/data/pg"], env: ["AWS_REGION"] },
  );
  assert.deepEqual(effectivePermissions({ permissions: { net: ["a"] } }), { net: ["a"] });
  assert.deepEqual(effectivePermissions({ permissions: { net: ["a"] }, grant: {} }), {});
  const union = pluginPermissions([{ permissions: { net: ["a", "b"] } }, {
    permissions: { net: ["b"], run: ["x"] },
  }]);
  assert.deepEqual(union, { net: ["a", "b"], run: ["x"] });
  assert.deepEqual(permissionFlags(union), ["--allow-net=a,b", "--allow-run=x"]);
});

Deno.test("events are delivered to each plugin in emit order, once per key", async () => {
  const logger = collectingLogger();
  const host = new PluginHost([recorder({}, { name: "a" }), recorder({}, { name: "b" })], { logger });
  try {
    const emits = [];
    // Earlier events take longer: a host that did not queue per plugin would deliver them out of order.
    for (let i = 0; i < 8; i++) {
      emits.push(
        host.emit("onLeaderChange", {
          ...baseContext({ reason: `e${i}`, lsn: (8 - i) * 5 }),
          old: null,
          new: "x",
        }),
      );
    }
    emits.push(
      host.emit("onLeaderChange", { ...baseContext({ reason: "e8", lsn: 0 }), old: null, new: "x" }, "t2"),
    );
    emits.push(
      host.emit("onLeaderChange", { ...baseContext({ reason: "dup", lsn: 0 }), old: null, new: "x" }, "t2"),
    );
    const results = await Promise.all(emits);
    assert.deepEqual(results.at(-1), []);
    for (const plugin of ["a", "b"]) {
      const order = logger.lines.filter((l) => l.fields.plugin === plugin && l.msg === "seen").map((l) =>
        l.fields.reason
      );
      assert.deepEqual(order, ["e0", "e1", "e2", "e3", "e4", "e5", "e6", "e7", "e8"]);
    }
    assert.equal(host.counters().find((c) => c.plugin === "a" && c.outcome === "ok")?.count, 9);
  } finally {
    await host.close();
  }
});

Deno.test("a worker that fails to load is a crash outcome; close ends queued calls as closed", async () => {
  const records: CallRecord[] = [];
  const logger = collectingLogger();
  const spec = {
    ...recorder({}),
    name: "broken",
    module: new URL("./fixtures/broken_worker.ts", import.meta.url).href,
  };
  const host = new PluginHost([spec, recorder({}, { name: "slow" })], {
    logger,
    onOutcome: (r) => records.push(r),
  });
  const out = await host.call("broken", "onStart", baseContext());
  assert.equal(!out.ok && out.failure, "crashed");
  assert.match(!out.ok ? out.message : "", /broken at load time/);
  assert.ok(logger.lines.some((l) => l.fields.plugin === "broken" && /crashed/.test(l.msg)));
  const first = host.call("slow", "onStart", baseContext({ lsn: 2000 }));
  const second = host.call("slow", "onStop", baseContext());
  await new Promise((r) => setTimeout(r, 300));
  await host.close();
  assert.equal((await first).ok, false);
  assert.equal(!(await second).ok && (await second as { failure: string }).failure, "closed");
  assert.deepEqual(records.map((r) => [r.plugin, r.hook, r.outcome]), [
    ["broken", "onStart", "crashed"],
    ["slow", "onStart", "closed"],
    ["slow", "onStop", "closed"],
  ]);
});

Deno.test("YAML plugin references resolve to the same specs as factories", async () => {
  const dir = new URL("./fixtures/", import.meta.url).pathname;
  const specs = await resolvePlugins([
    { module: "./recorder.ts", config: { label: "x" }, grant: { net: ["127.0.0.1:8080"] }, timeout_ms: 1234 },
    { module: "command", name: "wal_e", config: { command: "/bin/true", threshold_megabytes: 10 } },
    { module: "aws-eip", config: { region: "eu-west-1", allocation_id: "eipalloc-1" } },
    recorder({}, { name: "from-ts" }),
  ], dir);
  assert.deepEqual(specs.map((s) => s.name), ["recorder", "wal_e", "aws-eip", "from-ts"]);
  assert.deepEqual(effectivePermissions(specs[0]!), { net: ["127.0.0.1:8080"] });
  assert.equal(specs[0]!.timeoutMs, 1234);
  assert.deepEqual(specs[0]!.config, { label: "x" });
  assert.deepEqual(specs[1]!.config, { command: "/bin/true", threshold_megabytes: 10 });
  assert.deepEqual((specs[2]!.config as { allocationId: string }).allocationId, "eipalloc-1");
  await assert.rejects(
    resolvePlugins([{ module: "command", config: { command: "/bin/true" } }, {
      module: "command",
      config: { command: "/bin/false" },
    }], dir),
    /Two plugins are named "command"/,
  );
  await assert.rejects(resolvePlugins([{ module: "aws-eip", config: { region: "x" } }], dir), /exactly one/);
});

Deno.test("hook outcomes feed the agent's pgwarden_plugin_hook_* metrics", async () => {
  const { PgwardenMetrics } = await import("../../src/api/metrics.ts");
  const { recordHookMetrics } = await import("../../src/plugins/metrics_bridge.ts");
  const m = new PgwardenMetrics();
  const host = new PluginHost([recorder({}, { name: "m" })], {
    logger: collectingLogger(),
    onOutcome: (r) => recordHookMetrics(r, m),
  });
  try {
    await host.call("m", "onStart", baseContext());
    await host.call("m", "onStart", baseContext({ lsn: 2000 }), { timeoutMs: 100 });
  } finally {
    await host.close();
  }
  const text = await m.registry.metrics();
  assert.match(text, /pgwarden_plugin_hook_duration_seconds_count\{plugin="m",hook="onStart"\} 2/);
  assert.match(text, /pgwarden_plugin_hook_failures_total\{plugin="m",hook="onStart",reason="timeout"\} 1/);
});

Deno.test("a worker that never finishes loading is cut at the start timeout, not charged to hooks", async () => {
  const logger = collectingLogger();
  const stuck = {
    ...recorder({}),
    name: "stuck",
    startTimeoutMs: 300,
    module: new URL("./fixtures/stuck_worker.ts", import.meta.url).href,
  };
  const host = new PluginHost([stuck], { logger, onOutcome: () => {} });
  try {
    const t0 = performance.now();
    const out = await host.call("stuck", "onStart", baseContext(), { timeoutMs: 50 });
    const took = performance.now() - t0;
    assert.equal(!out.ok && out.failure, "timeout");
    assert.match(!out.ok ? out.message : "", /did not start within 300 ms/);
    assert.ok(took >= 290 && took < 800, `took ${took} ms`);
    assert.equal(host.isRunning("stuck"), false);
    assert.ok(logger.lines.some((l) => l.fields.plugin === "stuck" && /did not start/.test(l.msg)));
  } finally {
    await host.close();
  }
});
