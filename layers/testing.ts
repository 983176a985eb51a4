/**
 * Test harness for layers: runs forward and backward on the GPU through a fresh allocator,
 * returns outputs and gradients, and measures what the allocator saw (the peaks of each call, the
 * bytes kept from forward to backward, and whether the input or the output itself was kept) so
 * tests can hold the layer's declared saves against them.
 * @module
 */
import type { DType } from "../core/dtype.ts";
import type { StepContext } from "../core/step.ts";
import type { Tensor } from "../core/tensor.ts";
import type { GpuFixture } from "../core/testing.ts";
import { type Layer, savedBytes, type SavedSpec } from "./layer.ts";
import type { Param } from "./params.ts";

/** One input of a layer run. */
export interface InputSpec {
  /** Values. */
  data: ArrayLike<number>;
  /** Shape. */
  shape: readonly number[];
  /** f32 (default) or i32. */
  dtype?: DType;
}

/** What a layer run produced and measured. */
export interface LayerRun {
  /** Forward output. */
  y: Float32Array;
  /** Gradient of each input (null where none). */
  dxs: (Float32Array | null)[];
  /** Parameter gradients by parameter name. */
  grads: Record<string, Float32Array>;
  /** Measured max of (live - live before) during forward. */
  forwardPeak: number;
  /** Measured max of (live - live before) during backward. */
  backwardPeak: number;
  /** Activation bytes live after forward minus before (what the layer kept). */
  savedBytes: number;
  /** Whether forward kept its first input itself (it moved to `activation`). */
  keptInput: boolean;
  /** Whether forward kept its output itself. */
  keptOutput: boolean;
  /** Bytes live after backward minus before forward, excluding the returned gradients. */
  leaked: number;
}

/** Run `layer` forward and backward with `dy`; parameters get `paramValues` (by name). */
export async function runLayer(
  f: GpuFixture,
  layer: Layer,
  params: readonly Param[],
  paramValues: Record<string, ArrayLike<number>>,
  inputs: readonly (InputSpec | null)[],
  dy: ArrayLike<number>,
  options: {
    seed?: number;
    stream?: number;
    training?: boolean;
    /** The context's first global sample (StepContext.sampleOffset) and batch size. */
    sampleOffset?: number;
    samples?: number;
  } = {},
): Promise<LayerRun> {
  const a = f.alloc, enc = f.enc;
  for (const p of params) {
    const v = paramValues[p.name];
    if (!v) throw new Error(`no value for parameter ${p.name}`);
    enc.write(p.value, Float32Array.from(v));
    enc.write(p.grad, new Float32Array(p.grad.size));
  }
  const ins = inputs.map((s) => s ? f.upload(s.data, s.shape, s.dtype ?? "f32") : null);
  const ctx: StepContext = {
    enc,
    alloc: a,
    training: options.training ?? true,
    seed: options.seed ?? 7,
    stream: options.stream ?? 3,
    sampleOffset: options.sampleOffset,
    samples: options.samples,
    lossScale: 1,
  };
  await enc.sync();
  const before = a.report();
  a.resetPeak();
  const y = layer.forward(ctx, ins as Tensor[]);
  const afterF = a.report();
  const forwardPeak = afterF.peak - before.liveTotal;
  const saved = afterF.live.activation - before.live.activation;
  const keptInput = ins[0]?.category === "activation", keptOutput = y.category === "activation";
  const yHost = await enc.readF32(y);
  const dyT = f.upload(dy, y.shape);
  await enc.sync();
  const beforeB = a.report();
  a.resetPeak();
  const dxs = layer.backward(ctx, dyT);
  const afterB = a.report();
  const backwardPeak = afterB.peak - beforeB.liveTotal;
  const dxHost = await Promise.all(dxs.map((d) => d ? enc.readF32(d) : null));
  const grads: Record<string, Float32Array> = {};
  for (const p of params) grads[p.name] = await enc.readF32(p.grad);
  for (const d of dxs) if (d) a.release(d);
  a.release(dyT);
  a.release(y);
  for (const t of ins) if (t) a.release(t);
  const leaked = a.report().liveTotal -
    (before.liveTotal - ins.reduce((s, t) => s + (t?.bytes ?? 0), 0));
  return {
    y: yHost,
    dxs: dxHost,
    grads,
    forwardPeak,
    backwardPeak,
    savedBytes: saved,
    keptInput,
    keptOutput,
    leaked,
  };
}

/** Sum of the bytes a declaration names. */
export function declaredSavedBytes(saves: readonly SavedSpec[]): number {
  return saves.reduce((s, x) => s + savedBytes(x), 0);
}

/**
 * Throw unless what forward kept equals the declared saves: the bytes, to the byte, and which of
 * them are the input or the output itself; and unless backward released everything it kept.
 */
export function assertSavesMatch(name: string, saves: readonly SavedSpec[], run: LayerRun): void {
  const problems: string[] = [];
  const d = declaredSavedBytes(saves);
  if (run.savedBytes !== d) problems.push(`saved ${run.savedBytes} != declared ${d}`);
  const of = (k: SavedSpec["of"]) => saves.some((x) => x.of === k);
  if (run.keptInput !== of("input")) {
    problems.push(`input ${run.keptInput ? "kept" : "not kept"}, declared otherwise`);
  }
  if (run.keptOutput !== of("output")) {
    problems.push(`output ${run.keptOutput ? "kept" : "not kept"}, declared otherwise`);
  }
  if (run.leaked !== 0) problems.push(`${run.leaked} bytes still live after backward`);
  if (problems.length) throw new Error(`${name}: ${problems.join("; ")}`);
}

/**
 * Central finite differences of L(x) = sum(dy * f(x)) with respect to `x`, at the indices given
 * (all when omitted). f is an f64 reference.
 */
export function finiteDiff(
  f: (x: Float64Array) => ArrayLike<number>,
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
  h = 1e-5,
  indices?: number[],
): Float64Array {
  const xs = Float64Array.from(x);
  const out = new Float64Array(xs.length);
  const loss = () => {
    const y = f(xs);
    let s = 0;
    for (let i = 0; i < y.length; i++) s += dy[i] * y[i];
    return s;
  };
  for (const i of indices ?? [...xs.keys()]) {
    const x0 = xs[i];
    xs[i] = x0 + h;
    const lp = loss();
    xs[i] = x0 - h;
    const lm = loss();
    xs[i] = x0;
    out[i] = (lp - lm) / (2 * h);
  }
  return out;
}
