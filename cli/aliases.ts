/**
 * The spellings of Hugging Face's Trainer / run_mlm.py and nanoGPT that users type, accepted as
 * aliases of pretrain's flags: argv is rewritten to the tempo name before commander parses it, so
 * an alias behaves exactly like the flag it names (and counts as given, for `--resume`).
 * @module
 */

/** Alias -> tempo flag. Underscore spellings of tempo's own flags (`--seq_len`) need no entry. */
export const PRETRAIN_ALIASES: Readonly<Record<string, string>> = {
  "--learning_rate": "--lr",
  "--max_steps": "--steps",
  "--max_iters": "--steps",
  "--output_dir": "--out",
  "--out_dir": "--out",
  "--gradient_accumulation_steps": "--grad-accum",
  "--warmup_steps": "--warmup",
  "--warmup_iters": "--warmup",
  "--block_size": "--seq-len",
  "--max_seq_length": "--seq-len",
  "--eval_interval": "--val-every",
  "--eval_steps": "--val-every",
  "--eval_iters": "--val-steps",
  "--per_device_train_batch_size": "--batch-size",
  "--resume_from_checkpoint": "--resume",
  "--lr_scheduler_type": "--schedule",
  "--max_grad_norm": "--grad-clip",
  "--log_interval": "--log-every",
  "--logging_steps": "--log-every",
  "--save_steps": "--save-every",
  "--save_total_limit": "--keep-last",
  "--model_name_or_path": "--init-from",
};

/**
 * Rewrite aliases in `args` (also in `--alias=value` form) to the flags in `known`; tokens after
 * `--` are left alone.
 */
export function rewriteAliases(
  args: readonly string[],
  known: ReadonlySet<string>,
  aliases: Readonly<Record<string, string>> = PRETRAIN_ALIASES,
): string[] {
  const out: string[] = [];
  let done = false;
  for (const a of args) {
    if (done || !a.startsWith("--") || a === "--") {
      if (a === "--") done = true;
      out.push(a);
      continue;
    }
    const eq = a.indexOf("=");
    const name = eq < 0 ? a : a.slice(0, eq), rest = eq < 0 ? "" : a.slice(eq);
    const dashed = name.replaceAll("_", "-");
    const target = aliases[name] ?? (known.has(name) ? name : known.has(dashed) ? dashed : name);
    out.push(target + rest);
  }
  return out;
}

/** The help text listing the aliases. */
export function aliasHelp(aliases: Readonly<Record<string, string>> = PRETRAIN_ALIASES): string {
  const byTarget = new Map<string, string[]>();
  for (const [a, t] of Object.entries(aliases)) byTarget.set(t, [...(byTarget.get(t) ?? []), a]);
  const lines = [...byTarget].map(([t, as]) => `  ${t.padEnd(14)} ${as.join(", ")}`);
  return "\nAlso accepted (Hugging Face / nanoGPT spellings; underscores for dashes too):\n" +
    lines.join("\n");
}
