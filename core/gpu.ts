/**
 * Device acquisition: the adapter's real limits are requested (the defaults are far lower), and
 * the optional features tempo uses where the adapter has them (`shader-f16`, `timestamp-query`,
 * `subgroups`: see `acquireGpu`); GPU errors and device loss are captured and re-thrown at the
 * next sync point with their message.
 * The Gpu carries the kernel policy (`kernels`): the adapter's defaults, then `TEMPO_KERNELS`,
 * then `AcquireOptions.kernels`; `withKernels` gives a view with another policy.
 * @module
 */
import { DeviceError, NoAdapterError, OutOfMemoryError } from "./errors.ts";
import {
  applyKernels,
  checkTileFits,
  defaultKernels,
  type KernelOverrides,
  type KernelPolicy,
  parseKernels,
} from "./kernel_policy.ts";

/** A WebGPU device with what tempo needs to know about it. */
export interface Gpu {
  /** The device. */
  device: GPUDevice;
  /** Adapter description, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)". */
  description: string;
  /** True on a software adapter (llvmpipe / lavapipe): kernels pick variants by this. */
  isSoftware: boolean;
  /** Whether `shader-f16` is available. */
  hasF16: boolean;
  /**
   * Whether `timestamp-query` is available: compute passes can carry `timestampWrites`
   * (`Encoder.profile`); resolved values are nanoseconds.
   */
  hasTimestamps: boolean;
  /** Whether `subgroups` was granted: WGSL subgroup built-ins may be used (no `enable` line). */
  hasSubgroups: boolean;
  /** Largest storage binding in bytes. */
  maxBinding: number;
  /** Alignment of storage-buffer binding offsets. */
  storageAlign: number;
  /** Alignment of uniform-buffer dynamic offsets. */
  uniformAlign: number;
  /** Which kernel variant each op family runs (see kernel_policy.ts). */
  kernels: KernelPolicy;
  /** Errors captured asynchronously; thrown by `checkErrors`. */
  errors: Error[];
}

/** Options for `acquireGpu`. */
export interface AcquireOptions {
  /** Power preference passed to `requestAdapter`. */
  powerPreference?: GPUPowerPreference;
  /** Kernel overrides applied after `TEMPO_KERNELS` (tests, benchmarks). */
  kernels?: KernelOverrides;
}

/** The environment variable that overrides the adapter's kernel policy (see `parseKernels`). */
export const KERNELS_ENV = "TEMPO_KERNELS";

/** TEMPO_KERNELS, or "" when unset or when environment access is not granted. */
function kernelsEnv(): string {
  try {
    return Deno.env.get(KERNELS_ENV) ?? "";
  } catch {
    return "";
  }
}

const LIMIT_NAMES = [
  "maxBufferSize",
  "maxStorageBufferBindingSize",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupSizeY",
  "maxComputeWorkgroupSizeZ",
  "maxComputeWorkgroupsPerDimension",
  "maxStorageBuffersPerShaderStage",
  "maxBindGroups",
  "maxUniformBufferBindingSize",
  "maxTextureDimension2D",
] as const;

/**
 * Acquire an adapter and a device with the adapter's full limits. Throws NoAdapterError, or a
 * TempoError for a bad TEMPO_KERNELS or kernel override.
 */
export async function acquireGpu(options: AcquireOptions = {}): Promise<Gpu> {
  const fromEnv = parseKernels(kernelsEnv()); // a bad value fails before the device is made
  const nav = globalThis.navigator as Navigator & { gpu?: GPU };
  if (!nav?.gpu) throw new NoAdapterError("this runtime has no navigator.gpu");
  const adapter = await nav.gpu.requestAdapter({ powerPreference: options.powerPreference });
  if (!adapter) throw new NoAdapterError("navigator.gpu.requestAdapter() returned null");
  const requiredLimits: Record<string, number> = {};
  for (const name of LIMIT_NAMES) {
    const v = adapter.limits[name];
    if (typeof v === "number") requiredLimits[name] = v;
  }
  const features: GPUFeatureName[] = [];
  for (const f of ["shader-f16", "timestamp-query"] as const) {
    if (adapter.features.has(f)) features.push(f);
  }
  const device = await requestDevice(adapter, requiredLimits, features);
  const info = adapter.info;
  const description = info.description || info.device || info.vendor || "unknown adapter";
  const isSoftware =
    (info as GPUAdapterInfo & { isFallbackAdapter?: boolean }).isFallbackAdapter ===
      true || /llvmpipe|lavapipe|swiftshader|software/i.test(description);
  let kernels = applyKernels(defaultKernels({ isSoftware, workgroup: device.limits }), fromEnv);
  if (options.kernels) kernels = applyKernels(kernels, options.kernels);
  checkTileFits(kernels.tile, device.limits);
  const gpu: Gpu = {
    device,
    description,
    isSoftware,
    kernels,
    hasF16: device.features.has("shader-f16"),
    hasTimestamps: device.features.has("timestamp-query"),
    hasSubgroups: device.features.has("subgroups"),
    maxBinding: device.limits.maxStorageBufferBindingSize,
    storageAlign: device.limits.minStorageBufferOffsetAlignment,
    uniformAlign: device.limits.minUniformBufferOffsetAlignment,
    errors: [],
  };
  device.addEventListener("uncapturederror", (ev) => {
    const e = (ev as GPUUncapturedErrorEvent).error;
    if (e instanceof GPUOutOfMemoryError) {
      gpu.errors.push(new OutOfMemoryError("device", 0, 0, undefined, e.message));
    } else gpu.errors.push(new DeviceError(e.message));
  });
  device.lost.then((info) => {
    if (info.reason !== "destroyed") {
      gpu.errors.push(new DeviceError(`device lost: ${info.message}`));
    }
  });
  return gpu;
}

/**
 * The device, with `subgroups` too when the adapter grants it. Deno lists `subgroups` in
 * `adapter.features` only where wgpu reports it, yet lavapipe (Mesa 25) grants it when asked
 * (measured: `subgroupAdd` runs, size 8). So the probe is the request itself: with `subgroups`
 * added (unless listed already), and where that is refused — Deno rejects a feature the adapter
 * lacks with a TypeError before any device exists, and the adapter stays usable (measured with
 * `texture-compression-astc` on lavapipe) — again without it. Any other failure is the device's.
 */
async function requestDevice(
  adapter: GPUAdapter,
  requiredLimits: Record<string, number>,
  features: GPUFeatureName[],
): Promise<GPUDevice> {
  const subgroups = "subgroups" as GPUFeatureName;
  try {
    return await adapter.requestDevice({
      requiredLimits,
      requiredFeatures: [...features, subgroups],
    });
  } catch (e) {
    if (!(e instanceof TypeError)) throw e;
    return await adapter.requestDevice({ requiredLimits, requiredFeatures: features });
  }
}

/**
 * A view of `gpu` whose ops run the kernels of `overrides` (on top of gpu.kernels): the same
 * device, limits and error list. For tests and benchmarks that compare variants side by side.
 */
export function withKernels(gpu: Gpu, overrides: KernelOverrides): Gpu {
  const kernels = applyKernels(gpu.kernels, overrides);
  checkTileFits(kernels.tile, gpu.device.limits);
  return { ...gpu, kernels };
}

/** Throw the first GPU error captured since the last check, if any. */
export function checkErrors(gpu: Gpu): void {
  const e = gpu.errors.shift();
  if (e) {
    gpu.errors.length = 0;
    throw e;
  }
}
