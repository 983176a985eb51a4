import { roundedTo } from "../half.ts";
import { assertClose, GPU_TEST, gpuFixture, randn } from "../testing.ts";
import { assertRefuses, halfDtypes, uploadAs } from "./half_testing.ts";
import { joinHeads, mergeHeads, splitHeads, splitHeadsOf } from "./heads.ts";
import { joinHeadsRef, mergeHeadsRef, splitHeadsOfRef, splitHeadsRef } from "./heads_ref.ts";

// Permutations are exact copies: tolerance 0.
Deno.test(
  { name: "head layouts match the reference (scalar and vec4, chunked)", ...GPU_TEST },
  async () => {
    const f = await gpuFixture();
    // [B, T, NH, HS, maxBinding]: odd sizes (scalar path), HS = 8 (vec4 path), and T*C*4 = 256 so
    // that a 1536-byte binding forces chunks of 2 batch elements (3 chunks of B = 5).
    const cases: [number, number, number, number, number | undefined][] = [
      [2, 7, 3, 5, undefined],
      [3, 5, 3, 8, undefined],
      [5, 4, 2, 8, 1536],
      [5, 4, 2, 8, undefined],
    ];
    for (const [B, T, NH, HS, maxBinding] of cases) {
      const C = NH * HS, n = B * T * C, what = `B=${B} T=${T} NH=${NH} HS=${HS} max=${maxBinding}`;
      const qkv = randn(3 * n, n).map(Math.fround), tqkv = f.upload(qkv, [B, T, 3 * C]);
      const parts = [0, 1, 2].map(() => f.alloc.alloc([B, NH, T, HS], "f32", "workspace", "p"));
      const shape = { B, T, NH, HS, maxBindingBytes: maxBinding };
      splitHeads(f.enc, { q: parts[0], k: parts[1], v: parts[2], qkv: tqkv, ...shape });
      const want = splitHeadsRef(qkv, B, T, NH, HS);
      const got = await Promise.all(parts.map((p) => f.readF32(p)));
      got.forEach((g, p) => assertClose(g, want[p], 0, 0, `split part ${p} ${what}`));
      const grads = [0, 1, 2].map((p) => randn(n, 10 * n + p).map(Math.fround));
      const tgrads = grads.map((g) => f.upload(g, [B, NH, T, HS]));
      const dqkv = f.alloc.alloc([B, T, 3 * C], "f32", "workspace", "dqkv");
      joinHeads(f.enc, { dqkv, dq: tgrads[0], dk: tgrads[1], dv: tgrads[2], ...shape });
      assertClose(await f.readF32(dqkv), joinHeadsRef(grads, B, T, NH, HS), 0, 0, `join ${what}`);
      const ctx = grads[0], out = f.alloc.alloc([B, T, C], "f32", "workspace", "out");
      mergeHeads(f.enc, { out, ctx: tgrads[0], ...shape });
      const merged = await f.readF32(out);
      assertClose(merged, mergeHeadsRef(ctx, B, T, NH, HS), 0, 0, `merge ${what}`);
      const dctx = f.alloc.alloc([B, NH, T, HS], "f32", "workspace", "dctx");
      splitHeadsOf(f.enc, { dctx, dout: out, ...shape });
      assertClose(
        await f.readF32(dctx),
        splitHeadsOfRef(merged, B, T, NH, HS),
        0,
        0,
        `splitOf ${what}`,
      );
      assertClose(await f.readF32(dctx), Float32Array.from(ctx), 0, 0, `merge round trip ${what}`);
    }
  },
);

Deno.test("head layout backwards match central differences of the forwards (f64)", () => {
  const B = 2, T = 3, NH = 2, HS = 3, C = NH * HS, n = B * T * C, h = 1e-6;
  const qkv = randn(3 * n, 1), w = [0, 1, 2].map((p) => randn(n, 2 + p));
  const loss = (x: Float64Array) =>
    splitHeadsRef(x, B, T, NH, HS).reduce(
      (s, part, p) => s + part.reduce((a, v, i) => a + w[p][i] * v, 0),
      0,
    );
  const fd = qkv.map((_, i) => {
    const a = qkv.slice(), b = qkv.slice();
    a[i] += h;
    b[i] -= h;
    return (loss(a) - loss(b)) / (2 * h);
  });
  assertClose(joinHeadsRef(w, B, T, NH, HS), fd, 1e-8, 1e-8, "FD join");
  const ctx = randn(n, 7), wo = randn(n, 8);
  const lossM = (x: Float64Array) =>
    mergeHeadsRef(x, B, T, NH, HS).reduce((a, v, i) => a + wo[i] * v, 0);
  const fdM = ctx.map((_, i) => {
    const a = ctx.slice(), b = ctx.slice();
    a[i] += h;
    b[i] -= h;
    return (lossM(a) - lossM(b)) / (2 * h);
  });
  assertClose(splitHeadsOfRef(wo, B, T, NH, HS), fdM, 1e-8, 1e-8, "FD splitHeadsOf");
});

