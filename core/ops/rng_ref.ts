/**
 * Plain reference of Philox4x32-R with BigInt products, written from the published algorithm
 * independently of `rng.ts` (which uses 16-bit halves, as its WGSL twin must).
 * @module
 */

const MASK = 0xffffffffn;

/** Philox4x32 with `rounds` rounds (10 is the standard); words are u32 numbers. */
export function philox4x32Ref(
  counter: readonly number[],
  key: readonly number[],
  rounds = 10,
): number[] {
  let c = counter.map((v) => BigInt(v >>> 0));
  let k = key.map((v) => BigInt(v >>> 0));
  for (let r = 0; r < rounds; r++) {
    if (r > 0) k = [(k[0] + 0x9e3779b9n) & MASK, (k[1] + 0xbb67ae85n) & MASK];
    const p0 = 0xd2511f53n * c[0], p1 = 0xcd9e8d57n * c[2];
    c = [(p1 >> 32n) ^ c[1] ^ k[0], p1 & MASK, (p0 >> 32n) ^ c[3] ^ k[1], p0 & MASK];
  }
  return c.map((v) => Number(v));
}
