import { main } from "./main.ts";

/** Run the CLI, capturing stdout lines and stderr text. */
async function cli(args: string[]) {
  const out: string[] = [], err: string[] = [];
  const log = console.log, error = console.error;
  console.log = (...a: unknown[]) => void out.push(a.join(" "));
  console.error = (...a: unknown[]) => void err.push(a.join(" "));
  try {
    const code = await main(args);
    return { code, out, err: err.join("\n") };
  } finally {
    console.log = log;
    console.error = error;
  }
}

Deno.test("tempo memory --json: peak, categories and bytes per token per layer", async () => {
  const r = await cli([
    "memory",
    "--model",
    "bert-large",
    "--batch-size",
    "2",
    "--seq-len",
    "512",
    "--json",
  ]);
  if (r.code !== 0) throw new Error(r.err);
  const j = JSON.parse(r.out[0]);
  for (const k of ["peakBytes", "bytesByCategory", "activationBytesPerTokenPerLayer"]) {
    if (!(k in j)) throw new Error(`missing ${k}`);
  }
  // All Tempo layers, regenerated masks, LayerNorm rstd included (see bench/memory.ts).
  if (j.activationBytesPerTokenPerLayer !== 74248) {
    throw new Error(`${j.activationBytesPerTokenPerLayer}`);
  }
  const base = await cli([
    "memory",
    "--model",
    "bert-large",
    "--batch-size",
    "2",
    "--seq-len",
    "512",
    "--tempo",
    "none",
    "--json",
  ]);
  if (JSON.parse(base.out[0]).activationBytesPerTokenPerLayer !== 141328) {
    throw new Error(base.out[0]);
  }
});

Deno.test("tempo max-batch --json, and clear errors for bad and impossible budgets", async () => {
  const r = await cli([
    "max-batch",
    "--model",
    "bert-base",
    "--seq-len",
    "128",
    "--memory-budget",
    "4GiB",
    "--json",
  ]);
  if (r.code !== 0) throw new Error(r.err);
  const [none, all] = r.out.map((l) => JSON.parse(l));
  if (!(none.maxBatch >= 1 && all.maxBatch > none.maxBatch)) throw new Error(r.out.join("\n"));
  const bad = await cli(["max-batch", "--memory-budget", "lots"]);
  if (bad.code === 0 || !/is not a size/.test(bad.err)) throw new Error(`bad budget: ${bad.err}`);
  const tiny = await cli(["max-batch", "--memory-budget", "10MiB"]);
  if (tiny.code === 0 || !/does not fit .* even at batch 1/.test(tiny.err)) {
    throw new Error(`impossible: ${tiny.err}`);
  }
  const cfg = await Deno.makeTempFile({ suffix: ".json" });
  await Deno.writeTextFile(cfg, JSON.stringify({ layers: 2, hiden: 3 }));
  const typo = await cli(["memory", "--model", "gpt2", "--config", cfg]);
  if (typo.code === 0 || !/unknown config key 'hiden'/.test(typo.err)) {
    throw new Error(`typo: ${typo.err}`);
  }
  await Deno.remove(cfg);
});
