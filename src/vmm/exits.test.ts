// Each exit handler driven alone with a hand-built exit message, laid out as the kernel sends it
// (the transfer masks the VMM registers), and the reply it answers with checked word by word:
// state written back, EIP advanced, events injected, interrupt windows asked for, map items, and
// what the virtual chips did.

import { describe, expect, it } from "vitest";
import {
  EventType,
  ExitReason,
  VcpuReason,
  GuestField as F,
  Rights,
  Xfer,
  fpage,
  ioFpage,
  injectionInfo,
  type GuestField,
} from "../l4/api.js";
import { crQualification, ioQualification, taskSwitchQualification } from "./testing/hand-exits.js";
import { planGuest } from "./boot.js";
import { ExitCtx, Outcome, Vm } from "./context.js";
import { Hypercall, HYPERCALL_MAGIC, needsClock, runExit } from "./exits.js";
import { decodeReply, parseExit, vfaultMessage, vmFaultMessage, type DecodedReply, type Exit } from "./message.js";
import { guestTsc } from "./msr.js";
import { VCPU_MASKS, vmmState } from "./vmm.js";
import type { VmmState } from "./state.js";
import { nsOfPitTick } from "../devices/pit8254.js";
import { Cr0, Cr4 } from "../x86/paging.js";

const MiB = 1 << 20;
const IF = 0x200;

function maskFor(reason: number): number {
  return VCPU_MASKS.xfer?.find(([r]) => r === reason)?.[1] ?? VCPU_MASKS.xferDefault;
}

function newVm(ramSize = 16 * MiB): { s: VmmState; vm: Vm } {
  const s = vmmState({ ramSize, boot: { kind: "none" }, rtcEpochSeconds: 1_700_000_000 });
  s.status = "running";
  s.vcpuBook.mode = "running";
  return { s, vm: new Vm(s) };
}

type Fields = Partial<Record<GuestField, number>>;

/** A 32-bit flat code segment, interrupts on, no shadow: the usual state of a Linux guest. */
const FLAT: Fields = { [F.CS_ATTR]: 0xc09b, [F.SS_ATTR]: 0xc093, [F.EFLAGS]: 0x2 | IF, [F.CR0]: 0x11 | Cr0.NE, [F.CR4]: Cr4.VMXE };

function vfault(reason: number, fields: Fields, qualification = 0, length = 0): Uint32Array {
  return vfaultMessage(reason, { qualification, length, mask: maskFor(reason), fields: { ...FLAT, ...fields } });
}

/** The bytes the chips have for the physical console. */
function consoleOf(vm: Vm): number[] {
  return [...vm.dev.consoleBytes.subarray(0, vm.dev.consoleLength)];
}

interface Ran {
  outcome: Outcome;
  reply: DecodedReply;
  x: Exit;
  writes: [number, Uint8Array][];
  reads: number;
}

/**
 * Runs the exit's handler as the VMM does: again after each round of guest-memory reads (from
 * `ram`, guest-physical), with the clock `now` when the VMM would have asked for it.
 */
function run(vm: Vm, mr: Uint32Array, opts: { now?: number; ram?: Uint8Array } = {}): Ran {
  const x = parseExit(mr)!;
  const now = needsClock(x, (vm.s.timing?.uartTxNs ?? 0) > 0) ? (opts.now ?? 0) : -1;
  const fetched: [number, Uint8Array][] = [];
  let reads = 0;
  for (;;) {
    const ctx = new ExitCtx();
    const outcome = runExit(vm, x, now, fetched, ctx);
    if (outcome === Outcome.NEED) {
      expect(ctx.mem.missing.length).toBeGreaterThan(0);
      for (const [gpa, len] of ctx.mem.missing) {
        fetched.push([gpa, opts.ram!.slice(gpa, gpa + len)]);
        reads++;
      }
      continue;
    }
    const out = new Uint32Array(64);
    ctx.reply.encode(out, x);
    vm.commit();
    return { outcome, reply: decodeReply(out), x, writes: ctx.mem.writes, reads };
  }
}

/** OUT of `value` (size 1) to `port`. */
function out(vm: Vm, port: number, value: number, fields: Fields = {}): Ran {
  return run(vm, vfault(ExitReason.IO_INSTRUCTION, { [F.EAX]: value, [F.EIP]: 0x1000, ...fields }, ioQualification(port, 1, false), 1));
}

function inb(vm: Vm, port: number, fields: Fields = {}, now = 0): Ran {
  return run(vm, vfault(ExitReason.IO_INSTRUCTION, { [F.EAX]: 0x12345600, [F.EIP]: 0x1000, ...fields }, ioQualification(port, 1, true), 1), { now });
}

/** Linux's 8259A setup: vectors 0x20/0x28, cascade on IRQ2, then the mask. */
function initPic(vm: Vm, masterMask: number): void {
  for (const [p, v] of [[0x20, 0x11], [0x21, 0x20], [0x21, 0x04], [0x21, 0x01], [0xa0, 0x11], [0xa1, 0x28], [0xa1, 0x02], [0xa1, 0x01], [0xa1, 0xff], [0x21, masterMask]]) {
    out(vm, p, v, { [F.EFLAGS]: 0x2 });
  }
}

