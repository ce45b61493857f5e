/** A tiny seeded PRNG (mulberry32): the only source of randomness in the simulation, so a seed replays. */
export class Prng {
  #a: number;
  constructor(readonly seed: number) {
    this.#a = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.#a = (this.#a + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError("pick from an empty list");
    return items[Math.floor(this.next() * items.length)]!;
  }
}
