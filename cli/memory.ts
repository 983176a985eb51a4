/**
 * `tempo memory` and `tempo max-batch`: the analytic planner, no GPU.
 * @module
 */
import { Command, Option } from "@commander-js/extra-typings";
import { TempoError } from "../core/errors.ts";
import { CATEGORIES } from "../core/tensor.ts";
import { parseTempo, tempoLabel } from "../layers/tempo_options.ts";
import { resolveConfig } from "../models/config.ts";
import { maxBatch, planModel } from "../models/plan.ts";
import { formatBytes, parseBytes, parseIntFlag, readConfigOverrides, table } from "./format.ts";

/** The `memory` command. */
export function memoryCommand() {
  return new Command("memory")
    .description(
      "predict a training step's memory by category, its peak, and the saved activations per layer (no GPU)",
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
    .option("--dropout <p>", "dropout probability (default: the preset's)", Number)
    .option("--config <file>", "JSON object of config overrides")
    .option("--json", "print one JSON object")
    .action(async (o) => {
      const over = await readConfigOverrides(o.config);
      if (o.dropout !== undefined) over.dropout = o.dropout;
      const cfg = resolveConfig(o.model, over);
      const tempo = parseTempo(o.tempo, o.masks);
      const plan = planModel(cfg, { batch: o.batchSize, seqLen: o.seqLen }, tempo);
      const record = {
        model: cfg.name,
        batchSize: o.batchSize,
        seqLen: o.seqLen,
        tempo: tempoLabel(tempo),
        parameters: plan.parameters,
        peakBytes: plan.peakBytes,
        peakAt: plan.peakAt,
        bytesByCategory: plan.peakByCategory,
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
        `${cfg.name}, batch ${o.batchSize} x seq ${o.seqLen}, tempo ${tempoLabel(tempo)}: ` +
          `${plan.parameters.toLocaleString("en-US")} parameters`,
      );
      const cats = table(["category", "at peak", "persistent"]);
      for (const c of CATEGORIES) {
        cats.push([c, formatBytes(plan.peakByCategory[c]), formatBytes(plan.persistent[c])]);
      }
      cats.push(["peak", formatBytes(plan.peakBytes), `at ${plan.peakAt}`]);
      console.log(cats.toString());
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
        `saved activations: ${formatBytes(plan.activationBytes)}; ` +
          `${plan.activationBytesPerTokenPerLayer.toFixed(0)} bytes per token per block`,
      );
    });
}

/** The `max-batch` command. */
export function maxBatchCommand() {
  return new Command("max-batch")
    .description(
      "the largest batch whose predicted peak fits a memory budget, per Tempo configuration (no GPU)",
    )
    .requiredOption("--memory-budget <size>", "e.g. 11GiB, 16GB, 512MiB")
    .option("--model <name>", "preset", "bert-large")
    .option("--seq-len <n>", "tokens per sequence", parseIntFlag("seq-len", 2), 128)
    .option("--tempo <lists...>", "configurations to compare, each all | none | comma list", [
      "none",
      "all",
    ])
    .addOption(
      new Option("--masks <mode>", "bytes | bits | regen").choices(
        ["bytes", "bits", "regen"] as const,
      ),
    )
    .option("--json", "print one JSON object per configuration")
    .action((o) => {
      const budget = parseBytes(o.memoryBudget, "--memory-budget");
      const cfg = resolveConfig(o.model);
      const rows = o.tempo.map((spec) => {
        const tempo = parseTempo(spec, o.masks);
        const b = maxBatch(cfg, o.seqLen, tempo, budget);
        if (b === 0) {
          throw new TempoError(
            `${cfg.name} at seq ${o.seqLen} does not fit ${
              formatBytes(budget)
            } even at batch 1 (tempo ${tempoLabel(tempo)})`,
            "raise --memory-budget or lower --seq-len",
          );
        }
        const peak = planModel(cfg, { batch: b, seqLen: o.seqLen }, tempo).peakBytes;
        return {
          model: cfg.name,
          seqLen: o.seqLen,
          tempo: tempoLabel(tempo),
          budgetBytes: budget,
          maxBatch: b,
          peakBytes: peak,
        };
      });
      if (o.json) {
        for (const r of rows) console.log(JSON.stringify(r));
        return;
      }
      const t = table(["tempo", "max batch", "peak at that batch", "vs first"]);
      for (const r of rows) {
        t.push([
          r.tempo,
          r.maxBatch,
          formatBytes(r.peakBytes),
          `${(r.maxBatch / rows[0].maxBatch).toFixed(2)}x`,
        ]);
      }
      console.log(`${cfg.name}, seq ${o.seqLen}, budget ${formatBytes(budget)}`);
      console.log(t.toString());
    });
}
