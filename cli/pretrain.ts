/**
 * `tempo pretrain`: parse flags, wire a model and batch sources into core/train, print.
 * @module
 */
import { Command, Option } from "@commander-js/extra-typings";
import { Allocator } from "../core/allocator.ts";
import { Encoder } from "../core/encoder.ts";
import { OutOfMemoryError, TempoError } from "../core/errors.ts";
import { acquireGpu, type Gpu } from "../core/gpu.ts";
import {
  type CheckpointRef,
  checkRunFolder,
  findCheckpoint,
  loadCheckpointTensors,
} from "../core/train/checkpoint.ts";
import { FaultPlan } from "../core/train/fault.ts";
import { runLoop } from "../core/train/loop.ts";
import { RunFolder } from "../core/train/run_folder.ts";
import type { ScheduleKind } from "../core/train/schedule.ts";
import { ADAMW_DEFAULTS, type StepRecord, Trainer } from "../core/train/trainer.ts";
import { parseTempo, tempoLabel } from "../layers/tempo_options.ts";
import { type ModelConfig, resolveConfig } from "../models/config.ts";
import { maxBatch } from "../models/plan.ts";
import { Transformer } from "../models/transformer.ts";
import { aliasHelp, rewriteAliases } from "./aliases.ts";
import { openRunData } from "./data.ts";
import {
  formatBytes,
  parseBytes,
  parseFloatFlag,
  parseIntFlag,
  readConfigOverrides,
} from "./format.ts";
import { Reporter } from "./reporter.ts";
import { resumeSettings, RUN_SETTING_KEYS, type RunSettings, settingsOf } from "./run_settings.ts";
import { installStopSignals, isStopSignal, RunInterrupted, type StopSignals } from "./signals.ts";

const env = (name: string, fallback: string): string => {
  try {
    return Deno.env.get(`TEMPO_${name}`) ?? fallback;
  } catch {
    return fallback;
  }
};

/** The long flags of the pretrain command (for alias rewriting). */
export function pretrainFlags(): Set<string> {
  return new Set(pretrainCommand().options.map((o) => o.long).filter((l) => l !== undefined));
}

/** Rewrite Hugging Face / nanoGPT spellings in pretrain's arguments to tempo's flags. */
export function rewritePretrainArgs(args: readonly string[]): string[] {
  return rewriteAliases(args, pretrainFlags());
}

/** Option keys the user gave on the command line (not defaults). */
function givenKeys(
  cmd: { options: readonly { attributeName(): string }[] } & {
    getOptionValueSource(key: string): string | undefined;
  },
): string[] {
  return cmd.options.map((o) => o.attributeName()).filter((k) =>
    cmd.getOptionValueSource(k) === "cli"
  );
}

/** Parse pretrain flags (with defaults, aliases rewritten) without running anything. */
export function parsePretrainArgs(args: string[]): PretrainOptions {
  const cmd = pretrainCommand().exitOverride().action(() => {});
  cmd.parse(rewritePretrainArgs(args), { from: "user" });
  return { ...cmd.opts(), given: givenKeys(cmd) };
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
    .option(
      "--config <json|file>",
      'config overrides: a JSON object or a file of one, e.g. \'{"layers": 4, "hidden": 128}\'',
    )
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
    .addOption(
      new Option(
        "--attention <kind>",
        "attention layer: standard (baseline or Tempo, as --tempo says) | fused (keeps no " +
          "probabilities: long sequences)",
      ).choices(["standard", "fused"] as const).default("standard" as const),
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
      "run folder for checkpoints: one committed step-NNNNNN folder per save (checked writable first)",
    )
    .option(
      "--save-every <n>",
      "checkpoint every n steps (0 = at the end, with --out)",
      parseIntFlag("save-every", 0),
      0,
    )
    .option(
      "--keep-last <k>",
      "keep the k newest checkpoints in --out, removing older ones after each save (0 = all; default 2)",
      parseIntFlag("keep-last", 0),
    )
    .option(
      "--resume <dir>",
      "continue a run: its --out folder (newest checkpoint) or one step folder; flags left out " +
        "are the checkpoint's",
    )
    .option(
      "--allow-changes <flags>",
      "with --resume: flags that may differ from the checkpoint's run, comma separated (e.g. " +
        "lr,steps), or all",
    )
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
    .addHelpText("after", aliasHelp())
    .action(async (o, cmd) => {
      const s = await pretrain({ ...o, given: givenKeys(cmd) }, { signals: true });
      if (isStopSignal(s.signal)) throw new RunInterrupted(s.signal);
    });
}

