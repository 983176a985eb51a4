/**
 * `tempo pretrain`: parse flags, wire a model and batch sources into core/train, print.
 * @module
 */
import { Command, Option } from "@commander-js/extra-typings";
import { Allocator } from "../core/allocator.ts";
import { Encoder } from "../core/encoder.ts";
import { OutOfMemoryError, TempoError } from "../core/errors.ts";
import { acquireGpu, type Gpu } from "../core/gpu.ts";
import { loadCheckpoint } from "../core/train/checkpoint.ts";
import { runLoop } from "../core/train/loop.ts";
import type { ScheduleKind } from "../core/train/schedule.ts";
import { type StepRecord, Trainer } from "../core/train/trainer.ts";
import { parseTempo, tempoLabel } from "../layers/tempo_options.ts";
import { type ModelConfig, resolveConfig } from "../models/config.ts";
import { maxBatch } from "../models/plan.ts";
import { Transformer } from "../models/transformer.ts";
import { openRunData } from "./data.ts";
import {
  formatBytes,
  parseBytes,
  parseFloatFlag,
  parseIntFlag,
  readConfigOverrides,
} from "./format.ts";
import { Reporter } from "./reporter.ts";

const env = (name: string, fallback: string): string => {
  try {
    return Deno.env.get(`TEMPO_${name}`) ?? fallback;
  } catch {
    return fallback;
  }
};

/** Parse pretrain flags (with defaults) without running anything. */
export function parsePretrainArgs(args: string[]): PretrainOptions {
  return pretrainCommand().exitOverride().action(() => {}).parse(args, { from: "user" }).opts();
}

/** The `pretrain` command. */
export function pretrainCommand() {
  return new Command("pretrain")
    .description("pretrain a transformer on the GPU and print loss, throughput and peak memory")
    .option(
      "--model <name>",
      "preset: bert-base, bert-large, roberta-base, roberta-large, gpt2, gpt2-medium, bert-tiny, gpt2-tiny, roberta-tiny",
      env("MODEL", "gpt2-tiny"),
    )
    .option("--config <file>", 'JSON object of config overrides, e.g. {"layers": 4, "hidden": 128}')
    .option(
      "--tempo <list>",
      "Tempo layers: all | none | comma list of gelu,layernorm,attention",
      env("TEMPO", "all"),
    )
    .addOption(
      new Option(
        "--masks <mode>",
        "mask storage: bytes (paper) | bits | regen (default: regen with Tempo, bytes without)",
      ).choices(["bytes", "bits", "regen"] as const),
    )
    .option("--batch-size <n>", "sequences per micro-batch", parseIntFlag("batch-size"), 8)
    .option("--grad-accum <n>", "micro-batches per optimizer step", parseIntFlag("grad-accum"), 1)
    .option("--seq-len <n>", "tokens per sequence", parseIntFlag("seq-len", 2), 64)
    .option("--steps <n>", "optimizer steps", parseIntFlag("steps"), 400)
    .option("--lr <x>", "peak learning rate", parseFloatFlag("lr", 0, 10), 2e-3)
    .option("--warmup <n>", "warmup steps", parseIntFlag("warmup", 0), 10)
    .addOption(
      new Option("--schedule <kind>", "learning-rate schedule").choices(
        ["cosine", "linear", "constant"] as const,
      ).default("cosine" as const),
    )
    .option("--min-lr <x>", "final learning rate (default lr/10)", parseFloatFlag("min-lr", 0, 10))
    .option(
      "--weight-decay <x>",
      "AdamW decoupled weight decay",
      parseFloatFlag("weight-decay", 0, 10),
      0.01,
    )
    .option(
      "--grad-clip <x>",
      "max global gradient norm (0 = off)",
      parseFloatFlag("grad-clip", 0),
      1,
    )
    .option(
      "--dropout <p>",
      "dropout probability (default: the preset's)",
      parseFloatFlag("dropout", 0, 0.99),
    )
    .option(
      "--seed <n>",
      "seed of initialisation, data order and dropout",
      parseIntFlag("seed", 0),
      1337,
    )
    .option(
      "--data <path>",
      "dataset folder from `tempo prepare`, or .bin shards (comma list); default: embedded Moby Dick",
    )
    .addOption(
      new Option("--format <fmt>", "shard layout of .bin files").choices(
        ["auto", "llmc", "nanogpt"] as const,
      ).default("auto" as const),
    )
    .option(
      "--val-every <n>",
      "evaluate every n steps (0 = at the end only)",
      parseIntFlag("val-every", 0),
      0,
    )
    .option("--val-steps <n>", "batches per evaluation", parseIntFlag("val-steps"), 4)
    .option("--log-every <n>", "print every n steps", parseIntFlag("log-every"), 25)
    .option(
      "--out <dir>",
      "checkpoint folder (model.safetensors, optimizer.safetensors, state.json)",
    )
    .option(
      "--save-every <n>",
      "checkpoint every n steps (0 = at the end, with --out)",
      parseIntFlag("save-every", 0),
      0,
    )
    .option("--resume <dir>", "continue from a checkpoint folder (pass the original run's flags)")
    .option(
      "--stop-after <n>",
      "stop after n steps of this invocation (checkpoint with --out); resume later",
      parseIntFlag("stop-after"),
    )
    .option(
      "--memory-limit <size>",
      "fail (naming the largest batch that fits) above this many bytes, e.g. 11GiB",
    )
    .option("--json <file>", "write JSONL: one record per logged step and a final summary")
    .option("--quiet", "print only the summary")
    .action(async (o) => {
      await pretrain(o);
    });
}

