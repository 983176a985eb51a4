import { Allocator } from "../core/allocator.ts";
import { GPU_TEST, testGpu } from "../core/testing.ts";
import { ALL_TEMPO, BASELINE } from "../layers/tempo_options.ts";
import { parameterCount, PRESETS, resolveConfig } from "./config.ts";
import { planModel } from "./plan.ts";
import { Transformer } from "./transformer.ts";
import { SHAPE, TINY_CONFIGS, train } from "./training_testing.ts";

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

Deno.test("presets: parameter count formula equals the parameters the model creates", () => {
  for (
    const [name, over] of [
      ...Object.keys(PRESETS).map((n) => [n, {}] as const),
      ["bert-base", { nsp: true }] as const,
    ]
  ) {
    const cfg = resolveConfig(name, over);
    const model = new Transformer(cfg, { batch: 1, seqLen: 8 }, ALL_TEMPO, new Allocator());
    if (model.store.count() !== parameterCount(cfg)) {
      throw new Error(`${name}: ${model.store.count()} != ${parameterCount(cfg)}`);
    }
  }
  let threw = false;
  try {
    resolveConfig("gpt2-tiny", { hiden: 3 });
  } catch (e) {
    threw = /unknown config key 'hiden'/.test((e as Error).message);
  }
  if (!threw) throw new Error("unknown key accepted");
});

Deno.test({
  name: "tiny GPT-2, BERT and RoBERTa: the loss falls on the embedded corpus",
  ...GPU_TEST,
}, async () => {
  const gpu = await testGpu();
  for (const [name, over] of TINY_CONFIGS) {
    const { losses } = await train(gpu, resolveConfig(name, over), ALL_TEMPO, 40);
    const first = mean(losses.slice(0, 5)), last = mean(losses.slice(-5));
    if (!(last < first - 0.5)) {
      throw new Error(`${name}: loss ${first.toFixed(3)} -> ${last.toFixed(3)}`);
    }
  }
});

Deno.test({
  name: "same seed gives identical losses; Tempo on vs off gives the same curve for 60 steps",
  ...GPU_TEST,
}, async () => {
  const gpu = await testGpu();
  for (const name of ["gpt2-tiny", "bert-tiny"]) {
    const cfg = resolveConfig(name);
    // The repeat runs 20 steps: every loss depends on every weight, so a nondeterministic kernel
    // shows within a few steps.
    const a = await train(gpu, cfg, ALL_TEMPO, 60), b = await train(gpu, cfg, ALL_TEMPO, 20);
    if (b.losses.some((x, i) => x !== a.losses[i])) {
      throw new Error(`${name}: same seed, different losses`);
    }
    const base = await train(gpu, cfg, BASELINE, 60);
    // Tolerance: Tempo recomputes GELU's input by Newton (gradient error <= 1e-4 per element) and
    // LayerNorm's xhat from its output; over 60 Adam steps the curves may drift apart slightly.
    const worst = Math.max(...base.losses.map((x, i) => Math.abs(x - a.losses[i])));
    if (!(worst < 2e-2)) {
      throw new Error(`${name}: Tempo vs baseline losses differ by up to ${worst}`);
    }
    if (!(Math.max(...a.peaks) < Math.max(...base.peaks))) {
      throw new Error(`${name}: Tempo peak not lower`);
    }
  }
});

Deno.test({
  name: "planning mode's peak equals a real training step's peak (tiny configs)",
  ...GPU_TEST,
}, async () => {
  const gpu = await testGpu();
  for (const [name, over] of TINY_CONFIGS) {
    const cfg = resolveConfig(name, over);
    for (const t of [BASELINE, { ...ALL_TEMPO, masks: "bits" as const }, ALL_TEMPO]) {
      const real = await train(gpu, cfg, t, 2);
      const planned = planModel(cfg, SHAPE, t);
      if (real.peaks[1] !== planned.peakBytes) {
        throw new Error(
          `${name} ${JSON.stringify(t)}: GPU peak ${real.peaks[1]}, planned ${planned.peakBytes}`,
        );
      }
    }
    // 16-bit activations: the same equality (the planner measures what the layers allocate).
    const real = await train(gpu, cfg, ALL_TEMPO, 2, { precision: "bf16" });
    const planned = planModel(cfg, SHAPE, ALL_TEMPO, { precision: "bf16" });
    if (real.peaks[1] !== planned.peakBytes) {
      throw new Error(`${name} bf16: GPU peak ${real.peaks[1]}, planned ${planned.peakBytes}`);
    }
  }
});
