import assert from "node:assert/strict";
import type { KvEvent, KvPair } from "./kv.ts";
import { KvCache, type StreamFn } from "./kv_cache.ts";

const kv = (key: string, value: string, rev: number, lease = "0"): KvPair => ({
  key,
  value,
  createRevision: String(rev),
  modRevision: String(rev),
  lease,
});

/** A cache on a hand-driven stream: the test decides when the stream confirms and what it delivers. */
function harness() {
  let now = 0;
  let push: ((rev: string, ev: KvEvent[]) => void) | null = null;
  let created: (() => void) | null = null;
  let end: (() => void) | null = null;
  const stream: StreamFn = (_prefix, _from, h, signal) => {
    push = h.onEvents;
    created = h.onCreated;
    return new Promise((resolve) => {
      end = () => resolve({ compacted: false });
      signal.addEventListener("abort", () => resolve({ compacted: false }), { once: true });
    });
  };
  const cache = new KvCache(stream, "/s/c/", { now: () => now, relevant: (k) => k === "/s/c/leader" });
  return {
    cache,
    confirm: () => created!(),
    push: (rev: number, ev: KvEvent[]) => push!(String(rev), ev),
    end: () => end!(),
    advance: (ms: number) => (now += ms),
  };
}

const MAX_AGE = 10_000;

Deno.test("KvCache answers only once proven current, never from a copy behind the store", async () => {
  const h = harness();
  h.cache.seed("5", [kv("/s/c/leader", "a", 3, "7"), kv("/s/c/members/a", "{}", 5)]);
  assert.equal(
    await h.cache.read(MAX_AGE, 10, { atLeast: "5" }),
    null,
    "not live before the stream is confirmed",
  );
  h.confirm();
  assert.equal((await h.cache.read(MAX_AGE, 10, { atLeast: "5" }))?.kvs.length, 2);
  // The store moved to 6 (a write of ours or not): the copy must not answer until it saw revision 6.
  assert.equal(await h.cache.read(MAX_AGE, 20, { atLeast: "6" }), null);
  const pending = h.cache.read(MAX_AGE, 1000, { atLeast: "6" });
  h.push(6, [{ type: "delete", kv: kv("/s/c/leader", "", 6) }]);
  assert.deepEqual((await pending)?.kvs.map((k) => k.key), ["/s/c/members/a"]);
});

Deno.test("KvCache proof by summary: same count and nothing modified after the copy", async () => {
  const h = harness();
  h.cache.seed("5", [kv("/s/c/leader", "a", 3), kv("/s/c/members/a", "{}", 5)]);
  h.confirm();
  // Other clusters wrote: the store is at 9, our keys did not change.
  const ok = await h.cache.read(MAX_AGE, 10, { summary: { revision: "9", count: 2, maxModRevision: "5" } });
  assert.equal(ok?.revision, "9");
  // A key of ours was deleted (count differs) or modified (newer mod revision) and the event is not here yet.
  assert.equal(
    await h.cache.read(MAX_AGE, 10, { summary: { revision: "10", count: 1, maxModRevision: "5" } }),
    null,
  );
  assert.equal(
    await h.cache.read(MAX_AGE, 10, { summary: { revision: "10", count: 2, maxModRevision: "10" } }),
    null,
  );
});

Deno.test("KvCache waits for our own writes, expires after maxAge, and dies with its stream", async () => {
  const h = harness();
  h.cache.seed("5", [kv("/s/c/members/a", "{}", 5)]);
  h.confirm();
  h.cache.expect("/s/c/config", "8");
  assert.equal(await h.cache.read(MAX_AGE, 10, { atLeast: "5" }), null, "own write not seen yet");
  h.push(8, [{ type: "put", kv: kv("/s/c/config", "{}", 8) }]);
  assert.ok(await h.cache.read(MAX_AGE, 10, { atLeast: "8" }));
  h.advance(MAX_AGE);
  assert.equal(h.cache.live(MAX_AGE), false, "a copy older than maxAge is re-read");
  h.cache.seed("8", [kv("/s/c/members/a", "{}", 5)]);
  h.confirm();
  assert.equal(h.cache.live(MAX_AGE), true);
  h.end();
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(h.cache.live(MAX_AGE), false, "an ended stream leaves no trusted copy");
});

Deno.test("KvCache wakes the loop for a watched key changed after the last read", async () => {
  const h = harness();
  h.cache.seed("5", [kv("/s/c/leader", "a", 5)]);
  h.confirm();
  assert.equal(await h.cache.changedAfter("5", 10), false, "nothing changed");
  const woke = h.cache.changedAfter("5", 1000);
  h.push(6, [{ type: "put", kv: kv("/s/c/members/b", "{}", 6) }]); // not a watched key
  h.push(7, [{ type: "delete", kv: kv("/s/c/leader", "", 7) }]);
  assert.equal(await woke, true);
  assert.equal(await h.cache.changedAfter("6", 10), true, "a change between the read and the wait counts");
  h.cache.invalidate();
  assert.equal(h.cache.changedAfter("7", 10), null, "no copy: the caller watches the store");
});
