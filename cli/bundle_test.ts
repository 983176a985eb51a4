import { GPU_CLASS_KERNELS, GPU_TEST } from "../core/testing.ts";

/** Run deno with args in `cwd` (with `env` added); returns exit code and output. */
async function deno(args: string[], cwd: string, env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd,
    env,
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return { code: out.code, text };
}

Deno.test({
  name: "the bundle runs --help and a short pretrain from a folder without node_modules",
  ...GPU_TEST,
}, async () => {
  const dir = await Deno.makeTempDir();
  const root = new URL("..", import.meta.url).pathname;
  const bundled = await deno(
    [
      "bundle",
      "--quiet",
      "--platform",
      "deno",
      "--output",
      `${dir}/tempo.js`,
      `${root}cli/main.ts`,
    ],
    root,
  );
  if (bundled.code !== 0) throw new Error(`bundle failed: ${bundled.text}`);
  for (const entry of Deno.readDirSync(dir)) {
    if (entry.name !== "tempo.js") throw new Error(`unexpected ${entry.name} next to the bundle`);
  }
  const help = await deno(["run", "-A", "tempo.js", "--help"], dir);
  if (help.code !== 0 || !/pretrain/.test(help.text)) throw new Error(`--help: ${help.text}`);
  // The bundle is under test here, not the kernels (core/ops tests them): its pretrain runs a real
  // GPU's kernel policy, which compiles in seconds on the software adapter (its defaults take
  // minutes cold), and shows TEMPO_KERNELS reaching a bundled run.
  const kernels = GPU_CLASS_KERNELS;
  const run = await deno(
    [
      "run",
      "-A",
      "tempo.js",
      "pretrain",
      "--steps",
      "3",
      "--batch-size",
      "2",
      "--seq-len",
      "16",
      "--log-every",
      "1",
    ],
    dir,
    { TEMPO_KERNELS: kernels },
  );
  const ok = /summary/.test(run.text) && /step\s+3/.test(run.text) &&
    run.text.includes(`(override: ${kernels})`);
  if (run.code !== 0 || !ok) {
    throw new Error(`pretrain from the bundle: ${run.text}`);
  }
  await Deno.remove(dir, { recursive: true });
});
