// Control transfer: Jcc, JMP, CALL, RET, RETF, LOOP/LOOPcc, JCXZ/JECXZ, ENTER/LEAVE, INT n, INT3,
// INTO, IRET and BOUND (SDM vol. 2, each instruction's Operation section).
//
// Every transfer computes its target first, checks it against the CS limit (#GP(0), with EIP left
// at the instruction), and only then pushes or commits, so that a fault leaves the state as it was.
// Near targets with a 16-bit operand size are truncated to 16 bits.

import { Flag } from "../../../x86/eflags.js";
import { Reg, Seg, type Insn } from "../../../x86/insn.js";
import { type Cpu } from "../cpu.js";
import { SegAttr, Stop } from "../arch.js";
import { Vec } from "../../../x86/vectors.js";
import {
  checkFarCode, checkReturnCode, checkReturnStack, desc, dplOf, dropInaccessibleSegs, inSegment, loadCsFromDesc,
  loadCsReal, loadSegV86, loadSsFromDesc, markAccessed, readDescriptor, selCode, v86, v86Sensitive,
} from "../segments.js";
import { Dr6 } from "../../../x86/debugregs.js";
import { sysRd16, sysRd32 } from "../sysmem.js";
import { isAvailableTss, isBusyTss, switchTask } from "../task.js";
import { deliveredInstead } from "../interrupts.js";
import { TaskSource } from "../../../vmx/exits.js";
import { def, defGroup } from "../table.js";

/** Sets EIP to `target` (already truncated to the operand size) after the CS limit check. */
export function branch(cpu: Cpu, target: number): void {
  if ((cpu.segFast[Seg.CS] & 1) === 0 && target >>> 0 > cpu.segLimit[Seg.CS]) cpu.gp(0);
  cpu.eip = target;
}

function checkTarget(cpu: Cpu, target: number): void {
  if ((cpu.segFast[Seg.CS] & 1) === 0 && target >>> 0 > cpu.segLimit[Seg.CS]) cpu.gp(0);
}

// ------------------------------------------------------------------------------------------------
// Software interrupts

/**
 * INT n, INT3, INTO: with `trapExceptions` the CPU stops with EIP after the instruction (a trap, as
 * a debugger sees it); otherwise the event is delivered through the IVT/IDT.
 */
export function softwareInterrupt(cpu: Cpu, vector: number): void {
  // The handler is entered with TF clear and no single-step trap after INT n; it comes after IRET.
  cpu.dbgTrap &= ~Dr6.BS;
  if (cpu.trapExceptions) {
    cpu.excVector = vector;
    cpu.excCode = -1;
    cpu.requestStop(Stop.EXCEPTION);
    return;
  }
  const ok = cpu.interrupts.deliver(cpu, vector, -1, true);
  if (ok && !deliveredInstead()) return;
  // The instruction did not complete: its delivery raised a fault, delivered in its place with a
  // frame that returns to the INT n, or it ended the run (a shutdown, or in a VM an exit that the
  // VMM finishes). The count the run loop makes as this handler returns is taken back here
  // (src/vmm/README.md, "Retired instructions").
  cpu.icount--;
  if (!ok) cpu.requestStop(cpu.stopReason);
}

// ------------------------------------------------------------------------------------------------
// Far transfers

/**
 * A protected-mode far JMP or CALL to a TSS or a task gate (SDM JMP/CALL Operation,
 * TASK-STATE-SEGMENT and TASK-GATE): switches tasks and returns true. False when `sel` names
 * something else, which the caller checks as a code segment.
 */
function farTask(cpu: Cpu, sel: number, source: TaskSource): boolean {
  if ((sel & 0xfffc) === 0 || !readDescriptor(cpu, sel)) return false;
  let a = desc.attr;
  const type = a & 0x1f; // S included
  if (type === 0x05) {
    // Task gate: its DPL against CPL and RPL, then the TSS it names, in the GDT.
    if (dplOf(a) < cpu.cpl || dplOf(a) < (sel & 3)) cpu.gp(selCode(sel));
    if ((a & SegAttr.P) === 0) cpu.raise(Vec.NP, selCode(sel));
    const tss = desc.lo >>> 16;
    if ((tss & 4) !== 0 || !readDescriptor(cpu, tss)) cpu.gp(selCode(tss));
    a = desc.attr;
    if (!isAvailableTss(a)) cpu.gp(selCode(tss));
    if ((a & SegAttr.P) === 0) cpu.raise(Vec.NP, selCode(tss));
    switchTask(cpu, tss, source, 0);
  } else if (isAvailableTss(a)) {
    if (dplOf(a) < cpu.cpl || dplOf(a) < (sel & 3)) cpu.gp(selCode(sel));
    if ((a & SegAttr.P) === 0) cpu.raise(Vec.NP, selCode(sel));
    // A TSS descriptor counts only in the GDT: one found through the LDT is #GP(selector).
    if ((sel & 4) !== 0) cpu.gp(selCode(sel));
    switchTask(cpu, sel, source, 0);
  } else {
    return false;
  }
  // The new task's EIP must lie in its code segment (#GP(0) in the new task).
  checkTarget(cpu, cpu.eip);
  return true;
}

