// Task switches (exit 9). VMX non-root operation cannot switch tasks (SDM vol. 3, 25.4.2): the CPU
// checks the gate, the TSS selector and the new TSS's descriptor (type, presence, limit), then
// exits with the selector and what started the switch in the qualification, and the VMM switches
// as the CPU would (vol. 3, 7.3; the CPU's own switch is src/machine/cpu/task.ts, on the same TSS
// layout, src/x86/tss.ts):
//
//   before the commit point   the old TSS's pages and the new one's link writable, the new task's
//                             state read; a page fault here leaves the guest as it was
//   commit                    the old task's state into its TSS, busy bits, the back link and NT,
//                             TR, CR0.TS, EIP
//   after it                  CR3, the registers, EFLAGS, LDTR and the segment registers with their
//                             checks (#TS, #NP, #SS), raised in the new task; DR7's local enables
//                             cleared; the T bit's #DB; for an exception through a task gate, its
//                             error code on the new task's stack; the new EIP within CS (#GP)
//
// A switch through a task gate in the IDT comes with the event being delivered in the IDT-vectoring
// information; it is delivered by the switch, so it is not injected again. A fault while delivering
// an exception follows the double-fault rules (src/x86/vectors.ts). The instruction that switched
// (CALL, JMP, IRET, INT n) retires when the switch completes, not when it faults (README.md,
// "Retired instructions").

import { Activity, EventType, GuestField, IntType, TaskSource, decodeIntInfo, decodeTaskSwitch } from "../l4/api.js";
import { DescAttr, descAttr, descBase, descLimit } from "../x86/descriptor.js";
import { Flag } from "../x86/eflags.js";
import { T16, T32 } from "../x86/tss.js";
import { isDoubleFault, Vec } from "../x86/vectors.js";
import { loadPdptes } from "./cr.js";
import { Outcome, type ExitCtx } from "./context.js";
import { isFault, readLinear, writeLinear } from "./memory.js";
import { Cr0, Cr4, type Paging } from "../x86/paging.js";
import { Dr6, DR7_LOCAL } from "../x86/debugregs.js";

const AR_UNUSABLE = 0x10000;
/** Present, accessed execute/read code and read/write data, DPL 0: CS and SS before the new task's load. */
const AR_PLACEHOLDER_CODE = 0x9b, AR_PLACEHOLDER_DATA = 0x93;
const INT_VALID = 0x80000000;
/** VMX access rights of every segment register in virtual-8086 mode. */
const AR_V86 = 0xf3;

/** Segment registers in the CPU's order (ES CS SS DS FS GS), as the guest-state words name them. */
const SEG_SEL = [GuestField.ES_SEL, GuestField.CS_SEL, GuestField.SS_SEL, GuestField.DS_SEL, GuestField.FS_SEL, GuestField.GS_SEL];
const ES = 0, CS = 1, SS = 2, DS = 3, FS = 4, GS = 5;
const GPRS = [GuestField.EAX, GuestField.ECX, GuestField.EDX, GuestField.EBX, GuestField.ESP, GuestField.EBP, GuestField.ESI, GuestField.EDI];

/** A fault the switch raises: vector, error code (-1: none), CR2 for a #PF. */
class Fault {
  constructor(readonly vector: number, readonly code: number, readonly cr2 = 0) {}
}

/** Guest memory not read yet: the handler returns NEED and runs again once it is. */
class Need {}
const NEED = new Need();

/** Supervisor accesses to guest-linear memory through the guest's paging, as a task switch makes them. */
class Sys {
  constructor(private readonly c: ExitCtx, readonly p: Paging) {}

  private bytes(lin: number, n: number): Uint8Array {
    const b = readLinear(this.c.mem, this.p, lin >>> 0, n);
    if (b === null) throw NEED;
    if (isFault(b)) throw new Fault(Vec.PF, 0, b.fault);
    return b;
  }

  rd(lin: number, n: 1 | 2 | 4): number {
    const b = this.bytes(lin, n);
    let v = 0;
    for (let i = n - 1; i >= 0; i--) v = (v << 8) | b[i];
    return v >>> 0;
  }

  /** Checks that `n` bytes at `lin` can be written (translations only: nothing is written). */
  probeWrite(lin: number, n: number): void {
    const writes = this.c.mem.writes, kept = writes.length;
    const r = writeLinear(this.c.mem, this.p, lin >>> 0, new Uint8Array(n));
    writes.length = kept;
    if (r === null) throw NEED;
    if (isFault(r)) throw new Fault(Vec.PF, 2, r.fault);
  }

