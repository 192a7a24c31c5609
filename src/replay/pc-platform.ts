// The L4 kernel's Platform on the emulated PC: the kernel's clock is the machine's (guest
// instructions plus the kernel's and the VMM's charged costs), its interrupt lines are the
// physical 8259A pair's, its memory and ports the PC's, and each VCPU is a VMCS run by the CPU's
// VMX unit. The kernel is TypeScript, so the CPU executes only guest code: what a kernel written
// in x86 would do with VMREAD, VMWRITE, VMRESUME, INTA and EOI, this module does through the
// same units' methods.
//
// Deterministic like the layers below it (test/determinism.test.ts): it reads nothing from the
// host. The host's bounds on a run (an instruction limit, a stop request) live outside the state
// in `host`, and how they cut runs does not change the machine.

import { GuestField, type GuestField as Gf } from "../l4/api.js";
import type { Platform, VcpuExit, VcpuRun } from "../l4/platform.js";
import { NS_PER_INSN } from "../machine/clock.js";
import { Stop } from "../machine/cpu/arch.js";
import { Vmx, VmxResult, type VmxState } from "../machine/cpu/vmx.js";
import type { Pc } from "../machine/pc.js";
import {
  CAPS, EntryCtl, ExitCtl, Field, Pin, Proc, SLOTS, VMCS_REVISION_ID, Vmcs, makeEptp,
} from "../vmx/index.js";
import { Cr4 } from "../x86/paging.js";

/** Bytes at the top of physical RAM the platform keeps for itself (like firmware-reserved memory). */
export const PLATFORM_AREA = 64 * 1024;
/** VMCS regions in the platform area: at most this many VCPUs. */
const VMCS_SLOTS = 8;
const PAGE = 4096;
/** Vectors the platform programs the PIC pair with. */
const MASTER_BASE = 0x20, SLAVE_BASE = 0x28;
const CASCADE = 2;
/** The longest stretch the CPU runs before the platform looks at the chips (as the bare PC). */
const MAX_SLICE = 1_000_000;
/** Guest GPRs the VMCS does not hold, by GuestField: the CPU's register numbers. */
const GPR_REG: { [f: number]: number } = {
  [GuestField.EAX]: 0, [GuestField.ECX]: 1, [GuestField.EDX]: 2, [GuestField.EBX]: 3,
  [GuestField.EBP]: 5, [GuestField.ESI]: 6, [GuestField.EDI]: 7,
};
const GPRS = [0, 1, 2, 3, 5, 6, 7];
const ESP = 4;

