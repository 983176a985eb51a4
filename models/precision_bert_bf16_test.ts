// Mixed-precision training end to end, bert-tiny at bf16 (see checkPrecisionParity for why the
// presets and precisions are in files of their own).
import { GPU_TEST, testGpu } from "../core/testing.ts";
import { checkPrecisionParity } from "./training_testing.ts";

Deno.test({
  name: "16-bit training, bert-tiny at bf16: the loss curve tracks f32; Tempo on vs off agree",
  ...GPU_TEST,
}, async () => await checkPrecisionParity(await testGpu(), "bert-tiny", ["bf16"]));
