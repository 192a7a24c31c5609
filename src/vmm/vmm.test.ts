// The VMM programs on the real src/l4 kernel, over src/l4's CPU-less FakePlatform with scripted
// VM exits: setup through sigma0 and the kernel's system calls, the guest image loaded through
// the VMM's own mapping, console output reaching the physical UART's port, HLT parking and a
// timer waking it with the vector injected, a running VCPU recalled for a timer interrupt, an EPT
// violation answered with guest RAM, console input through the physical UART's interrupt, and
// kernel snapshots that carry the VMM's whole state.

import { describe, expect, it } from "vitest";
import {
  EventType,
  ExitReason,
  VcpuReason,
  GuestField as F,
  Rights,
  globalId,
  injectionInfo,
  type GuestField,
} from "../l4/api.js";
import { eptLookup } from "../l4/ept.js";
import { FakePlatform, type ScriptedExit } from "../l4/testing/fake-platform.js";
import { Kernel } from "../l4/kernel.js";
import type { VcpuExit } from "../l4/platform.js";
import { ioQualification } from "./testing/hand-exits.js";
import { planLinuxBoot } from "../x86/linux-boot.js";
import type { VmmConfig } from "./config.js";
import type { IrqState } from "./irq.js";
import type { VmmState } from "./state.js";
import { formatVmmSummary, vmmSummary } from "./summary.js";
import { VMM_PROGRAMS, vmmImage, vmmStateOf } from "./vmm.js";

const MiB = 1 << 20;
const IF = 0x200;

/** A FakePlatform whose COM1 has a receiver: bytes typed arrive with the UART's interrupt. */
class ConsolePlatform extends FakePlatform {
  rx: number[] = [];

  type(bytes: number[], at: number): void {
    this.rx.push(...bytes);
    this.raiseIrq(4, at);
  }

  override ioRead(port: number, size: 1 | 2 | 4): number {
    if (port === 0x3fd) {
      const v = 0x60 | (this.rx.length > 0 ? 1 : 0);
      this.s.portLog.push(["in", port, size, v]);
      return v;
    }
    if (port === 0x3f8) {
      const v = this.rx.shift() ?? 0;
      this.s.portLog.push(["in", port, size, v]);
      return v;
    }
    return super.ioRead(port, size);
  }
}

interface Booted {
  p: ConsolePlatform;
  k: Kernel;
  vmm: () => VmmState;
  irq: () => IrqState;
  M: number;
  I: number;
  V: number;
  /** The VCPU's number on the platform. */
  v: number;
}

function boot(cfg: Partial<VmmConfig> = {}): Booted {
  const p = new ConsolePlatform(64 * MiB, 16);
  const k = new Kernel(p, {
    kernelMemory: { base: 60 * MiB, size: 4 * MiB },
    programs: VMM_PROGRAMS,
    root: vmmImage({ ramSize: 8 * MiB, boot: { kind: "none" }, rtcEpochSeconds: 1_700_000_000, ...cfg }),
  });
  const M = k.rootTask;
  const no = M >>> 14;
  return {
    p,
    k,
    M,
    I: globalId(no + 1, 1),
    V: globalId(no + 2, 1),
    v: no + 2,
    vmm: () => vmmStateOf(k.thread(M)!.progState)!,
    irq: () => k.thread(globalId(no + 1, 1))!.progState as IrqState,
  };
}

function vexit(reason: number, fields: Partial<VcpuExit> = {}): VcpuExit {
  return { reason, qualification: 0, instructionLength: 0, guestLinear: 0, guestPhysical: 0, ...fields };
}

type Set = [GuestField, number][];

/** An OUT of `al` to `port` at EIP `eip`, `after` ns of guest time after the last exit. */
function outExit(port: number, al: number, eip: number, after = 1000, eflags = 0x2): ScriptedExit {
  return {
    after,
    exit: vexit(ExitReason.IO_INSTRUCTION, { qualification: ioQualification(port, 1, false), instructionLength: 1 }),
    set: [[F.EAX, al], [F.EIP, eip], [F.EFLAGS, eflags]] as Set,
  };
}

