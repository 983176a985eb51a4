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
  const state = JSON.parse(await Deno.readTextFile(`${out}/state.json`));
  if (state.step !== 2) throw new Error(`checkpoint moved to step ${state.step}`);
  const saved = decodeSafetensors(await Deno.readFile(`${out}/model.safetensors`));
  if (saved.tensors["block0.ffn.fc1.weight"].data.some((v) => !Number.isFinite(v))) {
    throw new Error("bad weights saved");
  }
  await Deno.remove(out, { recursive: true });
});