// 16-bit operands: the permutations copy 16-bit values exactly (through f32, which holds every
// f16 and bf16 value); HS = 6 takes pairs, HS = 8 vec4s (1536-byte bindings: chunks of batch
// items; f16 runs HS = 6). An f32 -> bf16 split rounds once. An odd HS with a 16-bit output is refused.
Deno.test(
  { name: "head layouts at f16 and bf16: exact, pairs and vec4, chunked", ...GPU_TEST },
  async () => {
    const f = await gpuFixture();
    const cases: [number, number, number, number, number | undefined][] = [
      [2, 7, 3, 6, undefined],
      [5, 4, 2, 8, 1536],
    ];
    for (const d of halfDtypes(f)) {
      for (const [B, T, NH, HS, maxBinding] of d === "bf16" ? cases : cases.slice(0, 1)) {
        const C = NH * HS, n = B * T * C, what = `${d} HS=${HS} max=${maxBinding}`;
        const qkv = uploadAs(f, randn(3 * n, n), [B, T, 3 * C], d);
        const parts = [0, 1, 2].map(() => f.alloc.alloc([B, NH, T, HS], d, "workspace", "p"));
        const shape = { B, T, NH, HS, maxBindingBytes: maxBinding };
        splitHeads(f.enc, { q: parts[0], k: parts[1], v: parts[2], qkv: qkv.t, ...shape });
        const want = splitHeadsRef(qkv.v, B, T, NH, HS);
        const got = await Promise.all(parts.map((p) => f.readF32(p)));
        got.forEach((g, p) => assertClose(g, want[p], 0, 0, `split part ${p} ${what}`));
        const dqkv = f.alloc.alloc([B, T, 3 * C], d, "workspace", "dqkv");
        joinHeads(f.enc, { dqkv, dq: parts[1], dk: parts[2], dv: parts[0], ...shape });
        const joined = joinHeadsRef([want[1], want[2], want[0]], B, T, NH, HS);
        assertClose(await f.readF32(dqkv), joined, 0, 0, `join ${what}`);
        const out = f.alloc.alloc([B, T, C], d, "workspace", "out");
        mergeHeads(f.enc, { out, ctx: parts[0], ...shape });
        assertClose(
          await f.readF32(out),
          mergeHeadsRef(want[0], B, T, NH, HS),
          0,
          0,
          `merge ${what}`,
        );
        const dctx = f.alloc.alloc([B, NH, T, HS], d, "workspace", "dctx");
        splitHeadsOf(f.enc, { dctx, dout: out, ...shape });
        assertClose(await f.readF32(dctx), want[0], 0, 0, `merge round trip ${what}`);
      }
    }
    const B = 2, T = 3, NH = 2, HS = 8, C = NH * HS, n = B * T * C;
    const x = randn(3 * n, 9);
    const parts = [0, 1, 2].map(() => f.alloc.alloc([B, NH, T, HS], "bf16", "workspace", "p"));
    splitHeads(f.enc, {
      q: parts[0],
      k: parts[1],
      v: parts[2],
      qkv: f.upload(x, [B, T, 3 * C]),
      B,
      T,
      NH,
      HS,
    });
    const want = splitHeadsRef(roundedTo("bf16", Float32Array.from(x)), B, T, NH, HS);
    assertClose(await f.readF32(parts[2]), want[2], 0, 0, "f32 -> bf16 split");
    const odd = f.alloc.alloc([2, 1, 3, 5], "bf16", "workspace", "odd");
    const tok = f.alloc.alloc([2, 3, 5], "f32", "workspace", "tok");
    assertRefuses(
      () => splitHeadsOf(f.enc, { dctx: odd, dout: tok, B: 2, T: 3, NH: 1, HS: 5 }),
      ["splitHeadsOf", "even head size", "HS = 5", "'odd'"],
      "odd HS, bf16 output",
    );
  },
);
