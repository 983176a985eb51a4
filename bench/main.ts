/**
 * All benchmarks, in one run: memory (planner, no GPU), matmul, row-wise ops, training step.
 * Run: deno task bench
 * @module
 */
import { main as matmul } from "./matmul.ts";
import { main as memory } from "./memory.ts";
import { main as ops } from "./ops.ts";
import { main as trainStep } from "./train_step.ts";

console.log("== memory ==");
memory();
console.log("\n== matmul ==");
await matmul();
console.log("\n== ops ==");
await ops([]);
console.log("\n== train step ==");
await trainStep(Deno.args);
