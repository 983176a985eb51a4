import type { StepContext } from "../core/step.ts";
import { assertClose, GPU_TEST, gpuFixture, randn } from "../core/testing.ts";
import { Attention } from "./attention.ts";
import {
  attentionBackwardRef,
  attentionForwardRef,
  attentionKeepRef,
  type AttentionRefConfig,
} from "./attention_ref.ts";
import type { MaskStorage } from "./tempo_options.ts";
import { assertSavesMatch, finiteDiff, type InputSpec, runLayer } from "./testing.ts";

const B = 2, T = 7, NH = 3, HS = 5, C = NH * HS;
const SITE = 9;
// runLayer's context: seed 7, stream 3; the layer's RNG stream is stream * 1024 + site.
const SEED = 7, STREAM = 3 * 1024 + SITE;
/** Sequence 1 is padded at its last three positions. */
const PAD = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0];
/** Left padding: with a causal mask, query 0 of sequence 0 sees no key at all (a zero row). */
const LEFT_PAD = [0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1];
const QKV_SHAPE = [B, T, 3 * C];
const MASKS: MaskStorage[] = ["bytes", "bits", "regen"];

// Saved bytes, written out: Q, K, V [2,3,7,5] f32 = 840 B each; P [2,3,7,7] f32 = 1176 B;
// the mask over 294 elements: u8 -> 74 words = 296 B, bit -> 10 words = 40 B, regen -> none;
// P~ [2,3,7,7] f32 = 1176 B (baseline only, only when p > 0).
const QKVP = 3 * 840 + 1176;
const MASK_BYTES: Record<MaskStorage, number> = { bytes: 296, bits: 40, regen: 0 };
const PDROP = 1176;

function expectedSaved(tempo: boolean, p: number, masks: MaskStorage): number {
  if (p === 0) return QKVP;
  return QKVP + MASK_BYTES[masks] + (tempo ? 0 : PDROP);
}

function config(causal: boolean, pad: number[] | null, p: number): AttentionRefConfig {
  return { B, T, NH, HS, causal, pad, p, keep: attentionKeepRef(B, NH, T, p, SEED, STREAM) };
}

Deno.test("Attention reference gradient matches central finite differences (f64)", () => {
  const cases: [boolean, number[] | null, number][] = [
    [true, null, 0],
    [false, PAD, 0.5],
    [true, LEFT_PAD, 0.1],
  ];
  for (const [causal, pad, p] of cases) {
    const cfg = config(causal, pad, p);
    const qkv = randn(B * T * 3 * C, 1), dy = randn(B * T * C, 2);
    const fwd = attentionForwardRef(qkv, cfg);
    const fd = finiteDiff((x) => attentionForwardRef(x, cfg).out, qkv, dy, 1e-5);
    const what = `causal=${causal} pad=${pad !== null} p=${p}`;
    assertClose(attentionBackwardRef(dy, fwd, cfg), fd, 1e-8, 1e-6, `${what}: ref vs FD`);
  }
});

Deno.test("Attention reference masks: masked keys get P = 0, rows sum to 1, empty rows are 0", () => {
  const cfg = config(true, LEFT_PAD, 0);
  const { P } = attentionForwardRef(randn(B * T * 3 * C, 3), cfg);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < NH; h++) {
      for (let i = 0; i < T; i++) {
        let sum = 0;
        for (let j = 0; j < T; j++) {
          const v = P[((b * NH + h) * T + i) * T + j];
          if ((j > i || LEFT_PAD[b * T + j] === 0) && v !== 0) throw new Error("masked key kept");
          sum += v;
        }
        const empty = b === 0 && i === 0;
        if (Math.abs(sum - (empty ? 0 : 1)) > 1e-12) throw new Error(`row sum ${sum}`);
      }
    }
  }
});

