import { Encoder } from "../../encoder.ts";
import type { MatmulKernel } from "../../kernel_policy.ts";
import { assertClose, GPU_TEST, type GpuFixture, gpuFixture, randomArray } from "../../testing.ts";
import { matmul, type MatmulOptions } from "./matmul.ts";
import { matmulRef } from "./matmul_ref.ts";

// Tolerances: inputs uniform in [-1, 1] (rounded to f32 before the f64 reference), K <= 300, so
// f32 accumulation error stays below ~1e-5; a missing or wrong term is off by ~0.1 or more.
const ATOL = 3e-5, RTOL = 1e-5;

interface Case {
  M: number;
  N: number;
  K: number;
  opts: MatmulOptions;
  /** Old contents of C: "random" (checked by beta 1) or "nan" (beta 0 must ignore it). */
  c0?: "random" | "nan";
}

const f32 = (x: ArrayLike<number>) => Float64Array.from(Float32Array.from(x));

/** Run one case on the GPU and compare all of C (gaps between batch strides included). */
async function check(f: GpuFixture, c: Case, seed: number, what: string): Promise<number> {
  const { M, N, K, opts } = c;
  const batch = opts.batch ?? 1;
  const sA = opts.strideA ?? M * K, sB = opts.strideB ?? K * N, sC = opts.strideC ?? M * N;
  const nA = (batch - 1) * sA + M * K, nB = (batch - 1) * sB + K * N;
  const nC = (batch - 1) * sC + M * N + 3; // 3 trailing elements must stay untouched
  const a = f32(randomArray(nA, seed)), b = f32(randomArray(nB, seed + 1));
  const c0 = c.c0 === "nan" ? new Float64Array(nC).fill(NaN) : f32(randomArray(nC, seed + 2));
  const A = f.upload(a, [nA]), B = f.upload(b, [nB]), C = f.upload(c0, [nC]);
  matmul(f.enc, C, A, B, M, N, K, opts);
  const got = await f.readF32(C);
  const want = matmulRef(c0, a, b, M, N, K, opts);
  // Untouched gaps keep their old values (NaN compares as NaN only to itself: fill with 0 first).
  const g = Float64Array.from(got, (v, i) => (Number.isNaN(v) && Number.isNaN(want[i]) ? 0 : v));
  const w = want.map((v) => (Number.isNaN(v) ? 0 : v));
  for (let i = 0; i < nC; i++) {
    if (Number.isNaN(got[i]) !== Number.isNaN(want[i])) {
      throw new Error(`${what}: element ${i}: got ${got[i]}, expected ${want[i]}`);
    }
  }
  for (const t of [A, B, C]) f.alloc.release(t);
  return assertClose(g, w, ATOL, RTOL, what);
}

const T = { transA: true }, NT = { transB: true }, TT = { transA: true, transB: true };

// Each layout at odd sizes (scalar loads), at multiples of 4 (vec4 loads), and mixed (vec4 along
// m / n with odd K). M or N > 128 spans several blocked workgroups; > 64 several tiles.
const LAYOUT_CASES: [string, Case][] = [
  ["NT odd", { M: 37, N: 29, K: 19, opts: NT }],
  ["NT vec4", { M: 52, N: 140, K: 24, opts: NT }],
  ["NN odd", { M: 37, N: 29, K: 19, opts: {} }],
  ["NN vec4", { M: 133, N: 36, K: 24, opts: {} }],
  ["NN odd K", { M: 33, N: 20, K: 13, opts: {} }],
  ["TN odd", { M: 37, N: 29, K: 19, opts: T }],
  ["TN vec4, odd K", { M: 132, N: 20, K: 13, opts: T }],
  ["TT odd", { M: 37, N: 29, K: 19, opts: TT }],
  ["TT vec4", { M: 52, N: 36, K: 24, opts: TT }],
];

const KERNELS: MatmulKernel[] = ["blocked", "tiled", "texture"];

/** A fixture whose policy runs `kernel` for every product. */
const fixtureFor = (kernel: MatmulKernel) => gpuFixture({ kernels: { matmul: kernel } });

