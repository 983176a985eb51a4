/**
 * `tempo prepare`: text files or folders -> token shards (llm.c format) + meta.json.
 * @module
 */
import { Command, Option } from "@commander-js/extra-typings";
import cliProgress from "cli-progress";
import { prepare } from "../datasets/prepare.ts";
import { TOKENIZER_NAMES } from "../datasets/tokenizer.ts";
import { tokenizerByName } from "../datasets/tokenizer_by_name.ts";
import { parseFloatFlag } from "./format.ts";

/** The `prepare` command. */
export function prepareCommand() {
  return new Command("prepare")
    .description("tokenize text files or folders into train/val shards (llm.c format)")
    .argument("<inputs...>", "text files and/or folders (searched recursively)")
    .requiredOption("--out <dir>", "output folder (gets train.bin, val.bin, meta.json)")
    .addOption(
      new Option("--tokenizer <name>", "gpt2 | bert | roberta | bytes").choices(TOKENIZER_NAMES)
        .default("gpt2" as const),
    )
    .option(
      "--val-fraction <x>",
      "fraction of tokens for validation",
      parseFloatFlag("val-fraction", 0, 0.5),
      0.05,
    )
    .option("--quiet", "no progress bar")
    .action(async (inputs, o) => {
      const bar = !o.quiet && Deno.stderr.isTerminal()
        ? new cliProgress.SingleBar(
          { format: " {bar} {percentage}% | {value}/{total} bytes" },
          cliProgress.Presets.shades_classic,
        )
        : null;
      let started = false;
      const s = await prepare({
        inputs,
        outDir: o.out,
        tokenizer: tokenizerByName(o.tokenizer),
        valFraction: o.valFraction,
        onProgress: (done, total) => {
          if (!bar) return;
          if (!started) bar.start(total, done), started = true;
          else bar.update(done);
        },
      });
      bar?.stop();
      console.log(
        `prepared ${s.files} files (${s.documents} documents, ${
          s.bytes.toLocaleString("en-US")
        } bytes) -> ` +
          `${s.tokens.toLocaleString("en-US")} tokens: train ${
            s.trainTokens.toLocaleString("en-US")
          } ` +
          `(${s.train}), val ${s.valTokens.toLocaleString("en-US")}${s.val ? ` (${s.val})` : ""}`,
      );
    });
}
