/**
 * Which GPU a process gets when a machine has several. WebGPU in Deno has no adapter index:
 * `requestAdapter` lets wgpu pick among the Vulkan devices by power preference, and among GPUs
 * of one type the first enumerated wins. The Vulkan loader's implicit layer from Mesa
 * (VK_LAYER_MESA_device_select, in mesa-vulkan-drivers; it sits above every driver, NVIDIA's
 * too) reorders that enumeration at each call, from the environment:
 *
 * - `MESA_VK_DEVICE_SELECT=vid:did` (hex vendor and device id) puts the first such device first;
 *   it cannot tell identical GPUs apart;
 * - `DRI_PRIME=pci-DDDD_BB_DD_F` puts the device at that PCI address first (the layer reads
 *   VK_EXT_pci_bus_info, which Mesa's and NVIDIA's drivers have);
 * - `MESA_VK_DEVICE_SELECT_FORCE_DEFAULT_DEVICE=1` hides every other device.
 *
 * CUDA_VISIBLE_DEVICES does not apply to Vulkan. `TEMPO_DEVICES` names one device per local
 * rank (a comma list of `vid:did` or PCI addresses, as `MESA_VK_DEVICE_SELECT=list vulkaninfo`
 * or `lspci -D` shows them), and `selectDevice` sets those variables for this process's entry
 * before its adapter is requested (the layer reads them when the devices are enumerated, which
 * is at `requestAdapter`: checked here with MESA_VK_DEVICE_SELECT_DEBUG set from inside Deno).
 * @module
 */
import { TempoError } from "./errors.ts";

/** Reads and sets environment variables (tests pass a map). */
export interface DeviceEnv {
  /** The variable's value, or undefined. */
  get(name: string): string | undefined;
  /** Set a variable for this process (and what it loads). */
  set(name: string, value: string): void;
}

/** PCI address forms: `0000:41:00.0` (sysfs) or `pci-0000_41_00_0` (Mesa's DRI_PRIME tag). */
const PCI = /^(?:pci-)?([0-9a-f]{4})[:_]([0-9a-f]{2})[:_]([0-9a-f]{2})[._]([0-7])$/i;
const VID_DID = /^([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i;

/** Mesa's tag of a PCI address, or null when `entry` is none. */
export function pciTag(entry: string): string | null {
  const m = PCI.exec(entry.trim());
  return m ? `pci-${m[1]}_${m[2]}_${m[3]}_${m[4]}`.toLowerCase() : null;
}

/**
 * Set the device-select variables for local rank `localRank` from `spec` (TEMPO_DEVICES).
 * Returns a line for the run header (what was chosen and how), or null without a spec. Throws a
 * TempoError for an entry it cannot read or a rank without an entry.
 */
export function selectDevice(
  localRank: number,
  spec: string | undefined,
  env: DeviceEnv,
): string | null {
  if (!spec || !spec.trim()) return null;
  const entries = spec.split(",").map((s) => s.trim()).filter(Boolean);
  const how = "TEMPO_DEVICES takes one entry per local rank: a PCI address (0000:41:00.0) or " +
    "vid:did (hex, e.g. 10de:2335; it cannot tell identical GPUs apart)";
  if (localRank >= entries.length) {
    throw new TempoError(
      `TEMPO_DEVICES names ${entries.length} devices, none for local rank ${localRank}`,
      how,
    );
  }
  const entry = entries[localRank];
  const tag = pciTag(entry);
  let chosen: string;
  if (tag) {
    env.set("DRI_PRIME", tag);
    chosen = `DRI_PRIME=${tag}`;
  } else if (VID_DID.test(entry)) {
    env.set("MESA_VK_DEVICE_SELECT", entry.toLowerCase());
    chosen = `MESA_VK_DEVICE_SELECT=${entry.toLowerCase()}`;
  } else {
    throw new TempoError(
      `TEMPO_DEVICES entry '${entry}' is neither vid:did nor a PCI address`,
      how,
    );
  }
  env.set("MESA_VK_DEVICE_SELECT_FORCE_DEFAULT_DEVICE", "1");
  return `${chosen} (local rank ${localRank}, from TEMPO_DEVICES)`;
}

/**
 * CPUs this process may run on: `navigator.hardwareConcurrency`, which follows the CPU affinity
 * (Deno lets only --allow-all read /proc/self/status or /sys). mpirun binds each rank to one core
 * by default, under which a software adapter (lavapipe, whose threads are the "GPU") crawls:
 * measured here, 2 ranks bound to a core each did not finish one step of gpt2-tiny in 5 minutes,
 * and took 7 s for 3 steps with `mpirun --bind-to none`.
 */
export function usableCpus(): number {
  return navigator.hardwareConcurrency;
}
