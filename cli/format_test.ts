import { formatBytes, parseBytes } from "./format.ts";

Deno.test("parseBytes: units, and clear errors for bad strings", () => {
  const cases: [string, number][] = [
    ["11GiB", 11 * 1024 ** 3],
    ["16 GB", 16e9],
    ["512MiB", 512 * 1024 ** 2],
    ["1e9", 1e9],
    ["100", 100],
  ];
  for (const [s, n] of cases) if (parseBytes(s) !== n) throw new Error(`${s} -> ${parseBytes(s)}`);
  for (const bad of ["", "GiB", "11 GiBs", "-3GB", "0"]) {
    let threw = false;
    try {
      parseBytes(bad);
    } catch (e) {
      threw = /size|positive/.test((e as Error).message);
    }
    if (!threw) throw new Error(`accepted '${bad}'`);
  }
  if (formatBytes(1536) !== "1.50 KiB") throw new Error(formatBytes(1536));
});
