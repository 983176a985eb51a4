/**
 * Input embeddings: out[N,C] = wte[ids] + wpe[positions] (+ wtt[types]). Keeps nothing: the ids
 * are batch data. Backward adds into the tables' gradients, deterministically, through the gather
 * indices built on the host.
 * @module
 */
import { embeddingBackward, embeddingForward } from "../core/ops/embedding.ts";
import type { FloatDType } from "../core/dtype.ts";
import type { StepContext } from "../core/step.ts";
import type { Tensor } from "../core/tensor.ts";
import type { BatchTensors, GatherIndexTensors } from "./batch_tensors.ts";
import type { Layer, SavedSpec } from "./layer.ts";
import type { Param, ParamStore } from "./params.ts";

/** Token + position (+ token-type) embeddings. */
export class Embeddings implements Layer {
  /** wte [V,C] (tied to the LM head). */
  readonly wte: Param;
  /** wpe [maxT,C]. */
  readonly wpe: Param;
  /** wtt [types,C], or null. */
  readonly wtt: Param | null;

  constructor(
    readonly name: string,
    params: ParamStore,
    /** N = B*T rows. */
    readonly rows: number,
    readonly vocab: number,
    readonly positions: number,
    readonly types: number,
    /** C. */
    readonly channels: number,
    readonly std: number,
    /** The current batch's tensors. */
    readonly batch: () => BatchTensors,
    /** Storage of the output and its gradient (the tables and their gradients stay f32). */
    readonly dtype: FloatDType = "f32",
  ) {
    const C = channels;
    this.wte = params.create(`${name}.word`, [vocab, C], { kind: "normal", std }, true);
    this.wpe = params.create(`${name}.position`, [positions, C], { kind: "normal", std }, true);
    this.wtt = types > 0
      ? params.create(`${name}.token_type`, [types, C], { kind: "normal", std }, true)
      : null;
  }

  saves(): SavedSpec[] {
    return [];
  }

  forward(ctx: StepContext): Tensor {
    const b = this.batch(), N = this.rows, C = this.channels, enc = ctx.enc;
    const out = ctx.alloc.alloc([N, C], this.dtype, "workspace", `${this.name}.out`);
    embeddingForward(enc, { out, table: this.wte.value, ids: b.ids, N, C });
    embeddingForward(enc, { out, table: this.wpe.value, ids: b.positions, N, C, accumulate: true });
    if (this.wtt && b.types) {
      embeddingForward(enc, { out, table: this.wtt.value, ids: b.types, N, C, accumulate: true });
    }
    return out;
  }

  backward(ctx: StepContext, dy: Tensor): (Tensor | null)[] {
    const b = this.batch();
    const back = (p: Param, ix: GatherIndexTensors) =>
      embeddingBackward(ctx.enc, {
        dtable: p.grad,
        dout: dy,
        unique: ix.unique,
        starts: ix.starts,
        order: ix.order,
        U: ix.count,
        C: this.channels,
      });
    back(this.wte, b.idsIndex);
    back(this.wpe, b.positionsIndex);
    if (this.wtt && b.typesIndex) back(this.wtt, b.typesIndex);
    return [];
  }
}
