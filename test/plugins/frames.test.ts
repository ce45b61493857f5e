/** The jail's frame codec: values survive any split of the byte stream; anything else is a FrameError. */
import assert from "node:assert/strict";
import { encodeFrame, FrameDecoder, FrameError } from "../../src/plugins/frames.ts";

Deno.test("frames: values round-trip however the stream is cut", () => {
  const values = [
    { type: "call", id: 1, data: { lsn: 12345, at: new Date(0), tags: new Map([["a", 1]]) } },
    { type: "result", id: 1, value: null },
    "x".repeat(100_000),
  ];
  const bytes = new Uint8Array(values.map(encodeFrame).flatMap((f) => [...f]));
  for (const step of [1, 3, 7, 8, 9, 4096, bytes.length]) {
    const d = new FrameDecoder();
    const got: unknown[] = [];
    for (let i = 0; i < bytes.length; i += step) got.push(...d.push(bytes.subarray(i, i + step)));
    assert.deepEqual(got, values, `chunks of ${step}`);
    assert.equal(d.pending, 0);
  }
});

Deno.test("frames: stray output is reported with what was written; a partial frame stays pending", () => {
  const d = new FrameDecoder();
  assert.throws(() => d.push(new TextEncoder().encode("hello from a plugin\n")), (e: unknown) => {
    assert.ok(e instanceof FrameError);
    assert.match(e.message, /hello from a plugin/);
    return true;
  });
  const frame = encodeFrame({ a: 1 });
  const d2 = new FrameDecoder();
  assert.deepEqual(d2.push(frame.subarray(0, 5)), []);
  assert.equal(d2.pending, 5);
  const huge = new Uint8Array(frame.subarray(0, 8));
  new DataView(huge.buffer).setUint32(4, 0xffffffff);
  assert.throws(() => new FrameDecoder().push(huge), /exceeds/);
});
