/**
 * A plugin that declares no permissions tries to read, spawn, connect and read the environment; hangs; throws;
 * vetoes. Every attempt must be denied and logged with the plugin's name, and no call may outlive its timeout.
 */
import assert from "node:assert/strict";
import { PluginHost } from "../../src/plugins/host.ts";
import { adversary } from "./fixtures/adversarial.ts";
import { recorder } from "./fixtures/recorder.ts";
import { baseContext, collectingLogger } from "./fixtures/context.ts";
import { waitFor } from "../helpers/pg.ts";
import { cpuSeconds, processGone } from "../helpers/proc.ts";

const roleChange = (reason: string) => ({
  ...baseContext({ reason }),
  oldRole: "replica" as const,
  newRole: "primary" as const,
});

Deno.test("a plugin without permissions is denied file, process, socket and env access, each logged", async () => {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/secret`;
  await Deno.writeTextFile(file, "secret");
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let accepted = 0;
  const accepting = (async () => {
    for await (const c of listener) {
      accepted++;
      c.close();
    }
  })();
  const envVar = "PGWARDEN_TEST_SECRET";
  Deno.env.set(envVar, "x");
  const logger = collectingLogger();
  const host = new PluginHost([adversary({ file, port: listener.addr.port, envVar })], { logger });
  try {
    assert.deepEqual(host.permissionsOf("adversary"), {});
    for (const attempt of ["read", "spawn", "socket", "env", "background"]) {
      const before = logger.lines.length;
      const out = await host.call("adversary", "onRoleChange", roleChange(attempt));
      if (attempt === "background") {
        // The hook itself returned; its background task is denied right after and kills the worker.
        assert.equal(out.ok, true);
        for (let i = 0; i < 100 && host.isRunning("adversary"); i++) {
          await new Promise((r) => setTimeout(r, 10));
        }
      } else {
        assert.equal(out.ok, false, attempt);
        assert.equal(!out.ok && out.failure, "permission", attempt);
      }
      const denial = logger.lines.slice(before).find((l) => /denied a permission/.test(l.msg));
      assert.ok(denial, `denial of ${attempt} was logged`);
      assert.equal(denial.fields.plugin, "adversary");
      assert.equal(host.isRunning("adversary"), false, `worker terminated after ${attempt}`);
    }
    assert.equal(accepted, 0);
    assert.equal(host.workerStats("adversary")!.denials, 5);
    assert.equal(host.workerStats("adversary")!.terminations, 5);
    const denied = host.counters().find((c) => c.hook === "onRoleChange" && c.outcome === "permission");
    assert.equal(denied?.count, 4);
  } finally {
    await host.close();
    Deno.env.delete(envVar);
    listener.close();
    await accepting.catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a hook that spins forever is cut at its timeout and its worker replaced by a fresh one", async () => {
  const logger = collectingLogger();
  const spec = adversary({ file: "/nonexistent", port: 1, envVar: "X" }, { timeouts: { onRoleChange: 300 } });
  const host = new PluginHost([spec], { logger });
  try {
    // Warm up so worker start-up time is not part of the measurement.
    assert.equal(
      (await host.call("adversary", "onLeaderChange", { ...baseContext(), old: null, new: "a" })).ok,
      true,
    );
    const jail = host.workerPid("adversary");
    assert.ok(jail !== null && !processGone(jail), "the worker runs in its own process");
    const t0 = performance.now();
    const out = await host.call("adversary", "onRoleChange", roleChange("hang"));
    const took = performance.now() - t0;
    assert.equal(!out.ok && out.failure, "timeout");
    assert.ok(took >= 290 && took < 300 + 250, `returned after ${took} ms`);
    assert.equal(host.isRunning("adversary"), false);
    // Really stopped: Deno's Worker.terminate() leaves a spinning thread running (denoland/deno#35657), which
    // would show as CPU time of this process; the jail's process is gone.
    const cpu0 = cpuSeconds(Deno.pid);
    await new Promise((r) => setTimeout(r, 1000));
    const spent = cpuSeconds(Deno.pid) - cpu0;
    assert.ok(spent < 0.5, `this process used ${spent} s of CPU in 1 s after the cut: something still spins`);
    await waitFor(`jail process ${jail} gone`, () => processGone(jail), 5000);
    assert.ok(logger.lines.some((l) => /timed out/.test(l.msg) && l.fields.plugin === "adversary"));
    // A spinning worker could not answer; a fresh one can, and has served exactly this one call.
    const next = await host.call("adversary", "afterPromote", { ...baseContext(), oldLeader: null });
    assert.equal(next.ok, true);
    const served = logger.lines.filter((l) => l.msg === "served").at(-1);
    assert.equal(served?.fields.served, 1);
    assert.deepEqual(host.workerStats("adversary"), { starts: 2, terminations: 1, denials: 0 });
  } finally {
    await host.close();
  }
});

Deno.test("a throwing hook yields a failure result and a log line, and later calls still work", async () => {
  const logger = collectingLogger();
  const host = new PluginHost([adversary({ file: "/x", port: 1, envVar: "X" })], { logger });
  try {
    const out = await host.call("adversary", "onRoleChange", roleChange("throw"));
    assert.equal(!out.ok && out.failure, "error");
    assert.match(!out.ok ? out.message : "", /always fails/);
    const line = logger.lines.find((l) => /hook failed/.test(l.msg));
    assert.equal(line?.fields.plugin, "adversary");
    assert.match(String(line?.fields.error), /RangeError/);
    assert.equal(
      (await host.call("adversary", "onLeaderChange", { ...baseContext(), old: "a", new: "b" })).ok,
      true,
    );
  } finally {
    await host.close();
  }
});

Deno.test("beforePromote can veto with a reason; the veto is logged and remembered", async () => {
  const logger = collectingLogger();
  const host = new PluginHost([adversary({ file: "/x", port: 1, envVar: "X" })], { logger });
  try {
    const no = await host.veto("beforePromote", { ...baseContext({ lsn: 5 }), oldLeader: "node2" }, 2000);
    assert.deepEqual(no, { vetoed: true, by: "adversary", reason: "lsn 5 is behind" });
    assert.equal(host.lastVeto?.reason, "lsn 5 is behind");
    assert.ok(logger.lines.some((l) => /vetoed/.test(l.msg) && l.fields.plugin === "adversary"));
    const yes = await host.veto("beforePromote", { ...baseContext({ lsn: 500 }), oldLeader: "node2" }, 2000);
    assert.deepEqual(yes, { vetoed: false });
  } finally {
    await host.close();
  }
});

Deno.test("a failed or hanging before-hook does not veto unless configured to", async () => {
  const spec = adversary({ file: "/x", port: 1, envVar: "X" });
  const hanging = { ...spec, name: "hanging" };
  const strict = { ...spec, name: "strict", vetoOnFailure: true };
  const host = new PluginHost([hanging], { logger: collectingLogger() });
  const strictHost = new PluginHost([strict], { logger: collectingLogger() });
  try {
    // Keep the worker busy past the deadline: the veto call waits in the queue and must still return in time.
    const hang = host.call("hanging", "onRoleChange", roleChange("hang"), { timeoutMs: 1000 });
    const t0 = performance.now();
    const res = await host.veto("beforePromote", { ...baseContext({ lsn: 1 }), oldLeader: null }, 200);
    assert.ok(performance.now() - t0 < 450);
    assert.deepEqual(res, { vetoed: false });
    await hang;
    const hang2 = strictHost.call("strict", "onRoleChange", roleChange("hang"), { timeoutMs: 1000 });
    const res2 = await strictHost.veto(
      "beforePromote",
      { ...baseContext({ lsn: 500 }), oldLeader: null },
      200,
    );
    assert.equal(res2.vetoed, true);
    assert.equal(res2.by, "strict");
    await hang2;
  } finally {
    await host.close();
    await strictHost.close();
  }
});

Deno.test("console output becomes the plugin's log lines; raw bytes on stdout are a crash, not a garbled call", async () => {
  const logger = collectingLogger();
  const host = new PluginHost([adversary({ file: "/x", port: 1, envVar: "X" })], { logger });
  try {
    assert.equal((await host.call("adversary", "onRoleChange", roleChange("console"))).ok, true);
    const info = logger.lines.find((l) => l.msg.startsWith("plain console output"));
    assert.equal(info?.level, "info");
    assert.equal(info?.fields.plugin, "adversary");
    assert.match(info!.msg, /n: 1/);
    assert.equal(logger.lines.find((l) => l.msg === "to stderr")?.level, "error");

    const out = await host.call("adversary", "onRoleChange", roleChange("stdout"));
    assert.equal(!out.ok && out.failure, "crashed");
    assert.match(!out.ok ? out.message : "", /raw bytes on stdout/);
    assert.equal(host.isRunning("adversary"), false);
    // A fresh worker serves the next call.
    assert.equal(
      (await host.call("adversary", "onLeaderChange", { ...baseContext(), old: "a", new: "b" })).ok,
      true,
    );
    assert.deepEqual(host.workerStats("adversary"), { starts: 2, terminations: 1, denials: 0 });
  } finally {
    await host.close();
  }
});

Deno.test("prestart starts the processes of plugins with veto hooks only; a veto then needs no start-up", async () => {
  const vetoing = adversary({ file: "/x", port: 1, envVar: "X" }, { name: "vetoing" });
  const other = recorder({}, { name: "other" });
  const host = new PluginHost([vetoing, other], { logger: collectingLogger() });
  try {
    host.prestart();
    assert.equal(host.isRunning("vetoing"), true);
    assert.equal(host.isRunning("other"), false, "no veto hook: started at its first call");
    const pid = host.workerPid("vetoing");
    const no = await host.veto("beforePromote", { ...baseContext({ lsn: 5 }), oldLeader: null }, 2000);
    assert.equal(no.vetoed, true);
    assert.equal(host.workerPid("vetoing"), pid, "the veto ran in the prestarted process");
    assert.deepEqual(host.workerStats("vetoing"), { starts: 1, terminations: 0, denials: 0 });
  } finally {
    await host.close();
  }
});
