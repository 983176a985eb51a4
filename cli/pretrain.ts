/**
 * `tempo pretrain`: parse flags, wire a model and batch sources into core/train, print.
 * @module
 */
import { Command, Option } from "@commander-js/extra-typings";
import { Allocator } from "../core/allocator.ts";
import { type Collectives, SingleProcess } from "../core/collectives/collectives.ts";
import { processEnv } from "../core/collectives/launcher.ts";
import { openCollectives } from "../core/collectives/open.ts";
import { selectDevice, usableCpus } from "../core/device_select.ts";
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
import { broadcastFromRoot, type ReduceStats } from "../core/train/data_parallel.ts";
import { type LoopSummary, runLoop } from "../core/train/loop.ts";
import { RunFolder } from "../core/train/run_folder.ts";
import type { ScheduleKind } from "../core/train/schedule.ts";
import { ADAMW_DEFAULTS, type StepRecord, Trainer } from "../core/train/trainer.ts";
import { parseTempo, tempoLabel } from "../layers/tempo_options.ts";
import {
  needPrecisionSupport,
  parsePrecision,
  type Precision,
  scalesLoss,
} from "../core/precision.ts";
import { checkScalerState, GRAD_SCALER, type LossScaling } from "../core/train/loss_scaler.ts";
import { bf16Option, fp16Option, precisionOf, precisionOption } from "./precision_flags.ts";
import { type ModelConfig, resolveConfig } from "../models/config.ts";
import { type HfImport, initFromHf } from "../models/hf/import.ts";
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
import {
  installStopSignals,
  isStopSignal,
  RunInterrupted,
  SIGNAL_EXIT,
  type StopSignals,
} from "./signals.ts";

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
    .addOption(precisionOption())
    .addOption(fp16Option())
    .addOption(bf16Option())
    .option(
      "--loss-scale-init <x>",
      `f16: the first step's loss scale, a power of two (default ${GRAD_SCALER.init}, as ` +
        "PyTorch's GradScaler)",
      parsePowerOfTwo("loss-scale-init"),
    )
    .option(
      "--min-loss-scale <x>",
      `f16: stop when the loss scale falls below this (default ${GRAD_SCALER.minScale})`,
      parseFloatFlag("min-loss-scale", 0),
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
      "--init-from <dir>",
      "start from a Hugging Face model folder's weights (`tempo export` or save_pretrained); " +
        "fresh optimizer",
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
    .option(
      "--collective-timeout <s>",
      "data parallel (under mpirun/srun): abort the job when the ranks wait on each other " +
        "longer than this (default 600)",
      parseFloatFlag("collective-timeout", 0),
    )
    .addHelpText("after", aliasHelp() + DATA_PARALLEL_HELP)
    .action(async (o, cmd) => {
      // Several ranks when a launcher (mpirun, mpiexec, srun) started this process.
      const collectives = openCollectives({ timeoutS: o.collectiveTimeout });
      try {
        const device = selectDevice(collectives.localRank, processEnv("TEMPO_DEVICES"), {
          get: processEnv,
          set: (k, v) => Deno.env.set(k, v),
        });
        const s = await pretrain({ ...o, given: givenKeys(cmd) }, {
          signals: true,
          collectives,
          device: device ?? undefined,
        });
        if (isStopSignal(s.signal)) throw new RunInterrupted(s.signal);
      } catch (e) {
        // Name the rank; leaving with the session open then aborts the others (MPI_Abort).
        if (collectives.size > 1 && e instanceof Error && !(e instanceof RunInterrupted)) {
          e.message = `rank ${collectives.rank} of ${collectives.size}: ${e.message}`;
        }
        throw e;
      }
    });
}

const DATA_PARALLEL_HELP = `

Data parallel: \`mpirun -np N deno task pretrain ...\` (or srun) trains one rank per process, each
on its slice of a global batch of N x --grad-accum x --batch-size sequences; rank 0 prints, writes
--json and checkpoints. Send SIGUSR2 to mpirun to stop every rank after the same step with a
checkpoint. TEMPO_DEVICES picks each local rank's GPU; TEMPO_MPI_LIB the MPI library
(docs/cluster.md).`;

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
  /**
   * The ranks of a data-parallel run (every rank calls `pretrain` alike; rank 0 alone prints,
   * writes --json and checkpoints); default a single process. Finalized when the run ends.
   */
  collectives?: Collectives;
  /** How this process's GPU was chosen (`selectDevice`), for the header. */
  device?: string;
}

