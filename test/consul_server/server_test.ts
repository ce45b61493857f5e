/**
 * The Consul test server against Consul's documented KV and session semantics, over plain HTTP (fetch), so
 * the adapter's own client library is not involved.
 */
import { type ConsulTestServer, startConsulServer } from "./server.ts";
import { formatGoDuration, parseGoDuration } from "./duration.ts";

function assert(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new Error(msg);
}
function assertEquals<T>(actual: T, expected: T, msg = ""): void {
  const a = JSON.stringify(actual), e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${msg} expected ${e}, got ${a}`);
}

interface Entry {
  Key: string;
  Value: string | null;
  Flags: number;
  LockIndex: number;
  Session?: string;
  CreateIndex: number;
  ModifyIndex: number;
}

class Api {
  constructor(readonly base: string) {}
  async req(
    method: string,
    path: string,
    body?: string,
  ): Promise<{ status: number; index: number; body: unknown }> {
    const res = await fetch(this.base + path, { method, body });
    const raw = await res.text();
    let parsed: unknown = raw;
    try {
      parsed = raw === "" ? null : JSON.parse(raw);
    } catch { /* plain-text error */ }
    return { status: res.status, index: Number(res.headers.get("x-consul-index") ?? "0"), body: parsed };
  }
  async session(body: Record<string, unknown>): Promise<string> {
    const r = await this.req("PUT", "/v1/session/create", JSON.stringify(body));
    assertEquals(r.status, 200, `session create ${JSON.stringify(r.body)}`);
    return (r.body as { ID: string }).ID;
  }
  async put(key: string, value: string, query = ""): Promise<boolean> {
    const r = await this.req("PUT", `/v1/kv/${key}${query}`, value);
    assertEquals(r.status, 200, `put ${key}${query}: ${JSON.stringify(r.body)}`);
    return r.body as boolean;
  }
  async get(key: string, query = ""): Promise<{ status: number; index: number; entry?: Entry }> {
    const r = await this.req("GET", `/v1/kv/${key}${query}`);
    return { status: r.status, index: r.index, entry: (r.body as Entry[] | null)?.[0] };
  }
  async del(key: string, query = ""): Promise<boolean> {
    const r = await this.req("DELETE", `/v1/kv/${key}${query}`);
    assertEquals(r.status, 200);
    return r.body as boolean;
  }
}

async function withServer(
  fn: (api: Api, srv: ConsulTestServer) => Promise<void>,
  opts: Parameters<typeof startConsulServer>[0] = {},
): Promise<void> {
  const srv = await startConsulServer({ sessionTtlMinMs: 500, ...opts });
  try {
    await fn(new Api(srv.url), srv);
  } finally {
    await srv.close();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const decode = (v: string | null) => (v === null ? null : atob(v));

Deno.test("Go durations parse and format like time.ParseDuration and Duration.String", () => {
  assertEquals(parseGoDuration("0.001s"), 1e6);
  assertEquals(parseGoDuration("1h2m3.5s"), 3723.5e9);
  assertEquals(parseGoDuration("500ms"), 5e8);
  assertEquals(parseGoDuration("0"), 0);
  for (const bad of ["", "5", "s", "1x"]) {
    let threw = false;
    try {
      parseGoDuration(bad);
    } catch {
      threw = true;
    }
    assert(threw, `expected ${JSON.stringify(bad)} to be rejected`);
  }
  assertEquals(formatGoDuration(10e9), "10s");
  assertEquals(formatGoDuration(24 * 3600e9), "24h0m0s");
  assertEquals(formatGoDuration(1.5e9), "1.5s");
  assertEquals(formatGoDuration(5e8), "500ms");
});

Deno.test("session create, info, renew and destroy follow the session API", () =>
  withServer(async (api) => {
    const id = await api.session({
      Name: "batman-node1",
      TTL: "10s",
      Behavior: "delete",
      LockDelay: "0.001s",
    });
    const info = await api.req("GET", `/v1/session/info/${id}`);
    const s = (info.body as Record<string, unknown>[])[0]!;
    assertEquals([s.ID, s.Name, s.Behavior, s.TTL, s.LockDelay], [id, "batman-node1", "delete", "10s", 1e6]);
    assertEquals(s.NodeChecks, ["serfHealth"], "default checks");
    assert(info.index > 0, "session info carries X-Consul-Index");
    assertEquals((await api.req("PUT", `/v1/session/renew/${id}`)).status, 200);
    assertEquals((await api.req("PUT", `/v1/session/destroy/${id}`)).body, true);
    const gone = await api.req("PUT", `/v1/session/renew/${id}`);
    assertEquals(gone.status, 404);
    assertEquals(gone.body, `Session id '${id}' not found`);
    assertEquals((await api.req("GET", `/v1/session/info/${id}`)).body, []);
    assertEquals((await api.req("PUT", `/v1/session/destroy/${id}`)).body, true, "destroy is idempotent");
    // A numeric LockDelay below 1000 means seconds; an explicit empty Checks list removes serfHealth.
    const id2 = await api.session({ LockDelay: 5, Checks: [] });
    const s2 = ((await api.req("GET", `/v1/session/info/${id2}`)).body as Record<string, unknown>[])[0]!;
    assertEquals([s2.LockDelay, s2.Behavior, s2.NodeChecks], [5e9, "release", []]);
  }));

Deno.test("session create rejects a TTL outside the limits, unknown behaviors and unknown checks", () =>
  withServer(async (api) => {
    const low = await api.req("PUT", "/v1/session/create", JSON.stringify({ TTL: "1s" }));
    assertEquals([low.status, low.body], [
      500,
      "Invalid Session TTL '1000000000', must be between [10s=24h0m0s]",
    ]);
    const high = await api.req("PUT", "/v1/session/create", JSON.stringify({ TTL: "25h" }));
    assertEquals(high.status, 500);
    const beh = await api.req("PUT", "/v1/session/create", JSON.stringify({ Behavior: "explode" }));
    assertEquals([beh.status, beh.body], [500, "Invalid Behavior setting 'explode'"]);
    const chk = await api.req("PUT", "/v1/session/create", JSON.stringify({ Checks: ["service:pg"] }));
    assertEquals([chk.status, chk.body], [500, "Missing check 'service:pg' registration"]);
    const ok = await api.req("PUT", "/v1/session/create", JSON.stringify({ TTL: "10s" }));
    assertEquals(ok.status, 200);
  }, { sessionTtlMinMs: 10_000 }));

Deno.test("a TTL session lives until twice its TTL without renewal, then its keys go by behavior", () =>
  withServer(async (api) => {
    const del = await api.session({ TTL: "1s", Behavior: "delete", LockDelay: "0s" });
    const rel = await api.session({ TTL: "1s", Behavior: "release", LockDelay: "0s" });
    assert(await api.put("k/del", "a", `?acquire=${del}`), "acquire del");
    assert(await api.put("k/rel", "b", `?acquire=${rel}`), "acquire rel");
    await sleep(1400); // past TTL, before 2×TTL
    assertEquals((await api.req("GET", `/v1/session/info/${del}`)).body instanceof Array, true);
    assertEquals(
      ((await api.req("GET", `/v1/session/info/${del}`)).body as unknown[]).length,
      1,
      "alive at 1.4s",
    );
    await sleep(1000); // past 2×TTL
    assertEquals((await api.req("PUT", `/v1/session/renew/${del}`)).status, 404);
    assertEquals((await api.get("k/del")).status, 404, "behavior=delete removes the key");
    const kept = (await api.get("k/rel")).entry!;
    assertEquals([decode(kept.Value), kept.Session, kept.LockIndex], ["b", undefined, 1], "behavior=release");
  }, { sessionTtlMinMs: 1000 }));

Deno.test("renewal extends a TTL session", () =>
  withServer(async (api) => {
    const id = await api.session({ TTL: "1s" });
    for (let i = 0; i < 5; i++) {
      await sleep(600);
      assertEquals((await api.req("PUT", `/v1/session/renew/${id}`)).status, 200, `renew ${i}`);
    }
  }, { sessionTtlMinMs: 1000 }));

Deno.test("acquire and release implement Consul's lock semantics", () =>
  withServer(async (api) => {
    const a = await api.session({ LockDelay: "0s" });
    const b = await api.session({ LockDelay: "0s" });
    assert(await api.put("lock", "A1", `?acquire=${a}`), "a acquires a missing key");
    let e = (await api.get("lock")).entry!;
    assertEquals([decode(e.Value), e.Session, e.LockIndex], ["A1", a, 1]);
    assertEquals(await api.put("lock", "B1", `?acquire=${b}`), false, "b is refused while a holds it");
    assert(await api.put("lock", "A2", `?acquire=${a}`), "the holder updates its value");
    e = (await api.get("lock")).entry!;
    assertEquals([decode(e.Value), e.LockIndex], ["A2", 1], "no LockIndex bump for the holder");
    assertEquals(await api.put("lock", "B2", `?release=${b}`), false, "only the holder releases");
    assert(await api.put("lock", "A3", `?release=${a}`), "a releases");
    e = (await api.get("lock")).entry!;
    assertEquals([decode(e.Value), e.Session, e.LockIndex], ["A3", undefined, 1]);
    assert(await api.put("lock", "B3", `?acquire=${b}`), "b acquires the released key");
    assertEquals((await api.get("lock")).entry!.LockIndex, 2);
    assert(await api.put("lock", "plain"), "a plain write proceeds although b holds the lock");
    assertEquals((await api.get("lock")).entry!.Session, b, "and keeps the holder");
    const bad = await api.req("PUT", "/v1/kv/lock2?acquire=00000000-0000-0000-0000-000000000000", "x");
    assertEquals([bad.status, bad.body], [500, 'invalid session "00000000-0000-0000-0000-000000000000"']);
    assertEquals(await api.put("nothing", "x", `?release=${a}`), false, "release of a missing key");
  }));

Deno.test("lock-delay refuses acquiring a key released by session invalidation, then expires", () =>
  withServer(async (api) => {
    const a = await api.session({ LockDelay: "1s", Behavior: "delete" });
    const b = await api.session({ LockDelay: "0s" });
    assert(await api.put("leader", "a", `?acquire=${a}`), "a acquires");
    await api.req("PUT", `/v1/session/destroy/${a}`);
    assertEquals((await api.get("leader")).status, 404, "behavior=delete");
    assertEquals(await api.put("leader", "b", `?acquire=${b}`), false, "refused during lock-delay");
    assert(await api.put("leader", "plain"), "plain writes are not subject to lock-delay");
    await api.del("leader");
    await sleep(1100);
    assert(await api.put("leader", "b", `?acquire=${b}`), "accepted after lock-delay");
    // A voluntary release starts no lock-delay.
    const c = await api.session({ LockDelay: "10s" });
    assert(await api.put("other", "c", `?acquire=${c}`), "c acquires");
    assert(await api.put("other", "c", `?release=${c}`), "c releases");
    assert(await api.put("other", "b", `?acquire=${b}`), "no delay after release");
  }));

Deno.test("cas writes and deletes compare the ModifyIndex; cas=0 creates only", () =>
  withServer(async (api) => {
    assert(await api.put("init", "1", "?cas=0"), "create-only on a missing key");
    assertEquals(await api.put("init", "2", "?cas=0"), false, "create-only on an existing key");
    const idx = (await api.get("init")).entry!.ModifyIndex;
    assertEquals(await api.put("init", "3", `?cas=${idx + 100}`), false, "stale index");
    assert(await api.put("init", "3", `?cas=${idx}`), "matching index");
    const e = (await api.get("init")).entry!;
    assert(e.ModifyIndex > idx, "ModifyIndex moves");
    assertEquals(e.CreateIndex, idx, "CreateIndex stays");
    assertEquals(await api.put("missing", "x", "?cas=5"), false, "non-zero cas on a missing key");
    assertEquals(await api.del("init", `?cas=${idx}`), false, "delete with a stale index");
    assertEquals(await api.del("init", "?cas=0"), false, "delete with cas=0 does nothing");
    assert(await api.del("init", `?cas=${e.ModifyIndex}`), "delete with the current index");
    assertEquals((await api.get("init")).status, 404);
    assert(await api.del("init", "?cas=7"), "cas delete of a missing key reports success");
  }));

Deno.test("values are base64 (empty is null), flags are kept, reads carry X-Consul-Index", () =>
  withServer(async (api) => {
    assert(await api.put("svc/a", "hello", "?flags=42"), "put");
    assert(await api.put("svc/b", ""), "put empty");
    const a = await api.get("svc/a");
    assertEquals([a.entry!.Value, a.entry!.Flags, a.index], [btoa("hello"), 42, a.entry!.ModifyIndex]);
    assertEquals((await api.get("svc/b")).entry!.Value, null);
    const list = await api.req("GET", "/v1/kv/svc/?recurse");
    assertEquals((list.body as Entry[]).map((x) => x.Key), ["svc/a", "svc/b"]);
    assertEquals(list.index, Math.max(...(list.body as Entry[]).map((x) => x.ModifyIndex)));
    const none = await api.req("GET", "/v1/kv/nothing/?recurse");
    assertEquals(none.status, 404);
    assert(none.index > 0, "404 reads still carry an index");
    assertEquals((await api.req("GET", "/v1/kv/svc/a?stale&consistent")).status, 400);
    assertEquals((await api.req("GET", "/v1/kv/svc/a?consistent")).status, 200);
    assertEquals((await api.req("GET", "/v1/kv/svc/a?dc=elsewhere")).status, 500);
    assert(await api.del("svc/", "?recurse"), "recursive delete");
    assertEquals((await api.req("GET", "/v1/kv/svc/?recurse")).status, 404);
  }));

Deno.test("a write that changes nothing keeps the ModifyIndex", () =>
  withServer(async (api) => {
    const s = await api.session({});
    assert(await api.put("m", "v", `?acquire=${s}`), "acquire");
    const before = (await api.get("m")).entry!.ModifyIndex;
    assert(await api.put("m", "v", `?acquire=${s}`), "same value again");
    assertEquals((await api.get("m")).entry!.ModifyIndex, before);
    assert(await api.put("m", "w", `?acquire=${s}`), "new value");
    assert((await api.get("m")).entry!.ModifyIndex > before, "a real change moves the index");
  }));

Deno.test("blocking queries wake on a change of the key, and return after wait otherwise", () =>
  withServer(async (api) => {
    await api.put("b/leader", "n1");
    const idx = (await api.get("b/leader")).index;
    let t0 = Date.now();
    const timedOut = await api.get("b/leader", `?index=${idx}&wait=300ms`);
    const waited = Date.now() - t0;
    assert(waited >= 290 && waited < 300 * 17 / 16 + 200, `wait honoured (${waited} ms)`);
    assertEquals(timedOut.index, idx, "unchanged index after the wait");

    t0 = Date.now();
    let returned = false;
    const pending = api.get("b/leader", `?index=${idx}&wait=5s`).then((x) => {
      returned = true;
      return x;
    });
    await sleep(100);
    await api.put("b/other", "x"); // outside the watched key: must not end the query
    await sleep(100);
    assertEquals(returned, false, "still blocked after an unrelated write");
    await api.put("b/leader", "n2");
    const woke = await pending;
    assert(Date.now() - t0 < 2000, "woken by the write");
    assertEquals(decode(woke.entry!.Value), "n2");
    assert(woke.index > idx, "index moved");

    // Deleting the key wakes it too; the index of a missing key is the table index.
    const pendingDel = api.get("b/leader", `?index=${woke.index}&wait=5s`);
    await sleep(100);
    await api.del("b/leader");
    const afterDel = await pendingDel;
    assertEquals(afterDel.status, 404);
    assert(afterDel.index > woke.index, "index moved on delete");

    // A recursive blocking query wakes on any key under the prefix, including deletions (tombstones).
    const list = await api.req("GET", "/v1/kv/b/?recurse");
    const pendingList = api.req("GET", `/v1/kv/b/?recurse&index=${list.index}&wait=5s`);
    await sleep(100);
    await api.put("c/unrelated", "x");
    await api.del("b/other");
    const listed = await pendingList;
    assertEquals(listed.status, 404, "nothing left under the prefix");
    assert(listed.index > list.index, "the tombstone moves the prefix index");
  }, { blockingJitter: true }));

Deno.test("index=0 never blocks and an invalid wait is refused", () =>
  withServer(async (api) => {
    const t0 = Date.now();
    await api.get("x", "?index=0&wait=5s");
    assert(Date.now() - t0 < 1000, "index=0 returns at once");
    assertEquals((await api.get("x", "?index=1&wait=soon")).status, 400);
  }));

Deno.test("injected faults: errors answer 500, a blackhole answers nothing and applies nothing", () =>
  withServer(async (api, srv) => {
    srv.setFault("error");
    const r = await api.req("GET", "/v1/kv/x");
    assertEquals([r.status, r.body], [500, "No cluster leader"]);
    srv.setFault("blackhole");
    let done = false;
    const pending = api.req("PUT", "/v1/kv/x", "v").then((x) => {
      done = true;
      return x;
    });
    await sleep(200);
    assertEquals(done, false, "no answer while the fault lasts");
    srv.setFault("none");
    assertEquals((await pending).status, 503);
    assertEquals((await api.get("x")).status, 404, "the dropped write was not applied");
    assert(srv.requestCount >= 3, "requests are counted");
  }));

Deno.test("expireSession invalidates at once, as a TTL expiry would", () =>
  withServer(async (api, srv) => {
    const s = await api.session({ Behavior: "delete", LockDelay: "0s" });
    await api.put("m", "v", `?acquire=${s}`);
    assert(srv.state.expireSession(s), "expired");
    assertEquals((await api.get("m")).status, 404);
    assertEquals((await api.req("PUT", `/v1/session/renew/${s}`)).status, 404);
  }));
