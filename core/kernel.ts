/**
 * Kernel specs: a typed description (bindings, uniforms, workgroup size) plus a short WGSL body.
 * The declarations are generated, so bodies stay short; pipelines are cached per device and spec.
 * @module
 */
import { KernelError } from "./errors.ts";
import type { Gpu } from "./gpu.ts";

/** WGSL element type of a storage binding. */
export type ElemType = "f32" | "u32" | "i32" | "vec4<f32>" | "f16" | "vec4<f16>";

/** One storage binding of a kernel. */
export interface BindingSpec {
  /** WGSL variable name. */
  readonly name: string;
  /** Element type; the binding is `array<type>`. */
  readonly type: ElemType;
  /** Written by the kernel (read_write); otherwise read-only. */
  readonly write?: boolean;
}

/**
 * One texture binding of a kernel, always rgba32float 2d (bound after the storage bindings):
 * - `sampled`: `texture_2d<f32>`, read with `textureLoad(name, vec2u(x, y), 0)`;
 * - `read`: `texture_storage_2d<rgba32float, read>`, read with `textureLoad(name, vec2u(x, y))`
 *   (needs the WGSL language feature `readonly_and_readwrite_storage_textures`; see
 *   `hasReadOnlyStorageTextures`);
 * - `write`: `texture_storage_2d<rgba32float, write>`, written with `textureStore`.
 * On the software adapter a texel load is vectorised where a storage-buffer load is a per-lane
 * loop (and a storage-texture load is cheaper than a sampled fetch), which is why the matmul
 * reads packed operands from textures there.
 */
export interface TextureBindingSpec {
  /** WGSL variable name. */
  readonly name: string;
  /** How the kernel accesses it. */
  readonly access: "sampled" | "read" | "write";
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
  /** Needs `enable f16;`. */
  readonly f16?: boolean;
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

/** The full WGSL source of a spec. */
export function wgslOf(spec: KernelSpec): string {
  const [x, y = 1, z = 1] = spec.workgroupSize;
  const lines: string[] = [];
  if (spec.f16) lines.push("enable f16;");
  lines.push(`const WG_X: u32 = ${x}u;`, `const WG_Y: u32 = ${y}u;`, `const WG_Z: u32 = ${z}u;`);
  spec.bindings.forEach((b, i) => {
    const access = b.write ? "read_write" : "read";
    lines.push(`@group(0) @binding(${i}) var<storage, ${access}> ${b.name}: array<${b.type}>;`);
  });
  (spec.textures ?? []).forEach((t, i) => {
    const type = t.access === "sampled"
      ? "texture_2d<f32>"
      : `texture_storage_2d<rgba32float, ${t.access}>`;
    lines.push(`@group(0) @binding(${spec.bindings.length + i}) var ${t.name}: ${type};`);
  });
  const uniforms = spec.uniforms ?? [];
  if (uniforms.length > 0) {
    lines.push(`struct Uniforms { ${uniforms.map(([n, t]) => `${n}: ${t}`).join(", ")} };`);
    lines.push(`@group(0) @binding(${uniformBindingOf(spec)}) var<uniform> u: Uniforms;`);
  }
  if (spec.prelude) lines.push(spec.prelude);
  lines.push(
    `@compute @workgroup_size(${x}, ${y}, ${z})`,
    "fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(local_invocation_id) lid: vec3u,",
    "        @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,",
    "        @builtin(local_invocation_index) lidx: u32) {",
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
            format: "rgba32float" as const,
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
