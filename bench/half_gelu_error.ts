/**
 * Tempo GELU in 16 bits (issue 11): the input-gradient error dx - gelu'(x) dy of the baseline GELU
 * (keeps its input x) and of the Tempo GELU (keeps its output y and the branch bit, and inverts y),
 * for x, y and dy stored in f32, f16 or bf16, against gelu'(x) in f64 at the x as stored; dy = 1
 * (exact in every dtype) and dx stored in f32, so the figures are the methods' errors, not dx's own
 * rounding (storing dx in 16 bits adds at most u |dx| to both; the last table shows it).
 *
 * Grid: f16 and bf16, every finite value of the dtype in [-8, 8] (the 2^-10 grid and any
 * neighbourhood of x_min rounded to the dtype are subsets); f32, [-8, 8] in steps of 2^-10 plus
 * x_min +/- 2^-6 in steps of 2^-20. Both forms (erf: BERT, tanh: GPT-2), bit masks, the adapter's
 * kernel policy.
 *
 * Floor: the error of an exact inversion (f64 bisection on the branch, `geluInverseExactRef`) of
 * the rounded output roundTo(d, gelu(x)), what any inversion of the stored y that returns a point of
 * the branch gets. Bound: half the spread of gelu' over the grid's inputs that store the same (y,
 * mask), the least max error any function of the stored (y, mask) can have on this grid. "near":
 * |x - x_min| < 2^-4; "away": the rest. Relative errors: away from x_min where |gelu'(x)| >= 2^-10
 * (gelu' -> 0 at x_min and in the left tail, where a relative error says nothing).
 * Run: `deno run -A bench/half_gelu_error.ts` (TEMPO_KERNELS applies).
 * @module
 */
import { Allocator } from "../core/allocator.ts";
import type { FloatDType } from "../core/dtype.ts";
import { Encoder } from "../core/encoder.ts";
import { acquireGpu } from "../core/gpu.ts";
import { roundTo } from "../core/half.ts";
import { halfValues } from "../core/ops/half_testing.ts";
import type { Tensor } from "../core/tensor.ts";
import { geluBackward, type GeluForm } from "../core/ops/gelu.ts";
import { geluGradRef, geluRef } from "../core/ops/gelu_ref.ts";
import { GELU_TEMPO_POLY, geluTempoBackward, geluTempoForward } from "../core/ops/gelu_tempo.ts";
import { geluInverseExactRef, geluMinimumRef } from "../core/ops/gelu_tempo_ref.ts";

const FORMS: GeluForm[] = ["erf", "tanh"];
const DTYPES: FloatDType[] = ["f32", "f16", "bf16"];
/** Half-width of the "near x_min" band. */
export const NEAR = 2 ** -4;
/** Smallest |gelu'(x)| at which a relative error is reported. */
export const REL_MIN = 2 ** -10;

/** The grid of inputs x for dtype d (sorted, each exactly representable in d). */
export function geluGrid(d: FloatDType, form: GeluForm): Float64Array {
  const xs = new Set<number>();
  if (d === "f32") {
    for (let i = 0; i <= 16 * 1024; i++) xs.add(-8 + i / 1024);
    const xm = geluMinimumRef(form);
    for (let i = -(2 ** 14); i <= 2 ** 14; i++) xs.add(Math.fround(xm + i * 2 ** -20));
  } else {
    for (const v of halfValues(d, -8, 8)) xs.add(v);
  }
  return Float64Array.from([...xs].sort((a, b) => a - b));
}

/** Max of |e| over the points that pass `keep`, and the x where it is reached. */
function worst(
  e: ArrayLike<number>,
  x: ArrayLike<number>,
  keep: (i: number) => boolean,
): { max: number; at: number } {
  let max = 0, at = NaN;
  for (let i = 0; i < e.length; i++) if (keep(i) && !(e[i] <= max)) [max, at] = [e[i], x[i]];
  return { max, at };
}

