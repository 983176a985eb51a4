import { bytesOf } from "../dtype.ts";
import { roundTo } from "../half.ts";
import { assertClose, GPU_TEST, gpuFixture, randn } from "../testing.ts";
import { dropoutBackward, dropoutForward, type MaskDtype } from "./dropout.ts";
import { dropoutApplyRef, dropoutMaskRef, packMaskRef, unpackMaskRef } from "./dropout_ref.ts";
import { assertRefuses, halfDtypes, uploadAs } from "./half_testing.ts";

function assertBitsEqual(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  const fa = new Uint32Array(Float32Array.from(a).buffer),
    fb = new Uint32Array(Float32Array.from(b).buffer);
  if (fa.length !== fb.length) throw new Error(`${what}: length ${fa.length} != ${fb.length}`);
  for (let i = 0; i < fa.length; i++) {
    if (fa[i] !== fb[i]) throw new Error(`${what}: element ${i}: ${a[i]} != ${b[i]}`);
  }
}

function assertWordsEqual(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  n: number,
  what: string,
): void {
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) {
      throw new Error(`${what}: word ${i}: ${a[i].toString(16)} != ${b[i].toString(16)}`);
    }
  }
}

const N = 5001; // odd: the last mask word is partial for both packings
// Tolerance: the GPU computes f32(x) * f32(1 / (1 - p)), within 2 ulp of x / (1 - p).
const RTOL = 2.5e-7;

Deno.test(
  { name: "dropout forward matches the reference; masks u8 and bit agree", ...GPU_TEST },
  async () => {
    const f = await gpuFixture();
    const x = randn(N, 1);
    const tx = f.upload(x, [N]), y = f.alloc.alloc([N], "f32", "workspace", "y");
    for (const [p, seed, stream] of [[0.1, 42, 7], [0.5, 0xfeedbeef, 123456], [0, 3, 3]]) {
      const keep = dropoutMaskRef(N, p, seed, stream);
      const decoded: Uint8Array[] = [];
      for (const dt of ["u8", "bit"] as MaskDtype[]) {
        const mask = f.alloc.alloc([N], dt, "workspace", "mask");
        dropoutForward(f.enc, { y, x: tx, n: N, p, seed, stream, mask, maskDtype: dt });
        assertClose(await f.readF32(y), dropoutApplyRef(x, keep, p), 0, RTOL, `y p=${p} ${dt}`);
        const words = await f.readU32(mask);
        const want = packMaskRef(keep, dt);
        assertWordsEqual(words, want, want.length, `mask p=${p} ${dt}`);
        decoded.push(unpackMaskRef(words, N, dt));
      }
      assertWordsEqual(decoded[0], decoded[1], N, `u8 vs bit decode p=${p}`);
      if (p === 0 && decoded[0].some((k) => k !== 1)) throw new Error("p = 0 must keep all");
    }
    // Without a mask, and in place.
    dropoutForward(f.enc, { y, x: tx, n: N, p: 0.3, seed: 5, stream: 6 });
    const want = dropoutApplyRef(x, dropoutMaskRef(N, 0.3, 5, 6), 0.3);
    assertClose(await f.readF32(y), want, 0, RTOL, "no mask");
    const inPlace = f.upload(x, [N]);
    dropoutForward(f.enc, { y: inPlace, x: inPlace, n: N, p: 0.3, seed: 5, stream: 6 });
    assertBitsEqual(await f.readF32(inPlace), await f.readF32(y), "in place == out of place");
  },
);

Deno.test({
  name: "dropout masks: reproducible per (seed, stream), keep rate in bounds",
  ...GPU_TEST,
}, async () => {
  const f = await gpuFixture();
  const n = 100003;
  const tx = f.upload(new Float64Array(n).fill(1), [n]),
    y = f.alloc.alloc([n], "f32", "workspace", "y");
  const mask = f.alloc.alloc([n], "bit", "workspace", "mask");
  const run = async (p: number, seed: number, stream: number) => {
    dropoutForward(f.enc, { y, x: tx, n, p, seed, stream, mask, maskDtype: "bit" });
    return unpackMaskRef(await f.readU32(mask), n, "bit");
  };
  for (const p of [0.1, 0.5]) {
    const a = await run(p, 1234, 9), b = await run(p, 1234, 9), c = await run(p, 1234, 10);
    assertWordsEqual(a, b, n, `same (seed, stream) p=${p}`);
    let kept = 0, differ = 0;
    for (let i = 0; i < n; i++) {
      kept += a[i];
      differ += a[i] !== c[i] ? 1 : 0;
    }
    // Independent streams differ at rate 2p(1-p); demand at least half of that.
    if (differ < p * (1 - p) * n) {
      throw new Error(`stream 10 vs 9 differ at only ${differ} of ${n}`);
    }
    const sigma = Math.sqrt(n * p * (1 - p)), expected = n * (1 - p);
    if (Math.abs(kept - expected) > 5 * sigma) {
      throw new Error(`p=${p}: kept ${kept}, expected ${expected} +/- 5*${sigma.toFixed(1)}`);
    }
    const d = await run(p, 1235, 9);
    if (d.every((k, i) => k === a[i])) throw new Error("different seed gave the same mask");
  }
});

