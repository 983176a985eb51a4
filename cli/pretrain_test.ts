import { TempoError } from "../core/errors.ts";
import { GPU_TEST } from "../core/testing.ts";
import { writeShard } from "../datasets/shard.ts";
import { encodeShardHeader } from "../datasets/shard_format.ts";
import { main } from "./main.ts";
import { parsePretrainArgs } from "./pretrain.ts";
import { tinyInProcess, tinyInProcessError } from "./pretrain_testing.ts";

const run = tinyInProcess;

/** Every logged number of a JSONL file by step: `loss` and `val` maps (later records win). */
async function curves(
  jsonl: string,
): Promise<{ loss: Map<number, number>; val: Map<number, number> }> {
  const loss = new Map<number, number>(), val = new Map<number, number>();
  for (const line of (await Deno.readTextFile(jsonl)).trim().split("\n")) {
    const r = JSON.parse(line);
    if (r.summary || r.resumed) continue;
    if (typeof r.loss === "number") loss.set(r.step, r.loss);
    if (typeof r.valLoss === "number") val.set(r.step, r.valLoss);
  }
  return { loss, val };
}

const expectError = tinyInProcessError;

Deno.test({
  name: "pretrain: resume from a checkpoint continues exactly like an uninterrupted run",
  ...GPU_TEST,
}, async () => {
  const dir = await Deno.makeTempDir();
  const common = ["--steps", "8", "--seed", "5", "--dropout", "0.1", "--val-every", "2"];
  await run([...common, "--json", `${dir}/full.jsonl`]);
  await run([...common, "--out", `${dir}/ckpt`, "--stop-after", "3", "--json", `${dir}/a.jsonl`]);
  const state = JSON.parse(await Deno.readTextFile(`${dir}/ckpt/step-000003/state.json`));
  if (state.step !== 3 || !state.val) throw new Error(`checkpoint ${JSON.stringify(state)}`);
  // Flags left out (steps, seed, dropout, val-every) are the checkpoint's.
  await run(["--resume", `${dir}/ckpt`, "--json", `${dir}/b.jsonl`]);
  const full = await curves(`${dir}/full.jsonl`);
  const a = await curves(`${dir}/a.jsonl`), b = await curves(`${dir}/b.jsonl`);
  for (let s = 1; s <= 8; s++) {
    const got = s <= 3 ? a.loss.get(s) : b.loss.get(s);
    if (got === undefined || full.loss.get(s) !== got) {
      throw new Error(`step ${s}: resumed ${got} vs uninterrupted ${full.loss.get(s)}`);
    }
  }
  if ([...full.val.keys()].join() !== "2,4,6,8") throw new Error(`evals ${[...full.val.keys()]}`);
  for (const [s, v] of full.val) {
    const got = s <= 3 ? a.val.get(s) : b.val.get(s);
    if (got !== v) throw new Error(`val loss at step ${s}: resumed ${got} vs uninterrupted ${v}`);
  }
  if (a.val.has(3)) throw new Error("the early stop evaluated (it would shift the val stream)");
  const summary = JSON.parse(
    (await Deno.readTextFile(`${dir}/full.jsonl`)).trim().split("\n").at(-1)!,
  );
  for (const k of ["summary", "finalLoss", "tokensPerSec", "peakBytes", "firstStepMs"]) {
    if (!(k in summary)) throw new Error(`summary lacks ${k}`);
  }
  if (summary.interrupted !== false) throw new Error("an uninterrupted run marked interrupted");
  await Deno.remove(dir, { recursive: true });
});

Deno.test({ name: "pretrain: bad data gives clear errors", ...GPU_TEST }, async () => {
  const dir = await Deno.makeTempDir();
  await expectError(["--data", `${dir}/nope.bin`], /no such file or folder/);
  // Truncated: the header promises more tokens than the file holds.
  const truncated = new Uint8Array(1024 + 10);
  truncated.set(encodeShardHeader(1, 100));
  await Deno.writeFile(`${dir}/truncated.bin`, truncated);
  await expectError(
    ["--data", `${dir}/truncated.bin`, "--format", "llmc"],
    /truncated|too short|expected/i,
  );
  const wrong = new Uint8Array(2048);
  new DataView(wrong.buffer).setInt32(0, 12345, true);
  await Deno.writeFile(`${dir}/wrong.bin`, wrong);
  await expectError(["--data", `${dir}/wrong.bin`, "--format", "llmc"], /magic/i);
  writeShard(`${dir}/big_ids.bin`, Array.from({ length: 500 }, (_, i) => i % 300), {
    vocabSize: 65536,
  });
  await expectError(["--data", `${dir}/big_ids.bin`], /300|vocab/i);
  await Deno.writeFile(`${dir}/empty.bin`, encodeShardHeader(1, 0));
  await expectError(["--data", `${dir}/empty.bin`], /empty|no tokens|too short|0 tokens/i);
  await Deno.remove(dir, { recursive: true });
});

Deno.test({ name: "pretrain: bad flags and limits give clear errors", ...GPU_TEST }, async () => {
  await expectError(["--seq-len", "256"], /exceeds gpt2-tiny's 128 positions/);
  await expectError(
    ["--batch-size", "64", "--memory-limit", "4MiB"],
    /largest batch that fits is --batch-size \d+/,
  );
  await expectError(
    ["--batch-size", "1", "--memory-limit", "100KiB"],
    /even --batch-size 1 does not fit/,
  );
  await expectError(["--tempo", "gelu,softmax"], /unknown Tempo layer 'softmax'/);
  await expectError(["--resume", "/nonexistent/ckpt"], /--resume folder .*no such file/);
  await expectError(["--memory-limit", "lots"], /is not a size/);
  let threw = false;
  try {
    parsePretrainArgs(["--batch-size", "0"]);
  } catch (e) {
    threw = e instanceof TempoError && /--batch-size must be an integer >= 1/.test(e.message);
  }
  if (!threw) throw new Error("--batch-size 0 accepted");
  const err = console.error;
  console.error = () => {};
  try {
    if (await main(["pretrain", "--masks", "nibbles"]) === 0) throw new Error("bad --masks exit 0");
    if (await main(["pretrain", "--lr", "abc"]) === 0) throw new Error("bad --lr exit 0");
  } finally {
    console.error = err;
  }
});
