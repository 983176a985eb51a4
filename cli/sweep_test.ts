import { OutOfMemoryError, TempoError } from "../core/errors.ts";
import { GPU_TEST } from "../core/testing.ts";
import { parseTempo, splitTempoSpecs } from "../layers/tempo_options.ts";
import { resolveConfig } from "../models/config.ts";
import { planModel } from "../models/plan.ts";
import { main } from "./main.ts";
import type { PretrainOptions } from "./pretrain.ts";
import {
  classifyError,
  pretrainOptions,
  runSweep,
  sweepJobs,
  type SweepOptions,
  type SweepRecord,
  toCsv,
} from "./sweep.ts";

function assert(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new Error(msg);
}

const base: SweepOptions = {
  models: ["gpt2-tiny"],
  tempos: ["none", "all"],
  masks: [undefined],
  batchSizes: [2],
  seqLens: [16],
  steps: 2,
  lr: 2e-3,
  warmup: 0,
  seed: 1,
  format: "auto",
  gradAccum: 1,
  valSteps: 1,
};

const readJsonl = async (path: string): Promise<SweepRecord[]> =>
  (await Deno.readTextFile(path)).trim().split("\n").map((l) => JSON.parse(l));

Deno.test("sweepJobs: grid order, ';' specs, duplicate labels run once, bad specs named", () => {
  assert(
    JSON.stringify(splitTempoSpecs(["none;gelu", " all ;", "gelu,layernorm"])) ===
      JSON.stringify(["none", "gelu", "all", "gelu,layernorm"]),
    "split",
  );
  const jobs = sweepJobs({
    ...base,
    tempos: ["none", "all", "gelu,layernorm,attention"],
    masks: [undefined, "bits"],
    batchSizes: [2, 4],
    seqLens: [16, 32],
  });
  const labels = [...new Set(jobs.map((j) => j.tempo))];
  assert(
    JSON.stringify(labels) === JSON.stringify(["none/bytes", "none/bits", "all/regen", "all/bits"]),
    `labels ${labels}`,
  );
  assert(jobs.length === 2 * 4 * 2, `jobs ${jobs.length}`);
  assert(
    jobs[0].seqLen === 16 && jobs[1].batchSize === 4 && jobs[2].tempo === "none/bits",
    "order",
  );
  // The attention axis: fused replaces attention whatever --tempo says, so `all` and
  // `gelu,layernorm` with fused attention are one configuration.
  const fused = sweepJobs({
    ...base,
    tempos: ["all", "gelu,layernorm"],
    attentions: ["standard", "fused"],
  });
  assert(
    JSON.stringify(fused.map((j) => [j.tempo, j.attention])) ===
      JSON.stringify([
        ["all/regen", "standard"],
        ["gelu,layernorm,fused-attention/regen", "fused"],
        ["gelu,layernorm/regen", "standard"],
      ]),
    `fused axis ${JSON.stringify(fused.map((j) => j.tempo))}`,
  );
  // The precision axis: between the attention layer and the batch size; f32 by default.
  const mixed = sweepJobs({
    ...base,
    tempos: ["all"],
    precisions: ["f32", "bf16"],
    batchSizes: [2, 4],
  });
  assert(
    JSON.stringify(mixed.map((j) => [j.precision, j.batchSize])) ===
      JSON.stringify([["f32", 2], ["f32", 4], ["bf16", 2], ["bf16", 4]]),
    `precision axis ${JSON.stringify(mixed.map((j) => [j.precision, j.batchSize]))}`,
  );
  assert(fused.every((j) => j.precision === "f32"), "default precision f32");
  assert(pretrainOptions(base, mixed[2]).precision === "bf16", "the run gets --precision");
  for (const bad of [{ models: ["gpt5"] }, { tempos: ["flash"] }]) {
    let threw = false;
    try {
      sweepJobs({ ...base, ...bad });
    } catch (e) {
      threw = e instanceof TempoError;
    }
    assert(threw, `accepted ${JSON.stringify(bad)}`);
  }
});

