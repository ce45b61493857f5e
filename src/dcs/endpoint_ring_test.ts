import assert from "node:assert/strict";
import { EndpointRing, SKIP_FAILED_ENDPOINT_MS } from "./endpoint_ring.ts";

function ring() {
  let t = 1_000_000;
  const r = new EndpointRing(["e0", "e1", "e2"], () => t);
  return { r, advance: (ms: number) => t += ms };
}

Deno.test("endpoint ring: sticks to the current endpoint and moves past a failed one", () => {
  const { r } = ring();
  assert.equal(r.pick().value, "e0");
  assert.equal(r.pick().value, "e0");
  r.failed(r.pick());
  assert.equal(r.pick().value, "e1");
  assert.equal(r.pick().value, "e1", "stays on the next one, not back to e0");
});

Deno.test("endpoint ring: a failed endpoint is skipped for a while, then usable again", () => {
  const { r, advance } = ring();
  r.failed(r.pick()); // e0
  r.failed(r.pick()); // e1
  assert.equal(r.pick().value, "e2");
  r.failed(r.pick()); // e2: all failed, e0 longest ago
  advance(SKIP_FAILED_ENDPOINT_MS + 1);
  assert.equal(r.pick().value, "e0");
});

// The sequence traced against a real cluster when the etcd leader (e2) hung: e0 had failed a few seconds
// earlier; a keepalive on the healthy follower e1 timed out (forwarded to the hung leader), the next attempt
// went to the hung e2. Rotation then chose e1 and then e2 again for the next request: retry_timeout spent.
Deno.test("endpoint ring: with every endpoint failed, the oldest failure is tried, and kept while it works", () => {
  const { r, advance } = ring();
  r.failed(r.pick()); // e0 fails
  advance(3000);
  assert.equal(r.pick().value, "e1");
  r.failed(r.pick()); // e1 times out
  assert.equal(r.pick().value, "e2");
  r.failed(r.pick()); // e2 (hung) times out
  advance(1500);
  assert.equal(r.pick().value, "e0", "all failed: the oldest failure (e0) is tried");
  assert.equal(r.pick().value, "e0", "and kept (it did not fail again)");
  advance(1000); // e0's skip has run out, e1's and e2's have not
  assert.equal(r.pick().value, "e0");
  r.failed(r.pick()); // e0 fails again: e1 is now the oldest failure
  assert.equal(r.pick().value, "e1");
});

Deno.test("endpoint ring: needs at least one endpoint", () => {
  assert.throws(() => new EndpointRing([]), /at least one endpoint/);
});