describe("I/O exits", () => {
  it("sends an OUT to COM1's transmitter to the console and steps over the instruction", () => {
    const { s, vm } = newVm();
    const r = out(vm, 0x3f8, 0x48, { [F.EIP]: 0x1234 });
    expect(r.outcome).toBe(Outcome.REPLY);
    expect(r.reply.mask).toBe(Xfer.EIP | Xfer.RETIRE);
    expect(r.reply.fields[F.RETIRED]).toBe(1);
    expect(r.reply.fields[F.EIP]).toBe(0x1235);
    expect(consoleOf(vm)).toEqual([0x48]);
    expect(s.stats.io[0x3f8]).toEqual([0, 1]);
    expect(s.stats.exits[ExitReason.IO_INSTRUCTION]).toBe(1);
  });

  it("answers an IN from the UART's line status register in AL, keeping EAX's other bytes", () => {
    const { vm } = newVm();
    const r = inb(vm, 0x3fd);
    expect(r.reply.fields[F.EAX]).toBe(0x12345660); // THRE | TEMT
    expect(r.reply.fields[F.EIP]).toBe(0x1001);
    expect(r.reply.mask).toBe(Xfer.GPR_ACDB | Xfer.EIP | Xfer.RETIRE);
  });

  it("reads all ones from a port no chip claims, ignores writes there, and counts both", () => {
    const { s, vm } = newVm();
    expect(inb(vm, 0x2f8).reply.fields[F.EAX]).toBe(0x123456ff);
    const w = run(vm, vfault(ExitReason.IO_INSTRUCTION, { [F.EAX]: 0, [F.EIP]: 0 }, ioQualification(0x300, 2, true), 2));
    expect(w.reply.fields[F.EAX]).toBe(0xffff);
    const d = run(vm, vfault(ExitReason.IO_INSTRUCTION, { [F.EAX]: 0, [F.EIP]: 0 }, ioQualification(0x300, 4, true), 1));
    expect(d.reply.fields[F.EAX]).toBe(0xffffffff);
    out(vm, 0x2f8, 1);
    expect([s.stats.unknownPortReads, s.stats.unknownPortWrites]).toEqual([3, 1]);
  });

  it("maps a passed-through port into the VM at its first access and lets the guest run the instruction again", () => {
    const { s, vm } = newVm();
    s.passable = [0x80]; // sigma0 granted it
    const first = out(vm, 0x80, 0x42, { [F.EIP]: 0x1234 });
    expect(first.outcome).toBe(Outcome.REPLY);
    expect(first.reply.items).toEqual([{ fpage: ioFpage(0x80, 0, Rights.RWX), sndBase: 0 }]);
    expect(first.reply.fields[F.EIP]).toBeUndefined();
    expect([s.passable, s.passed, s.stats.postCode]).toEqual([[], [0x80], -1]);
    // Should the port exit again (say the guest widened its access), the virtual POST port answers it.
    expect(out(vm, 0x80, 0x43).reply.items).toEqual([]);
    expect(s.stats.postCode).toBe(0x43);
  });

  it("routes the debug console port 0xe9 to the console and answers 0xe9 to a probe", () => {
    const { vm } = newVm();
    out(vm, 0xe9, 0x21);
    expect(consoleOf(vm)).toEqual([0x21]);
    expect(inb(vm, 0xe9).reply.fields[F.EAX]! & 0xff).toBe(0xe9);
  });

  it("runs the PIT on guest time: a counter read reflects the clock the VMM read", () => {
    const { vm } = newVm();
    const q = parseExit(vfault(ExitReason.IO_INSTRUCTION, {}, ioQualification(0x40, 1, true), 2))!;
    expect(needsClock(q, false)).toBe(true);
    expect(needsClock(parseExit(vfault(ExitReason.IO_INSTRUCTION, {}, ioQualification(0x3f8, 1, false), 1))!, false)).toBe(false);
    out(vm, 0x43, 0x34); // channel 0, LSB then MSB, mode 2
    out(vm, 0x40, 0xa9);
    out(vm, 0x40, 0x04); // 1193: 1 kHz
    expect(vm.dev.nextEventNs()).toBe(nsOfPitTick(1192));
    // 500 µs later the count is about half the period.
    run(vm, vfault(ExitReason.IO_INSTRUCTION, { [F.EAX]: 0, [F.EIP]: 0 }, ioQualification(0x43, 1, false), 1), { now: 500_000 }); // latch channel 0
    const lo = inb(vm, 0x40, {}, 500_000).reply.fields[F.EAX]! & 0xff;
    const hi = inb(vm, 0x40, {}, 500_000).reply.fields[F.EAX]! & 0xff;
    const count = lo | (hi << 8);
    expect(count).toBeGreaterThan(590);
    expect(count).toBeLessThan(600);
  });

  it("answers from each virtual chip as the bare machine's would: port B's OUT2, the RTC, PCI's host bridge, the 8042", () => {
    const { vm } = newVm();
    const io = (port: number, size: 1 | 2 | 4, input: boolean, value: number, now = 0) =>
      run(vm, vfault(ExitReason.IO_INSTRUCTION, { [F.EAX]: value, [F.EIP]: 0 }, ioQualification(port, size, input), 1), { now }).reply.fields[F.EAX];
    // Channel 2 gated by port B, mode 0, 100 ticks: OUT2 (port B bit 5) rises at terminal count.
    io(0x61, 1, false, 0x01);
    io(0x43, 1, false, 0xb0);
    io(0x42, 1, false, 100);
    io(0x42, 1, false, 0);
    expect(io(0x61, 1, true, 0, nsOfPitTick(50))! & 0x20).toBe(0);
    expect(io(0x61, 1, true, 0, nsOfPitTick(100))! & 0x20).toBe(0x20);
    // The RTC's seconds: 1_700_000_000 is 2023-11-14 22:13:20 UTC, in BCD.
    io(0x70, 1, false, 0x00);
    expect(io(0x71, 1, true, 0, 0)! & 0xff).toBe(0x20);
    io(0x70, 1, false, 0x09);
    expect(io(0x71, 1, true, 0, 0)! & 0xff).toBe(0x23);
    // PCI configuration mechanism #1: 00:00.0 is the 440FX.
    io(0xcf8, 4, false, 0x80000000);
    expect(io(0xcfc, 4, true, 0)).toBe(0x12378086);
    // The 8042's self-test answers 0x55.
    io(0x64, 1, false, 0xaa);
    expect(io(0x60, 1, true, 0)! & 0xff).toBe(0x55);
  });

  it("moves a REP OUTSB string to the console in one exit and updates ESI and ECX", () => {
    const { s, vm } = newVm();
    const ram = new Uint8Array(16 * MiB);
    ram.set([0xf3, 0x6e], 0x7000); // rep outsb
    ram.set(new TextEncoder().encode("hello"), 0x8000);
    const r = run(
      vm,
      vfault(
        ExitReason.IO_INSTRUCTION,
        { [F.EIP]: 0x7000, [F.CS_BASE]: 0, [F.ECX]: 5, [F.ESI]: 0x8000, [F.EDX]: 0x3f8, [F.GUEST_LINEAR]: 0x8000 },
        ioQualification(0x3f8, 1, false, true, true),
        2,
      ),
      { ram },
    );
    expect(String.fromCharCode(...consoleOf(vm))).toBe("hello");
    expect([r.reply.fields[F.ECX], r.reply.fields[F.ESI], r.reply.fields[F.EIP]]).toEqual([0, 0x8005, 0x7002]);
    expect(r.reply.fields[F.RETIRED]).toBe(5); // each element, as each iteration on the CPU
    expect(r.reads).toBeGreaterThanOrEqual(2); // the instruction, then the string
    expect([s.stats.stringIo, s.stats.stringElements]).toEqual([1, 5]);
  });

  it("writes a REP INSW through the guest's page tables into guest RAM, a chunk per exit", () => {
    const { vm } = newVm();
    const ram = new Uint8Array(16 * MiB);
    const dv = new DataView(ram.buffer);
    // 2-level paging: linear 0xc0000000 + x maps to physical 0x100000 + x; the code at 0x1000 is identity-mapped.
    dv.setUint32(0x20000 + (0xc00 >> 0) * 1, 0x21000 | 1, true); // PDE for 0xc0000000 (index 0x300 * 4 = 0xc00)
    dv.setUint32(0x20000, 0x22000 | 1, true); // PDE 0
    dv.setUint32(0x22000 + 1 * 4, 0x1000 | 1, true); // linear 0x1000 -> 0x1000
    for (let i = 0; i < 4; i++) dv.setUint32(0x21000 + i * 4, (0x100000 + i * 0x1000) | 1, true);
    ram.set([0x66, 0xf3, 0x6d], 0x1000); // rep insw with a 66 prefix in 32-bit code: words
    const n = 3000; // REP_CHUNK (1024) words per exit
    const r = run(
      vm,
      vfault(
        ExitReason.IO_INSTRUCTION,
        { [F.EIP]: 0x1000, [F.ECX]: n, [F.EDI]: 0xc0000ffe, [F.GUEST_LINEAR]: 0xc0000ffe, [F.CR0]: 0x80000011 | Cr0.NE, [F.CR3]: 0x20000 },
        ioQualification(0x300, 2, true, true, true),
        3,
      ),
      { ram },
    );
    // 1024 words this time, across a page boundary; EIP stays on the REP, its 1024 iterations retired.
    expect(r.reply.fields[F.ECX]).toBe(n - 1024);
    expect(r.reply.fields[F.EDI]).toBe(0xc0000ffe + 2048);
    expect(r.reply.fields[F.EIP]).toBeUndefined();
    expect(r.reply.fields[F.RETIRED]).toBe(1024);
    const total = r.writes.reduce((k, [, b]) => k + b.length, 0);
    expect(total).toBe(2048);
    expect(r.writes[0][0]).toBe(0x100ffe);
    expect(r.writes[1][0]).toBe(0x101000);
    expect(r.writes.every(([, b]) => b.every((v) => v === 0xff))).toBe(true);
  });

  it("raises #PF for a string operand the guest's tables do not map", () => {
    const { vm } = newVm();
    const ram = new Uint8Array(16 * MiB);
    new DataView(ram.buffer).setUint32(0x20000, 0x22000 | 1, true);
    new DataView(ram.buffer).setUint32(0x22000 + 4, 0x1000 | 1, true);
    ram.set([0x6e], 0x1000); // outsb
    const r = run(
      vm,
      vfault(ExitReason.IO_INSTRUCTION, { [F.EIP]: 0x1000, [F.ESI]: 0x5000, [F.GUEST_LINEAR]: 0x5000, [F.CR0]: 0x80000011 | Cr0.NE, [F.CR3]: 0x20000 }, ioQualification(0x3f8, 1, false, true), 1),
      { ram },
    );
    expect(r.reply.fields[F.ENTRY_INTR_INFO]).toBe(injectionInfo(14, EventType.HARDWARE_EXCEPTION, true));
    expect(r.reply.fields[F.CR2]).toBe(0x5000);
    expect(r.reply.fields[F.EIP]).toBeUndefined();
    expect(r.reply.fields[F.RETIRED]).toBeUndefined();
  });

  it("moves the elements before a page that is not there, then raises #PF for it, as the CPU does", () => {
    const { s, vm } = newVm();
    const ram = new Uint8Array(16 * MiB);
    const dv = new DataView(ram.buffer);
    dv.setUint32(0x20000, 0x22000 | 1, true);
    dv.setUint32(0x22000 + 4, 0x1000 | 1, true); // the code
    dv.setUint32(0x22000 + 5 * 4, 0x5000 | 1, true); // linear 0x5000 present, 0x6000 not, 0x4000 not
    ram.set([0xf3, 0x6e], 0x1000); // rep outsb
    ram.set([0x61, 0x62, 0x63, 0x64], 0x5ffc);
    const paging = { [F.CR0]: 0x80000011 | Cr0.NE, [F.CR3]: 0x20000 };
    const up = run(vm, vfault(ExitReason.IO_INSTRUCTION, { [F.EIP]: 0x1000, [F.ECX]: 5, [F.ESI]: 0x5ffd, [F.GUEST_LINEAR]: 0x5ffd, ...paging }, ioQualification(0x3f8, 1, false, true, true), 2), { ram });
    expect(consoleOf(vm)).toEqual([0x62, 0x63, 0x64]);
    expect([up.reply.fields[F.ESI], up.reply.fields[F.ECX], up.reply.fields[F.CR2]]).toEqual([0x6000, 2, 0x6000]);
    expect(up.reply.fields[F.ENTRY_INTR_INFO]).toBe(injectionInfo(14, EventType.HARDWARE_EXCEPTION, true));
    // The three elements before the fault retired, the faulting one did not.
    expect([up.reply.fields[F.EIP], up.reply.fields[F.RETIRED]]).toEqual([undefined, 3]);
    // Downwards, words: the first fits, the second straddles into the absent page below (CR2 its first byte).
    const down = run(vm, vfault(ExitReason.IO_INSTRUCTION, { [F.EIP]: 0x1000, [F.ECX]: 3, [F.EDI]: 0x5001, [F.GUEST_LINEAR]: 0x5001, [F.EFLAGS]: 0x2 | 0x400, ...paging }, ioQualification(0x300, 2, true, true, true), 3), { ram });
    expect([down.reply.fields[F.EDI], down.reply.fields[F.ECX], down.reply.fields[F.CR2]]).toEqual([0x4fff, 2, 0x4fff]);
    expect(down.reply.fields[F.ENTRY_ERROR_CODE]).toBe(2);
    expect(down.writes).toEqual([[0x5001, new Uint8Array([0xff, 0xff])]]);
    expect(s.stats.stringElements).toBe(4);
  });
});