/** The VMCS field behind each GuestField that is a plain VMCS word (the rest are special). */
const VMCS_FIELD: { [f: number]: number } = (() => {
  const m: { [f: number]: number } = {};
  // GuestField's segment groups in VMX segment numbering (ES 0, CS 1, SS 2, DS 3, FS 4, GS 5, LDTR 6, TR 7).
  const segs: [Gf, number][] = [
    [GuestField.DS_SEL, 3], [GuestField.ES_SEL, 0], [GuestField.FS_SEL, 4], [GuestField.GS_SEL, 5],
    [GuestField.CS_SEL, 1], [GuestField.SS_SEL, 2], [GuestField.TR_SEL, 7], [GuestField.LDTR_SEL, 6],
  ];
  for (const [first, n] of segs) {
    m[first] = Field.GUEST_ES_SELECTOR + 2 * n;
    m[first + 1] = Field.GUEST_ES_BASE + 2 * n;
    m[first + 2] = Field.GUEST_ES_LIMIT + 2 * n;
    m[first + 3] = Field.GUEST_ES_AR + 2 * n;
  }
  const plain: [Gf, number][] = [
    [GuestField.ESP, Field.GUEST_RSP], [GuestField.EIP, Field.GUEST_RIP], [GuestField.EFLAGS, Field.GUEST_RFLAGS],
    [GuestField.GDTR_BASE, Field.GUEST_GDTR_BASE], [GuestField.GDTR_LIMIT, Field.GUEST_GDTR_LIMIT],
    [GuestField.IDTR_BASE, Field.GUEST_IDTR_BASE], [GuestField.IDTR_LIMIT, Field.GUEST_IDTR_LIMIT],
    [GuestField.CR0, Field.GUEST_CR0], [GuestField.CR3, Field.GUEST_CR3], [GuestField.CR4, Field.GUEST_CR4],
    [GuestField.DR7, Field.GUEST_DR7],
    [GuestField.SYSENTER_CS, Field.GUEST_IA32_SYSENTER_CS], [GuestField.SYSENTER_ESP, Field.GUEST_IA32_SYSENTER_ESP],
    [GuestField.SYSENTER_EIP, Field.GUEST_IA32_SYSENTER_EIP],
    [GuestField.GUEST_LINEAR, Field.GUEST_LINEAR_ADDRESS], [GuestField.GUEST_PHYSICAL, Field.GUEST_PHYSICAL_ADDRESS],
    [GuestField.INTERRUPTIBILITY, Field.GUEST_INTERRUPTIBILITY], [GuestField.ACTIVITY, Field.GUEST_ACTIVITY_STATE],
    [GuestField.EXIT_INTR_INFO, Field.VM_EXIT_INTR_INFO], [GuestField.EXIT_INTR_ERROR, Field.VM_EXIT_INTR_ERROR_CODE],
    [GuestField.IDT_VECTORING_INFO, Field.IDT_VECTORING_INFO], [GuestField.IDT_VECTORING_ERROR, Field.IDT_VECTORING_ERROR_CODE],
    [GuestField.ENTRY_INTR_INFO, Field.VM_ENTRY_INTR_INFO], [GuestField.ENTRY_ERROR_CODE, Field.VM_ENTRY_EXCEPTION_ERROR_CODE],
    [GuestField.ENTRY_INSTR_LEN, Field.VM_ENTRY_INSTRUCTION_LEN],
    [GuestField.CR0_MASK, Field.CR0_GUEST_HOST_MASK], [GuestField.CR0_SHADOW, Field.CR0_READ_SHADOW],
    [GuestField.CR4_MASK, Field.CR4_GUEST_HOST_MASK], [GuestField.CR4_SHADOW, Field.CR4_READ_SHADOW],
    [GuestField.EXCEPTION_BITMAP, Field.EXCEPTION_BITMAP],
    [GuestField.TSC_OFFSET_LO, Field.TSC_OFFSET], [GuestField.TSC_OFFSET_HI, Field.TSC_OFFSET | 1],
    [GuestField.PDPTE0_LO, Field.GUEST_PDPTE0], [GuestField.PDPTE0_HI, Field.GUEST_PDPTE0 | 1],
    [GuestField.PDPTE1_LO, Field.GUEST_PDPTE1], [GuestField.PDPTE1_HI, Field.GUEST_PDPTE1 | 1],
    [GuestField.PDPTE2_LO, Field.GUEST_PDPTE2], [GuestField.PDPTE2_HI, Field.GUEST_PDPTE2 | 1],
    [GuestField.PDPTE3_LO, Field.GUEST_PDPTE3], [GuestField.PDPTE3_HI, Field.GUEST_PDPTE3 | 1],
    [GuestField.EFER, Field.GUEST_IA32_EFER],
  ];
  for (const [f, enc] of plain) m[f] = enc;
  return m;
})();

/**
 * Where each GuestField's VMCS_FIELD lives in the current VMCS's storage (`Vmcs.f`), or -1: the
 * kernel reads some thirty words per exit message through guestRead.
 */
const VMCS_WORD: Int32Array = (() => {
  const w = new Int32Array(GuestField.COUNT).fill(-1);
  for (const [f, enc] of Object.entries(VMCS_FIELD)) w[Number(f)] = (SLOTS[enc >>> 1] << 1) | (enc & 1);
  return w;
})();

/** One VCPU: where its VMCS is, and the guest state a VMCS does not hold. */
interface VcpuSlot {
  vmcs: number;
  /** EAX ECX EDX EBX (ESP unused) EBP ESI EDI, while the guest is not in the CPU. */
  gprs: number[];
  cr2: number;
  dr6: number;
}

export interface PcPlatformState {
  vmx: VmxState;
  vcpus: { [id: number]: VcpuSlot };
  /** The VCPU whose guest is in the CPU (non-root, between two instructions), or -1. */
  live: number;
  /** The line the last INTA cycle answered, until the kernel acknowledges it; -1 when none. */
  taken: number;
  /** Lines the kernel masked (the cascade line is the platform's and stays open at the PIC). */
  masked: number;
}

