/**
 * Test helpers for `datasets/`: which files this process holds open. Deno's resource sanitizer
 * does not see file handles (a leaked `Deno.openSync` passes it), so tests that check a close()
 * look at the process's open descriptors instead.
 *
 * @module
 */

/** Whether open descriptors can be listed here (Linux's /proc/self/fd). */
export const CAN_LIST_OPEN_FILES: boolean = (() => {
  try {
    return Deno.statSync("/proc/self/fd").isDirectory;
  } catch {
    return false;
  }
})();

/** The files under `dir` that this process has open, one entry per descriptor, sorted. */
export function openFilesUnder(dir: string): string[] {
  if (!CAN_LIST_OPEN_FILES) throw new Error("open descriptors cannot be listed on this system");
  const root = Deno.realPathSync(dir) + "/";
  const found: string[] = [];
  for (const entry of Deno.readDirSync("/proc/self/fd")) {
    let target: string;
    try {
      target = Deno.readLinkSync(`/proc/self/fd/${entry.name}`);
    } catch {
      continue; // Closed between the listing and the read (the listing's own descriptor).
    }
    if (target.startsWith(root)) found.push(target);
  }
  return found.sort();
}
