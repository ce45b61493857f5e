/**
 * The REST API of a real three-node cluster (agents through bin/pgwarden, PostgreSQL 15, etcd) with
 * `restapi.authentication` configured: status codes and JSON of every endpoint on the primary and the
 * replicas, Basic auth on the unsafe methods, malformed bodies refused without changing anything, config
 * PATCH/PUT applied by the members, and a scheduled then an immediate switchover seen in /cluster and /history.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import denoJson from "../../deno.json" with { type: "json" };
import { startCluster, type TestNode } from "../helpers/cluster.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const AUTH = { username: "admin", password: "api-pass" };
const GOOD = `Basic ${btoa(`${AUTH.username}:${AUTH.password}`)}`;
const BAD = `Basic ${btoa(`${AUTH.username}:nope`)}`;

type Json = Record<string, unknown>;

interface Reply {
  status: number;
  headers: Headers;
  text: string;
  json: unknown;
}

/** One request; `body` is sent verbatim (with its Content-Length), `auth` as the Authorization header. */
async function call(
  node: TestNode,
  method: string,
  path: string,
  o: { body?: string | Json; auth?: string } = {},
): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (o.auth) headers.authorization = o.auth;
  let body: string | undefined;
  if (o.body !== undefined) {
    body = typeof o.body === "string" ? o.body : JSON.stringify(o.body);
    headers["content-type"] = "application/json";
  }
  const r = await fetch(`http://127.0.0.1:${node.apiPort}${path}`, {
    method,
    headers,
    ...(body !== undefined ? { body } : {}),
    signal: AbortSignal.timeout(60_000),
  });
  const text = await r.text();
  let json: unknown = undefined;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: r.status, headers: r.headers, text, json };
}

const get = async (n: TestNode, path: string) => (await call(n, "GET", path)).json as Json;

async function sqlValue(node: TestNode, query: string): Promise<string> {
  const sql = node.sql();
  try {
    const rows = await sql.unsafe(query);
    return String(Object.values(rows[0] as Json)[0]);
  } finally {
    await sql.end();
  }
}

