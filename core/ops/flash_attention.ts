/**
 * Fused multi-head attention that never stores the probabilities (FlashAttention-2's algorithm):
 *   qkv [B, T, 3C] -> out [B, T, C] = dropout(softmax(Q K^T / sqrt(HS) + masks)) V per head,
 *   and lse [B, NH, T] f32, the log-sum-exp of each row's scaled, masked scores.
 * The forward runs an online softmax over blocks of keys and writes only `out` and `lse`; the
 * backward recomputes S and P block by block from Q, K and lse (P = exp(S - lse)), with
 * D = rowsum(dO * O) in place of rowsum(dP * P), in two passes: dQ (one row of queries at a time,
 * which also writes D) and dK/dV (one row of keys at a time, over the queries that see it).
 * Nothing [T, T]-sized exists at any time.
 *
 * Heads are read from and written to the fused QKV layout directly (no head permutations):
 * qkv/dqkv columns [Q | K | V], each NH*HS head-major, out/dout [B, T, C] token-major, as the
 * unfused layer's inputs and outputs (layers/attention.ts). Masks: causal (key j > query i) and
 * padding (i32 [B*T], 0 = pad key); a row whose keys are all masked gives zeros (lse -Infinity).
 * Dropout of P regenerates the unfused layer's mask: element ((b*NH + h)*T + i)*T + j (+ offset)
 * of stream (seed, stream), through rng.ts's Philox decision, so fused and unfused runs draw
 * identical masks and nothing is stored.
 *
 * Storage: qkv, out, dout and dqkv are f32, f16 or bf16 (one dtype for all four; computation in
 * f32); lse and D are f32. HS must be a multiple of 4 (vec4 rows), at most 128. Kernels from the
 * policy (`attention`): `blocked` (software adapter) or `tiled` (GPUs). Operands larger than one
 * storage binding are split into spans of whole batch items. Ops never allocate: D, the backward's
 * [B, NH, T] f32 workspace, is the caller's.
 * @module
 */
import { bytesOf, type FloatDType } from "../dtype.ts";
import { needDtype } from "../dtype_check.ts";
import type { Bindable, Encoder } from "../encoder.ts";
import type { Gpu } from "../gpu.ts";
import { groups1d, type KernelSpec } from "../kernel.ts";
import type { Tensor } from "../tensor.ts";
import { needI32 } from "./checks.ts";
import { alignedItems, type ChunkOptions, type Span, spanRange, spans } from "./chunking.ts";
import { BLOCKED, BLOCKED_WG, blockedSpec } from "./flash_attention_blocked.ts";
import type { FlashPass } from "./flash_attention_kernel.ts";
import { TILED_ROWS, tiledSpec } from "./flash_attention_tiled.ts";
import { keepThreshold } from "./rng.ts";

/** Largest head size (rows of HS live in registers or private arrays). */
export const FLASH_MAX_HS = 128;

/** The attention shape. */
export interface FlashShape extends ChunkOptions {
  /** Batch. */
  B: number;
  /** Sequence length. */
  T: number;
  /** Heads. */
  NH: number;
  /** Head size (a multiple of 4, at most FLASH_MAX_HS). */
  HS: number;
}

/** Dropout of P, regenerated from the counter RNG (never stored). */
export interface FlashDropout {
  /** Drop probability in [0, 1). */
  p: number;
  /** RNG seed of the run. */
  seed: number;
  /** RNG stream of this call site and step (`dropoutStream`). */
  stream: number;
  /**
   * Element of the stream at which this call's [B, NH, T, T] index starts (default 0): where a
   * micro-batch's first sample starts in a larger batch.
   */
  offset?: number;
}

/** Masks and dropout, the same in forward and backward. */
export interface FlashMasks {
  /** Mask keys after the query position (GPT-2). */
  causal: boolean;
  /** i32 [B*T]: 1 = real token, 0 = pad (masked as a key), or none. */
  padMask?: Tensor | null;
  /** Dropout of P, or none (p = 0 is none). */
  dropout?: FlashDropout | null;
}

