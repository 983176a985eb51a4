// Dropout with a stream offset: element e of a call is element offset + e of the RNG stream, so a
// batch split into parts (data-parallel ranks, micro-batches) draws the masks of the whole batch.
import { GPU_TEST, gpuFixture, randn } from "../testing.ts";
import { dropoutBackward, dropoutForward, type MaskDtype } from "./dropout.ts";
import { dropoutMaskRef, unpackMaskRef } from "./dropout_ref.ts";
import { dropoutKeep, keepThreshold } from "./rng.ts";
import { philox4x32Ref } from "./rng_ref.ts";
import { halfDtypes } from "./half_testing.ts";

function assertSame(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  if (a.length !== b.length) throw new Error(`${what}: length ${a.length} != ${b.length}`);
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) throw new Error(`${what}: element ${i}: ${a[i]} != ${b[i]}`);
  }
}

const TWO32 = 4294967296;

Deno.test("dropoutKeep: the counter's third word carries the group index past 2^32 groups", () => {
  const threshold = keepThreshold(0.5), seed = 0x1234, stream = 77;
  const byRef = (i: number) => {
    const q = Math.floor(i / 4);
    const r = philox4x32Ref([q % TWO32, stream, Math.floor(q / TWO32), 0], [seed, 0x9e3779b9]);
    return (r[i % 4] >>> 8) < threshold;
  };
  // Below 2^34 the third word is 0 (the decisions of the u32 index of before); past it, not.
  const at = [0, 1, 5, 2 ** 32 - 1, 2 ** 32, 2 ** 34 - 1, 2 ** 34, 2 ** 34 + 3, 2 ** 52 + 9];
  for (const i of at) {
    if (dropoutKeep(i, stream, seed, threshold) !== byRef(i)) throw new Error(`element ${i}`);
  }
  // Element 2^34 + i is not element i again (the index does not wrap).
  let differ = 0;
  for (let i = 0; i < 256; i++) {
    if (
      dropoutKeep(2 ** 34 + i, stream, seed, threshold) !== dropoutKeep(i, stream, seed, threshold)
    ) differ++;
  }
  if (differ < 64) throw new Error(`2^34 + i repeats i (${differ} of 256 differ)`);
  for (const bad of [-1, 0.5, 2 ** 53]) {
    let threw = false;
    try {
      dropoutKeep(bad, stream, seed, threshold);
    } catch {
      threw = true;
    }
    if (!threw) throw new Error(`accepted element ${bad}`);
  }
});

// Odd n: parts that start off a 4-element group, and partial mask words.
const N = 1003;
// Offsets: unaligned, one that carries into the high word inside the call, and large ones.
const OFFSETS = [0, 1, 2, 3, 5, 1003, TWO32 - 501, 3 * TWO32 + 2, 2 ** 52 + 1];

Deno.test({
  name: "dropout with a stream offset: GPU masks equal the reference, forward and regenerated",
  ...GPU_TEST,
}, async () => {
  const f = await gpuFixture();
  const x = randn(N, 11), dy = randn(N, 12);
  const tx = f.upload(x, [N]), tdy = f.upload(dy, [N]);
  const y = f.alloc.alloc([N], "f32", "workspace", "y");
  const dx = f.alloc.alloc([N], "f32", "workspace", "dx");
  const p = 0.3, seed = 99, stream = 4242;
  for (const offset of OFFSETS) {
    const want = dropoutMaskRef(N, p, seed, stream, offset);
    for (const dt of ["u8", "bit"] as MaskDtype[]) {
      const mask = f.alloc.alloc([N], dt, "workspace", "mask");
      dropoutForward(f.enc, { y, x: tx, n: N, p, seed, stream, mask, maskDtype: dt, offset });
      assertSame(unpackMaskRef(await f.readU32(mask), N, dt), want, `offset ${offset} ${dt}`);
      f.alloc.release(mask);
    }
    // Forward without a mask and backward regenerated from (seed, stream, offset): the kept
    // elements are exactly the mask's, in both.
    dropoutForward(f.enc, { y, x: tx, n: N, p, seed, stream, offset });
    dropoutBackward(f.enc, { dx, dy: tdy, n: N, p, source: { seed, stream, offset } });
    const ys = await f.readF32(y), dxs = await f.readF32(dx);
    for (let i = 0; i < N; i++) {
      if ((ys[i] !== 0 || x[i] === 0 ? 1 : 0) !== want[i] || (dxs[i] !== 0 ? 1 : 0) !== want[i]) {
        throw new Error(`offset ${offset}: element ${i} kept ${want[i]}: y ${ys[i]}, dx ${dxs[i]}`);
      }
    }
  }
});

