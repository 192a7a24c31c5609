import { describe, expect, it } from "vitest";
import { L4Error, NIL_THREAD, ThreadStateCode, call, globalId, msgTag, type ThreadId } from "./api.js";
import { COSTS } from "./costs.js";
import { bootTest, echo, scriptLog, script, type ScriptStep } from "./testing/programs.js";
import type { Kernel } from "./kernel.js";

const tid = (no: number) => globalId(no, 1);
const A = tid(40);
const B = tid(41);
const C = tid(42);
const S = tid(43);

const clock = (work?: number): ScriptStep => ({ call: work === undefined ? { op: "systemClock" } : { op: "systemClock", work } });

/** Which thread ran each step, from the switch observer. */
function switches(k: Kernel): ThreadId[] {
  const order: ThreadId[] = [];
  k.observer = { switchTo: (_from, to) => order.push(to) };
  return order;
}

describe("the scheduler", () => {
  it("runs the highest priority first; lower ones only when it blocks", () => {
    const { k } = bootTest();
    k.spawn(40, { priority: 100, program: script(clock(), clock(), clock()) });
    k.spawn(41, { priority: 200, program: script(clock(), clock(), clock()) });
    const order = switches(k);
    k.run(1_000_000);
    expect(order).toEqual([k.sigma0, B, A]);
    const lastHigh = (scriptLog(k, B)[2].result as { ns: number }).ns;
    const firstLow = (scriptLog(k, A)[0].result as { ns: number }).ns;
    expect(firstLow).toBeGreaterThan(lastHigh);
  });

  it("a higher-priority thread woken by a timeout preempts the running one", () => {
    const { k } = bootTest();
    k.spawn(40, { priority: 100, program: script(...Array.from({ length: 30 }, () => clock(10_000))) });
    k.spawn(41, { priority: 200, program: script({ call: { op: "ipc", to: 0, from: B, sendTimeout: 0, recvTimeout: 50_000 } }, clock()) });
    const order = switches(k);
    k.run(1_000_000);
    expect(order).toEqual([k.sigma0, B, A, B, A]);
    // A was preempted mid-slice and kept its place at the head of its queue.
    expect(scriptLog(k, A)).toHaveLength(30);
  });

  it("rotates threads of equal priority when their timeslices run out", () => {
    const { k } = bootTest({ timeslice: 300_000 });
    const steps = Array.from({ length: 9 }, () => clock(100_000));
    k.spawn(40, { priority: 100, program: script(...steps) });
    k.spawn(41, { priority: 100, program: script(...steps) });
    const order = switches(k);
    k.run(10_000_000);
    // Each step costs a little more than 100 us: three fill a 300 us slice. The last turn of
    // each is the step after its ninth clock (the script then sleeps).
    expect(order).toEqual([k.sigma0, A, B, A, B, A, B, A, B]);
    const times = [...scriptLog(k, A).map((e) => ["A", (e.result as { ns: number }).ns] as const), ...scriptLog(k, B).map((e) => ["B", (e.result as { ns: number }).ns] as const)]
      .sort((x, y) => x[1] - y[1])
      .map((x) => x[0])
      .join("");
    expect(times).toBe("AAABBBAAABBBAAABBB");
  });

  it("ThreadSwitch(nil) yields to the next thread of the same priority", () => {
    const { k } = bootTest();
    k.spawn(40, { priority: 100, program: script(clock(), { call: { op: "threadSwitch", dest: NIL_THREAD } }, clock()) });
    k.spawn(41, { priority: 100, program: script(clock()) });
    const order = switches(k);
    k.run(1_000_000);
    expect(order).toEqual([k.sigma0, A, B, A]);
  });

  it("ThreadSwitch(dest) runs the destination next, ahead of the queue", () => {
    const { k } = bootTest();
    k.spawn(40, { priority: 100, program: script({ call: { op: "threadSwitch", dest: C } }, clock()) });
    k.spawn(41, { priority: 100, program: script(clock()) });
    k.spawn(42, { priority: 100, program: script(clock()) });
    const order = switches(k);
    k.run(1_000_000);
    expect(order).toEqual([k.sigma0, A, C, B, A]);
  });

  it("a call hands the CPU straight to the server it woke, ahead of others of its priority", () => {
    const { k } = bootTest();
    k.spawn(43, { priority: 100, program: echo() });
    k.spawn(40, { priority: 100, program: script({ call: call(S), mr: [msgTag(1, 0, 0)] }) });
    k.spawn(41, { priority: 100, program: script(clock()) });
    const order = switches(k);
    k.run(1_000_000);
    expect(order.slice(0, 5)).toEqual([k.sigma0, S, A, S, A]);
    expect(order[5]).toBe(B);
  });

  it("Schedule sets priority and timeslice for the thread's scheduler, and reports its state", () => {
    const { k } = bootTest();
    k.spawn(40, {
      priority: 150,
      privileged: true,
      program: script({ call: { op: "schedule", dest: B, priority: 120, timeslice: 1_000_000, quantum: 5_000_000 } }),
    });
    k.spawn(41, { priority: 100, program: script(clock()) });
    k.spawn(42, { priority: 100, program: script({ call: { op: "schedule", dest: B, priority: 1 } }) });
    k.run(1_000_000);
    expect(scriptLog(k, A)[0].result).toEqual({ op: "schedule", result: ThreadStateCode.RUNNING, timeslice: 1_000_000, quantum: 5_000_000 });
    expect(k.thread(B)!.priority).toBe(120);
    expect(scriptLog(k, C)[0].errorCode).toBe(L4Error.NO_PRIVILEGE);
  });

  it("charges the documented costs to the virtual clock", () => {
    const { k, p } = bootTest();
    k.spawn(40, { priority: 100, program: script(clock(1000), clock(1000)) });
    k.run(1_000_000);
    const [t0, t1] = scriptLog(k, A).map((e) => (e.result as { ns: number }).ns);
    expect(t1 - t0).toBe(1000 + COSTS.SYSCALL);
    expect(p.now()).toBe(1_000_000);
  });
});
