// EPT violations (exit 48), which L4 sends to the VM's pager — the VMM — as page-fault IPC. Guest
// RAM is the VMM's own memory (frames sigma0 gave it, mapped at its RAM window): a fault inside
// RAM is answered with a map item of the surrounding granule (4 MiB by default, which the kernel
// enters as two 2 MiB EPT leaves), and the guest retries the access. A fault outside RAM is MMIO:
// the VMM decodes the instruction with src/x86 and emulates the access. No virtual device is
// memory-mapped yet, so every MMIO access is to unassigned space — reads return all ones, writes
// are dropped — and each is counted and its address reported in the summary.

import { GuestField, Rights, fpage } from "../l4/api.js";
import { Reg } from "../x86/insn.js";
import { Outcome, type ExitCtx } from "./context.js";
import { isFault } from "./memory.js";

/** log2 of the block of guest RAM mapped for a fault at `gpa`: up to mapLog2, inside RAM. */
export function mapGranule(ramSize: number, mapLog2: number, gpa: number): number {
  let l = mapLog2;
  while (l > 12) {
    const size = 2 ** l;
    const base = Math.floor(gpa / size) * size;
    if (base + size <= ramSize) break;
    l--;
  }
  return l;
}

export function eptExit(c: ExitCtx): Outcome {
  const gpa = c.x.gpa >>> 0;
  const s = c.s;
  if (gpa < s.ramSize) {
    const log2 = mapGranule(s.ramSize, s.mapLog2, gpa);
    const base = Math.floor(gpa / 2 ** log2) * 2 ** log2;
    c.reply.map(fpage(s.ramWindow + base, log2, Rights.RWX), base);
    s.stats.ramMaps++;
    return Outcome.REPLY;
  }
  return mmioExit(c);
}

const MMIO_ADDRESSES_KEPT = 16;

function noteMmio(c: ExitCtx, gpa: number): void {
  const st = c.s.stats;
  st.mmio++;
  const page = (gpa & ~0xfff) >>> 0;
  if (st.mmioAddresses.length < MMIO_ADDRESSES_KEPT && !st.mmioAddresses.includes(page)) st.mmioAddresses.push(page);
}

/** A read of unassigned guest-physical space: nothing drives the bus. */
function mmioRead(c: ExitCtx, gpa: number, size: number): number {
  noteMmio(c, gpa);
  return size === 4 ? 0xffffffff : (1 << (8 * size)) - 1;
}

/** A write to unassigned guest-physical space: dropped (a device would take `value` of `size` bytes). */
function mmioWrite(c: ExitCtx, gpa: number, _size: number, _value: number): void {
  noteMmio(c, gpa);
}

/** Byte register `r` (AL CL DL BL AH CH DH BH). */
function reg8(c: ExitCtx, r: number): number {
  return r < 4 ? c.gpr(r) & 0xff : (c.gpr(r - 4) >>> 8) & 0xff;
}

function setReg8(c: ExitCtx, r: number, v: number): void {
  if (r < 4) c.setGpr(r, ((c.gpr(r) & ~0xff) | (v & 0xff)) >>> 0);
  else c.setGpr(r - 4, ((c.gpr(r - 4) & ~0xff00) | ((v & 0xff) << 8)) >>> 0);
}

function setReg(c: ExitCtx, r: number, size: number, v: number): void {
  if (size === 1) setReg8(c, r, v);
  else if (size === 2) c.setGpr(r, ((c.gpr(r) & ~0xffff) | (v & 0xffff)) >>> 0);
  else c.setGpr(r, v >>> 0);
}

function regOf(c: ExitCtx, r: number, size: number): number {
  if (size === 1) return reg8(c, r);
  return size === 2 ? c.gpr(r) & 0xffff : c.gpr(r);
}

const CF = 0x1, PF = 0x4, AF = 0x10, ZF = 0x40, SF = 0x80, OF = 0x800;
const ARITH_FLAGS = CF | PF | AF | ZF | SF | OF;

/**
 * The eight ALU operations of opcodes 00-3F and group 1 (ADD OR ADC SBB AND SUB XOR CMP, by bits
 * 5:3), on `size`-byte operands: the result and the arithmetic flags. Linux reads MMIO with them
 * only by accident — its early stack-protector checks use %fs before the per-CPU segment exists,
 * reading unassigned space — but a bus that answers all ones must answer every reader alike.
 */
export function alu(op: number, a: number, b: number, size: number, carryIn: number): { result: number; flags: number } {
  const bits = 8 * size;
  const mask = size === 4 ? 0xffffffff : (1 << bits) - 1;
  const sign = 2 ** (bits - 1);
  a = (a & mask) >>> 0;
  b = (b & mask) >>> 0;
  let wide: number;
  let flags = 0;
  switch (op) {
    case 0: case 2: // ADD, ADC
      wide = a + b + (op === 2 ? carryIn : 0);
      break;
    case 3: case 5: case 7: // SBB, SUB, CMP
      wide = a - b - (op === 3 ? carryIn : 0);
      break;
    case 1: wide = a | b; break;
    case 4: wide = a & b; break;
    default: wide = a ^ b; break;
  }
  const r = ((wide >>> 0) & mask) >>> 0;
  if (op === 0 || op === 2) {
    if (wide > mask) flags |= CF;
    if (((a ^ r) & (b ^ r) & sign) !== 0) flags |= OF;
    if (((a ^ b ^ r) & 0x10) !== 0) flags |= AF;
  } else if (op === 3 || op === 5 || op === 7) {
    if (wide < 0) flags |= CF;
    if (((a ^ b) & (a ^ r) & sign) !== 0) flags |= OF;
    if (((a ^ b ^ r) & 0x10) !== 0) flags |= AF;
  }
  if (r === 0) flags |= ZF;
  if ((r & sign) !== 0) flags |= SF;
  let p = r & 0xff;
  p ^= p >>> 4;
  p ^= p >>> 2;
  p ^= p >>> 1;
  if ((p & 1) === 0) flags |= PF;
  return { result: r, flags };
}

