/**
 * Kernel specs: a typed description (bindings, uniforms, workgroup size) plus a short WGSL body.
 * The declarations are generated, so bodies stay short; pipelines are cached per device and spec.
 * Storage bindings either name their WGSL element type (`{ name, type }`; the body indexes the
 * array) or their element dtype (`{ name, dtype }`; the body calls the generated accessors
 * `name_load(i)`, `name_store2(p, v)`, ... in f32 whatever the storage: see `core/accessors.ts`).
 * @module
 */
import {
  accessorsCalled,
  accessorWgsl,
  BF16_WGSL,
  F16_ROUND_WGSL,
  storageTypeOf,
  type StorageWidth,
  textureAccessorWgsl,
} from "./accessors.ts";
import type { DType } from "./dtype.ts";
import { needDtypeSupport } from "./dtype_check.ts";
import { KernelError } from "./errors.ts";
import type { Gpu } from "./gpu.ts";

/** WGSL element type of a raw storage binding. */
export type ElemType = "f32" | "u32" | "i32" | "vec4<f32>" | "f16" | "vec4<f16>";

/** A storage binding declared by its WGSL element type; the body indexes `name[...]` directly. */
export interface RawBindingSpec {
  /** WGSL variable name. */
  readonly name: string;
  /** Element type; the binding is `array<type>`. */
  readonly type: ElemType;
  /** Written by the kernel (read_write); otherwise read-only. */
  readonly write?: boolean;
  /** Not for raw bindings. */
  readonly dtype?: undefined;
  /** Not for raw bindings. */
  readonly width?: undefined;
}

/**
 * A storage binding declared by its element dtype: the declaration (`storageTypeOf`) and the
 * accessors `name_load`, `name_load2`, `name_load4` and, when written, `name_store` (not bf16),
 * `name_store2`, `name_store4` are generated (`core/accessors.ts`). A kernel writing 16-bit
 * outputs writes whole pairs; the generator refuses `name_store` on a bf16 binding.
 */
export interface TypedBindingSpec {
  /** WGSL variable name; accessors are `<name>_load` etc. */
  readonly name: string;
  /** Element dtype of the bound tensor. */
  readonly dtype: DType;
  /** Storage vector width (default 1); 4 needs whole quads (see `core/accessors.ts`). */
  readonly width?: StorageWidth;
  /** Written by the kernel (read_write); otherwise read-only. */
  readonly write?: boolean;
  /** Not for dtype bindings. */
  readonly type?: undefined;
}

/** One storage binding of a kernel. */
export type BindingSpec = RawBindingSpec | TypedBindingSpec;

/** Formats of texture bindings and scratch textures. */
export type TextureFormat = "rgba32float" | "rgba16float";

/** Bytes of one texel of `format` (four channels of 4 or 2 bytes). */
export function texelBytes(format: TextureFormat): number {
  return format === "rgba32float" ? 16 : 8;
}

/**
 * One texture binding of a kernel, 2d, of `format` (default rgba32float; bound after the storage
 * bindings). Values are f32 in the kernel whatever the format:
 * - `sampled`: `texture_2d<f32>`, read with `textureLoad(name, vec2u(x, y), 0)`;
 * - `read`: `texture_storage_2d<format, read>`, read with `textureLoad(name, vec2u(x, y))`
 *   (needs the WGSL language feature `readonly_and_readwrite_storage_textures`; see
 *   `hasReadOnlyStorageTextures`);
 * - `write`: `texture_storage_2d<format, write>`, written with `textureStore`.
 * Generated accessors hide the differences: `name_load(xy: vec2u) -> vec4f` (sampled, read) and
 * `name_store(xy: vec2u, v: vec4f)` (write), which for rgba16float rounds each channel to
 * nearest even first (`F16_ROUND_WGSL`): a raw `textureStore` leaves the conversion to the
 * adapter, and lavapipe's truncates toward zero and clamps overflow to 65504.
 * On the software adapter a texel load is vectorised where a storage-buffer load is a per-lane
 * loop (and a storage-texture load is cheaper than a sampled fetch), which is why the matmul
 * reads packed operands from textures there. The encoder checks that a bound texture has the
 * declared format.
 */
export interface TextureBindingSpec {
  /** WGSL variable name. */
  readonly name: string;
  /** How the kernel accesses it. */
  readonly access: "sampled" | "read" | "write";
  /** Texel format (default rgba32float). */
  readonly format?: TextureFormat;
}

