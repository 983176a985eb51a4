import { Allocator } from "../core/allocator.ts";
import { Encoder } from "../core/encoder.ts";
import type { Gpu } from "../core/gpu.ts";
import { runLoop } from "../core/train/loop.ts";
import type { Model } from "../core/train/model.ts";
import { type StepRecord, Trainer } from "../core/train/trainer.ts";
import { GPU_TEST, testGpu } from "../core/testing.ts";
import { ALL_TEMPO } from "../layers/tempo_options.ts";
import { resolveConfig } from "./config.ts";
import { syntheticSource, trainDefaults } from "./plan.ts";
import { Transformer } from "./transformer.ts";

const SHAPE = { batch: 2, seqLen: 16 }, STEPS = 8, ZERO_AT = 3, LN = "block1.ln1";

/**
 * bert-tiny, all Tempo layers, STEPS pipelined steps; after step ZERO_AT one channel of LN's gamma
 * is set to 0. `mode`: `auto` lets the every-step guard find it, `manual` switches the layer to
 * keeping its input by hand at that point, `off` trains without the guard.
 */
async function run(gpu: Gpu, mode: "auto" | "manual" | "off") {
  const cfg = resolveConfig("bert-tiny");
  const alloc = new Allocator({ device: gpu.device }), enc = new Encoder(gpu);
  const model = new Transformer(cfg, SHAPE, ALL_TEMPO, alloc);
  model.initialize(enc, 1);
  const unguarded: Model = {
    params: model.params,
    loss: model.loss,
    forward: (ctx, batch) => model.forward(ctx, batch),
    backward: (ctx) => model.backward(ctx),
  };
  const trainer = new Trainer(mode === "off" ? unguarded : model, alloc, enc, {
    ...trainDefaults(SHAPE),
    schedule: { kind: "constant", lr: 3e-3, minLr: 3e-3, warmup: 0, steps: STEPS },
  });
  const records: StepRecord[] = [];
  const loop = {
    steps: STEPS,
    valEvery: 0,
    valSteps: 1,
    saveEvery: 0,
    run: {},
    onStep: (r: StepRecord) => void records.push(r),
  };
  const src = syntheticSource(cfg, SHAPE);
  await runLoop(trainer, src, null, { ...loop, stopAt: ZERO_AT });
  const ln = model.layerNorms.find((l) => l.name === LN)!;
  const gamma = await enc.readF32(ln.gamma.value);
  gamma[3] = 0;
  enc.write(ln.gamma.value, gamma);
  if (mode === "manual") ln.guarded = true;
  await runLoop(trainer, src, null, loop);
  const values = await Promise.all(model.params.map((p) => enc.readF32(p.value)));
  const moments = await Promise.all(
    trainer.moments.flatMap((m) => [enc.readF32(m.m), enc.readF32(m.v)]),
  );
  alloc.trim();
  return { records, values, moments, guarded: model.guarded };
}

const same = (a: Float32Array[], b: Float32Array[]) =>
  a.length === b.length && a.every((x, i) => x.every((v, j) => Object.is(v, b[i][j])));

Deno.test({
  name:
    "gamma reaching 0 mid-run: the every-step guard reruns that step, equal to a run guarded from it",
  ...GPU_TEST,
}, async () => {
  const gpu = await testGpu();
  const auto = await run(gpu, "auto"), manual = await run(gpu, "manual");
  if (auto.guarded.join() !== LN || manual.guarded.join() !== LN) {
    throw new Error(`guarded: ${auto.guarded} / ${manual.guarded}`);
  }
  const steps = auto.records.map((r) => r.step).join();
  if (steps !== "1,2,3,4,5,6,7,8") throw new Error(`steps ${steps}`);
  const switched = auto.records.filter((r) => r.guarded).map((r) => `${r.step}:${r.guarded}`);
  if (switched.join() !== `${ZERO_AT + 1}:${LN}`) throw new Error(`switched at ${switched}`);
  for (const [i, r] of auto.records.entries()) {
    const m = manual.records[i];
    if (r.loss !== m.loss || r.gradNorm !== m.gradNorm) {
      throw new Error(
        `step ${r.step}: loss ${r.loss} vs ${m.loss}, norm ${r.gradNorm} vs ${m.gradNorm}`,
      );
    }
    if (r.memory.peak !== m.memory.peak) throw new Error(`step ${r.step}: peak differs`);
  }
  if (!same(auto.values, manual.values)) throw new Error("parameters differ");
  if (!same(auto.moments, manual.moments)) throw new Error("optimizer moments differ");
  // Without the guard the Tempo backward rebuilds xhat by dividing by gamma = 0: other gradients.
  const off = await run(gpu, "off");
  if (same(off.values, manual.values)) throw new Error("the unguarded run should differ");
});
