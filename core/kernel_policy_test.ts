import { TempoError } from "./errors.ts";
import { withKernels } from "./gpu.ts";
import {
  applyKernels,
  checkKernelFeatures,
  checkTileFits,
  DEFAULT_TILE,
  defaultKernels,
  describeKernels,
  GPU_TILE,
  kernelUnsupported,
  matmulKernelFor,
  parseKernels,
  parseTile,
  rowKernelFor,
  SMALL_GPU_TILE,
  sumRowsKernelFor,
  tileText,
} from "./kernel_policy.ts";
import { GPU_TEST, testGpu } from "./testing.ts";

function expectError(fn: () => unknown, pattern: RegExp, what: string): void {
  try {
    fn();
  } catch (e) {
    if (e instanceof TempoError && pattern.test(e.message)) return;
    throw new Error(`${what}: expected a TempoError matching ${pattern}, got ${e}`);
  }
  throw new Error(`${what}: no error`);
}

Deno.test("kernel policy: adapter defaults, and their shape limits", () => {
  const sw = defaultKernels({ isSoftware: true }), hw = defaultKernels({ isSoftware: false });
  const pick = (
    p: typeof sw,
  ) => [p.matmul, p.softmax, p.layernorm, p.crossEntropy, p.bias, p.geluTempo, p.gradNorm];
  if (pick(sw).join() !== "texture,row,row,row,blocked,grouped,partials") {
    throw new Error(`${pick(sw)}`);
  }
  if (pick(hw).join() !== "tiled,workgroup,workgroup,workgroup,element,ordered,workgroup") {
    throw new Error(`${pick(hw)}`);
  }
  // The software defaults hand over by shape; a real GPU's never do.
  const cases: [string, string, string][] = [
    [matmulKernelFor(sw, 32 ** 3 - 1), "blocked", "tiny product"],
    [matmulKernelFor(sw, 32 ** 3), "texture", "32^3"],
    [matmulKernelFor(sw, 32 ** 3, true), "blocked", "16-bit C, rows not 4-aligned"],
    [rowKernelFor(sw, "softmax", 2048), "row", "softmax 2048"],
    [rowKernelFor(sw, "softmax", 2049), "workgroup", "softmax 2049"],
    [rowKernelFor(sw, "layernorm", 4097), "workgroup", "layernorm 4097"],
    [rowKernelFor(sw, "crossEntropy", 65536), "row", "cross-entropy 65536"],
    [sumRowsKernelFor(sw, 1025), "element", "sumRows 1025"],
    [matmulKernelFor(hw, 1), "tiled", "GPU tiny product"],
    [matmulKernelFor(hw, 1 << 30, true), "tiled", "GPU 16-bit C, rows not 4-aligned"],
    [rowKernelFor(hw, "layernorm", 8), "workgroup", "GPU layernorm"],
  ];
  for (const [got, want, what] of cases) {
    if (got !== want) throw new Error(`${what}: ${got}, want ${want}`);
  }
  const line = "matmul=texture softmax=row layernorm=row crossEntropy=row bias=blocked " +
    "geluTempo=grouped attention=blocked gradNorm=partials";
  if (sw.label !== line || describeKernels(sw) !== line) throw new Error(sw.label);
});

