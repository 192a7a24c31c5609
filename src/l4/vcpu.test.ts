import { describe, expect, it } from "vitest";
import {
  COMPLETE_FPAGE,
  EventType,
  ExitReason,
  VcpuReason,
  ExregCtrl,
  GuestField,
  L4Error,
  Label,
  Rights,
  SPACE_VM,
  VfaultMr,
  Xfer,
  acceptor,
  call,
  decodeIoQualification,
  fpage,
  globalId,
  ioFpage,
  injectionInfo,
  msgTag,
  putMapItem,
  reply,
  replyWait,
  tagLabel,
  tagU,
  unmapControl,
  vfaultLabel,
  wait,
  xferIndex,
  type Syscall,
  type SyscallResult,
  type UserProgram,
  type Utcb,
} from "./api.js";
import { eptLookup } from "./ept.js";
import type { VcpuExit } from "./platform.js";
import { MB, bootTest, scriptLog, script } from "./testing/programs.js";

const tid = (no: number) => globalId(no, 1);
const VMM = tid(50);
const V = tid(60);
const WHOLE = acceptor(COMPLETE_FPAGE);

function exit(reason: number, fields: Partial<VcpuExit> = {}): VcpuExit {
  return { reason, qualification: 0, instructionLength: 0, guestLinear: 0, guestPhysical: 0, ...fields };
}

function mapMsg(f: number, sndBase: number): number[] {
  const mr = new Uint32Array(3);
  mr[0] = msgTag(0, 0, 2);
  putMapItem(mr, 1, f, sndBase);
  return Array.from(mr);
}