/** The host's bounds on the current run and what stopped it: not machine state. */
export interface HostControl {
  /** The CPU stops when icount reaches this (a guest run then ends as if by its deadline). */
  insnLimit: number;
  /** Set when a guest run ended at insnLimit or on a stop request. */
  stopped: Stop | null;
  /** Progress between CPU slices. */
  onSlice?: () => void;
  /** Asked whenever the CPU is about to idle: true if the host has just given the machine work (input). */
  onIdle?: () => boolean;
  /**
   * A position in history to reach has a guest time: until then an idle machine lets time pass
   * even when no event is due (-Infinity: none; with nothing due, the kernel reports idle).
   */
  idleTo: number;
}

export class PcPlatform implements Platform {
  readonly irqLines = 16;
  /** RAM the kernel manages: all of it below the platform's area. */
  readonly memorySize: number;
  readonly vmx: Vmx;
  readonly host: HostControl = { insnLimit: Infinity, stopped: null, idleTo: -Infinity };
  private s: PcPlatformState;
  /** The kernel arms its timer right before each idle; between steps it holds nothing. */
  private timer = -1;
  /** The exit runVcpu reports, one object for all (Platform's VcpuExit allows it). */
  private readonly exit: VcpuExit = { reason: 0, qualification: 0, instructionLength: 0, guestLinear: 0, guestPhysical: 0 };
  private readonly area: number;

  /** `chargeCosts` false: the kernel's charges take no guest time (see StackConfig.chargeCosts). */
  constructor(readonly pc: Pc, private readonly chargeCosts = true) {
    const cpu = pc.cpu;
    this.area = pc.mem.size - PLATFORM_AREA;
    this.memorySize = this.area;
    this.vmx = new Vmx(cpu);
    this.s = { vmx: this.vmx.save(), vcpus: {}, live: -1, taken: -1, masked: 0xffff };
    // The PIC pair as a kernel programs it: edge triggered, vectors 0x20/0x28, cascade on IR2,
    // everything masked but the cascade. The kernel's own masking comes next.
    const io = pc.io;
    for (const [cmd, data, base, icw3] of [[0x20, 0x21, MASTER_BASE, 1 << CASCADE], [0xa0, 0xa1, SLAVE_BASE, CASCADE]]) {
      io.out8(cmd, 0x11);
      io.out8(data, base);
      io.out8(data, icw3);
      io.out8(data, 0x01);
    }
    io.out8(0x21, 0xff & ~(1 << CASCADE));
    io.out8(0xa1, 0xff);
    // VMX operation: the VMXON region and an identity page directory for the host state (the
    // host runs no code, but VM entry checks its state as the CPU would).
    const mem = pc.mem;
    const pd = this.area;
    for (let i = 0; i < 1024 && i << 22 < mem.size; i++) mem.write32(pd + 4 * i, ((i << 22) | 0x83) >>> 0);
    const vmxon = this.area + PAGE;
    mem.write32(vmxon, VMCS_REVISION_ID);
    cpu.cr4 |= Cr4.VMXE;
    if (this.vmx.vmxon(vmxon) !== VmxResult.SUCCEED) throw new Error("platform: VMXON failed");
  }

  /** The VMCS of VCPU `id` (made current) and its slot. */
  private slot(id: number): VcpuSlot {
    const v = this.s.vcpus[id];
    if (v === undefined) throw new Error(`platform: no VCPU ${id}`);
    if (this.vmx.currentPtr !== v.vmcs) this.vmx.vmptrld(v.vmcs);
    return v;
  }

  // --- state -------------------------------------------------------------------------------------

  /** The platform's state as plain data (the PC's own is Pc.save's; save both). */
  save(): PcPlatformState {
    return structuredClone({ ...this.s, vmx: this.vmx.save() });
  }

  /** Restores save()'s state, after Pc.restore. */
  restore(s: PcPlatformState): void {
    this.s = structuredClone(s);
    this.vmx.restore(this.s.vmx);
  }

  /** The VCPU whose guest is in the CPU right now, or -1. */
  liveVcpu(): number {
    return this.s.live;
  }

