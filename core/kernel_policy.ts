/**
 * The kernel policy: which kernel variant each op family runs, decided in one place. Every
 * variant computes the same result (each is tested against the same TypeScript reference); they
 * differ in how work maps onto invocations, which is what the two kinds of adapter reward
 * differently. Mesa's llvmpipe (the software adapter) runs a workgroup as one CPU thread of
 * 8 SIMD lanes: barriers and idle lanes are expensive, a storage-buffer load costs per lane, a
 * texel load does not. A real GPU wants workgroups sharing tiles and reductions in workgroup
 * memory.
 *
 * - `defaultKernels(adapter)` derives the policy from the adapter (the one place that does);
 * - `TEMPO_KERNELS` overrides it (`parseKernels`, strict: an unknown op or variant is an error
 *   naming the valid ones), e.g. `TEMPO_KERNELS="matmul=blocked,layernorm=workgroup"`;
 * - tests and benchmarks take a view of a Gpu with an override (`withKernels` in gpu.ts).
 * The Gpu carries the policy (`gpu.kernels`); ops read it through `enc.gpu`.
 *
 * Variant names say what one invocation (or workgroup) computes, the same words in every family:
 * `row` one invocation per row, `workgroup` one workgroup per row, `subgroup` one workgroup per row
 * reducing with subgroup operations, `blocked` a block of outputs per invocation in registers,
 * `element` one output per invocation.
 * @module
 */
import { TempoError } from "./errors.ts";

/**
 * matmul: `texture` (operands packed into rgba32float textures, 32x16 outputs per invocation:
 * the software adapter), `blocked` (a block of `KernelPolicy.block` outputs per invocation from
 * buffers, no shared memory), `tiled` (shared-memory tiles of `KernelPolicy.tile`: real GPUs).
 */
export type MatmulKernel = "texture" | "blocked" | "tiled";

/**
 * Softmax, LayerNorm (baseline and Tempo), cross-entropy: `row` (one invocation per row: the
 * software adapter), `workgroup` (one workgroup per row, tree reductions in workgroup memory) or
 * `subgroup` (one workgroup per row reducing with subgroupAdd/subgroupMax within subgroups and
 * workgroup memory only across them: needs the device feature `subgroups`).
 */
export type RowKernel = "row" | "workgroup" | "subgroup";

/**
 * Bias ops: `blocked` (addBias: one bias vec4 added to 8 rows per invocation; sumRows: 4 columns
 * per invocation; both need n % 4 == 0, else `element`), `element` (one output element or vec4
 * per invocation, sumRows one column per invocation).
 */
export type BiasKernel = "blocked" | "element";

/**
 * Tempo GELU bit-mask backward: `grouped` (a mask word's right-branch elements first, then its
 * left-branch ones: neighbouring SIMD lanes take the same branch) or `ordered` (elements in
 * order). The same bits either way; byte masks are always `ordered`.
 */
export type GeluTempoOrder = "grouped" | "ordered";

/**
 * Gradient norm (core/ops/grad_norm.ts): `partials` (no workgroup reduction in the first pass:
 * one partial per invocation, for llvmpipe, where every barrier switches coroutines), `workgroup`
 * (the first pass reduces each workgroup in workgroup memory to one partial: 64x fewer for the
 * one-workgroup finish to read) or `subgroup` (both passes reduce with subgroupAdd: needs the
 * device feature `subgroups`).
 */
export type GradNormKernel = "partials" | "workgroup" | "subgroup";

/**
 * Fused attention (core/ops/flash_attention.ts): `blocked` (a block of rows per invocation in
 * registers, no workgroup memory: the software adapter) or `tiled` (a workgroup of rows sharing
 * tiles of the other side staged in workgroup memory: real GPUs).
 */
export type AttentionKernel = "blocked" | "tiled";

/**
 * Tile of the `tiled` matmul (the register-tiled kernel for real GPUs, `core/ops/matmul/tiled.ts`):
 * a workgroup computes an m x n block of C, staging k-slices of A [m, k] and B [k, n] through
 * workgroup memory; each invocation accumulates tm x tn outputs in registers, so the workgroup is
 * (n / tn) x (m / tm) invocations. `vec4` reads an operand from memory 4 elements at a time where
 * its layout allows; `buffers` 2 double-buffers the staging (the next slice is loaded into
 * registers while the current one is multiplied: one barrier per slice instead of two).
 * Spelled `MxNxK/TMxTN[/vec4][/db]` (`tileText`), e.g. `128x128x8/8x8/vec4/db`.
 */
