/**
 * The analytic memory planner. From declarations alone — each layer's saved tensors and call
 * peaks, the node list, the persistent tensors — it replays the step's allocation sequence
 * symbolically (reference counts, last uses, gradient accumulation) and returns the bytes by
 * category and the peak. No layer code runs and no GPU is needed. A test holds its prediction
 * equal, to the byte, to the allocator's measured peak of a real step.
 * @module
 */
import { type ByCategory, totalOf } from "../allocator.ts";
import { bytesOf, type DType, numel } from "../dtype.ts";
import type { Category } from "../tensor.ts";

/** One tensor a layer keeps from forward to backward. */
export interface SavedSpec {
  /** Name within the layer, e.g. `P` or `mask`. */
  name: string;
  /** Shape in elements. */
  shape: readonly number[];
  /** Element type (`u8` / `bit` are packed masks). */
  dtype: DType;
  /**
   * `own`: allocated by the layer for backward alone. `input`/`output`: the layer's (first) input
   * or its output, which other layers may keep too; the planner counts such a tensor once.
   */
  of: "own" | "input" | "output";
}

/** Memory a layer declares: what it keeps and the peaks of its calls. */
export interface LayerMemory {
  /** What forward keeps for backward. */
  saves: SavedSpec[];
  /** Output shape and dtype. */
  output: { shape: readonly number[]; dtype: DType };
  /** Max over forward of (live bytes - live bytes before the call). */
  forwardPeak: number;
  /** Max over backward of (live bytes - live bytes before the call). */
  backwardPeak: number;
  /** Forward returns its first input itself (one more reference), allocating nothing. */
  forwardAlias?: boolean;
  /** Backward returns dy itself (one more reference) as every input's gradient. */
  backwardAlias?: boolean;
  /** The output is a persistent tensor (one more reference), not a new allocation. */
  outputPersistent?: boolean;
  /** Backward returns this own saved tensor as the input gradient (moved to workspace). */
  gradFromSave?: string;
  /** Indices of inputs that receive no gradient (e.g. masks). */
  noGrad?: number[];
}

/** One node of the model's node list. */
export interface PlanNode {
  /** Layer name. */
  name: string;
  /** Input names. */
  inputs: readonly string[];
  /** Output name. */
  output: string;
  /** Declared memory. */
  memory: LayerMemory;
}

/** Everything the planner needs. */
export interface PlanInput {
  /** Persistent bytes by category (params, grads, optimizer state, small persistent workspace). */
  persistent: ByCategory;
  /** Per-step batch tensors (workspace), in allocation order. */
  batchBytes: number[];
  /** External (batch) names in the node list. */
  externals: readonly string[];
  /** The node list. */
  nodes: readonly PlanNode[];
  /** Bytes of workspace allocated after backward (e.g. the grad-norm scratch). */
  afterBackwardBytes: number;
}

/** The planner's answer. */
export interface Plan {
  /** Peak of the live total over the step. */
  peakBytes: number;
  /** Bytes by category at that peak. */
  peakByCategory: ByCategory;
  /** Where the peak happened: `forward:<layer>`, `backward:<layer>`, ... */
  peakAt: string;
  /** Saved activations per layer, bytes (own saves, and input/output saves counted at the first keeper). */
  savedByLayer: { name: string; bytes: number }[];
  /** Total saved activation bytes at the end of forward. */
  activationBytes: number;
}

interface Sym {
  bytes: number;
  refs: number;
  category: Category;
}