Deno.test("kernel policy: subgroup row kernels on GPUs with subgroups, never on software", () => {
  const rows = (p: ReturnType<typeof defaultKernels>) =>
    [p.softmax, p.layernorm, p.crossEntropy].join();
  const hw = defaultKernels({ isSoftware: false, hasSubgroups: true });
  if (rows(hw) !== "subgroup,subgroup,subgroup") throw new Error(hw.label);
  if (hw.gradNorm !== "subgroup") throw new Error(`GPU gradient norm: ${hw.label}`);
  if (rowKernelFor(hw, "crossEntropy", 50257) !== "subgroup") throw new Error("GPU CE limited");
  if (
    rows(defaultKernels({ isSoftware: false, hasSubgroups: false })) !==
      "workgroup,workgroup,workgroup"
  ) {
    throw new Error("a GPU without subgroups took them");
  }
  // lavapipe grants subgroups: its measured defaults stay exactly as without them.
  const sw = defaultKernels({ isSoftware: true }),
    swSg = defaultKernels({ isSoftware: true, hasSubgroups: true });
  if (JSON.stringify(swSg) !== JSON.stringify(sw)) throw new Error(swSg.label);
  const p = applyKernels(
    sw,
    parseKernels("softmax=subgroup,layernorm=subgroup,crossEntropy=subgroup"),
  );
  if (
    rows(p) !== "subgroup,subgroup,subgroup" || rowKernelFor(p, "softmax", 1 << 16) !== "subgroup"
  ) {
    throw new Error(p.label);
  }
  checkKernelFeatures(p, { hasSubgroups: true });
  if (kernelUnsupported("softmax", "subgroup", { hasSubgroups: true }) !== "") {
    throw new Error("subgroup refused with subgroups");
  }
  if (kernelUnsupported("softmax", "workgroup", { hasSubgroups: false }) !== "") {
    throw new Error("workgroup refused without subgroups");
  }
  // Without the feature: one line naming the family, the feature and what to use instead.
  for (const f of ["softmax", "layernorm", "crossEntropy"] as const) {
    const q = applyKernels(sw, { [f]: "subgroup" });
    expectError(
      () => checkKernelFeatures(q, { hasSubgroups: false }),
      new RegExp(
        `^kernel policy: ${f}=subgroup needs the device feature 'subgroups', which this adapter lacks; use ${f}=workgroup$`,
      ),
      f,
    );
  }
});

Deno.test("kernel policy: an override runs its kernel at every shape and says so", () => {
  const sw = defaultKernels({ isSoftware: true });
  const p = applyKernels(sw, parseKernels(" matmul=texture, layernorm=row ,bias=blocked"));
  if (matmulKernelFor(p, 1) !== "texture") throw new Error("texture override kept the limit");
  // ... but not its capability: the texture kernel stores 16-bit C in quads only.
  if (matmulKernelFor(p, 1, true) !== "blocked") throw new Error("texture took unaligned 16-bit C");
  if (rowKernelFor(p, "layernorm", 1 << 20) !== "row") throw new Error("row override limited");
  if (sumRowsKernelFor(p, 1 << 20) !== "blocked") throw new Error("blocked override limited");
  // Families not named keep their defaults and limits.
  if (rowKernelFor(p, "softmax", 4096) !== "workgroup") throw new Error("softmax limit lost");
  const line = p.label;
  if (!line.includes("(override: matmul=texture,layernorm=row,bias=blocked)")) {
    throw new Error(line);
  }
  const tiled = applyKernels(p, parseKernels("matmul=tiled,tile=128x64x8/8x4"));
  const t = tiled.tile;
  if (t.m !== 128 || t.n !== 64 || t.k !== 8 || t.tn !== 4 || t.vec4 || t.buffers !== 1) {
    throw new Error(JSON.stringify(t));
  }
  if (!describeKernels(tiled).startsWith("matmul=tiled 128x64x8/8x4 ")) {
    throw new Error(describeKernels(tiled));
  }
  // Flags in any order; the spelling round-trips.
  for (const text of ["64x32x16/4x8/vec4/db", "64x32x16/4x8/db/vec4"]) {
    const u = parseTile(text);
    if (!u.vec4 || u.buffers !== 2 || tileText(u) !== "64x32x16/4x8/vec4/db") {
      throw new Error(`${text}: ${JSON.stringify(u)}`);
    }
  }
  if (tileText(GPU_TILE) !== "128x128x8/8x8/vec4/db") throw new Error(tileText(GPU_TILE));
  const blocked = applyKernels(p, parseKernels("matmul=blocked,block=16x16"));
  if (blocked.block.tm !== 16 || !blocked.label.startsWith("matmul=blocked 16x16 ")) {
    throw new Error(blocked.label);
  }
  if (Object.keys(parseKernels("")).length !== 0) throw new Error("empty is not 'no override'");
});

