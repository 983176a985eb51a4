/**
 * `tempo eval`: a checkpoint's validation loss, perplexity and prediction accuracy (masked-token
 * for BERT/RoBERTa, next-token for GPT-2) over the validation split, all of it by default. The
 * model is the training model at the run's batch and sequence length, so the same batches give
 * pretrain's validation loss to the bit (the validation stream starts at the split's beginning,
 * as a run's first evaluation does).
 * @module
 */
import { Command, Option } from "@commander-js/extra-typings";
import { Allocator } from "../core/allocator.ts";
import { Encoder } from "../core/encoder.ts";
import { TempoError } from "../core/errors.ts";
import { evaluateBatches } from "../core/train/evaluate.ts";
import { loadWeights } from "../core/train/weights.ts";
import { InferenceParams } from "../layers/inference_params.ts";
import { parseTempo } from "../layers/tempo_options.ts";
import { archOf } from "../models/arch.ts";
import { Transformer } from "../models/transformer.ts";
import { openRunData } from "./data.ts";
import { parseIntFlag } from "./format.ts";
import { openTrained, WEIGHTS_HINT, withGpu } from "./trained.ts";

/** What `tempo eval` reports (its `--json` record). */
export interface EvalReport {
  /** The step folder evaluated. */
  checkpoint: string;
  /** Its step. */
  step: number;
  /** Model name. */
  model: string;
  /** The data's description. */
  data: string;
  /** Batch shape. */
  batchSize: number;
  /** Sequence length. */
  seqLen: number;
  /** Batches evaluated, and in the split. */
  batches: number;
  /** Batches in one pass over the validation split. */
  splitBatches: number;
  /** Targets scored (tokens predicted). */
  tokens: number;
  /** Mean of the batches' mean losses (pretrain's validation loss). */
  loss: number;
  /** exp(loss). */
  perplexity: number;
  /** Correct argmax predictions / tokens. */
  accuracy: number;
  /** What `accuracy` counts: "masked-token" or "next-token". */
  accuracyOf: string;
}

/** The `eval` command. */
export function evalCommand() {
  return new Command("eval")
    .description("validation loss, perplexity and accuracy of a checkpoint")
    .requiredOption(
      "--checkpoint <dir>",
      "a run folder (its newest checkpoint) or one step-NNNNNN folder",
    )
    .option("--data <path>", "dataset folder from `tempo prepare` (default: the run's data)")
    .addOption(
      new Option("--format <fmt>", "shard layout of .bin files (default: the run's)").choices(
        ["auto", "llmc", "nanogpt"] as const,
      ),
    )
    .option(
      "--batch-size <n>",
      "sequences per batch (default: the run's)",
      parseIntFlag("batch-size"),
    )
    .option("--seq-len <n>", "tokens per sequence (default: the run's)", parseIntFlag("seq-len", 2))
    .option(
      "--batches <n>",
      "evaluate the first n batches (default: the whole split)",
      parseIntFlag("batches"),
    )
    .option(
      "--max-tokens <n>",
      "evaluate the first batches holding n tokens",
      parseIntFlag("max-tokens"),
    )
    .option("--json", "print one JSON record instead of text")
    .action(async (o) => {
      const r = await evaluate(o);
      if (o.json) console.log(JSON.stringify(r));
      else printReport(r);
    });
}

/** Options of `evaluate` (the parsed flags). */
export type EvalOptions = ReturnType<ReturnType<typeof evalCommand>["opts"]>;

/** Evaluate a checkpoint (see the module doc). */
export async function evaluate(o: EvalOptions): Promise<EvalReport> {
  if (o.batches !== undefined && o.maxTokens !== undefined) {
    throw new TempoError("--batches and --max-tokens both say how much to evaluate; give one");
  }
  const t = await openTrained(o.checkpoint);
  const s = t.settings, cfg = t.cfg;
  const B = o.batchSize ?? s.batchSize, T = o.seqLen ?? s.seqLen;
  using data = await openRunData(cfg, {
    data: o.data ?? s.data ?? undefined,
    format: o.format ?? s.format,
    batch: B,
    seqLen: T,
    seed: s.seed,
  });
  const val = data.val;
  if (!val) {
    throw new TempoError(
      `${data.description} has no validation split`,
      "pass --data with a folder made by `tempo prepare` (it writes val.bin)",
    );
  }
  const split = val.batchesPerEpoch;
  const batches = o.batches ??
    (o.maxTokens !== undefined ? Math.ceil(o.maxTokens / (B * T)) : split);
  if (batches > split) {
    throw new TempoError(
      `the validation split has ${split} batches of ${B} x ${T}; ${batches} would repeat some`,
      `ask for at most --batches ${split}`,
    );
  }
  return await withGpu(async (gpu) => {
    const alloc = new Allocator({ device: gpu.device }), enc = new Encoder(gpu);
    const model = new Transformer(
      cfg,
      { batch: B, seqLen: T },
      parseTempo(s.tempo, s.masks ?? undefined),
      alloc,
      {
        params: new InferenceParams(alloc),
        predictions: true,
      },
    );
    loadWeights(enc, model.params, t.weights, t.ref.dir, WEIGHTS_HINT);
    const lm = archOf(cfg).objective === "lm";
    let correct = 0;
    const summary = await evaluateBatches(
      model,
      { enc, alloc, seed: s.seed },
      val,
      batches,
      async (batch) => {
        const predicted = new Int32Array(await enc.read(model.predictions!));
        const targets = lm ? batch.targets! : batch.maskedLabels!;
        for (let i = 0; i < targets.length; i++) {
          if (targets[i] >= 0 && predicted[i] === targets[i]) correct++;
        }
      },
    );
    return {
      checkpoint: t.ref.dir,
      step: t.ref.step,
      model: cfg.name,
      data: data.description,
      batchSize: B,
      seqLen: T,
      batches,
      splitBatches: split,
      tokens: summary.targets,
      loss: summary.loss,
      perplexity: Math.exp(summary.loss),
      accuracy: correct / Math.max(1, summary.targets),
      accuracyOf: lm ? "next-token" : "masked-token",
    };
  });
}

function printReport(r: EvalReport): void {
  const n = (x: number) => x.toLocaleString("en-US");
  console.log(`checkpoint ${r.checkpoint} (${r.model}, step ${r.step})`);
  console.log(`data       ${r.data}`);
  console.log(
    `batches    ${n(r.batches)} of the validation split's ${
      n(r.splitBatches)
    } (${r.batchSize} x ${r.seqLen})`,
  );
  console.log(
    `loss       ${r.loss.toFixed(4)} (perplexity ${r.perplexity.toFixed(2)}) over ${
      n(r.tokens)
    } tokens`,
  );
  console.log(
    `accuracy   ${(100 * r.accuracy).toFixed(2)}% ${r.accuracyOf} (${
      n(Math.round(r.accuracy * r.tokens))
    } of ${n(r.tokens)})`,
  );
}
