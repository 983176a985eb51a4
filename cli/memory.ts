/**
 * `tempo memory` and `tempo max-batch`: a training step measured in planning mode (the real step
 * through the real allocator, no GPU).
 * @module
 */
import { Command, Option } from "@commander-js/extra-typings";
import pc from "picocolors";
import { TempoError } from "../core/errors.ts";
import { CATEGORIES } from "../core/tensor.ts";
import type { ByDtype } from "../core/allocator.ts";
import { DTYPES } from "../core/dtype.ts";
import { parsePrecision, type Precision } from "../core/precision.ts";
import { bf16Option, fp16Option, precisionOf, precisionOption } from "./precision_flags.ts";
import {
  ATTENTION_KINDS,
  parseAttention,
  parseTempo,
  splitTempoSpecs,
  tempoLabel,
} from "../layers/tempo_options.ts";
import { resolveConfig } from "../models/config.ts";
import { maxBatch, type ModelPlan, planModel } from "../models/plan.ts";
import { formatBytes, parseBytes, parseIntFlag, readConfigOverrides, table } from "./format.ts";

/** Help of `--tempo` where it takes several configurations (max-batch, sweep). */
export const TEMPO_LIST_HELP =
  "Tempo configurations to compare, each all | none | comma list of gelu,layernorm,attention; " +
  "as separate words, ';'-separated, or repeated";

/** Help of `--attention` where it takes several layers (max-batch). */
export const ATTENTION_LIST_HELP =
  "attention layers to compare: standard (baseline or Tempo, as --tempo says) | fused; as " +
  "separate words or a comma list";

/** The `--attention <kind>` option of one run (memory, selfcheck). */
export function attentionOption() {
  return new Option(
    "--attention <kind>",
    "attention layer: standard (baseline or Tempo, as --tempo says) | fused (keeps no probabilities)",
  ).choices(ATTENTION_KINDS).default("standard");
}

/**
 * The memory limit of `--memory-limit`, or of its deprecated spelling `--memory-budget` (hidden;
 * it still works and says so on stderr). Undefined when neither is given.
 */
export function memoryLimitOf(
  o: { memoryLimit?: string; memoryBudget?: string },
): number | undefined {
  if (o.memoryBudget !== undefined) {
    if (o.memoryLimit !== undefined) {
      throw new TempoError(
        "--memory-budget and --memory-limit are one flag given twice",
        "give --memory-limit only",
      );
    }
    console.error(pc.yellow("note: --memory-budget is deprecated; use --memory-limit"));
    return parseBytes(o.memoryBudget, "--memory-budget");
  }
  return o.memoryLimit !== undefined ? parseBytes(o.memoryLimit, "--memory-limit") : undefined;
}

/** The hidden, deprecated spelling of `--memory-limit`. */
export function memoryBudgetOption() {
  return new Option("--memory-budget <size>", "deprecated spelling of --memory-limit").hideHelp();
}

/**
 * Why activation at the peak differs from the saved activations, in one line (or null when they
 * are equal). The peak is usually reached in backward, where the layers behind it have already
 * released what they kept.
 */
export function peakActivationNote(plan: ModelPlan): string | null {
  const atPeak = plan.peakByCategory.activation, saved = plan.activationBytes;
  if (atPeak === saved) return null;
  const head = `activation at the peak is ${formatBytes(atPeak)}, not ${formatBytes(saved)}:`;
  const [phase, layer] = plan.peakAt.split(":");
  const rest = formatBytes(saved - atPeak);
  if (atPeak < saved && phase === "backward") {
    return `${head} the peak is reached in the backward of ${layer}, when the layers after it ` +
      `have run their backward and released ${rest} of what they kept`;
  }
  if (atPeak < saved && phase === "forward") {
    return `${head} the peak is reached in the forward of ${layer}, before the layers after it ` +
      `keep the last ${rest}`;
  }
  return `${head} the peak is reached at ${plan.peakAt}, outside forward and backward`;
}

/** `f32 1.2 GiB, bf16 800 MiB, bit 3 MiB`: the nonzero dtypes of a per-dtype record. */
export function formatDtypes(b: ByDtype): string {
  const parts = DTYPES.filter((d) => b[d] > 0).map((d) => `${d} ${formatBytes(b[d])}`);
  return parts.length > 0 ? parts.join(", ") : "none";
}

