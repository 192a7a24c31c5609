// Segment-register loads with their protection checks (SDM vol. 3, 3.4–3.5 and 5.5–5.8; the
// Operation sections of MOV, POP, LDS/LES/LFS/LGS/LSS, JMP, CALL, RET and IRET), and the
// descriptor parsing every other user of the GDT/LDT shares.
//
// Descriptors are read into a module-level scratch record (`desc`) rather than returned as
// objects, so that far transfers and segment loads allocate nothing.

import { Flag } from "../../x86/eflags.js";
import { Seg } from "../../x86/insn.js";
import { type Cpu } from "./cpu.js";
import { SegAttr } from "./arch.js";
import { Vec } from "../../x86/vectors.js";
import { sysRd32, sysWr8 } from "./sysmem.js";
import { descAttr, descBase, descLimit } from "../../x86/descriptor.js";

/** The last descriptor fetched by `readDescriptor`, parsed. */
export const desc = {
  /** The raw descriptor: low and high doublewords. */
  lo: 0,
  hi: 0,
  /** Linear address of the descriptor in its table (for setting the accessed bit). */
  addr: 0,
  base: 0,
  /** Limit in bytes with granularity applied, as a uint32. */
  limit: 0,
  /** Descriptor bytes 5–6 in the layout of SegAttr (limit bits 19:16 masked out). */
  attr: 0,
};

/** Descriptor privilege level of an attribute word. */
export function dplOf(attr: number): number {
  return (attr >>> SegAttr.DPL_SHIFT) & 3;
}

/** Selector error code: the selector with its RPL bits cleared (plus EXT when given). */
export function selCode(sel: number, ext = 0): number {
  return (sel & 0xfffc) | ext;
}

/**
 * Reads the descriptor that `sel` names (GDT or LDT by the TI bit) into `desc`. Returns false when
 * the selector's index lies beyond the table's limit (or TI=1 with no LDT); the null selector is
 * the caller's business.
 */
export function readDescriptor(cpu: Cpu, sel: number): boolean {
  let base: number, limit: number;
  if ((sel & 4) !== 0) {
    if ((cpu.ldtrSel & 0xfffc) === 0) return false;
    base = cpu.ldtrBase;
    limit = cpu.ldtrLimit >>> 0;
  } else {
    base = cpu.gdtrBase;
    limit = cpu.gdtrLimit >>> 0;
  }
  if ((sel | 7) > limit) return false;
  const addr = (base + (sel & 0xfff8)) | 0;
  // Descriptor tables are read with supervisor rights whatever the CPL.
  const lo = sysRd32(cpu, addr);
  const hi = sysRd32(cpu, (addr + 4) | 0);
  desc.lo = lo;
  desc.hi = hi;
  desc.addr = addr;
  desc.base = descBase(lo, hi);
  desc.limit = descLimit(lo, hi);
  desc.attr = descAttr(hi);
  return true;
}

/** Sets the accessed bit of the descriptor last read, if it is a code/data one and clear. */
export function markAccessed(cpu: Cpu): void {
  if ((desc.attr & (SegAttr.S | SegAttr.ACCESSED)) === SegAttr.S) {
    desc.attr |= SegAttr.ACCESSED;
    desc.hi |= 1 << 8;
    sysWr8(cpu, (desc.addr + 5) | 0, (desc.hi >>> 8) & 0xff);
  }
}

/** True in virtual-8086 mode. */
export function v86(cpu: Cpu): boolean {
  return (cpu.flags & Flag.VM) !== 0;
}

/**
 * An IOPL-sensitive instruction (CLI, STI, PUSHF, POPF, INT n, IRET) in virtual-8086 mode faults
 * with #GP(0) below IOPL 3, for the virtual-8086 monitor to emulate (SDM vol. 3, 20.2.7; this CPU
 * has no VME).
 */
export function v86Sensitive(cpu: Cpu): void {
  if ((cpu.flags & Flag.VM) !== 0 && ((cpu.flags >>> 12) & 3) < 3) cpu.gp(0);
}

/**
 * The attributes of every segment register in virtual-8086 mode, CS included: present, DPL 3,
 * read/write data, accessed (SDM vol. 3, 20.1.1; the access rights VMX saves and requires for a
 * virtual-8086 guest, 26.3.1.2).
 */
const V86_ATTR = SegAttr.P | (3 << SegAttr.DPL_SHIFT) | SegAttr.S | SegAttr.RW | SegAttr.ACCESSED;

/** Loads segment register `seg` the virtual-8086 way: base = selector * 16, limit 0xFFFF. */
export function loadSegV86(cpu: Cpu, seg: number, sel: number): void {
  sel &= 0xffff;
  cpu.setSegCache(seg, sel, sel << 4, 0xffff, V86_ATTR);
}

