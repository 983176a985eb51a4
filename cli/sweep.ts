/**
 * `tempo sweep`: a grid of pretraining runs (models x sequence lengths x Tempo configurations x
 * mask storages x attention layers x batch sizes), one after another in this process, each
 * through `pretrain()`.
 * Writes runs.csv, runs.jsonl, peak_memory.svg and throughput.svg, and prints a table. Every
 * run also writes its own file under runs/ (a re-run skips finished runs); with a shard
 * (`--shard-index i --shard-count n`, or a Slurm array's or a Kubernetes Indexed Job's index)
 * only runs i, i + n, ... are trained, and `tempo sweep merge DIR... --out DIR` writes the
 * one-machine files from the shards' (`sweep_shards.ts`).
 * @module
 */
import { Command, Option } from "@commander-js/extra-typings";
import Table from "cli-table3";
import pc from "picocolors";
import { OutOfMemoryError, TempoError } from "../core/errors.ts";
import {
  type AttentionKind,
  type MaskStorage,
  parseAttention,
  parseTempo,
  splitTempoSpecs,
  tempoLabel,
} from "../layers/tempo_options.ts";
import { resolveConfig } from "../models/config.ts";
import { planModel } from "../models/plan.ts";
import { formatBytes, parseFloatFlag, parseIntFlag, parseIntList } from "./format.ts";
import { memoryBudgetOption, memoryLimitOf, precisionList, TEMPO_LIST_HELP } from "./memory.ts";
import { bf16Option, fp16Option } from "./precision_flags.ts";
import type { Precision } from "../core/precision.ts";
import { pretrain, type PretrainOptions } from "./pretrain.ts";
import {
  gridHash,
  inShard,
  mergeRuns,
  readRunFiles,
  resolveShard,
  runFile,
  runFileName,
  runKey,
  writeRunFile,
} from "./sweep_shards.ts";

/** What became of one run. `oom` and `over-budget` are results; only `failed` is an error. */
export type RunStatus = "ok" | "over-budget" | "oom" | "failed";

/** One run of a sweep: a line of runs.jsonl and a row of runs.csv. */
export interface SweepRecord {
  /** Model preset. */
  model: string;
  /** Tempo label (`tempoLabel`), e.g. `gelu,layernorm/bits`. */
  tempo: string;
  /** Mask storage. */
  masks: MaskStorage;
  /** The attention layer (`--attention`). */
  attention: AttentionKind;
  /** The activations' storage (`--precision`). */
  precision: Precision;
  /** Sequences per micro-batch. */
  batchSize: number;
  /** Tokens per sequence. */
  seqLen: number;
  /** Optimizer steps asked for. */
  steps: number;
  /** What became of the run. */
  status: RunStatus;
  /** Loss of the last step (null unless ok). */
  finalLoss: number | null;
  /** Validation loss at the end, when the data has a validation split (null otherwise). */
  valLoss: number | null;
  /** Mean milliseconds per optimizer step, the first (compiling) step excluded. */
  msPerStep: number | null;
  /** Tokens per second: tokens per optimizer step over `msPerStep`. */
  tokensPerSec: number | null;
  /** Measured peak of live bytes (the allocator's accounting). */
  peakBytes: number | null;
  /** Peak of the run's step measured in planning mode (`planModel`), or null when that failed. */
  predictedPeakBytes: number | null;
  /** First line of the error of an `oom` or `failed` run, else null. */
  error: string | null;
}

/** Columns of runs.csv, in order. */
export const CSV_COLUMNS: readonly (keyof SweepRecord)[] = [
  "model",
  "tempo",
  "masks",
  "attention",
  "precision",
  "batchSize",
  "seqLen",
  "steps",
  "status",
  "finalLoss",
  "valLoss",
  "msPerStep",
  "tokensPerSec",
  "peakBytes",
  "predictedPeakBytes",
  "error",
];

