import { Allocator } from "../allocator.ts";
import type { FloatDType } from "../dtype.ts";
import { Encoder } from "../encoder.ts";
import { roundedTo } from "../half.ts";
import {
  assertClose,
  forEachKernel,
  GPU_TEST,
  type GpuFixture,
  gpuFixture,
  randn,
} from "../testing.ts";
import { dropoutMaskRef } from "./dropout_ref.ts";
import { flashAttentionBackward, flashAttentionForward } from "./flash_attention.ts";
import { flashBackwardRef, flashForwardRef, type FlashRefConfig } from "./flash_attention_ref.ts";
import { DROPOUT_KEY1, keepThreshold, philox4x32 } from "./rng.ts";

// Shapes: HS = 8 everywhere (one kernel per pass, mask and variant); T = 67 is odd, not a
// multiple of the blocked kernels' 4 rows and keys nor of the tiled kernels' 64 rows and 16-key
// tiles, and spans two row tiles of the tiled kernels.
const HS = 8, NH = 2, SEED = 7, STREAM = 3 * 1024 + 9;

/** Tolerances (f32 storage, f32 arithmetic, |values| ~ 1): out and dqkv, lse. */
const TOL = { atol: 2e-5, rtol: 2e-4 };

interface Case {
  B: number;
  T: number;
  causal: boolean;
  pad: number[] | null;
  p: number;
  what: string;
}

/** Batch item 1 padded from position `from` on (batch item 0 all real). */
function tailPad(B: number, T: number, from: number): number[] {
  return Array.from({ length: B * T }, (_, i) => (i >= T && i % T >= from ? 0 : 1));
}

/** Batch item 0 left-padded at its first `n` positions: with a causal mask, rows 0..n-1 see no key. */
function leftPad(B: number, T: number, n: number): number[] {
  return Array.from({ length: B * T }, (_, i) => (i < n ? 0 : 1));
}

function refConfig(c: Case, offset = 0): FlashRefConfig {
  const n = c.B * NH * c.T * c.T;
  const keep = c.p > 0
    ? (offset === 0 ? dropoutMaskRef(n, c.p, SEED, STREAM) : keepAt(n, c.p, offset))
    : null;
  return { B: c.B, T: c.T, NH, HS, causal: c.causal, pad: c.pad, keep, p: c.p };
}

/**
 * Keep decisions of elements offset .. offset + n - 1 written out from rng.ts's module doc, with
 * the quad index's high word in the counter's third word (indices past 2^32).
 */
function keepAt(n: number, p: number, offset: number): Uint8Array {
  const th = keepThreshold(p), keep = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const e = offset + i, q = Math.floor(e / 4), hi = Math.floor(q / 2 ** 32);
    const r = philox4x32([q - hi * 2 ** 32, STREAM, hi, 0], [SEED, DROPOUT_KEY1])[e % 4];
    keep[i] = (r >>> 8) < th ? 1 : 0;
  }
  return keep;
}

interface GpuRun {
  out: Float32Array;
  lse: Float32Array;
  dqkv: Float32Array;
}

/** Forward and backward on the GPU with qkv, dout of the given storage dtype. */
async function runFlash(
  f: GpuFixture,
  c: Case,
  qkv: ArrayLike<number>,
  dout: ArrayLike<number>,
  opts: { dtype?: FloatDType; offset?: number; maxBindingBytes?: number } = {},
): Promise<GpuRun> {
  const dtype = opts.dtype ?? "f32", { B, T } = c, C = NH * HS, a = f.alloc;
  const tq = f.upload(qkv, [B, T, 3 * C], dtype), tdo = f.upload(dout, [B, T, C], dtype);
  const pad = c.pad ? f.upload(c.pad, [B * T], "i32") : null;
  const out = a.alloc([B, T, C], dtype, "workspace", "out");
  const lse = a.alloc([B, NH, T], "f32", "workspace", "lse");
  const D = a.alloc([B, NH, T], "f32", "workspace", "D");
  const dqkv = a.alloc([B, T, 3 * C], dtype, "workspace", "dqkv");
  const shape = { B, T, NH, HS, maxBindingBytes: opts.maxBindingBytes };
  const masks = {
    causal: c.causal,
    padMask: pad,
    dropout: c.p > 0 ? { p: c.p, seed: SEED, stream: STREAM, offset: opts.offset } : null,
  };
  flashAttentionForward(f.enc, { ...shape, ...masks, out, lse, qkv: tq });
  flashAttentionBackward(f.enc, { ...shape, ...masks, dqkv, D, dout: tdo, out, lse, qkv: tq });
  const r = { out: await f.readF32(out), lse: await f.readF32(lse), dqkv: await f.readF32(dqkv) };
  for (const t of [tq, tdo, pad, out, lse, D, dqkv]) if (t) a.release(t);
  return r;
}