async function runAttention(
  causal: boolean,
  pad: number[] | null,
  p: number,
  tempo: boolean,
  masks: MaskStorage,
  qkv: ArrayLike<number>,
  dy: ArrayLike<number>,
) {
  const f = await gpuFixture();
  const layer = new Attention("attn", { B, T, NH, HS }, p, SITE, causal, tempo, masks);
  const inputs: (InputSpec | null)[] = [
    { data: qkv, shape: QKV_SHAPE },
    pad ? { data: pad, shape: [B * T], dtype: "i32" } : null,
  ];
  const r = await runLayer(f, layer, [], {}, inputs, dy);
  const what = `causal=${causal} pad=${pad !== null} p=${p} ${
    tempo ? "tempo" : "baseline"
  }/${masks}`;
  assertSavesMatch(what, layer.saves(), r);
  const want = expectedSaved(tempo, p, masks);
  if (r.savedBytes !== want) throw new Error(`${what}: saved ${r.savedBytes}, expected ${want}`);
  if (r.dxs.length !== 2 || r.dxs[1] !== null) throw new Error(`${what}: the pad mask has a grad`);
  return r;
}

/**
 * GPU vs the f64 reference (baseline, byte masks), then every variant (baseline/Tempo x bytes/
 * bits/regen) against that run: the keep decisions are identical and Tempo recomputes P~ with
 * the forward's f32 multiply, so outputs and gradients must match bit for bit.
 */
async function checkAgainstReference(causal: boolean, pad: number[] | null, seed: number) {
  const qkv = randn(B * T * 3 * C, seed), dy = randn(B * T * C, seed + 1);
  for (const p of [0, 0.1, 0.5]) {
    const cfg = config(causal, pad, p);
    const fwd = attentionForwardRef(qkv, cfg);
    const dqkv = attentionBackwardRef(dy, fwd, cfg);
    const base = await runAttention(causal, pad, p, false, "bytes", qkv, dy);
    const what = `causal=${causal} pad=${pad !== null} p=${p}`;
    assertClose(base.y, fwd.out, 2e-6, 1e-5, `${what}: baseline y vs reference`);
    assertClose(base.dxs[0]!, dqkv, 2e-6, 1e-5, `${what}: baseline dqkv vs reference`);
    for (const tempo of [false, true]) {
      for (const masks of MASKS) {
        if (!tempo && masks === "bytes") continue;
        const r = await runAttention(causal, pad, p, tempo, masks, qkv, dy);
        const v = `${what} ${tempo ? "tempo" : "baseline"}/${masks}`;
        assertClose(r.y, base.y, 0, 0, `${v}: y == baseline/bytes y`);
        assertClose(r.dxs[0]!, base.dxs[0]!, 0, 0, `${v}: dqkv == baseline/bytes dqkv`);
      }
    }
  }
}

Deno.test({
  name: "Attention causal (GPT-2): GPU vs reference, Tempo vs baseline, p = 0/0.1/0.5, all masks",
  ...GPU_TEST,
}, async () => {
  await checkAgainstReference(true, null, 11);
});

Deno.test({
  name: "Attention bidirectional with a pad mask: GPU vs reference, Tempo vs baseline, all masks",
  ...GPU_TEST,
}, async () => {
  await checkAgainstReference(false, PAD, 21);
});

Deno.test({
  name: "Attention causal with a left-padded sequence: an all-masked row gives zeros, not NaN",
  ...GPU_TEST,
}, async () => {
  const qkv = randn(B * T * 3 * C, 31), dy = randn(B * T * C, 32);
  for (const tempo of [false, true]) {
    const cfg = config(true, LEFT_PAD, 0.1);
    const fwd = attentionForwardRef(qkv, cfg);
    const r = await runAttention(true, LEFT_PAD, 0.1, tempo, "bits", qkv, dy);
    assertClose(r.y, fwd.out, 2e-6, 1e-5, `tempo=${tempo}: y vs reference`);
    assertClose(r.dxs[0]!, attentionBackwardRef(dy, fwd, cfg), 2e-6, 1e-5, `tempo=${tempo}: dqkv`);
    for (let d = 0; d < C; d++) if (r.y[d] !== 0) throw new Error("empty row: y[0,0,:] must be 0");
  }
});

Deno.test({
  name: "Attention in evaluation: no dropout, nothing kept, everything released",
  ...GPU_TEST,
}, async () => {
  const f = await gpuFixture();
  const qkv = randn(B * T * 3 * C, 41);
  for (const tempo of [false, true]) {
    const layer = new Attention("attn", { B, T, NH, HS }, 0.5, SITE, false, tempo, "bytes");
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
    const want = attentionForwardRef(qkv, config(false, PAD, 0)).out;
    assertClose(await f.readF32(y), want, 2e-6, 1e-5, `tempo=${tempo}: evaluation y`);
    for (const t of [y, x, pad]) f.alloc.release(t);
  }
});
