import { describe, expect, it } from "vitest";
import { ExcMr, L4Error, Label, globalId, msgTag, reply, replyWait, tagLabel, tagU, wait } from "./api.js";
import { bootTest, scriptLog, script } from "./testing/programs.js";

const tid = (no: number) => globalId(no, 1);
const A = tid(40);
const H = tid(41);
const ROOT = tid(50);
const IRQ4 = globalId(4, 1);

describe("exceptions", () => {
  it("an exception is an IPC to the exception handler, whose reply sets the thread's registers", () => {
    const { k } = bootTest();
    k.spawn(41, { priority: 200, program: script({ call: wait() }, { call: reply(A), mr: [msgTag(0, 2, 0), 0x5000, 0x202] }) });
    k.spawn(40, { exceptionHandler: H, ip: 0x1234, sp: 0x8000, program: script({ call: { op: "raise", vector: 13, errorCode: 0x10 } }) });
    k.run(1_000_000);
    const got = scriptLog(k, H)[0];
    expect(tagLabel(got.mr[0])).toBe(Label.EXCEPTION);
    expect(tagU(got.mr[0])).toBe(12);
    expect([got.mr[ExcMr.EIP], got.mr[ExcMr.VECTOR], got.mr[ExcMr.ERROR_CODE], got.mr[ExcMr.ESP]]).toEqual([0x1234, 13, 0x10, 0x8000]);
    expect(scriptLog(k, A)[0].result).toEqual({ op: "raise", ip: 0x5000, sp: 0x8000, flags: 0x202 });
    expect(k.stats.exceptions).toBe(1);
  });

  it("a thread without an exception handler is halted by its exception", () => {
    const { k } = bootTest();
    k.spawn(40, { program: script({ call: { op: "raise", vector: 0, errorCode: 0 } }) });
    k.run(1_000_000);
    expect(k.threadState(A)).toBe("halted");
  });
});

describe("interrupts as IPC", () => {
  it("an interrupt thread sends its handler an IPC; the line stays masked until the handler's reply", () => {
    const { k, p } = bootTest();
    k.spawn(41, {
      priority: 150,
      program: script(
        { call: wait() },
        { call: replyWait(IRQ4), mr: [msgTag(0, 0, 0)] },
        { call: receive41Self(1_000_000) },
        { call: reply(IRQ4), mr: [msgTag(0, 0, 0)] },
      ),
    });
    k.spawn(50, {
      privileged: true,
      priority: 200,
      program: script({ call: { op: "threadControl", dest: IRQ4, space: IRQ4, scheduler: ROOT, pager: H } }),
    });
    const maskedAtDelivery: boolean[] = [];
    k.observer = { ipc: (from) => { if (from === IRQ4) maskedAtDelivery.push(p.s.masked[4]); } };
    p.raiseIrq(4, 100_000);
    p.raiseIrq(4, 100_001); // while the first is being handled: pending behind the mask
    p.raiseIrq(4, 500_000); // while the second is not yet acknowledged
    k.run(400_000);
    expect(scriptLog(k, ROOT)[0].result).toEqual({ op: "threadControl", result: 1 });
    const l = scriptLog(k, H);
    expect(l.map((e) => [tagLabel(e.mr[0]), (e.result as { from: number }).from])).toEqual([[Label.INTERRUPT, IRQ4], [Label.INTERRUPT, IRQ4]]);
    expect(maskedAtDelivery).toEqual([true, true]);
    expect(p.s.acks).toEqual([4, 4]);
    k.run(1_000_000);
    expect([p.s.pending[4], p.s.masked[4], p.s.acks.length]).toEqual([true, true, 2]);
    // The handler's reply unmasks the line, and the third interrupt is taken.
    k.run(2_000_000);
    expect(p.s.acks).toEqual([4, 4, 4]);
    expect(k.stats.irqs).toBe(3);
    expect(k.thread(H)!.sendQueue).toEqual([4]);
  });

  it("an interrupt that arrives while the handler is busy waits in its queue", () => {
    const { k, p } = bootTest();
    k.spawn(41, {
      priority: 100,
      program: script(
        { call: receive41Self(300_000) },
        { call: wait() },
      ),
    });
    k.spawn(50, { privileged: true, priority: 200, program: script({ call: { op: "threadControl", dest: IRQ4, space: IRQ4, scheduler: ROOT, pager: H } }) });
    p.raiseIrq(4, 50_000);
    k.run(1_000_000);
    const l = scriptLog(k, H);
    expect(tagLabel(l[1].mr[0])).toBe(Label.INTERRUPT);
    expect((l[1].result as { from: number }).from).toBe(IRQ4);
  });

  it("only privileged threads associate interrupts; a bad association is an error", () => {
    const { k } = bootTest();
    k.spawn(40, { program: script({ call: { op: "threadControl", dest: IRQ4, space: IRQ4, scheduler: A, pager: A } }) });
    k.spawn(50, { privileged: true, program: script({ call: { op: "threadControl", dest: IRQ4, space: ROOT, scheduler: ROOT, pager: ROOT } }) });
    k.run(1_000_000);
    expect(scriptLog(k, A)[0].errorCode).toBe(L4Error.NO_PRIVILEGE);
    expect(scriptLog(k, ROOT)[0].errorCode).toBe(L4Error.INVALID_PARAM);
  });
});

/** H sleeps: a receive from itself with a timeout. */
function receive41Self(ns: number) {
  return { op: "ipc" as const, to: 0, from: H, sendTimeout: 0, recvTimeout: ns };
}
