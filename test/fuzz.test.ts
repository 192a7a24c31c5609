// A seeded slice of the fuzzing campaign (test/fuzz/fuzz.ts; the long one is `npm run fuzz`):
// random guest code in real, protected and virtual-8086 mode on both machines, recorded,
// replayed and damaged, and random gdb packets on replays. It prints its seed; FUZZ_SEED=n and
// FUZZ_COUNT=n run another slice. The images of cases that found bugs are in test/fuzz/regressions.

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { fuzzCase, regressionCase } from "./fuzz/fuzz.js";

const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) >>> 0 : 20261207;
const COUNT = Number(process.env.FUZZ_COUNT) || 48;
const regression = (name: string) => new Uint8Array(readFileSync(new URL(`./fuzz/regressions/${name}.bin`, import.meta.url)));

describe("the host under fuzzing", () => {
  it(`neither throws nor hangs on ${COUNT} cases of seed ${SEED}`, async () => {
    console.log(`fuzz: seed ${SEED}, ${COUNT} cases (again: npm run fuzz -- --seed ${SEED} --count ${COUNT})`);
    const failures: string[] = [];
    for (let k = 0; k < COUNT; k++) {
      const r = await fuzzCase(SEED, k);
      if (r.failure !== undefined) failures.push(`case ${k} (${r.what}): ${r.failure}`);
    }
    expect(failures).toEqual([]);
  }, 600_000);

  it("replays a triple fault that came while delivering a fault from virtual-8086 mode to the same state", () => {
    // Found by seed 7, case 14: the replay stopped at the last retired instruction, before the faults.
    const r = regressionCase(regression("v86-fault-in-delivery"), "bare", 7);
    expect(r.failure).toBeUndefined();
  });

  it("records a guest the VMM steps through EPT exits past its next hash without hanging", () => {
    // Found by seed 1, case 791: code fetched from unmapped guest memory, an exit per instruction,
    // carried the count past the hash the recorder waited for, and the recorder looped forever.
    const r = regressionCase(regression("unmapped-code"), "stack", 1);
    expect(r.failure).toBeUndefined();
  }, 120_000);

});
