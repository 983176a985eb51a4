import { embeddingBackwardRef, embeddingForwardRef } from "../core/ops/embedding_ref.ts";
import type { StepContext } from "../core/step.ts";
import { assertClose, GPU_TEST, gpuFixture, randn } from "../core/testing.ts";
import { uploadBatch } from "./batch_ref.ts";
import { Embeddings } from "./embedding.ts";
import { ParamStore } from "./params.ts";
import { assertSavesMatch, finiteDiff, runLayer } from "./testing.ts";

const B = 3, T = 5, N = B * T, V = 11, MAXT = 7, TYPES = 3, C = 13;
/** Token ids with repeats (3 five times, 7/0/10/9 twice). */
const IDS = [3, 7, 3, 0, 10, 3, 3, 5, 7, 1, 10, 0, 3, 9, 9];
const POSITIONS = Array.from({ length: N }, (_, i) => i % T);
const TYPE_IDS = [0, 0, 1, 1, 1, 0, 0, 0, 2, 2, 0, 1, 0, 1, 0];

/** f64 reference: wte[ids] + wpe[positions] (+ wtt[types]). */
function embedRef(
  wte: ArrayLike<number>,
  wpe: ArrayLike<number>,
  wtt: ArrayLike<number> | null,
): Float64Array {
  const y = embeddingForwardRef(wpe, POSITIONS, C, embeddingForwardRef(wte, IDS, C));
  return wtt ? embeddingForwardRef(wtt, TYPE_IDS, C, y) : y;
}

/** f64 reference of the three table gradients. */
function embedGradRef(dy: ArrayLike<number>) {
  return {
    wte: embeddingBackwardRef(new Float64Array(V * C), dy, IDS, C),
    wpe: embeddingBackwardRef(new Float64Array(MAXT * C), dy, POSITIONS, C),
    wtt: embeddingBackwardRef(new Float64Array(TYPES * C), dy, TYPE_IDS, C),
  };
}

Deno.test("Embeddings reference table gradients match central finite differences (f64)", () => {
  const wte = randn(V * C, 1), wpe = randn(MAXT * C, 2), wtt = randn(TYPES * C, 3);
  const dy = randn(N * C, 4);
  const g = embedGradRef(dy);
  assertClose(g.wte, finiteDiff((v) => embedRef(v, wpe, wtt), wte, dy), 1e-8, 1e-7, "dwte");
  assertClose(g.wpe, finiteDiff((v) => embedRef(wte, v, wtt), wpe, dy), 1e-8, 1e-7, "dwpe");
  assertClose(g.wtt, finiteDiff((v) => embedRef(wte, wpe, v), wtt, dy), 1e-8, 1e-7, "dwtt");
});

for (const types of [TYPES, 0]) {
  Deno.test({
    name: `Embeddings layer (${types ? "with" : "no"} token types): GPU vs reference, ` +
      "repeated ids sum, gradients accumulate, declared memory",
    ...GPU_TEST,
  }, async () => {
    const f = await gpuFixture();
    const store = new ParamStore(f.alloc);
    const { batch, release } = uploadBatch(f, {
      ids: IDS,
      positions: POSITIONS,
      ...(types ? { types: TYPE_IDS } : {}),
    });
    const layer = new Embeddings("emb", store, N, V, MAXT, types, C, 0.02, () => batch);
    const wte = randn(V * C, 5), wpe = randn(MAXT * C, 6), wtt = randn(TYPES * C, 7);
    const values: Record<string, Float64Array> = { "emb.word": wte, "emb.position": wpe };
    if (types) values["emb.token_type"] = wtt;
    const dy = randn(N * C, 8);
    const r = await runLayer(f, layer, store.list, values, [], dy);
    const g = embedGradRef(dy);
    // A sum of two or three f32 rows; gradients sum at most five f32 rows.
    assertClose(r.y, embedRef(wte, wpe, types ? wtt : null), 1e-6, 1e-6, "y");
    assertClose(r.grads["emb.word"], g.wte, 1e-6, 1e-6, "dwte");
    assertClose(r.grads["emb.position"], g.wpe, 1e-6, 1e-6, "dwpe");
    if (types) assertClose(r.grads["emb.token_type"], g.wtt, 1e-6, 1e-6, "dwtt");
    if (r.dxs.length !== 0) throw new Error("the embeddings have no input gradient");
    assertSavesMatch("embeddings", layer.saves(), r);
    // Keeps nothing (ids are batch data); forward allocates the [15,13] output; backward nothing.
    if (r.savedBytes !== 0) throw new Error(`saved ${r.savedBytes}`);
    if (r.forwardPeak !== 4 * 15 * 13) throw new Error(`forward peak ${r.forwardPeak}`);
    if (r.backwardPeak !== 0) throw new Error(`backward peak ${r.backwardPeak}`);

    // A second backward adds into the gradients (micro-batch accumulation).
    const ctx: StepContext = {
      enc: f.enc,
      alloc: f.alloc,
      training: true,
      seed: 7,
      stream: 3,
      lossScale: 1,
    };
    const y = layer.forward(ctx), dyT = f.upload(dy, [N, C]);
    layer.backward(ctx, dyT);
    f.alloc.release(y), f.alloc.release(dyT);
    const twice = (a: Float64Array) => a.map((v) => 2 * v);
    assertClose(await f.readF32(layer.wte.grad), twice(g.wte), 2e-6, 1e-6, "2x dwte");
    assertClose(await f.readF32(layer.wpe.grad), twice(g.wpe), 2e-6, 1e-6, "2x dwpe");
    release();
  });
}
