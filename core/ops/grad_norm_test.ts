import type { Tensor } from "../tensor.ts";
import { assertClose, forEachKernel, GPU_TEST, gpuFixture, randn } from "../testing.ts";
import { adamw } from "./adamw.ts";
import { adamwRef } from "./adamw_ref.ts";
import {
  ELEMS_PER_GROUP,
  globalGradNorm,
  gradNormScratchBytes,
  OVERFLOW_BIT,
  PARTIALS_PER_GROUP,
} from "./grad_norm.ts";
import { globalGradNormRef } from "./grad_norm_ref.ts";
import { Allocator } from "../allocator.ts";
import { Encoder } from "../encoder.ts";
import { assertRefuses } from "./half_testing.ts";

// Odd sizes around the block of E elements, an empty tensor, and one spanning 4 blocks.
const E = ELEMS_PER_GROUP;
const SIZES = [1, E - 1, 0, E + 1, 3 * E + 713, 37];
// Two blocks per binding: the 4-block tensor is bound in two chunks.
const SMALL_BINDING = 2 * 4 * ELEMS_PER_GROUP + 256;

function bitsEqual(a: Float32Array, b: Float32Array, what: string): void {
  const ua = new Uint32Array(a.buffer), ub = new Uint32Array(b.buffer);
  for (let i = 0; i < ua.length; i++) {
    if (ua[i] !== ub[i]) throw new Error(`${what}: element ${i} differs between runs`);
  }
}

Deno.test("gradNormScratchBytes: PARTIALS_PER_GROUP f32 per started block of each tensor", () => {
  const t = (size: number) => ({ size }) as Tensor;
  const got = gradNormScratchBytes(SIZES.map(t));
  const want = 4 * PARTIALS_PER_GROUP * (1 + 1 + 0 + 2 + 4 + 1);
  if (got !== want) throw new Error(`scratch bytes ${got}, want ${want}`);
});

Deno.test(
  {
    name: "globalGradNorm: norm and clip factor, chunked, deterministic, every kernel",
    ...GPU_TEST,
  },
  () =>
    forEachKernel("gradNorm", async (f, kernel) => {
      const host = SIZES.map((n, i) => Float32Array.from(randn(n, 20 + i, 0.1)));
      // (Deno 2.9.6 panics on a zero-byte writeBuffer: the empty tensor is allocated, not uploaded.)
      const grads = host.map((h) =>
        h.length === 0 ? f.alloc.alloc([0], "f32", "grad", "empty") : f.upload(h, [h.length], "f32")
      );
      const scratch = f.alloc.alloc(
        [gradNormScratchBytes(grads) / 4],
        "f32",
        "workspace",
        "scratch",
      );
      const runs: Float32Array[] = [];
      for (
        const [maxNorm, maxBinding] of [
          [1, undefined],
          [1, SMALL_BINDING],
          [1, SMALL_BINDING],
          [1e6, undefined],
          [0, undefined],
          [Infinity, undefined],
        ]
      ) {
        const out = f.upload([7, 7], [2]);
        globalGradNorm(f.enc, {
          out,
          scratch,
          grads,
          maxNorm: maxNorm!,
          maxBindingBytes: maxBinding,
        });
        const got = await f.readF32(out);
        // ~83k squares summed in f32 (fixed-order partials, then a tree): relative error ~1e-6.
        assertClose(
          got,
          globalGradNormRef(host, maxNorm!),
          0,
          2e-6,
          `${kernel}: maxNorm=${maxNorm} ${maxBinding}`,
        );
        runs.push(got);
      }
      if (!(runs[0][1] < 0.2)) {
        throw new Error(`clip factor ${runs[0][1]} should clip (norm ~28.8)`);
      }
      bitsEqual(runs[0], runs[1], "whole vs chunked"); // blocks never straddle chunks: same order
      bitsEqual(runs[1], runs[2], "chunked run twice");
    }),
);

Deno.test({ name: "globalGradNorm output feeds adamw's gradScale", ...GPU_TEST }, async () => {
  const f = await gpuFixture();
  const n = 37;
  const g = Float32Array.from(randn(n, 5, 3)), p0 = Float32Array.from(randn(n, 6));
  const grad = f.upload(g, [n]), param = f.upload(p0, [n]);
  const m = f.upload(new Float32Array(n), [n]), v = f.upload(new Float32Array(n), [n]);
  const out = f.upload([0, 0], [2]);
  const scratch = f.alloc.alloc([gradNormScratchBytes([grad]) / 4], "f32", "workspace", "scratch");
  globalGradNorm(f.enc, { out, scratch, grads: [grad], maxNorm: 2 });
  const hp = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, step: 1 };
  adamw(f.enc, { param, grad, m, v, n, gradScale: out }, hp);
  const [, factor] = globalGradNormRef([g], 2);
  const refP = Float64Array.from(p0), refM = new Float64Array(n), refV = new Float64Array(n);
  adamwRef(refP, g, refM, refV, hp, factor);
  assertClose(await f.readF32(m), refM, 1e-7, 1e-5, "m uses the clip factor");
  assertClose(await f.readF32(param), refP, 1e-6, 1e-6, "param");
});

