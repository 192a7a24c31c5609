// String instructions: MOVS CMPS SCAS LODS STOS INS OUTS (A4–AF, 6C–6F) in byte, word and dword
// forms, with REP / REPE / REPNE (SDM vol. 2, each instruction's Operation section, and "REP").
//
// - The source segment is DS unless overridden; the destination ES:(E)DI never is.
// - The address size picks SI/DI/CX or ESI/EDI/ECX; DF picks the direction.
// - F2 on an instruction other than CMPS/SCAS acts as F3 (plain REP).
// - Every iteration commits (E)SI, (E)DI and (E)CX before the next one starts, so a fault in
//   iteration k leaves the registers as they were after k-1 iterations, with EIP at the
//   instruction: resuming after the fault continues the loop where it stopped.
// - A repeated instruction runs at most REP_CHUNK iterations per execution, never past the
//   run's end (`Cpu.runEnd`: the next timer event, a seek target, --max-insns), and one when a
//   single step waits for it (TF latched before it, or the host debugger's step: SDM vol. 3,
//   17.3.1.4, a REP string instruction traps after each iteration). A data breakpoint (the guest's
//   or the host debugger's) ends the execution after the iteration that hit it (SDM vol. 3,
//   17.3.1.2). If more remain it leaves EIP at itself and the next fetch continues it; interrupts
//   and the debug traps come in between, as a real CPU takes them between iterations.
// - The icount (retired instructions, the virtual clock's source) counts every iteration, as
//   QEMU's icount and single-step do, and a REP whose count is zero once. So every iteration is a
//   position of its own (an icount and the registers it leaves), reached alike however the
//   instruction was sliced, interrupted or emulated: a VMM that emulates a chunk of REP INS/OUTS
//   retires its elements. A fault in an iteration retires the ones before it, registers
//   committed, EIP at the instruction. A compiled block runs the instruction through this
//   handler and counts on from the icount it leaves.
// - REP MOVS and REP STOS with 32-bit addressing and flat segments move whole runs of iterations
//   at once while source and destination stay within pages the TLB already holds (bulkMovs,
//   bulkStos): the same bytes, registers and chunking as one iteration at a time, since no
//   iteration in such a run can fault, and anything else (a TLB miss, an element straddling a
//   page, an overlap a forward copy would smear) goes one iteration at a time.

import { Flag } from "../../../x86/eflags.js";
import { Prefix, Reg, Seg, type Insn } from "../../../x86/insn.js";
import { Stop } from "../arch.js";
import type { Cpu } from "../cpu.js";
import { Dr6 } from "../../../x86/debugregs.js";
import { LazyOp } from "../lazy-flags.js";
import { def } from "../table.js";
import { checkIo } from "./system.js";
import { vmxStringIo } from "../vmx.js";
import { REP_CHUNK } from "../../../x86/rep.js";

/**
 * Iterations this execution may run: one when a single step waits (TF, or the host's step), else
 * up to REP_CHUNK and never past the run's end, since each iteration retires (see the file comment).
 */
function chunk(cpu: Cpu): number {
  if (cpu.dbgPending !== 0 && (cpu.dbgTrap & Dr6.BS) !== 0) return 1;
  const h = cpu.hostDebug;
  if (h !== null && h.step) return 1;
  const left = cpu.runEnd - cpu.icount;
  return left >= REP_CHUNK ? REP_CHUNK : left > 1 ? left : 1;
}

/**
 * Whether an iteration just done ends the execution for a data breakpoint (the guest's or the
 * host debugger's): it is reported after that iteration (SDM vol. 3, 17.3.1.2). `watched` is
 * whether the run loop checks debug state for this instruction, which cleared the hits before it.
 */
function watchStop(cpu: Cpu, watched: boolean): boolean {
  return watched && cpu.paging.hits !== 0;
}

/**
 * The execution's end, `left` iterations still to do. Each iteration done was counted as it
 * completed, and the run loop counts one more as the handler returns, so one is taken back here.
 * With iterations left the instruction is still under way: EIP stays at it and the next fetch
 * continues it. The interrupt shadow of a MOV SS or STI before it has covered the first iteration
 * and lapses by itself: it holds the icount it applies at, now behind us. The host debugger's step
 * ends here.
 */