/** An ALU instruction with an MMIO operand: `dst` says where the result goes (null: flags only). */
function mmioAlu(c: ExitCtx, gpa: number, op: number, a: number, b: number, size: number, dst: number | "mem" | null): void {
  const eflags = c.get(GuestField.EFLAGS);
  const { result, flags } = alu(op, a, b, size, eflags & CF);
  c.set(GuestField.EFLAGS, ((eflags & ~ARITH_FLAGS) | flags) >>> 0);
  if (op === 7 || dst === null) return;
  if (dst === "mem") mmioWrite(c, gpa, size, result);
  else setReg(c, dst, size, result);
}

/** MOV-family loads and stores to or from MMIO, the forms a driver's readl/writel compile to. */
export function mmioExit(c: ExitCtx): Outcome {
  const gpa = c.x.gpa >>> 0;
  const hex = gpa.toString(16);
  if (c.x.qualification & Rights.X) return c.stop(`the guest executed at guest-physical 0x${hex}, outside RAM`);
  const insn = c.instruction();
  if (insn === null) return Outcome.NEED;
  if (isFault(insn)) return c.stop(`MMIO at 0x${hex}: the faulting instruction cannot be fetched (#PF at 0x${insn.fault.toString(16)})`);
  const w = insn.opsize === 16 ? 2 : 4;
  switch (insn.op) {
    case 0x88: // MOV Eb, Gb
      mmioWrite(c, gpa, 1, reg8(c, insn.reg));
      break;
    case 0x89: // MOV Ev, Gv
      mmioWrite(c, gpa, w, regOf(c, insn.reg, w));
      break;
    case 0xc6: // MOV Eb, Ib
      mmioWrite(c, gpa, 1, insn.imm & 0xff);
      break;
    case 0xc7: // MOV Ev, Iz
      mmioWrite(c, gpa, w, w === 2 ? insn.imm & 0xffff : insn.imm >>> 0);
      break;
    case 0xa2: // MOV moffs8, AL
      mmioWrite(c, gpa, 1, reg8(c, Reg.EAX));
      break;
    case 0xa3: // MOV moffs, eAX
      mmioWrite(c, gpa, w, regOf(c, Reg.EAX, w));
      break;
    case 0x8a: // MOV Gb, Eb
      setReg(c, insn.reg, 1, mmioRead(c, gpa, 1));
      break;
    case 0x8b: // MOV Gv, Ev
      setReg(c, insn.reg, w, mmioRead(c, gpa, w));
      break;
    case 0xa0: // MOV AL, moffs8
      setReg(c, Reg.EAX, 1, mmioRead(c, gpa, 1));
      break;
    case 0xa1: // MOV eAX, moffs
      setReg(c, Reg.EAX, w, mmioRead(c, gpa, w));
      break;
    case 0x1b6: // MOVZX Gv, Eb
    case 0x1b7: // MOVZX Gv, Ew
    case 0x1be: // MOVSX Gv, Eb
    case 0x1bf: {
      // MOVSX Gv, Ew
      const size = insn.op & 1 ? 2 : 1;
      let v = mmioRead(c, gpa, size);
      if (insn.op >= 0x1be) v = size === 1 ? (v << 24) >> 24 : (v << 16) >> 16;
      setReg(c, insn.reg, w, v);
      break;
    }
    case 0x84: // TEST Eb, Gb
    case 0x85: { // TEST Ev, Gv
      const size = insn.op === 0x84 ? 1 : w;
      mmioAlu(c, gpa, 4, mmioRead(c, gpa, size), regOf(c, insn.reg, size), size, null);
      break;
    }
    case 0x80: // group 1: op Eb, Ib
    case 0x81: // op Ev, Iz
    case 0x83: { // op Ev, Ib (sign-extended)
      const size = insn.op === 0x80 ? 1 : w;
      const imm = insn.op === 0x83 ? (insn.imm << 24) >> 24 : insn.imm;
      mmioAlu(c, gpa, insn.reg, mmioRead(c, gpa, size), imm, size, "mem");
      break;
    }
    default: {
      // ADD..CMP in their four ModRM forms: Eb,Gb / Ev,Gv (memory is the destination), Gb,Eb /
      // Gv,Ev (the register is).
      const form = insn.op & 7;
      if (insn.op < 0x40 && form < 4) {
        const size = (form & 1) === 0 ? 1 : w;
        const m = mmioRead(c, gpa, size), r = regOf(c, insn.reg, size);
        if (form < 2) mmioAlu(c, gpa, insn.op >>> 3, m, r, size, "mem");
        else mmioAlu(c, gpa, insn.op >>> 3, r, m, size, insn.reg);
        break;
      }
      return c.stop(`MMIO at guest-physical 0x${hex} by an instruction the VMM does not emulate (opcode 0x${insn.op.toString(16)})`);
    }
  }
  return c.advance(insn.len);
}