/** Whether this runtime's WGSL accepts read-only storage textures (`access: "read"`). */
export function hasReadOnlyStorageTextures(): boolean {
  const nav = globalThis.navigator as Navigator & {
    gpu?: { wgslLanguageFeatures?: ReadonlySet<string> };
  };
  return nav?.gpu?.wgslLanguageFeatures?.has("readonly_and_readwrite_storage_textures") ?? false;
}

/** Scalar type of a uniform. */
export type UniformType = "u32" | "i32" | "f32";

/** A compute kernel: generated declarations + `body` inside `fn main`. */
export interface KernelSpec {
  /** Unique name, used in errors and as the cache key. */
  readonly name: string;
  /** Storage bindings, in binding order. */
  readonly bindings: readonly BindingSpec[];
  /** Texture bindings, in binding order after `bindings` (and before the uniform). */
  readonly textures?: readonly TextureBindingSpec[];
  /** Uniform scalars, visible as `u.<name>`. */
  readonly uniforms?: readonly (readonly [string, UniformType])[];
  /** Workgroup size; x first. Visible as the constants WG_X, WG_Y, WG_Z. */
  readonly workgroupSize: readonly [number, number?, number?];
  /** Module-scope WGSL before `main`: helper functions, `var<workgroup>` arrays, constants. */
  readonly prelude?: string;
  /**
   * Body of `main`. In scope: `gid`, `lid`, `wid`, `nwg` (vec3u builtins), `lidx` (local index)
   * and `u` (the uniforms).
   */
  readonly body: string;
  /**
   * Needs `enable f16;` (f16 arithmetic in the body). Implied by any f16 binding; either way the
   * adapter needs `shader-f16`, checked by `compile`.
   */
  readonly f16?: boolean;
  /**
   * Uses the WGSL subgroup built-ins (the device feature `subgroups`, checked by `compile`; no
   * `enable` line, which naga refuses). `main` then sets the module-scope `sg_id`
   * (subgroup_invocation_id) and `sg_size` (subgroup_size) first, so prelude functions see them.
   */
  readonly subgroups?: boolean;
}

/** A compiled kernel. */
export interface Compiled {
  /** The pipeline. */
  readonly pipeline: GPUComputePipeline;
  /**
   * Its bind group layout (storage bindings, then texture bindings, then the uniform with a
   * dynamic offset).
   */
  readonly layout: GPUBindGroupLayout;
  /** Bytes of the uniform struct (0 when the kernel has none). */
  readonly uniformBytes: number;
}

/** Whether `spec` needs `enable f16;` (and so the adapter feature `shader-f16`). */
export function needsF16(spec: KernelSpec): boolean {
  return spec.f16 === true ||
    spec.bindings.some((b) => b.dtype === "f16" || b.type === "f16" || b.type === "vec4<f16>");
}

/**
 * Check the bindings of `spec`: raw or dtype (not both), widths, and the accessors its body and
 * prelude call (a bf16 single-element store, a store to a read-only binding). Throws KernelError
 * naming the kernel and the binding.
 */
export function checkBindings(spec: KernelSpec): void {
  const code = `${spec.prelude ?? ""}\n${spec.body}`;
  for (const b of spec.bindings) {
    const bad = (why: string) => new KernelError(spec.name, `binding '${b.name}' ${why}`);
    if ((b.type === undefined) === (b.dtype === undefined)) {
      throw bad("needs exactly one of 'type' (WGSL element type) and 'dtype'");
    }
    if (b.dtype === undefined) continue;
    if (b.width !== undefined && b.width !== 1 && b.width !== 4) {
      throw bad(`has width ${b.width}; dtype bindings have width 1 or 4`);
    }
    const called = accessorsCalled(code, b.name);
    if (b.dtype === "bf16" && called.includes("store")) {
      throw bad(
        `is bf16 and '${b.name}_store' writes one 16-bit half of a u32 word, racing with the ` +
          `invocation that writes the other half: a kernel writing 16-bit outputs writes whole ` +
          `pairs (${b.name}_store2 or ${b.name}_store4)`,
      );
    }
    const stores = called.filter((a) => a.startsWith("store"));
    if (!b.write && stores.length > 0) {
      throw bad(`is read-only but the kernel calls ${b.name}_${stores[0]}; declare write: true`);
    }
  }
}

