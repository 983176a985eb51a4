/**
 * Formatting helpers for terminal output.
 * @module
 */
import type { ByCategory } from "../core/allocator.ts";
import Table from "cli-table3";
import { TempoError } from "../core/errors.ts";
import { fsCause } from "../core/fs_error.ts";
import { CATEGORIES } from "../core/tensor.ts";

/** 1536 -> "1.50 KiB". */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let u = 0, x = n;
  while (Math.abs(x) >= 1024 && u < units.length - 1) {
    x /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${x.toFixed(2)} ${units[u]}`;
}

/** "param 1.2 MiB, grad ..." */
export function formatCategories(b: ByCategory): string {
  return CATEGORIES.map((c) => `${c} ${formatBytes(b[c])}`).join(", ");
}

/** Parse "11GiB", "16 GB", "512MiB", "1e9" into bytes; throws a TempoError otherwise. */
export function parseBytes(s: string, what = "size"): number {
  const m = /^\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*(b|kb|kib|mb|mib|gb|gib|tb|tib)?\s*$/i.exec(s);
  if (!m) {
    throw new TempoError(
      `${what} '${s}' is not a size`,
      "write a number with an optional unit: 11GiB, 16GB, 512MiB, 1e9",
    );
  }
  const unit = (m[2] ?? "b").toLowerCase();
  const mult: Record<string, number> = {
    b: 1,
    kb: 1e3,
    kib: 1024,
    mb: 1e6,
    mib: 1024 ** 2,
    gb: 1e9,
    gib: 1024 ** 3,
    tb: 1e12,
    tib: 1024 ** 4,
  };
  const v = Math.floor(Number(m[1]) * mult[unit]);
  if (!(v > 0)) throw new TempoError(`${what} '${s}' must be positive`);
  return v;
}

/** Parse a positive integer flag. */
export function parseIntFlag(name: string, min = 1): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) {
      throw new TempoError(`--${name} must be an integer >= ${min}, got '${v}'`);
    }
    return n;
  };
}

/** Parse a float flag in [lo, hi]. */
export function parseFloatFlag(name: string, lo = -Infinity, hi = Infinity): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < lo || n > hi) {
      throw new TempoError(`--${name} must be a number in [${lo}, ${hi}], got '${v}'`);
    }
    return n;
  };
}

/** Parse a comma list of positive integers. */
export function parseIntList(name: string): (v: string) => number[] {
  return (v: string) => v.split(",").map((x) => parseIntFlag(name)(x.trim()));
}

/** Whether to colour output: a terminal and no NO_COLOR. */
export function useColor(): boolean {
  try {
    return Deno.stdout.isTerminal() && !Deno.env.get("NO_COLOR");
  } catch {
    return false;
  }
}

/** A cli-table3 table, plain when output is not coloured. */
export function table(head: string[]): Table.Table {
  return new Table(useColor() ? { head } : { head, style: { head: [], border: [] } });
}

/**
 * Config overrides from `--config`: inline JSON (a value starting with `{`) or a JSON file; clear
 * errors for unreadable files and bad JSON.
 */
export async function readConfigOverrides(
  value: string | undefined,
): Promise<Record<string, unknown>> {
  if (!value) return {};
  const inline = value.trimStart().startsWith("{");
  const what = inline ? "--config (inline JSON)" : `--config ${value}`;
  let text = value;
  if (!inline) {
    try {
      text = await Deno.readTextFile(value);
    } catch (e) {
      throw new TempoError(
        `${what}: cannot read the file: ${fsCause(e)}`,
        `pass a JSON file of config keys, or the JSON itself: --config '{"layers": 4}'`,
      );
    }
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new TempoError(`${what}: not JSON (${(e as Error).message})`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new TempoError(`${what}: expected a JSON object of config keys`);
  }
  return v as Record<string, unknown>;
}
