import { describe, expect, it } from "vitest";
import { importCycles, importGraph, runtimeImportsOf } from "./layers.js";

// Modules that import one another in a circle cannot be read, tested or loaded one at a time, and
// their load order decides which of them sees the other half-initialized. Helpers shared by two
// modules live in a third that both import. Type-only imports are erased by TypeScript and may
// point back up (an instruction family names the Cpu it works on).

describe("the import graph of src/", () => {
  it("has no cycle", () => {
    const cycles = importCycles(importGraph("src")).map((c) => c.join(" -> "));
    expect(cycles, `import cycles:\n${cycles.join("\n")}`).toEqual([]);
  });

  it("reports a cycle as the path that closes it", () => {
    const g = new Map([
      ["a.ts", ["b.ts"]],
      ["b.ts", ["c.ts", "d.ts"]],
      ["c.ts", ["a.ts"]],
      ["d.ts", []],
      ["e.ts", ["e.ts"]],
    ]);
    expect(importCycles(g)).toEqual(expect.arrayContaining([["a.ts", "b.ts", "c.ts", "a.ts"], ["e.ts", "e.ts"]]));
    expect(importCycles(g)).toHaveLength(2);
    expect(importCycles(new Map([["a.ts", ["b.ts"]], ["b.ts", []]]))).toEqual([]);
  });

  it("counts the imports that exist at run time, not those of types only", () => {
    const text = [
      'import type { Cpu } from "./cpu.js";',
      'import { type Insn, type Seg } from "./insn.js";',
      'import { Stop, type IoBus } from "./arch.js";',
      'export type { Tcb } from "./state.js";',
      'export { Kernel } from "./kernel.js";',
      'import "./ops/index.js";',
      'const m = await import("./lazy.js");',
    ].join("\n");
    expect(runtimeImportsOf(text).sort()).toEqual(["./arch.js", "./kernel.js", "./lazy.js", "./ops/index.js"]);
  });
});