export interface MatmulTile {
  /** Rows of C per workgroup (BM). */
  readonly m: number;
  /** Columns of C per workgroup (BN). */
  readonly n: number;
  /** k per staged slice (BK). */
  readonly k: number;
  /** Rows of C per invocation (TM: a multiple of 4 dividing m). */
  readonly tm: number;
  /** Columns of C per invocation (TN: a multiple of 4 dividing n). */
  readonly tn: number;
  /** Read operands as 4-element vectors where their layout allows (needs k % 4 == 0). */
  readonly vec4: boolean;
  /** Staging buffers in workgroup memory: 1, or 2 (double buffering). */
  readonly buffers: 1 | 2;
}

/** Block of the `blocked` matmul: outputs per invocation in registers (multiples of 4). */
export interface MatmulBlock {
  /** Rows of C per invocation. */
  readonly tm: number;
  /** Columns of C per invocation. */
  readonly tn: number;
}

/**
 * Where an adapter default hands a family over to another kernel by shape (measured on
 * llvmpipe, 2 cores). Only `defaultKernels` sets them; naming a family in an override removes
 * its limit, so that an override always runs the kernel it names.
 */
export interface KernelLimits {
  /**
   * matmul `texture`: products of fewer multiply-adds (M*N*K*batch) take `blocked` (both are
   * dispatch overhead there, and blocked needs no scratch texture or pass break).
   */
  readonly textureMinMacs?: number;
  /** Softmax `row`: longest row (keys); longer rows take `workgroup`. */
  readonly softmaxRowMax?: number;
  /** LayerNorm `row`: longest row (channels); longer rows take `workgroup`. */
  readonly layernormRowMax?: number;
  /** Cross-entropy `row`: longest row (vocabulary); longer rows take `workgroup`. */
  readonly crossEntropyRowMax?: number;
  /** sumRows `blocked`: widest n (at n = 3072 the element kernel was faster: 0.8-0.9x). */
  readonly sumRowsBlockedMax?: number;
}

/** The kernel of each op family, the matmul kernels' tile and block, the defaults' limits. */
export interface KernelPolicy {
  /** matmul (all layouts, batched). */
  readonly matmul: MatmulKernel;
  /** The `tiled` matmul's tile. */
  readonly tile: MatmulTile;
  /** The `blocked` matmul's block. */
  readonly block: MatmulBlock;
  /** Attention softmax forward and backward. */
  readonly softmax: RowKernel;
  /** LayerNorm forward, backward and the Tempo backward. */
  readonly layernorm: RowKernel;
  /** Fused softmax cross-entropy. */
  readonly crossEntropy: RowKernel;
  /** addBias and sumRows. */
  readonly bias: BiasKernel;
  /** Element order of the Tempo GELU bit-mask backward. */
  readonly geluTempo: GeluTempoOrder;
  /** Fused attention forward and backward. */
  readonly attention: AttentionKernel;
  /** The global gradient norm's reductions. */
  readonly gradNorm: GradNormKernel;
  /** Shape limits of the adapter defaults (see KernelLimits). */
  readonly limits: KernelLimits;
  /** The override applied on top of the adapter defaults, normalised ("" when none). */
  readonly overrides: string;
  /**
   * One short line for headers (`describeKernels`): derived, so build policies with
   * `defaultKernels` and `applyKernels`, which keep it current.
   */
  readonly label: string;
}

/** The op families an override may name, with their valid kernels. */
export const KERNEL_FAMILIES = {
  matmul: ["texture", "blocked", "tiled"],
  softmax: ["row", "workgroup", "subgroup"],
  layernorm: ["row", "workgroup", "subgroup"],
  crossEntropy: ["row", "workgroup", "subgroup"],
  bias: ["blocked", "element"],
  geluTempo: ["grouped", "ordered"],
  attention: ["blocked", "tiled"],
  gradNorm: ["partials", "workgroup", "subgroup"],
} as const satisfies Record<string, readonly string[]>;

/** An op family's name. */
export type KernelFamily = keyof typeof KERNEL_FAMILIES;

/**
 * An override of some families' kernels, the tile and the block (for tests, benchmarks,
 * TEMPO_KERNELS).
 */
export type KernelOverrides = Partial<Pick<KernelPolicy, KernelFamily | "tile" | "block">>;

