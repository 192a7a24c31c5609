// Hardware task switching (SDM vol. 3, chapter 7): through JMP/CALL to a TSS or a task gate,
// through a task gate in the IDT (an interrupt or exception, as Linux's i386 double-fault handler
// is reached), and back by IRET with EFLAGS.NT. Both TSS formats: the 32-bit one (CR3, FS, GS, the
// T bit) and the 16-bit one of the 80286.
//
// The switch has a commit point (SDM 7.3, step 10). Faults before it leave the old task as it was;
// the checks that make them (TSS limit, pages of both TSSs) run before anything is written. Faults
// after it — while loading the new task's LDT and segment registers — are raised in the context
// of the new task: EIP and `insnEip` already hold the new task's EIP, so both the run loop and
// interrupt delivery report them there (./interrupts.ts reads `taskSwitch.committed`).

import { Flag } from "../../x86/eflags.js";
import { Seg } from "../../x86/insn.js";
import { type Cpu } from "./cpu.js";
import { SegAttr } from "./arch.js";
import { Vec } from "../../x86/vectors.js";
import { TaskSource } from "../../vmx/exits.js";
import { debugRegsChanged, taskSwitchTrap } from "./debug.js";
import { DR7_LOCAL } from "../../x86/debugregs.js";
import { desc, dplOf, loadSegV86, markAccessed, readDescriptor, selCode } from "./segments.js";
import { sysProbeWrite, sysRd16, sysRd32, sysRd8, sysWr16, sysWr32, sysWr8 } from "./sysmem.js";
import { T16, T32, TSS16_MIN_LIMIT, TSS32_MIN_LIMIT, TssType } from "../../x86/tss.js";

/**
 * Set by a task switch once it passed its commit point: a later fault in the same event delivery
 * belongs to the new task, so ./interrupts.ts has nothing to roll back and returns to the new
 * task's EIP (it clears the flag around each delivery).
 */
export const taskSwitch = { committed: false };

/** True when `attr` is an available TSS (either size). */
export function isAvailableTss(attr: number): boolean {
  const t = attr & 0x1f; // S included: a TSS is a system descriptor
  return t === TssType.AVAIL16 || t === TssType.AVAIL32;
}

/** True when `attr` is a busy TSS (either size). */
export function isBusyTss(attr: number): boolean {
  const t = attr & 0x1f;
  return t === TssType.BUSY16 || t === TssType.BUSY32;
}

// The new task's state, read before the commit point (plain numbers, reused: no allocation).
const next = { cr3: 0, eip: 0, eflags: 0, ldt: 0, trap: 0 };
const nextRegs = new Int32Array(8);
const nextSegs = new Uint16Array(6); // in Seg order: ES CS SS DS FS GS

/**
 * Switches to the task whose TSS descriptor `readDescriptor` left in `desc` (selector `sel`); the
 * caller has made the checks of its own instruction (type, busy, DPL, present). `ext` is the
 * EXT bit of error codes (1 when an external event or exception caused the switch). `source`, what
 * started the switch (a gate in the IDT is TASK_GATE), decides busy bits, NT and the back link
 * (SDM table 7-2); its numbering is the one a task-switch VM exit reports.
 */
export function switchTask(cpu: Cpu, sel: number, source: TaskSource, ext: number): void {
  const newBase = desc.base, newLimit = desc.limit, newAttr = desc.attr, newDescAddr = desc.addr;
  const new32 = (newAttr & 0x8) !== 0;
  if (newLimit < (new32 ? TSS32_MIN_LIMIT : TSS16_MIN_LIMIT)) cpu.raise(Vec.TS, selCode(sel, ext));
  // In a VM every task switch exits, once the gate, selector and descriptor passed (SDM vol. 3,
  // 25.4.2): the VMM does the rest (src/vmm/task.ts).
  if (cpu.nonRoot) cpu.vmx!.taskSwitch(sel, source);
  const old32 = (cpu.trAttr & 0x8) !== 0;
  const oldBase = cpu.trBase;

  // Every page the switch touches must be there before anything changes.
  if (old32) sysProbeWrite(cpu, (oldBase + T32.EIP) | 0, T32.LDT - T32.EIP);
  else sysProbeWrite(cpu, (oldBase + T16.IP) | 0, T16.LDT - T16.IP);
  if (source === TaskSource.CALL || source === TaskSource.TASK_GATE) sysProbeWrite(cpu, newBase, 2);
  readNewState(cpu, newBase, new32);

  // The old TSS's descriptor stops being busy for JMP and IRET; IRET clears the saved NT.
  let eflags = cpu.materialize();
  if (source === TaskSource.JMP || source === TaskSource.IRET) setBusy(cpu, cpu.trSel, false);
  if (source === TaskSource.IRET) eflags &= ~Flag.NT;
  saveOldState(cpu, oldBase, old32, eflags);

  // Nesting: the new task links back to the old one and runs with NT.
  if (source === TaskSource.CALL || source === TaskSource.TASK_GATE) {
    sysWr16(cpu, newBase, cpu.trSel);
    next.eflags |= Flag.NT;
  }
  if (source !== TaskSource.IRET) sysWr8(cpu, (newDescAddr + 5) | 0, ((newAttr | 2) & 0xff));

  // Commit: TR names the new task; from here on faults belong to it.
  cpu.trSel = sel;
  cpu.trBase = newBase;
  cpu.trLimit = newLimit;
  cpu.trAttr = newAttr | 2;
  cpu.cr0 |= 8; // TS: the FPU state belongs to another task
  cpu.eip = next.eip;
  cpu.insnEip = next.eip;
  taskSwitch.committed = true;
  loadNewState(cpu, new32, ext);
  if ((cpu.dr[7] & DR7_LOCAL) !== 0) {
    cpu.dr[7] &= ~DR7_LOCAL;
    debugRegsChanged(cpu);
  }
  if (next.trap !== 0) taskSwitchTrap(cpu);
}

