import { describe, expect, it } from "vitest";
import {
  ANY_THREAD,
  ExregCtrl,
  IpcError,
  L4Error,
  NEVER,
  NIL_THREAD,
  ZERO,
  call,
  fpage,
  globalId,
  ipcErrorCode,
  ipcFailed,
  msgTag,
  putMapItem,
  receive,
  send,
  tagLabel,
  tagU,
  wait,
  type SyscallResult,
} from "./api.js";
import { FakePlatform } from "./testing/fake-platform.js";
import { Kernel } from "./kernel.js";
import { TEST_PROGRAMS, echo, script, type EchoState, type ScriptState } from "./testing/programs.js";

const MB = 1 << 20;

function boot(): { p: FakePlatform; k: Kernel } {
  const p = new FakePlatform(16 * MB, 16);
  const k = new Kernel(p, { programs: TEST_PROGRAMS, kernelMemory: { base: 15 * MB, size: MB } });
  return { p, k };
}

const tid = (no: number) => globalId(no, 1);
const A = tid(40);
const B = tid(41);
const C = tid(42);
const ROOT = tid(50);

function log(k: Kernel, id: number): ScriptState["log"] {
  return (k.thread(id)!.progState as ScriptState).log;
}

function ipcResult(r: SyscallResult): { tag: number; from: number } {
  if (r.op !== "ipc") throw new Error(`not an IPC result: ${r.op}`);
  return r;
}

describe("IPC rendezvous", () => {
  it("delivers a send to a receiver that comes later (sender first)", () => {
    const { k } = boot();
    k.spawn(40, { program: script({ call: send(B), mr: [msgTag(7, 2, 0), 11, 22] }), priority: 100 });
    k.spawn(41, { program: script({ call: receive(A) }), priority: 90 });
    k.run(1_000_000);
    expect(ipcFailed(ipcResult(log(k, A)[0].result).tag)).toBe(false);
    const got = log(k, B)[0];
    expect(ipcResult(got.result).from).toBe(A);
    expect(got.mr).toEqual([msgTag(7, 2, 0), 11, 22]);
  });

  it("delivers a send to a receiver already waiting (receiver first)", () => {
    const { k } = boot();
    k.spawn(40, { program: script({ call: send(B), mr: [msgTag(7, 1, 0), 99] }), priority: 90 });
    k.spawn(41, { program: script({ call: receive(A) }), priority: 100 });
    while (k.threadState(B) !== "blockedRecv") k.step();
    expect(log(k, A)).toHaveLength(0);
    k.run(1_000_000);
    expect(log(k, B)[0].mr).toEqual([msgTag(7, 1, 0), 99]);
    expect(ipcResult(log(k, B)[0].result).from).toBe(A);
  });

  for (const [order, clientPrio, serverPrio] of [["server waiting first", 90, 100], ["client calling first", 100, 90]] as const) {
    it(`makes a call and gets the reply-and-wait answer (${order})`, () => {
      const { k } = boot();
      k.spawn(40, { program: script({ call: call(B), mr: [msgTag(0x100, 2, 0), 1, 2] }, { call: call(B), mr: [msgTag(0x200, 1, 0), 41] }), priority: clientPrio });
      k.spawn(41, { program: echo(), priority: serverPrio });
      k.run(1_000_000);
      const l = log(k, A);
      expect(l.map((e) => e.mr)).toEqual([[msgTag(0x101, 2, 0), 2, 3], [msgTag(0x201, 1, 0), 42]]);
      expect(l.every((e) => ipcResult(e.result).from === B)).toBe(true);
      expect((k.thread(B)!.progState as EchoState).served).toEqual([[A, 0x100], [A, 0x200]]);
      expect(k.threadState(B)).toBe("blockedRecv");
    });
  }

  it("a closed receive takes only its partner's message; an open one takes the first in line", () => {
    const { k } = boot();
    k.spawn(40, { program: script({ call: send(C), mr: [msgTag(1, 0, 0)] }), priority: 100 });
    k.spawn(41, { program: script({ call: send(C), mr: [msgTag(2, 0, 0)] }), priority: 100 });
    k.spawn(42, { program: script({ call: receive(B) }, { call: wait() }), priority: 50 });
    k.run(1_000_000);
    const l = log(k, C);
    expect(l.map((e) => [tagLabel(e.mr[0]), ipcResult(e.result).from])).toEqual([[2, B], [1, A]]);
  });

  it("fails a send to a thread that does not exist", () => {
    const { k } = boot();
    k.spawn(40, { program: script({ call: send(tid(99)) }) });
    k.run(100_000);
    const e = log(k, A)[0];
    expect(ipcFailed(ipcResult(e.result).tag)).toBe(true);
    expect(e.errorCode).toBe(ipcErrorCode(IpcError.NOT_EXIST, false));
  });

  it("refuses map items when the receiver accepts only untyped words (message overflow)", () => {
    const { k } = boot();
    const mr = [msgTag(0, 0, 2), 0, 0];
    const words = new Uint32Array(3);
    putMapItem(words, 1, fpage(0x100000, 12, 7), 0x100000);
    mr[1] = words[1];
    mr[2] = words[2];
    k.spawn(40, { program: script({ call: send(B), mr }), priority: 90, space: k.sigma0 });
    k.spawn(41, { program: script({ call: receive(A), acceptor: 0 }), priority: 100 });
    k.run(1_000_000);
    expect(ipcErrorCode(IpcError.MSG_OVERFLOW, true, 1) === log(k, B)[0].errorCode).toBe(true);
    expect(log(k, A)[0].errorCode).toBe(ipcErrorCode(IpcError.MSG_OVERFLOW, false, 1));
    expect(k.translate(B, 0x100000)).toBeNull();
  });
});

