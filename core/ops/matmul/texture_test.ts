import { Encoder } from "../../encoder.ts";
import { GPU_TEST, type GpuFixture } from "../../testing.ts";
import { matmul } from "./matmul.ts";
import {
  type Case,
  check,
  checkBatched,
  checkChunked,
  fixtureFor,
  HALF_CASES,
  LAYOUT_CASES,
  NamingEncoder,
  namingFixture,
} from "./testing.ts";

Deno.test({ name: "matmul texture: every layout, odd and vec4 sizes", ...GPU_TEST }, async () => {
  const f = await fixtureFor("texture");
  let seed = 10;
  for (const [what, c] of LAYOUT_CASES) await check(f, c, seed += 3, `texture ${what}`);
});

Deno.test({
  name: "matmul texture: batch strides, broadcast B, alpha, beta 1, beta 0 over NaN",
  ...GPU_TEST,
}, async () => await checkBatched(await fixtureFor("texture"), "texture"));

Deno.test(
  { name: "matmul texture: operands over maxBindingBytes are chunked", ...GPU_TEST },
  async () => await checkChunked(await fixtureFor("texture"), "texture"),
);

Deno.test({
  name: "matmul texture: chunks over batch, m, n and k, copies, wrapped lines",
  ...GPU_TEST,
}, async () => {
  const f = await fixtureFor("texture");
  // How each case must be recorded: several products (chunked), copies only (one dispatch),
  // or one product with packing kernels (three dispatches).
  const cases: [string, Case, "chunked" | "copied" | "single"][] = [
    // 8 KiB per packed operand = 512 texels: K=40 (10 texels) -> 51 rows -> one item of 32.
    ["NT over batch", {
      M: 20,
      N: 12,
      K: 40,
      opts: { transB: true, batch: 5, maxScratchBytes: 8192 },
    }, "chunked"],
    ["NN over m and n, beta 1", {
      M: 70,
      N: 50,
      K: 33,
      opts: { alpha: 0.5, beta: 1, maxScratchBytes: 8192 },
    }, "chunked"],
    ["TN broadcast B over batch and m", {
      M: 44,
      N: 20,
      K: 12,
      opts: { transA: true, batch: 3, strideB: 0, maxScratchBytes: 2048 },
    }, "chunked"],
    // Width 4 texels: K = 37 is split into k chunks of 16 (accumulating), rows wrap every line.
    ["TT over k, beta 0 over NaN", {
      M: 21,
      N: 19,
      K: 37,
      c0: "nan",
      opts: { transA: true, transB: true, maxTextureWidth: 4 },
    }, "chunked"],
    // LM-head form (small M, N; long K): split over k, not n. 64 KiB = 4096 texels: all 48
    // packed rows fit with 85 texels -> k chunks of 340 (K % 4 != 0: the last one is partial).
    ["NN LM-head over k", {
      M: 30,
      N: 40,
      K: 1001,
      c0: "nan",
      opts: { maxScratchBytes: 65536 },
    }, "chunked"],
    // Not even 32 rows fit at full k (1 KiB = 64 texels): k chunks of 8.
    ["NT tiny scratch over k", {
      M: 9,
      N: 7,
      K: 30,
      opts: { transB: true, maxScratchBytes: 1024 },
    }, "chunked"],
    // Packed by copies (k contiguous, K % 4 == 0): several lines and a partial one; then batch
    // items back to back (M, N multiples of the block) in one copy each.
    ["NT copied over lines", {
      M: 41,
      N: 38,
      K: 32,
      opts: { transB: true, maxTextureWidth: 32 },
    }, "copied"],
    [
      "NT copied batched",
      { M: 32, N: 16, K: 16, opts: { transB: true, batch: 3, beta: 1 } },
      "copied",
    ],
    // Packing kernel with rows wrapping every 2 lines (K = 24: P = 6, 2 rows per 16-texel line).
    [
      "NN rows wrap lines",
      { M: 40, N: 36, K: 24, opts: { alpha: -1, maxTextureWidth: 16 } },
      "single",
    ],
  ];
  let seed = 700;
  for (const [what, c, how] of cases) {
    const before = f.enc.dispatches;
    await check(f, c, seed += 3, what);
    const n = f.enc.dispatches - before;
    const ok = how === "chunked" ? n > 3 : how === "copied" ? n === 1 : n === 3;
    if (!ok) throw new Error(`${what}: ${n} dispatches, expected ${how}`);
  }
  // The scratch textures stay within the limits asked for (plus size-class rounding).
  const enc = new Encoder(f.gpu);
  const A = f.alloc.alloc([64 * 64], "f32", "workspace", "A");
  const C = f.alloc.alloc([64 * 64], "f32", "workspace", "C");
  matmul(enc, C, A, A, 64, 64, 64, { transB: true, maxScratchBytes: 8192 });
  await enc.sync();
  if (enc.scratchBytes > 2 * 8192 * 1.125) {
    throw new Error(`scratch ${enc.scratchBytes} bytes over 2 x 8192`);
  }
  if (enc.backendBytes < enc.scratchBytes) throw new Error("backendBytes misses the scratch");
});