function repEnd(cpu: Cpu, left: number): void {
  cpu.icount--;
  if (left === 0) return;
  cpu.eip = cpu.insnEip;
  const h = cpu.hostDebug;
  if (h !== null && h.step) {
    h.hit = { kind: "step" };
    cpu.requestStop(Stop.REQUEST);
  }
}

const REP_ANY = Prefix.REP | Prefix.REPNE;

function srcSeg(i: Insn): number {
  return i.segOverride >= 0 ? i.segOverride : Seg.DS;
}

function rd(cpu: Cpu, seg: number, off: number, size: number): number {
  return size === 1 ? cpu.read8(seg, off) : size === 2 ? cpu.read16(seg, off) : cpu.read32(seg, off);
}

function wr(cpu: Cpu, seg: number, off: number, v: number, size: number): void {
  if (size === 1) cpu.write8(seg, off, v);
  else if (size === 2) cpu.write16(seg, off, v);
  else cpu.write32(seg, off, v);
}

function acc(cpu: Cpu, size: number): number {
  return size === 1 ? cpu.r8[0] : size === 2 ? cpu.r16[0] : cpu.r32[0];
}

function setAcc(cpu: Cpu, v: number, size: number): void {
  if (size === 1) cpu.r8[0] = v;
  else if (size === 2) cpu.r16[0] = v;
  else cpu.r32[0] = v;
}

/** Reads index register `r` (ESI/EDI/ECX) at the address size. */
function idx(cpu: Cpu, r: number, a32: boolean): number {
  return a32 ? cpu.r32[r] : cpu.r16[r << 1];
}

/** Adds `d` to index register `r` at the address size. */
function step(cpu: Cpu, r: number, d: number, a32: boolean): void {
  if (a32) cpu.r32[r] = (cpu.r32[r] + d) | 0;
  else cpu.r16[r << 1] = cpu.r16[r << 1] + d;
}

/** The count register as an unsigned number. */
function count(cpu: Cpu, a32: boolean): number {
  return a32 ? cpu.r32[Reg.ECX] >>> 0 : cpu.r16[Reg.ECX << 1];
}

function setCount(cpu: Cpu, v: number, a32: boolean): void {
  if (a32) cpu.r32[Reg.ECX] = v;
  else cpu.r16[Reg.ECX << 1] = v;
}

function delta(cpu: Cpu, size: number): number {
  return (cpu.flags & Flag.DF) !== 0 ? -size : size;
}

// Each family member: one iteration (registers committed), plus the REP driver.

function movs(cpu: Cpu, i: Insn, size: 1 | 2 | 4): void {
  const a32 = i.adsize === 32, seg = srcSeg(i), d = delta(cpu, size);
  if ((i.prefixes & REP_ANY) === 0) {
    wr(cpu, Seg.ES, idx(cpu, Reg.EDI, a32), rd(cpu, seg, idx(cpu, Reg.ESI, a32), size), size);
    step(cpu, Reg.ESI, d, a32);
    step(cpu, Reg.EDI, d, a32);
    return;
  }
  let c = count(cpu, a32);
  if (c === 0) return;
  const watched = cpu.dbgArmed !== 0;
  for (let n = Math.min(c, chunk(cpu)); n > 0; n--) {
    if (a32 && n > 1) {
      const k = bulkMovs(cpu, seg, size, d, n);
      if (k > 0) {
        c -= k;
        n -= k - 1;
        cpu.icount += k;
        continue;
      }
    }
    wr(cpu, Seg.ES, idx(cpu, Reg.EDI, a32), rd(cpu, seg, idx(cpu, Reg.ESI, a32), size), size);
    step(cpu, Reg.ESI, d, a32);
    step(cpu, Reg.EDI, d, a32);
    setCount(cpu, --c, a32);
    cpu.icount++;
    if (watchStop(cpu, watched)) break;
  }
  repEnd(cpu, c);
}