/** A sweep: the grid, the per-run training settings, and the memory limit. */
export interface SweepOptions {
  /** Model presets. */
  models: readonly string[];
  /** Tempo specs (all | none | comma list of gelu,layernorm,attention). */
  tempos: readonly string[];
  /** Mask storages; `[undefined]` uses each spec's default (regen with Tempo, bytes without). */
  masks: readonly (MaskStorage | undefined)[];
  /** Attention layers (default `["standard"]`). */
  attentions?: readonly AttentionKind[];
  /** Precisions (default `["f32"]`). */
  precisions?: readonly Precision[];
  /** Batch sizes. */
  batchSizes: readonly number[];
  /** Sequence lengths. */
  seqLens: readonly number[];
  /** Optimizer steps per run. */
  steps: number;
  /** Peak learning rate. */
  lr: number;
  /** Warmup steps. */
  warmup: number;
  /** Seed of every run. */
  seed: number;
  /** `--data` of pretrain (default: embedded Moby Dick). */
  data?: string;
  /** Shard layout of .bin files. */
  format: "auto" | "llmc" | "nanogpt";
  /** Dropout override (default: the preset's). */
  dropout?: number;
  /** Micro-batches per optimizer step. */
  gradAccum: number;
  /** Batches of the final validation (when the data has a validation split). */
  valSteps: number;
  /** Bytes: runs planned above it are skipped, runs that exceed it while training are `oom`. */
  memoryLimit?: number;
}

/** One point of the grid. */
export interface SweepJob {
  /** Model preset. */
  model: string;
  /** The spec as given, for pretrain's `--tempo`. */
  tempoSpec: string;
  /** Mask storage as given (undefined: the spec's default). */
  masks: MaskStorage | undefined;
  /** Tempo label of spec and masks. */
  tempo: string;
  /** Mask storage in effect. */
  resolvedMasks: MaskStorage;
  /** The attention layer. */
  attention: AttentionKind;
  /** The activations' storage. */
  precision: Precision;
  /** Sequences per micro-batch. */
  batchSize: number;
  /** Tokens per sequence. */
  seqLen: number;
}

/** Trains one run and returns pretrain's summary record (injectable for tests). */
export type TrainFn = (o: PretrainOptions) => Promise<Record<string, unknown>>;

/** Callbacks and substitutes of `runSweep`. */
export interface SweepHooks {
  /** Runs one job; default `pretrain`. */
  train?: TrainFn;
  /** Which grid jobs to run (a shard's); default all. */
  only?: (index: number) => boolean;
  /** A record of this job from an earlier run, to reuse instead of training it again. */
  finished?: (job: SweepJob, index: number) => Promise<SweepRecord | null>;
  /** Called before each job run (index in the grid, from 0). */
  onStart?: (job: SweepJob, index: number, total: number) => void;
  /** Called with each record, new or reused (`reused`), with its job. */
  onRecord?: (
    record: SweepRecord,
    index: number,
    total: number,
    job: SweepJob,
    reused: boolean,
  ) => void | Promise<void>;
}

/**
 * Expand the grid in the order model, sequence length, Tempo configuration, masks, attention
 * layer, precision, batch size.
 * Validates every model and spec first (a TempoError names the bad one); configurations that
 * resolve to the same label (`all` and `gelu,layernorm,attention`) run once.
 */
export function sweepJobs(o: SweepOptions): SweepJob[] {
  for (const m of o.models) resolveConfig(m);
  const configs: {
    spec: string;
    masks: MaskStorage | undefined;
    label: string;
    resolved: MaskStorage;
    attention: AttentionKind;
  }[] = [];
  const seen = new Set<string>();
  for (const spec of o.tempos) {
    for (const masks of o.masks) {
      for (const attention of o.attentions ?? ["standard"]) {
        const t = parseTempo(spec, masks, attention);
        const label = tempoLabel(t);
        if (seen.has(label)) continue;
        seen.add(label);
        configs.push({ spec, masks, label, resolved: t.masks, attention });
      }
    }
  }
  const jobs: SweepJob[] = [];
  for (const model of unique(o.models)) {
    for (const seqLen of unique(o.seqLens)) {
      for (const c of configs) {
        for (const precision of unique<Precision>(o.precisions ?? ["f32"])) {
          for (const batchSize of unique(o.batchSizes)) {
            jobs.push({
              model,
              tempoSpec: c.spec,
              masks: c.masks,
              tempo: c.label,
              resolvedMasks: c.resolved,
              attention: c.attention,
              precision,
              batchSize,
              seqLen,
            });
          }
        }
      }
    }
  }
  return jobs;
}

const unique = <T>(xs: readonly T[]): T[] => [...new Set(xs)];

/** How an error ends a run: out of memory (ours, the device's, or pretrain's rewording) or not. */
export function classifyError(e: unknown): { status: "oom" | "failed"; error: string } {
  const message = e instanceof Error ? e.message : String(e);
  const oom = e instanceof OutOfMemoryError ||
    (e instanceof Error && e.cause instanceof OutOfMemoryError);
  return { status: oom ? "oom" : "failed", error: message.split("\n")[0] };
}

