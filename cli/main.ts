/**
 * The `tempo` command line. Commands only: each one parses flags, wires the library, and prints.
 * @module
 */
import { Command } from "@commander-js/extra-typings";
import pc from "picocolors";
import { TempoError } from "../core/errors.ts";
import { fsErrorCode } from "../core/fs_error.ts";
import { DatasetError } from "../datasets/errors.ts";
import { evalCommand } from "./eval.ts";
import { exportCommand } from "./export.ts";
import { fillMaskCommand } from "./fill_mask.ts";
import { maxBatchCommand, memoryCommand } from "./memory.ts";
import { prepareCommand } from "./prepare.ts";
import { pretrainCommand, rewritePretrainArgs } from "./pretrain.ts";
import { selfcheckCommand } from "./selfcheck.ts";
import { sampleCommand } from "./sample.ts";
import { RunInterrupted } from "./signals.ts";
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
    .addCommand(sweepCommand())
    .addCommand(evalCommand())
    .addCommand(sampleCommand())
    .addCommand(fillMaskCommand())
    .addCommand(exportCommand());
}

/** `args` with pretrain's Hugging Face / nanoGPT spellings rewritten to its flags. */
function withAliases(args: string[]): string[] {
  const i = args.findIndex((a) => !a.startsWith("-"));
  return i >= 0 && args[i] === "pretrain"
    ? [...args.slice(0, i + 1), ...rewritePretrainArgs(args.slice(i + 1))]
    : args;
}

function debugging(): boolean {
  try {
    return !!Deno.env.get("TEMPO_DEBUG");
  } catch {
    return false;
  }
}

/**
 * One line (and the stack under TEMPO_DEBUG=1) for an error tempo did not raise on purpose; it
 * is still a failure the user should not have to decode.
 */
export function reportUnexpected(e: unknown): void {
  const msg = e instanceof Error ? `${e.name}: ${e.message.split("\n")[0]}` : String(e);
  const fs = fsErrorCode(e) !== undefined;
  console.error(pc.red(`error: ${msg}`));
  console.error(
    fs
      ? "  hint: a file-system error tempo does not explain yet; check the path it names"
      : "  hint: this is a bug in tempo; please report it (TEMPO_DEBUG=1 shows the stack)",
  );
  if (debugging() && e instanceof Error && e.stack) console.error(e.stack);
}

/** Run the CLI with `args`; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  try {
    const p = program().exitOverride();
    for (const c of p.commands) c.exitOverride();
    await p.parseAsync(withAliases(args), { from: "user" });
    return 0;
  } catch (e) {
    const err = e as { code?: string; exitCode?: number; message?: string };
    if (typeof err.code === "string" && err.code.startsWith("commander.")) {
      return err.code === "commander.helpDisplayed" || err.code === "commander.version"
        ? 0
        : (err.exitCode ?? 2);
    }
    if (e instanceof RunInterrupted) return e.exitCode;
    if (e instanceof TempoError || e instanceof DatasetError) {
      console.error(pc.red(`error: ${e.message}`));
      if (debugging() && e.stack) console.error(e.stack);
      return 1;
    }
    reportUnexpected(e);
    return 1;
  }
}

if (import.meta.main) {
  globalThis.addEventListener("unhandledrejection", (ev) => {
    ev.preventDefault();
    reportUnexpected(ev.reason);
    Deno.exit(1);
  });
  Deno.exit(await main(Deno.args));
}