/**
 * A protected-mode far CALL or JMP through a call gate (SDM CALL Operation, CALL-GATE): to the
 * gate's code segment and offset; a CALL to a more privileged non-conforming segment switches to
 * the TSS's stack for that level and copies the gate's parameter count of words or doublewords.
 * Returns false when `sel` does not name a call gate.
 */
function farCallGate(cpu: Cpu, sel: number, call: boolean): boolean {
  if ((sel & 0xfffc) === 0 || !readDescriptor(cpu, sel)) return false;
  const ga = desc.attr;
  const gtype = ga & 0x1f;
  if (gtype !== 0x04 && gtype !== 0x0c) return false;
  if (dplOf(ga) < cpu.cpl || dplOf(ga) < (sel & 3)) cpu.gp(selCode(sel));
  if ((ga & SegAttr.P) === 0) cpu.raise(Vec.NP, selCode(sel));
  const gate32 = gtype === 0x0c;
  const lo = desc.lo, hi = desc.hi;
  const target = lo >>> 16;
  const off = gate32 ? (hi & 0xffff0000) | (lo & 0xffff) : lo & 0xffff;
  const params = hi & 0x1f;
  if ((target & 0xfffc) === 0) cpu.gp(0);
  if (!readDescriptor(cpu, target)) cpu.gp(selCode(target));
  const a = desc.attr, dpl = dplOf(a);
  const conforming = (a & SegAttr.DC) !== 0;
  if ((a & (SegAttr.S | SegAttr.CODE)) !== (SegAttr.S | SegAttr.CODE) || dpl > cpu.cpl) cpu.gp(selCode(target));
  if (!call && !conforming && dpl !== cpu.cpl) cpu.gp(selCode(target));
  if ((a & SegAttr.P) === 0) cpu.raise(Vec.NP, selCode(target));
  if (off >>> 0 > desc.limit) cpu.gp(0);
  const csBase = desc.base, csLimit = desc.limit, csAttr = desc.attr, csAddr = desc.addr, csHi = desc.hi;
  const oldCs = cpu.segSel[Seg.CS], oldEip = cpu.eip;
  const n = gate32 ? 4 : 2;
  if (!call || conforming || dpl === cpu.cpl) {
    if (call) {
      const sp1 = cpu.spPlus(-n), sp2 = cpu.spPlus(-2 * n);
      if (gate32) { cpu.write32(Seg.SS, sp1, oldCs); cpu.write32(Seg.SS, sp2, oldEip); }
      else { cpu.write16(Seg.SS, sp1, oldCs); cpu.write16(Seg.SS, sp2, oldEip); }
      cpu.setSp(sp2);
    }
    restoreDesc(csBase, csLimit, csAttr, csAddr, csHi);
    loadCsFromDesc(cpu, target, cpu.cpl);
    cpu.eip = off;
    return true;
  }
  // More privilege: the inner stack from the TSS, then the caller's SS:ESP, parameters, CS:EIP.
  const tss32 = (cpu.trAttr & 0x8) !== 0;
  const slot = tss32 ? 4 + dpl * 8 : 2 + dpl * 4;
  if (slot + (tss32 ? 5 : 3) > cpu.trLimit >>> 0) cpu.raise(Vec.TS, selCode(cpu.trSel));
  const newEsp = tss32 ? sysRd32(cpu, (cpu.trBase + slot) | 0) : sysRd16(cpu, (cpu.trBase + slot) | 0);
  const newSs = sysRd16(cpu, (cpu.trBase + slot + (tss32 ? 4 : 2)) | 0);
  if ((newSs & 0xfffc) === 0) cpu.raise(Vec.TS, 0);
  if (!readDescriptor(cpu, newSs)) cpu.raise(Vec.TS, selCode(newSs));
  const sa = desc.attr;
  if ((newSs & 3) !== dpl || dplOf(sa) !== dpl ||
    (sa & (SegAttr.S | SegAttr.CODE | SegAttr.RW)) !== (SegAttr.S | SegAttr.RW)) cpu.raise(Vec.TS, selCode(newSs));
  if ((sa & SegAttr.P) === 0) cpu.raise(Vec.SS, selCode(newSs));
  const ss32 = (sa & SegAttr.DB) !== 0;
  const frame = n * (4 + params);
  const top = ss32 ? newEsp : newEsp & 0xffff;
  if (!inSegment(sa, desc.limit, ss32 ? (top - frame) | 0 : (top - frame) & 0xffff, frame)) cpu.raise(Vec.SS, selCode(newSs));
  // Read the parameters from the caller's stack before anything changes.
  const oldSs = cpu.segSel[Seg.SS], oldEsp = cpu.r32[Reg.ESP], oldSp = cpu.sp();
  for (let k = 0; k < params; k++) {
    const at = cpu.stack32 ? (oldSp + n * k) | 0 : (oldSp + n * k) & 0xffff;
    paramScratch[k] = gate32 ? cpu.read32(Seg.SS, at) : cpu.read16(Seg.SS, at);
  }
  markAccessed(cpu);
  const oldCpl = cpu.cpl;
  const o = [cpu.segBase[Seg.SS], cpu.segLimit[Seg.SS], cpu.segAttr[Seg.SS]];
  cpu.cpl = dpl;
  cpu.setSegCache(Seg.SS, newSs, desc.base, desc.limit, desc.attr | SegAttr.ACCESSED);
  if (ss32) cpu.r32[Reg.ESP] = newEsp;
  else cpu.setReg16(Reg.ESP, newEsp);
  try {
    if (gate32) { cpu.push32(oldSs); cpu.push32(oldEsp); }
    else { cpu.push16(oldSs); cpu.push16(oldEsp); }
    for (let k = params - 1; k >= 0; k--) {
      if (gate32) cpu.push32(paramScratch[k]);
      else cpu.push16(paramScratch[k]);
    }
    if (gate32) { cpu.push32(oldCs); cpu.push32(oldEip); }
    else { cpu.push16(oldCs); cpu.push16(oldEip); }
  } catch (e) {
    // A page fault on the inner stack: the call never happened.
    cpu.cpl = oldCpl;
    cpu.setSegCache(Seg.SS, oldSs, o[0], o[1], o[2]);
    cpu.r32[Reg.ESP] = oldEsp;
    throw e;
  }
  restoreDesc(csBase, csLimit, csAttr, csAddr, csHi);
  loadCsFromDesc(cpu, target, dpl);
  cpu.eip = off;
  return true;
}
const paramScratch = new Int32Array(32);

