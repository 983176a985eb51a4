import assert from "node:assert/strict";
import { join } from "node:path";
import { GPU_TEST, testGpu } from "../core/testing.ts";
import { CausalLoader } from "../datasets/causal_loader.ts";
import { DatasetError } from "../datasets/errors.ts";
import { MlmLoader } from "../datasets/mlm_loader.ts";
import { CAN_LIST_OPEN_FILES, openFilesUnder } from "../datasets/testing.ts";
import { resolveConfig } from "../models/config.ts";
import { openRunData } from "./data.ts";
import { parsePretrainArgs, pretrain } from "./pretrain.ts";
import { runSweep } from "./sweep.ts";

/** An llm.c 20240801 v7 shard (uint32 tokens), written byte by byte. */
function llmcU32(path: string, tokens: number[], magic = 20240801): void {
  const bytes = new Uint8Array(1024 + 4 * tokens.length);
  const view = new DataView(bytes.buffer);
  view.setInt32(0, magic, true);
  view.setInt32(4, 7, true);
  view.setInt32(8, tokens.length, true);
  tokens.forEach((t, i) => view.setUint32(1024 + 4 * i, t, true));
  Deno.writeFileSync(path, bytes);
}

/** Ids valid for every tiny preset (the bytes tokenizer's 260, BERT's 30,522). */
const TOKENS = Array.from({ length: 3000 }, (_, i) => 32 + (i * 7) % 90);

function noneOpen(dir: string): void {
  if (CAN_LIST_OPEN_FILES) assert.deepEqual(openFilesUnder(dir), [], "files left open");
}

const flags = (data: string) => ({ data, format: "auto", batch: 2, seqLen: 16, seed: 1 });

Deno.test("openRunData: the model picks the objective; the header names the layout", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tempo_cli_data_" });
  try {
    const shard = join(dir, "train.bin");
    llmcU32(shard, TOKENS);
    const cases = [
      ["gpt2-tiny", {}, CausalLoader, undefined, undefined],
      ["bert-tiny", {}, MlmLoader, "static", false],
      ["bert-tiny", { nsp: true }, MlmLoader, "static", true],
      ["roberta-tiny", {}, MlmLoader, "dynamic", false],
    ] as const;
    for (const [model, overrides, kind, masking, nsp] of cases) {
      const data = await openRunData(resolveConfig(model, overrides), flags(shard));
      try {
        assert.ok(data.train instanceof kind, model);
        assert.equal(data.val, null);
        const state = data.train.state();
        assert.deepEqual([state.masking, state.nsp], [masking, nsp], model);
        assert.equal(data.description, `${shard}, llm.c uint32 (20240801 v7), 3,000 tokens`);
      } finally {
        data.close();
      }
      noneOpen(dir);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("openRunData: a corrupt magic under --format auto is refused in one line", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tempo_cli_data_" });
  try {
    const ok = join(dir, "a.bin"), bad = join(dir, "b.bin");
    llmcU32(ok, TOKENS);
    llmcU32(bad, TOKENS, 20240801 ^ 0x40);
    const err = await openRunData(resolveConfig("gpt2-tiny"), flags(`${ok},${bad}`)).then(
      () => null,
      (e) => e,
    );
    assert.ok(err instanceof DatasetError);
    assert.match(
      err.message,
      new RegExp(
        `b\\.bin starts with ${20240801 ^ 0x40}, 1 bit\\(s\\) from llm\\.c's magic 20240801`,
      ),
    );
    assert.ok(!err.message.includes("\n"));
    noneOpen(dir); // a.bin was opened before b.bin was refused.
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "tempo pretrain: a refused shard is one error line and exit code 1, no stack trace",
  ...GPU_TEST,
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "tempo_cli_data_" });
  try {
    const bad = join(dir, "bad.bin");
    llmcU32(bad, TOKENS, 12345);
    const main = new URL("./main.ts", import.meta.url).pathname;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", main, "pretrain", "--data", bad, "--steps", "1"],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr).trim();
    assert.equal(out.code, 1, stderr);
    assert.equal(stderr.split("\n").length, 1, stderr);
    assert.match(
      stderr,
      /^error: Shard .*bad\.bin has an llm\.c-like header \(version 7; token count 3,000 .*\) but magic 12345, not llm\.c's 20240520 or 20240801.*--format llmc.*--format nanogpt/,
    );
    assert.equal(new TextDecoder().decode(out.stdout).trim(), "");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "pretrain and sweep close their shard files, after a run and after a failed one",
  ...GPU_TEST,
  ignore: GPU_TEST.ignore || !CAN_LIST_OPEN_FILES,
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "tempo_cli_data_" });
  try {
    const shard = join(dir, "train.bin");
    llmcU32(shard, TOKENS);
    const records = await runSweep({
      models: ["gpt2-tiny"],
      tempos: ["none", "all"],
      masks: [undefined],
      batchSizes: [2],
      seqLens: [16],
      steps: 1,
      lr: 2e-3,
      warmup: 0,
      seed: 1,
      data: shard,
      format: "auto",
      gradAccum: 1,
      valSteps: 1,
    });
    assert.deepEqual(records.map((r) => r.status), ["ok", "ok"], JSON.stringify(records));
    noneOpen(dir);
    // Out of memory while building the model, after the data was opened.
    const args = ["--model", "gpt2-tiny", "--data", shard, "--memory-limit", "1KiB", "--quiet"];
    const err = await pretrain(parsePretrainArgs(args), { gpu: await testGpu(), silent: true })
      .then(() => null, (e) => e);
    assert.match(String(err), /out of memory|memory-limit/);
    noneOpen(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
