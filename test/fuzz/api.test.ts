/**
 * Fuzzing the REST router with bad requests: random methods and paths, bodies that are not JSON, JSON that is
 * not an object, mutated versions of valid bodies (fields of the wrong type, unknown keys), wrong or missing
 * Content-Length. The router must answer every request with a status (no exception, no 500); a refused request
 * (4xx) changes neither the DCS nor the agent; a body that cannot be read as a JSON object is always refused;
 * an accepted config edit leaves a valid dynamic configuration in the DCS.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { harness, type RequestInit } from "../helpers/api_harness.ts";
import { fromPatroniDynamic } from "../../src/config/dynamic.ts";
import { buildView, FakeAgent, keyPath, memoryDcs, threeNodeSeed } from "../helpers/fake_agent.ts";
import { type Json, jsonValue, mutate, mutateText, Prng, randomString } from "./gen.ts";

/** Endpoints with a JSON body and a valid example of it. */
const BODIES: Record<string, Json> = {
  "PATCH /config": { loop_wait: 5, postgresql: { parameters: { work_mem: "8MB" } } },
  "PUT /config": { ttl: 30, loop_wait: 10, retry_timeout: 10 },
  "POST /switchover": { leader: "node1", candidate: "node2", scheduled_at: "2030-01-01T00:00:00+00:00" },
  "POST /failover": { candidate: "node2" },
  "POST /restart": {
    schedule: "2030-01-01T00:00:00+00:00",
    role: "primary",
    postgres_version: "15.4",
    timeout: 30,
  },
  "POST /reinitialize": { force: true, from_leader: false },
  "POST /failsafe": {
    name: "node2",
    conn_url: "postgres://127.0.0.1:5433/postgres",
    api_url: "http://x/patroni",
  },
  "POST /citus": { type: "before_demote", group: 1, leader: "node1", timeout: 30, cooldown: 10 },
};
const BODY_ENDPOINTS = Object.keys(BODIES);
const OTHER = [
  "GET /patroni",
  "GET /cluster",
  "GET /history",
  "GET /config",
  "GET /primary?lag=1MB",
  "GET /replica?lag=abc&tag_x=1",
  "GET /read-write",
  "GET /health",
  "GET /readiness?lag=-1",
  "GET /liveness",
  "GET /metrics",
  "GET /failsafe",
  "HEAD /primary",
  "OPTIONS /replica",
  "DELETE /switchover",
  "DELETE /restart",
  "POST /reload",
  "POST /mpp",
];
const METHODS = ["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE", "TRACE", "BREW", ""];

interface Case {
  method: string;
  target: string;
  init: RequestInit;
  /** The body cannot be read as a JSON object. */
  unreadable: boolean;
}

function isObjectJson(text: string): boolean {
  try {
    const v = JSON.parse(text);
    return v !== null && typeof v === "object" && !Array.isArray(v);
  } catch {
    return false;
  }
}

function makeCase(rng: Prng): Case {
  const roll = rng.int(0, 9);
  if (roll === 0) {
    // Anything at all.
    return {
      method: rng.pick(METHODS),
      target: `/${mutateText(rng, rng.pick([...BODY_ENDPOINTS, ...OTHER]).split(" ")[1]!.slice(1))}`.replace(
        /^\/+/,
        "/",
      ),
      init: rng.chance(0.5) ? { raw: randomString(rng, rng.int(0, 40)) } : {},
      unreadable: false,
    };
  }
  if (roll <= 2) {
    const [method, target] = rng.pick(OTHER).split(" ") as [string, string];
    return {
      method,
      target: rng.chance(0.3) ? mutateText(rng, target) : target,
      init: {},
      unreadable: false,
    };
  }
  const ep = rng.pick(BODY_ENDPOINTS);
  const [method, target] = ep.split(" ") as [string, string];
  const valid = JSON.stringify(BODIES[ep]);
  let raw: string;
  switch (rng.int(0, 4)) {
    case 0:
      raw = mutateText(rng, valid);
      break;
    case 1:
      raw = JSON.stringify(jsonValue(rng));
      break;
    case 2:
      raw = randomString(rng, rng.int(0, 30));
      break;
    default:
      raw = JSON.stringify(mutate(rng, BODIES[ep]!));
  }
  const init: RequestInit = { raw };
  const header = rng.next();
  if (header < 0.1) init.noLength = true;
  else if (header < 0.2) init.headers = { "content-length": String(rng.int(-5, 500)) };
  return { method, target, init, unreadable: !isObjectJson(raw) };
}

Deno.test("REST router: 5000 malformed requests get a status; unreadable bodies are refused without effect", async () => {
  const rng = new Prng(8001);
  const statuses = new Map<number, number>();
  let refusedUnreadable = 0;
  for (let i = 0; i < 5000; i++) {
    const c = makeCase(rng);
    const { store, dcs } = memoryDcs(threeNodeSeed());
    const agent = new FakeAgent(
      buildView(rng.chance(0.5) ? "primary" : "replica", { cluster: await dcs.getCluster() }),
      dcs,
    );
    const h = harness(agent);
    const revision = store.revision;
    let res;
    try {
      res = await h.call(c.method, c.target, c.init);
    } catch (e) {
      throw new Error(`case ${i} threw: ${e instanceof Error ? e.stack : e}\n${JSON.stringify(c)}`);
    }
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    const shown = `case ${i}: ${JSON.stringify(c)} -> ${res.status} ${res.body ?? ""}`;
    assert(res.status >= 200 && res.status < 600, shown);
    // The one deliberate 500: a primary refusing POST /failsafe (Patroni's "Running as a leader").
    assert(res.status !== 500 || res.body === "Running as a leader", `internal error: ${shown}`);
    if (res.status >= 400) {
      // A refused request changes nothing.
      assertEquals(store.revision, revision, `DCS changed by a refused request: ${shown}`);
      // Calls whose own answer was the refusal (nothing scheduled to cancel, a primary refusing failsafe).
      const acting = agent.calls.filter((x) => !["cancelScheduledRestart", "acceptFailsafe"].includes(x.op));
      assertEquals([acting, agent.wakes], [[], 0], `agent touched by a refused request: ${shown}`);
    } else if (c.target === "/config" && c.method !== "GET") {
      // An accepted config edit stores a document every agent can use.
      const stored = JSON.parse(store.rawGet(keyPath("config")) ?? "null");
      try {
        fromPatroniDynamic(stored);
      } catch (e) {
        throw new Error(`invalid dynamic config stored (${e}): ${shown}`);
      }
    }
    if (!c.unreadable) continue;
    // POST /restart and /reinitialize also work without a body (as in Patroni).
    const optional = ["/restart", "/reinitialize"].includes(c.target);
    if (optional && (c.init.noLength || c.init.raw?.trim() === "")) continue;
    // 502: POST /failsafe while failsafe_mode is off refuses before reading the body (as Patroni does).
    const refused = (res.status >= 400 && res.status < 500) ||
      (c.target === "/failsafe" && res.status === 502);
    assert(refused, `unreadable body accepted: ${shown}`);
    assertEquals(store.revision, revision, `DCS changed: ${shown}`);
    assertEquals([agent.calls, agent.wakes], [[], 0], `agent touched: ${shown}`);
    refusedUnreadable++;
  }
  assert(refusedUnreadable > 500, `only ${refusedUnreadable} unreadable bodies: generator too tame`);
  assert(statuses.size > 4, JSON.stringify([...statuses]));
});
