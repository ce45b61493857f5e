/**
 * Frames between the plugin host and a plugin jail process (jail.ts) over the jail's stdin/stdout: a magic
 * tag, a 32-bit big-endian length, then the value in V8's structured-clone serialization (the same values a
 * Worker's postMessage carries). The tag makes anything else written to the jail's stdout a detected
 * protocol error instead of a garbled message.
 */
import { deserialize, serialize } from "node:v8";

const MAGIC = [0x50, 0x47, 0x57, 0x4a]; // "PGWJ"
const HEADER = 8;
/** A hook's context or result beyond this is a bug, not data. */
export const MAX_FRAME_BYTES = 64 * 1024 * 1024;

export class FrameError extends Error {
  override name = "FrameError";
}

export function encodeFrame(value: unknown): Uint8Array {
  const body = serialize(value);
  const out = new Uint8Array(HEADER + body.length);
  out.set(MAGIC, 0);
  new DataView(out.buffer).setUint32(4, body.length);
  out.set(body, HEADER);
  return out;
}

/** Splits a byte stream into decoded values; throws `FrameError` at the first byte that is not a frame. */
export class FrameDecoder {
  #chunks: Uint8Array[] = [];
  #size = 0;
  /** Length of the frame being received, once its header is in. */
  #need: number | null = null;

  push(chunk: Uint8Array): unknown[] {
    if (chunk.length) {
      this.#chunks.push(chunk);
      this.#size += chunk.length;
    }
    const values: unknown[] = [];
    for (;;) {
      if (this.#need === null) {
        if (this.#size < HEADER) break;
        const head = this.#flat();
        for (let i = 0; i < MAGIC.length; i++) {
          if (head[i] !== MAGIC[i]) {
            const text = new TextDecoder().decode(head.subarray(0, 80)).replace(/\s+/g, " ");
            throw new FrameError(`unexpected output instead of a frame: ${JSON.stringify(text)}`);
          }
        }
        const len = new DataView(head.buffer, head.byteOffset + 4, 4).getUint32(0);
        if (len > MAX_FRAME_BYTES) throw new FrameError(`frame of ${len} bytes exceeds ${MAX_FRAME_BYTES}`);
        this.#need = HEADER + len;
      }
      // Chunks are only joined once a whole frame is in: a large frame in many pieces costs linear time.
      if (this.#size < this.#need) break;
      const buf = this.#flat();
      values.push(deserialize(buf.subarray(HEADER, this.#need)));
      this.#chunks = this.#need < buf.length ? [buf.subarray(this.#need)] : [];
      this.#size -= this.#need;
      this.#need = null;
    }
    return values;
  }

  /** Bytes of an unfinished frame (non-zero at end of stream means the writer died mid-frame). */
  get pending(): number {
    return this.#size;
  }

  #flat(): Uint8Array {
    if (this.#chunks.length > 1) {
      const all = new Uint8Array(this.#size);
      let at = 0;
      for (const c of this.#chunks) {
        all.set(c, at);
        at += c.length;
      }
      this.#chunks = [all];
    }
    return this.#chunks[0]!;
  }
}

/** Write all of `bytes` synchronously (pipes may take a write in parts); keeps frames whole and in order. */
export function writeAllSync(w: { writeSync(p: Uint8Array): number }, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) off += w.writeSync(bytes.subarray(off));
}
