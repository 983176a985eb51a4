import { fill } from "./ops/elementwise.ts";
import { view } from "./tensor.ts";
import { GPU_TEST, gpuFixture } from "./testing.ts";

Deno.test(
  { name: "encoder.clear zeroes exactly the tensor, in order with dispatches", ...GPU_TEST },
  async () => {
    const f = await gpuFixture();
    // [3 * 64 + 5] f32: a view of 67 elements at element 64 (256-byte aligned), neighbours around.
    const whole = f.alloc.alloc([197], "f32", "workspace", "whole");
    const mid = view(whole, 64, [67]);
    fill(f.enc, whole, 3);
    f.enc.clear(mid); // after a dispatch that wrote it
    fill(f.enc, view(whole, 192, [5]), 7); // a dispatch after the clear, on another range
    const got = await f.readF32(whole);
    for (let i = 0; i < 197; i++) {
      const want = i >= 64 && i < 131 ? 0 : i >= 192 ? 7 : 3;
      if (got[i] !== want) throw new Error(`element ${i}: ${got[i]}, want ${want}`);
    }
    f.enc.clear(whole);
    fill(f.enc, mid, 2); // clear, then a dispatch over part of it
    const again = await f.readF32(whole);
    for (let i = 0; i < 197; i++) {
      const want = i >= 64 && i < 131 ? 2 : 0;
      if (again[i] !== want) throw new Error(`second pass, element ${i}: ${again[i]}`);
    }
  },
);