  /**
   * A guest-state word of VCPU `id` without disturbing a guest that is in the CPU (for debuggers):
   * the registers, EIP and CS from the CPU while the guest is in it; any other VMCS word from its
   * VMCS (which, while the guest is in the CPU, is as of the last entry: read the CPU instead).
   */
  peek(id: number, field: Gf): number {
    const slot = this.s.vcpus[id];
    if (slot === undefined) return 0;
    const fromCpu = field === GuestField.EIP || field === GuestField.ESP || field === GuestField.CS_SEL || GPR_REG[field] !== undefined;
    if (this.s.live === id && fromCpu) {
      const cpu = this.pc.cpu;
      if (field === GuestField.EIP) return cpu.eip >>> 0;
      if (field === GuestField.ESP) return cpu.r32[ESP] >>> 0;
      if (field === GuestField.CS_SEL) return cpu.segSel[1];
      return cpu.r32[GPR_REG[field]] >>> 0;
    }
    const r = GPR_REG[field];
    if (r !== undefined) return slot.gprs[r];
    if (field === GuestField.CR2) return slot.cr2;
    if (field === GuestField.DR6) return slot.dr6;
    const enc = VMCS_FIELD[field];
    if (enc === undefined) return 0;
    // Another VCPU's VMCS may be the current one: read the region without VMPTRLD.
    if (this.vmx.currentPtr === slot.vmcs) return this.vmx.vmcs.read(enc) >>> 0;
    const copy = new Vmcs();
    copy.loadFrom(this.pc.mem, slot.vmcs);
    return copy.read(enc) >>> 0;
  }

  /**
   * A copy of VCPU `id`'s VMCS, its guest-state area as of now (the CPU's registers while the
   * guest is in it), or undefined when there is no such VCPU. For debuggers: nothing changes.
   */
  vmcsOf(id: number): Vmcs | undefined {
    const slot = this.s.vcpus[id];
    if (slot === undefined) return undefined;
    if (this.vmx.currentPtr === slot.vmcs) return this.vmx.peekVmcs();
    const copy = new Vmcs();
    copy.loadFrom(this.pc.mem, slot.vmcs);
    return copy;
  }

  // --- time --------------------------------------------------------------------------------------

  now(): number {
    return this.pc.nowNs();
  }

  charge(ns: number): void {
    if (this.chargeCosts) this.pc.passTime(ns);
  }

  setTimer(deadlineNs: number): void {
    this.timer = deadlineNs;
  }

  idle(limitNs: number): boolean {
    if (this.pendingIrq() >= 0) return true;
    if (this.host.onIdle?.() && this.pendingIrq() >= 0) return true;
    const now = this.pc.nowNs();
    const next = Math.min(this.timer >= 0 ? this.timer : Infinity, this.pc.nextEventNs());
    // Nothing will ever come but input: idle, however long the host waits (unless a position
    // in history asks for time to pass).
    if (next === Infinity && this.host.idleTo <= now) return false;
    const wake = Math.min(next, limitNs);
    if (wake === Infinity) return false;
    if (wake > now) this.pc.passTime(wake - now);
    this.pc.advanceChips();
    return true;
  }

  // --- interrupts: the 8259A pair ----------------------------------------------------------------

  pendingIrq(): number {
    const s = this.s;
    if (s.taken < 0) {
      if (!this.pc.cpu.intr) return -1;
      // The INTA cycle. A masked line does not raise INTR, so what it answers is unmasked; the
      // IR7/IR15 vector without the bit in service is the 8259A's spurious interrupt.
      const vector = this.pc.pic.acknowledge();
      const line = vector >= SLAVE_BASE ? vector - SLAVE_BASE + 8 : vector - MASTER_BASE;
      if ((line & 7) === 7 && (this.inService(line) === false)) {
        if (line === 15) this.pc.io.out8(0x20, 0x60 | CASCADE);
        return -1;
      }
      s.taken = line;
    }
    return (s.masked & (1 << s.taken)) !== 0 ? -1 : s.taken;
  }

  private inService(line: number): boolean {
    const cmd = line < 8 ? 0x20 : 0xa0;
    const io = this.pc.io;
    io.out8(cmd, 0x0b); // OCW3: read ISR
    const isr = io.in8(cmd);
    io.out8(cmd, 0x0a); // back to IRR, the power-on default
    return (isr & (1 << (line & 7))) !== 0;
  }

