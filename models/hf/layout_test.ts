import { Allocator } from "../../core/allocator.ts";
import { TempoError } from "../../core/errors.ts";
import type { HostTensor } from "../../core/train/safetensors.ts";
import { initialValues } from "../../layers/params.ts";
import { BASELINE } from "../../layers/tempo_options.ts";
import { PRESETS, resolveConfig } from "../config.ts";
import { Transformer } from "../transformer.ts";
import { configDifferences, hfConfig, matchingPreset } from "./config.ts";
import { fromHf, toHf } from "./convert.ts";
import { hfLayout } from "./layout.ts";

const FIXTURE = JSON.parse(
  await Deno.readTextFile(new URL("../testdata/hf_tensors.json", import.meta.url)),
) as Record<
  string,
  { architecture: string; tied_not_written: string[]; tensors: [string, number[], string][] }
>;

/** Tempo's parameter names and shapes of a config (no values: the presets are large). */
function shapes(name: string, over: Record<string, unknown> = {}) {
  const cfg = resolveConfig(name, over);
  const m = new Transformer(cfg, { batch: 1, seqLen: 2 }, BASELINE, new Allocator());
  return { cfg, list: m.params.map((p) => ({ name: p.name, shape: p.shape })) };
}

/** The same with seeded values (std 1, so that no two elements are equal by accident). */
function params(name: string, over: Record<string, unknown> = {}) {
  const { cfg, list } = shapes(name, over);
  const tensors: Record<string, HostTensor> = {};
  list.forEach((p, i) => {
    const data = initialValues({ shape: p.shape, init: { kind: "normal", std: 1 } }, 17 + i);
    tensors[p.name] = { shape: [...p.shape], data };
  });
  return { cfg, list, tensors };
}

Deno.test("HF layout: names, shapes and dtypes equal the fixture for bert-base, roberta-base, gpt2", () => {
  for (const [preset, padId] of [["bert-base", 0], ["roberta-base", 1], ["gpt2", null]] as const) {
    const cfg = resolveConfig(preset);
    const layout = hfLayout(cfg, { padId });
    const want = FIXTURE[preset];
    const got = layout.tensors.map((t) => JSON.stringify([t.name, t.shape, "F32"])).sort();
    const exp = want.tensors.map((t) => JSON.stringify(t)).sort();
    const missing = exp.filter((x) => !got.includes(x)),
      extra = got.filter((x) => !exp.includes(x));
    if (missing.length || extra.length) {
      throw new Error(`${preset}: missing ${missing.slice(0, 3)}; extra ${extra.slice(0, 3)}`);
    }
    if (layout.architecture !== want.architecture) {
      throw new Error(`${preset}: ${layout.architecture}`);
    }
    if (Object.keys(layout.tied).sort().join() !== [...want.tied_not_written].sort().join()) {
      throw new Error(`${preset}: tied ${Object.keys(layout.tied)}`);
    }
  }
});

Deno.test("HF layout covers every tempo parameter of every preset, element for element", () => {
  const configs: [string, Record<string, unknown>][] = [
    ...Object.keys(PRESETS).map((n): [string, Record<string, unknown>] => [n, {}]),
    ["bert-tiny", { nsp: true }],
  ];
  for (const [name, over] of configs) {
    const { cfg, list } = shapes(name, over);
    const layout = hfLayout(cfg, { padId: 1 });
    const covered = new Map<string, number>();
    for (const t of layout.tensors) {
      const n = t.rule.kind === "positions"
        ? (t.shape[0] - t.rule.offset) * t.shape[1]
        : t.shape.reduce((a, b) => a * b, 1);
      covered.set(t.rule.tempo, (covered.get(t.rule.tempo) ?? 0) + n);
    }
    for (const p of list) {
      const size = p.shape.reduce((a, b) => a * b, 1);
      const c = covered.get(p.name) ?? 0;
      // RoBERTa's position rows: maxPositions - 2 of them (two reserved, as HF's roberta-base).
      const want = cfg.arch === "roberta" && p.name === "embeddings.position"
        ? size - 2 * cfg.hidden
        : size;
      if (c !== want) throw new Error(`${name}: ${p.name} covered ${c} of ${want}`);
      covered.delete(p.name);
    }
    if (covered.size) {
      throw new Error(`${name}: layout names unknown parameters ${[...covered.keys()]}`);
    }
  }
});

Deno.test("HF tensors round trip exactly: transposes, q/k/v rows, RoBERTa's position offset", () => {
  for (
    const [name, padId] of [["gpt2-tiny", null], ["bert-tiny", 0], ["roberta-tiny", 256]] as const
  ) {
    const { cfg, list, tensors } = params(name);
    const layout = hfLayout(cfg, { padId, positions: cfg.maxPositions });
    const hf = toHf(layout, tensors);
    const back = fromHf(layout, hf, list, "x", "");
    for (const p of list) {
      const a = tensors[p.name].data, b = back.tensors[p.name].data;
      for (let i = 0; i < a.length; i++) {
        if (!Object.is(a[i], b[i])) throw new Error(`${name}: ${p.name}[${i}] ${a[i]} -> ${b[i]}`);
      }
    }
    if (back.unused.length || back.notes.length) {
      throw new Error(`${name}: ${back.unused} ${back.notes}`);
    }
  }
  // GPT-2's Conv1D: c_attn [C, 3C] is the transpose of qkv [3C, C]; BERT's key rows are C..2C.
  const g = params("gpt2-tiny"), C = g.cfg.hidden;
  const hf = toHf(hfLayout(g.cfg, { padId: null }), g.tensors);
  const qkv = g.tensors["block0.attn.qkv.weight"].data,
    cattn = hf["transformer.h.0.attn.c_attn.weight"];
  if (cattn.shape.join() !== `${C},${3 * C}` || cattn.data[5 * 3 * C + 70] !== qkv[70 * C + 5]) {
    throw new Error("c_attn is not qkv transposed");
  }
  const b = params("bert-tiny");
  const key = toHf(
    hfLayout(b.cfg, { padId: 0 }),
    b.tensors,
  )["bert.encoder.layer.1.attention.self.key.weight"];
  if (key.data[3] !== b.tensors["block1.attn.qkv.weight"].data[b.cfg.hidden * b.cfg.hidden + 3]) {
    throw new Error("key is not rows C..2C of qkv");
  }
  // RoBERTa with pad 1: HF rows 0 and 1 are zero, row 2 is tempo's row 0.
  const r = params("roberta-tiny");
  const pos =
    toHf(hfLayout(r.cfg, { padId: 1 }), r.tensors)["roberta.embeddings.position_embeddings.weight"];
  const H = r.cfg.hidden, tp = r.tensors["embeddings.position"].data;
  if (
    pos.shape[0] !== r.cfg.maxPositions || pos.data[H + 4] !== 0 || pos.data[2 * H + 4] !== tp[4]
  ) {
    throw new Error(`RoBERTa positions: [${pos.shape}]`);
  }
});

