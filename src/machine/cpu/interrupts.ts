// Interrupt and exception delivery (SDM vol. 3, chapter 6; the INT n / IRET Operation sections):
// through the IVT in real mode, through the IDT's interrupt and trap gates in protected mode, with
// the stack switch to the TSS's inner stack, error codes, and the double- and triple-fault rules.
// Out of virtual-8086 mode (vol. 3, 20.3.1.1) only to a ring-0 handler, which finds ES, DS, FS and
// GS on its stack under the usual frame and null in their registers.
//
// `deliver` is what Cpu.interrupts.deliver points to. It is called with EIP already set to the
// address the handler returns to: the faulting instruction for faults (the run loop rewinds), the
// next instruction for INT n / INT3 / INTO and for external interrupts.

import { Flag } from "../../x86/eflags.js";
import { Reg, Seg } from "../../x86/insn.js";
import { type Cpu } from "./cpu.js";
import { FAULT, SegAttr, Stop } from "./arch.js";
import { hasErrorCode, isDoubleFault, Vec } from "../../x86/vectors.js";
import { desc, dplOf, inSegment, loadCsReal, markAccessed, readDescriptor, selCode, v86 } from "./segments.js";
import { sysRd16, sysRd32 } from "./sysmem.js";
import { isAvailableTss, pushAfterSwitch, switchTask, taskSwitch } from "./task.js";
import { TaskSource } from "../../vmx/exits.js";

// State a failed delivery rolls back to (plain numbers, reused: delivery allocates nothing).
const saved = { csSel: 0, csBase: 0, csLimit: 0, csAttr: 0, ssSel: 0, ssBase: 0, ssLimit: 0, ssAttr: 0, esp: 0, eip: 0, cpl: 0, flags: 0 };

function save(cpu: Cpu): void {
  saved.csSel = cpu.segSel[Seg.CS]; saved.csBase = cpu.segBase[Seg.CS];
  saved.csLimit = cpu.segLimit[Seg.CS]; saved.csAttr = cpu.segAttr[Seg.CS];
  saved.ssSel = cpu.segSel[Seg.SS]; saved.ssBase = cpu.segBase[Seg.SS];
  saved.ssLimit = cpu.segLimit[Seg.SS]; saved.ssAttr = cpu.segAttr[Seg.SS];
  saved.esp = cpu.r32[Reg.ESP];
  saved.eip = cpu.eip;
  saved.cpl = cpu.cpl;
  saved.flags = cpu.materialize();
}

/** Set by `deliver` when a fault was delivered in place of the event it was asked for. */
let substituted = false;

/**
 * Whether the last delivery put a fault in place of its event: for INT n, that its instruction
 * did not complete (the fault's frame returns to it, and it runs again).
 */
export function deliveredInstead(): boolean {
  return substituted;
}

function restore(cpu: Cpu): void {
  cpu.cpl = saved.cpl;
  cpu.setSegCache(Seg.CS, saved.csSel, saved.csBase, saved.csLimit, saved.csAttr);
  cpu.setSegCache(Seg.SS, saved.ssSel, saved.ssBase, saved.ssLimit, saved.ssAttr);
  cpu.r32[Reg.ESP] = saved.esp;
  cpu.eip = saved.eip;
  cpu.flags = saved.flags;
  cpu.lzMask = 0;
}

/**
 * Delivers `vector` (with error code `code`, or -1 for none; `software` for INT n, INT3 and INTO,
 * which are subject to the gate's DPL check and push no error code). A fault during delivery
 * becomes a double fault or is delivered in its place (SDM table 6-5); a fault while delivering a
 * double fault shuts the processor down. Returns false when the CPU cannot continue, with
 * `cpu.stopReason` saying why.
 */
export function deliver(cpu: Cpu, vector: number, code: number, software: boolean): boolean {
  // A fault raised while delivering returns to the instruction that caused the event, except for
  // external events, which return to where the interrupted program was going to continue.
  let faultEip = software ? cpu.insnEip : cpu.eip;
  substituted = false;
  for (;;) {
    save(cpu);
    taskSwitch.committed = false;
    try {
      deliverOnce(cpu, vector, code, software);
      cpu.halted = false;
      taskSwitch.committed = false;
      return true;
    } catch (e) {
      if (e !== FAULT) throw e;
      if (taskSwitch.committed) {
        // The fault came after a task switch's commit point: it happened in the new task.
        taskSwitch.committed = false;
        faultEip = cpu.insnEip;
      } else {
        restore(cpu);
      }
      cpu.eip = faultEip;
      const second = cpu.excVector;
      // In VMX non-root operation the second event may be a VM exit (./vmx.ts).
      if (cpu.nonRoot && cpu.vmx !== null && cpu.vmx.faultInDelivery(second, cpu.excCode)) return false;
      if (vector === Vec.DF) {
        cpu.stopReason = Stop.SHUTDOWN;
        return false;
      }
      // INT n is no exception, whatever its vector: a fault while delivering it stands alone.
      if (!software && isDoubleFault(vector, second)) {
        vector = Vec.DF;
        code = 0;
      } else {
        vector = second;
        code = cpu.excCode;
      }
      software = false;
      substituted = true;
      // In a guest, an exit from here on reports this event as the one being delivered.
      if (cpu.nonRoot && cpu.vmx !== null) cpu.vmx.nowDelivering(vector, code);
      if (cpu.trapExceptions) {
        cpu.excVector = vector;
        cpu.excCode = code;
        cpu.stopReason = Stop.EXCEPTION;
        return false;
      }
    }
  }
}