  maskIrq(line: number): void {
    this.s.masked |= 1 << line;
    this.writeMask(line);
  }

  unmaskIrq(line: number): void {
    this.s.masked &= ~(1 << line);
    this.writeMask(line);
  }

  private writeMask(line: number): void {
    const m = this.s.masked;
    if (line < 8) this.pc.io.out8(0x21, (m & 0xff & ~(1 << CASCADE)) >>> 0);
    else this.pc.io.out8(0xa1, (m >>> 8) & 0xff);
  }

  ackIrq(line: number): void {
    if (this.s.taken !== line) return;
    this.s.taken = -1;
    // Specific EOI, to the slave and for its cascade input at the master.
    if (line >= 8) {
      this.pc.io.out8(0xa0, 0x60 | (line & 7));
      this.pc.io.out8(0x20, 0x60 | CASCADE);
    } else this.pc.io.out8(0x20, 0x60 | line);
  }

  // --- memory and ports --------------------------------------------------------------------------

  read32(paddr: number): number {
    return this.pc.mem.read32(paddr) >>> 0;
  }

  write32(paddr: number, value: number): void {
    this.pc.mem.write32(paddr, value);
  }

  readBytes(paddr: number, dst: Uint8Array): void {
    dst.set(this.pc.mem.u8.subarray(paddr, paddr + dst.length));
  }

  writeBytes(paddr: number, src: Uint8Array): void {
    // Through the barrier: decoded code on the pages is dropped, and checkpoints see them dirty.
    this.pc.mem.load(paddr, src);
  }

  ioRead(port: number, size: 1 | 2 | 4): number {
    const io = this.pc.io;
    return (size === 1 ? io.in8(port) : size === 2 ? io.in16(port) : io.in32(port)) >>> 0;
  }

  ioWrite(port: number, size: 1 | 2 | 4, value: number): void {
    const io = this.pc.io;
    if (size === 1) io.out8(port, value);
    else if (size === 2) io.out16(port, value);
    else io.out32(port, value);
  }

  // --- VT-x ----------------------------------------------------------------------------------------

  vcpuCreate(id: number): void {
    const used = new Set(Object.values(this.s.vcpus).map((v) => v.vmcs));
    let vmcs = -1;
    for (let i = 0; i < VMCS_SLOTS; i++) {
      const at = this.area + (2 + i) * PAGE;
      if (!used.has(at)) {
        vmcs = at;
        break;
      }
    }
    if (vmcs < 0) throw new Error(`platform: no room for a VMCS for VCPU ${id} (${VMCS_SLOTS} at most)`);
    const x = this.vmx;
    this.pc.mem.write32(vmcs, VMCS_REVISION_ID);
    x.vmclear(vmcs);
    x.vmptrld(vmcs);
    this.s.vcpus[id] = { vmcs, gprs: [0, 0, 0, 0, 0, 0, 0, 0], cr2: 0, dr6: 0xffff0ff0 };
    const v = x.vmcs;
    // The controls that are the kernel's, not the VMM's: physical interrupts exit (and stay
    // pending at the PIC for the kernel), EFER comes from the VMCS on every entry.
    v.write(Field.PIN_BASED_CTLS, CAPS.truePin.must1 | Pin.EXT_INT_EXITING);
    v.write(Field.PROC_BASED_CTLS, CAPS.trueProc.must1);
    v.write(Field.VM_EXIT_CTLS, CAPS.trueExit.must1 | ExitCtl.SAVE_IA32_EFER);
    v.write(Field.VM_ENTRY_CTLS, CAPS.trueEntry.must1 | EntryCtl.LOAD_IA32_EFER);
    v.write(Field.VMCS_LINK_POINTER, 0xffffffff);
    v.write(Field.VMCS_LINK_POINTER | 1, 0xffffffff);
    v.write(Field.HOST_CR0, 0x80000031);
    v.write(Field.HOST_CR3, this.area);
    v.write(Field.HOST_CR4, Cr4.VMXE | 0x10);
    v.write(Field.HOST_CS_SELECTOR, 0x08);
    for (const f of [Field.HOST_SS_SELECTOR, Field.HOST_DS_SELECTOR, Field.HOST_ES_SELECTOR]) v.write(f, 0x10);
    v.write(Field.HOST_TR_SELECTOR, 0x18);
    // Guest segments start unusable but for CS/SS/TR, which entry requires; the kernel and the
    // VMM's STARTUP reply set the real state.
    v.write(Field.GUEST_LDTR_AR, 0x10000);
    for (const f of [Field.GUEST_ES_AR, Field.GUEST_DS_AR, Field.GUEST_FS_AR, Field.GUEST_GS_AR]) v.write(f, 0x10000);
    v.write(Field.GUEST_RFLAGS, 0x2);
    v.write(Field.GUEST_DR7, 0x400);
  }