Deno.test(
  { name: "dropout backward: stored mask == regenerated == forward, chunked", ...GPU_TEST },
  async () => {
    const f = await gpuFixture();
    const x = randn(N, 2), dyHost = randn(N, 3);
    const tx = f.upload(x, [N]), tdy = f.upload(dyHost, [N]);
    const y = f.alloc.alloc([N], "f32", "workspace", "y"),
      dx = f.alloc.alloc([N], "f32", "workspace", "dx");
    const p = 0.25, seed = 77, stream = 0xabcdef12;
    const keep = dropoutMaskRef(N, p, seed, stream);
    // 8 KiB bindings force 2048-element chunks (3 chunks of 5001) with aligned offsets.
    for (const maxBinding of [undefined, 8192]) {
      const u8 = f.alloc.alloc([N], "u8", "workspace", "m8"),
        bit = f.alloc.alloc([N], "bit", "workspace", "m1");
      const fwdArgs = { y, x: tx, n: N, p, seed, stream, maxBindingBytes: maxBinding };
      dropoutForward(f.enc, { ...fwdArgs, mask: u8, maskDtype: "u8" });
      dropoutForward(f.enc, { ...fwdArgs, mask: bit, maskDtype: "bit" });
      const fwd = await f.readF32(y);
      assertClose(fwd, dropoutApplyRef(x, keep, p), 0, RTOL, `forward maxBinding=${maxBinding}`);
      assertWordsEqual(
        await f.readU32(bit),
        packMaskRef(keep, "bit"),
        bytesOf("bit", N) / 4,
        "bit mask",
      );
      // dy = x: backward must reproduce the forward output bit for bit.
      const results: Float32Array[] = [];
      const sources = [{ mask: u8, maskDtype: "u8" as const }, {
        mask: bit,
        maskDtype: "bit" as const,
      }, {
        seed,
        stream,
      }];
      for (const src of sources) {
        dropoutBackward(f.enc, { dx, dy: tx, n: N, p, source: src, maxBindingBytes: maxBinding });
        const got = await f.readF32(dx);
        assertBitsEqual(
          got,
          fwd,
          `backward(dy = x) == forward, ${JSON.stringify(Object.keys(src))}`,
        );
        dropoutBackward(f.enc, { dx, dy: tdy, n: N, p, source: src, maxBindingBytes: maxBinding });
        results.push(await f.readF32(dx));
      }
      assertBitsEqual(results[0], results[1], "u8 mask vs bit mask");
      assertBitsEqual(results[0], results[2], "stored vs regenerated");
      assertClose(results[2], dropoutApplyRef(dyHost, keep, p), 0, RTOL, "backward vs reference");
      const inPlace = f.upload(dyHost, [N]);
      dropoutBackward(f.enc, {
        dx: inPlace,
        dy: inPlace,
        n: N,
        p,
        source: { seed, stream },
        maxBindingBytes: maxBinding,
      });
      assertBitsEqual(await f.readF32(inPlace), results[2], "backward in place");
    }
  },
);

Deno.test("dropout reference backward matches central differences of the forward (f64)", () => {
  const n = 13, p = 0.4, h = 1e-6;
  const keep = dropoutMaskRef(n, p, 5, 8);
  const x = randn(n, 4), w = randn(n, 5);
  const loss = (v: Float64Array) =>
    dropoutApplyRef(v, keep, p).reduce((s, yi, i) => s + w[i] * yi, 0);
  const grad = dropoutApplyRef(w, keep, p); // the backward: dx = keep ? dy / (1 - p) : 0
  const fd = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const a = x.slice(), b = x.slice();
    a[i] += h;
    b[i] -= h;
    fd[i] = (loss(a) - loss(b)) / (2 * h);
  }
  assertClose(grad, fd, 1e-8, 1e-7, "dropout FD");
  if (keep.every((k) => k === 1) || keep.every((k) => k === 0)) throw new Error("degenerate mask");
});

