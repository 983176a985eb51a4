/**
 * WGSL workgroup reductions of the `subgroup` row kernels (softmax, LayerNorm, cross-entropy):
 * the same functions, by the same names and signatures, as the `workgroup` kernels' tree
 * reductions in workgroup memory, so that a family's subgroup variant is its workgroup kernel
 * with this prelude. Within a subgroup, `subgroupAdd` / `subgroupMax` (no barrier, no memory);
 * across the subgroups of a workgroup, one slot each in workgroup memory: one barrier, then every
 * subgroup combines the slots (lane k the slots k, k + sg_size, ...) and reduces its lanes again,
 * so all invocations get the total without a second write and read. Against the tree of
 * log2(WG_X) barriers that is two barriers per reduction (the second keeps the slots until all
 * have read them).
 *
 * Assumptions, all of WebGPU's `subgroups` feature or checked by `row_reduce_subgroup_test.ts`:
 * subgroup sizes from 4 (SUBGROUP_MIN_SIZE, WebGPU's lower bound of subgroupMinSize: the slots
 * are WG_X / 4) to 128, any of them at run time (the code reads `sg_size`); a subgroup larger
 * than the workgroup is one partial subgroup; subgroups are consecutive runs of
 * local_invocation_index (subgroup s holds s * sg_size + sg_id), which is what Vulkan
 * implementations do for one-dimensional workgroups and what the layout test checks on the
 * device at hand. Kernels using these need `subgroups: true` in their KernelSpec (the builtins
 * `sg_id`, `sg_size`) and must call them from uniform control flow, as the tree versions.
 *
 * The sums are deterministic on a given device (each subgroup combines the same slots in the same
 * lanes), but their order is the hardware's, not the tree's: results agree with the workgroup
 * variant to rounding, not bit for bit.
 * @module
 */

/** The smallest subgroup size WebGPU allows an adapter to report (subgroupMinSize >= 4). */
export const SUBGROUP_MIN_SIZE = 4;

/** WGSL: the workgroup-memory slots of reduction `fn` (one per subgroup, at most WG_X / 4). */
function slotsWgsl(fn: string, T: string): string {
  return `var<workgroup> ${fn}_slots: array<${T}, WG_X / ${SUBGROUP_MIN_SIZE}u>;`;
}

/**
 * WGSL `fn <fn>(v: T, lidx: u32) -> T`: the sum (`add`) or maximum (`max`) of `v` over the
 * workgroup, returned to every invocation. T is f32 or vecNf.
 */
export function subgroupReduceWgsl(fn: string, T: string, op: "add" | "max"): string {
  const sg = op === "add" ? "subgroupAdd" : "subgroupMax";
  const identity = op === "add" ? `${T}(0.0)` : `${T}(-3.40282347e38)`;
  const join = op === "add" ? `acc + ${fn}_slots[k]` : `max(acc, ${fn}_slots[k])`;
  return `
${slotsWgsl(fn, T)}
fn ${fn}(v: ${T}, lidx: u32) -> ${T} {
  let part = ${sg}(v);
  if (sg_id == 0u) { ${fn}_slots[lidx / sg_size] = part; }
  workgroupBarrier();
  let groups = (WG_X + sg_size - 1u) / sg_size;
  var acc = ${identity};
  for (var k = sg_id; k < groups; k += sg_size) { acc = ${join}; }
  let total = ${sg}(acc);
  workgroupBarrier(); // the slots stay until every subgroup has read them
  return total;
}`;
}

/**
 * WGSL `fn <fn>(m: f32, s: f32, lidx: u32) -> vec2f`: the online-softmax combine over the
 * workgroup of per-invocation (max m, sum s of exp(x - m)) into (max M, sum of exp(x - M)),
 * returned to every invocation. An invocation that saw nothing passes (`lowest`, 0).
 */
export function subgroupOnlineMaxSumWgsl(fn: string, lowest: string): string {
  return `
${slotsWgsl(fn, "vec2f")}
fn ${fn}(m: f32, s: f32, lidx: u32) -> vec2f {
  let pm = subgroupMax(m);
  let ps = subgroupAdd(s * exp(m - pm));
  if (sg_id == 0u) { ${fn}_slots[lidx / sg_size] = vec2f(pm, ps); }
  workgroupBarrier();
  let groups = (WG_X + sg_size - 1u) / sg_size;
  var am = ${lowest};
  var as_ = 0.0;
  for (var k = sg_id; k < groups; k += sg_size) {
    let x = ${fn}_slots[k];
    let mm = max(am, x.x);
    as_ = as_ * exp(am - mm) + x.y * exp(x.x - mm);
    am = mm;
  }
  let tm = subgroupMax(am);
  let ts = subgroupAdd(as_ * exp(am - tm));
  workgroupBarrier(); // the slots stay until every subgroup has read them
  return vec2f(tm, ts);
}`;
}