describe("task switches", () => {
  /** RAM with a GDT at 0x1000 (08 flat code, 10 flat data, 18 the old TSS at 0x2000, busy, 20 a new one at 0x3000) and the new TSS. */
  function tasks(newEflags = 0x2): Uint8Array {
    const ram = new Uint8Array(16 * MiB);
    const dv = new DataView(ram.buffer);
    const d = (at: number, lo: number, hi: number) => { dv.setUint32(0x1000 + at, lo, true); dv.setUint32(0x1000 + at + 4, hi, true); };
    d(0x08, 0x0000ffff, 0x00cf9b00);
    d(0x10, 0x0000ffff, 0x00cf9300);
    d(0x18, 0x20000067, 0x00008b00);
    d(0x20, 0x30000067, 0x00008900);
    const t = 0x3000;
    dv.setUint32(t + 0x20, 0x5000, true); // EIP
    dv.setUint32(t + 0x24, newEflags, true);
    for (let r = 0; r < 8; r++) dv.setUint32(t + 0x28 + 4 * r, r === 4 ? 0x7000 : 0x11111111 * (r + 1), true);
    for (const [s, sel] of [[0, 0x10], [1, 0x08], [2, 0x10], [3, 0x10], [4, 0], [5, 0]]) dv.setUint16(t + 0x48 + 4 * s, sel, true);
    return ram;
  }
  const state: Fields = {
    [F.EIP]: 0x100, [F.EFLAGS]: 0x46, [F.EAX]: 0xaaaa0001, [F.ESP]: 0x9000,
    [F.CS_SEL]: 0x08, [F.CS_LIMIT]: 0xffffffff, [F.CS_ATTR]: 0xc09b, [F.SS_SEL]: 0x10, [F.SS_LIMIT]: 0xffffffff, [F.SS_ATTR]: 0xc093,
    [F.DS_SEL]: 0x10, [F.DS_ATTR]: 0xc093, [F.ES_SEL]: 0x10, [F.ES_ATTR]: 0xc093, [F.FS_ATTR]: 0x10000, [F.GS_ATTR]: 0x10000,
    [F.TR_SEL]: 0x18, [F.TR_BASE]: 0x2000, [F.TR_LIMIT]: 0x67, [F.TR_ATTR]: 0x8b, [F.LDTR_ATTR]: 0x10000,
    [F.GDTR_BASE]: 0x1000, [F.GDTR_LIMIT]: 0x27, [F.DR7]: 0x455, [F.DR6]: 0xffff0ff0,
  };
  const written = (r: { writes: [number, Uint8Array][] }, at: number): number[] => {
    const w = r.writes.find(([a]) => a === at);
    return w ? Array.from(w[1]) : [];
  };

  it("does a CALL's switch as the CPU would: the old task saved, busy bits, back link and NT, the new task loaded", () => {
    const { vm } = newVm();
    const ram = tasks();
    const r = run(vm, vfault(ExitReason.TASK_SWITCH, state, taskSwitchQualification(0x20, 0), 7), { ram });
    const f = r.reply.fields;
    expect([f[F.EIP], f[F.EAX], f[F.ESP], f[F.EFLAGS]! & 0x4000, f[F.CR0]! & 8, f[F.RETIRED]]).toEqual([0x5000, 0x11111111, 0x7000, 0x4000, 8, 1]);
    expect([f[F.TR_SEL], f[F.TR_BASE], f[F.TR_ATTR], f[F.CS_SEL], f[F.CS_ATTR], f[F.SS_ATTR], f[F.FS_ATTR]]).toEqual([0x20, 0x3000, 0x8b, 0x08, 0xc09b, 0xc093, 0x10000]);
    expect(f[F.DR7]).toBe(0x400); // the local enables cleared
    expect(f[F.ENTRY_INTR_INFO]).toBe(0);
    expect(written(r, 0x2020)).toEqual([0x07, 0x01, 0, 0]); // the old task's EIP: past the CALL
    expect(written(r, 0x2028)).toEqual([0x01, 0x00, 0xaa, 0xaa]); // its EAX
    expect(written(r, 0x3000)).toEqual([0x18, 0]); // the back link
    expect(written(r, 0x1025)).toEqual([0x8b]); // the new TSS busy; the old one stays busy (CALL)
    expect(written(r, 0x101d)).toEqual([]);
  });

  it("raises a fault after the commit point in the new task, and does not retire the instruction", () => {
    const { vm } = newVm();
    const ram = tasks();
    new DataView(ram.buffer).setUint16(0x3000 + 0x48 + 4 * 3, 0x38, true); // DS beyond the GDT
    const r = run(vm, vfault(ExitReason.TASK_SWITCH, state, taskSwitchQualification(0x20, 2), 7), { ram });
    const f = r.reply.fields;
    expect(f[F.ENTRY_INTR_INFO]).toBe(injectionInfo(10, EventType.HARDWARE_EXCEPTION, true));
    expect(f[F.ENTRY_ERROR_CODE]).toBe(0x38);
    expect([f[F.EIP], f[F.TR_SEL], f[F.DS_SEL], f[F.DS_ATTR], f[F.RETIRED]]).toEqual([0x5000, 0x20, 0x38, 0x10000, undefined]);
    expect(written(r, 0x101d)).toEqual([0x89]); // JMP: the old TSS is not busy any more
  });

  it("delivers an exception through an IDT task gate by the switch, its error code on the new task's stack", () => {
    const { vm } = newVm();
    const ram = tasks();
    const gp = injectionInfo(13, EventType.HARDWARE_EXCEPTION, true);
    const r = run(vm, vfault(ExitReason.TASK_SWITCH, { ...state, [F.IDT_VECTORING_INFO]: gp, [F.IDT_VECTORING_ERROR]: 0x50 }, taskSwitchQualification(0x20, 3), 0), { ram });
    const f = r.reply.fields;
    expect([f[F.ENTRY_INTR_INFO], f[F.ESP], f[F.RETIRED]]).toEqual([0, 0x7000 - 4, undefined]);
    expect(written(r, 0x7000 - 4)).toEqual([0x50, 0, 0, 0]);
    expect(written(r, 0x2020)).toEqual([0x00, 0x01, 0, 0]); // the old task resumes at the faulting instruction
  });
});