Deno.test("REST API of a real three-node cluster", opts, async (t) => {
  const cluster = await startCluster({
    nodes: 3,
    sequential: true,
    node: () => ({ extra: { restapi: { authentication: AUTH } } }),
  });
  try {
    const leader = await cluster.waitHealthy(3);
    const replicas = cluster.nodes.filter((n) => n !== leader);
    const all = [leader, ...replicas];

    await t.step("health checks: GET, HEAD and OPTIONS codes on the primary and the replicas", async () => {
      // path → [primary, replica]
      const want: [string, number, number][] = [
        ["/", 200, 503],
        ["/primary", 200, 503],
        ["/read-write", 200, 503],
        ["/leader", 200, 503],
        ["/standby-leader", 503, 503],
        ["/replica", 503, 200],
        ["/replica?lag=1GB", 503, 200],
        ["/replica?tag_nofailover=true", 503, 503],
        ["/read-only", 200, 200],
        ["/async", 503, 200],
        ["/sync", 503, 503],
        ["/health", 200, 200],
        ["/liveness", 200, 200],
        ["/readiness", 200, 200],
        ["/no-such-path", 503, 503],
      ];
      for (const [path, p, r] of want) {
        for (const n of all) {
          const code = n === leader ? p : r;
          const g = await call(n, "GET", path);
          // On a mismatch, say what the member reported: a health code is a function of that state.
          const state = g.status === code
            ? ""
            : `; GET /patroni: ${JSON.stringify((await call(n, "GET", "/patroni")).json)}`;
          assertEquals(g.status, code, `GET ${path} on ${n.name}${state}`);
          if (!["/liveness", "/readiness"].includes(path)) {
            assertEquals((g.json as Json).state, "running", `GET ${path} on ${n.name} has the status body`);
            assertEquals(g.headers.get("content-type"), "application/json");
          }
          for (const m of ["HEAD", "OPTIONS"]) {
            const b = await call(n, m, path);
            assertEquals([b.status, b.text], [code, ""], `${m} ${path} on ${n.name}`);
          }
        }
      }
    });

    await t.step("GET /patroni: the status document on the primary and the replicas", async () => {
      // The document reflects the last HA cycle: the walsenders appear within a loop of the replicas starting.
      const p = await cluster.waitFor("both walsenders in the primary's /patroni", async () => {
        const d = await get(leader, "/patroni");
        return (d.replication as Json[] | undefined)?.length === 2 ? d : null;
      }, 10_000);
      assertEquals([p.state, p.role, p.timeline], ["running", "primary", 1]);
      assert(typeof p.server_version === "number" && p.server_version >= 150000 && p.server_version < 160000);
      assert(typeof (p.xlog as Json).location === "number" && (p.xlog as Json).location as number > 0);
      assertEquals(p.patroni, { version: denoJson.version, scope: cluster.opts.scope, name: leader.name });
      assert(
        Math.abs((p.dcs_last_seen as number) - Date.now() / 1000) < 30,
        `dcs_last_seen ${p.dcs_last_seen}`,
      );
      assertEquals("pending_restart" in p, false);
      const repl = (p.replication as Json[]).map((
        r,
      ) => [r.usename, r.application_name, r.client_addr, r.state]);
      assertEquals(repl, replicas.map((r) => ["replicator", r.name, "127.0.0.1", "streaming"]));
      for (const r of replicas) {
        const d = await get(r, "/patroni");
        assertEquals([d.state, d.role, d.timeline, d.replication_state], [
          "running",
          "replica",
          1,
          "streaming",
        ]);
        const x = d.xlog as Json;
        assert(
          typeof x.received_location === "number" && typeof x.replayed_location === "number",
          `${r.name}`,
        );
        assertEquals(x.paused, false);
        assertEquals(d.database_system_identifier, p.database_system_identifier);
        assertEquals((d.patroni as Json).name, r.name);
      }
    });

    await t.step("GET /cluster and /history: members, roles, lags from any member", async () => {
      for (const n of all) {
        const c = await get(n, "/cluster");
        assertEquals(c.scope, cluster.opts.scope);
        const members = c.members as Json[];
        assertEquals(members.map((m) => m.name), ["node1", "node2", "node3"]);
        for (const m of members) {
          const node = cluster.node(m.name as string);
          assertEquals(
            [m.role, m.state, m.host, m.port, m.timeline, m.api_url],
            [
              node === leader ? "leader" : "replica",
              node === leader ? "running" : "streaming",
              "127.0.0.1",
              node.pgPort,
              1,
              `http://127.0.0.1:${node.apiPort}/patroni`,
            ],
          );
          if (node === leader) {
            assertEquals("lag" in m, false);
          } else {
            for (const k of ["lsn", "receive_lsn", "replay_lsn"]) {
              assert(/^[0-9A-F]+\/[0-9A-F]+$/.test(m[k] as string));
            }
            for (const k of ["lag", "receive_lag", "replay_lag"]) {
              assert(typeof m[k] === "number", `${k}: ${m[k]}`);
            }
          }
        }
        assertEquals("pause" in c || "scheduled_switchover" in c || "citus_groups" in c, false);
        assertEquals(await get(n, "/history"), [] as unknown as Json);
      }
    });

    await t.step("GET /metrics and /explain", async () => {
      for (const n of all) {
        const m = await call(n, "GET", "/metrics");
        assertEquals([m.status, m.headers.get("content-type")], [200, "text/plain"]);
        const labels = `{scope="${cluster.opts.scope}",name="${n.name}"}`;
        const value = (metric: string) => {
          const line = m.text.split("\n").find((l) => l.startsWith(`${metric}${labels} `));
          assert(line, `${metric} on ${n.name}`);
          return Number(line.split(" ")[1]);
        };
        assertEquals(
          [value("patroni_primary"), value("patroni_replica"), value("patroni_postgres_running")],
          [n === leader ? 1 : 0, n === leader ? 0 : 1, 1],
        );
        assertEquals([value("patroni_postgres_timeline"), value("patroni_is_paused")], [1, 0]);
        assertEquals(value("patroni_postgres_streaming"), n === leader ? 0 : 1);
        assert(value(n === leader ? "patroni_xlog_location" : "patroni_xlog_replayed_location") > 0);
        const e = await call(n, "GET", "/explain");
        assertEquals(e.status, 200);
        const ex = e.json as Json;
        assertEquals(
          [ex.code, ex.action],
          n === leader ? ["steady_leader", "lead"] : ["steady_replica", "follow"],
        );
        assert(String(ex.message).includes(n.name));
        assert(!Number.isNaN(Date.parse(ex.at as string)));
      }
    });

    await t.step("unsafe methods without or with wrong credentials: 401 and nothing happens", async () => {
      const before = await get(leader, "/config");
      const pids = all.map((n) => n.postmasterPid());
      const unsafe: [string, string, Json | undefined][] = [
        ["PATCH", "/config", { ttl: 20 }],
        ["PUT", "/config", { ttl: 20 }],
        ["POST", "/switchover", { leader: leader.name, candidate: replicas[0]!.name }],
        ["POST", "/failover", { candidate: replicas[0]!.name }],
        ["DELETE", "/switchover", undefined],
        ["POST", "/restart", {}],
        ["DELETE", "/restart", undefined],
        ["POST", "/reload", {}],
        ["POST", "/reinitialize", {}],
        ["POST", "/sigterm", {}],
      ];
      for (const [method, path, body] of unsafe) {
        for (const [auth, msg] of [[undefined, "no auth header received"], [BAD, "not authenticated"]]) {
          const n = method === "POST" && path === "/reinitialize" ? replicas[0]! : leader;
          const r = await call(n, method, path, { ...(body ? { body } : {}), ...(auth ? { auth } : {}) });
          assertEquals(
            [r.status, r.text],
            [401, msg],
            `${method} ${path} ${auth ? "bad" : "no"} credentials`,
          );
          assertEquals(r.headers.get("www-authenticate"), 'Basic realm="Patroni"');
        }
      }
      assertEquals(await get(leader, "/config"), before);
      assertEquals(all.map((n) => n.postmasterPid()), pids);
      assertEquals((await cluster.leader())?.name, leader.name);
      for (const n of all) assert(n.proc, `${n.name} agent still running`);
    });

    await t.step(
      "malformed or impossible requests: 400/411/412/422 with a message, no state change",
      async () => {
        const before = await get(leader, "/config");
        const pids = all.map((n) => n.postmasterPid());
        const r0 = replicas[0]!.name;
        const cases: [string, string, string | Json, number, RegExp][] = [
          ["PATCH", "/config", "{not json", 400, /^Bad Request: invalid JSON body/],
          ["PATCH", "/config", "[1, 2]", 400, /^Bad Request: the body must be a JSON object$/],
          ["PATCH", "/config", "", 400, /^Bad Request: invalid JSON body/],
          ["PATCH", "/config", { ttl: "soon" }, 400, /^Bad Request: invalid configuration: ttl: /],
          ["PUT", "/config", { loop_wait: -1 }, 400, /^Bad Request: invalid configuration: loop_wait: /],
          ["POST", "/switchover", "nope", 400, /^Bad Request: invalid JSON body/],
          ["POST", "/switchover", {}, 400, /^Bad Request: the body must be a non-empty JSON object$/],
          [
            "POST",
            "/switchover",
            { candidate: r0 },
            400,
            /^Switchover could be performed only from a specific leader$/,
          ],
          [
            "POST",
            "/failover",
            { leader: leader.name },
            400,
            /^Failover could be performed only to a specific candidate$/,
          ],
          [
            "POST",
            "/switchover",
            { leader: leader.name, candidate: leader.name },
            400,
            /^Switchover target and source are the same$/,
          ],
          ["POST", "/switchover", { leader: "ghost", candidate: r0 }, 412, /^leader name does not match$/],
          [
            "POST",
            "/switchover",
            { leader: leader.name, candidate: "ghost" },
            412,
            /^candidate does not exists$/,
          ],
          ["POST", "/switchover", { leader: leader.name, scheduled_at: "tomorrow-ish" }, 422, /./],
          [
            "POST",
            "/restart",
            { role: "boss" },
            400,
            /^PostgreSQL role should be either primary, standby_leader, or replica$/,
          ],
          ["POST", "/restart", { bogus: 1 }, 400, /^Unknown filter for the scheduled restart: bogus$/],
          ["POST", "/reinitialize", {}, 503, /^I am the leader, can not reinitialize$/],
        ];
        for (const [method, path, body, code, msg] of cases) {
          const r = await call(leader, method, path, { body, auth: GOOD });
          assertEquals(r.status, code, `${method} ${path} ${JSON.stringify(body)}: ${r.text}`);
          assert(msg.test(r.text), `${method} ${path} ${JSON.stringify(body)}: ${r.text}`);
        }
        // A body-less POST to an endpoint that needs one: Content-Length is 0, so it is an empty, invalid body.
        const empty = await call(leader, "POST", "/switchover", { auth: GOOD });
        assert([400, 411].includes(empty.status), `${empty.status} ${empty.text}`);
        const failover = await call(leader, "POST", "/switchover", { body: "{}", auth: GOOD });
        assertEquals(failover.status, 400);
        assertEquals(await get(leader, "/config"), before);
        assertEquals(all.map((n) => n.postmasterPid()), pids);
        const c = await get(leader, "/cluster");
        assertEquals("scheduled_switchover" in c, false, "no failover key was written");
        assertEquals((await cluster.leader())?.name, leader.name);
        // Unknown method on a known path.
        const del = await call(leader, "DELETE", "/patroni", { auth: GOOD });
        assertEquals([del.status, del.text], [501, 'Not Implemented: Unsupported method ("DELETE")']);
      },
    );

    await t.step("PATCH and PUT /config with credentials reach every member", async () => {
      const p = await call(leader, "PATCH", "/config", {
        body: { postgresql: { parameters: { work_mem: "8MB" } } },
        auth: GOOD,
      });
      assertEquals(p.status, 200, p.text);
      assertEquals(((p.json as Json & { postgresql: Json }).postgresql.parameters as Json).work_mem, "8MB");
      for (const n of all) {
        await cluster.waitFor(
          `work_mem 8MB on ${n.name}`,
          async () => (await sqlValue(n, "SHOW work_mem")) === "8MB",
        );
        const cfg = await get(n, "/config") as { postgresql: { parameters: Json } };
        assertEquals(cfg.postgresql.parameters.work_mem, "8MB");
      }
      const dry = await call(leader, "PATCH", "/config?dry_run=1", {
        body: { postgresql: { parameters: { max_connections: 70 } } },
        auth: GOOD,
      });
      assertEquals(dry.status, 200, dry.text);
      assertEquals((dry.json as Json).restart_parameters, ["max_connections"]);
      const del = await call(leader, "PATCH", "/config", {
        body: { postgresql: { parameters: { work_mem: null } } },
        auth: GOOD,
      });
      assertEquals(del.status, 200, del.text);
      for (const n of all) {
        await cluster.waitFor(
          `work_mem back to 4MB on ${n.name}`,
          async () => (await sqlValue(n, "SHOW work_mem")) === "4MB",
        );
      }
      const current = await get(leader, "/config");
      const put = await call(leader, "PUT", "/config", {
        body: { ...current, max_timelines_history: 7 },
        auth: GOOD,
      });
      assertEquals([put.status, (put.json as Json).max_timelines_history], [200, 7], put.text);
      for (const n of all) {
        await cluster.waitFor(
          `PUT seen by ${n.name}`,
          async () => (await get(n, "/config")).max_timelines_history === 7,
        );
      }
      assertEquals(await sqlValue(leader, "SHOW max_connections"), "50", "the dry run changed nothing");
    });

    await t.step(
      "a scheduled switchover shows in /cluster and is cancelled by DELETE /switchover",
      async () => {
        const at = new Date(Date.now() + 3600_000).toISOString();
        const s = await call(leader, "POST", "/switchover", {
          body: { leader: leader.name, scheduled_at: at },
          auth: GOOD,
        });
        assertEquals([s.status, s.text], [202, "Switchover scheduled"]);
        for (const n of all) {
          const sw = (await get(n, "/cluster")).scheduled_switchover as Json;
          assertEquals([Date.parse(sw.at as string), sw.from], [Date.parse(at), leader.name], n.name);
        }
        const d = await call(replicas[1]!, "DELETE", "/switchover", { auth: GOOD });
        assertEquals([d.status, d.text], [200, "scheduled switchover deleted"]);
        const again = await call(leader, "DELETE", "/switchover", { auth: GOOD });
        assertEquals([again.status, again.text], [404, "no switchover is scheduled"]);
        assertEquals("scheduled_switchover" in await get(leader, "/cluster"), false);
      },
    );

    await t.step(
      "an immediate switchover with credentials: new leader, timeline 2, history entry",
      async () => {
        const target = replicas[0]!;
        const r = await call(replicas[1]!, "POST", "/switchover", {
          body: { leader: leader.name, candidate: target.name },
          auth: GOOD,
        });
        assertEquals([r.status, r.text], [200, `Successfully switched over to "${target.name}"`]);
        assertEquals((await cluster.waitHealthy(3)).name, target.name);
        const history = await get(leader, "/history") as unknown as unknown[][];
        assertEquals(history.length, 1);
        const [tl, lsn, reason, ts, newLeader] = history[0]!;
        assertEquals([tl, typeof lsn, typeof reason, newLeader], [1, "number", "string", target.name]);
        assert(!Number.isNaN(Date.parse(ts as string)));
        const p = await get(target, "/patroni");
        assertEquals([p.role, p.timeline], ["primary", 2]);
        assertEquals(
          "pending_restart" in p,
          false,
          `a promoted replica needs no restart: ${JSON.stringify(p)}`,
        );
        assertEquals([
          (await call(target, "GET", "/primary")).status,
          (await call(leader, "GET", "/primary")).status,
        ], [
          200,
          503,
        ]);
        await cluster.waitFor(
          "old leader healthy as a replica",
          async () => (await call(leader, "GET", "/replica")).status === 200,
        );
      },
    );
  } finally {
    await cluster.stop();
  }
});
