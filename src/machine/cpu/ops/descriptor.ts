// Instructions that inspect or load descriptors by selector: ARPL, LAR, LSL, VERR, VERW, and the
// 0F 00 group's SLDT, STR, LLDT, LTR. All are protected-mode only (#UD in real mode). The
// inspecting ones never fault on a bad selector: they answer through ZF.

import { Flag } from "../../../x86/eflags.js";
import type { Insn } from "../../../x86/insn.js";
import { type Cpu } from "../cpu.js";
import { SegAttr } from "../arch.js";
import { Vec } from "../../../x86/vectors.js";
import { desc, dplOf, readDescriptor, selCode } from "../segments.js";
import { sysWr8 } from "../sysmem.js";
import { def, defGroup } from "../table.js";

/** System descriptor types (SDM vol. 3, table 3-2). */
const enum SysType {
  TSS16_AVAIL = 1, LDT = 2, TSS16_BUSY = 3, TSS32_AVAIL = 9, TSS32_BUSY = 11,
}

/** System types LAR reports (gates and TSSs, not interrupt/trap gates). */
const LAR_SYSTEM = (1 << 1) | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 9) | (1 << 11) | (1 << 12);
/** System types LSL reports (those with a limit: TSSs and LDTs). */
const LSL_SYSTEM = (1 << 1) | (1 << 2) | (1 << 3) | (1 << 9) | (1 << 11);

function protectedOnly(cpu: Cpu): void {
  if (!cpu.protectedMode() || (cpu.flags & Flag.VM) !== 0) cpu.raise(Vec.UD);
}

function setZF(cpu: Cpu, on: boolean): void {
  cpu.setFlagBits(on ? Flag.ZF : 0, Flag.ZF);
}

/**
 * Reads the descriptor for `sel` and tells whether the current privilege may see it: present in
 * its table, not null, of a type in `systemTypes` if it is a system descriptor, and (unless it
 * is conforming code) with DPL ≥ CPL and DPL ≥ RPL.
 */
function visible(cpu: Cpu, sel: number, systemTypes: number): boolean {
  if ((sel & 0xfffc) === 0 || !readDescriptor(cpu, sel)) return false;
  const a = desc.attr;
  if ((a & SegAttr.S) === 0) {
    if (((systemTypes >>> (a & 0xf)) & 1) === 0) return false;
  } else if ((a & (SegAttr.CODE | SegAttr.DC)) === (SegAttr.CODE | SegAttr.DC)) {
    return true;
  }
  const dpl = dplOf(a);
  return dpl >= cpu.cpl && dpl >= (sel & 3);
}

/** VERR/VERW: readable (or writable) from the current privilege level and the selector's RPL. */
function verify(cpu: Cpu, i: Insn, write: boolean): void {
  protectedOnly(cpu);
  const sel = cpu.readE16(i);
  let ok = visible(cpu, sel, 0) && (desc.attr & SegAttr.S) !== 0;
  if (ok) {
    const code = (desc.attr & SegAttr.CODE) !== 0;
    ok = write ? !code && (desc.attr & SegAttr.RW) !== 0 : !code || (desc.attr & SegAttr.RW) !== 0;
  }
  setZF(cpu, ok);
}

function requireCpl0(cpu: Cpu): void {
  if (cpu.cpl !== 0) cpu.gp(0);
}

/** LLDT: a GDT selector naming a present LDT descriptor, or null to disable the LDT. */
function lldt(cpu: Cpu, i: Insn): void {
  protectedOnly(cpu);
  requireCpl0(cpu);
  const sel = cpu.readE16(i);
  if ((sel & 0xfffc) === 0) {
    cpu.ldtrSel = sel;
    cpu.ldtrBase = 0;
    cpu.ldtrLimit = 0;
    return;
  }
  if ((sel & 4) !== 0 || !readDescriptor(cpu, sel)) cpu.gp(selCode(sel));
  if ((desc.attr & SegAttr.S) !== 0 || (desc.attr & 0xf) !== SysType.LDT) cpu.gp(selCode(sel));
  if ((desc.attr & SegAttr.P) === 0) cpu.raise(Vec.NP, selCode(sel));
  cpu.ldtrSel = sel;
  cpu.ldtrBase = desc.base;
  cpu.ldtrLimit = desc.limit;
}