Deno.test({
  name: "dropout with offsets: two halves draw the mask of the whole, also in binding chunks",
  ...GPU_TEST,
}, async () => {
  const f = await gpuFixture();
  const H = 5001; // 8 KiB bindings split a half into 3 chunks of 2048 elements
  const n = 2 * H, p = 0.1, seed = 5, stream = 6;
  const ones = f.upload(new Float64Array(n).fill(1), [n]);
  const whole = f.alloc.alloc([n], "bit", "workspace", "whole");
  const y = f.alloc.alloc([n], "f32", "workspace", "y");
  dropoutForward(f.enc, { y, x: ones, n, p, seed, stream, mask: whole, maskDtype: "bit" });
  const all = unpackMaskRef(await f.readU32(whole), n, "bit");
  const half = f.alloc.alloc([H], "bit", "workspace", "half");
  const yh = f.alloc.alloc([H], "f32", "workspace", "yh");
  const xh = f.upload(new Float64Array(H).fill(1), [H]);
  for (const maxBinding of [undefined, 8192]) {
    for (const part of [0, 1]) {
      dropoutForward(f.enc, {
        y: yh,
        x: xh,
        n: H,
        p,
        seed,
        stream,
        mask: half,
        maskDtype: "bit",
        maxBindingBytes: maxBinding,
        offset: part * H,
      });
      const got = unpackMaskRef(await f.readU32(half), H, "bit");
      assertSame(
        got,
        all.subarray(part * H, (part + 1) * H),
        `half ${part} (binding ${maxBinding})`,
      );
    }
  }
  let threw = false;
  try {
    dropoutForward(f.enc, { y: yh, x: xh, n: H, p, seed, stream, offset: -4 });
  } catch {
    threw = true;
  }
  if (!threw) throw new Error("a negative offset was accepted");
});

// 16-bit operands take elements in pairs; an unaligned offset puts a 4-element group boundary
// between the two elements of a pair, and the last pair of odd n has one element.
Deno.test({
  name: "dropout with a stream offset at f16 and bf16: the masks of f32, forward and regenerated",
  ...GPU_TEST,
}, async () => {
  const f = await gpuFixture();
  const p = 0.3, seed = 99, stream = 4242;
  for (const d of halfDtypes(f)) {
    const ones = f.upload(new Float64Array(N).fill(1), [N], d);
    const y = f.alloc.alloc([N], d, "workspace", "y");
    const dx = f.alloc.alloc([N], d, "workspace", "dx");
    for (const offset of OFFSETS) {
      const want = dropoutMaskRef(N, p, seed, stream, offset);
      const mask = f.alloc.alloc([N], "bit", "workspace", "mask");
      dropoutForward(f.enc, { y, x: ones, n: N, p, seed, stream, mask, maskDtype: "bit", offset });
      assertSame(unpackMaskRef(await f.readU32(mask), N, "bit"), want, `${d} offset ${offset}`);
      f.alloc.release(mask);
      dropoutBackward(f.enc, { dx, dy: ones, n: N, p, source: { seed, stream, offset } });
      const ys = await f.readF32(y), dxs = await f.readF32(dx);
      for (let i = 0; i < N; i++) {
        if ((ys[i] !== 0 ? 1 : 0) !== want[i] || (dxs[i] !== 0 ? 1 : 0) !== want[i]) {
          throw new Error(
            `${d} offset ${offset}: element ${i} kept ${want[i]}: y ${ys[i]}, dx ${dxs[i]}`,
          );
        }
      }
    }
  }
});
