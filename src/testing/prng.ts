/** A small seeded PRNG (mulberry32) so that fuzz cases and crash orders are reproducible from a seed. */

export class Prng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
}

/**
 * `n` bytes of deterministic pseudo-random content for `seed` (xorshift32, a word at a time): test data
 * that differs per file and does not compress. Different seeds give different bytes.
 */
export function patternBytes(n: number, seed: number): Uint8Array {
  const words = new Uint32Array((n + 3) >>> 2);
  let x = Math.imul(seed + 1, 0x9e3779b1) | 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x;
  }
  const bytes = new Uint8Array(words.buffer);
  return n === bytes.length ? bytes : bytes.slice(0, n);
}
