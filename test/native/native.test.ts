// Every instruction form the host CPU executed (test/native/fixtures) must give the same result
// on our CPU, except the cases listed in KNOWN_FAILURES with a reason.

import { describe, expect, it } from "vitest";
import { describeCase, loadFamilies, loadMeta, Runner, type CreateCpuUnderTest } from "./harness.js";

/** Case names (exact, as in the fixtures) that may fail, each with the reason. */
export const KNOWN_FAILURES: Record<string, string> = {};

/** How many failures per family to print in full. */
const SHOW = 5;

const meta = loadMeta();
const families = loadFamilies();

let create: CreateCpuUnderTest | null = null;
let adapterError = "";
try {
  // A variable specifier so the typecheck does not require the file before the CPU core adds it.
  const specifier = "./adapter.js";
  const mod = (await import(specifier)) as { createCpuUnderTest?: CreateCpuUnderTest };
  if (typeof mod.createCpuUnderTest !== "function") adapterError = "test/native/adapter.ts does not export createCpuUnderTest(meta)";
  else create = mod.createCpuUnderTest;
} catch (e) {
  adapterError = `adapter missing: test/native/adapter.ts must export createCpuUnderTest(meta: FixtureMeta): CpuUnderTest (see test/native/harness.ts) — ${e instanceof Error ? e.message.split("\n")[0] : String(e)}`;
}

describe("native conformance against the host CPU", () => {
  it("has fixtures for every family", () => {
    expect(families.length).toBeGreaterThan(20);
  });

  for (const compile of [false, true]) {
    for (const fam of families) {
      const how = compile ? ", each instruction compiled" : "";
      it(`runs all ${fam.cases.length} ${fam.family} cases as the host CPU did${how}`, () => {
        if (!create) throw new Error(adapterError);
        const under = create(meta, { compile });
        const runner = new Runner(meta, under);
        const failures: string[] = [];
        let failed = 0;
        let knownPassing = 0;
        for (const c of fam.cases) {
          const compiled = under.cpu.jitCompiled;
          const diffs = runner.run(c);
          // Only an invalid encoding (#UD) has nothing to compile.
          if (compile && under.cpu.jitCompiled === compiled && c.o.v !== 6) diffs.push("the instruction ran without being compiled");
          const known = KNOWN_FAILURES[c.n];
          if (diffs.length === 0) {
            if (known) knownPassing++;
            continue;
          }
          if (known) continue;
          failed++;
          if (failures.length < SHOW) failures.push(`  ${c.n}\n    ${describeCase(c)}\n      ${diffs.join("\n      ")}`);
        }
        if (knownPassing) console.log(`${fam.family}: ${knownPassing} case(s) in KNOWN_FAILURES now pass; remove them`);
        if (failed) {
          throw new Error(`${failed} of ${fam.cases.length} ${fam.family} case(s) differ from the host CPU${how} (first ${failures.length}):\n${failures.join("\n")}`);
        }
      });
    }
  }
});
