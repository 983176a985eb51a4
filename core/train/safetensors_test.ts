import { decodeSafetensors, encodeSafetensors } from "./safetensors.ts";

Deno.test("safetensors: round trip with metadata; truncated file is rejected", () => {
  const a = { shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6.5]) };
  const b = { shape: [1], data: new Float32Array([-7]) };
  const bytes = encodeSafetensors({ a, b }, { step: "3" });
  const back = decodeSafetensors(bytes);
  if (back.metadata.step !== "3") throw new Error("metadata");
  if (JSON.stringify([...back.tensors.a.data]) !== JSON.stringify([...a.data])) {
    throw new Error("a");
  }
  if (back.tensors.b.data[0] !== -7 || back.tensors.a.shape[1] !== 3) throw new Error("b");
  let threw = false;
  try {
    decodeSafetensors(bytes.subarray(0, bytes.length - 4));
  } catch {
    threw = true;
  }
  if (!threw) throw new Error("truncated file accepted");
});
