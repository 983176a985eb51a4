/**
 * `tempo sample`: text from a GPT-2 checkpoint, as nanoGPT's sample.py (temperature, top-k, seed;
 * temperature 0 is greedy), streamed to stdout as tokens come, decoded safely across token
 * boundaries. Decoding keeps a KV cache (each new token costs one position); `--no-kv-cache`
 * recomputes the whole context every token, which gives the same tokens.
 * @module
 */
import { Command } from "@commander-js/extra-typings";
import pc from "picocolors";
import { Allocator } from "../core/allocator.ts";
import { Encoder } from "../core/encoder.ts";
import { loadWeights } from "../core/train/weights.ts";
import { TempoError } from "../core/errors.ts";
import { StreamDecoder } from "../datasets/stream_decoder.ts";
import { tokenizerByName } from "../datasets/tokenizer_by_name.ts";
import { archOf } from "../models/arch.ts";
import { Decoder, InferenceModel } from "../models/inference.ts";
import { checkSampling, generate } from "../models/sampling.ts";
import { parseFloatFlag, parseIntFlag } from "./format.ts";
import { openTrained, WEIGHTS_HINT, withGpu } from "./trained.ts";

/** The `sample` command. */
export function sampleCommand() {
  return new Command("sample")
    .description("generate text from a GPT-2 checkpoint (KV cache, streamed)")
    .requiredOption(
      "--checkpoint <dir>",
      "a run folder (its newest checkpoint) or one step-NNNNNN folder",
    )
    .option("--prompt <text>", "text to continue", "\n")
    .option("--max-new-tokens <n>", "tokens to generate", parseIntFlag("max-new-tokens"), 500)
    .option(
      "--temperature <t>",
      "divide logits by t (0 = greedy, deterministic)",
      parseFloatFlag("temperature", 0, 100),
      0.8,
    )
    .option(
      "--top-k <k>",
      "sample among the k most likely tokens (0 = all)",
      parseIntFlag("top-k", 0),
      200,
    )
    .option("--seed <n>", "seed of the draws", parseIntFlag("seed", 0), 1337)
    .option("--no-kv-cache", "recompute the whole context for every token (slower, same tokens)")
    .action(async (o) => {
      const write = (text: string) => {
        const bytes = new TextEncoder().encode(text);
        for (let at = 0; at < bytes.length;) at += Deno.stdout.writeSync(bytes.subarray(at));
      };
      const r = await sample(o, write);
      if (!r.text.endsWith("\n")) write("\n");
      const s = r.ms / 1000;
      console.error(pc.dim(
        `-- ${r.tokens.length} tokens in ${s.toFixed(1)} s (${(r.tokens.length / s).toFixed(0)} ` +
          `tokens/s, ${o.kvCache ? "KV cache" : "no KV cache"}, temperature ${o.temperature}, ` +
          `top-k ${o.topK}, seed ${o.seed})`,
      ));
    });
}

/** Options of `sample` (the parsed flags). */
export type SampleOptions = ReturnType<ReturnType<typeof sampleCommand>["opts"]>;

/** What a sampling run did. */
export interface SampleSummary {
  /** The prompt's ids and the generated ones. */
  prompt: number[];
  /** The generated ids. */
  tokens: number[];
  /** The text written (prompt, then the generated text). */
  text: string;
  /** Milliseconds of generation (after the prompt was encoded). */
  ms: number;
}

/** Sample from a checkpoint, writing text through `write` as it comes. */
export async function sample(
  o: SampleOptions,
  write: (text: string) => void,
): Promise<SampleSummary> {
  checkSampling({ temperature: o.temperature, topK: o.topK, seed: o.seed });
  const t = await openTrained(o.checkpoint);
  if (archOf(t.cfg).objective !== "lm") {
    throw new TempoError(
      `sample is for GPT-2 models; ${t.cfg.name} is ${t.cfg.arch}, a masked LM`,
      "use `tempo fill-mask` for BERT and RoBERTa models",
    );
  }
  const tokenizer = tokenizerByName(t.cfg.tokenizer);
  const options = {
    temperature: o.temperature,
    topK: o.topK,
    seed: o.seed,
    vocab: Math.min(tokenizer.vocabSize, t.cfg.vocabSize),
  };
  const prompt = tokenizer.encode(o.prompt);
  return await withGpu(async (gpu) => {
    const model = new InferenceModel(
      t.cfg,
      new Allocator({ device: gpu.device }),
      new Encoder(gpu),
      {
        kvCache: o.kvCache,
      },
    );
    const decoder = new Decoder(model);
    loadWeights(model.enc, model.params.list, t.weights, t.ref.dir, WEIGHTS_HINT);
    const stream = new StreamDecoder(tokenizer);
    let text = "";
    const out = (s: string) => {
      if (!s) return;
      text += s;
      write(s);
    };
    for (const id of prompt) out(stream.push(id));
    const tokens: number[] = [];
    const t0 = performance.now();
    for await (const id of generate(decoder, prompt, o.maxNewTokens, t.cfg.maxPositions, options)) {
      tokens.push(id);
      out(stream.push(id));
    }
    out(stream.flush());
    const ms = performance.now() - t0;
    model.dispose();
    return { prompt, tokens, text, ms };
  });
}