function inExit(port: number, eip: number, after = 1000): ScriptedExit {
  return {
    after,
    exit: vexit(ExitReason.IO_INSTRUCTION, { qualification: ioQualification(port, 1, true), instructionLength: 1 }),
    set: [[F.EAX, 0], [F.EIP, eip], [F.EFLAGS, 0x2]] as Set,
  };
}

function hltExit(eip: number, eflags: number, after = 1000): ScriptedExit {
  return { after, exit: vexit(ExitReason.HLT, { instructionLength: 1 }), set: [[F.EIP, eip], [F.EFLAGS, eflags]] as Set };
}

/** Linux's PIC setup (vectors 0x20/0x28), only IRQ0 unmasked, then the PIT at 1 kHz in mode 2. */
function picAndPit(eip0: number): ScriptedExit[] {
  const writes = [[0x20, 0x11], [0x21, 0x20], [0x21, 0x04], [0x21, 0x01], [0xa0, 0x11], [0xa1, 0x28], [0xa1, 0x02], [0xa1, 0x01], [0xa1, 0xff], [0x21, 0xfe], [0x43, 0x34], [0x40, 0xa9], [0x40, 0x04]];
  return writes.map(([port, v], i) => outExit(port, v, eip0 + i));
}

/** Runs until nothing is left to do: every thread blocked, no timeout pending. */
function runToIdle(k: Kernel): void {
  k.run(k.platform.now() + 100_000_000);
  expect(k.nextWake()).toBe(-1);
  expect(k.run(Infinity)).toBe("idle");
}

function physicalOut(p: FakePlatform, port: number): number[] {
  return p.s.portLog.filter((e) => e[0] === "out" && e[1] === port).map((e) => e[3]);
}

