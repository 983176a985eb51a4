// Dropout by global sample: a layer over a part of a batch (StepContext.sampleOffset) computes
// what the same layer computes for those samples over the whole batch.
import { dropoutOffset } from "../core/step.ts";
import { GPU_TEST, gpuFixture, randn } from "../core/testing.ts";
import { Attention } from "./attention.ts";
import { Dropout } from "./dropout.ts";
import type { MaskStorage } from "./tempo_options.ts";
import { runLayer } from "./testing.ts";

function assertSame(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  if (a.length !== b.length) throw new Error(`${what}: length ${a.length} != ${b.length}`);
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) throw new Error(`${what}: element ${i}: ${a[i]} != ${b[i]}`);
  }
}

// 2 samples of T = 7 positions split 1 + 1, and a second split at an odd part size (3 + 1 of 4).
const T = 7, C = 9, NH = 3, HS = 5;
const MASKS: MaskStorage[] = ["bytes", "bits", "regen"];

Deno.test({
  name: "Dropout and Attention over parts of a batch at their sample offsets equal the whole",
  ...GPU_TEST,
}, async () => {
  const f = await gpuFixture();
  for (const [B, parts] of [[2, [1, 1]], [4, [3, 1]]] as const) {
    for (const masks of MASKS) {
      // Dropout over [B*T, C].
      const x = randn(B * T * C, 1), dy = randn(B * T * C, 2);
      const whole = await runLayer(f, new Dropout("d", [B * T, C], 0.4, 3, masks), [], {}, [{
        data: x,
        shape: [B * T, C],
      }], dy);
      // Attention over qkv [B, T, 3C'] (bidirectional, no padding: samples are independent).
      const Ca = NH * HS;
      const qkv = randn(B * T * 3 * Ca, 3), dout = randn(B * T * Ca, 4);
      const attn = (b: number) =>
        new Attention("a", { B: b, T, NH, HS }, 0.4, 5, false, true, masks);
      const wholeA = await runLayer(
        f,
        attn(B),
        [],
        {},
        [{ data: qkv, shape: [B, T, 3 * Ca] }],
        dout,
      );
      let first = 0;
      for (const b of parts) {
        const at = { sampleOffset: first, samples: b };
        const d = [first * T * C, (first + b) * T * C];
        const part = await runLayer(
          f,
          new Dropout("d", [b * T, C], 0.4, 3, masks),
          [],
          {},
          [{
            data: x.subarray(d[0], d[1]),
            shape: [b * T, C],
          }],
          dy.subarray(d[0], d[1]),
          at,
        );
        const what = `B ${B} part at ${first} ${masks}`;
        assertSame(part.y, whole.y.subarray(d[0], d[1]), `dropout y, ${what}`);
        assertSame(part.dxs[0]!, whole.dxs[0]!.subarray(d[0], d[1]), `dropout dx, ${what}`);
        const q = [first * T * 3 * Ca, (first + b) * T * 3 * Ca],
          o = [first * T * Ca, (first + b) * T * Ca];
        const partA = await runLayer(
          f,
          attn(b),
          [],
          {},
          [{
            data: qkv.subarray(q[0], q[1]),
            shape: [b, T, 3 * Ca],
          }],
          dout.subarray(o[0], o[1]),
          at,
        );
        assertSame(partA.y, wholeA.y.subarray(o[0], o[1]), `attention out, ${what}`);
        assertSame(partA.dxs[0]!, wholeA.dxs[0]!.subarray(q[0], q[1]), `attention dqkv, ${what}`);
        first += b;
      }
    }
  }
});

Deno.test("dropoutOffset: first sample x elements per sample; refused without the batch size", () => {
  const ctx = { enc: null as never, alloc: null as never, training: true, seed: 1, stream: 0 };
  const at = (extra: object, n: number) => dropoutOffset({ ...ctx, lossScale: 1, ...extra }, n);
  if (at({}, 60) !== 0 || at({ sampleOffset: 0, samples: 3 }, 60) !== 0) {
    throw new Error("no offset");
  }
  if (at({ sampleOffset: 6, samples: 3 }, 60) !== 120) throw new Error("6 samples of 20");
  for (const bad of [{ sampleOffset: 2 }, { sampleOffset: 2, samples: 7 }]) {
    let message = "";
    try {
      at(bad, 60);
    } catch (e) {
      message = (e as Error).message;
    }
    if (!message.includes("per sample")) throw new Error(`${JSON.stringify(bad)}: '${message}'`);
  }
});