Deno.test("classifyError and toCsv", () => {
  assert(classifyError(new OutOfMemoryError("activation", 8, 4, 10)).status === "oom", "oom");
  const oom = new OutOfMemoryError("activation", 8, 4, 10);
  const reworded = new TempoError("--batch-size does not fit in --memory-limit 1 KiB: x", "y", oom);
  assert(classifyError(reworded).status === "oom", "pretrain's oom (its cause)");
  assert(
    classifyError(new TempoError("other", "y")).status === "failed",
    "a TempoError without cause",
  );
  const f = classifyError(new Error("boom\nstack"));
  assert(f.status === "failed" && f.error === "boom", "failed, first line");
  const csv = toCsv([{
    model: "gpt2-tiny",
    tempo: "gelu,layernorm/bits",
    masks: "bits",
    attention: "standard",
    precision: "bf16",
    batchSize: 2,
    seqLen: 16,
    steps: 2,
    status: "failed",
    finalLoss: null,
    valLoss: null,
    msPerStep: null,
    tokensPerSec: null,
    peakBytes: null,
    predictedPeakBytes: 1000,
    error: 'say "no"',
  }]).split("\n");
  assert(
    csv[0].startsWith(
      "model,tempo,masks,attention,precision,batchSize,seqLen,steps,status,finalLoss",
    ),
    csv[0],
  );
  assert(
    csv[1] ===
      `gpt2-tiny,"gelu,layernorm/bits",bits,standard,bf16,2,16,2,failed,,,,,,1000,"say ""no"""`,
    csv[1],
  );
});

Deno.test("runSweep: an over-budget run is recorded with its prediction and not run", async () => {
  const cfg = resolveConfig("gpt2-tiny");
  const shape = { batch: 2, seqLen: 16 };
  const none = planModel(cfg, shape, parseTempo("none")).peakBytes;
  const all = planModel(cfg, shape, parseTempo("all")).peakBytes;
  assert(all < none, `Tempo should plan less: ${all} vs ${none}`);
  const calls: PretrainOptions[] = [];
  const records = await runSweep({ ...base, memoryLimit: Math.floor((all + none) / 2) }, {
    train: (o) => {
      calls.push(o);
      return Promise.resolve({
        finalLoss: 5.5,
        msPerStep: 3,
        tokensPerSec: (2 * 16 * 1000) / 3,
        peakBytes: all,
      });
    },
  });
  assert(calls.length === 1 && calls[0].tempo === "all" && calls[0].quiet, "only 'all' trained");
  assert(calls[0].memoryLimit === String(Math.floor((all + none) / 2)), "the same limit");
  const [over, ok] = records;
  assert(over.status === "over-budget" && over.tempo === "none/bytes", JSON.stringify(over));
  assert(over.predictedPeakBytes === none && over.peakBytes === null, "prediction kept");
  assert(ok.status === "ok" && ok.finalLoss === 5.5 && ok.predictedPeakBytes === all, "ok run");
  assert(ok.tokensPerSec === (2 * 16 * 1000) / 3, `tokens/s from the summary: ${ok.tokensPerSec}`);
});

Deno.test("runSweep: oom and failed runs are recorded, the sweep goes on", async () => {
  let n = 0;
  const records = await runSweep({ ...base, batchSizes: [2, 4], tempos: ["all"] }, {
    train: () => {
      n++;
      if (n === 1) throw new OutOfMemoryError("activation", 100, 50, 120, "x");
      throw new Error("kernel exploded");
    },
  });
  assert(records.map((r) => r.status).join() === "oom,failed", records.map((r) => r.status).join());
  assert(records[1].error === "kernel exploded", String(records[1].error));
});

/** Run the CLI with stdout and stderr captured. */
async function quietMain(args: string[]): Promise<{ code: number; err: string }> {
  const err: string[] = [];
  const log = console.log, error = console.error;
  console.log = () => {};
  console.error = (...a: unknown[]) => void err.push(a.join(" "));
  try {
    return { code: await main(args), err: err.join("\n") };
  } finally {
    console.log = log;
    console.error = error;
  }
}