/** Max abs errors of a GPU run against the reference (asserting the tolerances). */
function compare(
  r: GpuRun,
  c: Case,
  qkv: ArrayLike<number>,
  dout: ArrayLike<number>,
  what: string,
  cfg = refConfig(c),
  tol = TOL,
) {
  const fwd = flashForwardRef(qkv, cfg);
  const dqkv = flashBackwardRef(dout, qkv, fwd, cfg);
  const eo = assertClose(r.out, fwd.out, tol.atol, tol.rtol, `${what}: out`);
  // lse: -Infinity rows must be -Infinity exactly.
  for (let i = 0; i < fwd.lse.length; i++) {
    if ((fwd.lse[i] === -Infinity) !== (r.lse[i] === -Infinity)) {
      throw new Error(`${what}: lse row ${i} is ${r.lse[i]}, reference ${fwd.lse[i]}`);
    }
  }
  const finite = (x: ArrayLike<number>) => Array.from(x, (v) => (Number.isFinite(v) ? v : 0));
  const el = assertClose(finite(r.lse), finite(fwd.lse), tol.atol, tol.rtol, `${what}: lse`);
  const eg = assertClose(r.dqkv, dqkv, tol.atol, tol.rtol, `${what}: dqkv`);
  return { out: eo, lse: el, dqkv: eg };
}

/** Central differences of L(x) = sum(dy * f(x)) (f64). */
function finiteDiff(
  f: (x: Float64Array) => ArrayLike<number>,
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
  h: number,
): Float64Array {
  const xs = Float64Array.from(x), out = new Float64Array(xs.length);
  const loss = () => Array.from(f(xs)).reduce((s, y, i) => s + dy[i] * y, 0);
  for (let i = 0; i < xs.length; i++) {
    const x0 = xs[i];
    xs[i] = x0 + h;
    const lp = loss();
    xs[i] = x0 - h;
    out[i] = (lp - loss()) / (2 * h);
    xs[i] = x0;
  }
  return out;
}

/** Say a case's max errors (the figures the docs quote). */
const say = (what: string, e: object) => console.log(`  ${what}: max abs err ${JSON.stringify(e)}`);

Deno.test("flash reference: gradients equal central differences (f64), masks and dropout", () => {
  const cases: Case[] = [
    { B: 2, T: 5, causal: true, pad: null, p: 0, what: "causal" },
    { B: 2, T: 6, causal: false, pad: tailPad(2, 6, 3), p: 0.5, what: "pad, p=0.5" },
    { B: 2, T: 5, causal: true, pad: leftPad(2, 5, 2), p: 0.1, what: "causal, left pad, p=0.1" },
  ];
  for (const c of cases) {
    const cfg = refConfig(c), C = NH * HS;
    const qkv = randn(c.B * c.T * 3 * C, 1), dy = randn(c.B * c.T * C, 2);
    const fd = finiteDiff((x) => flashForwardRef(x, cfg).out, qkv, dy, 1e-5);
    const got = flashBackwardRef(dy, qkv, flashForwardRef(qkv, cfg), cfg);
    assertClose(got, fd, 1e-8, 1e-6, `${c.what}: reference vs central differences`);
  }
});

const CASES: Case[] = [
  { B: 2, T: 67, causal: true, pad: null, p: 0, what: "causal p=0" },
  { B: 2, T: 67, causal: true, pad: null, p: 0.1, what: "causal p=0.1" },
  // Batch item 1 padded from 20 on: whole blocks of 4 keys and whole 16-key tiles are padding.
  { B: 2, T: 67, causal: false, pad: tailPad(2, 67, 20), p: 0, what: "pad p=0" },
  { B: 2, T: 67, causal: false, pad: tailPad(2, 67, 20), p: 0.5, what: "pad p=0.5" },
  // Causal with left padding: the first 5 rows of batch item 0 see no key (zeros, lse -inf).
  { B: 2, T: 67, causal: true, pad: leftPad(2, 67, 5), p: 0.1, what: "causal, left pad" },
];