/** Run a pretraining job; returns the summary record. */
export async function pretrain(
  o: PretrainOptions,
  rt: PretrainRuntime = {},
): Promise<Record<string, unknown>> {
  const comm = rt.collectives ?? new SingleProcess();
  const where = { out: undefined as string | undefined };
  const stop = rt.signals
    ? installStopSignals(() =>
      (comm.size > 1 ? ` with the other ranks` : "") +
      (where.out ? `, then saving a checkpoint to ${where.out}` : "")
    )
    : null;
  try {
    const gpu = rt.gpu ?? await acquireGpu();
    let summary;
    try {
      summary = await pretrainOn(gpu, o, rt, comm, stop, where);
    } finally {
      if (!rt.gpu) gpu.device.destroy();
    }
    await comm.finalize();
    return summary;
  } finally {
    stop?.dispose();
  }
}

/**
 * A checkpoint resumes on another number of ranks only with the same global batch (ranks x
 * grad-accum x batch size): the data position is global, and a sample's dropout masks do not
 * depend on how the batch is split, so 2 ranks x 1 continue as 1 rank x --grad-accum 2.
 */
function checkGlobalBatch(ref: CheckpointRef, ranks: number, s: RunSettings): void {
  const run = ref.state.run as { ranks?: number; settings?: Partial<RunSettings> };
  const then = run.ranks ?? 1;
  if (then === ranks) return;
  const was = then * (run.settings?.gradAccum ?? 1) * (run.settings?.batchSize ?? 0);
  const now = ranks * s.gradAccum * s.batchSize;
  if (was !== now) {
    throw new TempoError(
      `${ref.dir} was trained on ${then} rank(s), a global batch of ${was} sequences; ` +
        `${ranks} rank(s) x ${s.gradAccum} x ${s.batchSize} make ${now}`,
      `resume on ${then} rank(s), or keep ranks x --grad-accum x --batch-size at ${was} ` +
        "(--allow-changes grad-accum,batch-size)",
    );
  }
}

/**
 * The stop every rank acts on: the highest exit code among the ranks' requests (a signal's, or 1
 * for another reason), as its signal's name.
 */
function stopVote(comm: Collectives): (local: string | undefined) => Promise<string | undefined> {
  const codes: Record<string, number> = SIGNAL_EXIT;
  return async (local) => {
    const vote = Float32Array.of(local === undefined ? 0 : codes[local] ?? 1);
    await comm.allReduce(vote, "max", "the ranks' vote on stopping");
    if (vote[0] === 0) return undefined;
    return Object.keys(codes).find((k) => codes[k] === vote[0]) ?? local ?? "aborted";
  };
}

