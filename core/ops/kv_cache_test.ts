import { Encoder } from "../encoder.ts";
import { GPU_TEST, gpuFixture, randn } from "../testing.ts";
import { kvAppend } from "./kv_cache.ts";
import { kvAppendRef, type KvAppendRefShape } from "./kv_cache_ref.ts";

// Copies are exact: the caches must equal the reference bit for bit. Odd head sizes take the
// scalar kernel, HS % 4 == 0 the vec4 one; appends land mid-cache and at its end.
const CASES: KvAppendRefShape[] = [
  { B: 1, n: 1, NH: 1, HS: 1, Tmax: 1, start: 0 },
  { B: 2, n: 3, NH: 3, HS: 5, Tmax: 9, start: 4 },
  { B: 3, n: 1, NH: 2, HS: 8, Tmax: 7, start: 6 },
  { B: 1, n: 5, NH: 4, HS: 12, Tmax: 5, start: 0 },
];

Deno.test(
  { name: "kvAppend writes K and V at the cache's next positions", ...GPU_TEST },
  async () => {
    const f = await gpuFixture();
    let seed = 1;
    for (const s of CASES) {
      const C = s.NH * s.HS, cache = s.B * s.NH * s.Tmax * s.HS;
      const qkv = Float32Array.from(randn(s.B * s.n * 3 * C, seed++));
      const k0 = Float32Array.from(randn(cache, seed++)),
        v0 = Float32Array.from(randn(cache, seed++));
      const tk = f.upload(k0, [cache]), tv = f.upload(v0, [cache]);
      kvAppend(f.enc, { qkv: f.upload(qkv, [s.B, s.n, 3 * C]), k: tk, v: tv, ...s });
      const want = kvAppendRef(qkv, k0, v0, s);
      const [gk, gv] = [await f.readF32(tk), await f.readF32(tv)];
      for (let i = 0; i < cache; i++) {
        if (gk[i] !== want.k[i] || gv[i] !== want.v[i]) {
          throw new Error(`${JSON.stringify(s)}: element ${i}: k ${gk[i]} / ${want.k[i]}`);
        }
      }
    }
  },
);

Deno.test(
  { name: "kvAppend refuses positions past the cache; planning mode", ...GPU_TEST },
  async () => {
    const f = await gpuFixture();
    const qkv = f.alloc.alloc([1, 2, 12], "f32", "workspace", "qkv");
    const k = f.alloc.alloc([1, 2, 4, 2], "f32", "workspace", "k");
    const v = f.alloc.alloc([1, 2, 4, 2], "f32", "workspace", "v");
    const args = { qkv, k, v, B: 1, n: 2, NH: 2, HS: 2, Tmax: 4 };
    let msg = "";
    try {
      kvAppend(f.enc, { ...args, start: 3 });
    } catch (e) {
      msg = (e as Error).message;
    }
    if (!/do not fit a cache of 4/.test(msg)) throw new Error(`expected a refusal, got '${msg}'`);
    const plan = new Encoder(null);
    kvAppend(plan, { ...args, start: 2 });
    if (plan.dispatches !== 0) throw new Error("planning mode dispatched");
  },
);