/** The `memory` command. */
export function memoryCommand() {
  return new Command("memory")
    .description(
      "measure a training step's memory by category, its peak, and the saved activations per layer (planning mode, no GPU)",
    )
    .option("--model <name>", "preset", "bert-large")
    .option("--batch-size <n>", "sequences per batch", parseIntFlag("batch-size"), 8)
    .option("--seq-len <n>", "tokens per sequence", parseIntFlag("seq-len", 2), 128)
    .option("--tempo <list>", "all | none | comma list of gelu,layernorm,attention", "all")
    .addOption(
      new Option("--masks <mode>", "bytes | bits | regen").choices(
        ["bytes", "bits", "regen"] as const,
      ),
    )
    .addOption(attentionOption())
    .addOption(precisionOption())
    .addOption(fp16Option())
    .addOption(bf16Option())
    .option("--dropout <p>", "dropout probability (default: the preset's)", Number)
    .option("--config <file>", "JSON object of config overrides")
    .option("--json", "print one JSON object")
    .action(async (o) => {
      const over = await readConfigOverrides(o.config);
      if (o.dropout !== undefined) over.dropout = o.dropout;
      const cfg = resolveConfig(o.model, over);
      const tempo = parseTempo(o.tempo, o.masks, o.attention);
      const precision = precisionOf(o);
      const plan = planModel(cfg, { batch: o.batchSize, seqLen: o.seqLen }, tempo, { precision });
      const record = {
        model: cfg.name,
        batchSize: o.batchSize,
        seqLen: o.seqLen,
        tempo: tempoLabel(tempo),
        attention: tempo.attentionKind,
        precision,
        parameters: plan.parameters,
        peakBytes: plan.peakBytes,
        peakAt: plan.peakAt,
        bytesByCategory: plan.peakByCategory,
        bytesByDtype: plan.peakByDtype,
        activationBytesByDtype: plan.activationByDtype,
        persistentBytes: plan.persistent,
        activationBytes: plan.activationBytes,
        activationBytesPerTokenPerLayer: plan.activationBytesPerTokenPerLayer,
        savedByLayer: plan.savedByLayer,
      };
      if (o.json) {
        console.log(JSON.stringify(record));
        return;
      }
      console.log(
        `${cfg.name}, batch ${o.batchSize} x seq ${o.seqLen}, tempo ${tempoLabel(tempo)}, ` +
          `${precision}: ` +
          `${plan.parameters.toLocaleString("en-US")} parameters`,
      );
      const cats = table(["category", "at peak", "persistent"]);
      for (const c of CATEGORIES) {
        cats.push([c, formatBytes(plan.peakByCategory[c]), formatBytes(plan.persistent[c])]);
      }
      cats.push(["peak", formatBytes(plan.peakBytes), `at ${plan.peakAt}`]);
      console.log(cats.toString());
      console.log(`by dtype at the peak: ${formatDtypes(plan.peakByDtype)}`);
      const layers = table(["layer (block 1 shown; all blocks alike)", "saved", "per token"]);
      const N = o.batchSize * o.seqLen;
      for (const l of plan.savedByLayer) {
        if (
          /^block\d+\./.test(l.name) && !l.name.startsWith(`block${Math.min(1, cfg.layers - 1)}.`)
        ) continue;
        if (l.bytes === 0) continue;
        layers.push([l.name, formatBytes(l.bytes), `${(l.bytes / N).toFixed(0)} B`]);
      }
      console.log(layers.toString());
      console.log(
        `saved activations: ${formatBytes(plan.activationBytes)} when forward ends; ` +
          `${plan.activationBytesPerTokenPerLayer.toFixed(0)} bytes per token per block ` +
          `(${formatDtypes(plan.activationByDtype)})`,
      );
      const note = peakActivationNote(plan);
      if (note) console.log(note);
    });
}

/**
 * The precisions of a command that compares several (max-batch, sweep): `--precision` words or
 * comma lists, and `--fp16` / `--bf16` adding theirs; f32 when none is given. Duplicates are
 * dropped.
 */