/**
 * The tiled matmul's tile on GPUs: 128x128 outputs per workgroup of 16x16 invocations, each 8x8,
 * k-slices of 8, vec4 loads, double-buffered (the classic SGEMM register-blocking shape: 64
 * multiply-adds per 4 vec4 reads of workgroup memory; 16.5 KiB of it). A device run picks among
 * settings with bench/device.sh.
 */
export const GPU_TILE: MatmulTile = { m: 128, n: 128, k: 8, tm: 8, tn: 8, vec4: true, buffers: 2 };

/**
 * The tile for devices whose workgroups cannot hold GPU_TILE (WebGPU's default limits: 256
 * invocations, 16 KiB of workgroup memory): 64x64 in 16x16 invocations of 4x4 (8.5 KiB).
 */
export const SMALL_GPU_TILE: MatmulTile = {
  m: 64,
  n: 64,
  k: 8,
  tm: 4,
  tn: 4,
  vec4: true,
  buffers: 2,
};

/** The tiled matmul's default tile (GPU_TILE). */
export const DEFAULT_TILE: MatmulTile = GPU_TILE;

/**
 * The blocked matmul's default block, 8x8: by default it runs only the products too small for
 * the texture kernel (under 32^3 multiply-adds), which are dispatch-bound, and there 8x8 is as
 * fast as 16x16 with a tenth of its cold compile (measured on llvmpipe: docs/design.md).
 */
export const DEFAULT_BLOCK: MatmulBlock = { tm: 8, tn: 8 };

/** What the default policy depends on. */
export interface AdapterKind {
  /** A software adapter (llvmpipe / lavapipe / SwiftShader). */
  isSoftware: boolean;
  /** The device's workgroup limits: the GPU tile is GPU_TILE where it fits, else SMALL_GPU_TILE. */
  workgroup?: WorkgroupLimits;
  /** The device has `subgroups` (default false): GPUs then take the `subgroup` row kernels. */
  hasSubgroups?: boolean;
}

/**
 * The adapter's default policy: on a software adapter the texture matmul (blocked below 32^3
 * multiply-adds), row-per-invocation kernels (softmax up to 2048 keys, LayerNorm up to 4096
 * channels, cross-entropy up to 65536 classes), blocked bias kernels (sumRows up to n = 1024),
 * the grouped GELU order, blocked fused attention and the `partials` gradient norm; on other
 * adapters the tiled matmul (GPU_TILE, or SMALL_GPU_TILE where the workgroup limits are too small
 * for it), workgroup-per-row kernels and gradient-norm reductions (`subgroup` where the device has
 * subgroups, else `workgroup`), element bias kernels, the ordered GELU and tiled fused attention.
 * A software adapter keeps
 * `row` even with subgroups (llvmpipe grants them; its defaults are measured, docs/design.md).
 */
export function defaultKernels(adapter: AdapterKind): KernelPolicy {
  const p = adapterDefaults(adapter);
  return { ...p, label: describeKernels(p) };
}

function adapterDefaults(adapter: AdapterKind): Omit<KernelPolicy, "label"> {
  if (adapter.isSoftware) {
    return {
      matmul: "texture",
      tile: DEFAULT_TILE,
      block: DEFAULT_BLOCK,
      softmax: "row",
      layernorm: "row",
      crossEntropy: "row",
      bias: "blocked",
      geluTempo: "grouped",
      attention: "blocked",
      gradNorm: "partials",
      limits: {
        textureMinMacs: 32 ** 3,
        softmaxRowMax: 2048,
        layernormRowMax: 4096,
        crossEntropyRowMax: 1 << 16,
        sumRowsBlockedMax: 1024,
      },
      overrides: "",
    };
  }
  const fits = !adapter.workgroup || tileFits(GPU_TILE, adapter.workgroup) === "";
  const rows: RowKernel = adapter.hasSubgroups ? "subgroup" : "workgroup";
  return {
    matmul: "tiled",
    tile: fits ? GPU_TILE : SMALL_GPU_TILE,
    block: DEFAULT_BLOCK,
    softmax: rows,
    layernorm: rows,
    crossEntropy: rows,
    bias: "element",
    geluTempo: "ordered",
    attention: "tiled",
    gradNorm: adapter.hasSubgroups ? "subgroup" : "workgroup",
    limits: {},
    overrides: "",
  };
}

/** The limits each family's override removes. */
const LIMITS_OF: Record<KernelFamily, readonly (keyof KernelLimits)[]> = {
  matmul: ["textureMinMacs"],
  softmax: ["softmaxRowMax"],
  layernorm: ["layernormRowMax"],
  crossEntropy: ["crossEntropyRowMax"],
  bias: ["sumRowsBlockedMax"],
  geluTempo: [],
  attention: [],
  gradNorm: [],
};

