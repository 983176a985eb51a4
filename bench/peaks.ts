/**
 * f32 peak rates of known GPUs, to state a measured matmul rate as a fraction of the card's
 * plain (non-tensor-core) f32 rate. Datasheet figures (boost clock, dense FMA = 2 FLOPs), matched
 * against the adapter's name; leads, not measurements. Unknown devices get null (printed n/a).
 * @module
 */

/** One known device: what its adapter name contains, and its f32 peak. */
export interface Peak {
  /** Tested against the adapter's vendor, architecture, device and description joined. */
  match: RegExp;
  /** The device as its datasheet names it. */
  name: string;
  /** Dense f32 (non-tensor) TFLOP/s. */
  f32Tflops: number;
}

/** Known devices, most specific first. */
export const PEAKS: readonly Peak[] = [
  { match: /H200/i, name: "NVIDIA H200 SXM", f32Tflops: 67 },
  { match: /H100.*PCIe/i, name: "NVIDIA H100 PCIe", f32Tflops: 51 },
  { match: /H100/i, name: "NVIDIA H100 SXM", f32Tflops: 67 },
  { match: /A100/i, name: "NVIDIA A100", f32Tflops: 19.5 },
  { match: /L40S/i, name: "NVIDIA L40S", f32Tflops: 91.6 },
  { match: /RTX 4090/i, name: "NVIDIA GeForce RTX 4090", f32Tflops: 82.6 },
  { match: /RTX 3090/i, name: "NVIDIA GeForce RTX 3090", f32Tflops: 35.6 },
];

/** The peak of the device whose adapter strings are `names`, or null when unknown. */
export function peakOf(names: readonly string[]): Peak | null {
  const s = names.join(" ");
  return PEAKS.find((p) => p.match.test(s)) ?? null;
}
