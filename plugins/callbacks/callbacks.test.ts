import assert from "node:assert/strict";
import { PluginHost } from "../../src/plugins/host.ts";
import { shellSplit } from "../../src/plugins/shlex.ts";
import { baseContext, collectingLogger } from "../../test/plugins/fixtures/context.ts";
import { legacyCallbacks } from "./mod.ts";

function alive(pid: number): boolean {
  try {
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch {
    return false;
  }
}

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A callback script that records its args, starts a grandchild, and waits (so it can be killed mid-run). */
async function script(dir: string): Promise<string> {
  const path = `${dir}/cb.sh`;
  await Deno.writeTextFile(
    path,
    `#!/bin/sh
out="$1"; shift
printf '%s|' "$@" >> "$out/args"; echo >> "$out/args"
sleep 60 &
echo $! > "$out/grandchild.$1"
echo $$ > "$out/child.$1"
[ "$1" = on_stop ] && exit 0
wait
`,
  );
  await Deno.chmod(path, 0o755);
  return path;
}

Deno.test("shellSplit follows shlex rules", () => {
  assert.deepEqual(shellSplit(`a 'b c' "d \\"e\\"" f\\ g ''`), ["a", "b c", 'd "e"', "f g", ""]);
  assert.throws(() => shellSplit(`a 'b`), /No closing quotation/);
});

Deno.test("callbacks get action, role and scope; a newer callback kills the running one's process tree", async () => {
  const dir = await Deno.makeTempDir();
  const logger = collectingLogger();
  const cmd = `${await script(dir)} '${dir}'`;
  const cbs = legacyCallbacks({ onStart: cmd, onRoleChange: cmd, onReload: cmd, onStop: cmd }, "demo", {
    debug: () => {},
    info: (m, f) => logger.log("info", m, f ?? {}),
    warn: (m, f) => logger.log("warn", m, f ?? {}),
    error: (m, f) => logger.log("error", m, f ?? {}),
  });
  const host = new PluginHost([], { local: [cbs], logger });
  try {
    await host.emit("onStart", { ...baseContext({ role: "replica" }) });
    await host.emit("onReload", { ...baseContext({ role: "replica" }) });
    await waitFor(() => {
      const files = [...Deno.readDirSync(dir)].map((e) => e.name);
      return files.includes("grandchild.on_start") && files.includes("grandchild.on_reload");
    });
    const child = Number(await Deno.readTextFile(`${dir}/child.on_start`));
    const grandchild = Number(await Deno.readTextFile(`${dir}/grandchild.on_start`));
    const reloadChild = Number(await Deno.readTextFile(`${dir}/child.on_reload`));
    assert.ok(alive(child) && alive(grandchild));

    await host.emit("onRoleChange", {
      ...baseContext({ role: "primary" }),
      oldRole: "replica",
      newRole: "primary",
    });
    await waitFor(() => !alive(grandchild) && !alive(child));
    assert.ok(
      logger.lines.some((l) =>
        /^Killed .*cb\.sh .* on_start replica demo because it was still running$/.test(l.msg)
      ),
    );
    // on_reload runs in its own lane: untouched by the main lane.
    assert.ok(alive(reloadChild));
    await waitFor(() => Deno.readTextFileSync(`${dir}/args`).includes("on_role_change"));
    assert.deepEqual(Deno.readTextFileSync(`${dir}/args`).trim().split("\n").sort(), [
      "on_reload|replica|demo|",
      "on_role_change|primary|demo|",
      "on_start|replica|demo|",
    ]);
    // A callback that exits by itself leaves nothing running in its lane.
    await host.emit("onStop", { ...baseContext({ role: "primary" }) });
    await waitFor(() => cbs.executor.runningPid("on_stop") === null);
  } finally {
    await host.close();
    await cbs.executor.drain();
    for (const f of Deno.readDirSync(dir)) {
      if (f.name.startsWith("grandchild.")) {
        try {
          Deno.kill(Number(Deno.readTextFileSync(`${dir}/${f.name}`)), "SIGKILL");
        } catch { /* already dead */ }
      }
    }
    await Deno.remove(dir, { recursive: true });
  }
});
