/**
 * Parameters for inference: values only. Every parameter gets its value tensor (`param`); its
 * gradient is a placeholder from a planning allocator (no buffer, counted nowhere), so anything
 * that tried to differentiate would fail by name instead of writing memory. A name created again
 * returns the parameter already made (its shape must agree): an inference model builds one node
 * list per input length, all over the same parameters.
 * @module
 */
import { Allocator } from "../core/allocator.ts";
import { type Init, type Param, ParamStore } from "./params.ts";

/** A parameter store without gradients, where a repeated name means the same parameter. */
export class InferenceParams extends ParamStore {
  readonly #placeholders = new Allocator();
  readonly #byName = new Map<string, Param>();

  override create(name: string, shape: readonly number[], init: Init, decay: boolean): Param {
    const have = this.#byName.get(name);
    if (have) {
      if (have.shape.join() !== shape.join()) {
        throw new Error(`parameter '${name}' is [${have.shape}], asked for [${shape}]`);
      }
      return have;
    }
    const value = this.alloc.alloc(shape, "f32", "param", name);
    const grad = this.#placeholders.alloc(shape, "f32", "grad", `${name}.grad (none)`);
    const p: Param = { name, shape, init, decay, value, grad };
    this.list.push(p);
    this.#byName.set(name, p);
    return p;
  }
}
