import type { KernelSpec } from "../kernel.ts";
import { assertClose, GPU_TEST, type GpuFixture, gpuFixture, randn } from "../testing.ts";
import {
  SUBGROUP_MIN_SIZE,
  subgroupOnlineMaxSumWgsl,
  subgroupReduceWgsl,
} from "./row_reduce_subgroup.ts";

/** The fixture, or null (and one line saying why) when the test device has no subgroups. */
async function subgroupFixture(test: string): Promise<GpuFixture | null> {
  const f = await gpuFixture();
  if (f.gpu.hasSubgroups) return f;
  console.log(`tempo: skipping ${test} on ${f.gpu.description}: the adapter lacks 'subgroups'`);
  return null;
}

/** The workgroup sizes of the row kernels that use these reductions (and a small one). */
const SIZES = [64, 128, 256];

function layoutSpec(wg: number): KernelSpec {
  return {
    name: `subgroup_layout_${wg}`,
    bindings: [{ name: "out", type: "u32", write: true }],
    workgroupSize: [wg],
    subgroups: true,
    body: `let o = (wid.x * WG_X + lidx) * 2u;
  out[o] = sg_id;
  out[o + 1u] = sg_size;`,
  };
}

Deno.test(
  { name: "subgroups: consecutive runs of local_invocation_index, size 4..128", ...GPU_TEST },
  async () => {
    // The reductions give subgroup s the slot lidx / sg_size of its invocation 0: right only if
    // subgroup s holds invocations s * sg_size + sg_id (checked here on the device at hand).
    const f = await subgroupFixture("the subgroup layout test");
    if (!f) return;
    for (const wg of SIZES) {
      const groups = 3;
      const out = f.alloc.alloc([groups * wg * 2], "u32", "workspace", "layout");
      f.enc.dispatch(layoutSpec(wg), { out }, {}, [groups, 1, 1]);
      const got = await f.readU32(out);
      for (let i = 0; i < groups * wg; i++) {
        const id = got[2 * i], size = got[2 * i + 1], lidx = i % wg;
        if (size < SUBGROUP_MIN_SIZE || size > 128 || (size & (size - 1)) !== 0) {
          throw new Error(`workgroup ${wg}: subgroup size ${size} outside 4..128`);
        }
        if (id !== lidx % size) {
          throw new Error(
            `workgroup ${wg}: invocation ${lidx} has subgroup_invocation_id ${id}, not ` +
              `${lidx % size} (subgroup size ${size}): subgroups are not consecutive runs`,
          );
        }
      }
    }
  },
);

/** A kernel reducing one row of WG_X values per workgroup with the helpers under test. */
function reduceSpec(wg: number): KernelSpec {
  return {
    name: `subgroup_reduce_test_${wg}`,
    bindings: [
      { name: "x", type: "f32" },
      { name: "out", type: "f32", write: true },
    ],
    workgroupSize: [wg],
    subgroups: true,
    prelude: `${subgroupReduceWgsl("sum1", "f32", "add")}
${subgroupReduceWgsl("sum2", "vec2f", "add")}
${subgroupReduceWgsl("max1", "f32", "max")}
${subgroupOnlineMaxSumWgsl("online", "-3.4028234e38")}`,
    body: `let i = wid.x * WG_X + lidx;
  let v = x[i];
  let a = sum1(v, lidx);
  let b = sum2(vec2f(v, 2.0 * v + 1.0), lidx);
  let c = max1(v, lidx);
  // Every third invocation saw no value; the others one value v: (m, s) = (v, 1).
  let seen = lidx % 3u != 1u;
  let d = online(select(-3.4028234e38, v, seen), select(0.0, 1.0, seen), lidx);
  // Every invocation's results, so that all are checked to agree.
  let o = i * 6u;
  out[o] = a;
  out[o + 1u] = b.x;
  out[o + 2u] = b.y;
  out[o + 3u] = c;
  out[o + 4u] = d.x;
  out[o + 5u] = d.y;`,
  };
}

// Tolerances: sums of up to 256 values of |v| < ~4 in f32, 2e-5 relative (f32 rounding of any
// order); the max exact; the online sum of exp relative 2e-5.
Deno.test(
  { name: "subgroup reductions: sum, vec2 sum, max, online max/sum match f64", ...GPU_TEST },
  async () => {
    const f = await subgroupFixture("the subgroup reduction test");
    if (!f) return;
    for (const wg of SIZES) {
      const groups = 5;
      const host = Float32Array.from(randn(groups * wg, wg, 1.3));
      const x = f.upload(host, [groups * wg]);
      const out = f.alloc.alloc([groups * wg * 6], "f32", "workspace", "out");
      f.enc.dispatch(reduceSpec(wg), { x, out }, {}, [groups, 1, 1]);
      const got = await f.readF32(out);
      for (let g = 0; g < groups; g++) {
        const row = Array.from(host.subarray(g * wg, (g + 1) * wg));
        const sum = row.reduce((s, v) => s + v, 0);
        const mx = Math.max(...row);
        const seen = row.filter((_, l) => l % 3 !== 1);
        const m = Math.max(...seen);
        const want = [sum, sum, 2 * sum + wg, mx, m, seen.reduce((s, v) => s + Math.exp(v - m), 0)];
        const first = Array.from(got.subarray(g * wg * 6, g * wg * 6 + 6));
        const what = `workgroup ${wg}, group ${g}`;
        assertClose(first.slice(0, 3), want.slice(0, 3), 2e-5 * wg, 0, `${what} sums`);
        assertClose([first[3], first[4]], [want[3], want[4]], 0, 0, `${what} max`);
        assertClose([first[5]], [want[5]], 0, 2e-5, `${what} online sum`);
        for (let l = 1; l < wg; l++) {
          const o = (g * wg + l) * 6;
          for (let k = 0; k < 6; k++) {
            if (got[o + k] !== first[k]) {
              throw new Error(
                `${what}: invocation ${l} got ${got[o + k]}, invocation 0 ${first[k]}`,
              );
            }
          }
        }
      }
    }
  },
);
