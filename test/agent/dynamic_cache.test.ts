/** `<data_dir>/patroni.dynamic.json`: written only into an initialised data directory, read back validated. */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { dynamicCachePath, readDynamicCache, writeDynamicCache } from "../../src/agent/dynamic_cache.ts";
import { fromPatroniDynamic } from "../../src/config/dynamic.ts";

Deno.test("dynamic cache: not written before the data directory is initialised; round trip after", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pgwarden-cache-" });
  try {
    const d = fromPatroniDynamic({
      ttl: 20,
      loop_wait: 5,
      retry_timeout: 5,
      postgresql: { parameters: { max_connections: 77, work_mem: "8MB" } },
      standby_cluster: { host: "10.0.0.1", port: 5433 },
    });
    assertEquals(await writeDynamicCache(dir, d), false);
    assertEquals(await readDynamicCache(dir), null);
    await Deno.writeTextFile(`${dir}/PG_VERSION`, "15\n");
    assert(await writeDynamicCache(dir, d));
    const raw = JSON.parse(await Deno.readTextFile(dynamicCachePath(dir)));
    assertEquals(raw.loop_wait, 5);
    assertEquals(raw.postgresql.parameters, { max_connections: 77, work_mem: "8MB" });
    assertEquals(raw.standby_cluster, { host: "10.0.0.1", port: 5433 });
    assertEquals(await readDynamicCache(dir), d);
    // A corrupt or invalid cache is ignored, not trusted.
    await Deno.writeTextFile(dynamicCachePath(dir), JSON.stringify({ ttl: 1 }));
    assertEquals(await readDynamicCache(dir), null);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