  wr(lin: number, n: 1 | 2 | 4, v: number): void {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = (v >>> (8 * i)) & 0xff;
    const r = writeLinear(this.c.mem, this.p, lin >>> 0, b);
    if (r === null) throw NEED;
    if (isFault(r)) throw new Fault(Vec.PF, 2, r.fault);
  }
}

/** A descriptor as read from its table. */
interface Desc {
  base: number;
  limit: number;
  attr: number;
  /** Linear address of the descriptor (for its accessed and busy bits). */
  addr: number;
}

/** What a switch reads of the new task before its commit point. */
interface NewTask {
  cr3: number;
  eip: number;
  eflags: number;
  ldt: number;
  trap: number;
  regs: number[];
  /** Selectors in the CPU's order (ES CS SS DS FS GS). */
  segs: number[];
}

/** The event a switch through an IDT task gate delivers. */
interface GateEvent {
  vector: number;
  /** Its error code, or -1. */
  code: number;
  /** A software interrupt or exception (INT n, INT3, INTO): its instruction retires with it. */
  software: boolean;
}

export function taskSwitchExit(c: ExitCtx): Outcome {
  try {
    return taskSwitch(c);
  } catch (e) {
    if (e === NEED) return Outcome.NEED;
    throw e;
  }
}

function taskSwitch(c: ExitCtx): Outcome {
  const { selector: sel, source } = decodeTaskSwitch(c.x.qualification);
  const ev = gateEvent(c, source);
  const ext = ev !== null && !ev.software ? 1 : 0;
  // CALL, JMP, IRET and INT n switch from the instruction after them.
  const past = source !== TaskSource.TASK_GATE || ev?.software === true;
  const oldEip = (c.get(GuestField.EIP) + (past ? c.x.length : 0)) >>> 0;
  // A gate's event is delivered by the switch (or by the fault raised in its place): never again.
  // The guest runs on (an interrupt whose gate is a task gate may have found it halted).
  c.set(GuestField.ENTRY_INTR_INFO, 0);
  c.set(GuestField.ENTRY_ERROR_CODE, 0);
  c.set(GuestField.ENTRY_INSTR_LEN, 0);
  c.set(GuestField.INTERRUPTIBILITY, 0);
  c.set(GuestField.ACTIVITY, Activity.ACTIVE);

  const oldPaging = c.paging();
  let sys = new Sys(c, oldPaging);
  const gdt = c.get(GuestField.GDTR_BASE);
  const gdtLimit = c.get(GuestField.GDTR_LIMIT);
  const newDesc: Desc = { base: 0, limit: 0, attr: 0, addr: (gdt + (sel & 0xfff8)) >>> 0 };
  const next: NewTask = { cr3: 0, eip: 0, eflags: 0, ldt: 0, trap: 0, regs: [], segs: [] };
  const oldBase = c.get(GuestField.TR_BASE);
  const old32 = (c.get(GuestField.TR_ATTR) & 0x8) !== 0;
  const trSel = c.get(GuestField.TR_SEL);
  const oldBusyAt = (gdt + (trSel & 0xfff8) + 5) >>> 0;
  let oldBusy = 0;
  let new32 = false;

  // Before the commit point: every page the switch touches, and the new task's state.
  try {
    const lo = sys.rd(newDesc.addr, 4), hi = sys.rd(newDesc.addr + 4, 4);
    newDesc.base = descBase(lo, hi);
    newDesc.limit = descLimit(lo, hi);
    newDesc.attr = descAttr(hi);
    new32 = (newDesc.attr & 0x8) !== 0;
    if (old32) sys.probeWrite(oldBase + T32.EIP, T32.LDT - T32.EIP);
    else sys.probeWrite(oldBase + T16.IP, T16.LDT - T16.IP);
    if (source === TaskSource.CALL || source === TaskSource.TASK_GATE) sys.probeWrite(newDesc.base, 2);
    readNewState(c, sys, newDesc.base, new32, next);
    if (source === TaskSource.JMP || source === TaskSource.IRET) oldBusy = sys.rd(oldBusyAt, 1);
  } catch (e) {
    if (!(e instanceof Fault)) throw e;
    return raise(c, e, ev);
  }

  // Commit: the old task's state, busy bits, the back link, TR.
  let eflags = c.get(GuestField.EFLAGS);
  if (source === TaskSource.JMP || source === TaskSource.IRET) sys.wr(oldBusyAt, 1, oldBusy & ~2);
  if (source === TaskSource.IRET) eflags &= ~Flag.NT;
  saveOldState(c, sys, oldBase, old32, oldEip, eflags);
  if (source === TaskSource.CALL || source === TaskSource.TASK_GATE) {
    sys.wr(newDesc.base, 2, trSel);
    next.eflags |= Flag.NT;
  }
  if (source !== TaskSource.IRET) sys.wr(newDesc.addr + 5, 1, (newDesc.attr | 2) & 0xff);
  c.set(GuestField.TR_SEL, sel);
  c.set(GuestField.TR_BASE, newDesc.base);
  c.set(GuestField.TR_LIMIT, newDesc.limit);
  c.set(GuestField.TR_ATTR, newDesc.attr | 2);
  c.set(GuestField.CR0, (c.get(GuestField.CR0) | Cr0.TS) >>> 0);
  c.set(GuestField.EIP, next.eip);
  c.set(GuestField.DR7, (c.get(GuestField.DR7) & ~DR7_LOCAL) >>> 0);

  // After it: the new task's state; a fault is the new task's.
  if (new32 && next.cr3 !== c.get(GuestField.CR3)) {
    c.set(GuestField.CR3, next.cr3);
    if ((oldPaging.cr0 & Cr0.PG) !== 0 && (oldPaging.cr4 & Cr4.PAE) !== 0) {
      const o = loadPdptes(c, next.cr3);
      if (o === Outcome.NEED) throw NEED;
      if ((c.get(GuestField.ENTRY_INTR_INFO) & INT_VALID) !== 0) return o; // #GP for a reserved PDPTE bit
    }
    sys = new Sys(c, { ...oldPaging, cr3: next.cr3 });
  }
  try {
    loadNewState(c, sys, next, gdt, gdtLimit, ext);
    if (ev !== null && ev.code >= 0) pushAfterSwitch(c, sys, new32, ev.code);
    const csLimit = c.get(GuestField.CS_LIMIT);
    if ((next.eflags & Flag.VM) === 0 && next.eip > csLimit) throw new Fault(Vec.GP, ext);
  } catch (e) {
    if (!(e instanceof Fault)) throw e;
    return raise(c, e, ev);
  }
  if (next.trap !== 0) {
    // The T bit: #DB, a trap in the new task before its first instruction.
    c.set(GuestField.DR6, ((c.get(GuestField.DR6) & ~0xf) | Dr6.BT) >>> 0);
    c.inject(Vec.DB, EventType.HARDWARE_EXCEPTION);
  }
  // The instruction that switched is complete (an exception or interrupt is no instruction).
  if (past) c.retire();
  return Outcome.REPLY;
}