/** JMP far: real mode loads CS directly; protected mode to a code segment at the same level, or a task. */
export function jmpFar(cpu: Cpu, sel: number, off: number): void {
  if (!cpu.protectedMode() || v86(cpu)) {
    checkTarget(cpu, off);
    loadCsReal(cpu, sel);
    cpu.eip = off;
    return;
  }
  if (farTask(cpu, sel, TaskSource.JMP) || farCallGate(cpu, sel, false)) return;
  checkFarCode(cpu, sel);
  if (off >>> 0 > desc.limit) cpu.gp(0);
  loadCsFromDesc(cpu, sel, cpu.cpl);
  cpu.eip = off;
}

/** CALL far: pushes CS and (E)IP with the operand size, then transfers like JMP far. */
export function callFar(cpu: Cpu, sel: number, off: number, size32: boolean): void {
  const pm = cpu.protectedMode() && !v86(cpu);
  if (pm) {
    if (farTask(cpu, sel, TaskSource.CALL) || farCallGate(cpu, sel, true)) return;
    checkFarCode(cpu, sel);
    if (off >>> 0 > desc.limit) cpu.gp(0);
  } else {
    checkTarget(cpu, off);
  }
  // Push without committing SP until both writes have succeeded.
  const cs = cpu.segSel[Seg.CS];
  if (size32) {
    const sp1 = cpu.spPlus(-4), sp2 = cpu.spPlus(-8);
    cpu.write32(Seg.SS, sp1, cs);
    cpu.write32(Seg.SS, sp2, cpu.eip);
    cpu.setSp(sp2);
  } else {
    const sp1 = cpu.spPlus(-2), sp2 = cpu.spPlus(-4);
    cpu.write16(Seg.SS, sp1, cs);
    cpu.write16(Seg.SS, sp2, cpu.eip);
    cpu.setSp(sp2);
  }
  if (pm) loadCsFromDesc(cpu, sel, cpu.cpl);
  else loadCsReal(cpu, sel);
  cpu.eip = off;
}

