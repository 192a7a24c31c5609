import { describe, expect, it } from "vitest";
import {
  EventType,
  ExitReason,
  GuestField,
  Xfer,
  call,
  globalId,
  injectionInfo,
  msgTag,
  replyWait,
  wait,
  type Syscall,
} from "./api.js";
import type { FakePlatform } from "./testing/fake-platform.js";
import type { Kernel } from "./kernel.js";
import { bootTest, echo, scriptLog, script } from "./testing/programs.js";

const tid = (no: number) => globalId(no, 1);
const CLIENT = tid(40);
const SERVER = tid(43);
const ROOT = tid(50);
const VMM = tid(51);
const V = tid(60);
const IRQ3 = globalId(3, 1);

const sleep = (self: number, ns: number): Syscall => ({ op: "ipc", to: 0, from: self, sendTimeout: 0, recvTimeout: ns });

/** Client/server calls with timeouts, an interrupt, and a VCPU whose VMM is asleep at first. */
function scenario(): { k: Kernel; p: FakePlatform } {
  const { k, p } = bootTest();
  k.spawn(50, { privileged: true, priority: 250, program: script({ call: { op: "threadControl", dest: IRQ3, space: IRQ3, scheduler: ROOT, pager: SERVER } }) });
  k.spawn(43, { priority: 100, program: echo() });
  k.spawn(40, {
    priority: 90,
    program: script(
      { call: call(SERVER), mr: [msgTag(1, 2, 0), 10, 20] },
      { call: sleep(CLIENT, 30_000) },
      { call: call(SERVER), mr: [msgTag(2, 1, 0), 30] },
      { call: { op: "ipc", to: SERVER, from: SERVER, sendTimeout: 5_000, recvTimeout: 5_000 }, mr: [msgTag(3, 0, 0)] },
    ),
  });
  k.spawn(51, {
    priority: 120,
    program: script(
      { call: sleep(VMM, 50_000) },
      { call: wait() },
      { call: replyWait(V), mr: [msgTag(0, 3, 0), Xfer.EIP | Xfer.EFLAGS, 0x7c00, 0x2] },
      { call: replyWait(V), mr: [msgTag(0, 5, 0), Xfer.EIP | Xfer.INJ, 0x7c02, injectionInfo(0x21, EventType.EXTERNAL), 0, 0] },
    ),
  });
  k.spawn(60, { vm: true, priority: 80, pager: VMM, exceptionHandler: VMM, vcpu: { xferDefault: Xfer.GPR_ACDB | Xfer.EIP } });
  p.scriptExits(
    60,
    { after: 20_000, exit: { reason: ExitReason.CPUID, qualification: 0, instructionLength: 2, guestLinear: 0, guestPhysical: 0 }, set: [[GuestField.EAX, 7]] },
    { after: 40_000, exit: { reason: ExitReason.HLT, qualification: 0, instructionLength: 1, guestLinear: 0, guestPhysical: 0 } },
  );
  p.raiseIrq(3, 70_000);
  return { k, p };
}

const END = 3_000_000;

/**
 * Both machines' state, RAM compared byte for byte apart (toEqual on 16 MiB is slow), and the
 * fake's log of guest entries left out: how often the guest is entered depends on how the host
 * cuts its runs, which must change nothing else.
 */
function state(k: Kernel, p: FakePlatform): { k: unknown; p: unknown; ram: Buffer } {
  const { mem, vcpus, ...rest } = p.save();
  const regs = Object.fromEntries(Object.entries(vcpus).map(([id, v]) => [id, { fields: v.fields, script: v.script }]));
  return { k: k.save(), p: { ...rest, regs }, ram: Buffer.from(mem.buffer, mem.byteOffset, mem.byteLength) };
}

function expectSame(a: ReturnType<typeof state>, b: ReturnType<typeof state>, what: string): void {
  expect(a.k, what).toEqual(b.k);
  expect(a.p, what).toEqual(b.p);
  expect(a.ram.equals(b.ram), what).toBe(true);
}

describe("save() and restore()", () => {
  it("the scenario does what it says (so the comparisons below compare something)", () => {
    const { k, p } = scenario();
    k.run(END);
    expect(scriptLog(k, CLIENT).map((e) => e.result.op)).toEqual(["ipc", "ipc", "ipc", "ipc"]);
    expect(scriptLog(k, VMM)).toHaveLength(4);
    expect(p.vcpu(60).fields[GuestField.ENTRY_INTR_INFO]).toBe(injectionInfo(0x21, EventType.EXTERNAL));
    expect(k.stats.irqs).toBe(1);
    expect(k.stats.timeouts).toBeGreaterThanOrEqual(2);
  });

  it("restored at any step, a fresh kernel and platform continue exactly as the original", () => {
    const ref = scenario();
    ref.k.run(END);
    const want = state(ref.k, ref.p);
    let midIpc = 0;
    for (let n = 1; n <= 60; n++) {
      const a = scenario();
      for (let i = 0; i < n; i++) a.k.step();
      const vState = a.k.thread(V)!.state;
      if (vState === "blockedSend" || a.k.thread(CLIENT)!.state === "blockedRecv") midIpc++;
      const snap = { k: a.k.save(), p: a.p.save() };
      const b = scenario();
      b.p.restore(snap.p);
      b.k.restore(snap.k);
      b.k.run(END);
      expectSame(state(b.k, b.p), want, `restored after step ${n}`);
      // The snapshot was a copy: running the restored machine did not touch it.
      expect(snap.k.threads[60].state).toBe(vState);
    }
    expect(midIpc).toBeGreaterThan(10);
  });

  it("cutting a run into pieces changes nothing", () => {
    const ref = scenario();
    ref.k.run(END);
    const a = scenario();
    for (let t = 7_777; t < END; t += 7_777) a.k.run(t);
    a.k.run(END);
    expectSame(state(a.k, a.p), state(ref.k, ref.p), "run in pieces");
  });

  it("restoring into the same kernel rewinds it", () => {
    const { k, p } = scenario();
    k.run(40_000);
    const snap = { k: k.save(), p: p.save() };
    k.run(END);
    const first = state(k, p);
    p.restore(snap.p);
    k.restore(snap.k);
    expect(k.platform.now()).toBe(snap.p.time);
    k.run(END);
    expectSame(state(k, p), first, "rewound");
  });
});
