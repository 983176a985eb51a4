import { Allocator } from "../allocator.ts";
import { Encoder } from "../encoder.ts";
import { TempoError } from "../errors.ts";
import { listFew, loadWeights } from "./weights.ts";

Deno.test("loadWeights names the first missing and misshapen tensors and writes nothing", () => {
  const alloc = new Allocator();
  const params = Array.from({ length: 8 }, (_, i) => ({
    name: `p${i}`,
    value: alloc.alloc([2, 3], "f32", "param", `p${i}`),
  }));
  const t = (shape: number[]) => ({ shape, data: new Float32Array(shape[0] * shape[1]) });
  const tensors: Record<string, ReturnType<typeof t>> = { p0: t([2, 3]), p1: t([3, 3]) };
  let msg = "";
  try {
    loadWeights(new Encoder(null), params, tensors, "ckpt/step-000001", "use the same --model");
  } catch (e) {
    if (!(e instanceof TempoError)) throw e;
    msg = e.message;
  }
  const want =
    "ckpt/step-000001 does not match the model: it lacks p2, p3, p4, p5, p6 and 1 more; " +
    "it has other shapes: p1 is [3,3], the model's [2,3]\n  hint: use the same --model";
  if (msg !== want) throw new Error(`got: ${msg}`);
  if (listFew(["a", "b"]) !== "a, b") throw new Error("listFew");
  loadWeights(new Encoder(null), params.slice(0, 1), tensors, "x", ""); // matching: no error
});
