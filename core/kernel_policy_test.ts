import { TempoError } from "./errors.ts";
import { withKernels } from "./gpu.ts";
import {
  applyKernels,
  checkTileFits,
  DEFAULT_TILE,
  defaultKernels,
  describeKernels,
  matmulKernelFor,
  parseKernels,
  rowKernelFor,
  sumRowsKernelFor,
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
  ) => [p.matmul, p.softmax, p.layernorm, p.crossEntropy, p.bias, p.geluTempo];
  if (pick(sw).join() !== "texture,row,row,row,blocked,grouped") throw new Error(`${pick(sw)}`);
  if (pick(hw).join() !== "tiled,workgroup,workgroup,workgroup,element,ordered") {
    throw new Error(`${pick(hw)}`);
  }
  // The software defaults hand over by shape; a real GPU's never do.
  const cases: [string, string, string][] = [
    [matmulKernelFor(sw, 32 ** 3 - 1), "blocked", "tiny product"],
    [matmulKernelFor(sw, 32 ** 3), "texture", "32^3"],
    [rowKernelFor(sw, "softmax", 2048), "row", "softmax 2048"],
    [rowKernelFor(sw, "softmax", 2049), "workgroup", "softmax 2049"],
    [rowKernelFor(sw, "layernorm", 4097), "workgroup", "layernorm 4097"],
    [rowKernelFor(sw, "crossEntropy", 65536), "row", "cross-entropy 65536"],
    [sumRowsKernelFor(sw, 1025), "element", "sumRows 1025"],
    [matmulKernelFor(hw, 1), "tiled", "GPU tiny product"],
    [rowKernelFor(hw, "layernorm", 8), "workgroup", "GPU layernorm"],
  ];
  for (const [got, want, what] of cases) {
    if (got !== want) throw new Error(`${what}: ${got}, want ${want}`);
  }
  const line = "matmul=texture softmax=row layernorm=row crossEntropy=row bias=blocked " +
    "geluTempo=grouped attention=blocked";
  if (sw.label !== line || describeKernels(sw) !== line) throw new Error(sw.label);
});

Deno.test("kernel policy: an override runs its kernel at every shape and says so", () => {
  const sw = defaultKernels({ isSoftware: true });
  const p = applyKernels(sw, parseKernels(" matmul=texture, layernorm=row ,bias=blocked"));
  if (matmulKernelFor(p, 1) !== "texture") throw new Error("texture override kept the limit");
  if (rowKernelFor(p, "layernorm", 1 << 20) !== "row") throw new Error("row override limited");
  if (sumRowsKernelFor(p, 1 << 20) !== "blocked") throw new Error("blocked override limited");
  // Families not named keep their defaults and limits.
  if (rowKernelFor(p, "softmax", 4096) !== "workgroup") throw new Error("softmax limit lost");
  const line = p.label;
  if (!line.includes("(override: matmul=texture,layernorm=row,bias=blocked)")) {
    throw new Error(line);
  }
  const tiled = applyKernels(p, parseKernels("matmul=tiled,tile=128x64x8/8x4"));
  if (tiled.tile.m !== 128 || tiled.tile.n !== 64 || tiled.tile.k !== 8 || tiled.tile.tn !== 4) {
    throw new Error(JSON.stringify(tiled.tile));
  }
  if (!describeKernels(tiled).startsWith("matmul=tiled 128x64x8/8x4 ")) {
    throw new Error(describeKernels(tiled));
  }
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
    ["tile=512x512x8/1x1", /needs 262144 invocations/],
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
  checkTileFits(DEFAULT_TILE, small);
  expectError(
    () => checkTileFits({ m: 128, n: 128, k: 32, tm: 8, tn: 8 }, small),
    /stages 32768 bytes in workgroup memory; this device allows 16384/,
    "workgroup memory",
  );
  expectError(
    () => checkTileFits({ m: 64, n: 64, k: 8, tm: 2, tn: 2 }, small),
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
  },
);