/** RETF [imm16]: same level, or an outer level with the stack switch and data-segment nulling. */
export function retFar(cpu: Cpu, size32: boolean, imm: number): void {
  const n = size32 ? 4 : 2;
  const sp = cpu.sp();
  const off = size32 ? cpu.read32(Seg.SS, sp) : cpu.read16(Seg.SS, sp);
  const sel = (size32 ? cpu.read32(Seg.SS, cpu.spPlus(4)) : cpu.read16(Seg.SS, cpu.spPlus(2))) & 0xffff;
  if (!cpu.protectedMode() || v86(cpu)) {
    checkTarget(cpu, off);
    loadCsReal(cpu, sel);
    cpu.eip = off;
    cpu.setSp(cpu.spPlus(2 * n + imm));
    return;
  }
  checkReturnCode(cpu, sel);
  const rpl = sel & 3;
  if (rpl === cpu.cpl) {
    if (off >>> 0 > desc.limit) cpu.gp(0);
    loadCsFromDesc(cpu, sel, rpl);
    cpu.eip = off;
    cpu.setSp(cpu.spPlus(2 * n + imm));
    return;
  }
  // Outer privilege level: the caller's SS:ESP follow the parameters.
  const csBase = desc.base, csLimit = desc.limit, csAttr = desc.attr, csAddr = desc.addr, csHi = desc.hi;
  const at = cpu.spPlus(2 * n + imm);
  const newEsp = size32 ? cpu.read32(Seg.SS, at) : cpu.read16(Seg.SS, at);
  const newSs = (size32 ? cpu.read32(Seg.SS, stackAdd(cpu, at, 4)) : cpu.read16(Seg.SS, stackAdd(cpu, at, 2))) & 0xffff;
  checkReturnStack(cpu, newSs, rpl);
  if (off >>> 0 > csLimit) cpu.gp(0);
  loadSsFromDesc(cpu, newSs);
  setStackPointer(cpu, newEsp);
  cpu.setSp(cpu.spPlus(imm));
  restoreDesc(csBase, csLimit, csAttr, csAddr, csHi);
  loadCsFromDesc(cpu, sel, rpl);
  cpu.eip = off;
  dropInaccessibleSegs(cpu);
}

function stackAdd(cpu: Cpu, at: number, d: number): number {
  return cpu.stack32 ? (at + d) | 0 : (at + d) & 0xffff;
}

function restoreDesc(base: number, limit: number, attr: number, addr: number, hi: number): void {
  desc.base = base;
  desc.limit = limit;
  desc.attr = attr;
  desc.addr = addr;
  desc.hi = hi;
}

/**
 * After the stack switch of a return to an outer level (SS already loaded): the popped stack
 * pointer, a word for 16-bit operands, goes to ESP when the new stack is 32-bit and to SP alone
 * when it is 16-bit, ESP's upper half then keeping the inner level's bits (Linux's ESPFIX).
 */
function setStackPointer(cpu: Cpu, v: number): void {
  if (cpu.stack32) cpu.r32[Reg.ESP] = v;
  else cpu.setReg16(Reg.ESP, v);
}

/** Flags IRET and POPF may change in real mode / at CPL 0 (VM, VIF, VIP excepted). */
const RETURN_FLAGS = Flag.CF | Flag.PF | Flag.AF | Flag.ZF | Flag.SF | Flag.TF | Flag.IF | Flag.DF | Flag.OF |
  Flag.IOPL | Flag.NT | Flag.RF | Flag.AC | Flag.ID;

/** IRET with NT: back to the task in the TSS's link field, which must be busy; nothing is popped. */
function iretTask(cpu: Cpu): void {
  const link = sysRd16(cpu, cpu.trBase);
  if ((link & 4) !== 0 || !readDescriptor(cpu, link)) cpu.raise(Vec.TS, selCode(link));
  if (!isBusyTss(desc.attr)) cpu.raise(Vec.TS, selCode(link));
  if ((desc.attr & SegAttr.P) === 0) cpu.raise(Vec.NP, selCode(link));
  switchTask(cpu, link, TaskSource.IRET, 0);
  checkTarget(cpu, cpu.eip);
}

