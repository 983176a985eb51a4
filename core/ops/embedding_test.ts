import { assertClose, GPU_TEST, gpuFixture, randomArray, rng } from "../testing.ts";
import { buildGatherIndex, embeddingBackward, embeddingForward } from "./embedding.ts";
import { embeddingBackwardRef, embeddingForwardRef } from "./embedding_ref.ts";
import { assertRefuses, halfDtypes, uploadAs } from "./half_testing.ts";
import { roundTo } from "../half.ts";

// Odd shapes: V vocab rows, B*T = N rows, P position rows, 2 token types; C = 21 runs the f32
// kernels, C = 24 the vec4 ones.
const V = 53, B = 3, T = 13, N = B * T, P = 17;
const WIDTHS = [21, 24];
// 1024-byte bindings force 8- or 9-row chunks (unaligned row offsets).
const SMALL_BINDING = 1024;

function tokenIds(seed: number): Int32Array {
  const r = rng(seed);
  // Skewed: ids 0..4 repeat often (like frequent tokens), a few are out of range.
  const ids = Int32Array.from({ length: N }, () => Math.floor(r() ** 3 * V));
  ids[5] = -1;
  ids[11] = V;
  ids[30] = V - 1;
  return ids;
}

function bitsEqual(a: Float32Array, b: Float32Array, what: string): void {
  const ua = new Uint32Array(a.buffer), ub = new Uint32Array(b.buffer);
  for (let i = 0; i < ua.length; i++) {
    if (ua[i] !== ub[i]) throw new Error(`${what}: element ${i} differs between runs`);
  }
}

Deno.test("buildGatherIndex groups positions by ascending id, skipping negatives", () => {
  const idx = buildGatherIndex(Int32Array.from([4, 1, -1, 4, 0, 1, 4]));
  const got = JSON.stringify([[...idx.unique], [...idx.starts], [...idx.order]]);
  const want = JSON.stringify([[0, 1, 4], [0, 1, 3, 6], [4, 1, 5, 0, 3, 6]]);
  if (got !== want) throw new Error(`buildGatherIndex: ${got} != ${want}`);
  const empty = buildGatherIndex(new Int32Array([-1, -1]));
  if (empty.unique.length !== 0 || empty.starts.length !== 1 || empty.order.length !== 0) {
    throw new Error("buildGatherIndex of padding only is not empty");
  }
});

for (const C of WIDTHS) {
  Deno.test({ name: `embeddingForward C=${C}: token + position + type`, ...GPU_TEST }, async () => {
    const f = await gpuFixture();
    const tok = Float32Array.from(randomArray(V * C, 1));
    const pos = Float32Array.from(randomArray(P * C, 2));
    const typ = Float32Array.from(randomArray(2 * C, 3));
    const ids = tokenIds(4);
    const posIds = Int32Array.from({ length: N }, (_, n) => n % T);
    const typeIds = Int32Array.from({ length: N }, (_, n) => (n % T) > 6 ? 1 : 0);
    const tt = f.upload(tok, [V, C]), tp = f.upload(pos, [P, C]), ty = f.upload(typ, [2, C]);
    const ti = f.upload(ids, [N], "i32"), tpi = f.upload(posIds, [N], "i32");
    const tyi = f.upload(typeIds, [N], "i32");
    const expected = embeddingForwardRef(
      typ,
      typeIds,
      C,
      embeddingForwardRef(pos, posIds, C, embeddingForwardRef(tok, ids, C)),
    );
    for (const maxBinding of [undefined, SMALL_BINDING]) {
      const out = f.upload(randomArray(N * C, 5, 7, 8), [N, C]); // garbage must be overwritten
      const maxBindingBytes = maxBinding;
      embeddingForward(f.enc, { out, table: tt, ids: ti, N, C, maxBindingBytes });
      embeddingForward(f.enc, {
        out,
        table: tp,
        ids: tpi,
        N,
        C,
        accumulate: true,
        maxBindingBytes,
      });
      embeddingForward(f.enc, {
        out,
        table: ty,
        ids: tyi,
        N,
        C,
        accumulate: true,
        maxBindingBytes,
      });
      // Two f32 additions of values in [-1, 1].
      assertClose(await f.readF32(out), expected, 3e-7, 0, `forward maxBinding=${maxBinding}`);
    }
  });

  Deno.test({ name: `embeddingBackward C=${C}: grouped sums, chunks`, ...GPU_TEST }, async () => {
    const f = await gpuFixture();
    const ids = tokenIds(6);
    const dout = Float32Array.from(randomArray(N * C, 7));
    const dtable0 = Float32Array.from(randomArray(V * C, 8));
    const idx = buildGatherIndex(ids);
    const U = idx.unique.length;
    const tu = f.upload(idx.unique, [U], "i32"), ts = f.upload(idx.starts, [U + 1], "i32");
    const to = f.upload(idx.order, [idx.order.length], "i32");
    const td = f.upload(dout, [N, C]);
    const expected = embeddingBackwardRef(dtable0, dout, ids, C);
    const runs: Float32Array[] = [];
    for (const maxBinding of [undefined, SMALL_BINDING, SMALL_BINDING]) {
      const dtable = f.upload(dtable0, [V, C]);
      const ix = { unique: tu, starts: ts, order: to };
      embeddingBackward(f.enc, { dtable, dout: td, ...ix, U, C, maxBindingBytes: maxBinding });
      const got = await f.readF32(dtable);
      // Up to ~N f32 additions of values in [-1, 1] (id 0 repeats most): f32 rounding, |sum| < 20.
      assertClose(got, expected, 2e-5, 0, `backward maxBinding=${maxBinding}`);
      runs.push(got);
    }
    bitsEqual(runs[1], runs[2], "chunked backward run twice");
    // Position embeddings: ids = t for every (b, t): each row sums B rows of dout.
    const posIds = Int32Array.from({ length: N }, (_, n) => n % T);
    const pidx = buildGatherIndex(posIds);
    const dpos = f.upload(new Float32Array(P * C), [P, C]);
    embeddingBackward(f.enc, {
      dtable: dpos,
      dout: td,
      unique: f.upload(pidx.unique, [T], "i32"),
      starts: f.upload(pidx.starts, [T + 1], "i32"),
      order: f.upload(pidx.order, [N], "i32"),
      U: T,
      C,
    });
    const want = embeddingBackwardRef(new Float64Array(P * C), dout, posIds, C);
    assertClose(await f.readF32(dpos), want, 1e-6, 0, "position backward");
  });
}