/** The event a switch through an IDT task gate delivers, from the IDT-vectoring information. */
function gateEvent(c: ExitCtx, source: TaskSource): GateEvent | null {
  if (source !== TaskSource.TASK_GATE) return null;
  const info = decodeIntInfo(c.get(GuestField.IDT_VECTORING_INFO));
  if (!info.valid) return null;
  const software = info.type === IntType.SOFTWARE_INTERRUPT || info.type === IntType.SOFTWARE_EXCEPTION;
  return { vector: info.vector, code: info.errorCode ? c.get(GuestField.IDT_VECTORING_ERROR) : -1, software };
}

/**
 * Raises `f` instead of finishing the switch (before the commit point the guest is as it was;
 * after it, the state written so far is the new task's). A fault while delivering an exception
 * follows the double-fault rules; one while delivering a double fault is a triple fault.
 */
function raise(c: ExitCtx, f: Fault, ev: GateEvent | null): Outcome {
  let vector = f.vector, code = f.code;
  if (ev !== null && !ev.software) {
    if (ev.vector === Vec.DF) return c.stop(`triple fault at EIP 0x${c.get(GuestField.EIP).toString(16)} (a fault in the double-fault task switch)`);
    if (isDoubleFault(ev.vector, vector)) {
      vector = Vec.DF;
      code = 0;
    }
  }
  if (vector === Vec.PF) c.set(GuestField.CR2, f.cr2);
  c.fault(vector, code >= 0 ? code : undefined);
  return Outcome.REPLY;
}