describe("interrupts into the guest", () => {
  it("injects IRQ4 when the UART's THR empties and the guest takes interrupts", () => {
    const { s, vm } = newVm();
    initPic(vm, 0xef); // only IRQ4
    out(vm, 0x3fc, 0x08, { [F.EFLAGS]: 0x2 }); // MCR: OUT2 gates the interrupt onto the bus
    const r = out(vm, 0x3f9, 0x02); // IER: THR empty
    expect(r.reply.fields[F.ENTRY_INTR_INFO]).toBe(injectionInfo(0x24, EventType.EXTERNAL));
    expect(r.reply.fields[F.EIP]).toBe(0x1001);
    expect(s.stats.injections[0x24]).toBe(1);
  });

  it("asks for an interrupt window when the guest has interrupts off, and injects on that exit", () => {
    const { s, vm } = newVm();
    initPic(vm, 0xef);
    out(vm, 0x3fc, 0x08, { [F.EFLAGS]: 0x2 });
    const r = out(vm, 0x3f9, 0x02, { [F.EFLAGS]: 0x2 });
    expect(r.reply.fields[F.ENTRY_INTR_INFO]).toBeUndefined();
    expect(r.reply.fields[F.INTR_WINDOW]).toBe(1);
    const w = run(vm, vfault(ExitReason.INTERRUPT_WINDOW, { [F.EIP]: 0x2000 }));
    expect(w.reply.fields[F.ENTRY_INTR_INFO]).toBe(injectionInfo(0x24, EventType.EXTERNAL));
    expect(w.reply.fields[F.EIP]).toBeUndefined(); // nothing else written
    expect(s.stats.windows).toBe(1);
  });

  it("respects the STI shadow on the exiting instruction's boundary, but not after stepping over it", () => {
    const { vm } = newVm();
    initPic(vm, 0xef);
    out(vm, 0x3fc, 0x08, { [F.EFLAGS]: 0x2 });
    // An OUT right after STI: once the OUT is done, the shadow is over.
    const r = out(vm, 0x3f9, 0x02, { [F.INTERRUPTIBILITY]: 1 });
    expect(r.reply.fields[F.INTERRUPTIBILITY]).toBe(0);
    expect(r.reply.fields[F.ENTRY_INTR_INFO]).toBe(injectionInfo(0x24, EventType.EXTERNAL));
    // A window exit inside a MOV SS shadow: still blocked.
    out(vm, 0x3f9, 0x00, { [F.EFLAGS]: 0x2 });
    out(vm, 0x20, 0x20, { [F.EFLAGS]: 0x2 }); // EOI
    out(vm, 0x3f9, 0x02, { [F.EFLAGS]: 0x2 });
    const w = run(vm, vfault(ExitReason.INTERRUPT_WINDOW, { [F.INTERRUPTIBILITY]: 2 }));
    expect(w.reply.fields[F.ENTRY_INTR_INFO]).toBeUndefined();
    expect(w.reply.fields[F.INTR_WINDOW]).toBe(1);
  });

  it("re-injects an event whose delivery an exit interrupted, before any new interrupt", () => {
    const { s, vm } = newVm();
    const vectoring = injectionInfo(14, EventType.HARDWARE_EXCEPTION, true);
    const r = run(vm, vmFaultMessage(0x5000, Rights.W, 0x1000, { mask: maskFor(ExitReason.EPT_VIOLATION), fields: { ...FLAT, [F.IDT_VECTORING_INFO]: vectoring, [F.IDT_VECTORING_ERROR]: 2 } }));
    expect(r.reply.fields[F.ENTRY_INTR_INFO]).toBe(vectoring);
    expect(r.reply.fields[F.ENTRY_ERROR_CODE]).toBe(2);
    expect(r.reply.items).toHaveLength(1);
    expect(s.stats.reinjections).toBe(1);
  });

  it("delivers again an INT n whose delivery an EPT violation interrupted, past its instruction, which retires", () => {
    const { vm } = newVm();
    const ram = new Uint8Array(16 * MiB);
    ram.set([0xcd, 0x80], 0x1000); // int 0x80 (the VM page fault brings no instruction length)
    const vectoring = injectionInfo(0x80, EventType.SOFTWARE_INTERRUPT);
    const r = run(vm, vmFaultMessage(0x5000, Rights.W, 0x1000, { mask: maskFor(ExitReason.EPT_VIOLATION), fields: { ...FLAT, [F.IDT_VECTORING_INFO]: vectoring } }), { ram });
    expect([r.reply.fields[F.ENTRY_INTR_INFO], r.reply.fields[F.ENTRY_INSTR_LEN], r.reply.fields[F.RETIRED]]).toEqual([vectoring, 2, 1]);
    expect(r.reply.items).toHaveLength(1);
  });

  it("reflects an exception the exception bitmap caught, with CR2 for a page fault", () => {
    const { vm } = newVm();
    const info = injectionInfo(14, EventType.HARDWARE_EXCEPTION, true);
    const r = run(vm, vfault(ExitReason.EXCEPTION_NMI, { [F.EXIT_INTR_INFO]: info, [F.EXIT_INTR_ERROR]: 6, [F.EIP]: 0x3000 }, 0xdead0000));
    expect(r.reply.fields[F.ENTRY_INTR_INFO]).toBe(info);
    expect(r.reply.fields[F.ENTRY_ERROR_CODE]).toBe(6);
    expect(r.reply.fields[F.CR2]).toBe(0xdead0000);
    expect(r.reply.fields[F.EIP]).toBeUndefined();
  });
});

