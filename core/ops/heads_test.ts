import { assertClose, GPU_TEST, gpuFixture, randn } from "../testing.ts";
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