/** IRET / IRETD. */
export function iret(cpu: Cpu, size32: boolean): void {
  if (v86(cpu)) return iretV86(cpu, size32);
  if ((cpu.flags & Flag.NT) !== 0 && cpu.protectedMode()) return iretTask(cpu);
  const sp = cpu.sp();
  const n = size32 ? 4 : 2;
  const off = size32 ? cpu.read32(Seg.SS, sp) : cpu.read16(Seg.SS, sp);
  const sel = (size32 ? cpu.read32(Seg.SS, cpu.spPlus(4)) : cpu.read16(Seg.SS, cpu.spPlus(2))) & 0xffff;
  const fl = size32 ? cpu.read32(Seg.SS, cpu.spPlus(8)) : cpu.read16(Seg.SS, cpu.spPlus(4));
  const old = cpu.materialize();
  if (!cpu.protectedMode()) {
    checkTarget(cpu, off);
    loadCsReal(cpu, sel);
    cpu.eip = off;
    cpu.setSp(cpu.spPlus(3 * n));
    // Real mode: everything but VM, VIF and VIP (and bits 31:16 for a 16-bit IRET).
    const mask = size32 ? RETURN_FLAGS : RETURN_FLAGS & 0xffff;
    cpu.flags = ((old & ~mask) | (fl & mask) | Flag.FIXED) >>> 0;
    return;
  }
  if (size32 && (fl & Flag.VM) !== 0 && cpu.cpl === 0) return iretToV86(cpu, off, sel, fl);
  checkReturnCode(cpu, sel);
  const rpl = sel & 3;
  const oldCpl = cpu.cpl;
  // The flags IRET may load depend on the CPL it runs at (the old one) and the IOPL.
  let mask = Flag.CF | Flag.PF | Flag.AF | Flag.ZF | Flag.SF | Flag.TF | Flag.DF | Flag.OF | Flag.NT;
  if (size32) mask |= Flag.RF | Flag.AC | Flag.ID;
  if (oldCpl <= ((old >>> 12) & 3)) mask |= Flag.IF;
  if (oldCpl === 0) mask |= Flag.IOPL | (size32 ? Flag.VIF | Flag.VIP : 0);
  if (rpl === oldCpl) {
    if (off >>> 0 > desc.limit) cpu.gp(0);
    loadCsFromDesc(cpu, sel, rpl);
    cpu.eip = off;
    cpu.setSp(cpu.spPlus(3 * n));
  } else {
    const csBase = desc.base, csLimit = desc.limit, csAttr = desc.attr, csAddr = desc.addr, csHi = desc.hi;
    const newEsp = size32 ? cpu.read32(Seg.SS, cpu.spPlus(12)) : cpu.read16(Seg.SS, cpu.spPlus(6));
    const newSs = (size32 ? cpu.read32(Seg.SS, cpu.spPlus(16)) : cpu.read16(Seg.SS, cpu.spPlus(8))) & 0xffff;
    checkReturnStack(cpu, newSs, rpl);
    if (off >>> 0 > csLimit) cpu.gp(0);
    loadSsFromDesc(cpu, newSs);
    setStackPointer(cpu, newEsp);
    restoreDesc(csBase, csLimit, csAttr, csAddr, csHi);
    loadCsFromDesc(cpu, sel, rpl);
    cpu.eip = off;
    dropInaccessibleSegs(cpu);
  }
  cpu.flags = ((old & ~mask) | (fl & mask) | Flag.FIXED) >>> 0;
}

/**
 * IRET in virtual-8086 mode (SDM IRET, RETURN-FROM-VIRTUAL-8086-MODE): #GP(0) below IOPL 3, for
 * the virtual-8086 monitor to emulate; at IOPL 3 a real-mode-style return that stays in
 * virtual-8086 mode and changes neither IOPL nor VM (nor VIF and VIP).
 */
function iretV86(cpu: Cpu, size32: boolean): void {
  v86Sensitive(cpu);
  const sp = cpu.sp();
  const off = size32 ? cpu.read32(Seg.SS, sp) : cpu.read16(Seg.SS, sp);
  const sel = (size32 ? cpu.read32(Seg.SS, cpu.spPlus(4)) : cpu.read16(Seg.SS, cpu.spPlus(2))) & 0xffff;
  const fl = size32 ? cpu.read32(Seg.SS, cpu.spPlus(8)) : cpu.read16(Seg.SS, cpu.spPlus(4));
  if (off >>> 0 > 0xffff) cpu.gp(0);
  const old = cpu.materialize();
  loadCsReal(cpu, sel);
  cpu.eip = off;
  cpu.setSp(cpu.spPlus(size32 ? 12 : 6));
  const mask = (size32 ? RETURN_FLAGS : RETURN_FLAGS & 0xffff) & ~Flag.IOPL;
  cpu.flags = ((old & ~mask) | (fl & mask) | Flag.FIXED) >>> 0;
}

/** Flags an IRETD at CPL 0 loads when it returns to virtual-8086 mode: all of them. */
const V86_RETURN_FLAGS = RETURN_FLAGS | Flag.VM | Flag.VIF | Flag.VIP;

