/**
 * Seeded generators of malformed input for the fuzz tests: random JSON values, structural mutations of a valid
 * document (a value replaced by one of another type, keys dropped or renamed, junk added), and byte-level
 * mutations of text. Everything comes from one Prng, so a failing case is reproduced from its seed and index.
 */
import { Prng } from "../../src/sim/prng.ts";

export { Prng };

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const WEIRD_STRINGS = [
  "",
  " ",
  "null",
  "true",
  "-1",
  "1e309",
  "NaN",
  "0x10",
  "1 MB",
  "10 kB",
  "\u0000",
  "\ud800",
  "💥",
  "../../etc/passwd",
  "a".repeat(5000),
  "127.0.0.1:",
  ":5432",
  "host:99999",
  "postgres://",
  "postgres://%zz",
  "{}",
  "[]",
  "__proto__",
  "constructor",
  "2024-13-45T99:99:99",
];

const WEIRD_NUMBERS = [0, -1, 1, 0.5, -0.0, 2 ** 31, 2 ** 53 + 1, -(2 ** 63), 1e308, Number.MIN_VALUE];

/** An own data property, even for `__proto__` (plain assignment would set the prototype). */
function setOwn(o: Record<string, Json>, key: string, value: Json): void {
  Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
}

/** A random JSON value, depth-limited. */
export function jsonValue(rng: Prng, depth = 3): Json {
  const k = rng.int(0, depth > 0 ? 7 : 4);
  switch (k) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
      return rng.chance(0.5) ? rng.pick(WEIRD_NUMBERS) : rng.int(-1000, 100000);
    case 3:
      return rng.pick(WEIRD_STRINGS);
    case 4:
      return randomString(rng, rng.int(0, 12));
    case 5:
    case 6: {
      const o: { [k: string]: Json } = {};
      for (let i = rng.int(0, 4); i > 0; i--) {
        setOwn(
          o,
          rng.chance(0.3) ? rng.pick(WEIRD_STRINGS) : randomString(rng, 5),
          jsonValue(rng, depth - 1),
        );
      }
      return o;
    }
    default: {
      const a: Json[] = [];
      for (let i = rng.int(0, 4); i > 0; i--) a.push(jsonValue(rng, depth - 1));
      return a;
    }
  }
}

export function randomString(rng: Prng, n: number): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz_-.:/ 0123456789{}[]\"'\\\n\t#&*!|>%@`";
  let s = "";
  for (let i = 0; i < n; i++) s += alphabet[rng.int(0, alphabet.length - 1)];
  return s;
}

/** Every path to a value inside `doc` (objects and arrays), the root excluded. */
export function paths(doc: Json, prefix: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [];
  if (doc && typeof doc === "object") {
    for (const [k, v] of Object.entries(doc)) {
      const p = [...prefix, Array.isArray(doc) ? Number(k) : k];
      out.push(p, ...paths(v as Json, p));
    }
  }
  return out;
}

/** A deep copy of `doc` with one to three structural mutations. */
export function mutate(rng: Prng, doc: Json): Json {
  const copy = structuredClone(doc) as Json;
  let root: Json = copy;
  for (let n = rng.int(1, 3); n > 0; n--) {
    const all = paths(root);
    if (!all.length || rng.chance(0.05)) {
      root = jsonValue(rng);
      continue;
    }
    const p = rng.pick(all);
    const parent = p.slice(0, -1).reduce<Json>((o, k) => (o as Record<string, Json>)[k as string]!, root) as
      | Record<string, Json>
      | Json[];
    const key = p[p.length - 1]!;
    const op = rng.int(0, 3);
    if (op === 0 || op === 1) (parent as Record<string, Json>)[key as string] = jsonValue(rng);
    else if (op === 2 && !Array.isArray(parent)) delete parent[key as string];
    else if (!Array.isArray(parent)) {
      const v = parent[key as string]!;
      delete parent[key as string];
      setOwn(parent, rng.chance(0.5) ? randomString(rng, rng.int(1, 8)) : `${key}x`, v);
    } else parent.push(jsonValue(rng));
  }
  return root;
}

/** `text` with one to four byte-level edits (delete, insert, replace, duplicate a slice). */
export function mutateText(rng: Prng, text: string): string {
  let s = text;
  for (let n = rng.int(1, 4); n > 0; n--) {
    const at = rng.int(0, s.length);
    const len = rng.int(1, 8);
    switch (rng.int(0, 3)) {
      case 0:
        s = s.slice(0, at) + s.slice(at + len);
        break;
      case 1:
        s = s.slice(0, at) + randomString(rng, len) + s.slice(at);
        break;
      case 2:
        s = s.slice(0, at) + randomString(rng, len) + s.slice(at + len);
        break;
      default:
        s = s.slice(0, at) + s.slice(at, at + len * 4) + s.slice(at);
    }
  }
  return s;
}
