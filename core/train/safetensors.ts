/**
 * safetensors: an 8-byte little-endian header length, a JSON header
 * ({name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}), then the raw data.
 * Only F32 is written; F32 is read, and F16 / BF16 (other tools' checkpoints) on request, widened
 * to f32 exactly.
 * @module
 */
import { TempoError } from "../errors.ts";
import { decodeHalves } from "../half.ts";

/** A named f32 tensor on the host. */
export interface HostTensor {
  /** Shape. */
  shape: number[];
  /** Values. */
  data: Float32Array;
}

/** Encode tensors (and string metadata) as a safetensors file. */
export function encodeSafetensors(
  tensors: Record<string, HostTensor>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  const names = Object.keys(tensors);
  for (const name of names) {
    const t = tensors[name];
    const bytes = t.data.byteLength;
    header[name] = { dtype: "F32", shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  while ((8 + json.length) % 8 !== 0) json += " ";
  const head = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + head.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let at = 8 + head.length;
  for (const name of names) {
    const d = tensors[name].data;
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), at);
    at += d.byteLength;
  }
  return out;
}

/** How `decodeSafetensors` reads. */
export interface DecodeOptions {
  /** Also take F16 and BF16 tensors, widened to f32 (default: F32 only). */
  widen?: boolean;
}

const ELEMENT_BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2 };

/** Decode a safetensors file; throws a TempoError naming what is wrong. */
export function decodeSafetensors(
  bytes: Uint8Array,
  what = "checkpoint",
  options: DecodeOptions = {},
): { tensors: Record<string, HostTensor>; metadata: Record<string, string> } {
  if (bytes.length < 8) throw new TempoError(`${what} is truncated (${bytes.length} bytes)`);
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  if (8 + n > bytes.length) throw new TempoError(`${what}: header length ${n} exceeds the file`);
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    throw new TempoError(`${what}: header is not JSON (${(e as Error).message})`);
  }
  const base = 8 + n;
  const tensors: Record<string, HostTensor> = {};
  let metadata: Record<string, string> = {};
  for (const [name, h] of Object.entries(header)) {
    if (name === "__metadata__") {
      metadata = h as unknown as Record<string, string>;
      continue;
    }
    const accepted = options.widen ? ["F32", "F16", "BF16"] : ["F32"];
    if (!accepted.includes(h.dtype)) {
      throw new TempoError(
        `${what}: tensor '${name}' is ${h.dtype}, not ${accepted.join(" or ")}`,
      );
    }
    const [b, e] = h.data_offsets;
    const n = h.shape.reduce((x, y) => x * y, 1);
    if (base + e > bytes.length || e - b !== ELEMENT_BYTES[h.dtype] * n) {
      throw new TempoError(`${what}: tensor '${name}' is truncated or inconsistent`);
    }
    const copy = bytes.slice(base + b, base + e);
    const data = h.dtype === "F32"
      ? new Float32Array(copy.buffer)
      : decodeHalves(h.dtype === "F16" ? "f16" : "bf16", new Uint16Array(copy.buffer), n);
    tensors[name] = { shape: h.shape, data };
  }
  return { tensors, metadata };
}
