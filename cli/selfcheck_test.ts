import { GPU_CLASS_KERNELS, GPU_TEST } from "../core/testing.ts";

// A real GPU's kernel policy (one at WebGPU's default limits: GPU_CLASS_KERNELS), through
// TEMPO_KERNELS in a subprocess (the variable is read per process): the GPU-class kernels (tiled matmul, workgroup row kernels) train both tiny models
// end to end here, and they compile in seconds on the software adapter, where its own defaults
// take minutes cold (those train end to end in models/transformer_test.ts).
const GPU_POLICY = GPU_CLASS_KERNELS;

/** `tempo selfcheck` in a subprocess with TEMPO_KERNELS set; its exit code and output lines. */
async function selfcheck(
  kernels: string,
  flags: string[] = [],
): Promise<{ code: number; out: string[]; text: string }> {
  const main = new URL("./main.ts", import.meta.url).pathname;
  const run = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", main, "selfcheck", ...flags],
    env: { TEMPO_KERNELS: kernels, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  const text = dec.decode(run.stdout) + dec.decode(run.stderr);
  return { code: run.code, out: text.split("\n"), text };
}

Deno.test({ name: "tempo selfcheck passes on this adapter and says so", ...GPU_TEST }, async () => {
  const { code, out, text } = await selfcheck(GPU_POLICY);
  if (code !== 0 || !out.includes("selfcheck passed")) throw new Error(text);
  if (!out.some((l) => l.startsWith("adapter: "))) throw new Error(`no adapter line: ${text}`);
  const kernels = out.find((l) => l.startsWith("kernels: "));
  if (
    !kernels?.startsWith("kernels: matmul=tiled ") || !kernels.includes(`(override: ${GPU_POLICY})`)
  ) {
    throw new Error(`kernels line: ${kernels}`);
  }
});

Deno.test({
  name: "tempo selfcheck --bf16: 16-bit Tempo agrees with the 16-bit baseline",
  ...GPU_TEST,
}, async () => {
  const { code, out, text } = await selfcheck(GPU_POLICY, ["--bf16"]);
  if (code !== 0 || !out.includes("selfcheck passed") || !out.includes("precision: bf16")) {
    throw new Error(text);
  }
  const bad = await selfcheck(GPU_POLICY, ["--precision", "fp8"]);
  if (bad.code !== 1 || !bad.out.includes("error: unknown --precision 'fp8'")) {
    throw new Error(`exit ${bad.code}: ${bad.text}`);
  }
});

Deno.test("TEMPO_KERNELS: a bad value is one clear line naming the valid kernels, exit 1", async () => {
  // Parsed before any adapter is asked for: this needs no GPU.
  const { code, out, text } = await selfcheck("matmul=tiled,layernorm=fastest");
  const err = out.find((l) => l.startsWith("error: "));
  if (
    code !== 1 ||
    err !==
      "error: TEMPO_KERNELS: unknown layernorm kernel 'fastest'; valid: row, workgroup, subgroup" ||
    /\n\s+at /.test(text)
  ) {
    throw new Error(`exit ${code}: ${text}`);
  }
});