/** The full WGSL source of a spec (throws KernelError for the refusals of `checkBindings`). */
export function wgslOf(spec: KernelSpec): string {
  checkBindings(spec);
  const [x, y = 1, z = 1] = spec.workgroupSize;
  const lines: string[] = [];
  if (needsF16(spec)) lines.push("enable f16;");
  lines.push(`const WG_X: u32 = ${x}u;`, `const WG_Y: u32 = ${y}u;`, `const WG_Z: u32 = ${z}u;`);
  spec.bindings.forEach((b, i) => {
    const access = b.write ? "read_write" : "read";
    const type = b.dtype === undefined ? b.type : storageTypeOf(b.dtype, b.width);
    lines.push(`@group(0) @binding(${i}) var<storage, ${access}> ${b.name}: array<${type}>;`);
  });
  (spec.textures ?? []).forEach((t, i) => {
    const type = t.access === "sampled"
      ? "texture_2d<f32>"
      : `texture_storage_2d<${t.format ?? "rgba32float"}, ${t.access}>`;
    lines.push(`@group(0) @binding(${spec.bindings.length + i}) var ${t.name}: ${type};`);
  });
  const uniforms = spec.uniforms ?? [];
  if (uniforms.length > 0) {
    lines.push(`struct Uniforms { ${uniforms.map(([n, t]) => `${n}: ${t}`).join(", ")} };`);
    lines.push(`@group(0) @binding(${uniformBindingOf(spec)}) var<uniform> u: Uniforms;`);
  }
  if (spec.bindings.some((b) => b.dtype === "bf16")) lines.push(BF16_WGSL.trim());
  for (const b of spec.bindings) {
    if (b.dtype !== undefined) {
      const fns = accessorWgsl(b.name, b.dtype, b.width ?? 1, b.write === true);
      if (fns) lines.push(fns);
    }
  }
  // Texture accessors only where called: kernels that use textureLoad/textureStore directly keep
  // their exact source (and their entries in the driver's shader cache).
  const code = `${spec.prelude ?? ""}\n${spec.body}`;
  const used = (spec.textures ?? []).filter((t) => {
    return accessorsCalled(code, t.name).includes(t.access === "write" ? "store" : "load");
  });
  const round16 = used.some((t) => t.access === "write" && t.format === "rgba16float");
  if (round16 || /(^|[^A-Za-z0-9_])f16_round4\s*\(/.test(code)) lines.push(F16_ROUND_WGSL.trim());
  for (const t of used) {
    lines.push(textureAccessorWgsl(t.name, t.access, t.format ?? "rgba32float"));
  }
  const sg = spec.subgroups === true;
  if (sg) lines.push("var<private> sg_id: u32;", "var<private> sg_size: u32;");
  if (spec.prelude) lines.push(spec.prelude);
  lines.push(
    `@compute @workgroup_size(${x}, ${y}, ${z})`,
    "fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(local_invocation_id) lid: vec3u,",
    "        @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,",
    sg
      ? "        @builtin(local_invocation_index) lidx: u32,\n" +
        "        @builtin(subgroup_invocation_id) sg_id_in: u32, " +
        "@builtin(subgroup_size) sg_size_in: u32) {\n  sg_id = sg_id_in;\n  sg_size = sg_size_in;"
      : "        @builtin(local_invocation_index) lidx: u32) {",
    "  _ = gid; _ = lid; _ = wid; _ = nwg; _ = lidx;",
    spec.body,
    "}",
  );
  return lines.join("\n");
}

/** Bytes of the uniform struct of a spec (WGSL rounds a struct to 16 bytes). */
export function uniformBytesOf(spec: KernelSpec): number {
  const n = spec.uniforms?.length ?? 0;
  return n === 0 ? 0 : Math.ceil((n * 4) / 16) * 16;
}

/** Binding index of the uniform struct: after the storage and texture bindings. */
export function uniformBindingOf(spec: KernelSpec): number {
  return spec.bindings.length + (spec.textures?.length ?? 0);
}

/**
 * Throw unless `gpu` has the device features `spec` needs: `shader-f16` (a DTypeError) or
 * `subgroups` (a KernelError naming the kernel; the kernel policy refuses a subgroup variant on
 * such a device before any op runs, so this is the last guard).
 */
function needFeatures(gpu: Gpu, spec: KernelSpec): void {
  if (needsF16(spec)) needDtypeSupport(gpu, "f16");
  if (spec.subgroups && !gpu.hasSubgroups) {
    throw new KernelError(
      spec.name,
      `uses subgroup built-ins, but ${gpu.description} lacks 'subgroups'`,
    );
  }
}

/** Per device: by spec object (fast path), and by generated source (specs built per call). */
const caches = new WeakMap<
  GPUDevice,
  { bySpec: WeakMap<KernelSpec, Compiled>; bySource: Map<string, Compiled> }
>();

/**
 * The compiled pipeline of `spec` on `gpu`, compiled on first use. Validation errors are reported
 * asynchronously into `gpu.errors` as a KernelError naming the kernel (use `checkKernel` to await).
 */
export function compile(gpu: Gpu, spec: KernelSpec): Compiled {
  let cache = caches.get(gpu.device);
  if (!cache) caches.set(gpu.device, cache = { bySpec: new WeakMap(), bySource: new Map() });
  const hit = cache.bySpec.get(spec);
  if (hit) return hit;
  needFeatures(gpu, spec);
  const code = wgslOf(spec);
  const same = cache.bySource.get(code);
  if (same) {
    cache.bySpec.set(spec, same);
    return same;
  }
  const device = gpu.device;
  device.pushErrorScope("validation");
  const module = device.createShaderModule({ label: spec.name, code });
  const entries: GPUBindGroupLayoutEntry[] = spec.bindings.map((b, i) => ({
    binding: i,
    visibility: GPUShaderStage.COMPUTE,
    buffer: { type: b.write ? "storage" : "read-only-storage" },
  }));
  (spec.textures ?? []).forEach((t, i) => {
    entries.push({
      binding: spec.bindings.length + i,
      visibility: GPUShaderStage.COMPUTE,
      ...(t.access === "sampled"
        ? { texture: { sampleType: "unfilterable-float" as const, viewDimension: "2d" as const } }
        : {
          storageTexture: {
            access: t.access === "read" ? "read-only" as const : "write-only" as const,
            format: t.format ?? "rgba32float",
            viewDimension: "2d" as const,
          },
        }),
    });
  });
  const uniformBytes = uniformBytesOf(spec);
  if (uniformBytes > 0) {
    entries.push({
      binding: uniformBindingOf(spec),
      visibility: GPUShaderStage.COMPUTE,
      buffer: { type: "uniform", hasDynamicOffset: true, minBindingSize: uniformBytes },
    });
  }
  const layout = device.createBindGroupLayout({ label: spec.name, entries });
  const pipeline = device.createComputePipeline({
    label: spec.name,
    layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
    compute: { module, entryPoint: "main" },
  });
  device.popErrorScope().then((err) => {
    if (err) gpu.errors.push(new KernelError(spec.name, err.message));
  });
  const compiled = { pipeline, layout, uniformBytes };
  cache.bySpec.set(spec, compiled);
  cache.bySource.set(code, compiled);
  return compiled;
}

/** Compile `spec` and wait for the compiler's verdict; throws KernelError with its messages. */
export async function checkKernel(gpu: Gpu, spec: KernelSpec): Promise<void> {
  needFeatures(gpu, spec);
  const device = gpu.device;
  device.pushErrorScope("validation");
  const module = device.createShaderModule({ label: spec.name, code: wgslOf(spec) });
  const info = await module.getCompilationInfo();
  const errors = info.messages.filter((m) => m.type === "error");
  const scoped = await device.popErrorScope();
  if (errors.length > 0) {
    throw new KernelError(
      spec.name,
      errors.map((m) => `line ${m.lineNum}:${m.linePos}: ${m.message}`).join("; "),
    );
  }
  if (scoped) throw new KernelError(spec.name, scoped.message);
}

/** Workgroup counts covering `n` items with `perGroup` items each, folded into x and y (x <= 65535). */
export function groups1d(n: number, perGroup: number): [number, number, number] {
  const g = Math.max(1, Math.ceil(n / perGroup));
  if (g <= 65535) return [g, 1, 1];
  const y = Math.ceil(g / 65535);
  return [Math.ceil(g / y), y, 1];
}

/** WGSL snippet: the linear invocation index over a `groups1d` grid (uses WG_X). */
export const LINEAR_INDEX = "let i = gid.x + gid.y * nwg.x * WG_X;";