/** The hook object Cpu.interrupts points to. */
export const INTERRUPTS = { deliver };

function deliverOnce(cpu: Cpu, vector: number, code: number, software: boolean): void {
  if (!cpu.protectedMode()) return deliverReal(cpu, vector);
  const ext = software ? 0 : 1;
  const gateCode = (vector << 3) | 2 | ext;
  if (((vector << 3) | 7) > cpu.idtrLimit >>> 0) cpu.gp(gateCode);
  const addr = (cpu.idtrBase + (vector << 3)) | 0;
  // The IDT is read with supervisor rights whatever the CPL.
  const lo = sysRd32(cpu, addr), hi = sysRd32(cpu, (addr + 4) | 0);
  const gattr = (hi >>> 8) & 0xff;
  const type = gattr & 0x1f; // S bit included: a gate is a system descriptor
  let gate32: boolean;
  switch (type) {
    case 0x06: case 0x07: gate32 = false; break; // 16-bit interrupt / trap gate
    case 0x0e: case 0x0f: gate32 = true; break; // 32-bit interrupt / trap gate
    case 0x05:
      return taskGate(cpu, vector, code, software, lo >>> 16, gattr, gateCode);
    default:
      return cpu.gp(gateCode);
  }
  if (software && dplOf(gattr) < cpu.cpl) cpu.gp(gateCode & ~1);
  if ((gattr & SegAttr.P) === 0) cpu.raise(Vec.NP, gateCode);
  const trap = (type & 1) !== 0;
  const sel = lo >>> 16;
  const offset = gate32 ? ((hi & 0xffff0000) | (lo & 0xffff)) : lo & 0xffff;

  // The handler's code segment.
  if ((sel & 0xfffc) === 0) cpu.gp(ext);
  if (!readDescriptor(cpu, sel)) cpu.gp(selCode(sel, ext));
  const a = desc.attr;
  const dpl = dplOf(a);
  if ((a & (SegAttr.S | SegAttr.CODE)) !== (SegAttr.S | SegAttr.CODE) || dpl > cpu.cpl) cpu.gp(selCode(sel, ext));
  if ((a & SegAttr.P) === 0) cpu.raise(Vec.NP, selCode(sel, ext));
  const fromV86 = v86(cpu);
  const inner = (a & SegAttr.DC) === 0 && dpl < cpu.cpl;
  // Out of virtual-8086 mode only to a non-conforming ring-0 handler, on the TSS's ring-0 stack
  // (SDM INT n, INTERRUPT-FROM-VIRTUAL-8086-MODE; vol. 3, 20.3.1.1).
  if (fromV86 && (!inner || dpl !== 0)) cpu.gp(selCode(sel, ext));
  if (offset >>> 0 > desc.limit) cpu.gp(ext);
  const csBase = desc.base, csLimit = desc.limit;
  let csAttr = a;
  markAccessed(cpu);
  csAttr |= SegAttr.ACCESSED;

  const eflags = cpu.materialize();
  const size = gate32 ? 4 : 2;
  const pushCode = !software && code >= 0 && hasErrorCode(vector);
  const oldCs = cpu.segSel[Seg.CS];
  const oldEip = cpu.eip;

  if (inner) {
    // Inner privilege: the new stack comes from the TSS.
    const tss32 = (cpu.trAttr & 0x8) !== 0;
    const slot = tss32 ? 4 + dpl * 8 : 2 + dpl * 4;
    if (slot + (tss32 ? 5 : 3) > cpu.trLimit >>> 0) cpu.raise(Vec.TS, selCode(cpu.trSel, ext));
    const newEsp = tss32 ? sysRd32(cpu, (cpu.trBase + slot) | 0) : rd16(cpu, cpu.trBase + slot);
    const newSs = rd16(cpu, cpu.trBase + slot + (tss32 ? 4 : 2));
    if ((newSs & 0xfffc) === 0) cpu.raise(Vec.TS, ext);
    if (!readDescriptor(cpu, newSs)) cpu.raise(Vec.TS, selCode(newSs, ext));
    const sa = desc.attr;
    if ((newSs & 3) !== dpl || dplOf(sa) !== dpl ||
      (sa & (SegAttr.S | SegAttr.CODE | SegAttr.RW)) !== (SegAttr.S | SegAttr.RW)) cpu.raise(Vec.TS, selCode(newSs, ext));
    if ((sa & SegAttr.P) === 0) cpu.raise(Vec.SS, selCode(newSs, ext));
    // From virtual-8086 mode the frame also holds GS, FS, DS and ES.
    const frame = size * ((pushCode ? 6 : 5) + (fromV86 ? 4 : 0));
    const ss32 = (sa & SegAttr.DB) !== 0;
    const top = ss32 ? newEsp : newEsp & 0xffff;
    if (!inSegment(sa, desc.limit, ss32 ? (top - frame) | 0 : (top - frame) & 0xffff, frame)) {
      cpu.raise(Vec.SS, selCode(newSs, ext));
    }
    const oldSs = cpu.segSel[Seg.SS];
    const oldEsp = cpu.r32[Reg.ESP];
    markAccessed(cpu);
    // The pushes to the inner stack are made at the new privilege level.
    cpu.cpl = dpl;
    cpu.setSegCache(Seg.SS, newSs, desc.base, desc.limit, desc.attr | SegAttr.ACCESSED);
    if (ss32) cpu.r32[Reg.ESP] = newEsp;
    else cpu.setReg16(Reg.ESP, newEsp);
    if (fromV86) {
      for (const s of V86_FRAME_SEGS) {
        if (gate32) cpu.push32(cpu.segSel[s]);
        else cpu.push16(cpu.segSel[s]);
      }
    }
    if (gate32) {
      cpu.push32(oldSs);
      cpu.push32(oldEsp);
    } else {
      cpu.push16(oldSs);
      cpu.push16(oldEsp);
    }
  } else {
    // Same privilege (a conforming handler keeps the CPL).
    const frame = size * (pushCode ? 4 : 3);
    const sp = cpu.spPlus(-frame);
    if (!inSegment(cpu.segAttr[Seg.SS], cpu.segLimit[Seg.SS], sp, frame)) cpu.raise(Vec.SS, ext);
  }
  if (gate32) {
    cpu.push32(eflags);
    cpu.push32(oldCs);
    cpu.push32(oldEip);
    if (pushCode) cpu.push32(code);
  } else {
    cpu.push16(eflags);
    cpu.push16(oldCs);
    cpu.push16(oldEip);
    if (pushCode) cpu.push16(code);
  }
  cpu.setSegCache(Seg.CS, (sel & 0xfffc) | cpu.cpl, csBase, csLimit, csAttr);
  cpu.eip = offset | 0;
  let clear = Flag.TF | Flag.NT | Flag.RF | Flag.VM;
  if (!trap) clear |= Flag.IF;
  cpu.flags = (eflags & ~clear) >>> 0;
  // The virtual-8086 segments, saved on the stack, are null in the handler.
  if (fromV86) for (const s of V86_FRAME_SEGS) cpu.setSegCache(s, 0, 0, 0, 0);
}

