import { Allocator } from "./allocator.ts";
import {
  bytesOf,
  DTYPES,
  elementBits,
  elementBytes,
  elementsIn,
  isFloat,
  isHalf,
  unitRoundoff,
} from "./dtype.ts";
import { needDtype, needDtypeSupport, supportsDtype } from "./dtype_check.ts";
import { rangeOf } from "./encoder.ts";
import { DTypeError } from "./errors.ts";
import type { Gpu } from "./gpu.ts";
import { compile, type KernelSpec } from "./kernel.ts";
import { view, viewAlignOf } from "./tensor.ts";
import { GPU_TEST, gpuFixture } from "./testing.ts";

function assertEq<T>(a: T, b: T, what: string): void {
  if (JSON.stringify(a) !== JSON.stringify(b)) {
    throw new Error(`${what}: ${JSON.stringify(a)} != ${JSON.stringify(b)}`);
  }
}

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected a throw");
}

Deno.test("dtype: exact bytes per dtype at odd sizes (whole u32 words)", () => {
  const sizes = [0, 1, 2, 3, 37, 1031];
  const want: Record<string, number[]> = {
    f32: [0, 4, 8, 12, 148, 4124],
    i32: [0, 4, 8, 12, 148, 4124],
    u32: [0, 4, 8, 12, 148, 4124],
    f16: [0, 4, 4, 8, 76, 2064],
    bf16: [0, 4, 4, 8, 76, 2064],
    u8: [0, 4, 4, 4, 40, 1032],
    bit: [0, 4, 4, 4, 8, 132],
  };
  for (const d of DTYPES) assertEq(sizes.map((n) => bytesOf(d, n)), want[d], `bytesOf ${d}`);
  assertEq(DTYPES.map(elementBits), [32, 16, 16, 32, 32, 8, 1], "elementBits");
  assertEq(DTYPES.map(elementBytes), [4, 2, 2, 4, 4, 1, 0.125], "elementBytes");
  assertEq(DTYPES.filter(isFloat), ["f32", "f16", "bf16"], "isFloat");
  assertEq(DTYPES.filter(isHalf), ["f16", "bf16"], "isHalf");
  assertEq(DTYPES.map((d) => elementsIn(d, 256)), [64, 128, 128, 64, 64, 256, 2048], "in 256 B");
  assertEq(DTYPES.map(viewAlignOf), [64, 128, 128, 64, 64, 256, 2048], "view alignment");
  assertEq([unitRoundoff("f32"), unitRoundoff("f16"), unitRoundoff("bf16")], [
    2 ** -24,
    2 ** -11,
    2 ** -8,
  ], "unit roundoff");
});

Deno.test("dtype: views of 16-bit tensors start at multiples of 128 elements", () => {
  const al = new Allocator();
  for (const d of ["f16", "bf16"] as const) {
    const t = al.alloc([3 * 128 + 5], d, "activation", "h");
    const v = view(t, 256, [133]);
    assertEq([v.offset, v.bytes, v.size, v.dtype], [512, 268, 133, d], `${d} view`);
    const inner = view(v, 128, [5]); // a view of a view: offsets add up
    assertEq([inner.offset, inner.bytes], [768, 12], `${d} view of a view`);
    const bad = thrown(() => view(t, 64, [4]));
    if (!/not 256-aligned \(\w+ views start at multiples of 128 elements\)/.test(bad.message)) {
      throw new Error(bad.message);
    }
    thrown(() => view(t, 256, [134])); // one element past t (its padding half)
    assertEq(rangeOf(t, 130, 3), { tensor: t, offset: 260, size: 8 }, `${d} range`);
    thrown(() => rangeOf(t, 131, 2)); // starts inside a word
  }
  const f = al.alloc([200], "f32", "activation", "x");
  assertEq(view(f, 64, [136]).offset, 256, "f32 views unchanged");
  const m = al.alloc([4096], "bit", "activation", "m");
  assertEq([view(m, 2048, [2048]).offset, view(m, 2048, [2048]).bytes], [256, 256], "bit view");
  assertEq(al.report().liveByDtype.f16 + al.report().liveByDtype.bf16, 2 * 780, "views add none");
});

Deno.test("dtype: needDtype names the op, the binding, the tensor and what it accepts", () => {
  const al = new Allocator();
  const h = al.alloc([37], "bf16", "workspace", "h");
  assertEq(needDtype("geluForward", "x", h, ["f32", "bf16"], 37), "bf16", "accepted");
  const e = thrown(() => needDtype("geluForward", "x", h, ["f32", "f16"]));
  if (!(e instanceof DTypeError)) throw e;
  assertEq(e.message, "geluForward: x must be f32 or f16, got [37] bf16 workspace 'h'", "message");
  const three = thrown(() => needDtype("op", "y", h, ["f32", "f16", "u8"]));
  assertEq(three.message, "op: y must be f32, f16 or u8, got [37] bf16 workspace 'h'", "three");
  const small = thrown(() => needDtype("op", "x", h, ["bf16"], 38));
  assertEq(small.message, "op: x [37] bf16 workspace 'h' has fewer than 38 elements", "size");
});

const NO_F16 = { description: "Example GPU 9000", hasF16: false };

Deno.test("dtype: f16 without shader-f16 is refused by name, before any compile", () => {
  if (supportsDtype(NO_F16, "f16") || !supportsDtype(NO_F16, "bf16")) throw new Error("support");
  const e = thrown(() => needDtypeSupport(NO_F16, "f16"));
  assertEq(
    e.message,
    "f16 needs the adapter feature 'shader-f16', which Example GPU 9000 lacks; use bf16",
    "message",
  );
  needDtypeSupport(NO_F16, "bf16");
  // compile() refuses the f16 kernel on such a Gpu without touching its device.
  const fake = { ...NO_F16, device: {} } as unknown as Gpu;
  const spec: KernelSpec = {
    name: "needs_f16",
    bindings: [{ name: "x", dtype: "f16", write: true }],
    workgroupSize: [8],
    body: "x_store2(gid.x, vec2f(1.0));",
  };
  const c = thrown(() => compile(fake, spec));
  if (!(c instanceof DTypeError) || !c.message.includes("Example GPU 9000")) throw c;
  const flagged = thrown(() => compile(fake, { ...spec, bindings: [], body: "", f16: true }));
  if (!(flagged instanceof DTypeError)) throw flagged;
});

Deno.test(
  { name: "dtype: 16-bit views bind at aligned offsets on the GPU", ...GPU_TEST },
  async () => {
    const f = await gpuFixture();
    for (const d of ["bf16", ...(f.gpu.hasF16 ? ["f16" as const] : [])] as const) {
      const data = Array.from({ length: 128 + 37 }, (_, i) => (i - 80) * 0.37);
      const t = f.upload(data, [data.length], d);
      const v = view(t, 128, [37]);
      const got = await f.readF32(v);
      const all = await f.readF32(t);
      for (let i = 0; i < 37; i++) {
        if (got[i] !== all[128 + i]) throw new Error(`${d} view element ${i}`);
      }
      // Write through the view: only its 37 elements (and its padding half) change.
      f.enc.writeFromF32(v, Array.from({ length: 37 }, () => 2));
      const after = await f.readF32(t);
      for (let i = 0; i < after.length; i++) {
        const want = i >= 128 ? 2 : all[i];
        if (after[i] !== want) throw new Error(`${d} element ${i} after the view write`);
      }
    }
  },
);