Deno.test("tempo sweep: over the limit everywhere writes files, trains nothing, exits 0", async () => {
  // One grid, spelled three ways: ';' lists and repeated flags; separate words; and the
  // deprecated --memory-budget, which still works and says so.
  const spellings = [
    ["--tempo", "none;all", "--tempo", "gelu", "--memory-limit", "1KiB"],
    ["--tempo", "none", "all", "gelu", "--memory-limit", "1KiB"],
    ["--tempo", "none", "all;gelu", "--memory-budget", "1KiB"],
  ];
  const grids: string[] = [];
  for (const flags of spellings) {
    const out = await Deno.makeTempDir();
    try {
      const { code, err } = await quietMain([
        "sweep",
        "--out",
        out,
        "--models",
        "gpt2-tiny,bert-tiny",
        "--batch-sizes",
        "2,4",
        "--seq-lens",
        "16",
        ...flags,
        "--json",
      ]);
      assert(code === 0, `exit ${code}: ${err}`);
      const deprecated = flags.includes("--memory-budget");
      assert(/--memory-budget is deprecated; use --memory-limit/.test(err) === deprecated, err);
      const recs = await readJsonl(`${out}/runs.jsonl`);
      assert(recs.length === 2 * 3 * 2, `records ${recs.length}`);
      assert(recs.every((r) => r.status === "over-budget" && r.predictedPeakBytes! > 1024), "over");
      grids.push(recs.map((r) => `${r.model} ${r.tempo} ${r.batchSize}`).join(";"));
      const csv = (await Deno.readTextFile(`${out}/runs.csv`)).trim().split("\n");
      assert(csv.length === 1 + recs.length, `csv rows ${csv.length}`);
      assert((await Deno.readTextFile(`${out}/peak_memory.svg`)).startsWith("<svg"), "peak svg");
      assert((await Deno.readTextFile(`${out}/throughput.svg`)).startsWith("<svg"), "tput svg");
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  }
  assert(grids.every((g) => g === grids[0]), `spellings differ:\n${grids.join("\n")}`);
  const both = await quietMain([
    "sweep",
    "--out",
    "unused",
    "--memory-limit",
    "1KiB",
    "--memory-budget",
    "1KiB",
  ]);
  assert(both.code === 1 && /one flag given twice/.test(both.err), both.err);
});

Deno.test("tempo sweep: a failed run makes the exit code non-zero", async () => {
  const out = await Deno.makeTempDir();
  try {
    // gpt2-tiny has 128 positions: planning the run fails before any GPU work.
    const code = await main(["sweep", "--out", out, "--tempo", "all", "--seq-lens", "256"]);
    assert(code === 1, `exit ${code}`);
    const recs = await readJsonl(`${out}/runs.jsonl`);
    assert(recs.every((r) => r.status === "failed" && /positions/.test(r.error!)), "failed");
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test({
  name: "tempo sweep: a tiny grid on the GPU writes runs.csv, runs.jsonl and two SVG charts",
  ...GPU_TEST,
  fn: async () => {
    const out = await Deno.makeTempDir();
    try {
      const code = await main([
        "sweep",
        "--out",
        out,
        "--models",
        "gpt2-tiny",
        "--tempo",
        "none;all",
        "--batch-sizes",
        "2",
        "--seq-lens",
        "16",
        "--steps",
        "2",
      ]);
      assert(code === 0, `exit ${code}`);
      const recs = await readJsonl(`${out}/runs.jsonl`);
      assert(
        recs.map((r) => `${r.model} ${r.tempo} ${r.batchSize} ${r.seqLen} ${r.status}`).join(
          ";",
        ) ===
          "gpt2-tiny none/bytes 2 16 ok;gpt2-tiny all/regen 2 16 ok",
        JSON.stringify(recs),
      );
      for (const r of recs) {
        assert(Number.isFinite(r.finalLoss) && r.finalLoss! > 0, `loss ${r.finalLoss}`);
        assert(
          r.msPerStep! > 0 &&
            Math.abs(r.tokensPerSec! - 2 * 16 * 1000 / r.msPerStep!) < 1e-6 * r.tokensPerSec!,
          "speed",
        );
        assert(r.peakBytes! > 0 && r.predictedPeakBytes! > 0, "memory");
      }
      assert(recs[1].peakBytes! < recs[0].peakBytes!, "Tempo lowers the measured peak");
      const csv = (await Deno.readTextFile(`${out}/runs.csv`)).trim().split("\n");
      assert(
        csv.length === 3 && csv[1].startsWith("gpt2-tiny,none/bytes,bytes,standard,f32,2,16,2,ok,"),
        csv[1],
      );
      for (const f of ["peak_memory.svg", "throughput.svg"]) {
        const svg = await Deno.readTextFile(`${out}/${f}`);
        assert(svg.startsWith("<svg"), `${f} is not SVG`);
        assert(svg.includes("none/bytes") && svg.includes("all/regen"), `${f} lacks series`);
      }
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});