Deno.test("HF import reads other tools' names and refuses mismatches by name", () => {
  const g = params("gpt2-tiny");
  const layout = hfLayout(g.cfg, { padId: null });
  const hf = toHf(layout, g.tensors);
  // The original gpt2 checkpoint: no `transformer.` prefix, causal-mask buffers, a tied head copy.
  const base: Record<string, HostTensor> = {};
  for (const [k, v] of Object.entries(hf)) base[k.replace(/^transformer\./, "")] = v;
  base["h.0.attn.bias"] = { shape: [1], data: new Float32Array(1) };
  base["lm_head.weight"] = hf["transformer.wte.weight"];
  const a = fromHf(layout, base, g.list, "x", "");
  if (a.unused.length) throw new Error(`unused ${a.unused}`);
  const untied = { ...base, "lm_head.weight": { shape: [1], data: new Float32Array(1) } };
  const refused = (f: () => unknown, re: RegExp) => {
    try {
      f();
    } catch (e) {
      if (e instanceof TempoError && re.test(e.message)) return;
      throw e;
    }
    throw new Error(`accepted; expected ${re}`);
  };
  refused(
    () => fromHf(layout, untied, g.list, "dir", ""),
    /lm_head\.weight differs from transformer\.wte\.weight/,
  );
  const short = { ...hf };
  delete short["transformer.h.1.ln_2.bias"];
  short["transformer.wte.weight"] = {
    shape: [10, g.cfg.hidden],
    data: new Float32Array(10 * g.cfg.hidden),
  };
  refused(
    () => fromHf(layout, short, g.list, "dir", "hint"),
    /^dir does not match the model: it lacks transformer\.h\.1\.ln_2\.bias; it has other shapes: transformer\.wte\.weight is \[10,64\], the model's \[260,64\]/,
  );
  // bert-base-uncased names its LayerNorm parameters gamma and beta.
  const b = params("bert-tiny");
  const bl = hfLayout(b.cfg, { padId: 0 });
  const legacy: Record<string, HostTensor> = {};
  for (const [k, v] of Object.entries(toHf(bl, b.tensors))) {
    legacy[
      k.replace(/LayerNorm\.weight$/, "LayerNorm.gamma").replace(
        /LayerNorm\.bias$/,
        "LayerNorm.beta",
      )
    ] = v;
  }
  legacy["bert.pooler.dense.weight"] = { shape: [1], data: new Float32Array(1) };
  const got = fromHf(bl, legacy, b.list, "x", "");
  if (got.unused.join() !== "bert.pooler.dense.weight") throw new Error(`unused ${got.unused}`);
});

Deno.test("config.json: HF field names, and differences named with the matching flags", () => {
  const cfg = resolveConfig("gpt2-tiny");
  const j = hfConfig(cfg, hfLayout(cfg, { padId: null }), { padId: null, bosId: 258, eosId: 258 });
  const want = {
    model_type: "gpt2",
    n_embd: 64,
    n_layer: 2,
    n_head: 4,
    n_inner: 256,
    n_positions: 128,
    vocab_size: 260,
    activation_function: "gelu_new",
    layer_norm_epsilon: 1e-5,
  };
  for (const [k, v] of Object.entries(want)) if (j[k] !== v) throw new Error(`${k}: ${j[k]}`);
  if (configDifferences(j, cfg).length) {
    throw new Error(`differs from itself: ${configDifferences(j, cfg)}`);
  }
  const m = matchingPreset(j);
  if (m?.model !== "gpt2-tiny" || Object.keys(m.overrides).length) {
    throw new Error(JSON.stringify(m));
  }
  const other = resolveConfig("gpt2-tiny", { heads: 2, layerNormEps: 1e-6 });
  const d = configDifferences(j, other).join("; ");
  if (d !== "heads 4 (tempo's 2); layerNormEps 0.00001 (tempo's 0.000001)") throw new Error(d);
  if (!/model_type gpt2/.test(configDifferences(j, resolveConfig("bert-tiny")).join())) {
    throw new Error("architecture difference not named");
  }
  const r = resolveConfig("roberta-base");
  const rj = hfConfig(r, hfLayout(r, { padId: 1 }), { padId: 1, bosId: 0, eosId: 2 });
  if (rj.max_position_embeddings !== 514 || rj.pad_token_id !== 1 || rj.hidden_act !== "gelu") {
    throw new Error(JSON.stringify(rj));
  }
  if (matchingPreset(rj)?.model !== "roberta-base") throw new Error("roberta-base not matched");
});
