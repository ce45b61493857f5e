import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { type ConfigInput, ConfigSchema } from "../../src/config/schema.ts";
import { DynamicConfigSchema } from "../../src/config/dynamic.ts";
import { effectiveParameters } from "../../src/postgres/config_file.ts";
import { CoordinatorNotifier, withCoordinatorNotifications } from "../../src/citus/notify.ts";
import { type AgentHooks, type HookContext, noHooks } from "../../src/agent/hooks.ts";
import { createLogger } from "../../src/agent/log.ts";
import { emptySnapshot } from "../../src/dcs/types.ts";
import { citusLibraryPaths } from "../../src/citus/library.ts";

function cfg(extra: Partial<ConfigInput> = {}, parameters: Record<string, string | number> = {}) {
  return ConfigSchema.parse({
    name: "w1",
    scope: "demo",
    memory: {},
    restapi: { listen: "127.0.0.1:8008" },
    citus: { group: 1, database: "citus" },
    postgresql: { listen: "127.0.0.1:5432", dataDir: "/var/lib/pg/data", parameters },
    ...extra,
  });
}

Deno.test("Citus GUCs: citus first in shared_preload_libraries, 2PC slots, logical WAL, local hostname", () => {
  const { parameters } = effectiveParameters({
    config: cfg({}, { shared_preload_libraries: "pg_stat_statements,citus" }),
    dynamic: DynamicConfigSchema.parse({ postgresql: { parameters: { max_connections: 40 } } }),
    majorVersion: 15,
    citusLibrary: true,
  });
  assertEquals(parameters.shared_preload_libraries, "citus,pg_stat_statements");
  assertEquals(parameters.max_prepared_transactions, 80);
  assertEquals(parameters.wal_level, "logical");
  assertEquals(parameters["citus.local_hostname"], "127.0.0.1");
});

Deno.test("Citus GUCs: an explicit max_prepared_transactions stays; no citus library, no preload", () => {
  const { parameters, warnings } = effectiveParameters({
    config: cfg(),
    dynamic: DynamicConfigSchema.parse({ postgresql: { parameters: { max_prepared_transactions: 7 } } }),
    majorVersion: 15,
    citusLibrary: false,
  });
  assertEquals(parameters.shared_preload_libraries, undefined);
  assertEquals(parameters.max_prepared_transactions, 7);
  assert(warnings.some((w) => w.includes("Citus is not installed")));
  const plain = effectiveParameters({ config: cfg({ citus: undefined }), dynamic: null, majorVersion: 15 });
  assertEquals(plain.parameters["citus.local_hostname"], undefined);
  assertEquals(plain.parameters.max_prepared_transactions, 0);
});

Deno.test("citusLibraryPaths looks next to the binaries", () => {
  assertEquals(citusLibraryPaths("/usr/lib/postgresql/15/bin/"), [
    "/usr/lib/postgresql/15/lib/citus.so",
    "/usr/lib/postgresql/15/lib/postgresql/citus.so",
  ]);
});

function notifier(
  posted: { url: string; body: Record<string, unknown>; timeoutMs?: number }[],
  apiUrl?: string,
) {
  const coordinator = {
    ...emptySnapshot(),
    leader: { name: "c1", version: "1" },
    members: apiUrl ? [{ name: "c1", version: "1", data: { api_url: apiUrl } }] : [],
  };
  return new CoordinatorNotifier({
    group: 2,
    name: "w1",
    timings: () => ({ ttlS: 30, retryTimeoutS: 10 }),
    readCoordinator: () => Promise.resolve(coordinator),
    auth: { username: "u", password: "p" },
    log: createLogger({ write: () => {} }),
    fetch: (input, init) => {
      posted.push({ url: String(input), body: JSON.parse(String(init?.body)) });
      assertEquals((init?.headers as Record<string, string>).authorization, "Basic " + btoa("u:p"));
      return Promise.resolve(new Response("OK"));
    },
  });
}

const ctx: HookContext = {
  scope: "s",
  name: "w1",
  role: "primary",
  timeline: 1,
  lsn: 0,
  reason: "switchover",
};

Deno.test("worker hooks POST Patroni's /citus events to the coordinator leader after the configured hooks", async () => {
  const posted: { url: string; body: Record<string, unknown> }[] = [];
  const order: string[] = [];
  const inner: AgentHooks = {
    beforeDemote: () => (order.push("inner demote"), Promise.resolve({ vetoed: false })),
    beforePromote: () => (order.push("inner promote"), Promise.resolve({ vetoed: false })),
    emit: (e) => void order.push(`inner ${e}`),
  };
  const h = withCoordinatorNotifications(inner, notifier(posted, "http://10.0.0.1:8008/patroni"));
  await h.beforeDemote(ctx);
  await h.beforePromote(ctx);
  h.emit("afterPromote", ctx);
  h.emit("onStart", ctx);
  await new Promise((r) => setTimeout(r, 10));
  assertEquals(order, ["inner demote", "inner promote", "inner afterPromote", "inner onStart"]);
  assertEquals(posted.map((p) => p.url), Array(3).fill("http://10.0.0.1:8008/citus"));
  assertEquals(posted.map((p) => p.body), [
    { type: "before_demote", group: 2, leader: "w1", timeout: 30, cooldown: 10 },
    { type: "before_promote", group: 2, leader: "w1", timeout: 30, cooldown: 10 },
    { type: "after_promote", group: 2, leader: "w1", timeout: 30, cooldown: 10 },
  ]);
});

Deno.test("a vetoed demotion never reaches the coordinator; a missing coordinator never blocks", async () => {
  const posted: { url: string; body: Record<string, unknown> }[] = [];
  const veto: AgentHooks = { ...noHooks, beforeDemote: () => Promise.resolve({ vetoed: true, by: "p" }) };
  const h = withCoordinatorNotifications(veto, notifier(posted, "http://10.0.0.1:8008/patroni"));
  assertEquals((await h.beforeDemote(ctx)).vetoed, true);
  assertEquals(posted, []);
  const none = withCoordinatorNotifications(noHooks, notifier(posted));
  assertEquals(await none.beforeDemote(ctx), { vetoed: false });
  assertEquals(posted, []);
});