describe("HLT", () => {
  it("retires the HLT and parks the guest in the HLT state when nothing is pending; the RECALL exit after a tick injects", () => {
    const { s, vm } = newVm();
    initPic(vm, 0xfe); // only IRQ0
    out(vm, 0x43, 0x34, { [F.EFLAGS]: 0x2 });
    out(vm, 0x40, 0xa9, { [F.EFLAGS]: 0x2 });
    out(vm, 0x40, 0x04, { [F.EFLAGS]: 0x2 });
    // Programming mode 2 raised OUT0: that edge is IRQ0 already; take it and EOI it.
    expect(vm.dev.hasInterrupt()).toBe(true);
    vm.dev.acknowledge();
    out(vm, 0x20, 0x20, { [F.EFLAGS]: 0x2 });
    const h = run(vm, vfault(ExitReason.HLT, { [F.EIP]: 0x4000 }, 0, 1));
    expect(h.outcome).toBe(Outcome.PARK);
    expect(s.vcpuBook.mode).toBe("parked");
    expect([h.reply.fields[F.EIP], h.reply.fields[F.ACTIVITY], h.reply.fields[F.RETIRED]]).toEqual([0x4001, 1, 1]);
    expect(h.reply.fields[F.ENTRY_INTR_INFO]).toBeUndefined();
    vm.dev.advanceTo(vm.dev.nextEventNs()); // the falling edge
    vm.dev.advanceTo(vm.dev.nextEventNs()); // the rising edge: IRQ0
    // The VMM resumes and recalls the VCPU (vmm.ts); the reply to its RECALL exit injects.
    const r = run(vm, vfault(VcpuReason.RECALL, { [F.EIP]: 0x4001, [F.ACTIVITY]: 1 }));
    expect(r.reply.fields[F.ENTRY_INTR_INFO]).toBe(injectionInfo(0x20, EventType.EXTERNAL));
    expect(r.reply.fields[F.RETIRED]).toBeUndefined();
  });

  it("answers at once, injecting, when an interrupt is already pending", () => {
    const { vm } = newVm();
    initPic(vm, 0xef);
    out(vm, 0x3fc, 0x08, { [F.EFLAGS]: 0x2 });
    out(vm, 0x3f9, 0x02, { [F.EFLAGS]: 0x2 });
    const h = run(vm, vfault(ExitReason.HLT, { [F.EIP]: 0x4000 }, 0, 1));
    expect(h.outcome).toBe(Outcome.REPLY);
    expect([h.reply.fields[F.EIP], h.reply.fields[F.RETIRED]]).toEqual([0x4001, 1]);
    expect(h.reply.fields[F.ENTRY_INTR_INFO]).toBe(injectionInfo(0x24, EventType.EXTERNAL));
  });

  it("reports a halt with interrupts off as the guest's end, the HLT retired and the guest left halted", () => {
    const { s, vm } = newVm();
    const h = run(vm, vfault(ExitReason.HLT, { [F.EIP]: 0x4000, [F.EFLAGS]: 0x2 }, 0, 1));
    expect(h.outcome).toBe(Outcome.PARK);
    expect([h.reply.fields[F.EIP], h.reply.fields[F.ACTIVITY], h.reply.fields[F.RETIRED]]).toEqual([0x4001, 1, 1]);
    expect([s.status, s.reason, s.vcpuBook.mode]).toEqual(["halted", "the guest halted with interrupts off", "halted"]);
  });
});

