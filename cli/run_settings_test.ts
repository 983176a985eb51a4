import { TempoError } from "../core/errors.ts";
import { flagOf, keyOf, resumeSettings, type RunSettings, settingsOf } from "./run_settings.ts";

const SAVED: RunSettings = settingsOf({
  model: "gpt2-tiny",
  tempo: "all",
  batchSize: 2,
  gradAccum: 1,
  seqLen: 16,
  steps: 8,
  lr: 2e-3,
  warmup: 10,
  schedule: "cosine",
  weightDecay: 0.01,
  gradClip: 1,
  seed: 5,
  format: "auto",
  valEvery: 2,
  valSteps: 4,
  dropout: 0.1,
}, { layers: 1, hidden: 32 });

const at = { checkpoint: "ckpt/step-000004", step: 4 };

function refusal(f: () => unknown): TempoError {
  try {
    f();
  } catch (e) {
    if (e instanceof TempoError) return e;
    throw e;
  }
  throw new Error("accepted");
}

Deno.test("resume settings: flags left out are the checkpoint's", () => {
  const flags = settingsOf({ model: "gpt2-tiny", lr: 1, steps: 400, seed: 1337 }, {});
  const s = resumeSettings(flags, SAVED, { ...at, given: [] });
  if (JSON.stringify(s) !== JSON.stringify(SAVED)) throw new Error(JSON.stringify(s));
});

Deno.test("resume settings: given flags that differ are refused, each named", () => {
  const flags = { ...SAVED, lr: 3e-3, steps: 20, config: { hidden: 32, layers: 2 } };
  const e = refusal(() =>
    resumeSettings(flags, SAVED, { ...at, given: ["lr", "steps", "config"] })
  );
  for (
    const line of [
      "--lr 0.003 differs from the checkpoint's 0.002",
      "--steps 20 differs from the checkpoint's 8",
      `--config {"hidden":32,"layers":2} differs from the checkpoint's {"hidden":32,"layers":1}`,
    ]
  ) if (!e.message.includes(line)) throw new Error(e.message);
  // Listed in the order of the settings.
  if (!e.hint.endsWith("--allow-changes config,steps,lr")) throw new Error(e.hint);
  // The same values given again are no difference; key order inside --config does not matter.
  resumeSettings({ ...SAVED, config: { hidden: 32, layers: 1 } }, SAVED, {
    ...at,
    given: ["lr", "config"],
  });
  // Allowed changes pass, the others are still refused.
  const ok = resumeSettings(flags, SAVED, {
    ...at,
    given: ["lr", "steps", "config"],
    allowChanges: "lr,steps,config",
  });
  if (ok.lr !== 3e-3 || ok.steps !== 20) throw new Error(JSON.stringify(ok));
  const partly = refusal(() =>
    resumeSettings(flags, SAVED, { ...at, given: ["lr", "steps", "config"], allowChanges: "lr" })
  );
  if (/--lr/.test(partly.message) || !/--steps/.test(partly.message)) {
    throw new Error(partly.message);
  }
  if (resumeSettings(flags, SAVED, { ...at, given: ["lr"], allowChanges: "all" }).lr !== 3e-3) {
    throw new Error("all");
  }
  const bad = refusal(() =>
    resumeSettings(flags, SAVED, { ...at, given: [], allowChanges: "lrr" })
  );
  if (!/'lrr' is not a setting/.test(bad.message)) throw new Error(bad.message);
  // Without the list of given flags (programmatic callers), every value counts as given.
  refusal(() => resumeSettings({ ...SAVED, seed: 6 }, SAVED, at));
});

Deno.test("resume settings: --steps at or below the checkpoint's step is a clear error", () => {
  const done = refusal(() => resumeSettings(SAVED, { ...SAVED, steps: 4 }, { ...at, given: [] }));
  if (!/the run is complete \(step 4 of --steps 4\)/.test(done.message)) {
    throw new Error(done.message);
  }
  if (!/--steps above 4 with --allow-changes steps/.test(done.hint)) throw new Error(done.hint);
  const low = refusal(() =>
    resumeSettings({ ...SAVED, steps: 3 }, SAVED, {
      ...at,
      given: ["steps"],
      allowChanges: "steps",
    })
  );
  if (!/--steps 3 is not beyond the checkpoint's step 4/.test(low.message)) {
    throw new Error(low.message);
  }
});

Deno.test("resume settings: flag names and keys", () => {
  if (flagOf("batchSize") !== "--batch-size" || flagOf("lr") !== "--lr") throw new Error("flagOf");
  for (const f of ["--batch-size", "batch-size", "batch_size", "batchSize"]) {
    if (keyOf(f) !== "batchSize") throw new Error(f);
  }
});

Deno.test("resume settings: a checkpoint from before --precision was f32", () => {
  const { precision: _, ...old } = { ...SAVED, precision: "f32" };
  const bf16 = { ...SAVED, precision: "bf16", steps: 8 };
  const e = refusal(() => resumeSettings(bf16, old, { ...at, given: ["precision"] }));
  if (!e.message.includes("--precision bf16 differs from the checkpoint's f32")) {
    throw new Error(e.message);
  }
  const s = resumeSettings({ ...SAVED, precision: "bf16" }, old, { ...at, given: [] });
  if (s.precision !== "f32") throw new Error(`left out: ${s.precision}`);
  const allowed = resumeSettings(bf16, old, {
    ...at,
    given: ["precision"],
    allowChanges: "precision",
  });
  if (allowed.precision !== "bf16") throw new Error(`allowed: ${allowed.precision}`);
});
