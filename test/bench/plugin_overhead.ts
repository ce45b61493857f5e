/** Benchmark: round trip of a no-op hook call through the plugin host (post, run in the worker, answer). */
import { PluginHost } from "../../src/plugins/host.ts";
import type { HookCallData } from "../../src/plugins/types.ts";

export async function benchPluginOverhead(
  calls = 500,
): Promise<{ name: string; value: number; unit: string }> {
  const host = new PluginHost([{
    name: "noop",
    plugin: "noop",
    version: "0",
    module: new URL("./plugin_noop_worker.ts", import.meta.url).href,
    config: null,
    permissions: {},
    hooks: ["onLeaderChange"],
  }], { logger: { log() {} } });
  const data: HookCallData<"onLeaderChange"> = {
    scope: "bench",
    name: "n1",
    role: "primary",
    timeline: 1,
    connUrl: null,
    dataDir: "/nonexistent",
    lsn: 0,
    reason: null,
    old: null,
    new: "n1",
  };
  try {
    // Warm-up: worker start and JIT are not part of the per-call cost.
    for (let i = 0; i < 50; i++) await host.call("noop", "onLeaderChange", data);
    const times: number[] = [];
    for (let i = 0; i < calls; i++) {
      const t0 = performance.now();
      const out = await host.call("noop", "onLeaderChange", data);
      times.push(performance.now() - t0);
      if (!out.ok) throw new Error(`no-op hook failed: ${out.message}`);
    }
    times.sort((a, b) => a - b);
    const median = times[Math.floor(times.length / 2)]!;
    return { name: "plugin_hook_round_trip_median", value: Math.round(median * 1000), unit: "us" };
  } finally {
    await host.close();
  }
}

if (import.meta.main) console.log(JSON.stringify(await benchPluginOverhead()));