/** Options of a pretrain run (the parsed flags). */
export type PretrainOptions = ReturnType<ReturnType<typeof pretrainCommand>["opts"]> & {
  /**
   * Option keys given explicitly (the rest are defaults, which `--resume` replaces with the
   * checkpoint's settings); undefined = every value is meant as given.
   */
  given?: readonly string[];
};

/** How `pretrain` runs beyond its flags. */
export interface PretrainRuntime {
  /** A device to use (left open); otherwise one is acquired and destroyed at the end. */
  gpu?: Gpu;
  /** Print nothing at all, not even the summary (for callers that print their own). */
  silent?: boolean;
  /**
   * Stop cleanly on SIGINT / SIGTERM (a checkpoint, the summary; the summary record says which
   * signal), and exit at once on a second one. The listeners are removed when the run ends.
   */
  signals?: boolean;
  /** Injected faults; default: the TEMPO_FAULT testing hook (docs/testing_hooks.md). */
  faults?: FaultPlan;
}

/** Run a pretraining job; returns the summary record. */
export async function pretrain(
  o: PretrainOptions,
  rt: PretrainRuntime = {},
): Promise<Record<string, unknown>> {
  const where = { out: undefined as string | undefined };
  const stop = rt.signals
    ? installStopSignals(() => where.out ? `, then saving a checkpoint to ${where.out}` : "")
    : null;
  try {
    const gpu = rt.gpu ?? await acquireGpu();
    try {
      return await pretrainOn(gpu, o, rt, stop, where);
    } finally {
      if (!rt.gpu) gpu.device.destroy();
    }
  } finally {
    stop?.dispose();
  }
}