function readNewState(c: ExitCtx, sys: Sys, base: number, is32: boolean, next: NewTask): void {
  if (is32) {
    next.cr3 = sys.rd(base + T32.CR3, 4);
    next.eip = sys.rd(base + T32.EIP, 4);
    next.eflags = sys.rd(base + T32.EFLAGS, 4);
    for (let r = 0; r < 8; r++) next.regs[r] = sys.rd(base + T32.REGS + 4 * r, 4);
    for (let s = 0; s < 6; s++) next.segs[s] = sys.rd(base + T32.SEGS + 4 * s, 2);
    next.ldt = sys.rd(base + T32.LDT, 2);
    next.trap = sys.rd(base + T32.TRAP, 1) & 1;
  } else {
    next.eip = sys.rd(base + T16.IP, 2);
    // As the CPU: EFLAGS keeps its upper half but VM and RF; the registers' upper halves are all ones.
    next.eflags = ((c.get(GuestField.EFLAGS) & 0xffff0000 & ~(Flag.VM | Flag.RF)) | sys.rd(base + T16.FLAGS, 2)) >>> 0;
    for (let r = 0; r < 8; r++) next.regs[r] = (0xffff0000 | sys.rd(base + T16.REGS + 2 * r, 2)) >>> 0;
    for (let s = 0; s < 4; s++) next.segs[s] = sys.rd(base + T16.SEGS + 2 * s, 2);
    next.segs[FS] = next.segs[GS] = 0;
    next.ldt = sys.rd(base + T16.LDT, 2);
    next.trap = 0;
  }
}

function saveOldState(c: ExitCtx, sys: Sys, base: number, is32: boolean, eip: number, eflags: number): void {
  if (is32) {
    sys.wr(base + T32.EIP, 4, eip);
    sys.wr(base + T32.EFLAGS, 4, eflags);
    for (let r = 0; r < 8; r++) sys.wr(base + T32.REGS + 4 * r, 4, c.get(GPRS[r]));
    for (let s = 0; s < 6; s++) sys.wr(base + T32.SEGS + 4 * s, 2, c.get(SEG_SEL[s]));
  } else {
    sys.wr(base + T16.IP, 2, eip);
    sys.wr(base + T16.FLAGS, 2, eflags);
    for (let r = 0; r < 8; r++) sys.wr(base + T16.REGS + 2 * r, 2, c.get(GPRS[r]));
    for (let s = 0; s < 4; s++) sys.wr(base + T16.SEGS + 2 * s, 2, c.get(SEG_SEL[s]));
  }
}

/** Sets segment register `s` (CPU order) in the reply. */
function setSeg(c: ExitCtx, s: number, sel: number, base: number, limit: number, ar: number): void {
  const f = SEG_SEL[s];
  c.set(f, sel & 0xffff);
  c.set(f + 1, base);
  c.set(f + 2, limit);
  c.set(f + 3, ar);
}

const dplOf = (attr: number): number => (attr >>> DescAttr.DPL_SHIFT) & 3;
const selCode = (sel: number, ext: number): number => (sel & 0xfffc) | ext;