const SYNTAX =
  "TEMPO_KERNELS=family=kernel,... e.g. TEMPO_KERNELS=matmul=blocked,layernorm=workgroup";

function bad(what: string, source = "kernel override"): never {
  throw new TempoError(`${source}: ${what}`, `the syntax is ${SYNTAX}`);
}

function checkTile(t: MatmulTile, source?: string): MatmulTile {
  for (const k of ["m", "n", "k", "tm", "tn"] as const) {
    if (!Number.isInteger(t[k]) || t[k] < 1) {
      bad(`tile ${k} must be a positive integer, got ${t[k]}`, source);
    }
  }
  if (t.m % t.tm !== 0 || t.n % t.tn !== 0) {
    bad(`tile ${tileText(t)}: tm must divide m and tn must divide n`, source);
  }
  if (t.tm % 4 !== 0 || t.tn % 4 !== 0) {
    bad(`tile ${tileText(t)}: tm and tn must be multiples of 4 (vec4 registers)`, source);
  }
  if (t.vec4 && t.k % 4 !== 0) bad(`tile ${tileText(t)}: vec4 needs k a multiple of 4`, source);
  if (t.buffers !== 1 && t.buffers !== 2) {
    bad(`tile buffers must be 1 or 2, got ${t.buffers}`, source);
  }
  const invocations = (t.m / t.tm) * (t.n / t.tn);
  if (invocations > 1024) {
    bad(`tile ${tileText(t)} needs ${invocations} invocations (max 1024)`, source);
  }
  return t;
}

/** What a device allows a workgroup (GPUSupportedLimits' names). */
export interface WorkgroupLimits {
  /** Invocations per workgroup. */
  readonly maxComputeInvocationsPerWorkgroup: number;
  /** Workgroup size along x. */
  readonly maxComputeWorkgroupSizeX: number;
  /** Workgroup size along y. */
  readonly maxComputeWorkgroupSizeY: number;
  /** Bytes of workgroup memory. */
  readonly maxComputeWorkgroupStorageSize: number;
}

/**
 * Workgroup-memory layout of the tiled matmul's staging: per buffer, k rows of m / 4 + 1 vec4 of
 * A (m along the row, one vec4 of padding so that an operand stored along k, scattered into it,
 * does not hit the same banks every 4 k) and k rows of n / 4 + 1 vec4 of B.
 */
export function tileLayout(t: MatmulTile): { rowA: number; rowB: number; bytes: number } {
  const rowA = t.m / 4 + 1, rowB = t.n / 4 + 1;
  return { rowA, rowB, bytes: 16 * t.buffers * t.k * (rowA + rowB) };
}

/** Why the tiled matmul with tile `t` does not fit a workgroup on this device ("" if it does). */
function tileFits(t: MatmulTile, limits: WorkgroupLimits): string {
  const x = t.n / t.tn, y = t.m / t.tm, bytes = tileLayout(t).bytes;
  if (x * y > limits.maxComputeInvocationsPerWorkgroup) {
    return `tile ${tileText(t)} needs ${
      x * y
    } invocations per workgroup; this device allows ${limits.maxComputeInvocationsPerWorkgroup}`;
  }
  if (x > limits.maxComputeWorkgroupSizeX || y > limits.maxComputeWorkgroupSizeY) {
    return `tile ${
      tileText(t)
    } needs a ${x}x${y} workgroup; this device allows ${limits.maxComputeWorkgroupSizeX}x${limits.maxComputeWorkgroupSizeY}`;
  }
  if (bytes > limits.maxComputeWorkgroupStorageSize) {
    return `tile ${
      tileText(t)
    } stages ${bytes} bytes in workgroup memory; this device allows ${limits.maxComputeWorkgroupStorageSize}`;
  }
  return "";
}

/** What a device offers that some kernels need (a Gpu has it). */
export interface KernelFeatures {
  /** The device has `subgroups`. */
  readonly hasSubgroups: boolean;
}

/** The row families (their kernels are RowKernels). */
/** The families with a `subgroup` variant (each also has `workgroup`). */
const SUBGROUP_FAMILIES = ["softmax", "layernorm", "crossEntropy", "gradNorm"] as const;

