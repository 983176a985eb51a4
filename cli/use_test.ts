/**
 * Using what was trained, end to end on tiny one-block models of each architecture: eval reports
 * pretrain's validation loss to the bit; export then `pretrain --init-from` starts from the same
 * forward (its first validation loss, after a step at lr 0, equals the original's to the bit);
 * sample is deterministic at temperature 0 and the KV cache changes nothing; fill-mask gives
 * probabilities; bad input is one clear line.
 */
import { TempoError } from "../core/errors.ts";
import { GPU_TEST } from "../core/testing.ts";
import { DatasetError } from "../datasets/errors.ts";
import { evaluate } from "./eval.ts";
import { exportCheckpoint } from "./export.ts";
import { fillMask } from "./fill_mask.ts";
import { main } from "./main.ts";
import { inProcess } from "./pretrain_testing.ts";
import { sample } from "./sample.ts";

const SMALL = '{"layers": 1, "hidden": 32, "heads": 2, "ffn": 64}';
const RUN = ["--config", SMALL, "--batch-size", "2", "--seq-len", "16", "--val-steps", "2"];

/** Train `model` for 3 steps into `dir`; returns its final validation loss. */
async function trained(model: string, dir: string): Promise<number> {
  const s = await inProcess(["--model", model, ...RUN, "--steps", "3", "--out", dir]);
  return s.valLoss as number;
}

/** The error `f` throws (a TempoError or DatasetError), or a failure. */
async function refusal(f: () => Promise<unknown>): Promise<string> {
  try {
    await f();
  } catch (e) {
    if (e instanceof TempoError || e instanceof DatasetError) return e.message;
    throw e;
  }
  throw new Error("expected a refusal");
}

const evalOf = (checkpoint: string, batches: number) =>
  evaluate({ checkpoint, batches, json: true });

for (const model of ["gpt2-tiny", "bert-tiny", "roberta-tiny"]) {
  Deno.test({
    name: `${model}: eval equals pretrain's val loss; export + --init-from gives the same loss`,
    ...GPU_TEST,
  }, async () => {
    const dir = await Deno.makeTempDir();
    const val = await trained(model, `${dir}/a`);
    const e = await evalOf(`${dir}/a`, 2);
    if (e.loss !== val) throw new Error(`eval ${e.loss} vs pretrain's val ${val}`);
    if (!(e.accuracy >= 0 && e.accuracy <= 1 && e.tokens > 0)) throw new Error(JSON.stringify(e));
    await exportCheckpoint({ checkpoint: `${dir}/a`, out: `${dir}/hf` });
    // One step at lr 0 leaves the imported weights as they are; its validation is theirs.
    const b = await inProcess([
      "--model",
      model,
      ...RUN,
      "--steps",
      "1",
      "--lr",
      "0",
      "--init-from",
      `${dir}/hf`,
    ]);
    if (b.valLoss !== val) throw new Error(`after --init-from ${b.valLoss}, the original ${val}`);
    await Deno.remove(dir, { recursive: true });
  });
}

Deno.test({
  name: "sample: temperature 0 is deterministic, the KV cache gives the same text; fill-mask",
  ...GPU_TEST,
}, async () => {
  const dir = await Deno.makeTempDir();
  await trained("gpt2-tiny", `${dir}/g`);
  const o = {
    checkpoint: `${dir}/g`,
    prompt: "Call me Ishmael.",
    maxNewTokens: 40,
    temperature: 0,
    topK: 200,
    seed: 1,
    kvCache: true,
  };
  let streamed = "";
  const a = await sample(o, (s) => streamed += s);
  const b = await sample(o, () => {});
  const c = await sample({ ...o, kvCache: false }, () => {});
  if (a.tokens.length !== 40 || a.text !== streamed || !a.text.startsWith(o.prompt)) {
    throw new Error(`sampled ${a.tokens.length} tokens: ${JSON.stringify(a.text)}`);
  }
  if (a.tokens.join() !== b.tokens.join() || a.tokens.join() !== c.tokens.join()) {
    throw new Error(`greedy differs: ${a.tokens} / ${b.tokens} / ${c.tokens} (no cache)`);
  }
  await trained("bert-tiny", `${dir}/b`);
  const masks = await fillMask("the [MASK] of the [MASK] sea", { checkpoint: `${dir}/b`, topK: 3 });
  if (masks.length !== 2 || masks.some((m) => m.length !== 3 || !(m[0].p >= m[1].p))) {
    throw new Error(JSON.stringify(masks));
  }
  // Bad input: one clear line each.
  const refused = async (f: () => Promise<unknown>, re: RegExp) => {
    const msg = await refusal(f);
    if (!re.test(msg)) throw new Error(`expected ${re}, got: ${msg}`);
  };
  await refused(() => sample({ ...o, checkpoint: `${dir}/b` }, () => {}), /sample is for GPT-2/);
  await refused(
    () => fillMask("a [MASK]", { checkpoint: `${dir}/g`, topK: 3 }),
    /fill-mask is for BERT/,
  );
  await refused(() => fillMask("no mask", { checkpoint: `${dir}/b`, topK: 3 }), /has no \[MASK\]/);
  await refused(
    () => sample({ ...o, prompt: "x".repeat(200) }, () => {}),
    /the prompt is 200 tokens, more than the model's 128 positions/,
  );
  await refused(() => evalOf(`${dir}/none`, 1), /--checkpoint .*none/);
  await refused(
    () => exportCheckpoint({ checkpoint: `${dir}/g`, out: `${dir}/b` }),
    /already holds other files/,
  );
  // --init-from a folder of another architecture: its config names the difference and the flags.
  await exportCheckpoint({ checkpoint: `${dir}/b`, out: `${dir}/hfb` });
  await refused(
    () => inProcess(["--model", "gpt2-tiny", ...RUN, "--steps", "1", "--init-from", `${dir}/hfb`]),
    /describes another model than gpt2-tiny: model_type bert[^]*--model bert-tiny --config/,
  );
  // ... and one whose tensors do not match (BERT's weights under GPT-2's config.json).
  await exportCheckpoint({ checkpoint: `${dir}/g`, out: `${dir}/hfg` });
  await Deno.copyFile(`${dir}/hfg/config.json`, `${dir}/hfb/config.json`);
  await refused(
    () => inProcess(["--model", "gpt2-tiny", ...RUN, "--steps", "1", "--init-from", `${dir}/hfb`]),
    /does not match the model: it lacks transformer\.wte\.weight, transformer\.wpe\.weight/,
  );
  await refused(
    () => inProcess(["--model", "gpt2-tiny", "--resume", `${dir}/g`, "--init-from", `${dir}/hfb`]),
    /--init-from starts a new run; --resume continues one/,
  );
  // Through main: one line (and its hint), exit 1, no stack.
  const lines: string[] = [];
  const err = console.error;
  console.error = (...a: unknown[]) => lines.push(a.join(" "));
  let code: number;
  try {
    code = await main(["eval", "--checkpoint", `${dir}/none`]);
  } finally {
    console.error = err;
  }
  const printed = lines.join("\n").split("\n");
  if (
    code !== 1 || printed.length !== 2 ||
    !/^error: cannot open the --checkpoint folder/.test(printed[0])
  ) {
    throw new Error(`exit ${code}: ${printed.join(" | ")}`);
  }
  await Deno.remove(dir, { recursive: true });
});
