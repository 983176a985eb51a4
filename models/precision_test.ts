// Mixed-precision training end to end (its own file, so that the test runner runs it beside
// transformer_test.ts rather than after it).
import { GPU_TEST, testGpu } from "../core/testing.ts";
import { ALL_TEMPO, BASELINE } from "../layers/tempo_options.ts";
import { resolveConfig } from "./config.ts";
import { train } from "./training_testing.ts";

/**
 * Mixed precision on the tiny presets, 60 steps on the embedded corpus (bench/precision_parity.ts
 * runs the full 300): 16-bit curves against f32 within PARITY, and Tempo on vs off at the same
 * precision within the f32 test's 2e-2. bf16 is never loss-scaled; f16 is, and at GradScaler's
 * 2^16 these models' gradients do not overflow (a skipped step would show in `skipped`).
 */
const PARITY: Record<"f16" | "bf16", number> = { f16: 2e-2, bf16: 5e-2 };

Deno.test({
  name: "16-bit training: bf16 and f16 loss curves track f32; Tempo on vs off agree at 16 bits",
  ...GPU_TEST,
}, async () => {
  const gpu = await testGpu();
  const steps = 60;
  for (const name of ["gpt2-tiny", "bert-tiny"]) {
    const cfg = resolveConfig(name);
    const f32 = await train(gpu, cfg, ALL_TEMPO, steps);
    for (const precision of ["bf16", "f16"] as const) {
      const on = await train(gpu, cfg, ALL_TEMPO, steps, { precision });
      const off = await train(gpu, cfg, BASELINE, steps, { precision });
      const vsF32 = Math.max(...on.losses.map((x, i) => Math.abs(x - f32.losses[i])));
      const vsBase = Math.max(...on.losses.map((x, i) => Math.abs(x - off.losses[i])));
      const what = `${name} ${precision}`;
      if (!(vsF32 < PARITY[precision])) throw new Error(`${what}: vs f32 up to ${vsF32}`);
      if (!(vsBase < 2e-2)) throw new Error(`${what}: Tempo vs baseline up to ${vsBase}`);
      if (precision === "bf16" && (on.scaled || on.skipped > 0)) {
        throw new Error(`${what}: bf16 was loss-scaled or skipped steps`);
      }
      if (precision === "f16" && !(on.scaled && on.skipped === 0)) {
        throw new Error(`${what}: f16 scaled ${on.scaled}, skipped ${on.skipped} steps`);
      }
      if (!(Math.max(...on.peaks) < Math.max(...f32.peaks))) {
        throw new Error(`${what}: 16-bit peak not below f32's`);
      }
      if (Deno.env.get("TEMPO_PARITY")) {
        console.log(
          `${what}: |vs f32| <= ${vsF32.toFixed(5)}, |Tempo vs off| <= ${vsBase.toFixed(5)}`,
        );
      }
    }
  }
});
