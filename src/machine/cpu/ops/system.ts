// System-level instructions of the integer core: IN/OUT with the I/O permission check, CLI/STI,
// HLT, CPUID, RDTSC, MOV to/from segment registers, LDS/LES/LFS/LGS/LSS, UD2, WAIT, and the LOCK
// prefix rule (SDM vol. 2, each instruction; vol. 3, 19.5 for I/O protection).

import { Flag } from "../../../x86/eflags.js";
import { Reg, Seg, type Insn } from "../../../x86/insn.js";
import { type Cpu } from "../cpu.js";
import { Stop } from "../arch.js";
import { Vec } from "../../../x86/vectors.js";
import { cpuidLeaf } from "../../../x86/cpuid.js";
import { loadSeg, v86, v86Sensitive } from "../segments.js";
import { sysRd16 } from "../sysmem.js";
import { def } from "../table.js";
import { vmxAlways, vmxIo, vmxProc, vmxTsc } from "../vmx.js";
import { ExitReason, Proc } from "../../../vmx/index.js";
import { inhibitInterrupts, stackSwitchShadow } from "./stack.js";

// ------------------------------------------------------------------------------------------------
// I/O protection

/**
 * The I/O permission check (SDM vol. 3, 19.5.2): in protected mode with CPL > IOPL, or in
 * virtual-8086 mode, every bit for ports `port`..`port+size-1` in the 32-bit TSS's I/O bitmap must
 * be clear, else #GP(0). A 16-bit TSS has no bitmap, so access is denied.
 */
export function checkIo(cpu: Cpu, port: number, size: number): void {
  if (!cpu.protectedMode()) return;
  if (!v86(cpu) && cpu.cpl <= ((cpu.flags >>> 12) & 3)) return;
  if ((cpu.trAttr & 0x8) === 0 || cpu.trLimit >>> 0 < 0x67) cpu.gp(0);
  // The TSS is read with supervisor rights whatever the CPL.
  const mapBase = sysRd16(cpu, (cpu.trBase + 0x66) | 0);
  const at = mapBase + (port >>> 3);
  if (at + 1 > cpu.trLimit >>> 0) cpu.gp(0);
  const bits = sysRd16(cpu, (cpu.trBase + at) | 0);
  const mask = ((1 << size) - 1) << (port & 7);
  if ((bits & mask) !== 0) cpu.gp(0);
}

// ------------------------------------------------------------------------------------------------
// CPUID

/** CPUID: the model's leaves (src/x86/cpuid.ts). */
export function cpuid(cpu: Cpu): void {
  const [a, b, c, d] = cpuidLeaf(cpu.model, cpu.r32[Reg.EAX]);
  cpu.r32[Reg.EAX] = a;
  cpu.r32[Reg.EBX] = b;
  cpu.r32[Reg.ECX] = c;
  cpu.r32[Reg.EDX] = d;
}

// ------------------------------------------------------------------------------------------------

/** Privileged at CPL > 0 in protected mode (and in virtual-8086 mode, whose CPL is 3). */
function requireCpl0(cpu: Cpu): void {
  if (cpu.protectedMode() && (cpu.cpl > 0 || v86(cpu))) cpu.gp(0);
}

/** CLI/STI need CPL ≤ IOPL in protected mode, IOPL 3 in virtual-8086 mode (this CPU has no PVI or VME). */
function checkIopl(cpu: Cpu): void {
  if (!cpu.protectedMode()) return;
  if (v86(cpu)) return v86Sensitive(cpu);
  if (cpu.cpl > ((cpu.flags >>> 12) & 3)) cpu.gp(0);
}

/** LDS/LES/LFS/LGS/LSS: loads the segment register first (it may fault), then the offset. */
function loadFar(cpu: Cpu, i: Insn, seg: number, size32: boolean): void {
  if (i.mod === 3) cpu.raise(Vec.UD);
  const ea = cpu.ea(i);
  const off = size32 ? cpu.read32(i.seg, ea) : cpu.read16(i.seg, ea);
  const selAt = i.adsize === 32 ? (ea + (size32 ? 4 : 2)) | 0 : (ea + (size32 ? 4 : 2)) & 0xffff;
  const sel = cpu.read16(i.seg, selAt);
  loadSeg(cpu, seg, sel);
  if (size32) cpu.r32[i.reg] = off;
  else cpu.setReg16(i.reg, off);
  // Unlike MOV SS and POP SS, LSS does not inhibit interrupts (SDM vol. 3, 6.8.3).
}