/** Why `family=kernel` cannot run on a device with `features`, or "" when it can. */
export function kernelUnsupported(
  family: KernelFamily,
  kernel: string,
  features: KernelFeatures,
): string {
  if (kernel === "subgroup" && !features.hasSubgroups) {
    return `${family}=subgroup needs the device feature 'subgroups', which this adapter lacks`;
  }
  return "";
}

/**
 * Throw a TempoError (one line, naming the family and a kernel to use instead) unless every
 * kernel of policy `p` can run on a device with `features`.
 */
export function checkKernelFeatures(p: KernelPolicy, features: KernelFeatures): void {
  for (const f of SUBGROUP_FAMILIES) {
    const why = kernelUnsupported(f, p[f], features);
    if (why) throw new TempoError(`kernel policy: ${why}; use ${f}=workgroup`);
  }
}

/** Throw a TempoError unless the tiled matmul with tile `t` fits a workgroup on this device. */
export function checkTileFits(t: MatmulTile, limits: WorkgroupLimits): void {
  const why = tileFits(t, limits);
  if (why) bad(why);
}

/** `MxNxK/TMxTN[/vec4][/db]`, e.g. "128x128x8/8x8/vec4/db" (the TEMPO_KERNELS spelling). */
export function tileText(t: MatmulTile): string {
  return `${t.m}x${t.n}x${t.k}/${t.tm}x${t.tn}${t.vec4 ? "/vec4" : ""}${
    t.buffers === 2 ? "/db" : ""
  }`;
}

function checkBlock(b: MatmulBlock, source?: string): MatmulBlock {
  for (const k of ["tm", "tn"] as const) {
    if (!Number.isInteger(b[k]) || b[k] < 4 || b[k] > 32 || b[k] % 4 !== 0) {
      bad(`block ${k} must be a multiple of 4 from 4 to 32, got ${b[k]}`, source);
    }
  }
  return b;
}

/** `tmxtn`, e.g. "8x8" (the TEMPO_KERNELS spelling of a block). */
export function blockText(b: MatmulBlock): string {
  return `${b.tm}x${b.tn}`;
}

function parseBlock(s: string, source: string): MatmulBlock {
  const m = /^(\d+)x(\d+)$/.exec(s);
  if (!m) bad(`block '${s}' is not TMxTN (e.g. block=8x8)`, source);
  return checkBlock({ tm: Number(m[1]), tn: Number(m[2]) }, source);
}

/** Parse `MxNxK/TMxTN[/vec4][/db]` (see `tileText`); throws a TempoError naming the spelling. */
export function parseTile(s: string, source = "tile"): MatmulTile {
  const m = /^(\d+)x(\d+)x(\d+)\/(\d+)x(\d+)((?:\/(?:vec4|db))*)$/.exec(s);
  if (!m) {
    bad(`tile '${s}' is not MxNxK/TMxTN[/vec4][/db] (e.g. tile=128x128x8/8x8/vec4/db)`, source);
  }
  const [mm, n, k, tm, tn] = m.slice(1, 6).map(Number);
  const flags = m[6].split("/").filter((f) => f !== "");
  if (new Set(flags).size !== flags.length) bad(`tile '${s}' repeats a flag`, source);
  return checkTile({
    m: mm,
    n,
    k,
    tm,
    tn,
    vec4: flags.includes("vec4"),
    buffers: flags.includes("db") ? 2 : 1,
  }, source);
}

/**
 * Parse a TEMPO_KERNELS value: comma-separated `family=kernel` pairs (families: matmul, softmax,
 * layernorm, crossEntropy, bias, geluTempo, attention), `tile=MxNxK/TMxTN[/vec4][/db]` for the
 * tiled matmul and
 * `block=TMxTN` for the blocked one. Empty or blank: no override. Throws a TempoError naming the valid families or kernels otherwise.
 */
export function parseKernels(text: string, source = "TEMPO_KERNELS"): KernelOverrides {
  const out: Record<string, unknown> = {};
  for (const part of text.split(",").map((s) => s.trim()).filter((s) => s !== "")) {
    const eq = part.indexOf("=");
    if (eq < 0) bad(`'${part}' is not family=kernel`, source);
    const key = part.slice(0, eq).trim(), value = part.slice(eq + 1).trim();
    if (key in out) bad(`'${key}' is given twice`, source);
    if (key === "tile" || key === "block") {
      out[key] = key === "tile" ? parseTile(value, source) : parseBlock(value, source);
      continue;
    }
    if (!(key in KERNEL_FAMILIES)) {
      const families = [...Object.keys(KERNEL_FAMILIES), "tile", "block"].join(", ");
      bad(`unknown op family '${key}'; valid: ${families}`, source);
    }
    const valid: readonly string[] = KERNEL_FAMILIES[key as KernelFamily];
    if (!valid.includes(value)) {
      bad(`unknown ${key} kernel '${value}'; valid: ${valid.join(", ")}`, source);
    }
    out[key] = value;
  }
  return out as KernelOverrides;
}