/** Predict the memory of one training step. */
export function planStep(input: PlanInput): Plan {
  const live = { ...input.persistent };
  let peak = totalOf(live), peakBy = { ...live }, peakAt = "persistent";
  const bump = (extra: number, where: string, cat: Category = "workspace") => {
    const t = totalOf(live) + extra;
    if (t > peak) {
      peak = t;
      peakBy = { ...live };
      peakBy[cat] += extra;
      peakAt = where;
    }
  };
  const alloc = (bytes: number, cat: Category, where: string): Sym => {
    live[cat] += bytes;
    bump(0, where);
    return { bytes, refs: 1, category: cat };
  };
  const release = (s: Sym) => {
    if (--s.refs === 0) live[s.category] -= s.bytes;
  };
  const recat = (s: Sym, cat: Category) => {
    live[s.category] -= s.bytes;
    live[cat] += s.bytes;
    s.category = cat;
  };
  // The step starts: persistent tensors are live.
  peak = totalOf(live), peakBy = { ...live }, peakAt = "step start";
  const batch = input.batchBytes.map((b) => alloc(b, "workspace", "batch"));
  const env = new Map<string, Sym>();
  const shapes = new Map<string, number>();
  const kept = new Map<string, Map<string, Sym>>();
  const savedByLayer: { name: string; bytes: number }[] = [];
  const counted = new Set<Sym>();
  const lastUse = new Map<string, number>();
  input.nodes.forEach((n, i) => n.inputs.forEach((x) => lastUse.set(x, i)));
  const isExt = (x: string) => input.externals.includes(x);
  let final: Sym | null = null;
  input.nodes.forEach((n, i) => {
    const m = n.memory;
    const where = `forward:${n.name}`;
    const before = totalOf(live);
    bump(m.forwardPeak, where);
    void before;
    const x0 = n.inputs.length > 0 && !isExt(n.inputs[0]) ? env.get(n.inputs[0])! : null;
    let out: Sym;
    if (m.forwardAlias) {
      out = x0!;
      out.refs++;
    } else if (m.outputPersistent) {
      out = { bytes: 0, refs: 1, category: "workspace" };
    } else {
      out = alloc(bytesOf(m.output.dtype, numel(m.output.shape)), "workspace", where);
    }
    shapes.set(n.output, bytesOf(m.output.dtype, numel(m.output.shape)));
    const mine = new Map<string, Sym>();
    let savedHere = 0;
    for (const s of m.saves) {
      let t: Sym;
      if (s.of === "own") t = alloc(bytesOf(s.dtype, numel(s.shape)), "activation", where);
      else {
        t = s.of === "input" ? x0! : out;
        t.refs++;
        if (t.category !== "activation") recat(t, "activation");
      }
      if (!counted.has(t)) {
        counted.add(t);
        savedHere += t.bytes;
      }
      mine.set(s.name, t);
    }
    savedByLayer.push({ name: n.name, bytes: savedHere });
    kept.set(n.name, mine);
    env.set(n.output, out);
    for (const x of n.inputs) {
      if (!isExt(x) && lastUse.get(x) === i) {
        release(env.get(x)!);
        env.delete(x);
      }
    }
  });
  const last = input.nodes[input.nodes.length - 1];
  final = env.get(last.output)!;
  env.delete(last.output);
  const activationBytes = live.activation;
  const grads = new Map<string, Sym>();
  for (let i = input.nodes.length - 1; i >= 0; i--) {
    const n = input.nodes[i], m = n.memory;
    const where = `backward:${n.name}`;
    const dy = i === input.nodes.length - 1 ? final : grads.get(n.output) ?? env.get(n.output)!;
    bump(m.backwardPeak, where);
    const mine = kept.get(n.name)!;
    const dxs: (Sym | null)[] = n.inputs.map((x, j) => {
      if (m.noGrad?.includes(j)) return null;
      if (m.backwardAlias) {
        dy.refs++;
        return dy;
      }
      if (m.gradFromSave) {
        const t = mine.get(m.gradFromSave)!;
        recat(t, "workspace");
        mine.delete(m.gradFromSave);
        return t;
      }
      return alloc(shapes.get(x) ?? 0, "workspace", where);
    });
    for (const t of mine.values()) release(t);
    release(dy);
    grads.delete(n.output);
    n.inputs.forEach((x, j) => {
      const dx = dxs[j];
      if (!dx) return;
      if (isExt(x)) return release(dx);
      const g = grads.get(x);
      if (!g) grads.set(x, dx);
      else if (g.refs === 1 && g !== dx) release(dx);
      else {
        const sum = alloc(g.bytes, "workspace", where);
        release(g);
        release(dx);
        grads.set(x, sum);
      }
    });
  }
  for (const g of grads.values()) release(g);
  for (const b of batch) release(b);
  const scratch = alloc(input.afterBackwardBytes, "workspace", "grad-norm");
  release(scratch);
  return { peakBytes: peak, peakByCategory: peakBy, peakAt, savedByLayer, activationBytes };
}