describe("VM spaces and virtualization-fault IPC", () => {
  it("creates a VCPU in a VM space; its exits arrive as vfaults and the replies write state and inject events", () => {
    const { k, p } = bootTest();
    const start = ExregCtrl.SET_SP | ExregCtrl.SET_IP | ExregCtrl.SET_HALT | ExregCtrl.ABORT_RECV | ExregCtrl.ABORT_SEND;
    const cpuidMask = Xfer.GPR_ACDB | Xfer.EIP;
    p.scriptExits(
      60,
      { after: 5000, exit: exit(ExitReason.CPUID, { instructionLength: 2 }), set: [[GuestField.EAX, 1], [GuestField.EIP, 0x7c10]] },
      { after: 3000, exit: exit(ExitReason.HLT, { instructionLength: 1 }), set: [[GuestField.EIP, 0x7c20]] },
    );
    const inj = injectionInfo(0x20, EventType.EXTERNAL);
    k.spawn(50, {
      privileged: true,
      priority: 200,
      program: script(
        { call: { op: "threadControl", dest: V, space: V, scheduler: VMM, pager: 0 } },
        { call: { op: "spaceControl", space: V, control: SPACE_VM } },
        {
          call: {
            op: "threadControl", dest: V, space: V, scheduler: VMM, pager: VMM, exceptionHandler: VMM,
            vcpu: { xferDefault: Xfer.GPR_ACDB | Xfer.EIP | Xfer.EFLAGS, xfer: [[ExitReason.CPUID, cpuidMask]] },
          },
        },
        { call: { op: "exchangeRegisters", dest: V, control: start, ip: 0x7c00, sp: 0x1000 } },
        { call: wait() },
        // STARTUP: set EFLAGS and the control registers.
        { call: replyWait(V), mr: [msgTag(0, 6, 0), Xfer.EFLAGS | Xfer.CR, 0x2, 0x11, 0, 0, 0] },
        // CPUID: answer EAX..EBX, step over the instruction, and inject vector 0x20.
        { call: replyWait(V), mr: [msgTag(0, 9, 0), Xfer.GPR_ACDB | Xfer.EIP | Xfer.INJ, 0x756e6547, 0x6c65746e, 0x49656e69, 0, 0x7c12, inj, 0, 0] },
        // HLT: not answered. The VCPU stays blocked.
      ),
    });
    k.run(2_000_000);
    const l = scriptLog(k, VMM);
    expect(l.slice(0, 4).map((e) => (e.result as { result: number }).result)).toEqual([1, 1, 1, V]);
    const root = k.eptRootOf(V);
    expect(root).toBeGreaterThanOrEqual(15 * MB);
    expect(root).toBeLessThan(16 * MB);

    const startup = l[4].mr;
    expect(tagLabel(startup[0])).toBe(vfaultLabel(VcpuReason.STARTUP));
    expect(tagU(startup[0])).toBe(3 + 6);
    expect(startup[VfaultMr.MASK]).toBe(Xfer.GPR_ACDB | Xfer.EIP | Xfer.EFLAGS);
    expect(startup[VfaultMr.STATE + xferIndex(startup[VfaultMr.MASK], GuestField.EIP)]).toBe(0x7c00);

    const cpuid = l[5].mr;
    expect(tagLabel(cpuid[0])).toBe(0xf80a);
    expect([cpuid[VfaultMr.QUALIFICATION], cpuid[VfaultMr.INSTRUCTION_LENGTH], cpuid[VfaultMr.MASK]]).toEqual([0, 2, cpuidMask]);
    expect(cpuid.slice(VfaultMr.STATE)).toEqual([1, 0, 0, 0, 0x7c10]);

    const hlt = l[6].mr;
    expect(tagLabel(hlt[0])).toBe(vfaultLabel(ExitReason.HLT));
    expect(hlt[VfaultMr.INSTRUCTION_LENGTH]).toBe(1);

    const f = p.vcpu(60).fields;
    expect([f[GuestField.EFLAGS], f[GuestField.CR0], f[GuestField.EAX], f[GuestField.ECX], f[GuestField.EIP], f[GuestField.ENTRY_INTR_INFO]]).toEqual([
      0x2, 0x11, 0x756e6547, 0x6c65746e, 0x7c20, inj,
    ]);
    expect(k.stats.exitsByReason).toEqual({ [ExitReason.CPUID]: 1, [ExitReason.HLT]: 1 });

    // Not replying parks the VCPU: it is never entered again.
    const runs = p.vcpu(60).runs.length;
    k.run(50_000_000);
    expect(p.vcpu(60).runs.length).toBe(runs);
    expect(k.threadState(V)).toBe("blockedRecv");
  });

  it("refuses SpaceControl to unprivileged threads and on spaces already running", () => {
    const { k } = bootTest();
    k.spawn(40, { program: script({ call: { op: "spaceControl", space: tid(40), control: SPACE_VM } }) });
    k.spawn(50, { privileged: true, program: script({ call: { op: "spaceControl", space: tid(40), control: SPACE_VM } }) });
    k.run(1_000_000);
    expect(scriptLog(k, tid(40))[0].errorCode).toBe(L4Error.NO_PRIVILEGE);
    expect(scriptLog(k, VMM)[0].errorCode).toBe(L4Error.INVALID_SPACE);
  });

  it("an EPT violation is a page fault to the VM's pager; its map item lands in the EPT", () => {
    const { k, p } = bootTest();
    p.scriptExits(
      60,
      { after: 1000, exit: exit(ExitReason.EPT_VIOLATION, { qualification: 3, guestPhysical: 0x3010 }), set: [[GuestField.EIP, 0x100]] },
      // Mapped already: the kernel refreshes the EPT itself, the pager hears nothing.
      { after: 1000, exit: exit(ExitReason.EPT_VIOLATION, { qualification: 1, guestPhysical: 0x3020 }) },
      { after: 1000, exit: exit(ExitReason.EPT_VIOLATION, { qualification: 4, guestPhysical: 0x200000 }) },
      { after: 1000, exit: exit(ExitReason.CPUID) },
    );
    k.spawn(50, {
      privileged: true,
      priority: 200,
      pager: k.sigma0,
      program: script(
        { call: call(k.sigma0), mr: [msgTag(Label.SIGMA0, 2, 0), fpage(0x400000, 22, Rights.RWX), 0], acceptor: WHOLE },
        { call: wait() },
        { call: replyWait(V), mr: [msgTag(0, 0, 0)] },
        { call: replyWait(V), mr: mapMsg(fpage(0x405000, 12, Rights.RWX), 0x3000) },
        { call: replyWait(V), mr: mapMsg(fpage(0x400000, 22, Rights.RWX), 0) },
        { call: { op: "unmap", control: unmapControl(1, false) }, mr: [fpage(0x400000, 22, Rights.RWX)] },
      ),
    });
    k.spawn(60, { vm: true, pager: VMM, exceptionHandler: VMM, vcpu: { xferDefault: 0 } });
    const root = k.eptRootOf(V);
    while (k.stats.vmPageFaults < 2) k.step();
    const l = scriptLog(k, VMM);
    expect(tagLabel(l[1].mr[0])).toBe(vfaultLabel(VcpuReason.STARTUP));
    expect(l[2].mr).toEqual([msgTag(Label.PAGE_FAULT | Rights.RW, 2, 0), 0x3010, 0x100]);
    expect((l[2].result as { from: number }).from).toBe(V);
    // The reply's map item is in the EPT, and the VCPU went on to its next fault.
    expect(eptLookup(p, root, 0x3abc)).toEqual({ hpa: 0x405abc, perm: 7, large: false });
    expect(k.translate(V, 0x3000)).toEqual({ paddr: 0x405000, rights: Rights.RWX });
    expect(k.stats.exitsByReason[ExitReason.EPT_VIOLATION]).toBe(3);

    // 4 MiB over guest-physical 0: two 2 MiB leaves replace the 4 KiB page.
    while (!k.stats.exitsByReason[ExitReason.CPUID]) k.step();
    expect(l[3].mr).toEqual([msgTag(Label.PAGE_FAULT | Rights.X, 2, 0), 0x200000, 0x100]);
    expect(eptLookup(p, root, 0x3abc)).toEqual({ hpa: 0x403abc, perm: 7, large: true });
    expect(eptLookup(p, root, 0x3ff000)).toEqual({ hpa: 0x7ff000, perm: 7, large: true });

    // The VMM's unmap takes the guest's memory back out of the EPT.
    const inval = p.s.invalidations;
    k.run(k.platform.now() + 1_000_000);
    expect(tagLabel(l[4].mr[0])).toBe(vfaultLabel(ExitReason.CPUID));
    expect(l[5].result.op).toBe("unmap");
    expect(eptLookup(p, root, 0x3abc)).toBeNull();
    expect(k.translate(V, 0x3000)).toBeNull();
    expect(p.s.invalidations).toBeGreaterThan(inval);
  });

  it("keeps the ports mapped into a VM space clear in its I/O bitmaps, and sets them again when unmapped", () => {
    const { k, p } = bootTest();
    p.scriptExits(60, { after: 1000, exit: exit(ExitReason.IO_INSTRUCTION, { instructionLength: 2 }) }, { after: 1000, exit: exit(ExitReason.CPUID) });
    const port80 = ioFpage(0x80, 0, Rights.RWX);
    k.spawn(50, {
      privileged: true,
      priority: 200,
      pager: k.sigma0,
      program: script(
        { call: call(k.sigma0), mr: [msgTag(Label.SIGMA0, 2, 0), port80, 0], acceptor: WHOLE },
        { call: wait() },
        { call: replyWait(V), mr: [msgTag(0, 0, 0)] },
        // The I/O exit's reply maps the port into the VM.
        { call: replyWait(V), mr: mapMsg(port80, 0) },
        { call: { op: "unmap", control: unmapControl(1, false) }, mr: [port80] },
      ),
    });
    k.spawn(60, { vm: true, pager: VMM, exceptionHandler: VMM, vcpu: { xferDefault: 0 } });
    const exits = (port: number): boolean => {
      const [a, b] = p.vcpu(60).runs[0].ioBitmaps;
      const byte = new Uint8Array(1);
      p.readBytes((port < 0x8000 ? a : b) + ((port & 0x7fff) >>> 3), byte);
      return ((byte[0] >>> (port & 7)) & 1) === 1;
    };
    while (!k.stats.exitsByReason[ExitReason.IO_INSTRUCTION]) k.step();
    expect([0x80, 0x81, 0x7f, 0x61, 0x8080, 0xffff].map(exits)).toEqual([true, true, true, true, true, true]);
    while (!k.stats.exitsByReason[ExitReason.CPUID]) k.step();
    expect(k.translate(V, 0x80, true)).toEqual({ paddr: 0x80, rights: Rights.RWX });
    expect([0x80, 0x81, 0x7f, 0x8080].map(exits)).toEqual([false, true, true, true]);
    k.run(k.platform.now() + 1_000_000);
    expect(scriptLog(k, VMM)[4].result.op).toBe("unmap");
    expect(exits(0x80)).toBe(true);
  });

  it("carries the registered state on a VCPU's page fault too, and takes state back in its reply", () => {
    const { k, p } = bootTest();
    p.scriptExits(60, { after: 1000, exit: exit(ExitReason.EPT_VIOLATION, { qualification: 2, guestPhysical: 0xfee00000, guestLinear: 0xc0001000 }) });
    k.spawn(50, {
      priority: 200,
      program: script(
        { call: wait() },
        { call: replyWait(V), mr: [msgTag(0, 0, 0)] },
        // MMIO: no mapping, the VMM emulated the store: EIP past it.
        { call: reply(V), mr: [msgTag(0, 2, 0), Xfer.EIP, 0x1006] },
      ),
    });
    k.spawn(60, { vm: true, pager: VMM, exceptionHandler: VMM, ip: 0x1000, vcpu: { xferDefault: 0, xfer: [[ExitReason.EPT_VIOLATION, Xfer.EIP | Xfer.QUAL]] } });
    k.run(1_000_000);
    const pf = scriptLog(k, VMM)[1].mr;
    expect(pf).toEqual([msgTag(Label.PAGE_FAULT | Rights.W, 6, 0), 0xfee00000, 0x1000, Xfer.EIP | Xfer.QUAL, 0x1000, 0xc0001000, 0xfee00000]);
    expect(p.vcpu(60).fields[GuestField.EIP]).toBe(0x1006);
  });

  it("asks for an interrupt-window exit, and a recall kicks a VCPU out of the guest", () => {
    const { k, p } = bootTest();
    p.scriptExits(60, { after: 2000, exit: exit(ExitReason.INTERRUPT_WINDOW) });
    k.spawn(50, {
      priority: 200,
      program: script(
        { call: wait() },
        { call: replyWait(V), mr: [msgTag(0, 2, 0), Xfer.WINDOW, 1] },
        { call: reply(V), mr: [msgTag(0, 0, 0)] },
        { call: { op: "ipc", to: 0, from: VMM, sendTimeout: 0, recvTimeout: 500_000 } },
        { call: { op: "exchangeRegisters", dest: V, control: ExregCtrl.RECALL } },
        { call: wait() },
      ),
    });
    k.spawn(60, { vm: true, pager: VMM, exceptionHandler: VMM, scheduler: VMM, vcpu: { xferDefault: 0 } });
    while (!(scriptLog(k, VMM).length === 1 && k.threadState(VMM) === "blockedRecv")) k.step();
    expect(p.vcpu(60).fields[GuestField.INTR_WINDOW]).toBe(1);
    k.run(2_000_000);
    const l = scriptLog(k, VMM);
    expect(tagLabel(l[1].mr[0])).toBe(vfaultLabel(ExitReason.INTERRUPT_WINDOW));
    // One shot: the kernel cleared the request when the window opened.
    expect(p.vcpu(60).fields[GuestField.INTR_WINDOW]).toBe(0);
    expect(l[4].result).toMatchObject({ op: "exchangeRegisters", result: V, control: 0 });
    expect(tagLabel(l[5].mr[0])).toBe(vfaultLabel(VcpuReason.RECALL));
    // The guest ran (in slices bounded by the VMM's timeout) until the recall.
    expect(p.vcpu(60).runs.length).toBeGreaterThanOrEqual(2);
  });

  it("counts a timeout that takes the VCPU out of the guest as one external-interrupt exit, as hardware takes, and a recall after it as none", () => {
    const { k, p } = bootTest();
    k.spawn(50, {
      priority: 200,
      program: script(
        { call: wait() },
        { call: reply(V), mr: [msgTag(0, 0, 0)] },
        { call: { op: "ipc", to: 0, from: VMM, sendTimeout: 0, recvTimeout: 500_000 } },
        { call: { op: "exchangeRegisters", dest: V, control: ExregCtrl.RECALL } },
        { call: wait() },
      ),
    });
    k.spawn(60, { vm: true, pager: VMM, exceptionHandler: VMM, scheduler: VMM, vcpu: { xferDefault: 0 } });
    k.run(2_000_000);
    expect(tagLabel(scriptLog(k, VMM)[4].mr[0])).toBe(vfaultLabel(VcpuReason.RECALL));
    // The VMM's timeout came while the guest ran: on hardware the kernel's timer interrupt, an exit.
    expect(k.stats.exitsByReason).toEqual({ [ExitReason.EXTERNAL_INTERRUPT]: 1 });
    expect(k.stats.vmExits).toBe(1);
  });

  it("delivers an injection the VCPU has not entered with yet before a recall's message", () => {
    // The handler answers with an event and recalls at once, before the VCPU got the CPU: the
    // recall's exit must come after the entry that delivers the event, or the handler, injecting
    // again in its answer to the recall, would overwrite it.
    const { k, p } = bootTest();
    const inj = 0x80000034;
    k.spawn(50, {
      priority: 200,
      program: script(
        { call: wait() },
        { call: reply(V), mr: [msgTag(0, 4, 0), Xfer.INJ, inj, 0, 0] },
        { call: { op: "exchangeRegisters", dest: V, control: ExregCtrl.RECALL } },
        { call: wait() },
      ),
    });
    k.spawn(60, { vm: true, pager: VMM, exceptionHandler: VMM, scheduler: VMM, vcpu: { xferDefault: 0 } });
    k.run(1_000_000);
    const l = scriptLog(k, VMM);
    expect(tagLabel(l[0].mr[0])).toBe(vfaultLabel(VcpuReason.STARTUP));
    expect(tagLabel(l[3].mr[0])).toBe(vfaultLabel(VcpuReason.RECALL));
    expect(p.vcpu(60).runs.length).toBe(1);
  });
});

