/**
 * A model's forward as a flat list of layer calls over named tensors; backward is its mirror.
 * The executor owns tensor lifetimes: an output is released after its last use (layers retain
 * what they keep), and gradients flowing into a tensor used twice are summed in place.
 * @module
 */
import { scaleAcc } from "../core/ops/elementwise.ts";
import { add } from "../core/ops/elementwise.ts";
import type { StepContext } from "../core/step.ts";
import type { Tensor } from "../core/tensor.ts";
import type { Layer } from "../layers/layer.ts";

/** One layer call: `output = layer(inputs...)`. */
export interface Node {
  /** The layer. */
  layer: Layer;
  /** Input tensor names (externals or earlier outputs). */
  inputs: string[];
  /** Output tensor name. */
  output: string;
}

/** Executes a node list forward and backward. */
export class Graph {
  /** Index of the last node reading each name. */
  readonly lastUse: ReadonlyMap<string, number>;
  #env = new Map<string, Tensor>();
  #final: Tensor | null = null;
  /** Outputs nobody consumes besides the final one: further losses (e.g. BERT's NSP). */
  #losses = new Map<string, Tensor>();

  constructor(
    /** Nodes in forward order; the last one produces the loss. */
    readonly nodes: readonly Node[],
    /** Names provided from outside (batch data): never released, never differentiated. */
    readonly externals: readonly string[],
  ) {
    const last = new Map<string, number>();
    const known = new Set(externals);
    nodes.forEach((n, i) => {
      for (const x of n.inputs) {
        if (!known.has(x)) throw new Error(`node ${n.layer.name}: input '${x}' is not defined yet`);
        last.set(x, i);
      }
      if (known.has(n.output)) throw new Error(`node ${n.layer.name}: '${n.output}' redefined`);
      known.add(n.output);
    });
    this.lastUse = last;
  }

  /** Run forward; returns the final output (owned by the graph until `backward` or `release`). */
  forward(ctx: StepContext, externals: Record<string, Tensor | null>): Tensor {
    const env = this.#env;
    env.clear();
    const isExternal = (x: string) => this.externals.includes(x);
    this.nodes.forEach((node, i) => {
      ctx.observer?.enter("forward", node.layer.name);
      const ins = node.inputs.map((x) => (isExternal(x) ? externals[x] : env.get(x)) ?? null);
      const out = node.layer.forward(ctx, ins as Tensor[]);
      env.set(node.output, out);
      for (const x of node.inputs) {
        if (!isExternal(x) && this.lastUse.get(x) === i) {
          ctx.alloc.release(env.get(x)!);
          env.delete(x);
        }
      }
      ctx.observer?.leave("forward", node.layer.name);
    });
    const last = this.nodes[this.nodes.length - 1].output;
    this.#final = env.get(last)!;
    env.delete(last);
    this.#losses = new Map(env);
    env.clear();
    return this.#final;
  }

  /** Release the final output without a backward pass (evaluation). */
  release(ctx: StepContext): void {
    if (this.#final) ctx.alloc.release(this.#final);
    for (const t of this.#losses.values()) ctx.alloc.release(t);
    this.#final = null;
    this.#losses.clear();
  }

  /** Run backward over the nodes in reverse; parameter gradients accumulate in their tensors. */
  backward(ctx: StepContext): void {
    const final = this.#final;
    if (!final) throw new Error("backward without forward");
    const grads = new Map<string, Tensor>();
    for (let i = this.nodes.length - 1; i >= 0; i--) {
      const node = this.nodes[i];
      ctx.observer?.enter("backward", node.layer.name);
      const isLast = i === this.nodes.length - 1;
      // A loss's backward is seeded by the loss itself (its layer ignores dy).
      const dy = isLast ? final : grads.get(node.output) ?? this.#losses.get(node.output);
      if (!dy) throw new Error(`no gradient reached '${node.output}'`);
      this.#losses.delete(node.output);
      const dxs = node.layer.backward(ctx, dy);
      ctx.alloc.release(dy);
      grads.delete(node.output);
      node.inputs.forEach((x, j) => {
        const dx = dxs[j] ?? null;
        if (!dx) return;
        if (this.externals.includes(x)) {
          ctx.alloc.release(dx);
          return;
        }
        const g = grads.get(x);
        if (!g) grads.set(x, dx);
        else if (g.refs === 1 && g !== dx) {
          scaleAcc(ctx.enc, g, dx, 1, 1); // g += dx in place
          ctx.alloc.release(dx);
        } else {
          const sum = ctx.alloc.alloc(g.shape, g.dtype, "workspace", `d${x}`);
          add(ctx.enc, sum, g, dx);
          ctx.alloc.release(g);
          ctx.alloc.release(dx);
          grads.set(x, sum);
        }
      });
      ctx.observer?.leave("backward", node.layer.name);
    }
    this.#final = null;
    for (const g of grads.values()) ctx.alloc.release(g);
  }
}
