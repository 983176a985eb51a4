import { main, reportUnexpected } from "./main.ts";

function capture(f: () => unknown): string[] {
  const lines: string[] = [];
  const err = console.error;
  console.error = (...a: unknown[]) => lines.push(a.join(" "));
  try {
    f();
  } finally {
    console.error = err;
  }
  return lines;
}

Deno.test("main: an unexpected error is one line and a hint; the stack only with TEMPO_DEBUG", () => {
  const bug = new TypeError("x.y is undefined\nsecond line");
  const plain = capture(() => reportUnexpected(bug));
  if (plain.length !== 2 || plain[0] !== "error: TypeError: x.y is undefined") {
    throw new Error(plain.join("\n"));
  }
  if (!/bug in tempo; please report it \(TEMPO_DEBUG=1 shows the stack\)/.test(plain[1])) {
    throw new Error(plain[1]);
  }
  const fs = capture(() =>
    reportUnexpected(Object.assign(new Error("No space left on device (os error 28)"), {
      code: "ENOSPC",
    }))
  );
  if (!/file-system error/.test(fs[1])) throw new Error(fs.join("\n"));
  Deno.env.set("TEMPO_DEBUG", "1");
  try {
    const debug = capture(() => reportUnexpected(bug));
    if (debug.length !== 3 || !/at /.test(debug[2])) throw new Error(debug.join("\n"));
  } finally {
    Deno.env.delete("TEMPO_DEBUG");
  }
});

Deno.test("main: pretrain's aliases reach the command; bad flags still exit 2 or 1", async () => {
  const lines: string[] = [];
  const err = console.error, log = console.log;
  console.error = (...a: unknown[]) => lines.push(a.join(" "));
  console.log = () => {};
  try {
    if (await main(["pretrain", "--learning_rate", "abc"]) !== 1) throw new Error("exit");
    if (!lines.some((l) => /--lr must be a number/.test(l))) throw new Error(lines.join("\n"));
    if (await main(["pretrain", "--no-such-flag"]) === 0) throw new Error("unknown flag exit 0");
  } finally {
    console.error = err;
    console.log = log;
  }
});