export function precisionList(
  o: { precision: readonly string[]; fp16?: boolean; bf16?: boolean },
): Precision[] {
  const words = o.precision.flatMap((v) => v.split(",")).map((v) => v.trim()).filter(Boolean);
  const out = words.map((w) => parsePrecision(w));
  if (o.fp16) out.push("f16");
  if (o.bf16) out.push("bf16");
  return out.length > 0 ? [...new Set(out)] : ["f32"];
}

/** The `max-batch` command. */
export function maxBatchCommand() {
  return new Command("max-batch")
    .description(
      "the largest batch whose training step fits a memory limit, per Tempo configuration (planning mode, no GPU)",
    )
    .option("--memory-limit <size>", "e.g. 11GiB, 16GB, 512MiB (required)")
    .addOption(memoryBudgetOption())
    .option("--model <name>", "preset", "bert-large")
    .option("--seq-len <n>", "tokens per sequence", parseIntFlag("seq-len", 2), 128)
    .addOption(
      new Option("--tempo <specs...>", TEMPO_LIST_HELP).default(["none", "all"], "none all"),
    )
    .addOption(
      new Option("--masks <mode>", "bytes | bits | regen").choices(
        ["bytes", "bits", "regen"] as const,
      ),
    )
    .addOption(
      new Option("--attention <kinds...>", ATTENTION_LIST_HELP).default(["standard"], "standard"),
    )
    .addOption(
      new Option(
        "--precision <ps...>",
        "precisions to compare: f32 | f16 | bf16, as separate words or a comma list",
      ).default([] as string[], "f32"),
    )
    .addOption(fp16Option())
    .addOption(bf16Option())
    .option("--config <json|file>", "config overrides, e.g. '{\"maxPositions\": 4096}'")
    .option("--json", "print one JSON object per configuration")
    .action(async (o) => {
      const limit = memoryLimitOf(o);
      if (limit === undefined) {
        throw new TempoError("max-batch needs --memory-limit", "e.g. --memory-limit 11GiB");
      }
      const cfg = resolveConfig(o.model, await readConfigOverrides(o.config));
      const specs = splitTempoSpecs(o.tempo);
      if (specs.length === 0) throw new TempoError("--tempo names no configuration");
      const kinds = o.attention.flatMap((v) => v.split(",")).map((v) => v.trim()).filter(Boolean)
        .map((v) => parseAttention(v));
      const precisions = precisionList(o);
      const configs = specs.flatMap((spec) =>
        kinds.flatMap((kind) =>
          precisions.map((precision) => ({ tempo: parseTempo(spec, o.masks, kind), precision }))
        )
      );
      const rows = configs.map(({ tempo, precision }) => {
        const b = maxBatch(cfg, o.seqLen, tempo, limit, { precision });
        if (b === 0) {
          throw new TempoError(
            `${cfg.name} at seq ${o.seqLen} does not fit ${
              formatBytes(limit)
            } even at batch 1 (tempo ${tempoLabel(tempo)}, ${precision})`,
            "raise --memory-limit or lower --seq-len",
          );
        }
        const shape = { batch: b, seqLen: o.seqLen };
        const peak = planModel(cfg, shape, tempo, { precision }).peakBytes;
        return {
          model: cfg.name,
          seqLen: o.seqLen,
          tempo: tempoLabel(tempo),
          attention: tempo.attentionKind,
          precision,
          memoryLimitBytes: limit,
          maxBatch: b,
          peakBytes: peak,
        };
      });
      if (o.json) {
        for (const r of rows) console.log(JSON.stringify(r));
        return;
      }
      const t = table(["tempo", "precision", "max batch", "peak at that batch", "vs first"]);
      for (const r of rows) {
        t.push([
          r.tempo,
          r.precision,
          r.maxBatch,
          formatBytes(r.peakBytes),
          `${(r.maxBatch / rows[0].maxBatch).toFixed(2)}x`,
        ]);
      }
      console.log(`${cfg.name}, seq ${o.seqLen}, memory limit ${formatBytes(limit)}`);
      console.log(t.toString());
    });
}
