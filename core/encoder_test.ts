import { roundedTo } from "./half.ts";
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

Deno.test(
  { name: "encoder: 16-bit tensors written from and read as f32 arrays", ...GPU_TEST },
  async () => {
    const f = await gpuFixture();
    const data = [1 + 2 ** -11, -0, 65520, 2 ** -25, 3.3, -1e-3, NaN];
    for (const d of ["f16", "bf16", "f32"] as const) {
      const t = f.alloc.alloc([data.length], d, "workspace", `t_${d}`);
      f.enc.writeFromF32(t, data);
      const got = await f.enc.readAsF32(t);
      const want = roundedTo(d, data);
      if (got.length !== data.length) throw new Error(`${d}: ${got.length} values`);
      for (let i = 0; i < data.length; i++) {
        const same = Number.isNaN(want[i]) ? Number.isNaN(got[i]) : Object.is(got[i], want[i]);
        if (!same) throw new Error(`${d} element ${i}: ${got[i]} != ${want[i]}`);
      }
      // The fixture does the same.
      const u = await f.readF32(f.upload(data, [data.length], d));
      if (!u.every((v, i) => Object.is(v, got[i]) || (Number.isNaN(v) && Number.isNaN(got[i])))) {
        throw new Error(`${d}: fixture upload/readF32 differ`);
      }
    }
    const h = f.alloc.alloc([3], "bf16", "workspace", "h");
    const u = f.alloc.alloc([3], "u32", "workspace", "u");
    const refusals: [() => unknown, string][] = [
      [() => f.enc.readF32(h), "use readAsF32"],
      [() => f.enc.readAsF32(u), "not a float tensor"],
      [() => f.enc.writeFromF32(u, [1, 2, 3]), "not a float tensor"],
      [() => f.enc.writeFromF32(h, [1, 2]), "2 values for 3 elements"],
    ];
    for (const [fn, what] of refusals) {
      let msg = "";
      try {
        await fn();
      } catch (e) {
        msg = (e as Error).message;
      }
      if (!msg.includes(what)) throw new Error(`expected '${what}', got '${msg}'`);
    }
  },
);
