// A thread's hidden class must not change in the middle of a run: when it does, V8 drops the
// optimized code of the kernel's functions that read threads (see WIDE_TCB_FIELDS in
// ./thread.ts). V8's own %HaveSameMap tells, with natives syntax allowed.

import { setFlagsFromString } from "node:v8";
import { describe, expect, it } from "vitest";
import { ANY_THREAD, globalId } from "./api.js";
import { bootTest, script } from "./testing/programs.js";

setFlagsFromString("--allow-natives-syntax");
const haveSameMap = new Function("a", "b", "return %HaveSameMap(a, b)") as (a: object, b: object) => boolean;

describe("a thread's hidden class", () => {
  it("stays when its times pass 2^31 ns and it receives from any thread", () => {
    const { k } = bootTest();
    k.spawn(40, { priority: 100, program: script({ call: { op: "systemClock" } }) });
    k.spawn(41, { priority: 100, program: script({ call: { op: "systemClock" } }) });
    const a = k.thread(globalId(40, 1)), b = k.thread(globalId(41, 1));
    if (a === null || b === null) throw new Error("no threads");
    expect(haveSameMap(a, b)).toBe(true);
    b.wakeAt = 2 ** 31 + 5;
    b.remaining = 2 ** 31 + 7;
    b.recvTimeout = 2 ** 32;
    b.recvFrom = ANY_THREAD;
    expect(haveSameMap(a, b)).toBe(true);
  });
});
