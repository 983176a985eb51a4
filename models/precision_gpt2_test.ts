// Mixed-precision training end to end, gpt2-tiny at bf16 and f16 (see checkPrecisionParity for
// why the presets and precisions are in files of their own).
import { GPU_TEST, testGpu } from "../core/testing.ts";
import { checkPrecisionParity } from "./training_testing.ts";

Deno.test({
  name: "16-bit training, gpt2-tiny: bf16 and f16 loss curves track f32; Tempo on vs off agree",
  ...GPU_TEST,
}, async () => await checkPrecisionParity(await testGpu(), "gpt2-tiny"));
