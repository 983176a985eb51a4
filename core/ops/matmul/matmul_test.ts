import { Encoder } from "../../encoder.ts";
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
