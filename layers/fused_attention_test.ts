import { TempoError } from "../core/errors.ts";
import type { StepContext } from "../core/step.ts";
import { assertClose, GPU_TEST, gpuFixture, randn } from "../core/testing.ts";
import { Attention } from "./attention.ts";
import {
  attentionBackwardRef,
  attentionForwardRef,
  attentionKeepRef,
  type AttentionRefConfig,
} from "./attention_ref.ts";
import { FusedAttention } from "./fused_attention.ts";
import { assertSavesMatch, type InputSpec, runLayer } from "./testing.ts";

// HS = 8 (the op tests' head size: the same kernels); T = 7 is odd (and attention_test's T).
const B = 2, T = 7, NH = 2, HS = 8, C = NH * HS;
const SITE = 9;
// runLayer's context: seed 7, stream 3; a layer's RNG stream is stream * 1024 + site.
const SEED = 7, STREAM = 3 * 1024 + SITE;
const QKV_SHAPE = [B, T, 3 * C];
/** Batch item 1 padded from position 3 on: keys 4..6 are a whole padded block of 4 keys. */
const PAD = Array.from({ length: B * T }, (_, i) => (i >= T && i % T >= 3 ? 0 : 1));
/** Left padding: with a causal mask, queries 0 and 1 of batch item 0 see no key. */
const LEFT_PAD = Array.from({ length: B * T }, (_, i) => (i < 2 ? 0 : 1));

// Saved bytes, written out: qkv [2,7,48] f32 = 2688 B (the input), out [2,7,16] f32 = 896 B
// (the output), lse [2,2,7] f32 = 112 B; nothing else, at any p.
const SAVED = 2688 + 896 + 112;

/**
 * Tolerances against the f64 reference and the baseline layer (f32 both; the fused kernels sum
 * in another order and compute P as exp(S - lse)): 2e-6 abs + 1e-5 rel, the baseline layer's own
 * tolerance against the reference.
 */
const ATOL = 2e-6, RTOL = 1e-5;

function refConfig(causal: boolean, pad: number[] | null, p: number): AttentionRefConfig {
  return { B, T, NH, HS, causal, pad, p, keep: attentionKeepRef(B, NH, T, p, SEED, STREAM) };
}

function inputs(qkv: ArrayLike<number>, pad: number[] | null): (InputSpec | null)[] {
  return [
    { data: qkv, shape: QKV_SHAPE },
    pad ? { data: pad, shape: [B * T], dtype: "i32" } : null,
  ];
}

Deno.test({
  name: "FusedAttention equals the baseline layer and the reference: masks, p = 0/0.1/0.5, saves",
  ...GPU_TEST,
}, async () => {
  const f = await gpuFixture();
  const cases: [boolean, number[] | null][] = [[true, null], [false, PAD], [true, LEFT_PAD]];
  for (const [n, [causal, pad]] of cases.entries()) {
    const qkv = randn(B * T * 3 * C, 50 + n), dy = randn(B * T * C, 60 + n);
    for (const p of [0, 0.1, 0.5]) {
      const what = `causal=${causal} pad=${pad !== null} p=${p}`;
      const fused = new FusedAttention("attn", { B, T, NH, HS }, p, SITE, causal);
      const r = await runLayer(f, fused, [], {}, inputs(qkv, pad), dy);
      assertSavesMatch(what, fused.saves(), r);
      if (r.savedBytes !== SAVED) throw new Error(`${what}: saved ${r.savedBytes}, not ${SAVED}`);
      if (r.dxs.length !== 2 || r.dxs[1] !== null) throw new Error(`${what}: pad has a grad`);
      const base = new Attention("attn", { B, T, NH, HS }, p, SITE, causal, false, "bytes");
      const rb = await runLayer(f, base, [], {}, inputs(qkv, pad), dy);
      const ey = assertClose(r.y, rb.y, ATOL, RTOL, `${what}: y vs baseline layer`);
      const eg = assertClose(r.dxs[0]!, rb.dxs[0]!, ATOL, RTOL, `${what}: dqkv vs baseline layer`);
      const cfg = refConfig(causal, pad, p), fwd = attentionForwardRef(qkv, cfg);
      assertClose(r.y, fwd.out, ATOL, RTOL, `${what}: y vs reference`);
      assertClose(r.dxs[0]!, attentionBackwardRef(dy, fwd, cfg), ATOL, RTOL, `${what}: dqkv`);
      console.log(`  ${what}: vs baseline layer max abs err y ${ey}, dqkv ${eg}`);
    }
  }
});

Deno.test({
  name: "FusedAttention in evaluation: no dropout, nothing kept, everything released",
  ...GPU_TEST,
}, async () => {
  const f = await gpuFixture();
  const qkv = randn(B * T * 3 * C, 41);
  const layer = new FusedAttention("attn", { B, T, NH, HS }, 0.5, SITE, false);
  const x = f.upload(qkv, QKV_SHAPE), pad = f.upload(PAD, [B * T], "i32");
  const ctx: StepContext = {
    enc: f.enc,
    alloc: f.alloc,
    training: false,
    seed: SEED,
    stream: 3,
    lossScale: 1,
  };
  const before = f.alloc.report().liveTotal;
  const y = layer.forward(ctx, [x, pad]);
  const live = f.alloc.report();
  if (live.live.activation !== 0) throw new Error(`evaluation kept ${live.live.activation} B`);
  if (live.liveTotal - before !== 4 * B * T * C) throw new Error("evaluation leaks");
  const want = attentionForwardRef(qkv, refConfig(false, PAD, 0)).out;
  assertClose(await f.readF32(y), want, ATOL, RTOL, "evaluation y");
  for (const t of [y, x, pad]) f.alloc.release(t);
});

Deno.test("FusedAttention refuses a head size its kernels do not take, by name", () => {
  try {
    new FusedAttention("block0.attn", { B, T, NH: 3, HS: 5 }, 0, SITE, false);
  } catch (e) {
    if (e instanceof TempoError && /block0\.attn: .*head size .* is 5/.test(e.message)) return;
    throw e;
  }
  throw new Error("HS = 5 accepted");
});
