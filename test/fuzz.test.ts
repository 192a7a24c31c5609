// A seeded slice of the fuzzing campaign (test/fuzz/fuzz.ts; the long one is `npm run fuzz`):
// random guest code in real, protected and virtual-8086 mode on both machines, recorded,
// replayed and damaged, and random gdb packets on replays. It prints its seed; FUZZ_SEED=n and
// FUZZ_COUNT=n run another slice. The images of cases that found bugs are in test/fuzz/regressions.

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { endReasonOf, Session, Stop } from "../src/replay/session.js";
import { nasm } from "./support/cpu.js";
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

  it("stops at exactly the instruction limit on both machines, also when every instruction is a VM exit", () => {
    // The regression image runs from unmapped memory under the stack (from about icount 2,270 the
    // VMM emulates each instruction after its EPT exit); the bare PC triple-faults at 2,277.
    const image = regression("unmapped-code");
    const stops: string[] = [];
    for (const [machine, limits] of [["bare", [1, 1000, 2276]], ["stack", [1, 1000, 2276, 2300, 2301, 3000]]] as const) {
      for (const n of limits) {
        const s = new Session({ guest: { kind: "image", bytes: image }, machine, ramSize: 4 << 20, rtcEpochSeconds: 0, console: () => {} });
        const stop = s.run({ maxInsns: n });
        stops.push(`${machine} ${n}: ${stop === Stop.BUDGET ? "limit" : "end"} at ${s.position().icount}${machine === "stack" ? ` after ${s.exitCount()} exits` : ""}`);
      }
    }
    expect(stops.filter((l) => !/^\w+ (\d+): limit at \1( |$)/.test(l))).toEqual([]);
    // The limit fell among the exits, where the stack used to run on to the VMM's failure.
    expect(stops.find((l) => l.startsWith("stack 3000"))).toMatch(/after [1-9]\d\d exits/);
  }, 120_000);

  it("ends a guest whose fault handler faults before retiring anything, where the host used to spin", () => {
    // Found by seed 20261207, case 413: nothing retired, so not even guest time moved. Here the
    // real-mode #UD handler is the UD2 itself, its stack in a segment of its own (pushes that
    // wrapped onto the IVT or the code would end the loop).
    const ud2 = nasm("xor ax, ax\nmov ds, ax\nmov ax, 0x1000\nmov ss, ax\nxor sp, sp\nmov word [6 * 4], fault\nmov word [6 * 4 + 2], 0\nfault: ud2", 16, 0x7c00);
    for (const machine of ["bare", "stack"] as const) {
      const s = new Session({ guest: { kind: "image", bytes: ud2 }, machine, ramSize: 4 << 20, rtcEpochSeconds: 0, console: () => {} });
      const stop = s.run({ maxInsns: 1e6 });
      expect(`${machine}: ${endReasonOf(stop)} at ${s.position().icount}: ${s.stopDetail()}`).toBe(
        `${machine}: exception at 7: exception 6 delivered 10,000 times in a row: its handler faults before an instruction retires, for ever`,
      );
      expect(regressionCase(ud2, machine, 1).failure).toBeUndefined();
    }
    expect(regressionCase(regression("fault-loop"), "bare", 413).failure).toBeUndefined();
  }, 120_000);
});
