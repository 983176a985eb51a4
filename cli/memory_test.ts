import { formatBytes } from "./format.ts";
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

Deno.test("tempo memory says why activation at the peak differs from the saved activations", async () => {
  const r = await cli(["memory", "--model", "bert-large", "--batch-size", "8", "--seq-len", "512"]);
  if (r.code !== 0) throw new Error(r.err);
  const j = JSON.parse(
    (await cli([
      "memory",
      "--model",
      "bert-large",
      "--batch-size",
      "8",
      "--seq-len",
      "512",
      "--json",
    ]))
      .out[0],
  );
  const atPeak = j.bytesByCategory.activation, saved = j.activationBytes;
  if (!(atPeak < saved && j.peakAt.startsWith("backward:"))) throw new Error(JSON.stringify(j));
  const text = r.out.join("\n");
  const want = `activation at the peak is ${formatBytes(atPeak)}, not ${formatBytes(saved)}: ` +
    `the peak is reached in the backward of ${j.peakAt.slice(9)}, when the layers after it have ` +
    `run their backward and released ${formatBytes(saved - atPeak)} of what they kept`;
  if (!text.includes(want)) throw new Error(text);
  if (!text.includes(`saved activations: ${formatBytes(saved)} when forward ends`)) {
    throw new Error(text);
  }
});

Deno.test("tempo max-batch --json, and clear errors for bad and impossible limits", async () => {
  const args = ["max-batch", "--model", "bert-base", "--seq-len", "128", "--json"];
  const r = await cli([...args, "--memory-limit", "4GiB"]);
  if (r.code !== 0) throw new Error(r.err);
  const [none, all] = r.out.map((l) => JSON.parse(l));
  if (!(none.maxBatch >= 1 && all.maxBatch > none.maxBatch)) throw new Error(r.out.join("\n"));
  if (none.memoryLimitBytes !== 4 * 1024 ** 3 || none.tempo !== "none/bytes") {
    throw new Error(r.out[0]);
  }
  // The same lists, spelled as sweep spells them; and the deprecated --memory-budget.
  for (const tempo of [["none", "all"], ["none;all"], ["none", "--tempo", "all"]]) {
    for (const flag of ["--memory-limit", "--memory-budget"]) {
      const s = await cli([...args, "--tempo", ...tempo, flag, "4GiB"]);
      if (s.code !== 0 || s.out.join("\n") !== r.out.join("\n")) {
        throw new Error(`--tempo ${tempo.join(" ")} ${flag}: ${s.out.join("\n")} ${s.err}`);
      }
      if (/deprecated; use --memory-limit/.test(s.err) !== (flag === "--memory-budget")) {
        throw new Error(`${flag}: ${s.err}`);
      }
    }
  }
  const missing = await cli(["max-batch"]);
  if (missing.code === 0 || !/needs --memory-limit/.test(missing.err)) {
    throw new Error(`missing: ${missing.err}`);
  }
  const bad = await cli(["max-batch", "--memory-limit", "lots"]);
  if (bad.code === 0 || !/is not a size/.test(bad.err)) throw new Error(`bad limit: ${bad.err}`);
  const tiny = await cli(["max-batch", "--memory-limit", "10MiB"]);
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
  const near = await cli(["memory", "--model", "gpt2tiny"]);
  if (
    near.code === 0 || !/unknown model 'gpt2tiny'.*\n.*did you mean 'gpt2-tiny'\?/.test(near.err)
  ) {
    throw new Error(`near name: ${near.err}`);
  }
});
