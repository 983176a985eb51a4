/**
 * Parameters: each has a value tensor (`param`) and a gradient tensor (`grad`), allocated once.
 * Initialisation is done on the host from a seeded generator and uploaded.
 * @module
 */
import type { Allocator } from "../core/allocator.ts";
import type { Encoder } from "../core/encoder.ts";
import type { Tensor } from "../core/tensor.ts";

/** How a parameter is initialised. */
export type Init = { kind: "normal"; std: number } | { kind: "zeros" } | { kind: "ones" };

/** A trainable parameter. */
export interface Param {
  /** Dotted name, e.g. `block0.attn.qkv.weight` (safetensors key). */
  name: string;
  /** Shape. */
  shape: readonly number[];
  /** Initialiser. */
  init: Init;
  /** Whether AdamW's weight decay applies (not to biases and LayerNorm parameters). */
  decay: boolean;
  /** Values [shape], category `param`. */
  value: Tensor;
  /** Gradient [shape], category `grad`, accumulated (+=) by backward, zeroed per optimizer step. */
  grad: Tensor;
}

/** Creates and lists a model's parameters. */
export class ParamStore {
  /** All parameters in creation order. */
  readonly list: Param[] = [];
  constructor(readonly alloc: Allocator) {}

  /** Create a parameter with its gradient. */
  create(name: string, shape: readonly number[], init: Init, decay: boolean): Param {
    if (this.list.some((p) => p.name === name)) throw new Error(`duplicate parameter '${name}'`);
    const value = this.alloc.alloc(shape, "f32", "param", name);
    const grad = this.alloc.alloc(shape, "f32", "grad", `${name}.grad`);
    const p: Param = { name, shape, init, decay, value, grad };
    this.list.push(p);
    return p;
  }

  /** Total elements. */
  count(): number {
    return this.list.reduce((s, p) => s + p.value.size, 0);
  }

  /** Initialise every parameter on the host (seeded) and upload. */
  initialize(enc: Encoder, seed: number): void {
    for (const [i, p] of this.list.entries()) enc.write(p.value, initialValues(p, seed + 7919 * i));
  }
}

/** Host values of a parameter's initialisation (normal via a seeded Box-Muller). */
export function initialValues(p: Pick<Param, "shape" | "init">, seed: number): Float32Array {
  const n = p.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  if (p.init.kind === "ones") out.fill(1);
  else if (p.init.kind === "normal") {
    let s = seed >>> 0;
    const next = () => {
      s = (s + 0x6d2b79f5) >>> 0;
      let t = s;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const std = p.init.std;
    for (let i = 0; i < n; i += 2) {
      const r = Math.sqrt(-2 * Math.log(Math.max(next(), 1e-12))), a = 2 * Math.PI * next();
      out[i] = std * r * Math.cos(a);
      if (i + 1 < n) out[i + 1] = std * r * Math.sin(a);
    }
  }
  return out;
}