/**
 * IRETD at CPL 0 to a frame with VM set (SDM IRET, RETURN-TO-VIRTUAL-8086-MODE): after EIP, CS
 * and EFLAGS it pops ESP, SS, ES, DS, FS and GS (doublewords, upper halves ignored) and resumes
 * at CPL 3 with every segment register loaded the virtual-8086 way.
 */
function iretToV86(cpu: Cpu, off: number, sel: number, fl: number): void {
  const popped = v86Scratch;
  for (let k = 0; k < 6; k++) popped[k] = cpu.read32(Seg.SS, cpu.spPlus(12 + 4 * k));
  if (off >>> 0 > 0xffff) cpu.gp(0);
  cpu.flags = ((fl & V86_RETURN_FLAGS) | Flag.FIXED) >>> 0;
  cpu.cpl = 3;
  loadSegV86(cpu, Seg.CS, sel);
  loadSegV86(cpu, Seg.SS, popped[1]);
  loadSegV86(cpu, Seg.ES, popped[2]);
  loadSegV86(cpu, Seg.DS, popped[3]);
  loadSegV86(cpu, Seg.FS, popped[4]);
  loadSegV86(cpu, Seg.GS, popped[5]);
  cpu.r32[Reg.ESP] = popped[0];
  cpu.eip = off;
}
/** ESP, SS, ES, DS, FS, GS as IRETD pops them on the way to virtual-8086 mode. */
const v86Scratch = new Int32Array(6);

// ------------------------------------------------------------------------------------------------
// ENTER / LEAVE

/**
 * ENTER imm16, imm8 (SDM vol. 2, ENTER Operation). Every access is checked before anything is
 * written: the push of (E)BP, the frame pointers a nesting level copies and their pushes, and a
 * write at the final stack pointer (the SDM's #SS/#PF "if a write using the final value of the
 * stack pointer would fault"; QEMU skips that check). Then the copies run in the SDM's order, a
 * read after each earlier push (they may overlap, as the host CPU shows for ENTER 0, 31). (E)BP
 * and (E)SP move at the stack's width, as QEMU does: an o32 ENTER on a 16-bit stack changes BP,
 * not all of EBP.
 */
function enter(cpu: Cpu, i: Insn, size32: boolean): void {
  const alloc = i.imm & 0xffff;
  const level = i.imm2 & 31;
  const n = size32 ? 4 : 2;
  const s32 = cpu.stack32;
  const frameTemp = wrap(s32, cpu.sp() - n);
  const bp0 = s32 ? cpu.r32[Reg.EBP] : cpu.reg16(Reg.EBP);
  probeStack(cpu, frameTemp, n, true);
  for (let k = 1; k < level; k++) probeStack(cpu, wrap(s32, bp0 - n * k), n, false);
  for (let k = 1; k <= level; k++) probeStack(cpu, wrap(s32, frameTemp - n * k), n, true);
  const finalSp = wrap(s32, frameTemp - n * level - alloc);
  probeStack(cpu, finalSp, n, true);
  // Nothing below can fault.
  if (size32) cpu.write32(Seg.SS, frameTemp, cpu.r32[Reg.EBP]);
  else cpu.write16(Seg.SS, frameTemp, cpu.reg16(Reg.EBP));
  if (level > 0) {
    let bp = bp0, sp = frameTemp;
    for (let k = 1; k < level; k++) {
      bp = wrap(s32, bp - n);
      sp = wrap(s32, sp - n);
      if (size32) cpu.write32(Seg.SS, sp, cpu.read32(Seg.SS, bp));
      else cpu.write16(Seg.SS, sp, cpu.read16(Seg.SS, bp));
    }
    sp = wrap(s32, sp - n);
    if (size32) cpu.write32(Seg.SS, sp, frameTemp);
    else cpu.write16(Seg.SS, sp, frameTemp);
  }
  if (s32) cpu.r32[Reg.EBP] = frameTemp;
  else cpu.setReg16(Reg.EBP, frameTemp);
  cpu.setSp(finalSp);
}

/** Faults as a `size`-byte access at SS:`off` would (segment, then each page), touching nothing. */
function probeStack(cpu: Cpu, off: number, size: number, write: boolean): void {
  const lin = write ? cpu.linW(Seg.SS, off, size) : cpu.linR(Seg.SS, off, size);
  if (!cpu.paging.enabled) return;
  cpu.paging.translate(lin, write);
  if ((lin & 0xfff) + size > 0x1000) cpu.paging.translate(((lin | 0xfff) + 1) | 0, write);
}