/** What `flashAttentionForward` reads and writes. */
export interface FlashForwardArgs extends FlashShape, FlashMasks {
  /** [B, T, C] output (the dtype of qkv). */
  out: Tensor;
  /** [B, NH, T] f32 output: each row's log-sum-exp (-Infinity where every key is masked). */
  lse: Tensor;
  /** [B, T, 3C] input, columns [Q | K | V]. */
  qkv: Tensor;
}

/** What `flashAttentionBackward` reads and writes. */
export interface FlashBackwardArgs extends FlashShape, FlashMasks {
  /** [B, T, 3C] output: the gradients of Q, K and V in qkv's layout (every element written). */
  dqkv: Tensor;
  /** [B, NH, T] f32 workspace: D = rowsum(dO * O). */
  D: Tensor;
  /** [B, T, C] upstream gradient. */
  dout: Tensor;
  /** [B, T, C] the forward's output. */
  out: Tensor;
  /** [B, NH, T] f32 the forward's log-sum-exp. */
  lse: Tensor;
  /** [B, T, 3C] the forward's input. */
  qkv: Tensor;
}

const FLOATS: readonly FloatDType[] = ["f32", "f16", "bf16"];

/** Check shapes, dtypes and masks; returns the storage dtype. */
function check(op: string, a: FlashShape & FlashMasks, tensors: [string, Tensor, number][]) {
  const { B, T, NH, HS } = a;
  for (const [k, v] of Object.entries({ B, T, NH, HS })) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${op}: ${k} must be a positive integer`);
  }
  if (HS % 4 !== 0 || HS > FLASH_MAX_HS) {
    throw new Error(
      `${op}: head size ${HS} is unsupported (fused attention needs a multiple of 4 up to ` +
        `${FLASH_MAX_HS}); use the standard attention layer`,
    );
  }
  const dtype = needDtype(op, tensors[0][0], tensors[0][1], FLOATS, tensors[0][2]);
  for (const [name, t, n] of tensors.slice(1)) {
    if (name === "lse" || name === "D") needDtype(op, name, t, ["f32"], n);
    else if (needDtype(op, name, t, FLOATS, n) !== dtype) {
      throw new Error(`${op}: ${name} ${t} must have qkv's dtype ${dtype}`);
    }
  }
  if (a.padMask) needI32(op, "padMask", a.padMask, B * T, null);
  const d = a.dropout;
  if (d && d.p > 0) {
    keepThreshold(d.p); // throws outside [0, 1)
    const off = d.offset ?? 0;
    if (!Number.isSafeInteger(off) || off < 0) {
      throw new Error(`${op}: dropout offset ${off} must be a non-negative integer`);
    }
  }
  return dtype;
}

/** The dropout uniforms (keep-all without dropout). */
function dropoutUniforms(d: FlashDropout | null | undefined) {
  if (!d || d.p === 0) {
    return { threshold: keepThreshold(0), seed: 0, stream: 0, offLo: 0, offHi: 0, keepScale: 1 };
  }
  const off = d.offset ?? 0, hi = Math.floor(off / 4294967296);
  return {
    threshold: keepThreshold(d.p),
    seed: d.seed >>> 0,
    stream: d.stream >>> 0,
    offLo: off - hi * 4294967296,
    offHi: hi,
    keepScale: 1 / (1 - d.p),
  };
}

/** Spans of whole batch items whose every operand fits one binding and starts aligned. */
function batchSpans(op: string, gpu: Gpu, a: FlashShape, dtype: FloatDType): Span[] {
  const { B, T, NH, HS } = a, C = NH * HS;
  const items = [bytesOf(dtype, T * 3 * C), bytesOf(dtype, T * C), 4 * NH * T, 4 * T];
  const lcm = (x: number, y: number): number => {
    const g = (p: number, q: number): number => q === 0 ? p : g(q, p % q);
    return (x / g(x, y)) * y;
  };
  const unit = items.map((n) => alignedItems(gpu, n)).reduce(lcm, 1);
  return spans(op, gpu, {
    count: B,
    itemBytes: items[0],
    unit,
    what: `batch items of [T=${T}, 3C=${3 * C}]`,
    maxBindingBytes: a.maxBindingBytes,
  });
}