/** Pretrain's options for one job, quiet, without checkpoints or JSONL. */
export function pretrainOptions(o: SweepOptions, job: SweepJob): PretrainOptions {
  return {
    model: job.model,
    tempo: job.tempoSpec,
    masks: job.masks,
    attention: job.attention,
    precision: job.precision,
    batchSize: job.batchSize,
    gradAccum: o.gradAccum,
    seqLen: job.seqLen,
    steps: o.steps,
    lr: o.lr,
    warmup: o.warmup,
    schedule: "cosine",
    minLr: undefined,
    weightDecay: 0.01,
    gradClip: 1,
    dropout: o.dropout,
    seed: o.seed,
    data: o.data,
    format: o.format,
    valEvery: 0,
    valSteps: o.valSteps,
    logEvery: Math.max(1, o.steps),
    out: undefined,
    saveEvery: 0,
    resume: undefined,
    memoryLimit: o.memoryLimit !== undefined ? String(o.memoryLimit) : undefined,
    json: undefined,
    quiet: true,
  };
}

const num = (v: unknown): number | null => typeof v === "number" && Number.isFinite(v) ? v : null;

/**
 * Run the grid (or the jobs `hooks.only` takes), one job after another, reusing the records
 * `hooks.finished` has; never throws for a job (its record says what happened). Returns the
 * records of the jobs taken, in grid order.
 */
export async function runSweep(o: SweepOptions, hooks: SweepHooks = {}): Promise<SweepRecord[]> {
  const jobs = sweepJobs(o);
  const train: TrainFn = hooks.train ?? ((po) => pretrain(po, { silent: true }));
  const records: SweepRecord[] = [];
  for (const [i, job] of jobs.entries()) {
    if (hooks.only && !hooks.only(i)) continue;
    const earlier = await hooks.finished?.(job, i) ?? null;
    if (earlier) {
      records.push(earlier);
      await hooks.onRecord?.(earlier, i, jobs.length, job, true);
      continue;
    }
    hooks.onStart?.(job, i, jobs.length);
    const record: SweepRecord = {
      model: job.model,
      tempo: job.tempo,
      masks: job.resolvedMasks,
      attention: job.attention,
      precision: job.precision,
      batchSize: job.batchSize,
      seqLen: job.seqLen,
      steps: o.steps,
      status: "ok",
      finalLoss: null,
      valLoss: null,
      msPerStep: null,
      tokensPerSec: null,
      peakBytes: null,
      predictedPeakBytes: null,
      error: null,
    };
    try {
      const cfg = resolveConfig(job.model, o.dropout !== undefined ? { dropout: o.dropout } : {});
      const tempo = parseTempo(job.tempoSpec, job.masks, job.attention);
      record.predictedPeakBytes =
        planModel(cfg, { batch: job.batchSize, seqLen: job.seqLen }, tempo, {
          precision: job.precision,
        }).peakBytes;
    } catch (e) {
      Object.assign(record, classifyError(e));
    }
    if (
      record.status === "ok" && o.memoryLimit !== undefined &&
      record.predictedPeakBytes !== null && record.predictedPeakBytes > o.memoryLimit
    ) record.status = "over-budget";
    if (record.status === "ok") {
      try {
        const s = await train(pretrainOptions(o, job));
        record.finalLoss = num(s.finalLoss);
        record.valLoss = num(s.valLoss);
        record.msPerStep = num(s.msPerStep);
        record.tokensPerSec = num(s.tokensPerSec); // tokens per step over the mean step time
        record.peakBytes = num(s.peakBytes);
      } catch (e) {
        Object.assign(record, classifyError(e));
      }
    }
    records.push(record);
    await hooks.onRecord?.(record, i, jobs.length, job, false);
  }
  return records;
}

const csvCell = (v: unknown): string => {
  const s = v === null || v === undefined ? "" : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
};

/** runs.csv: a header and one row per record (RFC 4180 quoting; empty cells for null). */
export function toCsv(records: SweepRecord[]): string {
  const lines = [CSV_COLUMNS.join(",")];
  for (const r of records) lines.push(CSV_COLUMNS.map((c) => csvCell(r[c])).join(","));
  return lines.join("\n") + "\n";
}