// 16-bit activations from the f32 tables: each lookup adds in f32 and rounds the sum to d, so the
// token + position sum is exactly that sequence of roundings (two). The backward reads
// 16-bit dout into the f32 table gradient (the f32 tolerance above). C = 22: pairs (bf16 also
// C = 24: vec4s); 1024-byte bindings force chunks.
Deno.test(
  { name: "embedding at f16 and bf16: f32 tables, 16-bit rows, chunks", ...GPU_TEST },
  async () => {
    const f = await gpuFixture();
    for (const d of halfDtypes(f)) {
      for (const C of d === "bf16" ? [22, 24] : [22]) {
        const what = `${d} C=${C}`;
        const tok = Float32Array.from(randomArray(V * C, 1)),
          pos = Float32Array.from(randomArray(P * C, 2));
        const ids = tokenIds(4), posIds = Int32Array.from({ length: N }, (_, n) => n % T);
        const tt = f.upload(tok, [V, C]), tp = f.upload(pos, [P, C]);
        const ti = f.upload(ids, [N], "i32"), tpi = f.upload(posIds, [N], "i32");
        const want = new Float64Array(N * C);
        for (let n = 0; n < N; n++) {
          for (let c = 0; c < C; c++) {
            const t = ids[n] >= 0 && ids[n] < V ? tok[ids[n] * C + c] : 0;
            want[n * C + c] = roundTo(d, Math.fround(roundTo(d, t) + pos[posIds[n] * C + c]));
          }
        }
        for (const maxBindingBytes of [undefined, SMALL_BINDING]) {
          const out = f.upload(randomArray(N * C, 5, 7, 8), [N, C], d);
          embeddingForward(f.enc, { out, table: tt, ids: ti, N, C, maxBindingBytes });
          embeddingForward(f.enc, {
            out,
            table: tp,
            ids: tpi,
            N,
            C,
            accumulate: true,
            maxBindingBytes,
          });
          assertClose(await f.readF32(out), want, 0, 0, `forward ${what} ${maxBindingBytes}`);
        }
        const dout = uploadAs(f, randomArray(N * C, 7), [N, C], d);
        const idx = buildGatherIndex(ids), U = idx.unique.length;
        const ix = {
          unique: f.upload(idx.unique, [U], "i32"),
          starts: f.upload(idx.starts, [U + 1], "i32"),
          order: f.upload(idx.order, [idx.order.length], "i32"),
        };
        const dtable0 = Float32Array.from(randomArray(V * C, 8));
        const expected = embeddingBackwardRef(dtable0, dout.v, ids, C);
        for (const maxBindingBytes of [undefined, SMALL_BINDING]) {
          const dtable = f.upload(dtable0, [V, C]);
          embeddingBackward(f.enc, { dtable, dout: dout.t, ...ix, U, C, maxBindingBytes });
          assertClose(
            await f.readF32(dtable),
            expected,
            2e-5,
            0,
            `backward ${what} ${maxBindingBytes}`,
          );
        }
      }
    }
    const h = f.alloc.alloc([V, 22], "bf16", "workspace", "table16"),
      out = f.alloc.alloc([N, 22], "bf16", "workspace", "o");
    assertRefuses(
      () =>
        embeddingForward(f.enc, {
          out,
          table: h,
          ids: f.upload(tokenIds(4), [N], "i32"),
          N,
          C: 22,
        }),
      ["embeddingForward", "table", "must be f32", "'table16'"],
      "bf16 table",
    );
  },
);
