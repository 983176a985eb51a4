import { GPU_TEST } from "../core/testing.ts";
import type { DeviceReport } from "./device_report.ts";

// bench/device.sh runs where no developer watches it (a lent GPU, minutes of device time): its
// --smoke mode runs the same path at tiny sizes on this machine's adapter, so that it cannot rot.
Deno.test({
  name: "bench/device.sh --smoke: every part runs and the results file says so",
  ...GPU_TEST,
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "tempo-device-test-" });
  try {
    const out = `${dir}/device.json`;
    const script = new URL("./device.sh", import.meta.url).pathname;
    const run = await new Deno.Command("bash", {
      args: [script, "--smoke", "--out", out],
      env: { DENO: Deno.execPath() },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const log = new TextDecoder().decode(run.stdout) + new TextDecoder().decode(run.stderr);
    if (run.code !== 0) throw new Error(`device.sh --smoke exited ${run.code}:\n${log}`);
    const r = JSON.parse(await Deno.readTextFile(out)) as DeviceReport;
    const bad = r.parts.filter((p) => p.status !== "ok");
    const want = ["info", "tests", "matmul", "train_base", "train_large", "paper", "profile"];
    const names = r.parts.map((p) => p.name).join();
    if (bad.length > 0 || names !== want.join()) {
      throw new Error(`parts ${JSON.stringify(r.parts)}\n${log}`);
    }
    if (r.format !== "tempo-device-run" || !r.smoke || !r.info?.description) {
      throw new Error(`header: ${JSON.stringify({ ...r, matmul: undefined })}`);
    }
    // Every variant and tile at every size, layout and dtype asked for, with a rate.
    const m = r.matmul!;
    const cells = new Set(m.results.map((x) => `${x.variant} ${x.tile ?? ""}`));
    if (m.results.length !== 2 * 2 * 2 * 4 || cells.size !== 4) {
      throw new Error(`matmul cells: ${m.results.length}, variants ${[...cells]}`);
    }
    if (m.results.some((x) => !((x.gpuGflops ?? x.wallGflops ?? 0) > 0))) {
      throw new Error(`a matmul cell has no rate: ${JSON.stringify(m.results)}`);
    }
    // Tempo off and on at one batch; under the limit each at its own (largest) batch.
    for (const t of [r.trainBase, r.trainLarge, r.paper]) {
      const rows = t?.cases[0]?.rows ?? [];
      if (rows.length !== 2 || rows.some((s) => !(s.tokensPerSec > 0))) {
        throw new Error(`train rows: ${JSON.stringify(t)}`);
      }
    }
    const paper = r.paper!.cases[0];
    if (!(paper.rows[1].batch > paper.rows[0].batch) || paper.memoryLimit !== 3 * 2 ** 20) {
      throw new Error(`paper: ${JSON.stringify(paper)}`);
    }
    // The profile, by GPU timestamps and by replay.
    const p = r.profile!;
    if (!(p.gpuSumMs! > 0 && p.replaySumMs! > 0) || p.rows.length < 5) {
      throw new Error(`profile: ${JSON.stringify(p)}`);
    }
    if (!/== tempo device run \(smoke\)/.test(log)) throw new Error(`no summary:\n${log}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
