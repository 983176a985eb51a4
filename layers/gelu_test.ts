import { geluBackwardRef, geluForwardRef } from "../core/ops/gelu_ref.ts";
import { assertClose, GPU_TEST, gpuFixture, randn } from "../core/testing.ts";
import { Gelu, type GeluForm } from "./gelu.ts";
import type { MaskStorage } from "./tempo_options.ts";
import { assertSavesMatch, finiteDiff, runLayer } from "./testing.ts";

const SHAPE = [7, 37]; // 259 elements: not a multiple of 32 (bit words) or 4 (byte words)
const N = 7 * 37;

Deno.test("GELU reference gradient matches central finite differences (f64)", () => {
  for (const form of ["erf", "tanh"] as GeluForm[]) {
    const x = randn(N, 11, 2), dy = randn(N, 12);
    const fd = finiteDiff((v) => geluForwardRef(v, form), x, dy, 1e-5);
    assertClose(geluBackwardRef(dy, x, form), fd, 1e-8, 1e-6, `${form} ref vs FD`);
  }
});

Deno.test({
  name: "GELU layers: GPU vs reference, Tempo vs baseline, declared memory",
  ...GPU_TEST,
}, async () => {
  const f = await gpuFixture();
  for (const form of ["erf", "tanh"] as GeluForm[]) {
    const x = randn(N, 21, 2), dy = randn(N, 22);
    const yRef = geluForwardRef(x, form), dxRef = geluBackwardRef(dy, x, form);
    const base = new Gelu("gelu", SHAPE, form, false, "bytes");
    const b = await runLayer(f, base, [], {}, [{ data: x, shape: SHAPE }], dy);
    assertClose(b.y, yRef, 1e-6, 1e-5, `${form} baseline y`);
    assertClose(b.dxs[0]!, dxRef, 1e-5, 1e-4, `${form} baseline dx`);
    assertSavesMatch(`${form} baseline`, base.saves(), b);
    if (b.savedBytes !== 4 * N) throw new Error(`baseline keeps its input: ${b.savedBytes}`);
    for (const masks of ["bytes", "bits", "regen"] as MaskStorage[]) {
      const tempo = new Gelu("gelu", SHAPE, form, true, masks);
      const t = await runLayer(f, tempo, [], {}, [{ data: x, shape: SHAPE }], dy);
      // Same GELU function in both kernels; the compiler may round one ulp differently.
      assertClose(t.y, b.y, 1e-6, 1e-6, `${form}/${masks} tempo y vs baseline y`);
      assertClose(t.dxs[0]!, b.dxs[0]!, 1e-4, 1e-4, `${form}/${masks} tempo dx vs baseline`);
      assertSavesMatch(`${form}/${masks} tempo`, tempo.saves(), t);
      const mask = masks === "bytes" ? 4 * Math.ceil(N / 4) : 4 * Math.ceil(N / 32);
      if (t.savedBytes !== 4 * N + mask) throw new Error(`${masks}: saved ${t.savedBytes}`);
    }
  }
});
