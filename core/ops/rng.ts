/**
 * Counter-based random numbers: Philox4x32-10 (Salmon et al., SC'11; Random123), the same bits in
 * WGSL and TypeScript, and the one dropout keep decision every kernel shares.
 *
 * Dropout keep decision of element `i` (an element index, below 2^53, into the tensor being
 * dropped, or into the step's global batch: see `dropoutOffset` in core/step.ts):
 *
 *     q    = floor(i / 4)
 *     r    = philox4x32([q mod 2^32, stream, floor(q / 2^32), 0], [seed, 0x9E3779B9])[i mod 4]
 *     keep = (r >> 8) < keepThreshold(p)          // keepThreshold(p) = round((1 - p) * 2^24)
 *
 * (one Philox call serves four consecutive elements: its four output words are independent; the
 * third counter word is 0 below i = 2^34, so indices that fit in a u32 keep their old decisions),
 * i.e. the uniform `(r >> 8) / 2^24` in [0, 1) compared against the keep probability quantised to
 * 2^-24 (integer compare: the GPU and the reference agree bit for bit, and p = 0 keeps all).
 * `stream` is a u32 the caller derives from (step, layer, site), e.g. with `dropoutStream`, so that
 * backward regenerates exactly the forward's mask without storing it.
 * @module
 */

/** Philox4x32 round multipliers and Weyl key increments (Random123). */
const M0 = 0xd2511f53, M1 = 0xcd9e8d57, W0 = 0x9e3779b9, W1 = 0xbb67ae85;

/** Second key word of the dropout stream (the golden-ratio constant). */
export const DROPOUT_KEY1 = 0x9e3779b9;

/** High 32 bits of the 64-bit product of two u32 (exact in f64: 16-bit halves). */
function mulhi(a: number, b: number): number {
  const al = a & 0xffff, ah = a >>> 16, bl = b & 0xffff, bh = b >>> 16;
  const ll = al * bl, m1 = ah * bl, m2 = al * bh;
  const carry = Math.floor(ll / 65536) + (m1 & 0xffff) + (m2 & 0xffff);
  return (ah * bh + Math.floor(m1 / 65536) + Math.floor(m2 / 65536) + Math.floor(carry / 65536)) >>>
    0;
}

/**
 * Philox4x32 with 10 rounds. `counter` is 4 u32 words, `key` 2 u32 words; returns 4 u32 words.
 * Matches the Random123 known-answer vectors.
 */
export function philox4x32(
  counter: readonly [number, number, number, number],
  key: readonly [number, number],
): [number, number, number, number] {
  let [c0, c1, c2, c3] = counter.map((v) => v >>> 0);
  let k0 = key[0] >>> 0, k1 = key[1] >>> 0;
  for (let r = 0; r < 10; r++) {
    if (r > 0) {
      k0 = (k0 + W0) >>> 0;
      k1 = (k1 + W1) >>> 0;
    }
    const hi0 = mulhi(M0, c0), lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi(M1, c2), lo1 = Math.imul(M1, c2) >>> 0;
    [c0, c1, c2, c3] = [(hi1 ^ c1 ^ k0) >>> 0, lo1, (hi0 ^ c3 ^ k1) >>> 0, lo0];
  }
  return [c0, c1, c2, c3];
}

/**
 * WGSL: `philox4x32(ctr: vec4u, key: vec2u) -> vec4u` (10 rounds) and its helper `philox_mulhi`.
 * Paste into a kernel's prelude.
 */
export const PHILOX_WGSL = `
fn philox_mulhi(a: u32, b: u32) -> u32 {
  let al = a & 0xffffu; let ah = a >> 16u; let bl = b & 0xffffu; let bh = b >> 16u;
  let ll = al * bl; let m1 = ah * bl; let m2 = al * bh;
  let carry = (ll >> 16u) + (m1 & 0xffffu) + (m2 & 0xffffu);
  return ah * bh + (m1 >> 16u) + (m2 >> 16u) + (carry >> 16u);
}
fn philox4x32(ctr: vec4u, key: vec2u) -> vec4u {
  var c = ctr;
  var k = key;
  for (var r = 0u; r < 10u; r++) {
    if (r > 0u) { k = k + vec2u(0x${W0.toString(16)}u, 0x${W1.toString(16)}u); }
    let hi0 = philox_mulhi(0x${M0.toString(16)}u, c.x); let lo0 = 0x${M0.toString(16)}u * c.x;
    let hi1 = philox_mulhi(0x${M1.toString(16)}u, c.z); let lo1 = 0x${M1.toString(16)}u * c.z;
    c = vec4u(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
  }
  return c;
}
`;

/** The keep threshold of drop probability `p` in [0, 1): round((1 - p) * 2^24), in [0, 2^24]. */
export function keepThreshold(p: number): number {
  if (!(p >= 0 && p < 1)) throw new Error(`dropout: drop probability ${p} is not in [0, 1)`);
  return Math.round((1 - p) * 16777216);
}

/** Whether dropout keeps element `i` (an integer in [0, 2^53)) of `stream` under `seed`. */
export function dropoutKeep(i: number, stream: number, seed: number, threshold: number): boolean {
  if (!(Number.isSafeInteger(i) && i >= 0)) throw new Error(`dropoutKeep: element ${i}`);
  const q = Math.floor(i / 4), hi = Math.floor(q / 4294967296);
  const r =
    philox4x32([q - hi * 4294967296, stream >>> 0, hi, 0], [seed >>> 0, DROPOUT_KEY1])[i % 4];
  return (r >>> 8) < threshold;
}

/**
 * WGSL: `dropout_keep4_at(q_lo: u32, q_hi: u32, stream: u32, seed: u32, threshold: u32) ->
 * vec4<bool>`, the keep decisions of elements 4q .. 4q + 3 for q = q_hi * 2^32 + q_lo;
 * `dropout_keep4(q, stream, seed, threshold)`, the same with q_hi = 0; and
 * `dropout_keep(i, stream, seed, threshold) -> bool`, that of element i alone. The same decisions
 * as `dropoutKeep` (includes PHILOX_WGSL; paste once into a prelude).
 */
export const DROPOUT_KEEP_WGSL = `${PHILOX_WGSL}
fn dropout_keep4_at(q_lo: u32, q_hi: u32, stream: u32, seed: u32, threshold: u32) -> vec4<bool> {
  if (threshold >= 16777216u) { return vec4<bool>(true); }
  let r = philox4x32(vec4u(q_lo, stream, q_hi, 0u), vec2u(seed, 0x${DROPOUT_KEY1.toString(16)}u));
  return (r >> vec4u(8u)) < vec4u(threshold);
}
fn dropout_keep4(q: u32, stream: u32, seed: u32, threshold: u32) -> vec4<bool> {
  return dropout_keep4_at(q, 0u, stream, seed, threshold);
}
fn dropout_keep(i: u32, stream: u32, seed: u32, threshold: u32) -> bool {
  return dropout_keep4(i / 4u, stream, seed, threshold)[i % 4u];
}
`;

/**
 * A dropout stream id from the training step and a per-step site number (layer * sites + site):
 * `(step * sitesPerStep + site) mod 2^32`. Distinct for 2^32 / sitesPerStep steps.
 */
export function dropoutStream(step: number, site: number, sitesPerStep = 1024): number {
  if (!(site >= 0 && site < sitesPerStep)) {
    throw new Error(`dropoutStream: site ${site} outside [0, ${sitesPerStep})`);
  }
  return (((step % 4294967296) * sitesPerStep + site) % 4294967296) >>> 0;
}
