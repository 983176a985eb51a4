import { Allocator, sizeClass, totalOfDtypes } from "./allocator.ts";
import { OutOfMemoryError } from "./errors.ts";
import { GPU_TEST, testGpu } from "./testing.ts";

function assertEq<T>(a: T, b: T, what: string): void {
  if (JSON.stringify(a) !== JSON.stringify(b)) {
    throw new Error(`${what}: ${JSON.stringify(a)} != ${JSON.stringify(b)}`);
  }
}

function script(al: Allocator): void {
  const p = al.alloc([10, 10], "f32", "param", "w"); // 400
  al.alloc([10, 10], "f32", "grad", "dw"); // 400
  const x = al.alloc([7], "f32", "workspace", "x"); // 28
  const m = al.alloc([100], "bit", "activation", "mask"); // 16
  al.retain(x);
  al.release(x); // still live
  al.recategorize(x, "activation");
  const big = al.alloc([1000], "f32", "workspace", "big"); // 4000 -> peak 4844
  al.release(big);
  al.release(m);
  al.release(x);
  void p;
}

Deno.test("allocator: scripted sequence gives exact live and peak bytes per category", () => {
  const al = new Allocator();
  script(al);
  const r = al.report();
  assertEq(r.live, { param: 400, grad: 400, optimizer: 0, activation: 0, workspace: 0 }, "live");
  assertEq(r.peak, 4844, "peak");
  assertEq(r.peakByCategory, {
    param: 400,
    grad: 400,
    optimizer: 0,
    activation: 44,
    workspace: 4000,
  }, "at peak");
  assertEq(r.peakAt, "big", "peakAt");
  al.resetPeak();
  assertEq(al.report().peak, 800, "reset peak = live");
});

Deno.test({
  name: "allocator: pooled GPU mode accounts exactly like plan mode and reuses buffers",
  ...GPU_TEST,
}, async () => {
  const gpu = await testGpu();
  const plan = new Allocator();
  const real = new Allocator({ device: gpu.device });
  script(plan);
  script(real);
  assertEq(real.report().peak, plan.report().peak, "peak");
  assertEq(real.report().live, plan.report().live, "live");
  const pooled = real.report().pooledBytes;
  script(real); // second run reuses every freed buffer of the same class
  const p2 = real.report().pooledBytes;
  if (p2 - pooled !== sizeClass(400) * 2) {
    throw new Error(`pool grew by ${p2 - pooled}, expected only the two new persistent tensors`);
  }
});

Deno.test("allocator: limit throws typed error naming category and leaves state intact", () => {
  const al = new Allocator({ memoryLimit: 1000 });
  al.alloc([200], "f32", "param", "w");
  const before = al.report();
  let caught: unknown;
  try {
    al.alloc([100], "f32", "activation", "too-big");
  } catch (e) {
    caught = e;
  }
  if (!(caught instanceof OutOfMemoryError)) throw new Error("expected OutOfMemoryError");
  assertEq(caught.category, "activation", "category");
  assertEq(caught.requested, 400, "requested");
  assertEq(caught.live, 800, "live");
  assertEq(al.report(), before, "state unchanged");
  al.alloc([50], "f32", "activation", "fits");
});

Deno.test("sizeClass: at most 12.5% slack and monotone", () => {
  let prev = 0;
  for (let b = 1; b < 1 << 22; b = Math.ceil(b * 1.37)) {
    const c = sizeClass(b);
    if (c < b || c < prev) throw new Error(`sizeClass(${b}) = ${c}`);
    if (b > 4096 && c > b * 1.125 + 1) throw new Error(`slack at ${b}: ${c}`);
    prev = c;
  }
});

/** A mixed-precision sequence: f32 masters, 16-bit activations, a bit mask, an i32 batch. */
function mixed(al: Allocator): void {
  const w = al.alloc([64, 3], "f32", "param", "w"); // 768
  const h = al.alloc([37, 3], "bf16", "activation", "h"); // 111 -> 224
  const g = al.alloc([1031], "f16", "workspace", "g"); // 2064 -> peak
  const m = al.alloc([1031], "bit", "activation", "m"); // 132
  const ids = al.alloc([5], "i32", "workspace", "ids"); // 20
  al.release(g);
  al.recategorize(ids, "activation"); // category moves, dtype stays
  void w, h, m;
}

Deno.test({
  name: "allocator: live and peak bytes by dtype beside by category, plan and GPU mode alike",
  ...GPU_TEST,
}, async () => {
  const gpu = await testGpu();
  for (const al of [new Allocator(), new Allocator({ device: gpu.device })]) {
    mixed(al);
    const r = al.report();
    assertEq(r.peak, 768 + 224 + 2064 + 132 + 20, `${al.mode} peak`);
    assertEq(
      r.peakByDtype,
      { f32: 768, f16: 2064, bf16: 224, u32: 0, i32: 20, u8: 0, bit: 132 },
      "at peak",
    );
    assertEq(
      r.liveByDtype,
      { f32: 768, f16: 0, bf16: 224, u32: 0, i32: 20, u8: 0, bit: 132 },
      "live",
    );
    assertEq(totalOfDtypes(r.liveByDtype), r.liveTotal, "live dtypes sum to the total");
    assertEq(totalOfDtypes(r.peakByDtype), r.peak, "peak dtypes sum to the peak");
    assertEq(r.live.activation, 224 + 132 + 20, "by category");
    assertEq(
      r.activationByDtype,
      { f32: 0, f16: 0, bf16: 224, u32: 0, i32: 20, u8: 0, bit: 132 },
      "activations by dtype (recategorized ids included)",
    );
    al.resetPeak();
    assertEq(al.report().peakByDtype, r.liveByDtype, "reset: peak split = live split");
  }
  // An f32-only run reports all of its bytes as f32, its categories as before.
  const plan = new Allocator();
  script(plan);
  assertEq(plan.report().peakByDtype.f32 + plan.report().peakByDtype.bit, 4844, "script peak");
  assertEq(plan.report().liveByDtype.f32, 800, "script live");
});
