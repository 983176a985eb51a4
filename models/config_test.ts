import { TempoError } from "../core/errors.ts";
import { ARCHS } from "./arch.ts";
import { PRESETS, resolveConfig } from "./config.ts";

function message(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (!(e instanceof TempoError)) throw e;
    return e.message;
  }
  throw new Error("no error");
}

Deno.test("an unknown model or config key suggests the near name, and lists the valid ones", () => {
  const cases: [string, RegExp][] = [
    ["gpt2tiny", /unknown model 'gpt2tiny'\n {2}hint: did you mean 'gpt2-tiny'\? choose one of:/],
    ["Bert_Large", /did you mean 'bert-large'\?/],
    ["roberta-bsae", /did you mean 'roberta-base'\?/],
    ["gpt2-mini", /did you mean 'gpt2-tiny'\?/],
  ];
  for (const [name, want] of cases) {
    const m = message(() => resolveConfig(name));
    if (!want.test(m)) throw new Error(`${name}: ${m}`);
  }
  const far = message(() => resolveConfig("llama"));
  if (/did you mean/.test(far) || !far.includes(Object.keys(PRESETS).join(", "))) {
    throw new Error(`far name: ${far}`);
  }
  const key = message(() => resolveConfig("gpt2-tiny", { hiden: 3 }));
  if (!/unknown config key 'hiden'\n {2}hint: did you mean 'hidden'\? valid keys:/.test(key)) {
    throw new Error(key);
  }
});

Deno.test("config checks read the descriptor: arch names and which architectures allow NSP", () => {
  const arch = message(() => resolveConfig("bert-tiny", { arch: "t5" }));
  if (!arch.includes(`must be one of ${Object.keys(ARCHS).join(", ")}, got t5`)) {
    throw new Error(arch);
  }
  for (const [name, d] of Object.entries(ARCHS)) {
    const preset = Object.values(PRESETS).find((p) => p.arch === name)!;
    if (d.nspAllowed) resolveConfig(preset.name, { nsp: true });
    else if (
      !/next-sentence prediction/.test(message(() => resolveConfig(preset.name, { nsp: true })))
    ) {
      throw new Error(`${name} accepted nsp`);
    }
  }
});