/** The data segment registers an interrupt out of virtual-8086 mode pushes, in push order. */
const V86_FRAME_SEGS = [Seg.GS, Seg.FS, Seg.DS, Seg.ES];

function rd16(cpu: Cpu, lin: number): number {
  return sysRd16(cpu, lin | 0);
}

/**
 * A task gate in the IDT (SDM INT n Operation, TASK-GATE): switches to the task its TSS selector
 * names, with nesting, then pushes the error code on the new task's stack.
 */
function taskGate(cpu: Cpu, vector: number, code: number, software: boolean, tss: number, gattr: number, gateCode: number): void {
  const ext = software ? 0 : 1;
  if (software && dplOf(gattr) < cpu.cpl) cpu.gp(gateCode & ~1);
  if ((gattr & SegAttr.P) === 0) cpu.raise(Vec.NP, gateCode);
  if ((tss & 4) !== 0 || !readDescriptor(cpu, tss)) cpu.gp(selCode(tss, ext));
  // Only an available TSS: a busy one (the task is already running or nested) is #GP.
  if (!isAvailableTss(desc.attr)) cpu.gp(selCode(tss, ext));
  if ((desc.attr & SegAttr.P) === 0) cpu.raise(Vec.NP, selCode(tss, ext));
  switchTask(cpu, tss, TaskSource.TASK_GATE, ext);
  if (!software && code >= 0 && hasErrorCode(vector)) pushAfterSwitch(cpu, code);
  if ((cpu.segFast[Seg.CS] & 1) === 0 && cpu.eip >>> 0 > cpu.segLimit[Seg.CS]) cpu.gp(ext);
}

/** Real mode: through the interrupt vector table at IDTR.base, four bytes per vector. */
function deliverReal(cpu: Cpu, vector: number): void {
  if (((vector << 2) | 3) > cpu.idtrLimit >>> 0) cpu.gp(0);
  const entry = (cpu.idtrBase + (vector << 2)) | 0;
  const ip = cpu.rd16(entry);
  const cs = cpu.rd16((entry + 2) | 0);
  const eflags = cpu.materialize();
  cpu.push16(eflags);
  cpu.push16(cpu.segSel[Seg.CS]);
  cpu.push16(cpu.eip);
  loadCsReal(cpu, cs);
  cpu.eip = ip;
  cpu.flags = (eflags & ~(Flag.IF | Flag.TF | Flag.AC | Flag.RF)) >>> 0;
}