/** An override as TEMPO_KERNELS spells it (families in a fixed order; parseKernels reads it). */
export function kernelsText(o: KernelOverrides): string {
  const parts: string[] = [];
  for (const f of Object.keys(KERNEL_FAMILIES) as KernelFamily[]) {
    if (o[f] !== undefined) parts.push(`${f}=${o[f]}`);
  }
  if (o.tile) parts.push(`tile=${tileText(o.tile)}`);
  if (o.block) parts.push(`block=${blockText(o.block)}`);
  return parts.join(",");
}

/**
 * `policy` with `o` applied: each named family runs the kernel named, at every shape (its
 * default's shape limit is dropped). Validates `o` as strictly as `parseKernels`.
 */
export function applyKernels(policy: KernelPolicy, o: KernelOverrides): KernelPolicy {
  let next: KernelPolicy = policy;
  const limits: { -readonly [L in keyof KernelLimits]: KernelLimits[L] } = { ...policy.limits };
  for (const key of Object.keys(o) as (keyof KernelOverrides)[]) {
    const value = o[key];
    if (value === undefined) continue;
    if (key === "tile") {
      next = { ...next, tile: checkTile(value as MatmulTile) };
      continue;
    }
    if (key === "block") {
      next = { ...next, block: checkBlock(value as MatmulBlock) };
      continue;
    }
    if (!(key in KERNEL_FAMILIES)) bad(`unknown op family '${key}'`);
    const valid: readonly unknown[] = KERNEL_FAMILIES[key];
    if (!valid.includes(value)) bad(`unknown ${key} kernel '${value}'; valid: ${valid.join(", ")}`);
    next = { ...next, [key]: value };
    for (const l of LIMITS_OF[key]) delete limits[l];
  }
  const overrides = [policy.overrides, kernelsText(o)].filter((s) => s !== "").join(",");
  const p = { ...next, limits, overrides };
  return { ...p, label: describeKernels(p) };
}

/**
 * One short line: the kernel of each family (with its tile or block when matmul is tiled or
 * blocked), and any override.
 */
export function describeKernels(p: Omit<KernelPolicy, "label">): string {
  const matmul = p.matmul === "tiled"
    ? `tiled ${tileText(p.tile)}`
    : p.matmul === "blocked"
    ? `blocked ${blockText(p.block)}`
    : p.matmul;
  return `matmul=${matmul} softmax=${p.softmax} layernorm=${p.layernorm} ` +
    `crossEntropy=${p.crossEntropy} bias=${p.bias} geluTempo=${p.geluTempo}` +
    ` attention=${p.attention} gradNorm=${p.gradNorm}` +
    (p.overrides ? ` (override: ${p.overrides})` : "");
}

/**
 * The matmul kernel for a product of `macs` multiply-adds (M*N*K*batch). `unalignedHalfC`: C is
 * 16-bit and its rows do not all start at multiples of 4 elements, which the texture kernel does
 * not store (it writes 16-bit C in quads only, to keep its costly variants few): such products
 * run `blocked` whatever the policy says.
 */
export function matmulKernelFor(
  p: KernelPolicy,
  macs: number,
  unalignedHalfC = false,
): MatmulKernel {
  if (p.matmul !== "texture") return p.matmul;
  const min = p.limits.textureMinMacs;
  return unalignedHalfC || (min !== undefined && macs < min) ? "blocked" : "texture";
}

/** The row kernel of a row family for rows of `len` elements. */
export function rowKernelFor(
  p: KernelPolicy,
  family: "softmax" | "layernorm" | "crossEntropy",
  len: number,
): RowKernel {
  const max = p.limits[`${family}RowMax`];
  return p[family] === "row" && max !== undefined && len > max ? "workgroup" : p[family];
}

/** The sumRows kernel for rows of n columns (`blocked` needs n % 4 == 0; the op checks that). */
export function sumRowsKernelFor(p: KernelPolicy, n: number): BiasKernel {
  const max = p.limits.sumRowsBlockedMax;
  return p.bias === "blocked" && max !== undefined && n > max ? "element" : p.bias;
}