function readNewState(cpu: Cpu, base: number, is32: boolean): void {
  if (is32) {
    next.cr3 = sysRd32(cpu, (base + T32.CR3) | 0);
    next.eip = sysRd32(cpu, (base + T32.EIP) | 0);
    next.eflags = sysRd32(cpu, (base + T32.EFLAGS) | 0);
    for (let r = 0; r < 8; r++) nextRegs[r] = sysRd32(cpu, (base + T32.REGS + 4 * r) | 0);
    for (let s = 0; s < 6; s++) nextSegs[s] = sysRd16(cpu, (base + T32.SEGS + 4 * s) | 0);
    next.ldt = sysRd16(cpu, (base + T32.LDT) | 0);
    next.trap = sysRd8(cpu, (base + T32.TRAP) | 0) & 1;
  } else {
    next.eip = sysRd16(cpu, (base + T16.IP) | 0);
    // EFLAGS keeps its upper half (but VM and RF). The general registers' upper halves are not
    // kept either (SDM vol. 3, 7.6: "modified and not maintained"): the 386 sets them to all
    // ones, as Bochs has it; QEMU keeps them.
    next.eflags = (cpu.materialize() & 0xffff0000 & ~(Flag.VM | Flag.RF)) | sysRd16(cpu, (base + T16.FLAGS) | 0);
    for (let r = 0; r < 8; r++) nextRegs[r] = 0xffff0000 | sysRd16(cpu, (base + T16.REGS + 2 * r) | 0);
    for (let s = 0; s < 4; s++) nextSegs[s] = sysRd16(cpu, (base + T16.SEGS + 2 * s) | 0);
    nextSegs[Seg.FS] = nextSegs[Seg.GS] = 0;
    next.ldt = sysRd16(cpu, (base + T16.LDT) | 0);
    next.trap = 0;
  }
}

function saveOldState(cpu: Cpu, base: number, is32: boolean, eflags: number): void {
  if (is32) {
    sysWr32(cpu, (base + T32.EIP) | 0, cpu.eip);
    sysWr32(cpu, (base + T32.EFLAGS) | 0, eflags);
    for (let r = 0; r < 8; r++) sysWr32(cpu, (base + T32.REGS + 4 * r) | 0, cpu.r32[r]);
    for (let s = 0; s < 6; s++) sysWr16(cpu, (base + T32.SEGS + 4 * s) | 0, cpu.segSel[s]);
  } else {
    sysWr16(cpu, (base + T16.IP) | 0, cpu.eip);
    sysWr16(cpu, (base + T16.FLAGS) | 0, eflags);
    for (let r = 0; r < 8; r++) sysWr16(cpu, (base + T16.REGS + 2 * r) | 0, cpu.r32[r]);
    for (let s = 0; s < 4; s++) sysWr16(cpu, (base + T16.SEGS + 2 * s) | 0, cpu.segSel[s]);
  }
}

/** Sets or clears the busy bit of the TSS descriptor `sel` names in the GDT. */
function setBusy(cpu: Cpu, sel: number, busy: boolean): void {
  const at = (cpu.gdtrBase + (sel & 0xfff8) + 5) | 0;
  const b = sysRd8(cpu, at);
  sysWr8(cpu, at, busy ? b | 2 : b & ~2);
}

