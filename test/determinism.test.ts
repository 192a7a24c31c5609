import { describe, expect, it } from "vitest";
import { codeOnly, importsOf, read, sourceFiles } from "./layers.js";

// The emulated stack must compute the same state from the same inputs on any machine: it may not
// read host time, randomness, the environment or files, nor wait on the host's event loop.
const EMULATED = ["src/x86", "src/devices", "src/machine", "src/vmx", "src/l4", "src/vmm"];
/** The glue that runs the kernel on the PC is emulated state too, though it lives in src/replay. */
const GLUE = ["src/replay/pc-platform.ts", "src/replay/stack.ts"];

const FORBIDDEN: [RegExp, string][] = [
  [/\bDate\b/, "host time (Date)"],
  [/\bperformance\s*\./, "host time (performance)"],
  [/\bprocess\s*\./, "the host process (env, hrtime, argv...)"],
  [/\bMath\s*\.\s*random\b/, "randomness"],
  [/\bcrypto\b/, "randomness or hashing from the host"],
  [/\bset(?:Timeout|Interval|Immediate)\b/, "host timers"],
  [/\bqueueMicrotask\b/, "the host event loop"],
  [/\bawait\b|\basync\b|\bPromise\b/, "promises"],
  [/\brequire\s*\(/, "dynamic loading"],
];

export function violations(text: string, imports: string[]): string[] {
  const code = codeOnly(text);
  const found = FORBIDDEN.filter(([re]) => re.test(code)).map(([, why]) => why);
  for (const spec of imports) if (!spec.startsWith(".")) found.push(`imports ${spec}`);
  return found;
}

describe("the emulated stack's determinism contract", () => {
  const files = [...EMULATED.flatMap(sourceFiles), ...GLUE];

  it("covers the CPU, the decoder and the devices", () => {
    expect(files).toContain("src/machine/cpu/cpu.ts");
    expect(files).toContain("src/x86/insn.ts");
    expect(files).toContain("src/replay/pc-platform.ts");
    expect(files.length).toBeGreaterThan(10);
  });

  it.each(files)("%s reads no host time, randomness, environment or files", (file) => {
    const text = read(file);
    expect(violations(text, importsOf(text))).toEqual([]);
  });

  it("flags each kind of host input when it appears", () => {
    const bad = [
      "const t = Date.now();",
      "const r = Math.random();",
      "const e = process.env.HOME;",
      "setTimeout(() => 0, 1);",
      "async function f() { await g(); }",
    ];
    for (const b of bad) expect(violations(b, []), b).not.toEqual([]);
    expect(violations("", ["node:fs"])).toEqual(["imports node:fs"]);
    expect(violations("// Date.now() in a comment is fine\nconst s = \"Math.random\";", [])).toEqual([]);
  });
});
