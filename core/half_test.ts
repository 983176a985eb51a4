import type { HalfDType } from "./dtype.ts";
import {
  bf16BitsToF32,
  decodeHalves,
  encodeHalves,
  f16BitsToF32,
  f32Bits,
  f32FromBits,
  f32ToBf16Bits,
  f32ToF16Bits,
  fromHalfBits,
  roundedTo,
  roundTo,
  toHalfBits,
} from "./half.ts";
import { rng } from "./testing.ts";

const HALVES: readonly HalfDType[] = ["f16", "bf16"];

/** The finite non-negative values of a 16-bit dtype in bit order (= value order), then Inf. */
function ladder(dtype: HalfDType): Float64Array {
  const top = dtype === "f16" ? 0x7c00 : 0x7f80; // Inf
  const out = new Float64Array(top + 1);
  for (let h = 0; h < top; h++) out[h] = fromHalfBits(dtype, h);
  // IEEE rounds as if the exponent were unbounded: the rung past the largest finite value is
  // 2^16 (f16) or 2^128 (bf16), and what rounds to it is Inf.
  out[top] = dtype === "f16" ? 2 ** 16 : 2 ** 128;
  return out;
}

/** Round to nearest even by search on the ladder of values: independent of the bit tricks. */
function reference(lad: Float64Array, x: number): number {
  const v = Math.fround(x);
  const sign = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
  const a = Math.abs(v);
  if (Number.isNaN(v)) return -1;
  const top = lad.length - 1;
  if (a >= lad[top]) return sign | top;
  let lo = 0, hi = top; // lad[lo] <= a < lad[hi]
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (lad[mid] <= a) lo = mid;
    else hi = mid;
  }
  const dl = a - lad[lo], dh = lad[hi] - a;
  const pick = dl < dh ? lo : dh < dl ? hi : (lo & 1) === 0 ? lo : hi;
  return sign | pick;
}

function isNan16(dtype: HalfDType, h: number): boolean {
  return dtype === "f16" ? (h & 0x7fff) > 0x7c00 : (h & 0x7fff) > 0x7f80;
}

Deno.test("half: every 16-bit pattern widens exactly and converts back to itself", () => {
  for (const dtype of HALVES) {
    for (let h = 0; h < 0x10000; h++) {
      const v = fromHalfBits(dtype, h);
      if (isNan16(dtype, h)) {
        if (!Number.isNaN(v) || !isNan16(dtype, toHalfBits(dtype, v))) {
          throw new Error(`${dtype} NaN 0x${h.toString(16)} did not stay NaN`);
        }
        continue;
      }
      if (Math.fround(v) !== v) throw new Error(`${dtype} 0x${h.toString(16)} is not an f32`);
      const back = toHalfBits(dtype, v);
      if (back !== h) {
        throw new Error(`${dtype} 0x${h.toString(16)} -> ${v} -> 0x${back.toString(16)}`);
      }
    }
  }
  if (!Object.is(f16BitsToF32(0x8000), -0) || !Object.is(bf16BitsToF32(0x8000), -0)) {
    throw new Error("-0 lost");
  }
  if (f16BitsToF32(0x0001) !== 2 ** -24 || f16BitsToF32(0x7bff) !== 65504) {
    throw new Error("f16 min subnormal / max finite");
  }
});

Deno.test("half: f32 -> f16 and bf16 round to nearest even (against a search on the values)", () => {
  const r = rng(11);
  for (const dtype of HALVES) {
    const lad = ladder(dtype);
    const conv = dtype === "f16" ? f32ToF16Bits : f32ToBf16Bits;
    const check = (bits: number) => {
      const x = f32FromBits(bits);
      const got = conv(x), want = reference(lad, x);
      if (want < 0 ? !isNan16(dtype, got) : got !== want) {
        throw new Error(
          `${dtype}(0x${bits.toString(16)} = ${x}): got 0x${got.toString(16)}, ` +
            `want ${want < 0 ? "NaN" : `0x${want.toString(16)}`}`,
        );
      }
    };
    // Every tie and its two f32 neighbours, over every rung of the ladder (both signs).
    for (let h = 0; h < lad.length - 1; h++) {
      const mid = f32Bits((lad[h] + lad[h + 1]) / 2);
      for (const b of [mid - 1, mid, mid + 1, f32Bits(lad[h])]) {
        check(b >>> 0);
        check((b | 0x80000000) >>> 0);
      }
    }
    for (let i = 0; i < 200_000; i++) check(Math.floor(r() * 2 ** 32));
    for (const b of [0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001, 0xffffffff, 0, 0x80000000]) {
      check(b);
    }
  }
  // Named cases, as the docs state them.
  const f16 = (x: number) => f32ToF16Bits(x).toString(16);
  if (f16(65519) !== "7bff" || f16(65520) !== "7c00" || f16(2 ** -25) !== "0") {
    throw new Error("f16 overflow / underflow ties");
  }
  if (f32ToBf16Bits(f32FromBits(0x7f7f8000)) !== 0x7f80 || f32ToBf16Bits(NaN) !== 0x7fc0) {
    throw new Error("bf16 top tie / NaN");
  }
  if (f32ToBf16Bits(f32FromBits(0x7f800001)) !== 0x7fc0) throw new Error("bf16 low-payload NaN");
  if (f32ToF16Bits(-NaN) !== 0x7e00 && f32ToF16Bits(-NaN) !== 0xfe00) throw new Error("f16 NaN");
});

Deno.test("half: arrays pack two per word with +0 padding; roundTo matches the bits", () => {
  const data = [1, -2.5, 1 + 2 ** -11, 65520, -0];
  for (const dtype of HALVES) {
    const bits = encodeHalves(dtype, data);
    if (bits.length !== 6 || bits[5] !== 0) throw new Error(`${dtype}: padding`);
    const back = decodeHalves(dtype, bits, data.length);
    const rounded = roundedTo(dtype, data);
    for (let i = 0; i < data.length; i++) {
      if (!Object.is(back[i], rounded[i]) || !Object.is(roundTo(dtype, data[i]), rounded[i])) {
        throw new Error(`${dtype} element ${i}: ${back[i]} / ${rounded[i]}`);
      }
    }
  }
  if (roundTo("f16", 65520) !== Infinity || roundTo("bf16", 1 + 2 ** -8) !== 1) {
    throw new Error("roundTo");
  }
  if (roundTo("f32", 0.1) !== Math.fround(0.1)) throw new Error("roundTo f32");
  // A NaN's f16 payload survives widening as the GPU's would (quiet bit set).
  const nan = decodeHalves("f16", Uint16Array.of(0x7c01, 0xfe00));
  const w = new Uint32Array(nan.buffer);
  if (w[0] !== 0x7fc02000 || w[1] !== 0xffc00000) {
    throw new Error(`f16 NaN widening: 0x${w[0].toString(16)} 0x${w[1].toString(16)}`);
  }
  let threw = false;
  try {
    decodeHalves("bf16", new Uint16Array(2), 3);
  } catch {
    threw = true;
  }
  if (!threw) throw new Error("decodeHalves past the end");
});