Deno.test({
  name: "flash attention: every kernel vs the f64 reference (masks, dropout, odd T)",
  ...GPU_TEST,
}, async () => {
  await forEachKernel("attention", async (f, kernel) => {
    for (const [n, c] of CASES.entries()) {
      const qkv = randn(c.B * c.T * 3 * NH * HS, 10 + n), dout = randn(c.B * c.T * NH * HS, 20 + n);
      const r = await runFlash(f, c, qkv, dout);
      const e = compare(r, c, qkv, dout, `${kernel} ${c.what}`);
      say(`${kernel} T=${c.T} ${c.what}`, e);
      if (c.pad && !c.causal) {
        // A query row at a padded position still attends to the real keys: not zero.
        if (r.out.slice((c.T + 66) * NH * HS).every((v) => v === 0)) throw new Error("pad row 0");
      }
      if (c.pad && c.causal) {
        for (let d = 0; d < NH * HS; d++) if (r.out[d] !== 0) throw new Error("empty row not 0");
      }
    }
  });
});

Deno.test({
  name: "flash attention: T = 2048 at head size 8, causal with dropout, every kernel",
  ...GPU_TEST,
}, async () => {
  const c: Case = { B: 1, T: 2048, causal: true, pad: null, p: 0.1, what: "T=2048" };
  const qkv = randn(c.T * 3 * NH * HS, 31), dout = randn(c.T * NH * HS, 32);
  const cfg = refConfig(c);
  await forEachKernel("attention", async (f, kernel) => {
    const r = await runFlash(f, c, qkv, dout);
    const e = compare(r, c, qkv, dout, `${kernel} ${c.what}`, cfg);
    say(`${kernel} T=2048 causal p=0.1`, e);
  });
});

Deno.test({
  name: "flash attention: bf16 storage (blocked), chunks over the batch, offsets past 2^32",
  ...GPU_TEST,
}, async () => {
  const f = await gpuFixture({ kernels: { attention: "blocked" } });
  const c: Case = { B: 3, T: 21, causal: false, pad: tailPad(3, 21, 9), p: 0.3, what: "" };
  const qkv = randn(c.B * c.T * 3 * NH * HS, 41), dout = randn(c.B * c.T * NH * HS, 42);
  // 16-bit storage (bf16: the packed one; f16 differs only in the generated accessors): the
  // reference sees the rounded inputs; outputs are rounded once more.
  for (const [dtype, tol] of [["bf16", 3e-2]] as const) {
    const cd = { ...c, what: dtype };
    const r = await runFlash(f, cd, qkv, dout, { dtype });
    const q = roundedTo(dtype, qkv), g = roundedTo(dtype, dout);
    const e = compare(r, cd, q, g, dtype, refConfig(cd), { atol: tol, rtol: tol });
    say(`blocked ${dtype} T=21 pad p=0.3`, e);
  }
  // One batch item per binding (T = 64: every operand's item is a multiple of 256 bytes):
  // three spans, each with its own first batch item (b0).
  const c64: Case = { ...c, T: 64, pad: tailPad(3, 64, 9) };
  const q64 = randn(3 * 64 * 3 * NH * HS, 43), g64 = randn(3 * 64 * NH * HS, 44);
  const whole = await runFlash(f, c64, q64, g64);
  const split = await runFlash(f, c64, q64, g64, { maxBindingBytes: 64 * 3 * NH * HS * 4 });
  assertClose(split.dqkv, whole.dqkv, 0, 0, "chunked dqkv == whole");
  assertClose(split.out, whole.out, 0, 0, "chunked out == whole");
  // An element offset past 2^32: the quad index's high word reaches the Philox counter.
  const offset = 2 ** 34 + 12345;
  const r = await runFlash(f, c, qkv, dout, { offset });
  compare(r, c, qkv, dout, "offset 2^34 + 12345", refConfig(c, offset));
});

Deno.test("flash attention: unsupported head sizes and mixed dtypes fail by name", () => {
  const a = new Allocator(), enc = new Encoder(null);
  const qkv = a.alloc([1, 4, 18], "f32", "workspace", "qkv");
  const out = a.alloc([1, 4, 6], "f32", "workspace", "out");
  const lse = a.alloc([1, 1, 4], "f32", "workspace", "lse");
  const args = { B: 1, T: 4, NH: 1, HS: 6, causal: false, qkv, out, lse };
  const expect = (fn: () => void, pattern: RegExp) => {
    try {
      fn();
    } catch (e) {
      if (pattern.test((e as Error).message)) return;
      throw e;
    }
    throw new Error(`no error matching ${pattern}`);
  };
  expect(() => flashAttentionForward(enc, args), /head size 6 is unsupported/);
  const q16 = a.alloc([1, 4, 24], "f16", "workspace", "qkv16");
  const o8 = a.alloc([1, 4, 8], "f32", "workspace", "o8");
  expect(
    () => flashAttentionForward(enc, { ...args, HS: 8, qkv: q16, out: o8 }),
    /out .* must have qkv's dtype f16/,
  );
});
