import { parsePretrainArgs, pretrainCommand } from "./pretrain.ts";

Deno.test("pretrain aliases: HF / nanoGPT spellings parse as tempo's flags and count as given", () => {
  const o = parsePretrainArgs([
    "--learning_rate",
    "3e-3",
    "--max_steps=20",
    "--output_dir",
    "out",
    "--gradient_accumulation_steps",
    "2",
    "--warmup_steps",
    "5",
    "--block_size",
    "32",
    "--eval_interval",
    "4",
    "--per_device_train_batch_size",
    "3",
    "--resume_from_checkpoint",
    "ck",
    "--seq_len",
    "48",
    "--save_total_limit",
    "3",
  ]);
  const want = {
    lr: 3e-3,
    steps: 20,
    out: "out",
    gradAccum: 2,
    warmup: 5,
    seqLen: 48, // the later flag wins, as for any repeated flag
    valEvery: 4,
    batchSize: 3,
    resume: "ck",
    keepLast: 3,
  };
  for (const [k, v] of Object.entries(want)) {
    if ((o as Record<string, unknown>)[k] !== v) {
      throw new Error(`${k}: ${(o as Record<string, unknown>)[k]}`);
    }
  }
  for (const k of ["lr", "steps", "out", "seqLen"]) {
    if (!o.given?.includes(k)) throw new Error(`${k} not marked given: ${o.given}`);
  }
  if (o.given?.includes("seed")) throw new Error("a default counted as given");
  // Values are not rewritten, and neither is anything after --.
  if (parsePretrainArgs(["--data", "my_data.bin"]).data !== "my_data.bin") throw new Error("value");
});

Deno.test("pretrain aliases: --help lists them", () => {
  let text = "";
  const cmd = pretrainCommand().exitOverride().configureOutput({ writeOut: (s) => text += s });
  try {
    cmd.parse(["--help"], { from: "user" });
  } catch {
    // commander's exit after help
  }
  for (
    const s of ["--learning_rate", "--max_steps", "--output_dir", "--block_size", "--keep-last"]
  ) {
    if (!text.includes(s)) throw new Error(`help lacks ${s}`);
  }
});
