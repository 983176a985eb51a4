/**
 * `tempo selfcheck`: acquire the GPU, report the adapter, and train tiny BERT and GPT-2 models a
 * few steps with Tempo off and on (on: with the `--attention` layer given), checking that the
 * losses agree and fall.
 * @module
 */
import { Command } from "@commander-js/extra-typings";
import { Allocator } from "../core/allocator.ts";
import { Encoder } from "../core/encoder.ts";
import { TempoError } from "../core/errors.ts";
import { acquireGpu } from "../core/gpu.ts";
import { Trainer } from "../core/train/trainer.ts";
import { ALL_TEMPO, BASELINE, parseAttention, tempoLabel } from "../layers/tempo_options.ts";
import { resolveConfig } from "../models/config.ts";
import { syntheticSource, trainDefaults } from "../models/plan.ts";
import { Transformer } from "../models/transformer.ts";
import { attentionOption } from "./memory.ts";
import { needPrecisionSupport, type Precision, scalesLoss } from "../core/precision.ts";
import { GRAD_SCALER } from "../core/train/loss_scaler.ts";
import { bf16Option, fp16Option, precisionOf, precisionOption } from "./precision_flags.ts";

/**
 * Largest |loss difference| between Tempo and the baseline over the 5 steps, by precision. f32
 * differs only by f32 rounding; in 16 bits Tempo's layers rebuild their inputs from 16-bit
 * outputs, so their gradients differ from the baseline's by about the dtype's unit roundoff
 * (measured on lavapipe: at most 5e-4 for bf16 and for f16).
 */
const SELFCHECK_TOLERANCE: Record<Precision, number> = { f32: 1e-3, f16: 5e-3, bf16: 5e-3 };

/** The `selfcheck` command. */
export function selfcheckCommand() {
  return new Command("selfcheck")
    .description("check the GPU: train tiny BERT and GPT-2 a few steps, Tempo off vs on")
    .addOption(attentionOption())
    .addOption(precisionOption())
    .addOption(fp16Option())
    .addOption(bf16Option())
    .action(async (o) => {
      const on = { ...ALL_TEMPO, attentionKind: parseAttention(o.attention) };
      const precision = precisionOf(o);
      const gpu = await acquireGpu();
      needPrecisionSupport(gpu, precision);
      console.log(`adapter: ${gpu.description}${gpu.isSoftware ? " (software)" : ""}`);
      console.log(`precision: ${precision}`);
      console.log(`kernels: ${gpu.kernels.label}`);
      for (const name of ["gpt2-tiny", "bert-tiny"]) {
        const cfg = resolveConfig(name);
        const shape = { batch: 2, seqLen: 16 };
        const losses: number[][] = [];
        for (const tempo of [BASELINE, on]) {
          const alloc = new Allocator({ device: gpu.device });
          const enc = new Encoder(gpu);
          const model = new Transformer(cfg, shape, tempo, alloc, { precision });
          model.initialize(enc, 1);
          const trainer = new Trainer(model, alloc, enc, {
            ...trainDefaults(shape),
            schedule: { kind: "constant", lr: 3e-3, minLr: 3e-3, warmup: 0, steps: 5 },
            lossScaling: scalesLoss(precision) ? GRAD_SCALER : undefined,
          });
          const src = syntheticSource(cfg, shape, 3);
          const first = src.next();
          const fixed = { next: () => first, state: () => ({}), restore: () => {} };
          const l: number[] = [];
          for (let i = 0; i < 5; i++) l.push((await trainer.step(fixed)).loss);
          losses.push(l);
          console.log(
            `  ${name} ${tempoLabel(tempo).padEnd(12)} losses ${
              l.map((x) => x.toFixed(4)).join(" ")
            }`,
          );
          alloc.trim();
        }
        const diff = Math.max(...losses[0].map((x, i) => Math.abs(x - losses[1][i])));
        const tolerance = SELFCHECK_TOLERANCE[precision];
        if (!(diff < tolerance) || !(losses[1][4] < losses[1][0])) {
          throw new TempoError(
            `selfcheck failed for ${name} at ${precision}: Tempo vs baseline differ by ${diff} ` +
              `(tolerance ${tolerance}), or the loss did not fall`,
          );
        }
      }
      console.log("selfcheck passed");
    });
}
