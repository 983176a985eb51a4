import { decodeSafetensors } from "./safetensors.ts";

/** A safetensors file of one tensor `x` with the given dtype and raw bytes. */
function fileOf(dtype: string, shape: number[], raw: Uint8Array): Uint8Array {
  let json = JSON.stringify({ x: { dtype, shape, data_offsets: [0, raw.length] } });
  while ((8 + json.length) % 8 !== 0) json += " ";
  const head = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + head.length + raw.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  out.set(raw, 8 + head.length);
  return out;
}

Deno.test("safetensors: F16 and BF16 are widened exactly on request, refused otherwise", () => {
  // f16 0x3c00 = 1, 0xc000 = -2, 0x3555 = 0.333251953125; bf16 0x3f80 = 1, 0xc040 = -3.
  const f16 = new Uint8Array(new Uint16Array([0x3c00, 0xc000, 0x3555]).buffer);
  const bf16 = new Uint8Array(new Uint16Array([0x3f80, 0xc040]).buffer);
  const a = decodeSafetensors(fileOf("F16", [3], f16), "a", { widen: true }).tensors.x.data;
  if ([...a].join() !== [1, -2, 0.333251953125].join()) throw new Error(`f16: ${[...a]}`);
  const b = decodeSafetensors(fileOf("BF16", [1, 2], bf16), "b", { widen: true }).tensors.x.data;
  if ([...b].join() !== "1,-3") throw new Error(`bf16: ${[...b]}`);
  const refused = (bytes: Uint8Array, re: RegExp, widen: boolean) => {
    try {
      decodeSafetensors(bytes, "f", { widen });
    } catch (e) {
      if (re.test((e as Error).message)) return;
      throw e;
    }
    throw new Error(`accepted; expected ${re}`);
  };
  refused(fileOf("F16", [3], f16), /is F16, not F32$/, false);
  refused(fileOf("I64", [1], new Uint8Array(8)), /is I64, not F32 or F16 or BF16/, true);
  refused(fileOf("F16", [4], f16), /truncated or inconsistent/, true);
});
