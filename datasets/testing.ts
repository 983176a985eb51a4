/**
 * Test helpers for `datasets/`: which files this process holds open. Deno's resource sanitizer
 * does not see file handles (a leaked `Deno.openSync` passes it), so tests that check a close()
 * look at the process's open descriptors instead. Deno lets only `--allow-all` read
 * /proc/self/fd, and the test task runs without it, so a child process (`find`, under
 * `--allow-run`) lists this process's /proc/<pid>/fd.
 *
 * @module
 */

function linkTargets(): string[] | null {
  try {
    const out = new Deno.Command("find", {
      args: [`/proc/${Deno.pid}/fd`, "-mindepth", "1", "-maxdepth", "1", "-printf", "%l\\n"],
      stdout: "piped",
      stderr: "null",
    }).outputSync();
    // Test files run in parallel threads of this process: a descriptor closed while find walks
    // the folder makes it exit 1 after listing the rest, which are still right.
    const lines = new TextDecoder().decode(out.stdout).split("\n").filter(Boolean);
    if (!out.success && !(out.code === 1 && lines.length > 0)) return null;
    return lines;
  } catch {
    return null; // No find, no /proc, or no --allow-run.
  }
}

/** Whether open descriptors can be listed here (Linux's /proc, GNU find, `--allow-run`). */
export const CAN_LIST_OPEN_FILES: boolean = linkTargets() !== null;

/** The files under `dir` that this process has open, one entry per descriptor, sorted. */
export function openFilesUnder(dir: string): string[] {
  const targets = linkTargets();
  if (targets === null) throw new Error("open descriptors cannot be listed on this system");
  const root = Deno.realPathSync(dir) + "/";
  return targets.filter((t) => t.startsWith(root)).sort();
}