Deno.test("kernel policy: bad overrides fail with one line naming the valid choices", () => {
  const cases: [string, RegExp][] = [
    ["matmull=blocked", /unknown op family 'matmull'; valid: matmul, softmax, .*tile, block/],
    ["matmul=fast", /unknown matmul kernel 'fast'; valid: texture, blocked, tiled/],
    ["layernorm=rows", /valid: row, workgroup/],
    ["matmul", /'matmul' is not family=kernel/],
    ["softmax=row,softmax=workgroup", /'softmax' is given twice/],
    ["tile=64x64", /tile '64x64' is not MxNxK\/TMxTN/],
    ["tile=64x64x16/5x4", /tm must divide m/],
    ["tile=64x64x16/2x2", /tm and tn must be multiples of 4/],
    ["tile=64x64x6/4x4/vec4", /vec4 needs k a multiple of 4/],
    ["tile=64x64x8/4x4/vec8", /tile '64x64x8\/4x4\/vec8' is not MxNxK\/TMxTN\[\/vec4\]\[\/db\]/],
    ["tile=64x64x8/4x4/db/db", /repeats a flag/],
    ["tile=512x512x8/4x4", /needs 16384 invocations/],
    ["block=6x8", /block tm must be a multiple of 4 from 4 to 32, got 6/],
    ["block=8", /block '8' is not TMxTN/],
  ];
  for (const [text, pattern] of cases) expectError(() => parseKernels(text), pattern, text);
  const sw = defaultKernels({ isSoftware: true });
  expectError(
    () => applyKernels(sw, { bias: "rows" as never }),
    /unknown bias kernel 'rows'; valid: blocked, element/,
    "applyKernels",
  );
  const small = {
    maxComputeInvocationsPerWorkgroup: 256,
    maxComputeWorkgroupSizeX: 256,
    maxComputeWorkgroupSizeY: 256,
    maxComputeWorkgroupStorageSize: 16384,
  };
  // WebGPU's default limits take the small GPU tile; the GPU tile (16.5 KiB staged) needs more.
  checkTileFits(SMALL_GPU_TILE, small);
  const hw = defaultKernels({ isSoftware: false, workgroup: small });
  if (hw.tile !== SMALL_GPU_TILE) throw new Error(`small device: ${JSON.stringify(hw.tile)}`);
  const big = { ...small, maxComputeWorkgroupStorageSize: 32768 };
  if (defaultKernels({ isSoftware: false, workgroup: big }).tile !== DEFAULT_TILE) {
    throw new Error("a 32 KiB device does not take the GPU tile");
  }
  expectError(
    () => checkTileFits(GPU_TILE, small),
    /stages 16896 bytes in workgroup memory; this device allows 16384/,
    "workgroup memory",
  );
  expectError(
    () => checkTileFits(parseTile("128x128x8/4x4"), small),
    /needs 1024 invocations per workgroup; this device allows 256/,
    "invocations",
  );
});

// TEMPO_KERNELS itself is read once per process by acquireGpu: cli/selfcheck_test.ts sets it for
// subprocesses (a test here must not change the process environment that other test files, run
// in parallel in this process, read).
Deno.test(
  { name: "withKernels gives a view of the same device with another policy", ...GPU_TEST },
  async () => {
    const gpu = await testGpu();
    const view = withKernels(gpu, { matmul: "blocked", softmax: "workgroup", bias: "element" });
    const k = view.kernels;
    if (k.matmul !== "blocked" || k.softmax !== "workgroup" || k.bias !== "element") {
      throw new Error(k.label);
    }
    if (k.overrides !== "matmul=blocked,softmax=workgroup,bias=element") {
      throw new Error(
        k.overrides,
      );
    }
    if (view.device !== gpu.device || view.errors !== gpu.errors) {
      throw new Error("a view must share the device and the error list");
    }
    if (gpu.kernels.overrides !== withKernels(gpu, {}).kernels.overrides) {
      throw new Error("withKernels changed the original");
    }
    // A subgroup kernel on a device without subgroups is refused by name (not at dispatch).
    expectError(
      () => withKernels({ ...gpu, hasSubgroups: false }, { layernorm: "subgroup" }),
      /layernorm=subgroup needs the device feature 'subgroups'/,
      "withKernels without subgroups",
    );
    if (gpu.hasSubgroups) {
      const sg = withKernels(gpu, { layernorm: "subgroup" });
      if (sg.kernels.layernorm !== "subgroup") throw new Error(sg.kernels.label);
    }
  },
);