describe("CPUID, MSRs, TSC", () => {
  it("answers CPUID with the i686 model: GenuineIntel, family 6, no VMX", () => {
    const { vm } = newVm();
    const v = run(vm, vfault(ExitReason.CPUID, { [F.EAX]: 0, [F.EIP]: 0x100 }, 0, 2));
    const str = (...w: number[]) => String.fromCharCode(...w.flatMap((x) => [x & 0xff, (x >>> 8) & 0xff, (x >>> 16) & 0xff, x >>> 24]));
    expect(str(v.reply.fields[F.EBX]!, v.reply.fields[F.EDX]!, v.reply.fields[F.ECX]!)).toBe("GenuineIntel");
    expect(v.reply.fields[F.EIP]).toBe(0x102);
    const f = run(vm, vfault(ExitReason.CPUID, { [F.EAX]: 1 }, 0, 2)).reply.fields;
    expect(f[F.EAX]).toBe(0x652);
    expect(f[F.ECX]! & (1 << 5)).toBe(0); // VMX hidden
    expect(f[F.EDX]! & (1 << 6)).toBe(1 << 6); // PAE
    expect(f[F.EDX]! & (1 << 9)).toBe(0); // no APIC
    const b = run(vm, vfault(ExitReason.CPUID, { [F.EAX]: 0x80000002 }, 0, 2)).reply.fields;
    expect(str(b[F.EAX]!)).toBe("Afte");
  });

  it("keeps SYSENTER_* and EFER in the VMCS's guest fields and the rest in the VMM", () => {
    const { s, vm } = newVm();
    const w = run(vm, vfault(ExitReason.WRMSR, { [F.ECX]: 0x174, [F.EAX]: 0x60, [F.EIP]: 0x10 }, 0, 2));
    expect(w.reply.fields[F.SYSENTER_CS]).toBe(0x60);
    expect(w.reply.fields[F.EIP]).toBe(0x12);
    const r = run(vm, vfault(ExitReason.RDMSR, { [F.ECX]: 0x176, [F.SYSENTER_EIP]: 0xc0101234, [F.EDX]: 7 }, 0, 2));
    expect([r.reply.fields[F.EAX], r.reply.fields[F.EDX]]).toEqual([0xc0101234, 0]);
    const nx = run(vm, vfault(ExitReason.WRMSR, { [F.ECX]: 0xc0000080, [F.EAX]: 0x800 }, 0, 2));
    expect(nx.reply.fields[F.EFER]).toBe(0x800);
    run(vm, vfault(ExitReason.WRMSR, { [F.ECX]: 0x277, [F.EAX]: 0x00010406, [F.EDX]: 0x00070406 }, 0, 2));
    expect(s.vcpuBook.patLo).toBe(0x00010406);
    const pat = run(vm, vfault(ExitReason.RDMSR, { [F.ECX]: 0x277 }, 0, 2)).reply.fields;
    expect([pat[F.EAX], pat[F.EDX]]).toEqual([0x00010406, 0x00070406]);
    expect(run(vm, vfault(ExitReason.RDMSR, { [F.ECX]: 0x1a0 }, 0, 2)).reply.fields[F.EAX]).toBe(1);
    expect(run(vm, vfault(ExitReason.RDMSR, { [F.ECX]: 0x17, [F.EAX]: 5, [F.EDX]: 5 }, 0, 2)).reply.fields[F.EDX]).toBe(0);
    expect(s.stats.msrs[0x174]).toEqual([0, 1]);
  });

  it("raises #GP for an unknown MSR, an EFER bit this CPU lacks and a bad PAT type, without stepping", () => {
    const { s, vm } = newVm();
    const gp = injectionInfo(13, EventType.HARDWARE_EXCEPTION, true);
    for (const mr of [
      vfault(ExitReason.RDMSR, { [F.ECX]: 0x1b, [F.EIP]: 0x10 }, 0, 2), // APIC_BASE: no APIC
      vfault(ExitReason.WRMSR, { [F.ECX]: 0xc0000080, [F.EAX]: 0x100, [F.EIP]: 0x10 }, 0, 2), // LME
      vfault(ExitReason.WRMSR, { [F.ECX]: 0x277, [F.EAX]: 0x02, [F.EIP]: 0x10 }, 0, 2),
    ]) {
      const r = run(vm, mr);
      expect(r.reply.fields[F.ENTRY_INTR_INFO]).toBe(gp);
      expect(r.reply.fields[F.ENTRY_ERROR_CODE]).toBe(0);
      expect(r.reply.fields[F.EIP]).toBeUndefined();
    }
    expect(s.stats.unknownMsrs).toBe(1);
    expect(s.stats.exceptions[13]).toBe(3);
  });

  it("raises #GP without an error code in real mode, where VM entry delivers none", () => {
    const { vm } = newVm();
    const r = run(vm, vfault(ExitReason.RDMSR, { [F.ECX]: 0x1b, [F.EIP]: 0x10, [F.CR0]: 0x10 | Cr0.NE }, 0, 2));
    expect(r.reply.fields[F.ENTRY_INTR_INFO]).toBe(injectionInfo(13, EventType.HARDWARE_EXCEPTION, false));
    expect(r.reply.fields[F.EIP]).toBeUndefined();
  });

  it("reads the TSC from guest time, and a TSC write becomes an offset that RDTSC also sees", () => {
    const { s, vm } = newVm();
    // A 1 GHz TSC: one tick per ns of guest time.
    const t = run(vm, vfault(ExitReason.RDMSR, { [F.ECX]: 0x10 }, 0, 2), { now: 5_000_000_000 }).reply.fields;
    expect([t[F.EAX], t[F.EDX]]).toEqual([5_000_000_000 - 2 ** 32, 1]);
    const w = run(vm, vfault(ExitReason.WRMSR, { [F.ECX]: 0x10, [F.EAX]: 0, [F.EDX]: 1 }, 0, 2), { now: 1_000 });
    expect(s.vcpuBook.tscOffset).toBe(2 ** 32 - 1_000);
    expect(w.reply.fields[F.TSC_OFFSET_LO]).toBe(2 ** 32 - 1_000);
    expect(w.reply.fields[F.PROC_CTLS]! & (1 << 3)).toBe(1 << 3); // TSC offsetting on
    const r = run(vm, vfault(ExitReason.RDTSC, { [F.EIP]: 0x20 }, 0, 2), { now: 2_000 }).reply.fields;
    expect([r[F.EAX], r[F.EDX], r[F.EIP]]).toEqual([1_000, 1, 0x22]);
    expect(guestTsc(2_000, 1_000_000_000, s.vcpuBook.tscOffset)).toBe(2n ** 32n + 1_000n);
  });
});

describe("control registers", () => {
  it("keeps CR0.NE set underneath while the shadow shows what the guest wrote", () => {
    const { s, vm } = newVm();
    s.vcpuBook.cr0Shadow = 0x11;
    const r = run(vm, vfault(ExitReason.CR_ACCESS, { [F.EAX]: 0x80050033, [F.CR0]: 0x31, [F.CR3]: 0x9000, [F.EIP]: 0x50 }, crQualification(0, 0, 0), 3));
    expect(r.reply.fields[F.CR0]).toBe(0x80050033);
    expect(r.reply.fields[F.CR0_SHADOW]).toBe(0x80050033);
    expect(r.reply.fields[F.CR0_MASK]).toBe(Cr0.NE);
    expect(r.reply.fields[F.EIP]).toBe(0x53);
    // The guest clears NE: the real CR0 keeps it, the shadow does not.
    const c = run(vm, vfault(ExitReason.CR_ACCESS, { [F.EBX]: 0x80050013, [F.CR0]: 0x80050033 }, crQualification(0, 0, 3), 3));
    expect(c.reply.fields[F.CR0]).toBe(0x80050033);
    expect(s.vcpuBook.cr0Shadow).toBe(0x80050013);
  });

  it("hides CR4.VMXE: setting it is #GP, and other writes keep it set underneath", () => {
    const { s, vm } = newVm();
    const gp = run(vm, vfault(ExitReason.CR_ACCESS, { [F.EAX]: Cr4.VMXE }, crQualification(4, 0, 0), 3));
    expect(gp.reply.fields[F.ENTRY_INTR_INFO]).toBe(injectionInfo(13, EventType.HARDWARE_EXCEPTION, true));
    const ok = run(vm, vfault(ExitReason.CR_ACCESS, { [F.ECX]: Cr4.PSE }, crQualification(4, 0, 1), 3));
    expect(ok.reply.fields[F.CR4]).toBe(Cr4.PSE | Cr4.VMXE);
    expect(ok.reply.fields[F.CR4_SHADOW]).toBe(Cr4.PSE);
    expect(s.vcpuBook.cr4Shadow).toBe(Cr4.PSE);
  });

  it("loads the PDPTEs from guest memory when a write turns on PAE paging", () => {
    const { vm } = newVm();
    const ram = new Uint8Array(16 * MiB);
    const dv = new DataView(ram.buffer);
    for (let i = 0; i < 4; i++) dv.setUint32(0x30000 + i * 8, (0x31000 + i * 0x1000) | 1, true);
    const r = run(
      vm,
      vfault(ExitReason.CR_ACCESS, { [F.EAX]: 0x80000011 | Cr0.NE, [F.CR0]: 0x11 | Cr0.NE, [F.CR3]: 0x30000, [F.CR4]: Cr4.PAE | Cr4.VMXE }, crQualification(0, 0, 0), 3),
      { ram },
    );
    expect(r.reads).toBe(1);
    expect([F.PDPTE0_LO, F.PDPTE1_LO, F.PDPTE2_LO, F.PDPTE3_LO].map((f) => r.reply.fields[f])).toEqual([0x31001, 0x32001, 0x33001, 0x34001]);
    expect(r.reply.fields[F.PDPTE0_HI]).toBe(0);
  });

  it("emulates MOV from CR3, CLTS and LMSW when they exit", () => {
    const { s, vm } = newVm();
    const m = run(vm, vfault(ExitReason.CR_ACCESS, { [F.CR3]: 0x1234000 }, crQualification(3, 1, 6), 3));
    expect(m.reply.fields[F.ESI]).toBe(0x1234000);
    s.vcpuBook.cr0Shadow = 0x1b;
    const clts = run(vm, vfault(ExitReason.CR_ACCESS, { [F.CR0]: 0x3b }, crQualification(0, 2), 2));
    expect(clts.reply.fields[F.CR0]).toBe(0x33);
    expect(s.vcpuBook.cr0Shadow).toBe(0x13);
    const lmsw = run(vm, vfault(ExitReason.CR_ACCESS, { [F.CR0]: 0x33 }, crQualification(0, 3, 0, false, 0x0e), 3));
    expect(lmsw.reply.fields[F.CR0]).toBe(0x3f); // PE cannot be cleared, MP EM TS set
  });
});