/**
 * How many of the next `n` iterations of a 32-bit-addressed REP MOVS lie wholly within the
 * current source and destination pages, from the first: at most `n`, by direction `d`.
 */
function runInPage(lin: number, size: number, d: number, n: number): number {
  const off = lin & 0xfff;
  // Forward: elements at off, off+size, ... must end by 0x1000; backward: down to offset 0.
  const room = d > 0 ? ((0x1000 - off) / size) | 0 : off + size <= 0x1000 ? ((off / size) | 0) + 1 : 0;
  return room < n ? room : n;
}

/**
 * REP MOVS iterations done in bulk (up to `n`), registers committed; 0 when the next iteration
 * must go alone. See the file comment.
 */
function bulkMovs(cpu: Cpu, seg: number, size: number, d: number, n: number): number {
  if ((cpu.segFast[seg] & 1) === 0 || (cpu.segFast[Seg.ES] & 2) === 0) return 0;
  const esi = cpu.r32[Reg.ESI], edi = cpu.r32[Reg.EDI];
  const src = (cpu.segBase[seg] + esi) | 0, dst = (cpu.segBase[Seg.ES] + edi) | 0;
  let k = runInPage(src, size, d, n);
  k = runInPage(dst, size, d, k);
  if (k < 2) return 0;
  let sp = cpu.tlbPhys(src, false);
  let dp = cpu.tlbPhys(dst, true);
  if (sp < 0 || dp < 0) return 0;
  const bytes = k * size;
  if (d < 0) {
    // The run's lowest elements.
    sp -= bytes - size;
    dp -= bytes - size;
    // Backward copying matches a move unless the destination lies below an overlapping source.
    if (dp < sp && dp + bytes > sp) return 0;
  } else if (dp > sp && dp < sp + bytes) {
    return 0;
  }
  const mem = cpu.mem;
  if (mem.pageFlags[dp >>> 12] !== 0) mem.written(dp >>> 12, dp, bytes);
  mem.u8.copyWithin(dp, sp, sp + bytes);
  const moved = d < 0 ? -bytes : bytes;
  cpu.r32[Reg.ESI] = (esi + moved) | 0;
  cpu.r32[Reg.EDI] = (edi + moved) | 0;
  cpu.r32[Reg.ECX] = (cpu.r32[Reg.ECX] - k) | 0;
  return k;
}

/** REP STOS iterations done in bulk (up to `n`), registers committed; 0 when the next must go alone. */
function bulkStos(cpu: Cpu, size: number, d: number, n: number, v: number): number {
  if ((cpu.segFast[Seg.ES] & 2) === 0) return 0;
  const edi = cpu.r32[Reg.EDI];
  const dst = (cpu.segBase[Seg.ES] + edi) | 0;
  const k = runInPage(dst, size, d, n);
  if (k < 2) return 0;
  let dp = cpu.tlbPhys(dst, true);
  if (dp < 0 || (dp & (size - 1)) !== 0) return 0;
  const bytes = k * size;
  if (d < 0) dp -= bytes - size;
  const mem = cpu.mem;
  if (mem.pageFlags[dp >>> 12] !== 0) mem.written(dp >>> 12, dp, bytes);
  if (size === 1) mem.u8.fill(v, dp, dp + bytes);
  else if (size === 2) mem.u16.fill(v, dp >>> 1, (dp + bytes) >>> 1);
  else mem.i32.fill(v, dp >>> 2, (dp + bytes) >>> 2);
  cpu.r32[Reg.EDI] = (edi + (d < 0 ? -bytes : bytes)) | 0;
  cpu.r32[Reg.ECX] = (cpu.r32[Reg.ECX] - k) | 0;
  return k;
}

