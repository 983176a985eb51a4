import { assertClose, GPU_TEST, gpuFixture, randomArray } from "../testing.ts";
import { add, fill, scaleAcc } from "./elementwise.ts";
import { addRef, scaleAccRef } from "./elementwise_ref.ts";

Deno.test({ name: "add and scaleAcc match the reference at odd sizes", ...GPU_TEST }, async () => {
  const f = await gpuFixture();
  for (const n of [1, 257, 70001]) {
    const a = randomArray(n, 1), b = randomArray(n, 2);
    const ta = f.upload(a, [n]),
      tb = f.upload(b, [n]),
      out = f.alloc.alloc([n], "f32", "workspace", "o");
    add(f.enc, out, ta, tb);
    assertClose(await f.readF32(out), addRef(a, b), 1e-6, 1e-6, `add n=${n}`);
    scaleAcc(f.enc, out, ta, 0.5, 2);
    assertClose(
      await f.readF32(out),
      scaleAccRef(a, addRef(a, b), 0.5, 2),
      1e-5,
      1e-6,
      `scaleAcc n=${n}`,
    );
    fill(f.enc, out, Number.NaN);
    scaleAcc(f.enc, out, ta, -3, 0);
    assertClose(await f.readF32(out), scaleAccRef(a, a, -3, 0), 1e-6, 1e-6, "beta 0 ignores NaN");
  }
});