/** Loads the new task's registers, CR3, LDTR and segments (after the commit point). */
function loadNewState(cpu: Cpu, is32: boolean, ext: number): void {
  if (is32) {
    cpu.cr3 = next.cr3;
    cpu.paging.cr3Changed();
  }
  cpu.r32.set(nextRegs);
  cpu.flags = (next.eflags | Flag.FIXED) >>> 0;
  cpu.lzMask = 0;
  const vm = (cpu.flags & Flag.VM) !== 0;
  const cs = nextSegs[Seg.CS];
  cpu.cpl = vm ? 3 : cs & 3;
  // The selectors arrive first, unusable until their descriptors pass the checks below, so a
  // fault while loading them is reported with the new task's selectors in place.
  for (let s = 0; s < 6; s++) cpu.setSegCache(s, nextSegs[s], 0, 0, 0);
  cpu.ldtrSel = next.ldt;
  cpu.ldtrBase = cpu.ldtrLimit = 0;

  // LDTR
  const ldt = next.ldt;
  if ((ldt & 0xfffc) !== 0) {
    if ((ldt & 4) !== 0 || !readDescriptor(cpu, ldt)) cpu.raise(Vec.TS, selCode(ldt, ext));
    if ((desc.attr & 0x1f) !== 2 || (desc.attr & SegAttr.P) === 0) cpu.raise(Vec.TS, selCode(ldt, ext));
    cpu.ldtrBase = desc.base;
    cpu.ldtrLimit = desc.limit;
  }

  if (vm) {
    for (let s = 0; s < 6; s++) loadSegV86(cpu, s, nextSegs[s]);
    return;
  }
  const cpl = cpu.cpl;

  // CS: a code segment the new CPL (its RPL) may run in.
  if ((cs & 0xfffc) === 0 || !readDescriptor(cpu, cs)) cpu.raise(Vec.TS, selCode(cs, ext));
  let a = desc.attr;
  if ((a & (SegAttr.S | SegAttr.CODE)) !== (SegAttr.S | SegAttr.CODE)) cpu.raise(Vec.TS, selCode(cs, ext));
  if ((a & SegAttr.DC) !== 0 ? dplOf(a) > cpl : dplOf(a) !== cpl) cpu.raise(Vec.TS, selCode(cs, ext));
  if ((a & SegAttr.P) === 0) cpu.raise(Vec.NP, selCode(cs, ext));
  markAccessed(cpu);
  cpu.setSegCache(Seg.CS, cs, desc.base, desc.limit, desc.attr);

  // SS: a writable data segment at the new CPL.
  const ss = nextSegs[Seg.SS];
  if ((ss & 0xfffc) === 0 || !readDescriptor(cpu, ss)) cpu.raise(Vec.TS, selCode(ss, ext));
  a = desc.attr;
  if ((a & (SegAttr.S | SegAttr.CODE | SegAttr.RW)) !== (SegAttr.S | SegAttr.RW) || dplOf(a) !== cpl || (ss & 3) !== cpl) {
    cpu.raise(Vec.TS, selCode(ss, ext));
  }
  if ((a & SegAttr.P) === 0) cpu.raise(Vec.SS, selCode(ss, ext));
  markAccessed(cpu);
  cpu.setSegCache(Seg.SS, ss, desc.base, desc.limit, desc.attr);

  // DS, ES, FS, GS: null, data, or readable code the new CPL may use.
  for (const s of DATA_SEGS) {
    const sel = nextSegs[s];
    if ((sel & 0xfffc) === 0) continue; // stays null
    if (!readDescriptor(cpu, sel)) cpu.raise(Vec.TS, selCode(sel, ext));
    a = desc.attr;
    if ((a & SegAttr.S) === 0 || (a & (SegAttr.CODE | SegAttr.RW)) === SegAttr.CODE) cpu.raise(Vec.TS, selCode(sel, ext));
    if ((a & (SegAttr.CODE | SegAttr.DC)) !== (SegAttr.CODE | SegAttr.DC) && dplOf(a) < Math.max(cpl, sel & 3)) {
      cpu.raise(Vec.TS, selCode(sel, ext));
    }
    if ((a & SegAttr.P) === 0) cpu.raise(Vec.NP, selCode(sel, ext));
    markAccessed(cpu);
    cpu.setSegCache(s, sel, desc.base, desc.limit, desc.attr);
  }
}
const DATA_SEGS = [Seg.ES, Seg.DS, Seg.FS, Seg.GS];

/** Pushes an exception's error code on the new task's stack, with the width of its TSS. */
export function pushAfterSwitch(cpu: Cpu, code: number): void {
  const is32 = (cpu.trAttr & 0x8) !== 0;
  const size = is32 ? 4 : 2;
  const sp = cpu.spPlus(-size);
  if (is32) cpu.write32(Seg.SS, sp, code);
  else cpu.write16(Seg.SS, sp, code);
  cpu.setSp(sp);
}
