import { dropoutApplyRef, dropoutMaskRef } from "../core/ops/dropout_ref.ts";
import { assertClose, GPU_TEST, gpuFixture, randn } from "../core/testing.ts";
import { Dropout } from "./dropout.ts";
import type { MaskStorage } from "./tempo_options.ts";
import { assertSavesMatch, finiteDiff, runLayer } from "./testing.ts";

const SHAPE = [7, 37]; // 259 elements: not a multiple of 4 (byte words) or 32 (bit words)
const N = 7 * 37;
const SITE = 5;
// runLayer's context: seed 7, stream 3; the layer's RNG stream is stream * 1024 + site.
const SEED = 7, STREAM = 3 * 1024 + SITE;

Deno.test("Dropout reference gradient matches central finite differences (f64)", () => {
  for (const p of [0.1, 0.5]) {
    const keep = dropoutMaskRef(N, p, SEED, STREAM);
    const x = randn(N, 1), dy = randn(N, 2);
    const fd = finiteDiff((v) => dropoutApplyRef(v, keep, p), x, dy);
    // The reference backward is the same map applied to dy: dx = keep ? dy / (1 - p) : 0.
    assertClose(dropoutApplyRef(dy, keep, p), fd, 1e-8, 1e-7, `p=${p} ref vs FD`);
  }
});

Deno.test({
  name: "Dropout layer: GPU vs reference for every mask storage, declared memory",
  ...GPU_TEST,
}, async () => {
  const f = await gpuFixture();
  const x = randn(N, 3), dy = randn(N, 4);
  for (const p of [0.1, 0.5]) {
    const keep = dropoutMaskRef(N, p, SEED, STREAM);
    let kept = 0;
    for (const k of keep) kept += k;
    if (kept === 0 || kept === N) throw new Error(`p=${p}: degenerate mask (${kept} kept)`);
    const yRef = dropoutApplyRef(x, keep, p), dxRef = dropoutApplyRef(dy, keep, p);
    for (const masks of ["bytes", "bits", "regen"] as MaskStorage[]) {
      const layer = new Dropout("drop", SHAPE, p, SITE, masks);
      const r = await runLayer(f, layer, [], {}, [{ data: x, shape: SHAPE }], dy);
      // One f32 multiply by 1/(1-p) of f32 inputs: within 1 ulp of the f64 reference.
      assertClose(r.y, yRef, 0, 2e-7, `p=${p}/${masks} y`);
      assertClose(r.dxs[0]!, dxRef, 0, 2e-7, `p=${p}/${masks} dx`);
      assertSavesMatch(`p=${p}/${masks}`, layer.saves(), r);
      // u8 mask: 259 bytes -> 65 words = 260 bytes; bit mask: 259 bits -> 9 words = 36 bytes.
      const mask = { bytes: 260, bits: 36, regen: 0 }[masks];
      if (r.savedBytes !== mask) throw new Error(`p=${p}/${masks}: saved ${r.savedBytes}`);
      if (r.forwardPeak !== 4 * N + mask) throw new Error(`forward peak ${r.forwardPeak}`);
      if (r.backwardPeak !== 4 * N) throw new Error(`backward peak ${r.backwardPeak}`);
    }
  }
});

Deno.test(
  { name: "Dropout layer with p = 0 aliases its input and dy, keeps nothing", ...GPU_TEST },
  async () => {
    const f = await gpuFixture();
    const x = randn(N, 5), dy = randn(N, 6);
    const layer = new Dropout("drop", SHAPE, 0, SITE, "bytes");
    const r = await runLayer(f, layer, [], {}, [{ data: x, shape: SHAPE }], dy);
    assertClose(r.y, Float32Array.from(x), 0, 0, "y = x");
    assertClose(r.dxs[0]!, Float32Array.from(dy), 0, 0, "dx = dy");
    assertSavesMatch("p=0", layer.saves(), r);
    if (r.savedBytes !== 0 || r.forwardPeak !== 0 || r.backwardPeak !== 0) {
      throw new Error(
        `p=0 allocates: saved ${r.savedBytes}, peaks ${r.forwardPeak}/${r.backwardPeak}`,
      );
    }
  },
);