/** runs.jsonl: one JSON object per record. */
export function toJsonl(records: SweepRecord[]): string {
  return records.map((r) => JSON.stringify(r) + "\n").join("");
}

/** Files a sweep writes into its folder. */
export const SWEEP_FILES = ["runs.csv", "runs.jsonl", "peak_memory.svg", "throughput.svg"] as const;

/** Write runs.csv, runs.jsonl and the two charts into `dir` (created if missing). */
export async function writeSweep(
  dir: string,
  records: SweepRecord[],
  memoryLimitBytes?: number,
): Promise<void> {
  // Vega is loaded only here: imported at the top, every command paid for loading it at start.
  const { peakMemoryChart, throughputChart } = await import("./charts.ts");
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(`${dir}/runs.csv`, toCsv(records));
  await Deno.writeTextFile(`${dir}/runs.jsonl`, toJsonl(records));
  await Deno.writeTextFile(
    `${dir}/peak_memory.svg`,
    await peakMemoryChart(records, { memoryLimitBytes }),
  );
  await Deno.writeTextFile(`${dir}/throughput.svg`, await throughputChart(records));
}

const STATUS_COLOR: Record<RunStatus, (s: string) => string> = {
  ok: pc.green,
  "over-budget": pc.yellow,
  oom: pc.yellow,
  failed: pc.red,
};

const fixed = (v: number | null, digits: number) => v === null ? "-" : v.toFixed(digits);
const bytes = (v: number | null) => v === null ? "-" : formatBytes(v);

/** The terminal table of a sweep. */
export function sweepTable(records: SweepRecord[]): string {
  const t = new Table({
    style: pc.isColorSupported ? undefined : { head: [], border: [] },
    chars: { mid: "", "left-mid": "", "mid-mid": "", "right-mid": "" },
    head: [
      "model",
      "tempo",
      "precision",
      "batch",
      "seq",
      "status",
      "loss",
      "ms/step",
      "tokens/s",
      "peak",
      "predicted",
    ],
  });
  for (const r of records) {
    t.push([
      r.model,
      r.tempo,
      r.precision ?? "f32",
      r.batchSize,
      r.seqLen,
      STATUS_COLOR[r.status](r.status),
      fixed(r.finalLoss, 4),
      fixed(r.msPerStep, 1),
      r.tokensPerSec === null ? "-" : Math.round(r.tokensPerSec).toLocaleString("en-US"),
      bytes(r.peakBytes),
      bytes(r.predictedPeakBytes),
    ]);
  }
  return t.toString();
}

/** One progress line of a finished record (stderr). */
function progressLine(r: SweepRecord, i: number, total: number, reused = false): string {
  const what = `[${i + 1}/${total}] ${r.model} ${r.tempo} b${r.batchSize} seq ${r.seqLen}` +
    (reused ? " (finished earlier)" : "");
  const detail = r.status === "ok"
    ? `${fixed(r.msPerStep, 1)} ms/step, peak ${bytes(r.peakBytes)}`
    : r.status === "over-budget"
    ? `predicted ${bytes(r.predictedPeakBytes)}`
    : r.error ?? "";
  return `${what}: ${STATUS_COLOR[r.status](r.status)} ${pc.dim(detail)}`;
}

const parseMasksList = (v: string): MaskStorage[] =>
  v.split(",").map((m) => m.trim()).filter(Boolean).map((m) => {
    if (!["bytes", "bits", "regen"].includes(m)) {
      throw new TempoError(`--masks: unknown mask storage '${m}'`, "use bytes, bits or regen");
    }
    return m as MaskStorage;
  });

const parseModels = (v: string): string[] => v.split(",").map((m) => m.trim()).filter(Boolean);

const parseAttentionList = (v: string): AttentionKind[] =>
  v.split(",").map((m) => m.trim()).filter(Boolean).map((m) => parseAttention(m));