/** The smallest VMM: UART output by port I/O, written to the physical UART; HLT parks the guest. */
interface MiniVmmState {
  vcpu: number;
  next: number;
  exits: number[];
}

const MINI_VMM: UserProgram<MiniVmmState> = {
  step(s: MiniVmmState, utcb: Utcb, r: SyscallResult): Syscall {
    const mr = utcb.mr;
    if (r.op === "out") {
      // The byte went out: resume the guest after the instruction.
      mr[0] = msgTag(0, 2, 0);
      mr[1] = Xfer.EIP;
      mr[2] = s.next;
      return replyWait(s.vcpu);
    }
    if (r.op !== "ipc") return wait();
    const reason = tagLabel(r.tag) & 0xff;
    s.exits.push(reason);
    if (reason === ExitReason.IO_INSTRUCTION) {
      const q = decodeIoQualification(mr[VfaultMr.QUALIFICATION]);
      const mask = mr[VfaultMr.MASK];
      s.vcpu = r.from;
      s.next = mr[VfaultMr.STATE + xferIndex(mask, GuestField.EIP)] + mr[VfaultMr.INSTRUCTION_LENGTH];
      const al = mr[VfaultMr.STATE + xferIndex(mask, GuestField.EAX)] & 0xff;
      return { op: "out", port: q.port, size: 1, value: al };
    }
    if (reason === ExitReason.HLT) return wait(); // no reply: the VCPU stays parked
    mr[0] = msgTag(0, 0, 0);
    return replyWait(r.from);
  },
};