function register(): void {
  // IN / OUT with an immediate port (E4–E7) or DX (EC–EF).
  const inb = (cpu: Cpu, port: number, imm = false): void => {
    checkIo(cpu, port, 1);
    if (cpu.nonRoot && vmxIo(cpu, port, 1, true, imm)) return;
    cpu.r8[0] = cpu.io.in8(port);
  };
  const inw = (cpu: Cpu, port: number, imm = false): void => {
    checkIo(cpu, port, 2);
    if (cpu.nonRoot && vmxIo(cpu, port, 2, true, imm)) return;
    cpu.r16[0] = cpu.io.in16(port);
  };
  const ind = (cpu: Cpu, port: number, imm = false): void => {
    checkIo(cpu, port, 4);
    if (cpu.nonRoot && vmxIo(cpu, port, 4, true, imm)) return;
    cpu.r32[0] = cpu.io.in32(port);
  };
  const outb = (cpu: Cpu, port: number, imm = false): void => {
    checkIo(cpu, port, 1);
    if (cpu.nonRoot && vmxIo(cpu, port, 1, false, imm)) return;
    cpu.io.out8(port, cpu.r8[0]);
  };
  const outw = (cpu: Cpu, port: number, imm = false): void => {
    checkIo(cpu, port, 2);
    if (cpu.nonRoot && vmxIo(cpu, port, 2, false, imm)) return;
    cpu.io.out16(port, cpu.r16[0]);
  };
  const outd = (cpu: Cpu, port: number, imm = false): void => {
    checkIo(cpu, port, 4);
    if (cpu.nonRoot && vmxIo(cpu, port, 4, false, imm)) return;
    cpu.io.out32(port, cpu.r32[0]);
  };
  def(0xe4, (cpu, i) => inb(cpu, i.imm & 0xff, true));
  def(0xe5, (cpu, i) => inw(cpu, i.imm & 0xff, true), (cpu, i) => ind(cpu, i.imm & 0xff, true));
  def(0xe6, (cpu, i) => outb(cpu, i.imm & 0xff, true));
  def(0xe7, (cpu, i) => outw(cpu, i.imm & 0xff, true), (cpu, i) => outd(cpu, i.imm & 0xff, true));
  def(0xec, (cpu) => inb(cpu, cpu.r16[Reg.EDX << 1]));
  def(0xed, (cpu) => inw(cpu, cpu.r16[Reg.EDX << 1]), (cpu) => ind(cpu, cpu.r16[Reg.EDX << 1]));
  def(0xee, (cpu) => outb(cpu, cpu.r16[Reg.EDX << 1]));
  def(0xef, (cpu) => outw(cpu, cpu.r16[Reg.EDX << 1]), (cpu) => outd(cpu, cpu.r16[Reg.EDX << 1]));

  // CLI / STI. STI that sets IF delays interrupts until after the next instruction.
  def(0xfa, (cpu) => {
    checkIopl(cpu);
    cpu.flags &= ~Flag.IF;
  });
  def(0xfb, (cpu) => {
    checkIopl(cpu);
    if ((cpu.flags & Flag.IF) === 0) inhibitInterrupts(cpu);
    cpu.flags |= Flag.IF;
  });

  // HLT: privileged; the machine decides what wakes the CPU.
  def(0xf4, (cpu) => {
    requireCpl0(cpu);
    if (cpu.nonRoot && vmxProc(cpu, Proc.HLT_EXITING, ExitReason.HLT)) return;
    cpu.halted = true;
    cpu.requestStop(Stop.HALT);
  });

  // CPUID, RDTSC
  def(0x1a2, (cpu) => {
    if (cpu.nonRoot && vmxAlways(cpu, ExitReason.CPUID)) return;
    cpuid(cpu);
  });
  def(0x131, (cpu) => {
    if ((cpu.cr4 & 4) !== 0) requireCpl0(cpu); // CR4.TSD
    if (!cpu.nonRoot) return cpu.rdtsc();
    if (vmxProc(cpu, Proc.RDTSC_EXITING, ExitReason.RDTSC)) return;
    const t = vmxTsc(cpu, cpu.tsc());
    cpu.r32[Reg.EAX] = Number(t & 0xffffffffn) | 0;
    cpu.r32[Reg.EDX] = Number(t >> 32n) | 0;
  });

  // RDPMC: the P6's two performance counters (ECX 0 and 1), which count nothing here and read as
  // zero; outside ring 0 only with CR4.PCE.
  def(0x133, (cpu) => {
    if ((cpu.cr4 & 0x100) === 0) requireCpl0(cpu);
    if (cpu.r32[Reg.ECX] >>> 0 > 1) cpu.gp(0);
    cpu.r32[Reg.EAX] = 0;
    cpu.r32[Reg.EDX] = 0;
  });

  // MOV Ev, Sreg: to a register with a 32-bit operand the upper half is zeroed (P6 family); to
  // memory it is always a word.
  def(0x8c, (cpu, i) => {
    if (i.reg > 5) cpu.raise(Vec.UD);
    cpu.writeE16(i, cpu.segSel[i.reg]);
  }, (cpu, i) => {
    if (i.reg > 5) cpu.raise(Vec.UD);
    if (i.mod === 3) cpu.r32[i.rm] = cpu.segSel[i.reg];
    else cpu.writeE16(i, cpu.segSel[i.reg]);
  });
  // MOV Sreg, Ew: CS is not a valid destination. MOV SS delays interrupts and debug traps one
  // instruction.
  def(0x8e, (cpu, i) => {
    if (i.reg === Seg.CS || i.reg > 5) cpu.raise(Vec.UD);
    loadSeg(cpu, i.reg, cpu.readE16(i));
    if (i.reg === Seg.SS) stackSwitchShadow(cpu);
  });

  // LES, LDS, LSS, LFS, LGS
  for (const [op, seg] of [[0xc4, Seg.ES], [0xc5, Seg.DS], [0x1b2, Seg.SS], [0x1b4, Seg.FS], [0x1b5, Seg.GS]] as const) {
    def(op, (cpu, i) => loadFar(cpu, i, seg, false), (cpu, i) => loadFar(cpu, i, seg, true));
  }

  // UD2 (WAIT/FWAIT is with the x87 instructions).
  def(0x10b, (cpu) => cpu.raise(Vec.UD));
}

register();