/** Options of a pretrain run (the parsed flags). */
export type PretrainOptions = ReturnType<ReturnType<typeof pretrainCommand>["opts"]>;

/** How `pretrain` runs beyond its flags. */
export interface PretrainRuntime {
  /** A device to use (left open); otherwise one is acquired and destroyed at the end. */
  gpu?: Gpu;
  /** Print nothing at all, not even the summary (for callers that print their own). */
  silent?: boolean;
}

/** Run a pretraining job; returns the summary record. */
export async function pretrain(
  o: PretrainOptions,
  rt: PretrainRuntime = {},
): Promise<Record<string, unknown>> {
  const gpu = rt.gpu ?? await acquireGpu();
  try {
    return await pretrainOn(gpu, o, !!rt.silent);
  } finally {
    if (!rt.gpu) gpu.device.destroy();
  }
}

async function pretrainOn(
  gpu: Gpu,
  o: PretrainOptions,
  silent: boolean,
): Promise<Record<string, unknown>> {
  const overrides: Record<string, unknown> = await readConfigOverrides(o.config);
  if (o.dropout !== undefined) overrides.dropout = o.dropout;
  let resumeState: Record<string, unknown> | null = null;
  if (o.resume) resumeState = await readResumeRun(o.resume);
  const cfg = resolveConfig(o.model, overrides);
  const tempo = parseTempo(o.tempo, o.masks);
  const B = o.batchSize, T = o.seqLen;
  const memoryLimit = o.memoryLimit ? parseBytes(o.memoryLimit, "--memory-limit") : undefined;
  const alloc = new Allocator({ device: gpu.device, memoryLimit });
  const enc = new Encoder(gpu);
  const data = await openRunData(cfg, {
    data: o.data,
    format: o.format,
    batch: B,
    seqLen: T,
    seed: o.seed,
  });
  const out = o.out ?? o.resume;
  const reporter = new Reporter({
    quiet: !!o.quiet || silent,
    silent,
    json: o.json,
    logEvery: o.logEvery,
    steps: o.steps,
  });
  await reporter.open();
  let model: Transformer, trainer: Trainer;
  try {
    model = new Transformer(cfg, { batch: B, seqLen: T }, tempo, alloc);
    model.initialize(enc, o.seed);
    trainer = new Trainer(model, alloc, enc, {
      schedule: {
        kind: o.schedule as ScheduleKind,
        lr: o.lr,
        minLr: o.minLr ?? o.lr / 10,
        warmup: o.warmup,
        steps: o.steps,
      },
      weightDecay: o.weightDecay,
      gradClip: o.gradClip,
      beta1: 0.9,
      beta2: 0.999,
      eps: 1e-8,
      gradAccum: o.gradAccum,
      seed: o.seed,
      tokensPerMicroBatch: B * T,
      samplesPerMicroBatch: B,
    });
  } catch (e) {
    throw explainOom(e, cfg, T, tempo, memoryLimit);
  }
  if (o.resume && resumeState) {
    const state = await loadCheckpoint(o.resume, enc, model.params, trainer.moments);
    trainer.stepsDone = state.step;
    data.train.restore(state.data);
  }
  reporter.header({
    model: cfg.name,
    params: model.store.count(),
    tempo: tempoLabel(tempo),
    batch: `${B} x ${o.gradAccum} x ${T} = ${B * o.gradAccum * T} tokens/step`,
    adapter: gpu.description,
    kernels: gpu.kernels.label,
    data: data.description,
    resumedAt: trainer.stepsDone,
  });
  const run = { model: cfg.name, config: cfg, flags: o };
  let summary;
  try {
    summary = await runLoop(trainer, data.train, data.val, {
      steps: o.steps,
      stopAt: o.stopAfter !== undefined ? trainer.stepsDone + o.stopAfter : undefined,
      valEvery: o.valEvery > 0 ? o.valEvery : (data.val ? o.steps : 0),
      valSteps: o.valSteps,
      saveEvery: o.saveEvery,
      out,
      run,
      onStep: (r: StepRecord) => reporter.step(r),
      onEval: (s, l) => reporter.eval(s, l),
      onSave: (s, d) => reporter.saved(s, d),
    });
  } catch (e) {
    throw explainOom(e, cfg, T, tempo, memoryLimit);
  }
  return await reporter.summary(summary, {
    model: cfg.name,
    tempo: tempoLabel(tempo),
    batchSize: B,
    seqLen: T,
    gradAccum: o.gradAccum,
    adapter: gpu.description,
    guardedLayerNorms: model.guarded,
    backendBytes: enc.backendBytes,
  });
}

async function readResumeRun(dir: string): Promise<Record<string, unknown>> {
  try {
    return JSON.parse(await Deno.readTextFile(`${dir}/state.json`));
  } catch {
    throw new TempoError(
      `--resume ${dir}: no checkpoint there (state.json missing or unreadable)`,
      "pass the --out folder of a run that saved a checkpoint",
    );
  }
}

function explainOom(
  e: unknown,
  cfg: ModelConfig,
  T: number,
  tempo: ReturnType<typeof parseTempo>,
  limit: number | undefined,
): unknown {
  if (!(e instanceof OutOfMemoryError) || limit === undefined) return e;
  const fit = maxBatch(cfg, T, tempo, limit);
  return new TempoError(
    `--batch-size does not fit in --memory-limit ${formatBytes(limit)}: ${
      e.message.split("\n")[0]
    }`,
    fit > 0
      ? `the largest batch that fits is --batch-size ${fit} (${tempoLabel(tempo)}, seq ${T})`
      : `even --batch-size 1 does not fit; raise --memory-limit or lower --seq-len`,
    e,
  );
}