  vcpuDestroy(id: number): void {
    const v = this.s.vcpus[id];
    if (!v) return;
    if (this.s.live === id) this.suspend();
    this.vmx.vmclear(v.vmcs);
    delete this.s.vcpus[id];
  }

  /** The guest in the CPU leaves it (its state to its VMCS and slot). */
  private suspend(): void {
    const id = this.s.live;
    if (id < 0) return;
    const slot = this.slot(id);
    this.vmx.suspend();
    this.saveGprs(slot);
    this.s.live = -1;
  }

  private saveGprs(slot: VcpuSlot): void {
    const cpu = this.pc.cpu;
    for (const r of GPRS) slot.gprs[r] = cpu.r32[r] >>> 0;
    slot.cr2 = cpu.cr2 >>> 0;
    slot.dr6 = cpu.dr[6] >>> 0;
  }

  runVcpu(run: VcpuRun, untilNs: number): VcpuExit | null {
    const pc = this.pc, cpu = pc.cpu, x = this.vmx, s = this.s;
    if (s.live !== run.id) {
      this.suspend();
      const slot = this.slot(run.id);
      x.vmcs.write(Field.EPT_POINTER, makeEptp(run.eptRoot));
      x.vmcs.write(Field.EPT_POINTER | 1, 0);
      if (run.ioBitmaps.length === 2) {
        x.vmcs.write(Field.IO_BITMAP_A, run.ioBitmaps[0]);
        x.vmcs.write(Field.IO_BITMAP_A | 1, 0);
        x.vmcs.write(Field.IO_BITMAP_B, run.ioBitmaps[1]);
        x.vmcs.write(Field.IO_BITMAP_B | 1, 0);
      }
      for (const r of GPRS) cpu.r32[r] = slot.gprs[r];
      cpu.cr2 = slot.cr2;
      cpu.dr[6] = slot.dr6 | 0;
      const r = x.vmcs.launched ? x.resume() : x.launch();
      if (r === VmxResult.EXITED || r === VmxResult.ENTRY_FAILED) return this.exited(slot);
      if (r !== VmxResult.SUCCEED) {
        throw new Error(`platform: VM entry of VCPU ${run.id} failed with VM-instruction error ${r}`);
      }
      s.live = run.id;
    }
    const host = this.host;
    for (;;) {
      const now = pc.nowNs();
      if (now >= untilNs) return null;
      const left = host.insnLimit - cpu.icount;
      if (left <= 0) {
        host.stopped = Stop.BUDGET;
        return null;
      }
      const toEvent = Math.ceil((Math.min(untilNs, pc.nextEventNs()) - now) / NS_PER_INSN);
      const stop = cpu.run(Math.max(1, Math.min(MAX_SLICE, left, toEvent)));
      pc.advanceChips();
      host.onSlice?.();
      switch (stop) {
        case Stop.BUDGET:
          continue;
        case Stop.VMEXIT:
          s.live = -1;
          return this.exited(this.slot(run.id));
        case Stop.HALT: {
          // HLT without HLT exiting: the guest waits in the CPU; any interrupt exits it.
          if (cpu.intr) continue;
          const wake = Math.min(pc.nextEventNs(), untilNs);
          if (wake > pc.nowNs()) pc.passTime(wake - pc.nowNs());
          pc.advanceChips();
          continue;
        }
        case Stop.REQUEST:
          host.stopped = Stop.REQUEST;
          return null;
        case Stop.EXCEPTION:
          // A loop of faults in the guest (the CPU's FAULT_LOOP): it has ended, as on the bare PC.
          if (!cpu.faultLoop) throw new Error(`platform: the CPU stopped in a guest with stop code ${stop}`);
          host.stopped = Stop.EXCEPTION;
          return null;
        default:
          throw new Error(`platform: the CPU stopped in a guest with stop code ${stop}`);
      }
    }
  }