function stos(cpu: Cpu, i: Insn, size: 1 | 2 | 4): void {
  const a32 = i.adsize === 32, d = delta(cpu, size);
  const v = acc(cpu, size);
  if ((i.prefixes & REP_ANY) === 0) {
    wr(cpu, Seg.ES, idx(cpu, Reg.EDI, a32), v, size);
    step(cpu, Reg.EDI, d, a32);
    return;
  }
  let c = count(cpu, a32);
  if (c === 0) return;
  const watched = cpu.dbgArmed !== 0;
  for (let n = Math.min(c, chunk(cpu)); n > 0; n--) {
    if (a32 && n > 1) {
      const k = bulkStos(cpu, size, d, n, v);
      if (k > 0) {
        c -= k;
        n -= k - 1;
        cpu.icount += k;
        continue;
      }
    }
    wr(cpu, Seg.ES, idx(cpu, Reg.EDI, a32), v, size);
    step(cpu, Reg.EDI, d, a32);
    setCount(cpu, --c, a32);
    cpu.icount++;
    if (watchStop(cpu, watched)) break;
  }
  repEnd(cpu, c);
}

function lods(cpu: Cpu, i: Insn, size: 1 | 2 | 4): void {
  const a32 = i.adsize === 32, seg = srcSeg(i), d = delta(cpu, size);
  if ((i.prefixes & REP_ANY) === 0) {
    setAcc(cpu, rd(cpu, seg, idx(cpu, Reg.ESI, a32), size), size);
    step(cpu, Reg.ESI, d, a32);
    return;
  }
  let c = count(cpu, a32);
  if (c === 0) return;
  const watched = cpu.dbgArmed !== 0;
  for (let n = Math.min(c, chunk(cpu)); n > 0; n--) {
    setAcc(cpu, rd(cpu, seg, idx(cpu, Reg.ESI, a32), size), size);
    step(cpu, Reg.ESI, d, a32);
    setCount(cpu, --c, a32);
    cpu.icount++;
    if (watchStop(cpu, watched)) break;
  }
  repEnd(cpu, c);
}

/** CMPS (`scas` false: [seg:SI] - ES:[DI]) and SCAS (`scas` true: eAX - ES:[DI]). */
function compare(cpu: Cpu, i: Insn, size: 1 | 2 | 4, scas: boolean): void {
  const a32 = i.adsize === 32, seg = srcSeg(i), d = delta(cpu, size);
  const rep = i.prefixes & REP_ANY;
  if (rep === 0) {
    compareOnce(cpu, i, size, scas, seg, d, a32);
    return;
  }
  let c = count(cpu, a32);
  if (c === 0) return;
  const watched = cpu.dbgArmed !== 0;
  // REPE stops when ZF = 0, REPNE when ZF = 1 (F2 wins when both are present).
  const stopOnZ = (rep & Prefix.REPNE) !== 0;
  const mask = size === 4 ? -1 : size === 2 ? 0xffff : 0xff;
  for (let n = Math.min(c, chunk(cpu)); n > 0; n--) {
    const diff = compareOnce(cpu, i, size, scas, seg, d, a32);
    setCount(cpu, --c, a32);
    cpu.icount++;
    // The condition ending the loop completes the instruction, whatever the count says.
    if ((diff & mask) === 0 ? stopOnZ : !stopOnZ) c = 0;
    if (c === 0 || watchStop(cpu, watched)) break;
  }
  repEnd(cpu, c);
}

/** One CMPS or SCAS iteration, registers committed; returns the difference its flags come from. */
function compareOnce(cpu: Cpu, i: Insn, size: 1 | 2 | 4, scas: boolean, seg: number, d: number, a32: boolean): number {
  const a = scas ? acc(cpu, size) : rd(cpu, seg, idx(cpu, Reg.ESI, a32), size);
  const b = rd(cpu, Seg.ES, idx(cpu, Reg.EDI, a32), size);
  cpu.setLazy(LazyOp.SUB, a, b, (a - b) | 0, size);
  if (!scas) step(cpu, Reg.ESI, d, a32);
  step(cpu, Reg.EDI, d, a32);
  return a - b;
}