/** One pass's dispatches, one per span of batch items. */
function run(
  op: string,
  enc: Encoder,
  pass: FlashPass,
  a: FlashShape & FlashMasks,
  dtype: FloatDType,
  operands: Record<string, Tensor>,
): void {
  const gpu = enc.gpu;
  if (!gpu) return;
  const { T, NH, HS } = a, C = NH * HS;
  const pad = a.padMask ?? null;
  const key = { pass, dtype, HS };
  const tiled = gpu.kernels.attention === "tiled";
  const spec: KernelSpec = tiled ? tiledSpec(key) : blockedSpec(key);
  const perItem: Record<string, number> = {
    qkv: bytesOf(dtype, T * 3 * C),
    dqkv: bytesOf(dtype, T * 3 * C),
    out: bytesOf(dtype, T * C),
    dout: bytesOf(dtype, T * C),
    lse: 4 * NH * T,
    D: 4 * NH * T,
    pad: 4 * T,
  };
  const uniforms = {
    T,
    NH,
    C4: C / 4,
    causal: a.causal ? 1 : 0,
    hasPad: pad ? 1 : 0,
    scale: 1 / Math.sqrt(HS),
    ...dropoutUniforms(a.dropout),
  };
  for (const sp of batchSpans(op, gpu, a, dtype)) {
    const bindings: Record<string, Bindable> = {};
    for (const [name, t] of Object.entries(operands)) {
      bindings[name] = spanRange(t, sp, perItem[name]);
    }
    // Without a pad mask, qkv stands in for it (read-only, never read: hasPad = 0).
    bindings.pad = pad ? spanRange(pad, sp, perItem.pad) : bindings.qkv;
    const rows = sp.count * NH * Math.ceil(T / (tiled ? TILED_ROWS : BLOCKED[pass].R));
    const groups = tiled ? groups1d(rows, 1) : groups1d(rows, BLOCKED_WG);
    enc.dispatch(spec, bindings, { ...uniforms, B: sp.count, b0: sp.first }, groups);
  }
}

/**
 * Forward: out = dropout(softmax(Q K^T / sqrt(HS) + masks)) V per head, and each row's
 * log-sum-exp, from qkv; nothing else is written.
 */
export function flashAttentionForward(enc: Encoder, a: FlashForwardArgs): void {
  const op = "flashAttentionForward";
  const { B, T, NH, HS } = a, C = NH * HS;
  const dtype = check(op, a, [
    ["qkv", a.qkv, B * T * 3 * C],
    ["out", a.out, B * T * C],
    ["lse", a.lse, B * NH * T],
  ]);
  if (a.out === a.qkv) throw new Error(`${op}: out must not alias qkv`);
  run(op, enc, "fwd", a, dtype, { qkv: a.qkv, out: a.out, lse: a.lse });
}

/**
 * Backward: dqkv (dQ, dK, dV in qkv's layout) from dout, recomputing S and P from qkv and lse;
 * D = rowsum(dout * out) is written to the workspace `D` first (by the dQ pass).
 */
export function flashAttentionBackward(enc: Encoder, a: FlashBackwardArgs): void {
  const op = "flashAttentionBackward";
  const { B, T, NH, HS } = a, C = NH * HS;
  const dtype = check(op, a, [
    ["qkv", a.qkv, B * T * 3 * C],
    ["out", a.out, B * T * C],
    ["dout", a.dout, B * T * C],
    ["dqkv", a.dqkv, B * T * 3 * C],
    ["lse", a.lse, B * NH * T],
    ["D", a.D, B * NH * T],
  ]);
  const written = [a.dqkv, a.D];
  for (const t of [a.qkv, a.out, a.dout, a.lse]) {
    if (written.includes(t)) throw new Error(`${op}: outputs must not alias inputs`);
  }
  const ins = { qkv: a.qkv, out: a.out, dout: a.dout, lse: a.lse };
  run(op, enc, "dq", a, dtype, { ...ins, D: a.D, dqkv: a.dqkv });
  run(op, enc, "dkv", a, dtype, { ...ins, D: a.D, dqkv: a.dqkv });
}