async function pretrainOn(
  gpu: Gpu,
  o: PretrainOptions,
  rt: PretrainRuntime,
  comm: Collectives,
  stop: StopSignals | null,
  where: { out: string | undefined },
): Promise<Record<string, unknown>> {
  const N = comm.size, rank0 = comm.rank === 0;
  // Ranks other than 0 print nothing, write no --json and no checkpoints.
  const silent = !!rt.silent || !rank0;
  const faults = rt.faults ?? FaultPlan.parse(env("FAULT", ""));
  if (o.initFrom && o.resume) {
    throw new TempoError("--init-from starts a new run; --resume continues one: give one of them");
  }
  const precisionFlags = { ...o, precision: precisionOf(o) };
  let settings: RunSettings = settingsOf(precisionFlags, await readConfigOverrides(o.config));
  let ref: CheckpointRef | null = null;
  if (o.resume) {
    ref = await findCheckpoint(o.resume);
    // --fp16 and --bf16 give --precision.
    const given = o.given && (o.given.includes("fp16") || o.given.includes("bf16"))
      ? [...o.given, "precision"]
      : o.given;
    settings = resumeSettings(settings, ref.state.run.settings as Partial<RunSettings>, {
      given,
      allowChanges: o.allowChanges,
      checkpoint: ref.dir,
      step: ref.step,
    });
  } else if (o.allowChanges !== undefined) {
    throw new TempoError("--allow-changes applies to --resume only");
  }
  const s = settings;
  if (ref) checkGlobalBatch(ref, N, s);
  const overrides: Record<string, unknown> = { ...s.config };
  if (s.dropout !== null) overrides.dropout = s.dropout;
  const cfg = resolveConfig(s.model, overrides);
  const tempo = parseTempo(s.tempo, s.masks ?? undefined, s.attention);
  const precision = parsePrecision(s.precision);
  needPrecisionSupport(gpu, precision);
  const B = s.batchSize, T = s.seqLen;
  const memoryLimit = o.memoryLimit ? parseBytes(o.memoryLimit, "--memory-limit") : undefined;
  const out = rank0 ? o.out ?? ref?.runDir : undefined;
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
      json: rank0 ? o.json : undefined,
      logEvery: o.logEvery,
      steps: s.steps,
      ranks: N,
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
      // Rank r takes micro-batches r*A .. r*A + A - 1 of every global batch of N*A (so that a
      // run's batches do not depend on how it is split into ranks and micro-batches).
      slice: N * s.gradAccum > 1
        ? { parts: N * s.gradAccum, first: comm.rank * s.gradAccum, count: s.gradAccum }
        : undefined,
    });
    const scaling = scalesLoss(precision)
      ? {
        ...GRAD_SCALER,
        init: o.lossScaleInit ?? GRAD_SCALER.init,
        minScale: o.minLossScale ?? GRAD_SCALER.minScale,
      }
      : null;
    let model: Transformer, trainer: Trainer, initFrom: HfImport | null = null;
    try {
      model = new Transformer(cfg, { batch: B, seqLen: T }, tempo, alloc, { precision });
      model.initialize(enc, s.seed);
      if (o.initFrom) initFrom = await initFromHf(o.initFrom, cfg, enc, model.params);
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
        collectives: comm,
        lossScaling: scaling ?? undefined,
      });
    } catch (e) {
      throw explainOom(e, cfg, T, tempo, memoryLimit, precision);
    }
    if (ref) {
      await loadCheckpointTensors(ref, enc, model.params, trainer.moments);
      trainer.stepsDone = ref.step;
      data.train.restore(ref.state.data);
      // The scaler continues where it was (a run resumed at f16 from another precision, which
      // --allow-changes precision permits, starts a fresh one).
      if (scaling && ref.state.scaler) {
        trainer.restoreScaler(checkScalerState(ref.state.scaler, ref.dir));
      }
      if (data.val && ref.state.val) data.val.restore(ref.state.val);
      reporter.record({ resumed: true, step: ref.step, checkpoint: ref.dir });
    }
    // Every rank starts from rank 0's weights (and moments, resuming): seeded initialisation
    // and a shared checkpoint make them equal already; the broadcast makes sure and says so.
    let sync = "";
    if (N > 1) {
      const tensors = model.params.map((p) => p.value);
      if (ref) { for (const m of trainer.moments) tensors.push(m.m, m.v); }
      const differ = await broadcastFromRoot(comm, enc, tensors, "the initial weights");
      sync = differ === 0
        ? `; weights${ref ? " and moments" : ""} equal on every rank before rank 0's broadcast`
        : `; ${differ} tensors differed from rank 0's and were replaced by its broadcast`;
    }
    const keepLast = o.keepLast ?? 2;
    reporter.header({
      model: cfg.name,
      params: model.store.count(),
      tempo: tempoLabel(tempo),
      attention: tempo.attentionKind,
      precision: precisionLabel(precision, scaling),
      batch: N > 1
        ? `${N} ranks x ${B} x ${s.gradAccum} x ${T} = ${N * B * s.gradAccum * T} tokens/step`
        : `${B} x ${s.gradAccum} x ${T} = ${B * s.gradAccum * T} tokens/step`,
      ...(N > 1 ? { ranks: `${comm.description}${sync}` } : {}),
      adapter: gpu.description + (rt.device ? `, chosen by ${rt.device}` : "") +
        (N > 1 ? " (rank 0's)" : ""),
      kernels: gpu.kernels.label,
      data: data.description,
      ...(out ? { out: `${out} (keep last ${keepLast === 0 ? "all" : keepLast})` } : {}),
      ...(ref ? { resumed: `${ref.dir} (step ${ref.step})` } : {}),
      ...(o.initFrom ? { init: `${o.initFrom} (${initFrom?.architecture ?? "weights"})` } : {}),
    });
    if (N > 1 && gpu.isSoftware && usableCpus() === 1) {
      reporter.note(
        `rank 0 may use 1 CPU, and ${gpu.description} computes on the CPUs: if the launcher ` +
          "bound each rank to a core, the run crawls; use mpirun --bind-to none (srun --cpu-bind=none)",
      );
    }
    for (const n of initFrom?.notes ?? []) reporter.note(`--init-from: ${n}`);
    if (folder && folder.removed.length > 0) {
      reporter.note(
        `removed ${folder.removed.join(", ")} from ${folder.dir} (left by an interrupted save)`,
      );
    }
    const run = {
      model: cfg.name,
      config: cfg,
      settings: Object.fromEntries(RUN_SETTING_KEYS.map((k) => [k, s[k]])),
      ranks: N,
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
        agreeStop: N > 1 ? stopVote(comm) : undefined,
        faults,
        onStep: (r: StepRecord) => reporter.step(r),
        onEval: (step, l) => reporter.eval(step, l),
        onSave: (step, d) => reporter.saved(step, d),
      });
    } catch (e) {
      throw explainOom(e, cfg, T, tempo, memoryLimit, precision);
    }
    const ranks = N > 1 ? await rankTotals(comm, summary, trainer.reduceStats) : {};
    return reporter.summary(summary, {
      ...ranks,
      model: cfg.name,
      tempo: tempoLabel(tempo),
      attention: tempo.attentionKind,
      precision,
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

/** The header's precision line. */
function precisionLabel(p: Precision, scaling: LossScaling | null): string {
  if (p === "f32") return "f32";
  const scaled = scaling ? `, dynamic loss scale from ${scaling.init}` : ", no loss scaling";
  return `${p} activations, f32 master weights, gradients and AdamW moments${scaled}`;
}

/** Parse a positive power of two (a loss scale). */
function parsePowerOfTwo(name: string): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (!(n > 0 && Number.isFinite(n) && 2 ** Math.round(Math.log2(n)) === n)) {
      throw new TempoError(
        `--${name} must be a power of two, got '${v}'`,
        "e.g. 65536 (2^16); scaling by a power of two is exact",
      );
    }
    return n;
  };
}