Deno.test(
  { name: "globalGradNorm ignores NaN past a tensor's end", ...GPU_TEST },
  () =>
    forEachKernel("gradNorm", async (f) => {
      // A pooled buffer first filled with NaN, then reused by a tensor of 4097 (= 4 * 1024 + 1)
      // elements: the last vec4 read covers 3 NaN words past the end.
      const nan = f.upload(new Float32Array(4100).fill(NaN), [4100]);
      f.alloc.release(nan);
      const host = Float32Array.from(randn(4097, 8));
      const g = f.upload(host, [4097]);
      if (g.buffer !== nan.buffer) throw new Error("test setup: the pooled buffer was not reused");
      const out = f.upload([0, 0], [2]);
      const scratch = f.alloc.alloc([gradNormScratchBytes([g]) / 4], "f32", "workspace", "scratch");
      globalGradNorm(f.enc, { out, scratch, grads: [g], maxNorm: 0 });
      assertClose(await f.readF32(out), globalGradNormRef([host], 0), 0, 2e-6, "norm");
    }),
);

Deno.test("globalGradNorm refuses 16-bit gradients by op, binding and tensor (f32 by design)", () => {
  const alloc = new Allocator();
  const out = alloc.alloc([2], "f32", "workspace", "out"),
    s = alloc.alloc([1024], "f32", "workspace", "s");
  const h = alloc.alloc([8], "f16", "grad", "dh");
  assertRefuses(
    () => globalGradNorm(new Encoder(null), { out, scratch: s, grads: [out, h], maxNorm: 1 }),
    ["globalGradNorm", "grads[1]", "must be f32", "'dh'"],
    "f16 grad",
  );
});

Deno.test(
  {
    name: "globalGradNorm, loss-scaled: unscaled norm and factor, a sticky overflow bit",
    ...GPU_TEST,
  },
  () =>
    forEachKernel("gradNorm", async (f) => {
      const S = 2 ** 16;
      const g = Float32Array.from(randn(E + 37, 9, 0.1)), scaled = g.map((x) => x * S);
      const grads = [f.upload(scaled, [g.length])];
      const scratch = f.alloc.alloc(
        [gradNormScratchBytes(grads) / 4],
        "f32",
        "workspace",
        "scratch",
      );
      const overflow = f.alloc.alloc([1], "u32", "workspace", "overflow");
      f.enc.clear(overflow);
      const out = f.upload([0, 0], [2]);
      globalGradNorm(f.enc, { out, scratch, grads, maxNorm: 1, scaled: { scale: S, overflow } });
      // The norm of the unscaled gradients; the factor also carries 1/S (AdamW multiplies by it).
      const [norm, factor] = globalGradNormRef([g], 1);
      assertClose(await f.readF32(out), [norm, factor / S], 0, 2e-6, "unscaled");
      if ((await f.readU32(overflow))[0] !== 0) throw new Error("finite gradients flagged");
      // An Inf among them sets OVERFLOW_BIT; a later finite call does not clear it.
      const bad = Float32Array.from(scaled);
      bad[E + 5] = Infinity;
      const inf = [f.upload(bad, [bad.length])];
      globalGradNorm(f.enc, {
        out,
        scratch,
        grads: inf,
        maxNorm: 1,
        scaled: { scale: S, overflow },
      });
      if ((await f.readU32(overflow))[0] !== OVERFLOW_BIT) throw new Error("Inf not flagged");
      bad[E + 5] = NaN;
      const nan = [f.upload(bad, [bad.length])];
      f.enc.clear(overflow);
      globalGradNorm(f.enc, {
        out,
        scratch,
        grads: nan,
        maxNorm: 1,
        scaled: { scale: S, overflow },
      });
      globalGradNorm(f.enc, { out, scratch, grads, maxNorm: 1, scaled: { scale: S, overflow } });
      if ((await f.readU32(overflow))[0] !== OVERFLOW_BIT) throw new Error("NaN not kept flagged");
      let refused = false;
      try {
        globalGradNorm(f.enc, { out, scratch, grads, maxNorm: 1, scaled: { scale: 3, overflow } });
      } catch (e) {
        refused = /power of two/.test(String(e));
      }
      if (!refused) throw new Error("a scale of 3 accepted");
    }),
);
