/**
 * A small seeded PRNG (splitmix32) and seed mixing, so that shuffles and masks are reproducible
 * from a seed and a position alone (no hidden global state, JSON-serialisable state).
 *
 * @module
 */

const TWO_32 = 4294967296;

/** A 32-bit avalanche hash ("lowbias32", Chris Wellons): every input bit flips ~half the output. */
export function hash32(x: number): number {
  x = (x ^ (x >>> 16)) >>> 0;
  x = Math.imul(x, 0x21f0aaad);
  x = (x ^ (x >>> 15)) >>> 0;
  x = Math.imul(x, 0x735a2d97);
  return (x ^ (x >>> 15)) >>> 0;
}

/**
 * Mixes integers (e.g. seed, purpose, epoch, index) into one 32-bit seed. Non-negative integers up
 * to 2^53 are mixed exactly (high and low 32-bit halves both count).
 */
export function mixSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) {
    if (!Number.isSafeInteger(p)) {
      throw new RangeError(`mixSeed takes safe integers, got ${p}`);
    }
    const lo = p >>> 0;
    const hi = Math.floor(p / TWO_32) >>> 0;
    h = hash32((h ^ hash32(lo)) + 0x7f4a7c15);
    h = hash32((h ^ hash32(hi ^ 0x85ebca6b)) + 0x7f4a7c15);
  }
  return h;
}

/** splitmix32: a 32-bit state advanced by the golden ratio and hashed. Period 2^32. */
export class Rng {
  #state: number;

  /**
   * Starts a generator.
   *
   * @param seed Any integer; it is reduced to 32 bits.
   */
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** The state, to store; `new Rng(rng.state)` continues the same sequence. */
  get state(): number {
    return this.#state;
  }

  /** A uniform 32-bit unsigned integer. */
  nextU32(): number {
    this.#state = (this.#state + 0x9e3779b9) >>> 0;
    return hash32(this.#state);
  }

  /** A uniform float in [0, 1) with 32 bits of resolution. */
  next(): number {
    return this.nextU32() / TWO_32;
  }

  /** A uniform integer in [0, n), without modulo bias. n must be a positive safe integer. */
  int(n: number): number {
    if (!Number.isSafeInteger(n) || n <= 0) {
      throw new RangeError(`Rng.int needs a positive integer bound, got ${n}`);
    }
    if (n <= TWO_32) {
      // Reject the top (2^32 mod n) values so every residue is equally likely.
      const limit = TWO_32 - (TWO_32 % n);
      for (;;) {
        const x = this.nextU32();
        if (x < limit) return x % n;
      }
    }
    // Wider bounds: 53 random bits, rejecting the biased top slice.
    const TWO_53 = TWO_32 * 2097152;
    const limit = TWO_53 - (TWO_53 % n);
    for (;;) {
      const x = (this.nextU32() >>> 11) * TWO_32 + this.nextU32();
      if (x < limit) return x % n;
    }
  }
}

/** A uniformly random permutation of 0..n-1 (Fisher-Yates), as [n] Int32Array. */
export function permutation(n: number, rng: Rng): Int32Array {
  if (!Number.isInteger(n) || n < 0 || n > 0x7fffffff) {
    throw new RangeError(`permutation size must be an integer in [0, 2^31), got ${n}`);
  }
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = out[i];
    out[i] = out[j];
    out[j] = t;
  }
  return out;
}
