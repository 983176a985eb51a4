import { formatBytes, parseBytes, readConfigOverrides } from "./format.ts";

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

Deno.test("readConfigOverrides: inline JSON or a file; clear errors", async () => {
  const inline = await readConfigOverrides(' {"layers": 1, "hidden": 32}');
  if (inline.layers !== 1 || inline.hidden !== 32) throw new Error(JSON.stringify(inline));
  const path = await Deno.makeTempFile({ suffix: ".json" });
  await Deno.writeTextFile(path, '{"heads": 2}');
  if ((await readConfigOverrides(path)).heads !== 2) throw new Error("file");
  for (
    const [v, why] of [
      ["{layers: 1}", /inline JSON\): not JSON/],
      ["[1]", /cannot read the file: no such file/],
      [path + ".missing", /cannot read the file: no such file or folder \(ENOENT\)/],
    ] as const
  ) {
    let msg = "";
    try {
      await readConfigOverrides(v);
    } catch (e) {
      msg = (e as Error).message;
    }
    if (!why.test(msg)) throw new Error(`${v}: ${msg}`);
  }
  await Deno.writeTextFile(path, "[1, 2]");
  let msg = "";
  try {
    await readConfigOverrides(path);
  } catch (e) {
    msg = (e as Error).message;
  }
  if (!/expected a JSON object/.test(msg)) throw new Error(msg);
  await Deno.remove(path);
});