/**
 * Loads data or stack segment register `seg` (not CS) from selector `sel`, as MOV Sreg, POP Sreg
 * and LDS/LES/LFS/LGS/LSS do. Faults leave the register unchanged.
 */
export function loadSeg(cpu: Cpu, seg: number, sel: number): void {
  sel &= 0xffff;
  if (!cpu.protectedMode()) {
    // Real mode: only the base follows the selector; the limit and attributes stay as they were.
    cpu.setSegCache(seg, sel, sel << 4, cpu.segLimit[seg], cpu.segAttr[seg]);
    return;
  }
  if (v86(cpu)) return loadSegV86(cpu, seg, sel);
  const rpl = sel & 3;
  if (seg === Seg.SS) {
    if ((sel & 0xfffc) === 0) cpu.gp(0);
    if (!readDescriptor(cpu, sel)) cpu.gp(selCode(sel));
    const a = desc.attr;
    // A writable data segment, RPL = DPL = CPL.
    if (rpl !== cpu.cpl || (a & (SegAttr.S | SegAttr.CODE | SegAttr.RW)) !== (SegAttr.S | SegAttr.RW) ||
      dplOf(a) !== cpu.cpl) cpu.gp(selCode(sel));
    if ((a & SegAttr.P) === 0) cpu.raise(Vec.SS, selCode(sel));
  } else {
    if ((sel & 0xfffc) === 0) {
      // The null selector may be loaded into DS, ES, FS and GS; using the register then faults.
      cpu.setSegCache(seg, sel, 0, 0, 0);
      return;
    }
    if (!readDescriptor(cpu, sel)) cpu.gp(selCode(sel));
    const a = desc.attr;
    // A data segment or a readable code segment.
    if ((a & SegAttr.S) === 0 || (a & (SegAttr.CODE | SegAttr.RW)) === SegAttr.CODE) cpu.gp(selCode(sel));
    // Data and non-conforming code: both RPL and CPL must be ≤ DPL.
    if ((a & (SegAttr.CODE | SegAttr.DC)) !== (SegAttr.CODE | SegAttr.DC)) {
      const dpl = dplOf(a);
      if (rpl > dpl || cpu.cpl > dpl) cpu.gp(selCode(sel));
    }
    if ((a & SegAttr.P) === 0) cpu.raise(Vec.NP, selCode(sel));
  }
  markAccessed(cpu);
  cpu.setSegCache(seg, sel, desc.base, desc.limit, desc.attr);
}

// ------------------------------------------------------------------------------------------------
// CS for far transfers

/** The kinds of descriptor a far JMP/CALL may name besides a code segment (SDM vol. 3, 5.8, 7.3). */
const enum SysType {
  TSS16_AVAIL = 1, CALL_GATE16 = 4, TASK_GATE = 5, TSS32_AVAIL = 9, CALL_GATE32 = 12,
}

/**
 * Checks the target of a protected-mode far JMP or CALL through a code-segment selector and leaves
 * its descriptor in `desc`. TSS, task-gate and call-gate targets are dealt with before this is
 * called (./ops/control.ts); here they, and busy TSSs, raise #GP(selector).
 */
export function checkFarCode(cpu: Cpu, sel: number): void {
  if ((sel & 0xfffc) === 0) cpu.gp(0);
  if (!readDescriptor(cpu, sel)) cpu.gp(selCode(sel));
  const a = desc.attr;
  if ((a & SegAttr.S) === 0) {
    switch (a & 0xf) {
      case SysType.CALL_GATE16:
      case SysType.CALL_GATE32:
      case SysType.TASK_GATE:
      case SysType.TSS16_AVAIL:
      case SysType.TSS32_AVAIL:
        return cpu.gp(selCode(sel));
      default:
        return cpu.gp(selCode(sel));
    }
  }
  if ((a & SegAttr.CODE) === 0) cpu.gp(selCode(sel));
  const dpl = dplOf(a);
  if ((a & SegAttr.DC) !== 0) {
    if (dpl > cpu.cpl) cpu.gp(selCode(sel)); // conforming: DPL ≤ CPL
  } else if ((sel & 3) > cpu.cpl || dpl !== cpu.cpl) {
    cpu.gp(selCode(sel)); // non-conforming: RPL ≤ CPL and DPL = CPL
  }
  if ((a & SegAttr.P) === 0) cpu.raise(Vec.NP, selCode(sel));
}

/**
 * Checks the code segment a far RET or IRET returns to (its RPL is the new CPL) and leaves its
 * descriptor in `desc`.
 */
export function checkReturnCode(cpu: Cpu, sel: number): void {
  if ((sel & 0xfffc) === 0) cpu.gp(0);
  if (!readDescriptor(cpu, sel)) cpu.gp(selCode(sel));
  const a = desc.attr;
  const rpl = sel & 3;
  if ((a & (SegAttr.S | SegAttr.CODE)) !== (SegAttr.S | SegAttr.CODE)) cpu.gp(selCode(sel));
  if (rpl < cpu.cpl) cpu.gp(selCode(sel));
  const dpl = dplOf(a);
  if ((a & SegAttr.DC) !== 0 ? dpl > rpl : dpl !== rpl) cpu.gp(selCode(sel));
  if ((a & SegAttr.P) === 0) cpu.raise(Vec.NP, selCode(sel));
}

