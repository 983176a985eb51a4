/**
 * Sampling the next token from logits as nanoGPT's sample.py does (logits / temperature, keep
 * the top k, softmax, draw one), with temperature 0 meaning greedy (the first largest logit),
 * and the generation loop around a `Decoder`. Draws come from Philox4x32 keyed by the seed and
 * counted by the token's index, so a seed gives the same text whatever the decoder does inside
 * (KV cache or not) and however far a run went.
 *
 * The context window: a model sees at most its positions (maxT). When the context would exceed
 * them, it is cut to its last maxT/2 tokens and grows from there; with a KV cache that is one
 * refill every maxT/2 tokens. (nanoGPT keeps the last maxT tokens at every step, which with a
 * cache would mean a refill at every step once the window is full.)
 * @module
 */
import { TempoError } from "../core/errors.ts";
import { philox4x32 } from "../core/ops/rng.ts";
import type { Decoder } from "./inference.ts";

/** How tokens are drawn. */
export interface SamplingOptions {
  /** 0 = greedy; otherwise logits are divided by it (nanoGPT's default 0.8). */
  temperature: number;
  /** Keep the k most likely tokens (ties at the k-th kept too); 0 = all. */
  topK: number;
  /** Seed of the draws. */
  seed: number;
  /** Draw only ids below this (the tokenizer's, when the model's vocabulary is padded). */
  vocab?: number;
}

/** Second Philox key word of sampling draws (the first is the seed). */
const SAMPLE_KEY = 0x5a3b1e77;

/** The uniform draw in [0, 1) for the `index`-th generated token. */
export function drawUniform(seed: number, index: number): number {
  const [w] = philox4x32([index >>> 0, Math.floor(index / 2 ** 32) >>> 0, 0, 0], [
    seed,
    SAMPLE_KEY,
  ]);
  return w / 2 ** 32;
}

/** The token picked from `logits` [V] with the uniform draw `u` (see the module doc). */
export function pickToken(logits: ArrayLike<number>, o: SamplingOptions, u: number): number {
  const V = logits.length;
  if (o.temperature === 0) {
    let best = 0;
    for (let i = 1; i < V; i++) if (logits[i] > logits[best]) best = i;
    return best;
  }
  let threshold = -Infinity;
  if (o.topK > 0 && o.topK < V) threshold = Array.from(logits).sort((a, b) => b - a)[o.topK - 1];
  let mx = -Infinity;
  for (let i = 0; i < V; i++) if (logits[i] >= threshold) mx = Math.max(mx, logits[i]);
  const w = new Float64Array(V);
  let sum = 0;
  for (let i = 0; i < V; i++) {
    if (logits[i] >= threshold) sum += w[i] = Math.exp((logits[i] - mx) / o.temperature);
  }
  let acc = 0;
  const target = u * sum;
  let last = 0;
  for (let i = 0; i < V; i++) {
    if (w[i] === 0) continue;
    acc += w[i];
    last = i;
    if (acc > target) return i;
  }
  return last; // u * sum rounded up to the total
}

/** Check sampling options; a TempoError names a bad one. */
export function checkSampling(o: SamplingOptions): void {
  if (!(o.temperature >= 0 && Number.isFinite(o.temperature))) {
    throw new TempoError(`--temperature must be a number >= 0, got ${o.temperature}`);
  }
  if (!(Number.isInteger(o.topK) && o.topK >= 0)) {
    throw new TempoError(`--top-k must be an integer >= 0, got ${o.topK}`);
  }
}

/**
 * Generate `maxNew` tokens after `prompt`, yielding each as soon as it is picked. `maxT` is the
 * model's positions (the window rule in the module doc).
 */
export async function* generate(
  decoder: Decoder,
  prompt: readonly number[],
  maxNew: number,
  maxT: number,
  o: SamplingOptions,
): AsyncGenerator<number> {
  checkSampling(o);
  if (prompt.length === 0) throw new TempoError("the prompt encodes to no tokens", "give a prompt");
  if (prompt.length > maxT) {
    throw new TempoError(
      `the prompt is ${prompt.length} tokens, more than the model's ${maxT} positions`,
      `shorten the prompt to at most ${maxT} tokens`,
    );
  }
  const tokens = [...prompt];
  const keep = Math.max(1, maxT >> 1);
  let from = 0;
  for (let i = 0; i < maxNew; i++) {
    if (tokens.length - from > maxT) from = tokens.length - keep;
    const logits = await decoder.next(tokens.slice(from));
    const t = pickToken(logits.subarray(0, o.vocab ?? logits.length), o, drawUniform(o.seed, i));
    tokens.push(t);
    yield t;
  }
}