describe("IPC timeouts against the virtual clock", () => {
  it("a zero send timeout fails at once when the receiver is not waiting", () => {
    const { k } = boot();
    k.spawn(41, { program: script({ call: receive(C) }), priority: 100 });
    k.spawn(40, { program: script({ call: send(B, ZERO) }), priority: 90 });
    k.run(100_000);
    const e = log(k, A)[0];
    expect(ipcFailed(ipcResult(e.result).tag)).toBe(true);
    expect(e.errorCode).toBe(ipcErrorCode(IpcError.TIMEOUT, false));
  });

  it("a zero receive timeout polls: it takes a waiting sender's message, else fails at once", () => {
    const { k } = boot();
    k.spawn(41, { program: script({ call: send(A), mr: [msgTag(5, 0, 0)] }), priority: 60 });
    k.spawn(40, { program: script({ call: receive(ANY_THREAD, ZERO) }, { call: receive(ANY_THREAD, ZERO) }), priority: 50 });
    k.run(1_000_000);
    const l = log(k, A);
    expect(tagLabel(l[0].mr[0])).toBe(5);
    expect(ipcResult(l[0].result).from).toBe(B);
    expect(l[1].errorCode).toBe(ipcErrorCode(IpcError.TIMEOUT, true));
  });

  it("a relative receive timeout fires after its time, not before", () => {
    const { k } = boot();
    k.spawn(40, { program: script({ call: { op: "systemClock" } }, { call: receive(B, 50_000) }, { call: { op: "systemClock" } }) });
    k.spawn(41, { program: script({ call: receive(A) }), priority: 10 });
    k.run(30_000);
    expect(k.threadState(A)).toBe("blockedRecv");
    k.run(1_000_000);
    const l = log(k, A);
    const t0 = (l[0].result as { ns: number }).ns;
    const t1 = (l[2].result as { ns: number }).ns;
    expect(l[1].errorCode).toBe(ipcErrorCode(IpcError.TIMEOUT, true));
    expect(t1 - t0).toBeGreaterThanOrEqual(50_000);
    expect(t1 - t0).toBeLessThan(55_000);
    expect(k.stats.timeouts).toBe(1);
  });

  it("a relative send timeout takes the sender out of the receiver's queue", () => {
    const { k } = boot();
    k.spawn(40, { program: script({ call: send(B, 20_000), mr: [msgTag(1, 0, 0)] }, { call: send(B, NEVER), mr: [msgTag(2, 0, 0)] }), priority: 100 });
    k.spawn(41, { program: script({ call: { op: "ipc", to: NIL_THREAD, from: B, sendTimeout: ZERO, recvTimeout: 100_000 } }, { call: wait() }), priority: 90 });
    k.run(1_000_000);
    expect(log(k, A)[0].errorCode).toBe(ipcErrorCode(IpcError.TIMEOUT, false));
    expect(log(k, B).map((e) => e.mr[0] && tagLabel(e.mr[0]))).toEqual([0, 2]);
  });

  it("a never timeout waits through a long quiet time until the message comes", () => {
    const { k } = boot();
    k.spawn(40, { program: script({ call: receive(ANY_THREAD, NEVER) }) });
    expect(k.run(1_000_000_000)).toBe("deadline");
    expect(k.threadState(A)).toBe("blockedRecv");
    expect(k.run(Infinity)).toBe("idle");
    expect(k.platform.now()).toBe(1_000_000_000);
    k.spawn(41, { program: script({ call: send(A), mr: [msgTag(3, 0, 0)] }) });
    k.run(k.platform.now() + 1_000_000);
    expect(tagLabel(log(k, A)[0].mr[0])).toBe(3);
  });
});