describe("guest memory: EPT violations", () => {
  it("maps guest RAM from the VMM's window in 4 MiB granules, and the guest retries the access", () => {
    const { s, vm } = newVm(64 * MiB);
    const r = run(vm, vmFaultMessage(0x1234567, Rights.R, 0xc0100000, { mask: maskFor(ExitReason.EPT_VIOLATION), fields: FLAT }));
    expect(r.outcome).toBe(Outcome.REPLY);
    expect(r.reply.items).toEqual([{ fpage: fpage(s.ramWindow + 0x1000000, 22, Rights.RWX), sndBase: 0x1000000 }]);
    expect(r.reply.fields[F.EIP]).toBeUndefined();
    expect(s.stats.ramMaps).toBe(1);
  });

  it("maps smaller pieces at the end of a RAM size that is not a multiple of 4 MiB", () => {
    const { s, vm } = newVm(6 * MiB);
    const r = run(vm, vmFaultMessage(0x500000, Rights.W, 0, {}));
    expect(r.reply.items).toEqual([{ fpage: fpage(s.ramWindow + 0x400000, 21, Rights.RWX), sndBase: 0x400000 }]);
  });

  it("emulates an MMIO load outside RAM as unassigned space: all ones, EIP past the decoded instruction", () => {
    const { s, vm } = newVm();
    const ram = new Uint8Array(16 * MiB);
    ram.set([0x8b, 0x15, 0x20, 0x00, 0xe0, 0xfe], 0x2000); // mov edx, [0xfee00020]
    ram.set([0x66, 0x89, 0x08], 0x2010); // mov [eax], cx
    ram.set([0x0f, 0xb6, 0x38], 0x2020); // movzx edi, byte [eax]
    const em = maskFor(ExitReason.EPT_VIOLATION);
    const ld = run(vm, vmFaultMessage(0xfee00020, Rights.R, 0x2000, { mask: em, fields: { ...FLAT, [F.EDX]: 7 } }), { ram });
    expect(ld.reply.fields[F.EDX]).toBe(0xffffffff);
    expect(ld.reply.fields[F.EIP]).toBe(0x2006);
    const st = run(vm, vmFaultMessage(0xfee00020, Rights.W, 0x2010, { mask: em, fields: { ...FLAT, [F.EAX]: 0xfee00020 } }), { ram });
    expect(st.reply.fields[F.EIP]).toBe(0x2013);
    const zx = run(vm, vmFaultMessage(0xfee00020, Rights.R, 0x2020, { mask: em, fields: { ...FLAT, [F.EDI]: 0x12345678 } }), { ram });
    expect(zx.reply.fields[F.EDI]).toBe(0xff);
    expect(s.stats.mmio).toBe(3);
    expect(s.stats.mmioAddresses).toEqual([0xfee00000]);
    expect(ld.reply.items).toEqual([]);
  });

  it("emulates ALU instructions with an MMIO operand: all ones in, the flags as the CPU sets them, writes dropped", () => {
    // Linux's early stack-protector checks read their canary through %fs before the per-CPU
    // segment exists: `sub eax, fs:[canary]` lands in unassigned guest-physical space.
    const { s, vm } = newVm();
    const ram = new Uint8Array(16 * MiB);
    ram.set([0x2b, 0x05, 0x00, 0x00, 0xc0, 0xfe], 0x2000); // sub eax, [0xfec00000]
    ram.set([0x01, 0x05, 0x00, 0x00, 0xc0, 0xfe], 0x2010); // add [0xfec00000], eax
    ram.set([0x83, 0x3d, 0x00, 0x00, 0xc0, 0xfe, 0xff], 0x2020); // cmp dword [0xfec00000], -1
    ram.set([0x84, 0x1d, 0x00, 0x00, 0xc0, 0xfe], 0x2030); // test [0xfec00000], bl
    const em = maskFor(ExitReason.EPT_VIOLATION);
    const flags = (r: { reply: { fields: Partial<Record<GuestField, number>> } }) => (r.reply.fields[F.EFLAGS] ?? 0) & 0x8d5;
    // 0xffffffff - 0xffffffff = 0: ZF PF, no carry.
    const sub = run(vm, vmFaultMessage(0xfec00000, Rights.R, 0x2000, { mask: em, fields: { ...FLAT, [F.EAX]: 0xffffffff, [F.EFLAGS]: 0x2 | 0x1 } }), { ram });
    expect(sub.reply.fields[F.EAX]).toBe(0);
    expect(flags(sub)).toBe(0x40 | 0x4);
    expect(sub.reply.fields[F.EIP]).toBe(0x2006);
    // 1 - 0xffffffff = 2 with a borrow: CF, AF (bit 4 borrowed), no ZF.
    const sub2 = run(vm, vmFaultMessage(0xfec00000, Rights.R, 0x2000, { mask: em, fields: { ...FLAT, [F.EAX]: 1 } }), { ram });
    expect(sub2.reply.fields[F.EAX]).toBe(2);
    expect(flags(sub2)).toBe(0x1 | 0x10);
    // 0xffffffff + 1 to memory: dropped, flags CF ZF PF AF.
    const add = run(vm, vmFaultMessage(0xfec00000, Rights.W, 0x2010, { mask: em, fields: { ...FLAT, [F.EAX]: 1 } }), { ram });
    expect(add.reply.fields[F.EAX]).toBeUndefined();
    expect(flags(add)).toBe(0x1 | 0x40 | 0x4 | 0x10);
    const cmp = run(vm, vmFaultMessage(0xfec00000, Rights.R, 0x2020, { mask: em, fields: FLAT }), { ram });
    expect(flags(cmp)).toBe(0x40 | 0x4);
    expect(cmp.reply.fields[F.EIP]).toBe(0x2027);
    // 0xff & 0x80: SF, odd parity (one bit): no PF.
    const test = run(vm, vmFaultMessage(0xfec00000, Rights.R, 0x2030, { mask: em, fields: { ...FLAT, [F.EBX]: 0x80 } }), { ram });
    expect(flags(test)).toBe(0x80);
    expect(s.status).not.toBe("failed");
  });

  it("decodes a virtual-8086 guest's MMIO instruction at CS * 16 + IP as 16-bit code", () => {
    const { vm } = newVm();
    const ram = new Uint8Array(16 * MiB);
    ram.set([0x8b, 0x07], 0x1240); // mov ax, [bx] (32-bit code would read it as mov eax, [edi])
    const v86: Fields = { [F.CS_SEL]: 0x123, [F.CS_BASE]: 0x1230, [F.CS_ATTR]: 0xf3, [F.SS_ATTR]: 0xf3, [F.EFLAGS]: 0x20002, [F.CR0]: 0x11 | Cr0.NE };
    const r = run(vm, vmFaultMessage(0xfee00000, Rights.R, 0x10, { mask: maskFor(ExitReason.EPT_VIOLATION), fields: { ...FLAT, ...v86, [F.EAX]: 0x12345678 } }), { ram });
    expect(r.reply.fields[F.EAX]).toBe(0x1234ffff);
    expect(r.reply.fields[F.EIP]).toBe(0x12);
  });

  it("stops with a clear report on MMIO by an instruction it cannot emulate, or code fetched outside RAM", () => {
    const { s, vm } = newVm();
    const ram = new Uint8Array(16 * MiB);
    ram.set([0xff, 0x05, 0x00, 0x00, 0xc0, 0xfe], 0x2000); // inc dword [0xfec00000]
    const r = run(vm, vmFaultMessage(0xfec00000, Rights.R, 0x2000, { mask: maskFor(ExitReason.EPT_VIOLATION), fields: FLAT }), { ram });
    expect(r.outcome).toBe(Outcome.STOP);
    expect(s.status).toBe("failed");
    expect(s.reason).toMatch(/MMIO at guest-physical 0xfec00000 .*opcode 0xff/);
    const { s: s2, vm: vm2 } = newVm();
    expect(run(vm2, vmFaultMessage(0xfffffff0, Rights.X, 0xfff0, { mask: maskFor(ExitReason.EPT_VIOLATION), fields: FLAT })).outcome).toBe(Outcome.STOP);
    expect(s2.reason).toMatch(/executed at guest-physical 0xfffffff0/);
  });
});

