/**
 * The `tempo` command line. Commands only: each one parses flags, wires the library, and prints.
 * @module
 */
import { Command } from "@commander-js/extra-typings";
import pc from "picocolors";
import { TempoError } from "../core/errors.ts";
import { DatasetError } from "../datasets/errors.ts";
import { maxBatchCommand, memoryCommand } from "./memory.ts";
import { prepareCommand } from "./prepare.ts";
import { pretrainCommand } from "./pretrain.ts";
import { selfcheckCommand } from "./selfcheck.ts";
import { sweepCommand } from "./sweep.ts";

/** The program with all its commands. */
export function program() {
  return new Command("tempo")
    .description(
      "Pretrain BERT, GPT-2 and RoBERTa on the GPU through WebGPU, with the memory-saving " +
        "layers of Tempo (NeurIPS 2022) switchable one by one.",
    )
    .version("0.1.0")
    .showHelpAfterError()
    .addCommand(pretrainCommand())
    .addCommand(prepareCommand())
    .addCommand(memoryCommand())
    .addCommand(maxBatchCommand())
    .addCommand(selfcheckCommand())
    .addCommand(sweepCommand());
}

/** Run the CLI with `args`; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  try {
    const p = program().exitOverride();
    for (const c of p.commands) c.exitOverride();
    await p.parseAsync(args, { from: "user" });
    return 0;
  } catch (e) {
    const err = e as { code?: string; exitCode?: number; message?: string };
    if (typeof err.code === "string" && err.code.startsWith("commander.")) {
      return err.code === "commander.helpDisplayed" || err.code === "commander.version"
        ? 0
        : (err.exitCode ?? 2);
    }
    if (e instanceof TempoError || e instanceof DatasetError) {
      console.error(pc.red(`error: ${e.message}`));
      return 1;
    }
    throw e;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