/** The `sweep` command (and `sweep merge`). */
export function sweepCommand() {
  return new Command("sweep")
    .description(
      "train a grid of configurations one after another; write runs.csv, runs.jsonl and SVG " +
        "charts (`sweep merge DIR... --out DIR` gathers the shards of a sweep)",
    )
    .argument("[merge]", "merge: gather the run files of the shards' folders into --out")
    .argument("[dirs...]", "with merge: the shards' --out folders")
    .requiredOption(
      "--out <dir>",
      "folder for runs.csv, runs.jsonl, peak_memory.svg, throughput.svg and runs/ (a file per run)",
    )
    .addOption(
      new Option("--models <list>", "comma list of presets").argParser(parseModels)
        .default(["gpt2-tiny"], "gpt2-tiny"),
    )
    .addOption(
      new Option("--tempo <specs...>", TEMPO_LIST_HELP).default(["none", "all"], "none all"),
    )
    .option(
      "--masks <list>",
      "comma list of bytes | bits | regen (default: regen with Tempo, bytes without)",
      parseMasksList,
    )
    .addOption(
      new Option("--attention <list>", "comma list of standard | fused (attention layers)")
        .argParser(parseAttentionList).default(["standard"] as AttentionKind[], "standard"),
    )
    .addOption(
      new Option(
        "--precision <ps...>",
        "precisions to compare: f32 | f16 | bf16, as separate words or a comma list (an axis)",
      ).default([] as string[], "f32"),
    )
    .addOption(fp16Option())
    .addOption(bf16Option())
    .addOption(
      new Option("--batch-sizes <list>", "comma list of batch sizes")
        .argParser(parseIntList("batch-sizes")).default([4, 8, 16], "4,8,16"),
    )
    .addOption(
      new Option("--seq-lens <list>", "comma list of sequence lengths")
        .argParser(parseIntList("seq-lens")).default([64], "64"),
    )
    .option("--steps <n>", "optimizer steps per run", parseIntFlag("steps"), 20)
    .option("--lr <x>", "peak learning rate", parseFloatFlag("lr", 0, 10), 2e-3)
    .option("--warmup <n>", "warmup steps", parseIntFlag("warmup", 0), 2)
    .option("--seed <n>", "seed of every run", parseIntFlag("seed", 0), 1337)
    .option("--data <path>", "as for pretrain; default: embedded Moby Dick")
    .addOption(
      new Option("--format <fmt>", "shard layout of .bin files").choices(
        ["auto", "llmc", "nanogpt"] as const,
      ).default("auto" as const),
    )
    .option(
      "--dropout <p>",
      "dropout probability (default: the preset's)",
      parseFloatFlag("dropout", 0, 0.99),
    )
    .option("--grad-accum <n>", "micro-batches per optimizer step", parseIntFlag("grad-accum"), 1)
    .option("--val-steps <n>", "batches of the final validation", parseIntFlag("val-steps"), 1)
    .option(
      "--memory-limit <size>",
      "skip runs planned above it (over-budget); runs exceeding it while training are oom",
    )
    .addOption(memoryBudgetOption())
    .option(
      "--shard-index <i>",
      "run only grid jobs i, i + n, ... (default: the Slurm array task's index, counted from " +
        "SLURM_ARRAY_TASK_MIN, or Kubernetes' JOB_COMPLETION_INDEX)",
      parseIntFlag("shard-index", 0),
    )
    .option(
      "--shard-count <n>",
      "the number of shards n (default: SLURM_ARRAY_TASK_COUNT, or TEMPO_SHARD_COUNT)",
      parseIntFlag("shard-count"),
    )
    .option("--partial", "with merge: write what the shards have finished, naming what is missing")
    .option("--json", "print the JSONL records to stdout instead of the table")
    .action(async (verb, dirs, o) => {
      if (verb !== undefined && verb !== "merge") {
        throw new TempoError(
          `sweep takes no argument '${verb}'`,
          "did you mean `sweep merge DIR...`?",
        );
      }
      if (verb === "merge") {
        return await merge(dirs, o.out, { partial: !!o.partial, json: !!o.json });
      }
      if (dirs.length > 0) throw new TempoError(`sweep takes no folders (${dirs.join(" ")})`);
      const limit = memoryLimitOf(o);
      const tempos = splitTempoSpecs(o.tempo);
      if (tempos.length === 0) throw new TempoError("--tempo names no configuration");
      const options: SweepOptions = {
        models: o.models,
        tempos,
        masks: o.masks && o.masks.length > 0 ? o.masks : [undefined],
        attentions: o.attention,
        precisions: precisionList(o),
        batchSizes: o.batchSizes,
        seqLens: o.seqLens,
        steps: o.steps,
        lr: o.lr,
        warmup: o.warmup,
        seed: o.seed,
        data: o.data,
        format: o.format,
        dropout: o.dropout,
        gradAccum: o.gradAccum,
        valSteps: o.valSteps,
        memoryLimit: limit,
      };
      const shard = resolveShard({ shardIndex: o.shardIndex, shardCount: o.shardCount });
      const jobs = sweepJobs(options);
      const hash = await gridHash(options, jobs);
      await Deno.mkdir(o.out, { recursive: true });
      // A run finished earlier (here, under the same key) is not trained again; a failed one is.
      const earlier = new Map<string, SweepRecord>();
      for (const { file } of await readRunFiles(o.out)) {
        if (file.record.status !== "failed") earlier.set(file.key, file.record);
      }
      // runs.jsonl grows run by run, so that a sweep cut short keeps what it measured (a
      // shard writes only its run files: its folder may be every shard's).
      const jsonl = `${o.out}/runs.jsonl`;
      if (!shard) await Deno.writeTextFile(jsonl, "");
      if (shard) {
        const mine = jobs.filter((_, i) => inShard(i, shard)).length;
        console.error(
          `shard ${shard.index} of ${shard.count} (${shard.source}): ${mine} of ${jobs.length} runs`,
        );
      }
      const records = await runSweep(options, {
        only: (i) => inShard(i, shard),
        finished: async (job) => earlier.get(await runKey(options, job)) ?? null,
        onRecord: async (r, i, n, job, reused) => {
          console.error(progressLine(r, i, n, reused));
          const key = await runKey(options, job);
          const file = runFile(key, { index: i, total: n, hash }, limit, r);
          await writeRunFile(o.out, runFileName(job, key), file);
          if (!shard) await Deno.writeTextFile(jsonl, toJsonl([r]), { append: true });
        },
      });
      if (!shard) await writeSweep(o.out, records, limit);
      report(records, o.out, !!o.json, shard !== null);
    });
}