for (const variant of KERNELS) {
  Deno.test(
    { name: `matmul ${variant}: every layout, odd and vec4 sizes`, ...GPU_TEST },
    async () => {
      const f = await fixtureFor(variant);
      let seed = 10;
      for (const [what, c] of LAYOUT_CASES) {
        await check(f, c, seed += 3, `${variant} ${what}`);
      }
    },
  );

  Deno.test({
    name: `matmul ${variant}: batch strides, broadcast B, alpha, beta 1, beta 0 over NaN`,
    ...GPU_TEST,
  }, async () => {
    const f = await fixtureFor(variant);
    // Strided batch (gaps in C must stay untouched), broadcast B, alpha and accumulation.
    await check(
      f,
      {
        M: 20,
        N: 12,
        K: 8,
        opts: {
          transB: true,
          batch: 3,
          strideA: 20 * 8 + 4,
          strideB: 0,
          strideC: 20 * 12 + 7,
          alpha: 0.5,
          beta: 1,
        },
      },
      100,
      `${variant} NT batched beta 1`,
    );
    // Odd strides (scalar loads), beta 0 over a NaN-filled C.
    await check(
      f,
      {
        M: 9,
        N: 12,
        K: 7,
        c0: "nan",
        opts: { batch: 2, strideA: 9 * 7 + 1, strideB: 7 * 12 + 5, alpha: -2 },
      },
      200,
      `${variant} NN batched beta 0 NaN`,
    );
    // The attention form: P^T dC batched over B*NH (TN), beta 0 over NaN.
    await check(
      f,
      {
        M: 12,
        N: 8,
        K: 12,
        c0: "nan",
        opts: { transA: true, batch: 4 },
      },
      300,
      `${variant} TN batched`,
    );
  });
}

Deno.test(
  { name: "matmul tiled: a policy tile whose staging does not divide its workgroup", ...GPU_TEST },
  async () => {
    // 12x16 outputs in 4x3 invocations of 4x4: B's 16x4 slice is 64 elements over 12
    // invocations (a guarded last round). NN and TT stage both operands both ways; M, N span
    // several tiles.
    const tile = { m: 12, n: 16, k: 4, tm: 4, tn: 4 };
    const f = await gpuFixture({ kernels: { matmul: "tiled", tile } });
    let seed = 50;
    for (const [what, c] of LAYOUT_CASES.filter(([w]) => /^(NN|TT) /.test(w))) {
      await check(f, c, seed += 3, `tiled 12x16x4/4x4 ${what}`);
    }
  },
);

Deno.test({ name: "matmul: operands over maxBindingBytes are chunked", ...GPU_TEST }, async () => {
  const cases: [string, Case][] = [
    // LM-head form: B = Wte [N,K] too big (split over n), C too big (split over m).
    ["NT split n, m", { M: 19, N: 300, K: 40, opts: { transB: true, maxBindingBytes: 8192 } }],
    // Weight-gradient form: A stored [K,M] and B [K,N] too big (split over k, accumulating).
    ["TN split k", {
      M: 24,
      N: 20,
      K: 301,
      opts: { transA: true, alpha: 2, beta: 1, maxBindingBytes: 8192 },
    }],
    // dx = dlogits Wte form: A [M,K] split over m, B [K,N] split over k; beta 0 over NaN.
    ["NN split m, k", {
      M: 30,
      N: 36,
      K: 201,
      c0: "nan",
      opts: { maxBindingBytes: 8192 },
    }],
    // Batched: the batch is split first.
    ["NT batched split", {
      M: 12,
      N: 16,
      K: 32,
      opts: { transB: true, batch: 5, strideB: 0, maxBindingBytes: 2048 },
    }],
  ];
  let seed = 400;
  for (const variant of KERNELS) {
    const f = await fixtureFor(variant);
    for (const [what, c] of cases) {
      const before = f.enc.dispatches;
      await check(f, c, seed += 3, `${variant} ${what}`);
      if (f.enc.dispatches - before < 2) throw new Error(`${variant} ${what}: was not chunked`);
    }
  }
});

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

/** An encoder that logs the kernel name of each dispatch. */
class NamingEncoder extends Encoder {
  names: string[] = [];
  override dispatch(...args: Parameters<Encoder["dispatch"]>): void {
    this.names.push(args[0].name);
    super.dispatch(...args);
  }
}

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

Deno.test(
  { name: "matmul auto: texture on the software adapter when big", ...GPU_TEST },
  async () => {
    const f = await gpuFixture();
    await check(f, { M: 160, N: 144, K: 100, opts: { transB: true } }, 900, "auto NT big");
    if (f.gpu.isSoftware && f.enc.scratchBytes === 0) {
      throw new Error("auto did not take the texture path on the software adapter");
    }
    await check(f, { M: 9, N: 7, K: 5, opts: {} }, 901, "auto small");
  },
);
