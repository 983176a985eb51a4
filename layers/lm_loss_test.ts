import { crossEntropyRef, meanLossRef } from "../core/ops/cross_entropy_ref.ts";
import { assertClose, GPU_TEST, gpuFixture, randn } from "../core/testing.ts";
import { uploadBatch } from "./batch_ref.ts";
import { LMLoss, logitsChunkRows } from "./lm_loss.ts";
import { ParamStore } from "./params.ts";
import { assertSavesMatch, finiteDiff, runLayer } from "./testing.ts";

/** Reference loss and gradients of the tied LM head (f64). */
interface LMLossRef {
  /** Mean loss over targets >= 0, and their count. */
  loss: [number, number];
  /** d(mean loss)/dh [R,C]. */
  dh: Float64Array;
  /** d(mean loss)/dW [V,C]. */
  dw: Float64Array;
  /** d(mean loss)/db [V]. */
  db: Float64Array;
}

/** logits = h W^T + b; mean cross-entropy over targets >= 0; gradients of that mean. */
function lmLossRef(
  h: ArrayLike<number>,
  w: ArrayLike<number>,
  b: ArrayLike<number> | null,
  targets: ArrayLike<number>,
  R: number,
  V: number,
  C: number,
): LMLossRef {
  const logits = new Float64Array(R * V);
  for (let r = 0; r < R; r++) {
    for (let v = 0; v < V; v++) {
      let s = b ? b[v] : 0;
      for (let c = 0; c < C; c++) s += h[r * C + c] * w[v * C + c];
      logits[r * V + v] = s;
    }
  }
  let count = 0;
  for (let r = 0; r < R; r++) if (targets[r] >= 0) count++;
  const { losses, grad } = crossEntropyRef(logits, targets, V, count > 0 ? 1 / count : 0);
  const dh = new Float64Array(R * C), dw = new Float64Array(V * C), db = new Float64Array(V);
  for (let r = 0; r < R; r++) {
    for (let v = 0; v < V; v++) {
      const g = grad[r * V + v];
      if (g === 0) continue;
      db[v] += g;
      for (let c = 0; c < C; c++) {
        dh[r * C + c] += g * w[v * C + c];
        dw[v * C + c] += g * h[r * C + c];
      }
    }
  }
  return { loss: meanLossRef(losses, targets), dh, dw, db };
}

const R = 13, V = 29, C = 11;
/** Four ignored rows (-1), one of them the last. */
const TARGETS = [3, -1, 28, 0, 7, 7, -1, 15, 22, 1, -1, 9, -1];

Deno.test("LMLoss reference gradients (dh, dW, db) match central finite differences (f64)", () => {
  const h = randn(R * C, 1), w = randn(V * C, 2, 0.5), b = randn(V, 3);
  const ref = lmLossRef(h, w, b, TARGETS, R, V, C);
  const loss = (hh: ArrayLike<number>, ww: ArrayLike<number>, bb: ArrayLike<number>) => [
    lmLossRef(hh, ww, bb, TARGETS, R, V, C).loss[0],
  ];
  assertClose(ref.dh, finiteDiff((v) => loss(v, w, b), h, [1]), 1e-9, 1e-6, "dh");
  assertClose(ref.dw, finiteDiff((v) => loss(h, v, b), w, [1]), 1e-9, 1e-6, "dW");
  assertClose(ref.db, finiteDiff((v) => loss(h, w, v), b, [1]), 1e-9, 1e-6, "db");
  // Ignored rows get no gradient.
  for (let r = 0; r < R; r++) {
    if (TARGETS[r] < 0 && ref.dh.subarray(r * C, (r + 1) * C).some((x) => x !== 0)) {
      throw new Error(`ignored row ${r} has a gradient`);
    }
  }
});

/**
 * Runs the layer on the GPU and compares the loss, dh (backward's return) and the weight/bias
 * gradients with the reference; checks the memory declaration and the exact saved bytes.
 */
async function checkLMLoss(
  rows: number,
  vocab: number,
  channels: number,
  withBias: boolean,
  targets: ArrayLike<number>,
  tol: { loss: number; grad: number },
) {
  const f = await gpuFixture();
  const store = new ParamStore(f.alloc);
  const wte = store.create("wte", [vocab, channels], { kind: "normal", std: 0.5 }, true);
  const lossOut = f.alloc.alloc([2], "f32", "workspace", "loss");
  const { batch, release } = uploadBatch(f, { targets });
  const layer = new LMLoss("head", store, rows, channels, wte, withBias, lossOut, () => batch);
  const h = randn(rows * channels, 4), w = randn(vocab * channels, 5, 0.5), b = randn(vocab, 6);
  const values: Record<string, Float64Array> = { wte: w };
  if (withBias) values["head.bias"] = b;
  const hIn = { data: h, shape: [rows, channels] };
  const r = await runLayer(f, layer, store.list, values, [hIn], [0, 0]);
  const ref = lmLossRef(h, w, withBias ? b : null, targets, rows, vocab, channels);
  const what = `R=${rows} V=${vocab} C=${channels} bias=${withBias}`;
  assertClose(r.y, ref.loss, tol.loss, tol.loss, `${what}: [mean loss, count]`);
  assertClose(r.dxs[0]!, ref.dh, tol.grad, tol.grad, `${what}: dh`);
  assertClose(r.grads.wte, ref.dw, tol.grad, tol.grad, `${what}: dW`);
  if (withBias) assertClose(r.grads["head.bias"], ref.db, tol.grad, tol.grad, `${what}: db`);
  assertSavesMatch(what, layer.saves(), r);
  // Keeps only dh [R,C] f32 (written in forward, handed back by backward).
  if (r.savedBytes !== 4 * rows * channels) throw new Error(`${what}: saved ${r.savedBytes}`);
  if (r.backwardPeak !== 0) throw new Error(`${what}: backward allocates ${r.backwardPeak}`);
  release();
  f.alloc.release(lossOut);
}

for (const withBias of [true, false]) {
  Deno.test({
    name: `LMLoss (${withBias ? "MLM, with bias" : "LM, no bias"}): GPU vs reference with ` +
      "ignored targets, declared memory",
    ...GPU_TEST,
  }, async () => {
    if (logitsChunkRows(R, V) !== R) throw new Error("the small case must be one chunk");
    await checkLMLoss(R, V, C, withBias, TARGETS, { loss: 2e-6, grad: 2e-7 });
  });
}

Deno.test({
  name: "LMLoss chunked over rows (R > logitsChunkRows): GPU vs reference",
  ...GPU_TEST,
}, async () => {
  // 32 MiB of logits per chunk: V = 8191 gives 1024-row chunks; R = 1089 makes two (1024 + 65).
  const rows = 1089, vocab = 8191, channels = 3;
  if (logitsChunkRows(rows, vocab) !== 1024) throw new Error("expected 1024-row chunks");
  const targets = randn(rows, 7).map((x, i) =>
    i % 5 === 2 ? -1 : Math.floor(Math.abs(x) * 2741) % vocab
  );
  targets[rows - 1] = -1; // an ignored row in the short last chunk, and the last row
  await checkLMLoss(rows, vocab, channels, true, targets, { loss: 1e-5, grad: 1e-7 });
});

Deno.test({
  name: "LMLoss with every target ignored: loss 0, count 0, zero gradients",
  ...GPU_TEST,
}, async () => {
  await checkLMLoss(R, V, C, true, new Array(R).fill(-1), { loss: 0, grad: 0 });
});