/** Print a sweep's (or a shard's) records; fail when a run failed. */
function report(records: SweepRecord[], out: string, json: boolean, shard: boolean): void {
  if (json) { for (const r of records) console.log(JSON.stringify(r)); }
  else {
    console.log(sweepTable(records));
    console.log(pc.dim(
      shard
        ? `wrote ${records.length} run files to ${out}/runs/; when every shard is done: ` +
          `tempo sweep merge DIR... --out DIR`
        : `wrote ${SWEEP_FILES.map((f) => `${out}/${f}`).join(", ")}`,
    ));
  }
  const failed = records.filter((r) => r.status === "failed");
  if (failed.length > 0) {
    throw new TempoError(
      `${failed.length} of ${records.length} runs failed; first: ${failed[0].model} ` +
        `${failed[0].tempo} b${failed[0].batchSize} seq ${failed[0].seqLen}: ${failed[0].error}`,
      `see ${out}/runs/`,
    );
  }
}

/**
 * `tempo sweep merge DIR... --out OUT`: the run files of the shards' folders, in grid order,
 * become OUT's runs.csv, runs.jsonl, charts and runs/ (so OUT is a one-machine sweep's folder).
 */
async function merge(
  dirs: string[],
  out: string,
  o: { partial: boolean; json: boolean },
): Promise<void> {
  if (dirs.length === 0) {
    throw new TempoError(
      "sweep merge needs the shards' folders",
      "e.g. sweep merge s0 s1 --out all",
    );
  }
  const m = await mergeRuns(dirs);
  if (m.missing.length > 0) {
    const shown = m.missing.slice(0, 8).map((i) => i + 1).join(", ");
    const what = `${m.missing.length} of ${m.total} runs have no result file (runs ${shown}${
      m.missing.length > 8 ? ", ..." : ""
    })`;
    if (!o.partial) {
      throw new TempoError(what, "run the shards that hold them, or pass --partial");
    }
    console.error(pc.yellow(`${what}; writing the ${m.records.length} finished (--partial)`));
  }
  await Deno.mkdir(out, { recursive: true });
  const here = new Set((await readRunFiles(out)).map((f) => f.file.key));
  for (const f of m.files) {
    if (here.has(f.key)) continue;
    const r = f.record;
    const job = { model: r.model, tempo: r.tempo, batchSize: r.batchSize, seqLen: r.seqLen };
    await writeRunFile(out, runFileName(job as SweepJob, f.key), f);
  }
  await writeSweep(out, m.records, m.memoryLimitBytes);
  console.error(`merged ${m.records.length} runs of ${dirs.length} folders into ${out}`);
  report(m.records, out, o.json, false);
}