describe("the VMM on the L4 kernel", () => {
  it("sets the VM up as the root task: RAM from sigma0, the image loaded through its mapping, its threads, the console", () => {
    const image = new Uint8Array([0xfa, 0xf4, 0x90, 0x90]);
    const { k, p, vmm, irq, M, I, V, v } = boot({ boot: { kind: "flat", image } });
    k.run(2_000_000);
    const s = vmm();
    expect(s.status).toBe("running");
    expect(s.ramPhys).toBe(4 * MiB);
    // The guest's bytes are in the VMM's frames, written through its RAM window.
    expect(Array.from(p.s.mem.subarray(4 * MiB + 0x7c00, 4 * MiB + 0x7c04))).toEqual(Array.from(image));
    expect(k.translate(M, s.ramWindow + 0x7c00)).toEqual({ paddr: 4 * MiB + 0x7c00, rights: Rights.RWX });
    // The IRQ thread shares the VMM's space (its ports), handles COM1's interrupt, and set COM1 up.
    expect(k.translate(I, 0x3f8, true)).not.toBeNull();
    expect(k.s.irqs[4].handler).toBe(I);
    expect(irq().console).toEqual({ port: 0x3f8, line: 4 });
    expect([0x3fb, 0x3fa, 0x3fc, 0x3f9].map((port) => physicalOut(p, port))).toEqual([[3], [7], [0xb], [1]]);
    // The VCPU is in a VM space and started from the STARTUP reply's state.
    const f = p.vcpu(v).fields;
    expect([f[F.EIP], f[F.CS_ATTR], f[F.CR0], f[F.CR0_SHADOW], f[F.CR4]]).toEqual([0x7c00, 0x9b, 0x60000030, 0x60000010, 0x2000]);
    expect(k.threadState(V)).not.toBe("dead");
    expect(k.eptRootOf(V)).toBeGreaterThanOrEqual(60 * MiB);
    expect(s.stats.exits[VcpuReason.STARTUP]).toBe(1);
    // The image is not kept once loaded.
    expect(s.boot).toBeNull();
    expect(s.setup).toEqual([]);
  });

  it("sends the guest's OUT to COM1 to the physical UART through the ports sigma0 mapped it, and ends on HLT with interrupts off", () => {
    const { k, p, vmm, v } = boot();
    p.scriptExits(v, outExit(0x3f8, 0x48, 0x100), outExit(0x3f8, 0x69, 0x101), outExit(0xe9, 0x21, 0x102), hltExit(0x103, 0x2));
    runToIdle(k);
    expect(physicalOut(p, 0x3f8)).toEqual([0x48, 0x69, 0x21]);
    // The final HLT retired (EIP past it), the guest left in the HLT state; four emulated instructions.
    expect([p.vcpu(v).fields[F.EIP], p.vcpu(v).fields[F.ACTIVITY], p.vcpu(v).retired]).toEqual([0x104, 1, 4]);
    const s = vmm();
    expect([s.status, s.reason]).toEqual(["halted", "the guest halted with interrupts off"]);
    expect(s.stats.consoleBytes).toBe(3);
    expect(s.stats.io[0x3f8]).toEqual([0, 2]);
  });

  it("parks a VCPU on HLT and a PIT interrupt, through the IRQ thread's timeout, wakes it with vector 0x20", () => {
    const { k, p, vmm, irq, v } = boot();
    p.scriptExits(
      v,
      ...picAndPit(0x100),
      // Programming mode 2 raised IRQ0 at once: the first HLT takes it without parking.
      hltExit(0x200, 0x2 | IF),
      outExit(0x20, 0x20, 0x201), // EOI, interrupts off again
      hltExit(0x202, 0x2 | IF), // parks until the next timer edge
      hltExit(0x300, 0x2, 100_000),
    );
    let programmed = 0;
    while (vmm().stats.parks === 0) {
      k.step();
      if (!programmed && vmm().irqDeadline > 0) programmed = p.now();
    }
    const parkedAt = p.now();
    expect(irq().deadline).toBeGreaterThan(parkedAt);
    expect(p.vcpu(v).fields[F.ENTRY_INTR_INFO]).toBe(injectionInfo(0x20, EventType.EXTERNAL));
    // Parked: answered, its HLT retired, in the HLT state, and halted in L4 until woken.
    while (vmm().last !== "recv") k.step();
    expect([p.vcpu(v).fields[F.EIP], p.vcpu(v).fields[F.ACTIVITY]]).toEqual([0x203, 1]);
    expect(k.threadState(vmm().vcpu)).toBe("halted");
    const runs = p.vcpu(v).runs.length;
    while (vmm().stats.wakes === 0) k.step();
    // Woken at the PIT's next rising edge, about 1 ms after it was programmed; not entered before.
    expect(p.vcpu(v).runs.length).toBe(runs);
    expect(p.now() - programmed).toBeGreaterThan(990_000);
    expect(p.now() - programmed).toBeLessThan(1_100_000);
    k.run(p.now() + 10_000_000);
    expect(p.vcpu(v).runs.length).toBeGreaterThan(runs);
    const s = vmm();
    expect(s.stats.injections[0x20]).toBe(2);
    expect(s.stats.ticks).toBeGreaterThanOrEqual(1);
    expect(p.vcpu(v).fields[F.EIP]).toBe(0x301);
    expect(s.status).toBe("halted");
    // The guest is over: the IRQ thread was told there is nothing more to wait for.
    expect(irq().deadline).toBe(-1);
  });

  it("recalls a VCPU that runs without exiting when its timer interrupt is due, and injects on the RECALL exit", () => {
    const { k, p, vmm, v } = boot();
    p.scriptExits(
      v,
      ...picAndPit(0x100),
      outExit(0x80, 0, 0x180, 1000, 0x2 | IF), // interrupts on: the pending IRQ0 goes in with this reply
      outExit(0x20, 0x20, 0x181, 1000, 0x2 | IF), // EOI
      // Then the guest computes for 50 ms without an exit.
      { after: 50_000_000, exit: vexit(ExitReason.CPUID, { instructionLength: 2 }), set: [[F.EAX, 0], [F.EIP, 0x190]] },
    );
    k.run(20_000_000);
    const s = vmm();
    expect(s.stats.recalls).toBe(1);
    expect(s.stats.exits[VcpuReason.RECALL]).toBe(1);
    expect(s.stats.injections[0x20]).toBe(2);
    expect(p.vcpu(v).fields[F.ENTRY_INTR_INFO]).toBe(injectionInfo(0x20, EventType.EXTERNAL));
    expect(s.stats.exits[ExitReason.CPUID]).toBeUndefined();
  });

  it("reads guest memory through its RAM window for a REP OUTSB (the instruction, then the string) and sends it all to the console", () => {
    const image = new Uint8Array(0x20);
    image.set([0xf3, 0x6e], 0); // rep outsb, 16-bit code
    image.set(new TextEncoder().encode("hello"), 0x10);
    const { k, p, vmm, v } = boot({ boot: { kind: "flat", image } });
    p.scriptExits(
      v,
      {
        after: 1000,
        exit: vexit(ExitReason.IO_INSTRUCTION, { qualification: ioQualification(0x3f8, 1, false, true, true), instructionLength: 2, guestLinear: 0x7c10 }),
        set: [[F.ECX, 5], [F.ESI, 0x7c10], [F.EDX, 0x3f8], [F.EIP, 0x7c00]],
      },
      hltExit(0x7c02, 0x2),
    );
    runToIdle(k);
    expect(String.fromCharCode(...physicalOut(p, 0x3f8))).toBe("hello");
    const s = vmm();
    expect(s.stats.memReads).toBe(2);
    expect([s.stats.stringIo, s.stats.stringElements]).toEqual([1, 5]);
    expect(p.vcpu(v).fields[F.ESI]).toBe(0x7c15);
    expect(p.vcpu(v).fields[F.ECX]).toBe(0);
  });

  it("answers an EPT violation in guest RAM with a map item the kernel enters into the EPT", () => {
    const { k, p, vmm, V, v } = boot();
    p.scriptExits(v, { after: 1000, exit: vexit(ExitReason.EPT_VIOLATION, { qualification: 1, guestPhysical: 0x523456 }), set: [[F.EIP, 0x100]] });
    k.run(5_000_000);
    const s = vmm();
    expect(s.stats.ramMaps).toBe(1);
    expect(k.translate(V, 0x523456)).toEqual({ paddr: s.ramPhys + 0x523456, rights: Rights.RWX });
    expect(k.translate(V, 0x400000)).toEqual({ paddr: s.ramPhys + 0x400000, rights: Rights.RWX });
    expect(k.translate(V, 0x3ff000)).toBeNull();
    expect(eptLookup(p, k.eptRootOf(V), 0x523456)).toEqual({ hpa: s.ramPhys + 0x523456, perm: 7, large: true });
    expect(k.stats.vmPageFaults).toBe(1);
  });

  it("takes console input from the physical UART's interrupt to the virtual UART", () => {
    const { k, p, vmm, irq, v } = boot();
    p.type([0x61, 0x62], 1_000_000);
    p.scriptExits(v, inExit(0x3fd, 0x100, 3_000_000), inExit(0x3f8, 0x101), hltExit(0x102, 0x2));
    runToIdle(k);
    const s = vmm();
    expect(irq().stats.interrupts).toBe(1);
    expect([s.stats.inputEvents, s.stats.inputBytes]).toEqual([1, 2]);
    // The IRQ thread drained the physical UART and acknowledged the interrupt (the line is unmasked again).
    expect(p.rx).toEqual([]);
    expect(p.s.masked[4]).toBe(false);
    // The guest read 'a' from the virtual UART; 'b' waits in its FIFO.
    expect(p.vcpu(v).fields[F.EAX]).toBe(0x61);
    expect(s.devices.uart.rxCount).toBe(1);
    expect(s.stats.io[0x3f8]).toEqual([1, 0]);
  });

  it("wakes a VCPU parked on HLT when console input raises the virtual UART's interrupt (the interactive shell's path)", () => {
    const { k, p, vmm, v } = boot();
    const pic = [[0x20, 0x11], [0x21, 0x20], [0x21, 0x04], [0x21, 0x01], [0xa0, 0x11], [0xa1, 0x28], [0xa1, 0x02], [0xa1, 0x01], [0xa1, 0xff], [0x21, 0xef]];
    p.scriptExits(
      v,
      ...pic.map(([port, val], i) => outExit(port, val, 0x100 + i)),
      outExit(0x3fc, 0x08, 0x120), // MCR: OUT2
      outExit(0x3f9, 0x01, 0x121), // IER: received data
      hltExit(0x122, 0x2 | IF),
      inExit(0x3f8, 0x123),
      hltExit(0x124, 0x2),
    );
    p.type([0x0d], 5_000_000);
    while (vmm().stats.parks === 0) k.step();
    expect(p.now()).toBeLessThan(5_000_000);
    while ((p.vcpu(v).fields[F.ENTRY_INTR_INFO] & 0x80000000) === 0) k.step();
    expect(p.vcpu(v).fields[F.EIP]).toBe(0x123);
    expect(vmm().stats.wakes).toBe(1);
    expect(p.now()).toBeGreaterThan(5_000_000);
    expect(p.vcpu(v).fields[F.ENTRY_INTR_INFO]).toBe(injectionInfo(0x24, EventType.EXTERNAL));
    runToIdle(k);
    expect(p.vcpu(v).fields[F.EAX]).toBe(0x0d);
    expect(vmm().status).toBe("halted");
  });

  it("loads Linux from the boot planner into guest RAM and starts it in flat protected mode", () => {
    const kernel = fakeBzImage();
    const initrd = new Uint8Array([1, 2, 3, 4, 5]);
    const { k, p, vmm, v } = boot({ boot: { kind: "linux", kernel, initrd, cmdline: "console=ttyS0" } });
    k.run(2_000_000);
    const s = vmm();
    expect(s.status).toBe("running");
    const plan = planLinuxBoot({ kernel, initrd, cmdline: "console=ttyS0", ramSize: 8 * MiB });
    const ram = (a: number, n: number) => Array.from(p.s.mem.subarray(s.ramPhys + a, s.ramPhys + a + n));
    for (const w of plan.writes) expect(ram(w.addr, w.bytes.length), w.what).toEqual(Array.from(w.bytes));
    expect(ram(0x7000 + 0x202, 4)).toEqual([0x48, 0x64, 0x72, 0x53]); // "HdrS" in the zero page
    const f = p.vcpu(v).fields;
    expect([f[F.EIP], f[F.ESI], f[F.ESP], f[F.CS_SEL], f[F.CS_ATTR], f[F.DS_SEL], f[F.TR_SEL]]).toEqual([plan.regs.eip, 0x7000, 0x7000, 0x10, 0xc09b, 0x18, 0x20]);
    expect([f[F.CR0], f[F.CR0_SHADOW], f[F.CR4], f[F.CR4_SHADOW], f[F.GDTR_BASE], f[F.EFLAGS]]).toEqual([0x31, 0x11, 0x2000, 0, 0x500, 2]);
  });

  it("reports a setup it cannot do (no privilege) instead of crashing", () => {
    const p = new FakePlatform(64 * MiB, 16);
    const k = new Kernel(p, { kernelMemory: { base: 60 * MiB, size: 4 * MiB }, programs: VMM_PROGRAMS });
    const M = k.spawn(50, { pager: k.sigma0, program: vmmImage({ ramSize: 4 * MiB, boot: { kind: "none" }, rtcEpochSeconds: 0 }) });
    runToIdle(k);
    const s = k.thread(M)!.progState as VmmState;
    expect(s.status).toBe("failed");
    expect(s.reason).toBe("setup failed: the VMM's priority (INVALID_PARAM): the VMM needs a privileged space (run it as the root task)");
  });

  it("reports a triple fault and lets the machine go idle", () => {
    const { k, p, vmm, v } = boot();
    p.scriptExits(v, ...picAndPit(0x100), { after: 1000, exit: vexit(ExitReason.TRIPLE_FAULT), set: [[F.EIP, 0xdead]] });
    runToIdle(k);
    expect([vmm().status, vmm().reason]).toEqual(["failed", "triple fault at EIP 0xdead"]);
    const text = formatVmmSummary(vmmSummary(vmm())).join("\n");
    expect(text).toMatch(/guest: failed \(triple fault at EIP 0xdead\)/);
    expect(text).toMatch(/IO_INSTRUCTION +13/);
    expect(text).toMatch(/0x0021 pic/);
  });

  it("is all in the kernel's snapshot: restored mid-run, the VMM and the guest continue identically", () => {
    const scenario = () => {
      const b = boot();
      b.p.scriptExits(
        b.v,
        ...picAndPit(0x100),
        hltExit(0x200, 0x2 | IF),
        outExit(0x20, 0x20, 0x201),
        hltExit(0x202, 0x2 | IF),
        outExit(0x20, 0x20, 0x203),
        outExit(0x3f8, 0x41, 0x204),
        hltExit(0x205, 0x2 | IF),
        outExit(0x20, 0x20, 0x206),
        hltExit(0x207, 0x2, 2_000_000),
      );
      return b;
    };
    const end = (b: Booted) => ({ vmm: vmmSummary(b.vmm()), fields: [...b.p.vcpu(b.v).fields], now: b.p.now(), ports: b.p.s.portLog.length, stats: { ...b.k.stats } });
    const whole = scenario();
    whole.k.run(100_000_000);
    const ref = end(whole);
    expect(ref.vmm.status).toBe("halted");
    expect(ref.vmm.counters.wakes).toBe(2);
    // Also where a message waits for the clock (the PIT's ports): the state holds its words then.
    const scan = scenario();
    const waiting: number[] = [];
    for (let i = 1; i <= 400 && waiting.length < 3; i++) {
      scan.k.step();
      const job = scan.vmm().job;
      if (job === null) continue;
      expect(job.msg).toBeInstanceOf(Array);
      waiting.push(i);
    }
    expect(waiting.length).toBe(3);
    for (const cut of [3, 40, 90, 150, ...waiting]) {
      const b = scenario();
      for (let i = 0; i < cut; i++) b.k.step();
      const ks = b.k.save();
      const ps = b.p.save();
      b.k.run(100_000_000);
      expect(end(b)).toEqual(ref);
      b.k.restore(ks);
      b.p.restore(ps);
      b.k.run(100_000_000);
      expect(end(b), `restored after ${cut} steps`).toEqual(ref);
    }
  });
});

/** A bzImage with a well-formed setup header (protocol 2.15, relocatable, loaded at 1 MiB). */
function fakeBzImage(): Uint8Array {
  const setupSects = 4;
  const pmSize = 0x3000;
  const img = new Uint8Array((setupSects + 1) * 512 + pmSize);
  const v = new DataView(img.buffer);
  img[0x1f1] = setupSects;
  v.setUint32(0x1f4, pmSize / 16, true);
  v.setUint16(0x1fe, 0xaa55, true);
  img[0x200] = 0xeb;
  img[0x201] = 0x6a;
  v.setUint32(0x202, 0x53726448, true);
  v.setUint16(0x206, 0x020f, true);
  v.setUint32(0x214, 0x100000, true);
  img[0x211] = 0x01;
  v.setUint32(0x22c, 0x7fffffff, true);
  v.setUint32(0x230, 0x100000, true);
  img[0x234] = 1;
  img[0x235] = 13;
  v.setUint32(0x238, 2047, true);
  v.setUint32(0x258, 0x100000, true);
  v.setUint32(0x260, 0x200000, true);
  for (let i = 0; i < pmSize; i++) img[(setupSects + 1) * 512 + i] = (i * 7 + 3) & 0xff;
  return img;
}
