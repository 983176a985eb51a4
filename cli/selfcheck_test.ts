import { GPU_TEST } from "../core/testing.ts";
import { main } from "./main.ts";

Deno.test({ name: "tempo selfcheck passes on this adapter and says so", ...GPU_TEST }, async () => {
  const out: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => void out.push(a.join(" "));
  try {
    const code = await main(["selfcheck"]);
    if (code !== 0) throw new Error(`exit ${code}`);
  } finally {
    console.log = log;
  }
  if (!out.some((l) => l === "selfcheck passed")) throw new Error(out.join("\n"));
  if (!out.some((l) => l.startsWith("adapter: "))) throw new Error("no adapter line");
  if (!out.some((l) => /^kernels: matmul=\S+ softmax=/.test(l))) throw new Error("no kernels line");
});