describe("ThreadControl, ExchangeRegisters and the start protocol", () => {
  it("creates a thread in a new space that starts on its pager's start message", () => {
    const { k } = boot();
    k.spawn(50, {
      privileged: true,
      program: script(
        { call: { op: "threadControl", dest: A, space: A, scheduler: ROOT, pager: ROOT, program: script({ call: { op: "systemClock" } }) } },
        { call: send(A), mr: [msgTag(0, 2, 0), 0x1000, 0x8000] },
      ),
    });
    k.run(1_000_000);
    expect(log(k, ROOT).map((e) => e.result.op)).toEqual(["threadControl", "ipc"]);
    const t = k.thread(A)!;
    expect([t.ip, t.sp, t.started]).toEqual([0x1000, 0x8000, true]);
    expect(log(k, A).map((e) => e.result.op)).toEqual(["systemClock"]);
    expect(t.space).not.toBe(k.thread(ROOT)!.space);
  });

  it("refuses ThreadControl to unprivileged threads", () => {
    const { k } = boot();
    k.spawn(40, { program: script({ call: { op: "threadControl", dest: B, space: B, scheduler: A, pager: A } }) });
    k.run(100_000);
    expect(log(k, A)[0].result).toEqual({ op: "threadControl", result: 0 });
    expect(log(k, A)[0].errorCode).toBe(L4Error.NO_PRIVILEGE);
    expect(k.thread(B)).toBeNull();
  });

  it("starts a thread with ExchangeRegisters (L4_Start) and reads and writes its registers", () => {
    const { k } = boot();
    const start = ExregCtrl.SET_SP | ExregCtrl.SET_IP | ExregCtrl.SET_HALT | ExregCtrl.ABORT_RECV | ExregCtrl.ABORT_SEND;
    k.spawn(50, {
      privileged: true,
      program: script(
        { call: { op: "threadControl", dest: A, space: A, scheduler: ROOT, pager: ROOT, program: script({ call: receive(ROOT) }) } },
        { call: { op: "exchangeRegisters", dest: A, control: start, ip: 0x2000, sp: 0x9000 } },
        { call: { op: "exchangeRegisters", dest: A, control: ExregCtrl.DELIVER | ExregCtrl.SET_USER_HANDLE, userHandle: 0xabc } },
        { call: { op: "exchangeRegisters", dest: A, control: ExregCtrl.DELIVER } },
      ),
      priority: 50,
    });
    k.run(1_000_000);
    const l = log(k, ROOT);
    // Before the start it was waiting (for its start message); after, it waits for ROOT.
    expect(l[1].result).toMatchObject({ op: "exchangeRegisters", result: A, control: ExregCtrl.ABORT_RECV });
    expect(l[2].result).toMatchObject({ ip: 0x2000, sp: 0x9000, userHandle: 0, control: ExregCtrl.ABORT_RECV });
    expect(l[3].result).toMatchObject({ userHandle: 0xabc });
    expect(k.threadState(A)).toBe("blockedRecv");
  });

  it("aborts a blocked receive with ExchangeRegisters (the thread sees 'canceled')", () => {
    const { k } = boot();
    k.spawn(40, { program: script({ call: receive(C) }), priority: 100 });
    k.spawn(41, { program: script({ call: { op: "exchangeRegisters", dest: A, control: ExregCtrl.ABORT_RECV } }), priority: 50, space: A });
    k.run(1_000_000);
    expect(log(k, A)[0].errorCode).toBe(ipcErrorCode(IpcError.CANCELED, true));
    expect(log(k, B)[0].result).toMatchObject({ result: A, control: ExregCtrl.ABORT_RECV });
  });

  it("halts and resumes a thread", () => {
    const { k } = boot();
    const spin = Array.from({ length: 50 }, () => ({ call: { op: "systemClock" as const } }));
    k.spawn(40, { program: script(...spin), priority: 50 });
    k.spawn(41, {
      privileged: true,
      priority: 100,
      program: script(
        { call: { op: "exchangeRegisters", dest: A, control: ExregCtrl.SET_HALT | ExregCtrl.HALT } },
        { call: receive(B, 200_000) }, // sleeps: nobody answers a receive from oneself
        { call: { op: "exchangeRegisters", dest: A, control: ExregCtrl.SET_HALT } },
      ),
    });
    k.run(100_000);
    expect(k.threadState(A)).toBe("halted");
    expect(log(k, A)).toHaveLength(0);
    k.run(10_000_000);
    expect(log(k, A)).toHaveLength(50);
  });

  it("deleting a thread fails the IPC of those waiting on it", () => {
    const { k } = boot();
    k.spawn(40, { program: script({ call: send(B) }), priority: 100 });
    k.spawn(41, { program: script({ call: receive(C) }), priority: 90 });
    k.spawn(42, { program: script({ call: receive(B) }), priority: 80 });
    k.spawn(50, { privileged: true, priority: 10, program: script({ call: { op: "threadControl", dest: B, space: NIL_THREAD, scheduler: NIL_THREAD, pager: NIL_THREAD } }) });
    k.run(1_000_000);
    expect(log(k, ROOT)[0].result).toEqual({ op: "threadControl", result: 1 });
    expect(k.thread(B)).toBeNull();
    expect(log(k, A)[0].errorCode).toBe(ipcErrorCode(IpcError.NOT_EXIST, false));
    expect(log(k, C)[0].errorCode).toBe(ipcErrorCode(IpcError.NOT_EXIST, true));
  });

  it("answers KernelInterface and SystemClock", () => {
    const { k } = boot();
    k.spawn(40, { program: script({ call: { op: "kernelInterface" } }, { call: { op: "systemClock" } }) });
    k.run(100_000);
    const l = log(k, A);
    expect(l[0].result).toMatchObject({ op: "kernelInterface", kip: { sigma0: k.sigma0, userBase: 32, vmx: true, irqLines: 16 } });
    expect((l[1].result as { ns: number }).ns).toBeGreaterThan(0);
    expect(tagU(0)).toBe(0);
  });
});
