import { Encoder } from "../encoder.ts";
import { assertClose, GPU_TEST, gpuFixture, randn } from "../testing.ts";
import { cachedAttention } from "./cached_attention.ts";
import { cachedAttentionRef, type CachedAttentionRefShape } from "./cached_attention_ref.ts";

// Inputs are standard normal (scores of a few units); f32 with an online softmax against the f64
// textbook form stays within 2e-6 of outputs of size ~1 at these lengths (<= 13 keys). Two head
// sizes: 5 (the scalar kernel) and 16 (vec4; gpt2-tiny's, which the model tests compile anyway).
const CASES: CachedAttentionRefShape[] = [
  { B: 1, n: 1, NH: 1, HS: 5, Tmax: 1, start: 0, causal: true },
  { B: 2, n: 3, NH: 3, HS: 5, Tmax: 9, start: 4, causal: true },
  { B: 2, n: 3, NH: 3, HS: 5, Tmax: 9, start: 4, causal: false },
  { B: 1, n: 1, NH: 4, HS: 16, Tmax: 13, start: 12, causal: true },
  { B: 3, n: 6, NH: 2, HS: 16, Tmax: 6, start: 0, causal: true },
];

Deno.test(
  { name: "cachedAttention matches the reference (causal offset, full cache)", ...GPU_TEST },
  async () => {
    const f = await gpuFixture();
    let seed = 10;
    for (const s of CASES) {
      const C = s.NH * s.HS, cache = s.B * s.NH * s.Tmax * s.HS;
      const qkv = Float32Array.from(randn(s.B * s.n * 3 * C, seed++));
      const k = Float32Array.from(randn(cache, seed++)),
        v = Float32Array.from(randn(cache, seed++));
      const out = f.alloc.alloc([s.B, s.n, C], "f32", "workspace", "out");
      cachedAttention(f.enc, {
        out,
        qkv: f.upload(qkv, [s.B, s.n, 3 * C]),
        k: f.upload(k, [cache]),
        v: f.upload(v, [cache]),
        ...s,
        scale: 1 / Math.sqrt(s.HS),
      });
      const what = `cachedAttention ${JSON.stringify(s)}`;
      assertClose(await f.readF32(out), cachedAttentionRef(qkv, k, v, s), 2e-6, 2e-6, what);
    }
  },
);

Deno.test({ name: "cachedAttention argument errors; planning mode", ...GPU_TEST }, async () => {
  const f = await gpuFixture();
  const t = (shape: number[], label: string) => f.alloc.alloc(shape, "f32", "workspace", label);
  const args = {
    out: t([1, 1, 4], "out"),
    qkv: t([1, 1, 12], "qkv"),
    k: t([1, 2, 3, 2], "k"),
    v: t([1, 2, 3, 2], "v"),
    B: 1,
    n: 1,
    NH: 2,
    HS: 2,
    Tmax: 3,
    scale: 1,
    causal: true,
  };
  const refused = (over: Record<string, unknown>, re: RegExp) => {
    try {
      cachedAttention(f.enc, { ...args, start: 0, ...over });
    } catch (e) {
      if (re.test((e as Error).message)) return;
      throw e;
    }
    throw new Error(`expected ${re}`);
  };
  refused({ start: 3 }, /do not fit a cache of 3/);
  refused({ v: args.k }, /aliased/);
  refused({ HS: 512, NH: 1 }, /exceeds 256/);
  const plan = new Encoder(null);
  cachedAttention(plan, { ...args, start: 2 });
  if (plan.dispatches !== 0) throw new Error("planning mode dispatched");
});
