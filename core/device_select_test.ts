import { TempoError } from "./errors.ts";
import { pciTag, selectDevice } from "./device_select.ts";

function assert(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new Error(msg);
}

function fakeEnv() {
  const vars = new Map<string, string>();
  return { vars, get: (k: string) => vars.get(k), set: (k: string, v: string) => vars.set(k, v) };
}

Deno.test("selectDevice: a PCI address becomes DRI_PRIME's tag, vid:did MESA_VK_DEVICE_SELECT", () => {
  assert(pciTag("0000:41:00.0") === "pci-0000_41_00_0", "sysfs form");
  assert(pciTag("pci-0000_C1_00_0") === "pci-0000_c1_00_0", "tag form, lower case");
  assert(pciTag("10de:2335") === null, "vid:did is no PCI address");
  const a = fakeEnv();
  const line = selectDevice(1, "0000:41:00.0, 0000:61:00.0", a);
  assert(a.vars.get("DRI_PRIME") === "pci-0000_61_00_0", `DRI_PRIME ${a.vars.get("DRI_PRIME")}`);
  assert(a.vars.get("MESA_VK_DEVICE_SELECT_FORCE_DEFAULT_DEVICE") === "1", "other devices hidden");
  assert(line?.includes("local rank 1"), String(line));
  const b = fakeEnv();
  selectDevice(0, "10DE:2335", b);
  assert(
    b.vars.get("MESA_VK_DEVICE_SELECT") === "10de:2335" && !b.vars.has("DRI_PRIME"),
    "vid:did",
  );
  assert(selectDevice(0, undefined, fakeEnv()) === null, "no spec, no choice");
});

Deno.test("selectDevice: a rank without an entry and an unreadable entry are refused by name", () => {
  for (
    const [rank, spec, want] of [[2, "10de:2335,10de:2335", "local rank 2"], [
      0,
      "gpu0",
      "gpu0",
    ]] as const
  ) {
    let message = "";
    try {
      selectDevice(rank, spec, fakeEnv());
    } catch (e) {
      assert(e instanceof TempoError, String(e));
      message = e.message;
    }
    assert(message.includes(want), `'${message}'`);
  }
});