Deno.test("dropout rejects bad arguments", () => {
  // Planning-mode encoders never dispatch, but argument checks still run.
  // deno-lint-ignore no-explicit-any
  const enc = { gpu: null } as any;
  const t = { dtype: "f32", size: 10, bytes: 40 } as never;
  const small = { dtype: "bit", size: 10, bytes: 4 } as never;
  const cases: [string, () => void][] = [
    ["p = 1", () => dropoutForward(enc, { y: t, x: t, n: 10, p: 1, seed: 0, stream: 0 })],
    ["n > size", () => dropoutForward(enc, { y: t, x: t, n: 11, p: 0.1, seed: 0, stream: 0 })],
    [
      "dtype mismatch",
      () =>
        dropoutForward(enc, {
          y: t,
          x: t,
          n: 10,
          p: 0.1,
          seed: 0,
          stream: 0,
          mask: small,
          maskDtype: "u8",
        }),
    ],
  ];
  for (const [what, fn] of cases) {
    let threw = false;
    try {
      fn();
    } catch {
      threw = true;
    }
    if (!threw) throw new Error(`${what}: did not throw`);
  }
});

// 16-bit x and y: the masks do not depend on the dtype (the same words as f32), and a kept
// element is one f32 product rounded once: exactly roundTo(d, f32(x * f32(1 / (1 - p)))). bf16
// runs every keep source, mask output and in place; f16 a bit mask, its backward and in place.
Deno.test(
  { name: "dropout at f16 and bf16: same masks, exact values, chunked, in place", ...GPU_TEST },
  async () => {
    const f = await gpuFixture();
    const p = 0.25, seed = 77, stream = 0xabcdef12, scale = Math.fround(1 / (1 - p));
    const keep = dropoutMaskRef(N, p, seed, stream);
    for (const d of halfDtypes(f)) {
      const full = d === "bf16";
      const x = uploadAs(f, randn(N, 2), [N], d), dy = uploadAs(f, randn(N, 3), [N], d);
      const want = (v: Float64Array) =>
        Float64Array.from(v, (a, i) => (keep[i] ? roundTo(d, Math.fround(a * scale)) : 0));
      const y = f.alloc.alloc([N], d, "workspace", "y"),
        dx = f.alloc.alloc([N], d, "workspace", "dx");
      // 8 KiB bindings: 4096-element spans of 16-bit operands (2 spans).
      for (const maxBindingBytes of [undefined, 8192]) {
        const what = `${d} maxBinding=${maxBindingBytes}`;
        const masks = full ? (["u8", "bit"] as const) : (["bit"] as const);
        for (const dt of masks) {
          const mask = f.alloc.alloc([N], dt, "workspace", "mask");
          dropoutForward(f.enc, {
            y,
            x: x.t,
            n: N,
            p,
            seed,
            stream,
            mask,
            maskDtype: dt,
            maxBindingBytes,
          });
          assertClose(await f.readF32(y), want(x.v), 0, 0, `forward ${dt} ${what}`);
          const ref = packMaskRef(keep, dt);
          assertWordsEqual(await f.readU32(mask), ref, ref.length, `mask ${dt} ${what}`);
          dropoutBackward(f.enc, {
            dx,
            dy: dy.t,
            n: N,
            p,
            source: { mask, maskDtype: dt },
            maxBindingBytes,
          });
          assertClose(await f.readF32(dx), want(dy.v), 0, 0, `backward from ${dt} ${what}`);
        }
        if (full) {
          dropoutForward(f.enc, { y, x: x.t, n: N, p, seed, stream, maxBindingBytes });
          assertClose(await f.readF32(y), want(x.v), 0, 0, `forward without a mask ${what}`);
          dropoutBackward(f.enc, {
            dx,
            dy: dy.t,
            n: N,
            p,
            source: { seed, stream },
            maxBindingBytes,
          });
          assertClose(await f.readF32(dx), want(dy.v), 0, 0, `backward regenerated ${what}`);
        }
        const t = f.upload(dy.v, [N], d);
        dropoutBackward(f.enc, {
          dx: t,
          dy: t,
          n: N,
          p,
          source: { seed, stream },
          maxBindingBytes,
        });
        assertClose(await f.readF32(t), want(dy.v), 0, 0, `backward in place ${what}`);
      }
    }
  },
);

Deno.test({ name: "dropout refuses dtypes by op, binding and tensor", ...GPU_TEST }, async () => {
  const f = await gpuFixture();
  const x = f.alloc.alloc([8], "i32", "workspace", "ids"),
    y = f.alloc.alloc([8], "bf16", "workspace", "y");
  assertRefuses(
    () => dropoutForward(f.enc, { y, x, n: 8, p: 0.1, seed: 0, stream: 0 }),
    ["dropoutForward", "x", "'ids'", "f32, f16 or bf16"],
    "i32 x",
  );
});
