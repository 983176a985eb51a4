/**
 * Helpers of the ops' 16-bit tests. The reference is evaluated in f64 on the inputs as the kernel
 * sees them (rounded to their dtype); a 16-bit output then differs from it by the kernel's f32
 * arithmetic (the op's f32 tolerance) plus one rounding to the output's dtype: at most u |ref|,
 * u = `unitRoundoff` (2^-11 f16, 2^-8 bf16), and half an f16 subnormal step (2^-25) below
 * 2^-14. `halfClose` states exactly that; tests name the f32 part and why. With
 * TEMPO_HALF_ERRORS=1 every check prints its measured max error (the figures in docs/design.md).
 * @module
 */
import { type FloatDType, type HalfDType, unitRoundoff } from "../dtype.ts";
import { fromHalfBits, roundedTo } from "../half.ts";
import { Encoder } from "../encoder.ts";
import type { Tensor } from "../tensor.ts";
import { assertClose, type GpuFixture } from "../testing.ts";

const REPORT = (() => {
  try {
    return Deno.env.get("TEMPO_HALF_ERRORS") === "1";
  } catch {
    return false;
  }
})();

/** The 16-bit dtypes a test runs at: bf16 always, f16 where the adapter has `shader-f16`. */
export function halfDtypes(f: GpuFixture): HalfDType[] {
  return f.gpu.hasF16 ? ["f16", "bf16"] : ["bf16"];
}

/** Absolute error of one rounding to `d` at the bottom of its range (f16: half a subnormal step). */
export function subnormalFloor(d: FloatDType): number {
  return d === "f16" ? 2 ** -25 : d === "bf16" ? 2 ** -134 : 2 ** -150;
}

/**
 * Assert |got - ref| <= atol + (rtol + k u) |ref| + floor elementwise, for an output of dtype
 * `d`: atol, rtol the op's f32 arithmetic, k roundings to d (default 1). Returns the max abs
 * error and the max error in units of u |ref| over the refs in d's normal range (for reports).
 */
export function halfClose(
  d: FloatDType,
  got: ArrayLike<number>,
  ref: ArrayLike<number>,
  f32: { atol: number; rtol: number },
  what: string,
  k = 1,
): { abs: number; ulps: number } {
  const u = unitRoundoff(d);
  const abs = assertClose(got, ref, f32.atol + subnormalFloor(d), f32.rtol + k * u, what);
  const normal = d === "f16" ? 2 ** -14 : 2 ** -126;
  let ulps = 0;
  for (let i = 0; i < ref.length; i++) {
    const r = Math.abs(ref[i]);
    if (r >= normal) ulps = Math.max(ulps, Math.abs(got[i] - ref[i]) / (u * r));
  }
  if (REPORT) console.log(`${what}: max abs error ${abs.toExponential(2)}, ${ulps.toFixed(2)} u`);
  return { abs, ulps };
}

/** Every finite value of 16-bit `d` in [lo, hi], ascending, zero once (exhaustive grids). */
export function halfValues(d: HalfDType, lo: number, hi: number): Float64Array {
  const xs: number[] = [];
  for (let h = 0; h < 0x10000; h++) {
    const v = fromHalfBits(d, h);
    if (v >= lo && v <= hi && !Object.is(v, -0)) xs.push(v);
  }
  return Float64Array.from(xs).sort();
}

/** Upload `data` as a [shape] tensor of `d` and return it with the values it holds (rounded). */
export function uploadAs(
  f: GpuFixture,
  data: ArrayLike<number>,
  shape: readonly number[],
  d: FloatDType,
): { t: Tensor; v: Float64Array } {
  return { t: f.upload(data, shape, d), v: roundedTo(d, data) };
}

/** Throw unless `fn` throws an Error whose message contains every one of `parts`. */
export function assertRefuses(fn: () => void, parts: readonly string[], what: string): void {
  let message = "";
  try {
    fn();
  } catch (e) {
    message = (e as Error).message;
  }
  if (!message) throw new Error(`${what}: not refused`);
  for (const p of parts) {
    if (!message.includes(p)) throw new Error(`${what}: '${message}' does not name '${p}'`);
  }
}

/** An encoder on a view of the fixture's GPU that reports no `shader-f16` (the f16 refusals). */
export function encoderWithoutF16(f: GpuFixture): Encoder {
  return new Encoder({ ...f.gpu, hasF16: false, description: "an adapter without shader-f16" });
}