/** One row of the tables. */
export interface GeluErrorRow {
  form: GeluForm;
  dtype: FloatDType;
  points: number;
  /** Max |dx - gelu'(x)|: baseline, Tempo, exact inversion of the rounded y, any method. */
  baseline: number;
  tempo: number;
  tempoAt: number;
  floor: number;
  bound: number;
  tempoNear: number;
  floorNear: number;
  tempoAway: number;
  floorAway: number;
  baselineAway: number;
  /** Max relative error away from x_min where |gelu'| >= REL_MIN. */
  baselineRel: number;
  tempoRel: number;
  floorRel: number;
  /** Max |dx - gelu'(exact inverse of the kernel's own stored y)|: the kernel's own part. */
  ownY: number;
  /** Elements whose stored y differs from roundTo(d, gelu(x)). */
  yDiffers: number;
  /** Max |dx - gelu'(x)| with dx stored in d: baseline, Tempo. */
  baselineHalfDx: number;
  tempoHalfDx: number;
}

/** Measure one form at one dtype on the GPU. */
async function measure(
  enc: Encoder,
  alloc: Allocator,
  form: GeluForm,
  d: FloatDType,
): Promise<GeluErrorRow> {
  const x = geluGrid(d, form), n = x.length;
  const up = (v: ArrayLike<number>, dt: FloatDType): Tensor => {
    const t = alloc.alloc([n], dt, "workspace", "in");
    enc.writeFromF32(t, v);
    return t;
  };
  const tx = up(x, d), dy = up(new Float64Array(n).fill(1), d);
  const y = alloc.alloc([n], d, "workspace", "y"), mask = alloc.alloc([n], "bit", "workspace", "m");
  geluTempoForward(enc, { y, mask, x: tx, n, form, maskDtype: "bit" });
  const dxs: Float32Array[] = [];
  for (const dxType of ["f32", d] as FloatDType[]) {
    const base = alloc.alloc([n], dxType, "workspace", "dxBase");
    const tempo = alloc.alloc([n], dxType, "workspace", "dxTempo");
    geluBackward(enc, { dx: base, dy, x: tx, n, form });
    geluTempoBackward(enc, { dx: tempo, dy, y, mask, n, form, maskDtype: "bit" });
    dxs.push(await enc.readAsF32(base), await enc.readAsF32(tempo));
  }
  const yGot = await enc.readAsF32(y);
  const c = GELU_TEMPO_POLY[form].c, xm = geluMinimumRef(form);
  const g = x.map((v) => geluGradRef(v, form));
  const right = Array.from(x, (v) => v >= c);
  const yIdeal = x.map((v) => roundTo(d, geluRef(v, form)));
  const gFloor = yIdeal.map((v, i) => geluInverseExactRef(v, right[i], form)[1]);
  const gOwn = Float64Array.from(yGot, (v, i) => geluInverseExactRef(v, right[i], form)[1]);
  // Bound: inputs storing the same (y, mask) get one answer; its best is the middle of their gelu'.
  const spread = new Map<string, [number, number]>();
  const key = (i: number) => `${yIdeal[i]}/${right[i]}`;
  for (let i = 0; i < n; i++) {
    const s = spread.get(key(i));
    spread.set(key(i), s ? [Math.min(s[0], g[i]), Math.max(s[1], g[i])] : [g[i], g[i]]);
  }
  const bound = g.map((_, i) => {
    const [lo, hi] = spread.get(key(i))!;
    return (hi - lo) / 2;
  });
  const err = (got: ArrayLike<number>) => g.map((v, i) => Math.abs(got[i] - v));
  const [eBase, eTempo, eBase16, eTempo16] = dxs.map(err);
  const eFloor = err(gFloor);
  const rel = (e: Float64Array) => e.map((v, i) => v / Math.abs(g[i]));
  const all = () => true;
  const near = (i: number) => Math.abs(x[i] - xm) < NEAR;
  const away = (i: number) => !near(i);
  const relOk = (i: number) => away(i) && Math.abs(g[i]) >= REL_MIN;
  const t = worst(eTempo, x, all);
  let yDiffers = 0;
  for (let i = 0; i < n; i++) if (yGot[i] !== yIdeal[i]) yDiffers++;
  return {
    form,
    dtype: d,
    points: n,
    baseline: worst(eBase, x, all).max,
    tempo: t.max,
    tempoAt: t.at,
    floor: worst(eFloor, x, all).max,
    bound: worst(bound, x, all).max,
    tempoNear: worst(eTempo, x, near).max,
    floorNear: worst(eFloor, x, near).max,
    tempoAway: worst(eTempo, x, away).max,
    floorAway: worst(eFloor, x, away).max,
    baselineAway: worst(eBase, x, away).max,
    baselineRel: worst(rel(eBase), x, relOk).max,
    tempoRel: worst(rel(eTempo), x, relOk).max,
    floorRel: worst(rel(eFloor), x, relOk).max,
    ownY: worst(dxs[1].map((v, i) => Math.abs(v - gOwn[i])), x, all).max,
    yDiffers,
    baselineHalfDx: worst(eBase16, x, all).max,
    tempoHalfDx: worst(eTempo16, x, all).max,
  };
}

