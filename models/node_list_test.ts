/**
 * The node lists and parameters of every preset, held against a snapshot taken from the code
 * before the architecture descriptor replaced the per-architecture block bodies: names, order,
 * inputs, outputs, each layer's settings (shapes, dropout sites, causal flag, GELU form, ...) and
 * every parameter's name, shape, initialiser and decay. Checkpoints and RNG streams depend on all
 * of these. The snapshot keeps two-block models as text (readable diffs) and full-depth models as
 * SHA-256 digests. Regenerate only on purpose: `deno run -A models/node_list_test.ts --write`.
 * @module
 */
import { Allocator } from "../core/allocator.ts";
import { Tensor } from "../core/tensor.ts";
import { ALL_TEMPO, BASELINE, type TempoOptions } from "../layers/tempo_options.ts";
import { PRESETS, resolveConfig } from "./config.ts";
import { Transformer } from "./transformer.ts";

const SNAPSHOT = new URL("./testdata/node_lists.json", import.meta.url);

/** The configurations snapshotted: every preset, and BERT with its NSP head. */
const CONFIGS: [string, Record<string, unknown>][] = [
  ...Object.keys(PRESETS).map((n): [string, Record<string, unknown>] => [n, {}]),
  ["bert-base", { nsp: true }],
];

const isParam = (v: unknown): v is { name: string; value: Tensor } =>
  typeof v === "object" && v !== null && "name" in v && "value" in v && "grad" in v;

/** A layer's public settings as sorted JSON (functions skipped, params and tensors by name). */
function settings(layer: object): string {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(layer).sort()) {
    const v = (layer as Record<string, unknown>)[k];
    if (typeof v === "function") continue;
    out[k] = isParam(v) ? `param:${v.name}` : v instanceof Tensor ? `tensor:${v.label}` : v;
  }
  return JSON.stringify(out);
}

/** One line per node, parameter and externally visible fact of a model. */
function describe(name: string, over: Record<string, unknown>, tempo: TempoOptions): string[] {
  const cfg = resolveConfig(name, over);
  const m = new Transformer(cfg, { batch: 2, seqLen: 16 }, tempo, new Allocator());
  return [
    `externals ${m.graph.externals.join(",")}`,
    `lossRows ${m.lossRows}`,
    `layerNorms ${m.layerNorms.map((l) => l.name).join(",")}`,
    ...m.graph.nodes.map((n) =>
      `node ${n.layer.name} ${n.layer.constructor.name} (${n.inputs.join(",")}) -> ${n.output} ${
        settings(n.layer)
      }`
    ),
    ...m.params.map((p) =>
      `param ${p.name} [${p.shape.join(",")}] ${JSON.stringify(p.init)} decay=${p.decay}`
    ),
  ];
}

/** The snapshot's key: the Tempo switches as the snapshot was written (standard attention). */
const key = (name: string, over: Record<string, unknown>, tempo: TempoOptions) => {
  const { gelu, layernorm, attention, masks } = tempo;
  const switches = JSON.stringify({ gelu, layernorm, attention, masks });
  return `${name}${Object.keys(over).length ? JSON.stringify(over) : ""} ${switches}`;
};

async function sha256(lines: string[]): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(lines.join("\n")));
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

interface Snapshot {
  /** Two-block models (every preset's structure), ALL_TEMPO, line by line. */
  twoBlocks: Record<string, string[]>;
  /** Full-depth models, baseline and ALL_TEMPO, as digests of their lines. */
  fullDepth: Record<string, string>;
}

async function current(): Promise<Snapshot> {
  const snap: Snapshot = { twoBlocks: {}, fullDepth: {} };
  for (const [name, over] of CONFIGS) {
    const two = { ...over, layers: 2 };
    snap.twoBlocks[key(name, two, ALL_TEMPO)] = describe(name, two, ALL_TEMPO);
    for (const t of [BASELINE, ALL_TEMPO]) {
      snap.fullDepth[key(name, over, t)] = await sha256(describe(name, over, t));
    }
  }
  return snap;
}

Deno.test("every preset's node list and parameters equal the snapshot", async () => {
  const want: Snapshot = JSON.parse(await Deno.readTextFile(SNAPSHOT));
  const got = await current();
  for (const [k, lines] of Object.entries(want.twoBlocks)) {
    const g = got.twoBlocks[k];
    if (!g) throw new Error(`${k}: missing`);
    const i = lines.findIndex((l, j) => l !== g[j]);
    if (i >= 0 || g.length !== lines.length) {
      const at = i >= 0 ? i : Math.min(lines.length, g.length);
      throw new Error(`${k}, line ${at}:\n  want ${lines[at]}\n  got  ${g[at]}`);
    }
  }
  for (const [k, digest] of Object.entries(want.fullDepth)) {
    if (got.fullDepth[k] !== digest) throw new Error(`${k}: full-depth node list differs`);
  }
  const n = (s: Snapshot) => Object.keys(s.twoBlocks).length + Object.keys(s.fullDepth).length;
  if (n(got) !== n(want)) throw new Error(`${n(got)} configurations, snapshot has ${n(want)}`);
});

if (import.meta.main && Deno.args.includes("--write")) {
  await Deno.mkdir(new URL("./testdata/", import.meta.url), { recursive: true });
  await Deno.writeTextFile(SNAPSHOT, JSON.stringify(await current(), null, 2) + "\n");
}
