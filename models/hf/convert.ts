/**
 * Tensors both ways between tempo's parameters and a Hugging Face checkpoint, by the layout's
 * rules (layout.ts). Export writes every layout tensor; import reads them back into tempo's
 * parameters, accepting what other tools' checkpoints of the same architecture hold too: names
 * without the base model's prefix (the original `gpt2` checkpoint's `h.0...`, a BertModel's
 * `embeddings...`), LayerNorm `gamma`/`beta` (bert-base-uncased's), causal-mask and position-id
 * buffers (ignored), and tied copies (checked equal to what they are tied to).
 * @module
 */
import { TempoError } from "../../core/errors.ts";
import type { HostTensor } from "../../core/train/safetensors.ts";
import { listFew } from "../../core/train/weights.ts";
import type { HfLayout, HfTensor } from "./layout.ts";

/** A tempo parameter's name and shape. */
export interface ParamShape {
  /** Name. */
  name: string;
  /** Shape. */
  shape: readonly number[];
}

const numel = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

function need(tempo: Readonly<Record<string, HostTensor>>, name: string): HostTensor {
  const t = Object.hasOwn(tempo, name) ? tempo[name] : undefined;
  if (!t) throw new Error(`tempo tensor '${name}' is missing`);
  return t;
}

/** The HF tensor `t` made from tempo's tensors. */
function exportOne(t: HfTensor, tempo: Readonly<Record<string, HostTensor>>): HostTensor {
  const src = need(tempo, t.rule.tempo);
  const out = new Float32Array(numel(t.shape));
  const r = t.rule;
  if (r.kind === "copy") {
    if (src.data.length !== out.length) throw new Error(`${t.name}: size differs from ${r.tempo}`);
    out.set(src.data);
  } else if (r.kind === "transpose") {
    const [rows, cols] = src.shape; // tempo [out, in] -> HF [in, out]
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < cols; j++) out[j * rows + i] = src.data[i * cols + j];
    }
  } else if (r.kind === "rows") {
    const width = numel(src.shape.slice(1));
    out.set(src.data.subarray(r.from * width, (r.from + r.count) * width));
  } else {
    const C = src.shape[1], rows = Math.min(src.shape[0], t.shape[0] - r.offset);
    out.set(src.data.subarray(0, rows * C), r.offset * C);
  }
  return { shape: [...t.shape], data: out };
}

/** The HF checkpoint's tensors (layout order) from tempo's parameters by name. */
export function toHf(
  layout: HfLayout,
  tempo: Readonly<Record<string, HostTensor>>,
): Record<string, HostTensor> {
  return Object.fromEntries(layout.tensors.map((t) => [t.name, exportOne(t, tempo)]));
}

/** Buffers that HF checkpoints may hold and tempo derives itself. */
const BUFFERS = [/(^|\.)attn\.(masked_)?bias$/, /(^|\.)position_ids$/];

/** What an import found besides the tensors. */
export interface FromHf {
  /** Tempo's parameters by name. */
  tensors: Record<string, HostTensor>;
  /** Tensors of the checkpoint that no parameter uses (e.g. a pooler). */
  unused: string[];
  /** Notes for the user (position rows without an HF row, ...). */
  notes: string[];
}

/**
 * Tempo's parameters from an HF checkpoint's tensors. Throws one TempoError listing the first
 * missing tensors and shape differences (`what` names the folder; `hint` says what to do).
 */
export function fromHf(
  layout: HfLayout,
  hf: Readonly<Record<string, HostTensor>>,
  params: readonly ParamShape[],
  what: string,
  hint: string,
): FromHf {
  const known = new Set([...layout.tensors.map((t) => t.name), ...Object.keys(layout.tied)]);
  const byName = new Map<string, HostTensor>();
  const unused: string[] = [];
  for (const [raw, t] of Object.entries(hf)) {
    if (BUFFERS.some((re) => re.test(raw))) continue;
    let name = raw.replace(/\.LayerNorm\.gamma$/, ".LayerNorm.weight")
      .replace(/\.LayerNorm\.beta$/, ".LayerNorm.bias");
    if (!known.has(name) && known.has(layout.basePrefix + name)) name = layout.basePrefix + name;
    if (known.has(name)) byName.set(name, t);
    else unused.push(raw);
  }
  const missing: string[] = [], shapes: string[] = [];
  for (const t of layout.tensors) {
    const h = byName.get(t.name);
    if (!h) missing.push(t.name);
    else if (!shapeFits(t, h.shape)) {
      shapes.push(`${t.name} is [${h.shape}], the model's [${t.shape}]`);
    }
  }
  const problems: string[] = [];
  if (missing.length) problems.push(`lacks ${listFew(missing)}`);
  if (shapes.length) problems.push(`has other shapes: ${listFew(shapes)}`);
  if (problems.length) {
    throw new TempoError(`${what} does not match the model: it ${problems.join("; it ")}`, hint);
  }
  for (const [tiedName, target] of Object.entries(layout.tied)) {
    const a = byName.get(tiedName), b = byName.get(target)!;
    if (a && !sameValues(a.data, b.data)) {
      throw new TempoError(
        `${what}: ${tiedName} differs from ${target}, which tempo ties it to (its head is untied)`,
        "tempo's models tie the output projection to the word embedding; this checkpoint cannot be represented",
      );
    }
  }
  const shapeOf = new Map(params.map((p) => [p.name, p.shape]));
  const tensors: Record<string, HostTensor> = {};
  const notes: string[] = [];
  const target = (name: string) => {
    const shape = shapeOf.get(name);
    if (!shape) throw new Error(`the layout names '${name}', which the model does not have`);
    return tensors[name] ??= { shape: [...shape], data: new Float32Array(numel(shape)) };
  };
  for (const t of layout.tensors) {
    const h = byName.get(t.name)!, r = t.rule, dst = target(r.tempo);
    if (r.kind === "copy") dst.data.set(h.data);
    else if (r.kind === "transpose") {
      const [rows, cols] = dst.shape; // HF [in, out] = [cols, rows] -> tempo [out, in]
      for (let i = 0; i < rows; i++) {
        for (let j = 0; j < cols; j++) dst.data[i * cols + j] = h.data[j * rows + i];
      }
    } else if (r.kind === "rows") {
      dst.data.set(h.data, r.from * numel(dst.shape.slice(1)));
    } else {
      const C = dst.shape[1], have = h.shape[0] - r.offset;
      const rows = Math.min(dst.shape[0], have);
      dst.data.set(h.data.subarray(r.offset * C, (r.offset + rows) * C));
      if (rows < dst.shape[0]) {
        notes.push(
          `${t.name} has rows for ${have} positions: tempo's positions ${rows}..${
            dst.shape[0] - 1
          } start at zero`,
        );
      }
    }
  }
  const uncovered = params.filter((p) => !tensors[p.name]).map((p) => p.name);
  if (uncovered.length) {
    throw new Error(`the HF layout leaves parameters unset: ${listFew(uncovered)}`);
  }
  return { tensors, unused, notes };
}

function shapeFits(t: HfTensor, shape: readonly number[]): boolean {
  if (t.rule.kind === "positions") {
    return shape.length === 2 && shape[1] === t.shape[1] && shape[0] > t.rule.offset;
  }
  return shape.length === t.shape.length && shape.every((d, i) => d === t.shape[i]);
}

function sameValues(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}