const e = (v: number) => v.toExponential(2);

function table(head: string[], rows: string[][]): void {
  const w = head.map((h, k) => Math.max(h.length, ...rows.map((r) => r[k].length)));
  const line = (r: string[]) => r.map((c, k) => (k < 2 ? c.padEnd(w[k]) : c.padStart(w[k])));
  console.log(line(head).join("  "));
  for (const r of rows) console.log(line(r).join("  "));
}

/** Print the tables; returns the rows. */
export async function main(): Promise<GeluErrorRow[]> {
  const gpu = await acquireGpu();
  const alloc = new Allocator({ device: gpu.device });
  const enc = new Encoder(gpu);
  console.log(`${gpu.description}; kernels: ${gpu.kernels.label}`);
  const rows: GeluErrorRow[] = [];
  for (const form of FORMS) {
    for (const d of DTYPES) {
      if (d === "f16" && !gpu.hasF16) {
        console.log(`f16 skipped: the adapter has no shader-f16`);
        continue;
      }
      rows.push(await measure(enc, alloc, form, d));
    }
  }
  console.log(
    "\nGELU input-gradient error max |dx - gelu'(x)| (dy = 1, dx f32), over the grid; floor = " +
      "exact inversion of the rounded y; bound = any method from (y, mask)",
  );
  table(
    ["form", "dtype", "points", "baseline", "tempo", "at x", "floor", "bound", "own y"],
    rows.map((r) => [
      r.form,
      r.dtype,
      String(r.points),
      e(r.baseline),
      e(r.tempo),
      r.tempoAt.toPrecision(6),
      e(r.floor),
      e(r.bound),
      e(r.ownY),
    ]),
  );
  console.log(
    `\nnear x_min (|x - x_min| < ${NEAR}) and away; relative error away where |gelu'| >= ${REL_MIN}`,
  );
  table(
    [
      "form",
      "dtype",
      "tempo near",
      "floor near",
      "base away",
      "tempo away",
      "floor away",
      "base rel",
      "tempo rel",
      "floor rel",
    ],
    rows.map((r) => [
      r.form,
      r.dtype,
      e(r.tempoNear),
      e(r.floorNear),
      e(r.baselineAway),
      e(r.tempoAway),
      e(r.floorAway),
      e(r.baselineRel),
      e(r.tempoRel),
      e(r.floorRel),
    ]),
  );
  console.log("\ndx stored in the dtype too: max |dx - gelu'(x)|; stored y != roundTo(d, gelu(x))");
  table(
    ["form", "dtype", "baseline", "tempo", "y differs"],
    rows.map((r) => [r.form, r.dtype, e(r.baselineHalfDx), e(r.tempoHalfDx), String(r.yDiffers)]),
  );
  return rows;
}

if (import.meta.main) await main();
