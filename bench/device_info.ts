/**
 * The adapter tempo gets, as bench/device.sh reports it: adapter info, the device's limits and
 * features (what tempo requested and was granted), the kernel policy in effect and the f32 peak
 * the matmul figures are compared with. Exits 2 when no adapter is found, 3 when `--need-gpu` is
 * given and the adapter is a software one (so that a device run does not time lavapipe).
 * Run: `deno run -A bench/device_info.ts [--json FILE] [--need-gpu]`.
 * @module
 */
import { NoAdapterError } from "../core/errors.ts";
import { acquireGpu } from "../core/gpu.ts";
import { peakOf } from "./peaks.ts";

/** What the info part reports. */
export interface DeviceInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isSoftware: boolean;
  subgroupMinSize?: number;
  subgroupMaxSize?: number;
  features: string[];
  hasF16: boolean;
  hasTimestamps: boolean;
  hasSubgroups: boolean;
  limits: Record<string, number>;
  kernels: string;
  peak: { name: string; f32Tflops: number } | null;
}

/** Acquire the GPU and describe it. */
export async function deviceInfo(): Promise<DeviceInfo> {
  const gpu = await acquireGpu();
  const adapter = (await navigator.gpu.requestAdapter())!;
  const info = adapter.info as GPUAdapterInfo & {
    subgroupMinSize?: number;
    subgroupMaxSize?: number;
  };
  const limits: Record<string, number> = {};
  for (const k in gpu.device.limits) {
    const v = (gpu.device.limits as unknown as Record<string, unknown>)[k];
    if (typeof v === "number") limits[k] = v;
  }
  const names = [info.vendor, info.architecture, info.device, info.description];
  return {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: gpu.description,
    isSoftware: gpu.isSoftware,
    subgroupMinSize: info.subgroupMinSize,
    subgroupMaxSize: info.subgroupMaxSize,
    features: [...gpu.device.features].sort(),
    hasF16: gpu.hasF16,
    hasTimestamps: gpu.hasTimestamps,
    hasSubgroups: gpu.hasSubgroups,
    limits,
    kernels: gpu.kernels.label,
    peak: peakOf(names),
  };
}

/** Print the device's description (and write it as JSON with --json FILE). */
export async function main(args: string[] = []): Promise<number> {
  let d: DeviceInfo;
  try {
    d = await deviceInfo();
  } catch (e) {
    if (!(e instanceof NoAdapterError)) throw e;
    console.log(`no WebGPU adapter: ${e.message}`);
    return 2;
  }
  console.log(
    `adapter: ${d.description} (vendor ${d.vendor || "?"}, device ${d.device || "?"}, ` +
      `architecture ${d.architecture || "?"}; software: ${d.isSoftware})`,
  );
  console.log(`features: ${d.features.join(" ")}`);
  console.log(
    `shader-f16 ${d.hasF16}, timestamp-query ${d.hasTimestamps}, subgroups ${d.hasSubgroups}` +
      (d.subgroupMinSize ? ` (size ${d.subgroupMinSize}-${d.subgroupMaxSize})` : ""),
  );
  console.log(
    `limits: ${Object.entries(d.limits).map(([k, v]) => `${k}=${v}`).join(" ")}`,
  );
  console.log(`kernel policy: ${d.kernels}`);
  console.log(
    `f32 peak: ${d.peak ? `${d.peak.f32Tflops} TFLOP/s (${d.peak.name}, datasheet)` : "n/a"}`,
  );
  const i = args.indexOf("--json");
  if (i >= 0) await Deno.writeTextFile(args[i + 1], JSON.stringify(d, null, 1));
  if (args.includes("--need-gpu") && d.isSoftware) {
    console.log(`${d.description} is a software adapter: no device figures from it`);
    return 3;
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