  /** The exit in the current VMCS, as the kernel wants it. */
  private exited(slot: VcpuSlot): VcpuExit {
    this.saveGprs(slot);
    const v = this.vmx.vmcs;
    const x = this.exit;
    x.reason = v.read(Field.VM_EXIT_REASON) & 0xffff;
    x.qualification = v.read(Field.EXIT_QUALIFICATION) >>> 0;
    x.instructionLength = v.read(Field.VM_EXIT_INSTRUCTION_LEN);
    x.guestLinear = v.read(Field.GUEST_LINEAR_ADDRESS) >>> 0;
    x.guestPhysical = v.read(Field.GUEST_PHYSICAL_ADDRESS) >>> 0;
    return x;
  }

  guestRead(id: number, field: Gf): number {
    if (this.s.live === id) this.suspend();
    const slot = this.slot(id);
    const r = GPR_REG[field];
    if (r !== undefined) return slot.gprs[r];
    const w = VMCS_WORD[field];
    if (w >= 0) return this.vmx.vmcs.f[w];
    const v = this.vmx.vmcs;
    switch (field) {
      case GuestField.CR2: return slot.cr2;
      case GuestField.DR6: return slot.dr6;
      case GuestField.RETIRED: return 0;
      case GuestField.PROC_CTLS: return v.read(Field.PROC_BASED_CTLS) >>> 0;
      case GuestField.PROC_CTLS2: return v.read(Field.PROC_BASED_CTLS2) >>> 0;
      case GuestField.INTR_WINDOW: return (v.read(Field.PROC_BASED_CTLS) & Proc.INTR_WINDOW_EXITING) !== 0 ? 1 : 0;
    }
    throw new Error(`platform: no VMCS field for guest field ${field}`);
  }

  guestWrite(id: number, field: Gf, value: number): void {
    if (this.s.live === id) this.suspend();
    const slot = this.slot(id);
    value >>>= 0;
    const r = GPR_REG[field];
    if (r !== undefined) {
      slot.gprs[r] = value;
      return;
    }
    const v = this.vmx.vmcs;
    switch (field) {
      case GuestField.CR2:
        slot.cr2 = value;
        return;
      case GuestField.DR6:
        slot.dr6 = value;
        return;
      case GuestField.RETIRED:
        // Instructions the VMM completed for the guest retire as those the CPU runs do: the
        // instruction count, and with it the clock, moves by them.
        this.pc.cpu.icount += value;
        return;
      case GuestField.PROC_CTLS: {
        // The VMM chooses its exits; the bits the CPU requires, and the interrupt window (the
        // kernel's INTR_WINDOW word), are kept.
        const window = v.read(Field.PROC_BASED_CTLS) & Proc.INTR_WINDOW_EXITING;
        v.write(Field.PROC_BASED_CTLS, (((value & ~Proc.INTR_WINDOW_EXITING) | window | CAPS.trueProc.must1) & CAPS.trueProc.may1) >>> 0);
        return;
      }
      case GuestField.PROC_CTLS2:
        v.write(Field.PROC_BASED_CTLS2, (value & CAPS.proc2.may1) >>> 0);
        return;
      case GuestField.INTR_WINDOW: {
        const p = v.read(Field.PROC_BASED_CTLS);
        v.write(Field.PROC_BASED_CTLS, (value !== 0 ? p | Proc.INTR_WINDOW_EXITING : p & ~Proc.INTR_WINDOW_EXITING) >>> 0);
        return;
      }
      case GuestField.GUEST_LINEAR:
      case GuestField.GUEST_PHYSICAL:
      case GuestField.EXIT_INTR_INFO:
      case GuestField.EXIT_INTR_ERROR:
      case GuestField.IDT_VECTORING_INFO:
      case GuestField.IDT_VECTORING_ERROR:
        return; // exit information is read-only
    }
    const enc = VMCS_FIELD[field];
    if (enc === undefined) throw new Error(`platform: no VMCS field for guest field ${field}`);
    v.write(enc, value);
  }

  invalidateEpt(): void {
    this.vmx.invept();
  }
}