/** LTR: a GDT selector naming an available TSS, which becomes busy. */
function ltr(cpu: Cpu, i: Insn): void {
  protectedOnly(cpu);
  requireCpl0(cpu);
  const sel = cpu.readE16(i);
  if ((sel & 0xfffc) === 0 || (sel & 4) !== 0 || !readDescriptor(cpu, sel)) cpu.gp(selCode(sel));
  const type = desc.attr & 0xf;
  if ((desc.attr & SegAttr.S) !== 0 || (type !== SysType.TSS16_AVAIL && type !== SysType.TSS32_AVAIL)) cpu.gp(selCode(sel));
  if ((desc.attr & SegAttr.P) === 0) cpu.raise(Vec.NP, selCode(sel));
  sysWr8(cpu, (desc.addr + 5) | 0, ((desc.hi >>> 8) & 0xff) | 2); // busy
  cpu.trSel = sel;
  cpu.trBase = desc.base;
  cpu.trLimit = desc.limit;
  cpu.trAttr = desc.attr | 2;
}

/** SLDT/STR: the selector, zero-extended into a 32-bit register, a word into memory. */
function storeSelector(cpu: Cpu, i: Insn, sel: number): void {
  protectedOnly(cpu);
  if (i.mod === 3 && i.opsize === 32) cpu.r32[i.rm] = sel;
  else cpu.writeE16(i, sel);
}

function register(): void {
  defGroup(0x100, 0, (cpu, i) => storeSelector(cpu, i, cpu.ldtrSel));
  defGroup(0x100, 1, (cpu, i) => storeSelector(cpu, i, cpu.trSel));
  defGroup(0x100, 2, lldt);
  defGroup(0x100, 3, ltr);
  defGroup(0x100, 4, (cpu, i) => verify(cpu, i, false));
  defGroup(0x100, 5, (cpu, i) => verify(cpu, i, true));

  // LAR Gv,Ew: the access-rights bytes of the descriptor, masked as the SDM shows.
  def(0x102, (cpu, i) => {
    protectedOnly(cpu);
    const ok = visible(cpu, cpu.readE16(i), LAR_SYSTEM);
    if (ok) cpu.setReg16(i.reg, desc.hi & 0xff00);
    setZF(cpu, ok);
  }, (cpu, i) => {
    protectedOnly(cpu);
    const ok = visible(cpu, cpu.readE16(i), LAR_SYSTEM);
    if (ok) cpu.r32[i.reg] = desc.hi & 0x00ffff00;
    setZF(cpu, ok);
  });

  // LSL Gv,Ew: the segment limit in bytes.
  def(0x103, (cpu, i) => {
    protectedOnly(cpu);
    const ok = visible(cpu, cpu.readE16(i), LSL_SYSTEM);
    if (ok) cpu.setReg16(i.reg, desc.limit & 0xffff);
    setZF(cpu, ok);
  }, (cpu, i) => {
    protectedOnly(cpu);
    const ok = visible(cpu, cpu.readE16(i), LSL_SYSTEM);
    if (ok) cpu.r32[i.reg] = desc.limit;
    setZF(cpu, ok);
  });

  // ARPL Ew,Gw: raise the destination selector's RPL to the source's.
  def(0x63, (cpu, i) => {
    protectedOnly(cpu);
    const src = cpu.reg16(i.reg);
    if (i.mod === 3) {
      const dst = cpu.reg16(i.rm);
      const raise = (dst & 3) < (src & 3);
      if (raise) cpu.setReg16(i.rm, (dst & ~3) | (src & 3));
      setZF(cpu, raise);
      return;
    }
    // The destination is written only when its RPL changes (SDM ARPL Operation; the 386 does
    // not fault on a read-only segment or page otherwise).
    const off = cpu.ea(i);
    const dst = cpu.read16(i.seg, off);
    const raise = (dst & 3) < (src & 3);
    if (raise) cpu.write16(i.seg, off, (dst & ~3) | (src & 3));
    setZF(cpu, raise);
  });
}

register();