/**
 * The peak of every rank (max and sum: each rank's allocator sees only its own), and rank 0's
 * time per step from its gradients' arrival on the host to their write-back (the all-reduce's
 * cost on the step's critical path).
 */
async function rankTotals(
  comm: Collectives,
  s: LoopSummary,
  reduce: Readonly<ReduceStats> | null,
): Promise<Record<string, number>> {
  const peak = s.records.reduce((m, r) => Math.max(m, r.memory.peak), 0);
  const max = Float64Array.of(peak), sum = Float64Array.of(peak);
  await comm.allReduce(max, "max", "the ranks' peak memory");
  await comm.allReduce(sum, "sum", "the ranks' peak memory");
  const per = (ms: number) => reduce && reduce.steps > 0 ? ms / reduce.steps : 0;
  return {
    ranks: comm.size,
    peakBytesMaxRank: max[0],
    peakBytesAllRanks: sum[0],
    allReduceMsPerStep: per(reduce?.tailMs ?? 0),
    mpiMsPerStep: per(reduce?.mpiMs ?? 0),
    gradientBytes: reduce?.bytes ?? 0,
  };
}

function explainOom(
  e: unknown,
  cfg: ModelConfig,
  T: number,
  tempo: ReturnType<typeof parseTempo>,
  limit: number | undefined,
  precision: Precision,
): unknown {
  if (!(e instanceof OutOfMemoryError) || limit === undefined) return e;
  const fit = maxBatch(cfg, T, tempo, limit, { precision });
  return new TempoError(
    `--batch-size does not fit in --memory-limit ${formatBytes(limit)}: ${
      e.message.split("\n")[0]
    }`,
    fit > 0
      ? `the largest batch that fits is --batch-size ${fit} (${
        tempoLabel(tempo)
      }, ${precision}, seq ${T})`
      : `even --batch-size 1 does not fit; raise --memory-limit or lower --seq-len`,
    e,
  );
}
