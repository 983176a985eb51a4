import { Allocator } from "../core/allocator.ts";
import { Encoder } from "../core/encoder.ts";
import { TempoError } from "../core/errors.ts";
import { runLoop } from "../core/train/loop.ts";
import { decodeSafetensors } from "../core/train/safetensors.ts";
import { Trainer } from "../core/train/trainer.ts";
import { GPU_TEST, testGpu } from "../core/testing.ts";
import { ALL_TEMPO } from "../layers/tempo_options.ts";
import { resolveConfig } from "./config.ts";
import { syntheticSource, trainDefaults } from "./plan.ts";
import { Transformer } from "./transformer.ts";

Deno.test({
  name: "a NaN loss stops the run with a clear error and keeps the last good checkpoint",
  ...GPU_TEST,
}, async () => {
  const gpu = await testGpu();
  const cfg = resolveConfig("gpt2-tiny"), shape = { batch: 2, seqLen: 16 };
  const alloc = new Allocator({ device: gpu.device }), enc = new Encoder(gpu);
  const model = new Transformer(cfg, shape, ALL_TEMPO, alloc);
  model.initialize(enc, 1);
  const trainer = new Trainer(model, alloc, enc, {
    ...trainDefaults(shape),
    schedule: { kind: "constant", lr: 1e-3, minLr: 1e-3, warmup: 0, steps: 6 },
  });
  const src = syntheticSource(cfg, shape);
  const out = await Deno.makeTempDir();
  const loop = { steps: 6, valEvery: 0, valSteps: 1, saveEvery: 2, out, run: {} };
  await runLoop(trainer, src, null, { ...loop, stopAt: 2 });
  // Poison one weight: the next step's loss is NaN.
  const w = model.params.find((p) => p.name === "block0.ffn.fc1.weight")!;
  enc.write(w.value, new Float32Array(w.value.size).fill(NaN));
  let err: unknown;
  try {
    await runLoop(trainer, src, null, loop);
  } catch (e) {
    err = e;
  }
  if (!(err instanceof TempoError && /loss is NaN at step 3/.test(err.message))) {
    throw new Error(`got ${err}`);
  }
  const steps = [...Deno.readDirSync(out)].map((e) => e.name).filter((n) => n.startsWith("step-"));
  if (steps.join() !== "step-000002") throw new Error(`checkpoints: ${steps.join()}`);
  const saved = decodeSafetensors(await Deno.readFile(`${out}/step-000002/model.safetensors`));
  if (saved.tensors["block0.ffn.fc1.weight"].data.some((v) => !Number.isFinite(v))) {
    throw new Error("bad weights saved");
  }
  await Deno.remove(out, { recursive: true });
});

Deno.test({
  name:
    "a Tempo LayerNorm whose gamma reaches 0 is guarded: it keeps its input, training stays finite",
  ...GPU_TEST,
}, async () => {
  const gpu = await testGpu();
  const cfg = resolveConfig("bert-tiny"), shape = { batch: 2, seqLen: 16 };
  const alloc = new Allocator({ device: gpu.device }), enc = new Encoder(gpu);
  const model = new Transformer(cfg, shape, ALL_TEMPO, alloc);
  model.initialize(enc, 1);
  const ln = model.layerNorms.find((l) => l.name === "block1.ln1")!;
  const gamma = new Float32Array(cfg.hidden).fill(1);
  gamma[3] = 0;
  enc.write(ln.gamma.value, gamma);
  const trainer = new Trainer(model, alloc, enc, trainDefaults(shape));
  await runLoop(trainer, syntheticSource(cfg, shape), null, {
    steps: 3,
    valEvery: 0,
    valSteps: 1,
    saveEvery: 0,
    run: {},
  });
  if (model.guarded.join() !== "block1.ln1") throw new Error(`guarded: ${model.guarded}`);
  const r = await trainer.step(syntheticSource(cfg, shape));
  if (!Number.isFinite(r.loss) || !Number.isFinite(r.gradNorm)) {
    throw new Error(`loss ${r.loss}, norm ${r.gradNorm}`);
  }
});