function wrap(s32: boolean, v: number): number {
  return s32 ? v | 0 : v & 0xffff;
}

function leave(cpu: Cpu, size32: boolean): void {
  const bp = cpu.stack32 ? cpu.r32[Reg.EBP] : cpu.reg16(Reg.EBP);
  if (size32) {
    const v = cpu.read32(Seg.SS, bp);
    cpu.setSp(bp);
    cpu.setSp(cpu.spPlus(4));
    cpu.r32[Reg.EBP] = v;
  } else {
    const v = cpu.read16(Seg.SS, bp);
    cpu.setSp(bp);
    cpu.setSp(cpu.spPlus(2));
    cpu.setReg16(Reg.EBP, v);
  }
}

// ------------------------------------------------------------------------------------------------
// Registration

function register(): void {
  // Jcc rel8 (70–7F) and rel16/32 (0F 80–8F).
  for (let cc = 0; cc < 16; cc++) {
    const j16 = (cpu: Cpu, i: Insn): void => {
      if (cpu.cond(cc)) branch(cpu, (cpu.eip + i.imm) & 0xffff);
    };
    const j32 = (cpu: Cpu, i: Insn): void => {
      if (cpu.cond(cc)) branch(cpu, (cpu.eip + i.imm) | 0);
    };
    def(0x70 + cc, j16, j32);
    def(0x180 + cc, j16, j32);
  }

  // JMP rel8 / rel16/32
  const jmp16 = (cpu: Cpu, i: Insn): void => branch(cpu, (cpu.eip + i.imm) & 0xffff);
  const jmp32 = (cpu: Cpu, i: Insn): void => branch(cpu, (cpu.eip + i.imm) | 0);
  def(0xeb, jmp16, jmp32);
  def(0xe9, jmp16, jmp32);
  // JMP ptr16:16 / ptr16:32
  def(0xea, (cpu, i) => jmpFar(cpu, i.imm2 & 0xffff, i.imm & 0xffff), (cpu, i) => jmpFar(cpu, i.imm2 & 0xffff, i.imm | 0));

  // CALL rel16/32
  def(0xe8, (cpu, i) => {
    const t = (cpu.eip + i.imm) & 0xffff;
    checkTarget(cpu, t);
    cpu.push16(cpu.eip);
    cpu.eip = t;
  }, (cpu, i) => {
    const t = (cpu.eip + i.imm) | 0;
    checkTarget(cpu, t);
    cpu.push32(cpu.eip);
    cpu.eip = t;
  });
  // CALL ptr16:16 / ptr16:32
  def(0x9a, (cpu, i) => callFar(cpu, i.imm2 & 0xffff, i.imm & 0xffff, false),
    (cpu, i) => callFar(cpu, i.imm2 & 0xffff, i.imm | 0, true));

  // RET / RET imm16: the return address is checked before SP moves.
  const ret16 = (cpu: Cpu, imm: number): void => {
    const t = cpu.read16(Seg.SS, cpu.sp());
    checkTarget(cpu, t);
    cpu.setSp(cpu.spPlus(2 + imm));
    cpu.eip = t;
  };
  const ret32 = (cpu: Cpu, imm: number): void => {
    const t = cpu.read32(Seg.SS, cpu.sp());
    checkTarget(cpu, t);
    cpu.setSp(cpu.spPlus(4 + imm));
    cpu.eip = t;
  };
  def(0xc3, (cpu) => ret16(cpu, 0), (cpu) => ret32(cpu, 0));
  def(0xc2, (cpu, i) => ret16(cpu, i.imm & 0xffff), (cpu, i) => ret32(cpu, i.imm & 0xffff));
  def(0xcb, (cpu) => retFar(cpu, false, 0), (cpu) => retFar(cpu, true, 0));
  def(0xca, (cpu, i) => retFar(cpu, false, i.imm & 0xffff), (cpu, i) => retFar(cpu, true, i.imm & 0xffff));

  // FF /2 CALL Ev, /3 CALL Mp, /4 JMP Ev, /5 JMP Mp
  defGroup(0xff, 2, (cpu, i) => {
    const t = cpu.readE16(i);
    checkTarget(cpu, t);
    cpu.push16(cpu.eip);
    cpu.eip = t;
  }, (cpu, i) => {
    const t = cpu.readE32(i);
    checkTarget(cpu, t);
    cpu.push32(cpu.eip);
    cpu.eip = t;
  });
  defGroup(0xff, 3, (cpu, i) => {
    if (i.mod === 3) cpu.raise(Vec.UD);
    const ea = cpu.ea(i);
    const off = cpu.read16(i.seg, ea);
    callFar(cpu, cpu.read16(i.seg, eaPlus(i, ea, 2)), off, false);
  }, (cpu, i) => {
    if (i.mod === 3) cpu.raise(Vec.UD);
    const ea = cpu.ea(i);
    const off = cpu.read32(i.seg, ea);
    callFar(cpu, cpu.read16(i.seg, eaPlus(i, ea, 4)), off, true);
  });
  defGroup(0xff, 4, (cpu, i) => branch(cpu, cpu.readE16(i)), (cpu, i) => branch(cpu, cpu.readE32(i)));
  defGroup(0xff, 5, (cpu, i) => {
    if (i.mod === 3) cpu.raise(Vec.UD);
    const ea = cpu.ea(i);
    const off = cpu.read16(i.seg, ea);
    jmpFar(cpu, cpu.read16(i.seg, eaPlus(i, ea, 2)), off);
  }, (cpu, i) => {
    if (i.mod === 3) cpu.raise(Vec.UD);
    const ea = cpu.ea(i);
    const off = cpu.read32(i.seg, ea);
    jmpFar(cpu, cpu.read16(i.seg, eaPlus(i, ea, 4)), off);
  });

  // LOOPNE / LOOPE / LOOP / JCXZ: the count register is CX or ECX by the ADDRESS size; the target
  // is truncated by the operand size.
  for (const [op, kind] of [[0xe0, 0], [0xe1, 1], [0xe2, 2]] as const) {
    const h = (size32: boolean) => (cpu: Cpu, i: Insn): void => {
      let c: number;
      if (i.adsize === 32) c = cpu.r32[Reg.ECX] = (cpu.r32[Reg.ECX] - 1) | 0;
      else {
        c = (cpu.reg16(Reg.ECX) - 1) & 0xffff;
        cpu.setReg16(Reg.ECX, c);
      }
      if (c === 0) return;
      if (kind === 0 && cpu.zf()) return;
      if (kind === 1 && !cpu.zf()) return;
      branch(cpu, size32 ? (cpu.eip + i.imm) | 0 : (cpu.eip + i.imm) & 0xffff);
    };
    def(op, h(false), h(true));
  }
  const jcxz = (size32: boolean) => (cpu: Cpu, i: Insn): void => {
    const c = i.adsize === 32 ? cpu.r32[Reg.ECX] : cpu.reg16(Reg.ECX);
    if (c === 0) branch(cpu, size32 ? (cpu.eip + i.imm) | 0 : (cpu.eip + i.imm) & 0xffff);
  };
  def(0xe3, jcxz(false), jcxz(true));

  // ENTER / LEAVE
  def(0xc8, (cpu, i) => enter(cpu, i, false), (cpu, i) => enter(cpu, i, true));
  def(0xc9, (cpu) => leave(cpu, false), (cpu) => leave(cpu, true));

  // INT3, INT n, INTO
  def(0xcc, (cpu) => softwareInterrupt(cpu, Vec.BP));
  def(0xcd, (cpu, i) => {
    v86Sensitive(cpu);
    softwareInterrupt(cpu, i.imm & 0xff);
  });
  def(0xce, (cpu) => {
    if (cpu.of()) softwareInterrupt(cpu, Vec.OF);
  });

  // IRET / IRETD
  def(0xcf, (cpu) => iret(cpu, false), (cpu) => iret(cpu, true));

  // BOUND Gv, Ma: signed bounds; out of range raises #BR (a fault).
  def(0x62, (cpu, i) => {
    if (i.mod === 3) cpu.raise(Vec.UD);
    const ea = cpu.ea(i);
    const lo = (cpu.read16(i.seg, ea) << 16) >> 16;
    const hi = (cpu.read16(i.seg, eaPlus(i, ea, 2)) << 16) >> 16;
    const v = (cpu.reg16(i.reg) << 16) >> 16;
    if (v < lo || v > hi) cpu.raise(Vec.BR);
  }, (cpu, i) => {
    if (i.mod === 3) cpu.raise(Vec.UD);
    const ea = cpu.ea(i);
    const lo = cpu.read32(i.seg, ea);
    const hi = cpu.read32(i.seg, eaPlus(i, ea, 4));
    const v = cpu.r32[i.reg];
    if (v < lo || v > hi) cpu.raise(Vec.BR);
  });
}

/** The offset `d` bytes after a memory operand's effective address, wrapped to the address size. */
function eaPlus(i: Insn, ea: number, d: number): number {
  return i.adsize === 32 ? (ea + d) | 0 : (ea + d) & 0xffff;
}

register();
