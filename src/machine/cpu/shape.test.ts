// The Cpu's hidden class must not change in the middle of a run: when it does, V8 drops the
// optimized code of every method and compiled block that reads the Cpu and optimizes it all again
// (see WIDE_FIELDS in ./cpu.ts). V8's own %HaveSameMap tells, with natives syntax allowed.

import { setFlagsFromString } from "node:v8";
import { describe, expect, it } from "vitest";
import { bareCpu } from "../../../test/support/cpu.js";

setFlagsFromString("--allow-natives-syntax");
const haveSameMap = new Function("a", "b", "return %HaveSameMap(a, b)") as (a: object, b: object) => boolean;

describe("the Cpu's hidden class", () => {
  it("stays when the icount passes 2^31 (an interrupt shadow's end with it), CR2 and TR's limit take unsigned values and the TSC runs on idle", () => {
    const { cpu: a } = bareCpu(new Uint8Array([0xf4]));
    const { cpu: b } = bareCpu(new Uint8Array([0xf4]));
    expect(haveSameMap(a, b)).toBe(true);
    b.icount = 2 ** 31 + 5;
    b.runEnd = 2 ** 32 + 7;
    b.irqShadowAt = b.icount + 1; // STI's shadow, past 2^31
    b.cr2 = 0xfffff000;
    b.trLimit = 0xffffffff;
    // Time passed halted, then an RDTSC: the pending ticks and the offset's double pass 2^31.
    b.passTsc(2 ** 32 + 3);
    b.rdtsc();
    b.passTsc(2 ** 32);
    expect(b.tsc()).toBe(2n ** 33n + 3n + BigInt(b.icount));
    b.rdtsc();
    expect(haveSameMap(a, b)).toBe(true);
  });
});