function ins(cpu: Cpu, i: Insn, size: 1 | 2 | 4): void {
  const a32 = i.adsize === 32, d = delta(cpu, size);
  const port = cpu.r16[Reg.EDX << 1];
  checkIo(cpu, port, size);
  const rep = (i.prefixes & REP_ANY) !== 0;
  if (cpu.nonRoot) vmxStringIo(cpu, port, size, true, rep, a32, Seg.ES, idx(cpu, Reg.EDI, a32));
  if (!rep) {
    insOnce(cpu, port, size, d, a32);
    return;
  }
  let c = count(cpu, a32);
  if (c === 0) return;
  const watched = cpu.dbgArmed !== 0;
  for (let n = Math.min(c, chunk(cpu)); n > 0; n--) {
    insOnce(cpu, port, size, d, a32);
    setCount(cpu, --c, a32);
    cpu.icount++;
    if (watchStop(cpu, watched)) break;
  }
  repEnd(cpu, c);
}

function insOnce(cpu: Cpu, port: number, size: 1 | 2 | 4, d: number, a32: boolean): void {
  // The destination is checked before the port is read, so a faulting INS reads nothing.
  const lin = cpu.linW(Seg.ES, idx(cpu, Reg.EDI, a32), size);
  if (size === 1) cpu.wr8(lin, cpu.io.in8(port));
  else if (size === 2) cpu.wr16(lin, cpu.io.in16(port));
  else cpu.wr32(lin, cpu.io.in32(port));
  step(cpu, Reg.EDI, d, a32);
}

function outs(cpu: Cpu, i: Insn, size: 1 | 2 | 4): void {
  const a32 = i.adsize === 32, seg = srcSeg(i), d = delta(cpu, size);
  const port = cpu.r16[Reg.EDX << 1];
  checkIo(cpu, port, size);
  const rep = (i.prefixes & REP_ANY) !== 0;
  if (cpu.nonRoot) vmxStringIo(cpu, port, size, false, rep, a32, seg, idx(cpu, Reg.ESI, a32));
  if (!rep) {
    outsOnce(cpu, port, size, seg, d, a32);
    return;
  }
  let c = count(cpu, a32);
  if (c === 0) return;
  const watched = cpu.dbgArmed !== 0;
  for (let n = Math.min(c, chunk(cpu)); n > 0; n--) {
    outsOnce(cpu, port, size, seg, d, a32);
    setCount(cpu, --c, a32);
    cpu.icount++;
    if (watchStop(cpu, watched)) break;
  }
  repEnd(cpu, c);
}

function outsOnce(cpu: Cpu, port: number, size: 1 | 2 | 4, seg: number, d: number, a32: boolean): void {
  const v = rd(cpu, seg, idx(cpu, Reg.ESI, a32), size);
  if (size === 1) cpu.io.out8(port, v);
  else if (size === 2) cpu.io.out16(port, v);
  else cpu.io.out32(port, v);
  step(cpu, Reg.ESI, d, a32);
}

function register(): void {
  def(0xa4, (cpu, i) => movs(cpu, i, 1));
  def(0xa5, (cpu, i) => movs(cpu, i, 2), (cpu, i) => movs(cpu, i, 4));
  def(0xa6, (cpu, i) => compare(cpu, i, 1, false));
  def(0xa7, (cpu, i) => compare(cpu, i, 2, false), (cpu, i) => compare(cpu, i, 4, false));
  def(0xaa, (cpu, i) => stos(cpu, i, 1));
  def(0xab, (cpu, i) => stos(cpu, i, 2), (cpu, i) => stos(cpu, i, 4));
  def(0xac, (cpu, i) => lods(cpu, i, 1));
  def(0xad, (cpu, i) => lods(cpu, i, 2), (cpu, i) => lods(cpu, i, 4));
  def(0xae, (cpu, i) => compare(cpu, i, 1, true));
  def(0xaf, (cpu, i) => compare(cpu, i, 2, true), (cpu, i) => compare(cpu, i, 4, true));
  def(0x6c, (cpu, i) => ins(cpu, i, 1));
  def(0x6d, (cpu, i) => ins(cpu, i, 2), (cpu, i) => ins(cpu, i, 4));
  def(0x6e, (cpu, i) => outs(cpu, i, 1));
  def(0x6f, (cpu, i) => outs(cpu, i, 2), (cpu, i) => outs(cpu, i, 4));
}

register();