function loadNewState(c: ExitCtx, sys: Sys, next: NewTask, gdt: number, gdtLimit: number, ext: number): void {
  for (let r = 0; r < 8; r++) c.set(GPRS[r], next.regs[r]);
  c.set(GuestField.EFLAGS, (next.eflags | Flag.FIXED) >>> 0);
  const vm = (next.eflags & Flag.VM) !== 0;
  const cs = next.segs[CS];
  const cpl = vm ? 3 : cs & 3;
  // The selectors arrive first, their descriptors loaded as they pass the checks below. Until
  // then DS, ES, FS and GS are unusable; CS and SS, which VM entry needs usable (SS's DPL is the
  // CPL), hold an empty code and data segment at the new CPL: a fault raised now is delivered
  // through a gate, which loads both anew.
  for (let s = 0; s < 6; s++) setSeg(c, s, next.segs[s], 0, 0, AR_UNUSABLE);
  setSeg(c, CS, cs, 0, 0, AR_PLACEHOLDER_CODE | (cpl << DescAttr.DPL_SHIFT));
  setSeg(c, SS, next.segs[SS], 0, 0, AR_PLACEHOLDER_DATA | (cpl << DescAttr.DPL_SHIFT));
  c.set(GuestField.LDTR_SEL, next.ldt);
  c.set(GuestField.LDTR_BASE, 0);
  c.set(GuestField.LDTR_LIMIT, 0);
  c.set(GuestField.LDTR_ATTR, AR_UNUSABLE);

  let ldt: { base: number; limit: number } | null = null;
  const ldtSel = next.ldt;
  if ((ldtSel & 0xfffc) !== 0) {
    const d = (ldtSel & 4) === 0 ? descriptor(sys, gdt, gdtLimit, ldtSel) : null;
    if (d === null || (d.attr & 0x1f) !== 2 || (d.attr & DescAttr.P) === 0) throw new Fault(Vec.TS, selCode(ldtSel, ext));
    ldt = { base: d.base, limit: d.limit };
    c.set(GuestField.LDTR_BASE, d.base);
    c.set(GuestField.LDTR_LIMIT, d.limit);
    c.set(GuestField.LDTR_ATTR, d.attr);
  }
  if (vm) {
    for (let s = 0; s < 6; s++) setSeg(c, s, next.segs[s], next.segs[s] << 4, 0xffff, AR_V86);
    return;
  }
  const lookup = (sel: number): Desc | null =>
    (sel & 4) === 0 ? descriptor(sys, gdt, gdtLimit, sel) : ldt === null ? null : descriptor(sys, ldt.base, ldt.limit, sel);
  const accessed = (d: Desc): number => {
    if ((d.attr & (DescAttr.S | DescAttr.ACCESSED)) === DescAttr.S) sys.wr(d.addr + 5, 1, (d.attr | DescAttr.ACCESSED) & 0xff);
    return d.attr | DescAttr.ACCESSED;
  };

  // CS: a code segment the new CPL (its RPL) may run in.
  let d = (cs & 0xfffc) === 0 ? null : lookup(cs);
  if (d === null || (d.attr & (DescAttr.S | DescAttr.CODE)) !== (DescAttr.S | DescAttr.CODE)) throw new Fault(Vec.TS, selCode(cs, ext));
  if ((d.attr & DescAttr.DC) !== 0 ? dplOf(d.attr) > cpl : dplOf(d.attr) !== cpl) throw new Fault(Vec.TS, selCode(cs, ext));
  if ((d.attr & DescAttr.P) === 0) throw new Fault(Vec.NP, selCode(cs, ext));
  setSeg(c, CS, cs, d.base, d.limit, accessed(d));

  // SS: a writable data segment at the new CPL.
  const ss = next.segs[SS];
  d = (ss & 0xfffc) === 0 ? null : lookup(ss);
  if (d === null || (d.attr & (DescAttr.S | DescAttr.CODE | DescAttr.RW)) !== (DescAttr.S | DescAttr.RW) || dplOf(d.attr) !== cpl || (ss & 3) !== cpl) {
    throw new Fault(Vec.TS, selCode(ss, ext));
  }
  if ((d.attr & DescAttr.P) === 0) throw new Fault(Vec.SS, selCode(ss, ext));
  setSeg(c, SS, ss, d.base, d.limit, accessed(d));

  // DS, ES, FS, GS: null, data, or readable code the new CPL may use.
  for (const s of [ES, DS, FS, GS]) {
    const sel = next.segs[s];
    if ((sel & 0xfffc) === 0) continue;
    d = lookup(sel);
    if (d === null || (d.attr & DescAttr.S) === 0 || (d.attr & (DescAttr.CODE | DescAttr.RW)) === DescAttr.CODE) throw new Fault(Vec.TS, selCode(sel, ext));
    if ((d.attr & (DescAttr.CODE | DescAttr.DC)) !== (DescAttr.CODE | DescAttr.DC) && dplOf(d.attr) < Math.max(cpl, sel & 3)) {
      throw new Fault(Vec.TS, selCode(sel, ext));
    }
    if ((d.attr & DescAttr.P) === 0) throw new Fault(Vec.NP, selCode(sel, ext));
    setSeg(c, s, sel, d.base, d.limit, accessed(d));
  }
}

/** The descriptor `sel` names in the table at `base` (limit `limit`), or null beyond the limit. */
function descriptor(sys: Sys, base: number, limit: number, sel: number): Desc | null {
  if ((sel | 7) > limit >>> 0) return null;
  const addr = (base + (sel & 0xfff8)) >>> 0;
  const lo = sys.rd(addr, 4), hi = sys.rd(addr + 4, 4);
  return { base: descBase(lo, hi) >>> 0, limit: descLimit(lo, hi), attr: descAttr(hi), addr };
}

/** An exception's error code on the new task's stack, in the width of its TSS. */
function pushAfterSwitch(c: ExitCtx, sys: Sys, is32: boolean, code: number): void {
  const size = is32 ? 4 : 2;
  const stack32 = (c.get(GuestField.SS_ATTR) & DescAttr.DB) !== 0;
  const esp = c.get(GuestField.ESP);
  const sp = stack32 ? (esp - size) >>> 0 : (esp - size) & 0xffff;
  const limit = c.get(GuestField.SS_LIMIT);
  const attr = c.get(GuestField.SS_ATTR);
  const expandDown = (attr & (DescAttr.CODE | DescAttr.DC)) === DescAttr.DC;
  if (expandDown ? sp <= limit : sp + size - 1 > limit) throw new Fault(Vec.SS, 0);
  sys.wr(c.get(GuestField.SS_BASE) + sp, size, code);
  c.set(GuestField.ESP, stack32 ? sp : ((esp & 0xffff0000) | sp) >>> 0);
}