describe("the rest of the table", () => {
  it("reports a triple fault as a guest failure and never answers", () => {
    const { s, vm } = newVm();
    const r = run(vm, vfault(ExitReason.TRIPLE_FAULT, { [F.EIP]: 0xc0101234 }));
    expect(r.outcome).toBe(Outcome.STOP);
    expect([s.status, s.reason, s.vcpuBook.mode]).toEqual(["failed", "triple fault at EIP 0xc0101234", "stopped"]);
  });

  it("serves the hypercalls: info, a console byte, power off; at CPL 3 VMCALL is #UD", () => {
    const { s, vm } = newVm();
    const info = run(vm, vfault(ExitReason.VMCALL, { [F.EAX]: Hypercall.INFO, [F.EIP]: 0x10 }, 0, 3));
    expect([info.reply.fields[F.EAX], info.reply.fields[F.EBX], info.reply.fields[F.EIP]]).toEqual([HYPERCALL_MAGIC, 1, 0x13]);
    run(vm, vfault(ExitReason.VMCALL, { [F.EAX]: Hypercall.PUTCHAR, [F.EBX]: 0x41 }, 0, 3));
    expect(consoleOf(vm)).toEqual([0x41]);
    const user = run(vm, vfault(ExitReason.VMCALL, { [F.EAX]: Hypercall.POWEROFF, [F.SS_ATTR]: 0xc0f3 }, 0, 3));
    expect(user.reply.fields[F.ENTRY_INTR_INFO]).toBe(injectionInfo(6, EventType.HARDWARE_EXCEPTION));
    const off = run(vm, vfault(ExitReason.VMCALL, { [F.EAX]: Hypercall.POWEROFF, [F.EBX]: 3 }, 0, 3));
    expect(off.outcome).toBe(Outcome.STOP);
    expect([s.status, s.exitCode]).toEqual(["off", 3]);
  });

  it("steps over INVLPG, INVD, WBINVD and PAUSE, and raises #UD for VMX instructions", () => {
    const { vm } = newVm();
    for (const reason of [ExitReason.INVLPG, ExitReason.INVD, ExitReason.WBINVD, ExitReason.PAUSE]) {
      expect(run(vm, vfault(reason, { [F.EIP]: 0x100 }, 0, 3)).reply.fields[F.EIP]).toBe(0x103);
    }
    const vmxon = run(vm, vfault(27, { [F.EIP]: 0x100 }, 0, 4));
    expect(vmxon.reply.fields[F.ENTRY_INTR_INFO]).toBe(injectionInfo(6, EventType.HARDWARE_EXCEPTION));
    expect(vmxon.reply.fields[F.EIP]).toBeUndefined();
  });

  it("stops on an exit it does not handle, naming it", () => {
    const { s, vm } = newVm();
    expect(run(vm, vfault(ExitReason.MOV_DR, { [F.EIP]: 0x77 })).outcome).toBe(Outcome.STOP);
    expect(s.reason).toBe("exit MOV_DR (29) is not handled by the VMM, at EIP 0x77");
  });

  it("takes the guest's reset request (the 8042's 0xFE command) as the end of the run", () => {
    const { s, vm } = newVm();
    expect(out(vm, 0x64, 0xfe).outcome).toBe(Outcome.STOP);
    expect(s.status).toBe("reset");
    expect(s.reason).toMatch(/8042/);
  });

  it("loads the boot plan's state on STARTUP, with the VMM's controls and CR shadows", () => {
    const { s, vm } = newVm();
    const g = planGuest({ kind: "flat", image: new Uint8Array([0xf4]) }, s.ramSize);
    if (typeof g === "string") throw new Error(g);
    s.initial = g.fields;
    s.vcpuBook.cr0Shadow = g.cr0;
    const r = run(vm, vfault(VcpuReason.STARTUP, { [F.EIP]: 0, [F.EFLAGS]: 0 }));
    const f = r.reply.fields;
    expect([f[F.EIP], f[F.CS_SEL], f[F.CS_LIMIT], f[F.CS_ATTR], f[F.EDX], f[F.EFLAGS]]).toEqual([0x7c00, 0, 0xffff, 0x9b, 0x652, 2]);
    expect([f[F.CR0], f[F.CR0_SHADOW], f[F.CR0_MASK], f[F.CR4], f[F.CR4_SHADOW]]).toEqual([0x60000030, 0x60000010, Cr0.NE, Cr4.VMXE, 0]);
    expect(f[F.PROC_CTLS]! & ((1 << 7) | (1 << 24) | (1 << 25))).toBe((1 << 7) | (1 << 25)); // HLT exits, I/O bitmaps
    expect(f[F.PROC_CTLS2]).toBe(0x82); // EPT, unrestricted guest
    expect(f[F.LDTR_ATTR]! & 0x10000).toBe(0x10000);
    expect(r.reply.mask & Xfer.INJ).toBe(0);
  });
});
