/**
 * Tempo LayerNorm in 16 bits (issue 11): the input-gradient error of the baseline backward (keeps
 * its input x and the f32 row statistics) and of the Tempo backward (keeps its output y and the f32
 * rstd, rebuilds xhat = (y - beta) / gamma), for x, y and dy stored in f32, f16 or bf16, against the
 * f64 backward at the x and dy as stored; dx stored in f32 (the methods' errors, not dx's rounding).
 *
 * Inputs (seeded): R = 64 rows of C = 768, 1003 (odd) and 1024 channels, row r of x ~ N(m_r, s_r^2)
 * with m_r = 3 sin r and s_r in [0.5, 2.5]; gamma ~ N(1, 0.2^2), beta ~ N(0, 0.3^2) (f32), dy ~
 * N(0, 1). Floor: the f64 Tempo backward on roundTo(d, y) with the f64 rstd, what any rebuild of
 * xhat from the stored y gets. Errors are max |dx - dx_ref| over the tensor, absolute and relative
 * to max |dx_ref| (dx cancels elementwise, so an elementwise relative error says nothing).
 * Run: `deno run -A bench/half_layernorm_error.ts` (TEMPO_KERNELS applies).
 * @module
 */
import { Allocator } from "../core/allocator.ts";
import type { FloatDType } from "../core/dtype.ts";
import { Encoder } from "../core/encoder.ts";
import { acquireGpu } from "../core/gpu.ts";
import { roundedTo } from "../core/half.ts";
import { layernormBackward, layernormForward } from "../core/ops/layernorm.ts";
import { layernormBackwardRef, layernormRef } from "../core/ops/layernorm_ref.ts";
import { layernormTempoBackward } from "../core/ops/layernorm_tempo.ts";
import { layernormTempoBackwardRef } from "../core/ops/layernorm_tempo_ref.ts";
import { randn } from "../core/testing.ts";

const DTYPES: FloatDType[] = ["f32", "f16", "bf16"];
const WIDTHS = [768, 1003, 1024];
const R = 64;
const EPS = 1e-5;

/** One row of the table. */
export interface LayernormErrorRow {
  C: number;
  dtype: FloatDType;
  /** Max |dx_ref|. */
  scale: number;
  /** Max |dx - dx_ref|: baseline, Tempo, the floor (f64 rebuild from the rounded y). */
  baseline: number;
  tempo: number;
  floor: number;
  /** Max |dx - f64 Tempo backward on the kernel's own y and rstd|: the kernel's own part. */
  ownY: number;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** The bench's inputs at width C (x, dy unrounded; gamma, beta f32 values). */
export function layernormInputs(C: number, seed: number) {
  const z = randn(R * C, seed);
  const x = z.map((v, i) => {
    const r = Math.floor(i / C);
    return 3 * Math.sin(r) + (1.5 + Math.cos(7 * r)) * v;
  });
  const gamma = Float64Array.from(randn(C, seed + 1, 0.2), (v) => Math.fround(1 + v));
  const beta = Float64Array.from(randn(C, seed + 2, 0.3), Math.fround);
  return { x, gamma, beta, dy: randn(R * C, seed + 3) };
}

async function measure(
  enc: Encoder,
  alloc: Allocator,
  C: number,
  d: FloatDType,
): Promise<LayernormErrorRow> {
  const inp = layernormInputs(C, C);
  const xv = roundedTo(d, inp.x), dyv = roundedTo(d, inp.dy);
  const up = (v: ArrayLike<number>, shape: number[], dt: FloatDType) => {
    const t = alloc.alloc(shape, dt, "workspace", "in");
    enc.writeFromF32(t, v);
    return t;
  };
  const x = up(xv, [R, C], d), dy = up(dyv, [R, C], d);
  const gamma = up(inp.gamma, [C], "f32"), beta = up(inp.beta, [C], "f32");
  const y = alloc.alloc([R, C], d, "workspace", "y");
  const mean = alloc.alloc([R], "f32", "workspace", "mean");
  const rstd = alloc.alloc([R], "f32", "workspace", "rstd");
  layernormForward(enc, { y, mean, rstd, x, gamma, beta, R, C, eps: EPS });
  const grads = () => ({
    dx: alloc.alloc([R, C], "f32", "workspace", "dx"),
    dgamma: up(new Float64Array(C), [C], "f32"),
    dbeta: up(new Float64Array(C), [C], "f32"),
  });
  const b = grads(), t = grads();
  layernormBackward(enc, { ...b, dy, x, mean, rstd, gamma, R, C });
  layernormTempoBackward(enc, { ...t, dy, y, rstd, gamma, beta, R, C });
  const [dxBase, dxTempo, yGot, rsGot] = await Promise.all(
    [b.dx, t.dx, y, rstd].map((v) => enc.readAsF32(v)),
  );
  const ref = layernormRef(xv, inp.gamma, inp.beta, R, C, EPS);
  const want = layernormBackwardRef(dyv, xv, ref.mean, ref.rstd, inp.gamma, R, C).dx;
  const tempoRef = (yv: ArrayLike<number>, rs: ArrayLike<number>) =>
    layernormTempoBackwardRef(dyv, yv, rs, inp.gamma, inp.beta, R, C).dx;
  const floor = tempoRef(roundedTo(d, ref.y), ref.rstd);
  let scale = 0;
  for (const v of want) scale = Math.max(scale, Math.abs(v));
  return {
    C,
    dtype: d,
    scale,
    baseline: maxAbsDiff(dxBase, want),
    tempo: maxAbsDiff(dxTempo, want),
    floor: maxAbsDiff(floor, want),
    ownY: maxAbsDiff(dxTempo, tempoRef(yGot, rsGot)),
  };
}

const e = (v: number) => v.toExponential(2);

/** Print the table; returns the rows. */
export async function main(): Promise<LayernormErrorRow[]> {
  const gpu = await acquireGpu();
  const alloc = new Allocator({ device: gpu.device });
  const enc = new Encoder(gpu);
  console.log(`${gpu.description}; kernels: ${gpu.kernels.label}`);
  const rows: LayernormErrorRow[] = [];
  for (const C of WIDTHS) {
    for (const d of DTYPES) {
      if (d === "f16" && !gpu.hasF16) {
        console.log(`f16 skipped: the adapter has no shader-f16`);
        continue;
      }
      rows.push(await measure(enc, alloc, C, d));
    }
  }
  console.log(
    `\nLayerNorm input-gradient error max |dx - dx_ref| (R = ${R}, dx f32), absolute and / max ` +
      "|dx_ref|; floor = f64 rebuild of xhat from the rounded y",
  );
  const head = ["C", "dtype", "max|dx|", "baseline", "tempo", "floor", "base rel", "tempo rel"];
  const cells = rows.map((r) => [
    String(r.C),
    r.dtype,
    r.scale.toFixed(3),
    e(r.baseline),
    e(r.tempo),
    e(r.floor),
    e(r.baseline / r.scale),
    e(r.tempo / r.scale),
    e(r.floor / r.scale),
    e(r.ownY),
  ]);
  head.push("floor rel", "own y");
  const w = head.map((h, k) => Math.max(h.length, ...cells.map((c) => c[k].length)));
  const line = (c: string[]) => c.map((s, k) => (k === 1 ? s.padEnd(w[k]) : s.padStart(w[k])));
  console.log(line(head).join("  "));
  for (const c of cells) console.log(line(c).join("  "));
  return rows;
}

if (import.meta.main) await main();
