import { Allocator } from "../core/allocator.ts";
import { Encoder } from "../core/encoder.ts";
import type { Gpu } from "../core/gpu.ts";
import { GPU_TEST, testGpu } from "../core/testing.ts";
import type { HostTensor } from "../core/train/safetensors.ts";
import { loadWeights } from "../core/train/weights.ts";
import { initialValues } from "../layers/params.ts";
import { BASELINE } from "../layers/tempo_options.ts";
import { type ModelConfig, resolveConfig } from "./config.ts";
import { Decoder, InferenceModel } from "./inference.ts";
import { generate } from "./sampling.ts";
import { Transformer } from "./transformer.ts";

// A small GPT-2 with 16 positions, so that 24 new tokens cross the context window (the cache is
// refilled from the last 8 tokens at 16); initialised with std 0.2 so that greedy choices are
// decided by margins far above float rounding. Head size 16, as gpt2-tiny's.
const CFG = resolveConfig("gpt2-tiny", {
  layers: 2,
  hidden: 32,
  heads: 2,
  ffn: 64,
  maxPositions: 16,
  initStd: 0.2,
});
const PROMPTS = [[72, 101, 108, 108, 111], [10], [
  84,
  104,
  101,
  32,
  119,
  104,
  97,
  108,
  101,
  32,
  105,
]];
const NEW = 24;

/** Seeded weights of every parameter of `cfg`, by name (the training model's initialiser). */
function weights(cfg: ModelConfig, seed: number): Record<string, HostTensor> {
  const m = new Transformer(cfg, { batch: 1, seqLen: 2 }, BASELINE, new Allocator());
  return Object.fromEntries(
    m.params.map((
      p,
      i,
    ) => [p.name, { shape: [...p.shape], data: initialValues(p, seed + 7919 * i) }]),
  );
}

function model(gpu: Gpu, kvCache: boolean, w: Record<string, HostTensor>): InferenceModel {
  const m = new InferenceModel(CFG, new Allocator({ device: gpu.device }), new Encoder(gpu), {
    kvCache,
  });
  loadWeights(m.enc, m.params.list, w, "test weights", "");
  return m;
}

Deno.test({
  name: "KV-cache decoding equals the no-cache forward token for token (greedy, window refills)",
  ...GPU_TEST,
}, async () => {
  const gpu = await testGpu();
  const w = weights(CFG, 3);
  const cached = new Decoder(model(gpu, true, w)), plain = new Decoder(model(gpu, false, w));
  let worst = 0;
  for (const prompt of PROMPTS) {
    const tokens = [...prompt];
    let from = 0;
    for (let i = 0; i < NEW; i++) {
      if (tokens.length - from > CFG.maxPositions) from = tokens.length - CFG.maxPositions / 2;
      const ctx = tokens.slice(from);
      const [a, b] = [await cached.next(ctx), await plain.next(ctx)];
      let ia = 0, ib = 0;
      for (let v = 0; v < a.length; v++) {
        worst = Math.max(worst, Math.abs(a[v] - b[v]));
        if (a[v] > a[ia]) ia = v;
        if (b[v] > b[ib]) ib = v;
      }
      if (ia !== ib) throw new Error(`prompt ${prompt}: token ${i}: cached ${ia}, no cache ${ib}`);
      tokens.push(ia);
    }
  }
  // The two paths differ only in summation order (attention scores, softmax, weighted sum).
  if (!(worst <= 2e-5)) throw new Error(`logits differ by ${worst} (tolerance 2e-5)`);
  console.log(`  KV cache vs no cache: max |logit difference| ${worst.toExponential(2)}`);
  // The same through the sampler, at temperature 0.8 and top-k 5: identical tokens.
  const o = { temperature: 0.8, topK: 5, seed: 11 };
  const run = async (d: Decoder) => {
    const out: number[] = [];
    for await (const t of generate(d, PROMPTS[0], NEW, CFG.maxPositions, o)) out.push(t);
    return out;
  };
  const [s1, s2, s3] = [await run(cached), await run(plain), await run(cached)];
  if (s1.join() !== s2.join() || s1.join() !== s3.join()) {
    throw new Error(`sampled tokens differ: ${s1} / ${s2} / ${s3}`);
  }
});

Deno.test({
  name: "the inference graph is the training model's forward: its logits give the training loss",
  ...GPU_TEST,
}, async () => {
  const gpu = await testGpu();
  const w = weights(CFG, 5);
  const T = 12;
  const ids = Int32Array.from({ length: T }, (_, i) => (i * 37 + 11) % CFG.vocabSize);
  const targets = Int32Array.from({ length: T }, (_, i) => (i * 53 + 7) % CFG.vocabSize);
  const inf = model(gpu, false, w);
  const logits = await inf.forward(ids, Int32Array.from({ length: T }, (_, i) => i));
  const V = CFG.vocabSize;
  let host = 0;
  for (let r = 0; r < T; r++) {
    let mx = -Infinity, sum = 0;
    for (let v = 0; v < V; v++) mx = Math.max(mx, logits[r * V + v]);
    for (let v = 0; v < V; v++) sum += Math.exp(logits[r * V + v] - mx);
    host += Math.log(sum) + mx - logits[r * V + targets[r]];
  }
  host /= T;
  const alloc = new Allocator({ device: gpu.device }), enc = new Encoder(gpu);
  const train = new Transformer(CFG, { batch: 1, seqLen: T }, BASELINE, alloc);
  loadWeights(enc, train.params, w, "test weights", "");
  const ctx = { enc, alloc, training: false, seed: 1, stream: 0, lossScale: 1 };
  train.forward(ctx, { B: 1, T, inputIds: ids, targets });
  const loss = new Float32Array(await enc.read(train.loss))[0];
  if (!(Math.abs(loss - host) <= 1e-5 * Math.max(1, Math.abs(loss)))) {
    throw new Error(`training loss ${loss}, from the inference logits ${host}`);
  }
});
