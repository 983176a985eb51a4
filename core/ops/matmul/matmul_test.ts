import type { DType } from "../../dtype.ts";
import { Encoder } from "../../encoder.ts";
import { DTypeError } from "../../errors.ts";
import { GPU_TEST, type GpuFixture, gpuFixture } from "../../testing.ts";
import { matmul } from "./matmul.ts";
import { check, NamingEncoder } from "./testing.ts";

Deno.test({ name: "matmul: argument errors and planning mode", ...GPU_TEST }, async () => {
  const f = await gpuFixture();
  const A = f.alloc.alloc([6], "f32", "workspace", "A");
  const B = f.alloc.alloc([6], "f32", "workspace", "B");
  const C = f.alloc.alloc([4], "f32", "workspace", "C");
  const throws = (fn: () => void, what: string) => {
    try {
      fn();
    } catch {
      return;
    }
    throw new Error(`expected an error: ${what}`);
  };
  throws(() => matmul(f.enc, C, A, B, 2, 2, 3, { beta: 0.5 }), "beta 0.5");
  throws(() => matmul(f.enc, C, A, B, 2, 2, 4), "A too small");
  throws(() => matmul(f.enc, C, A, B, 2, 2, 3, { batch: 2, strideA: 0, strideB: 0 }), "C small");
  throws(() => matmul(f.enc, C, A, B, 2, 2, 0), "K = 0");
  throws(() => matmul(f.enc, A, A, B, 2, 3, 1), "C aliases A");
  const plan = new Encoder(null);
  matmul(plan, C, A, B, 2, 2, 3);
  if (plan.dispatches !== 0) throw new Error("planning mode dispatched");
  throws(() => matmul(plan, C, A, B, 2, 2, 4), "planning mode still validates");
});

Deno.test(
  { name: "matmul: the adapter's policy picks the kernel, by product size", ...GPU_TEST },
  async () => {
    const base = await gpuFixture();
    const enc = new NamingEncoder(base.gpu);
    const f: GpuFixture = {
      ...base,
      enc,
      upload(data, shape) {
        const t = base.alloc.alloc(shape, "f32", "workspace", "upload");
        enc.write(t, Float32Array.from(data));
        return t;
      },
      readF32: (t) => enc.readF32(t),
    };
    // Software adapter: texture from 32^3 multiply-adds, blocked below; other adapters: tiled.
    const big = base.gpu.isSoftware ? "matmul_texture" : "matmul_tiled";
    const small = base.gpu.isSoftware ? "matmul_blocked" : "matmul_tiled";
    for (
      const [what, c, kernel] of [
        ["big NT", { M: 160, N: 144, K: 100, opts: { transB: true } }, big],
        ["32^3 NN", { M: 32, N: 32, K: 32, opts: {} }, big],
        ["small NN", { M: 9, N: 7, K: 5, opts: {} }, small],
      ] as const
    ) {
      enc.names = [];
      await check(f, c, 900, what);
      if (!enc.names.some((n) => n.startsWith(kernel))) {
        throw new Error(`${what}: dispatched ${enc.names.join(" ")}; expected ${kernel}`);
      }
    }
  },
);

Deno.test({ name: "matmul: dtypes it refuses, by name", ...GPU_TEST }, async () => {
  const f = await gpuFixture();
  const t = (n: number, dtype: DType) => f.alloc.alloc([n], dtype, "workspace", `x${dtype}`);
  const expect = (fn: () => void, pattern: RegExp, what: string) => {
    try {
      fn();
    } catch (e) {
      if (e instanceof DTypeError && pattern.test(e.message)) return;
      throw new Error(`${what}: expected a DTypeError matching ${pattern}, got ${e}`);
    }
    throw new Error(`${what}: no error`);
  };
  const plan = new Encoder(null);
  // bf16 C rows of odd length share words between rows (also in planning mode).
  expect(
    () => matmul(plan, t(21, "bf16"), t(21, "f32"), t(49, "f32"), 3, 7, 7),
    /C .* is bf16 with N = 7 odd: .*keep C f32/,
    "bf16 C, odd N",
  );
  expect(
    () =>
      matmul(plan, t(2 * 25, "bf16"), t(24, "f32"), t(24, "f32"), 4, 6, 3, {
        batch: 2,
        strideA: 0,
        strideB: 0,
        strideC: 25,
      }),
    /strideC = 25 odd/,
    "bf16 C, odd strideC",
  );
  expect(
    () => matmul(plan, t(4, "f32"), t(4, "i32"), t(4, "f32"), 2, 2, 1),
    /A must be f32, f16 or bf16/,
    "i32 A",
  );
  // f16 needs shader-f16: a view of the GPU without it refuses, naming the feature.
  const noF16 = new Encoder({ ...f.gpu, hasF16: false });
  expect(
    () => matmul(noF16, t(4, "f32"), t(4, "f16"), t(4, "f32"), 2, 2, 1),
    /f16 needs the adapter feature 'shader-f16'/,
    "f16 without shader-f16",
  );
  // f16 C of odd N is fine (single f16 stores): checked in the kernels' 16-bit tests.
  await f.enc.sync();
});