/**
 * Checks the stack segment a far RET or IRET to an outer level loads (`rpl` = the new CPL) and
 * leaves its descriptor in `desc`.
 */
export function checkReturnStack(cpu: Cpu, sel: number, rpl: number): void {
  if ((sel & 0xfffc) === 0) cpu.gp(0);
  if (!readDescriptor(cpu, sel)) cpu.gp(selCode(sel));
  const a = desc.attr;
  if ((sel & 3) !== rpl || (a & (SegAttr.S | SegAttr.CODE | SegAttr.RW)) !== (SegAttr.S | SegAttr.RW) ||
    dplOf(a) !== rpl) cpu.gp(selCode(sel));
  if ((a & SegAttr.P) === 0) cpu.raise(Vec.SS, selCode(sel));
}

/** Loads CS from a checked descriptor in `desc`, with RPL = `cpl`, and makes `cpl` current. */
export function loadCsFromDesc(cpu: Cpu, sel: number, cpl: number): void {
  markAccessed(cpu);
  cpu.cpl = cpl;
  cpu.setSegCache(Seg.CS, (sel & 0xfffc) | cpl, desc.base, desc.limit, desc.attr);
}

/** Loads SS from a checked descriptor in `desc`. */
export function loadSsFromDesc(cpu: Cpu, sel: number): void {
  markAccessed(cpu);
  cpu.setSegCache(Seg.SS, sel, desc.base, desc.limit, desc.attr);
}

/** Real-mode CS load (base = selector << 4, limit and attributes kept), or virtual-8086's. */
export function loadCsReal(cpu: Cpu, sel: number): void {
  sel &= 0xffff;
  if (v86(cpu)) loadSegV86(cpu, Seg.CS, sel);
  else cpu.setSegCache(Seg.CS, sel, sel << 4, cpu.segLimit[Seg.CS], cpu.segAttr[Seg.CS]);
}

/**
 * After a return to an outer privilege level: DS, ES, FS and GS that the new CPL may not use
 * (data or non-conforming code with DPL < CPL) become null (SDM RET/IRET, "FOR each SegReg").
 */
export function dropInaccessibleSegs(cpu: Cpu): void {
  for (const seg of OUTER_SEGS) {
    const a = cpu.segAttr[seg];
    if ((a & SegAttr.S) === 0) continue; // already null or unusable
    const conformingCode = (a & (SegAttr.CODE | SegAttr.DC)) === (SegAttr.CODE | SegAttr.DC);
    if (!conformingCode && dplOf(a) < cpu.cpl) cpu.setSegCache(seg, 0, 0, 0, 0);
  }
}
const OUTER_SEGS = [Seg.ES, Seg.DS, Seg.FS, Seg.GS];

/** True when `off` .. `off + size - 1` lies inside a segment with `attr` and `limit` (uint32). */
export function inSegment(attr: number, limit: number, off: number, size: number): boolean {
  off >>>= 0;
  const last = off + size - 1;
  if ((attr & (SegAttr.CODE | SegAttr.DC)) === SegAttr.DC) {
    const top = (attr & SegAttr.DB) !== 0 ? 0xffffffff : 0xffff;
    return off > limit && last <= top;
  }
  return last <= limit;
}

// ------------------------------------------------------------------------------------------------
// Building descriptors (loaders, the VMM's boot GDT, tests)

/**
 * Writes a segment descriptor at linear `lin`: `limit` is the 20-bit limit field (in pages when
 * `attr` has G), `attr` the SegAttr bits (descriptor bytes 5–6).
 */
export function writeDescriptor(cpu: Cpu, lin: number, base: number, limit: number, attr: number): void {
  cpu.wr32(lin, (limit & 0xffff) | (base << 16));
  cpu.wr32((lin + 4) | 0, ((base >>> 16) & 0xff) | ((attr & 0xf0ff) << 8) | (limit & 0xf0000) | (base & 0xff000000));
}

/**
 * Writes a gate descriptor at linear `lin`: `type` is the system type (0x5 task, 0x6/0x7 16-bit
 * interrupt/trap, 0xc call, 0xe/0xf 32-bit interrupt/trap), present, with DPL `dpl`.
 */
export function writeGate(cpu: Cpu, lin: number, sel: number, offset: number, type: number, dpl: number): void {
  cpu.wr32(lin, (offset & 0xffff) | (sel << 16));
  cpu.wr32((lin + 4) | 0, (offset & 0xffff0000) | ((SegAttr.P | (dpl << SegAttr.DPL_SHIFT) | type) << 8));
}