async function pretrainOn(
  gpu: Gpu,
  o: PretrainOptions,
  rt: PretrainRuntime,
  stop: StopSignals | null,
  where: { out: string | undefined },
): Promise<Record<string, unknown>> {
  const silent = !!rt.silent;
  const faults = rt.faults ?? FaultPlan.parse(env("FAULT", ""));
  let settings: RunSettings = settingsOf(o, await readConfigOverrides(o.config));
  let ref: CheckpointRef | null = null;
  if (o.resume) {
    ref = await findCheckpoint(o.resume);
    settings = resumeSettings(settings, ref.state.run.settings as Partial<RunSettings>, {
      given: o.given,
      allowChanges: o.allowChanges,
      checkpoint: ref.dir,
      step: ref.step,
    });
  } else if (o.allowChanges !== undefined) {
    throw new TempoError("--allow-changes applies to --resume only");
  }
  const s = settings;
  const overrides: Record<string, unknown> = { ...s.config };
  if (s.dropout !== null) overrides.dropout = s.dropout;
  const cfg = resolveConfig(s.model, overrides);
  const tempo = parseTempo(s.tempo, s.masks ?? undefined, s.attention);
  const B = s.batchSize, T = s.seqLen;
  const memoryLimit = o.memoryLimit ? parseBytes(o.memoryLimit, "--memory-limit") : undefined;
  const out = o.out ?? ref?.runDir;
  const folder = !out ? null : o.out ? await RunFolder.open(out) : await RunFolder.open(
    out,
    "--resume",
    "pass --out DIR to write the resumed run's checkpoints into another folder",
  );
  try {
    if (folder) await checkRunFolder(folder.dir, ref);
    where.out = out;
    const reporter = new Reporter({
      quiet: !!o.quiet || silent,
      silent,
      json: o.json,
      logEvery: o.logEvery,
      steps: s.steps,
    });
    await reporter.open(ref !== null);
    const alloc = new Allocator({ device: gpu.device, memoryLimit });
    const enc = new Encoder(gpu);
    using data = await openRunData(cfg, { // closed when this block is left, normally or not
      data: s.data ?? undefined,
      format: s.format,
      batch: B,
      seqLen: T,
      seed: s.seed,
    });
    let model: Transformer, trainer: Trainer;
    try {
      model = new Transformer(cfg, { batch: B, seqLen: T }, tempo, alloc);
      model.initialize(enc, s.seed);
      trainer = new Trainer(model, alloc, enc, {
        schedule: {
          kind: s.schedule as ScheduleKind,
          lr: s.lr,
          minLr: s.minLr ?? s.lr / 10,
          warmup: s.warmup,
          steps: s.steps,
        },
        weightDecay: s.weightDecay,
        gradClip: s.gradClip,
        ...ADAMW_DEFAULTS,
        gradAccum: s.gradAccum,
        seed: s.seed,
        tokensPerMicroBatch: B * T,
        samplesPerMicroBatch: B,
      });
    } catch (e) {
      throw explainOom(e, cfg, T, tempo, memoryLimit);
    }
    if (ref) {
      await loadCheckpointTensors(ref, enc, model.params, trainer.moments);
      trainer.stepsDone = ref.step;
      data.train.restore(ref.state.data);
      if (data.val && ref.state.val) data.val.restore(ref.state.val);
      reporter.record({ resumed: true, step: ref.step, checkpoint: ref.dir });
    }
    const keepLast = o.keepLast ?? 2;
    reporter.header({
      model: cfg.name,
      params: model.store.count(),
      tempo: tempoLabel(tempo),
      attention: tempo.attentionKind,
      batch: `${B} x ${s.gradAccum} x ${T} = ${B * s.gradAccum * T} tokens/step`,
      adapter: gpu.description,
      kernels: gpu.kernels.label,
      data: data.description,
      ...(out ? { out: `${out} (keep last ${keepLast === 0 ? "all" : keepLast})` } : {}),
      ...(ref ? { resumed: `${ref.dir} (step ${ref.step})` } : {}),
    });
    if (folder && folder.removed.length > 0) {
      reporter.note(
        `removed ${folder.removed.join(", ")} from ${folder.dir} (left by an interrupted save)`,
      );
    }
    const run = {
      model: cfg.name,
      config: cfg,
      settings: Object.fromEntries(RUN_SETTING_KEYS.map((k) => [k, s[k]])),
    };
    let summary;
    try {
      summary = await runLoop(trainer, data.train, data.val, {
        steps: s.steps,
        stopAt: o.stopAfter !== undefined ? trainer.stepsDone + o.stopAfter : undefined,
        valEvery: s.valEvery > 0 ? s.valEvery : (data.val ? s.steps : 0),
        valSteps: s.valSteps,
        saveEvery: o.saveEvery,
        out: folder?.dir,
        keepLast,
        run,
        signal: stop?.signal,
        faults,
        onStep: (r: StepRecord) => reporter.step(r),
        onEval: (step, l) => reporter.eval(step, l),
        onSave: (step, d) => reporter.saved(step, d),
      });
    } catch (e) {
      throw explainOom(e, cfg, T, tempo, memoryLimit);
    }
    return reporter.summary(summary, {
      model: cfg.name,
      tempo: tempoLabel(tempo),
      attention: tempo.attentionKind,
      batchSize: B,
      seqLen: T,
      gradAccum: s.gradAccum,
      adapter: gpu.description,
      guardedLayerNorms: model.guarded,
      backendBytes: enc.backendBytes,
      resumedFrom: ref?.step ?? null,
    }, summary.interrupted ? { signal: summary.interrupted, out } : undefined);
  } finally {
    folder?.close();
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