Deno.test({
  name: "matmul texture: operands stored along m or n are packed in their natural layout",
  ...GPU_TEST,
}, async () => {
  const base = await fixtureFor("texture");
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
  // A stored [K, M] (transA) and B stored [K, N] (no transB) go into the textures one row per k,
  // with no transpose: TN, NN and TT kernels. Per case: the layout kernel expected, and whether
  // every operand is packed by a copy (no packing kernel: k chunks of a multiple of 4, whole
  // aligned rows, 256-byte line pitch) or some need the zero-filling packing kernel.
  const cases: [string, Case, string, "copies" | "packed"][] = [
    // Batched with a strided A (packed) and a broadcast B (copied); M, N pad to 32 and 16.
    [
      "TN batched, padded rows",
      {
        M: 20,
        N: 12,
        K: 8,
        c0: "nan",
        opts: { transA: true, batch: 3, strideB: 0, strideA: 8 * 20 + 4 },
      },
      "_tn",
      "packed",
    ],
    ["NN, B natural", { M: 36, N: 44, K: 16, opts: { alpha: 0.5, beta: 1 } }, "_nn", "copies"],
    [
      "TT, A natural",
      { M: 52, N: 36, K: 24, opts: { transA: true, transB: true } },
      "_tt",
      "copies",
    ],
    // The dW form of a Linear (K = tokens) with rows wrapping lines (A's pitch is not 256-aligned).
    [
      "TN dW form, wrapped lines",
      {
        M: 44,
        N: 64,
        K: 64,
        opts: { transA: true, maxTextureWidth: 64 },
      },
      "_tn",
      "packed",
    ],
    // The tied LM head's dh = dLogits W (K = V): k chunks of 340 and a partial last one, whose
    // padding k rows the packing kernel zero-fills.
    [
      "NN over k, K % 4 != 0",
      {
        M: 30,
        N: 40,
        K: 1001,
        c0: "nan",
        opts: { maxScratchBytes: 65536 },
      },
      "_nn",
      "packed",
    ],
    // Rows wider than the texture (10 texels, 4 wide): the transposing packing kernel instead.
    [
      "TN rows wider than a texture line",
      {
        M: 40,
        N: 8,
        K: 12,
        opts: { transA: true, maxTextureWidth: 4 },
      },
      "pack_r4",
      "packed",
    ],
  ];
  let seed = 1300;
  for (const [what, c, layout, how] of cases) {
    enc.names = [];
    await check(f, c, seed += 3, what);
    const names = enc.names.join(" ");
    const packed = enc.names.some((n) => n.startsWith("matmul_pack"));
    const r4 = names.includes("matmul_pack_r4");
    if (!names.includes(layout) || r4 !== (layout === "pack_r4") || packed !== (how === "packed")) {
      throw new Error(`${what}: dispatched ${names}; expected ${layout} kernels, ${how}`);
    }
  }
});

Deno.test({ name: "matmul texture: 16-bit operands and outputs", ...GPU_TEST }, async () => {
  // f16 operands go into rgba16float textures (copied where their layout allows), bf16 ones are
  // packed into rgba32float; 16-bit C is stored in quads, and 16-bit C whose rows are not
  // 4-aligned runs the blocked kernel instead (the cases marked so).
  const f = namingFixture(await fixtureFor("texture"));
  let seed = 1700, copiedF16 = false;
  for (const [what, c] of HALF_CASES) {
    f.enc.names = [];
    await check(f, c, seed += 3, `texture ${what}`);
    const names = f.enc.names.join(" ");
    const want = /texture: blocked/.test(what) ? "matmul_blocked" : "matmul_texture";
    const ok = f.enc.names.every((n) =>
      n.startsWith(want) || (want === "matmul_texture" && /^(matmul_pack|\(copy)/.test(n))
    );
    if (!ok) throw new Error(`${what}: dispatched ${names}; expected ${want}`);
    copiedF16 ||= c.dtypes?.B === "f16" && names.includes("(copy to texture)");
  }
  if (!copiedF16) throw new Error("no f16 operand was copied into an rgba16float texture");
});
