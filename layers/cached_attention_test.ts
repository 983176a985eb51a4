import { Allocator } from "../core/allocator.ts";
import type { StepContext } from "../core/step.ts";
import { assertClose, GPU_TEST, gpuFixture, randn } from "../core/testing.ts";
import { Attention } from "./attention.ts";
import { CachedAttention } from "./cached_attention.ts";
import { KvCache } from "./kv_cache.ts";

const B = 2, T = 7, NH = 3, HS = 5, C = NH * HS, TMAX = 9;

Deno.test({
  name: "CachedAttention: a prefill then single steps equal the causal Attention over the whole",
  ...GPU_TEST,
}, async () => {
  const f = await gpuFixture();
  const ctx: StepContext = {
    enc: f.enc,
    alloc: f.alloc,
    training: false,
    seed: 1,
    stream: 0,
    lossScale: 1,
  };
  const qkv = Float32Array.from(randn(B * T * 3 * C, 4));
  const full = new Attention("a", { B, T, NH, HS }, 0, 0, true, false, "bytes");
  const want = await f.readF32(full.forward(ctx, [f.upload(qkv, [B, T, 3 * C])]));
  const cache = new KvCache(f.alloc, { layers: 1, B, NH, HS, Tmax: TMAX });
  // Positions 0..3 in one call, then 4, 5, 6 one by one: rows of qkv [B, T, 3C] by position.
  const rows = (from: number, n: number) => {
    const out = new Float32Array(B * n * 3 * C);
    for (let b = 0; b < B; b++) {
      out.set(qkv.subarray((b * T + from) * 3 * C, (b * T + from + n) * 3 * C), b * n * 3 * C);
    }
    return out;
  };
  const got = new Float32Array(B * T * C);
  for (const [from, n] of [[0, 4], [4, 1], [5, 1], [6, 1]]) {
    const layer = new CachedAttention("c", { B, T: n, NH, HS }, cache, 0, true);
    const y = await f.readF32(layer.forward(ctx, [f.upload(rows(from, n), [B, n, 3 * C])]));
    cache.advance(n);
    for (let b = 0; b < B; b++) got.set(y.subarray(b * n * C, (b + 1) * n * C), (b * T + from) * C);
  }
  // The standard path's matmuls and softmax against the online softmax: float rounding only.
  assertClose(got, want, 2e-6, 2e-6, "cached vs full attention");
  let refused = "";
  try {
    new CachedAttention("c", { B, T: 3, NH, HS }, cache, 0, true).forward(ctx, [
      f.upload(rows(0, 3), [B, 3, 3 * C]),
    ]);
  } catch (e) {
    refused = (e as Error).message;
  }
  if (!/3 new positions do not fit the cache's 2 free/.test(refused)) throw new Error(refused);
  if (new CachedAttention("c", { B, T: 1, NH, HS }, cache, 0, true).saves().length) {
    throw new Error("the cached layer keeps nothing");
  }
  new KvCache(new Allocator(), { layers: 2, B, NH, HS, Tmax: TMAX }).release();
});