describe("one VM exit, end to end (ARCHITECTURE.md)", () => {
  it("an OUT to the UART is a vfault; the VMM writes the byte to the physical UART through a port sigma0 mapped, and steps the guest over it", () => {
    const { k, p } = bootTest({ programs: { vmm: MINI_VMM } });
    const io = (al: number, eip: number, after: number) => ({
      after,
      exit: exit(ExitReason.IO_INSTRUCTION, { qualification: 0x03f80000, instructionLength: 1 }),
      set: [[GuestField.EAX, al], [GuestField.EIP, eip]] as [GuestField, number][],
    });
    p.scriptExits(60, io(0x48, 0x100, 10_000), io(0x69, 0x101, 10_000), { after: 5000, exit: exit(ExitReason.HLT, { instructionLength: 1 }) });
    k.spawn(50, { priority: 200, pager: k.sigma0, program: { name: "vmm", state: { vcpu: 0, next: 0, exits: [] } } });
    k.spawn(60, { vm: true, pager: VMM, exceptionHandler: VMM, vcpu: { xferDefault: 0, xfer: [[ExitReason.IO_INSTRUCTION, Xfer.GPR_ACDB | Xfer.EIP]] } });
    k.run(10_000_000);
    expect(p.s.portLog.filter((e) => e[0] === "out").map((e) => [e[1], e[3]])).toEqual([[0x3f8, 0x48], [0x3f8, 0x69]]);
    expect((k.thread(VMM)!.progState as MiniVmmState).exits).toEqual([VcpuReason.STARTUP, ExitReason.IO_INSTRUCTION, ExitReason.IO_INSTRUCTION, ExitReason.HLT]);
    expect(p.vcpu(60).fields[GuestField.EIP]).toBe(0x102);
    expect(k.stats.ioFaults).toBe(1);
    expect(k.threadState(V)).toBe("blockedRecv");
  });
});
