// Shifts and rotates: group 2 (C0 C1 D0 D1 D2 D3: ROL ROR RCL RCR SHL SHR SAL SAR) and the
// double-precision shifts SHLD/SHRD (0F A4 A5 AC AD).
//
// The count is masked to 5 bits; a masked count of 0 changes neither the operand nor the flags.
// Where the SDM leaves OF undefined (counts above 1) it is computed with the count-1 formula, as
// P6-family hardware does; AF, where undefined, is cleared.

import type { Insn } from "../../../x86/insn.js";
import { Flag } from "../../../x86/eflags.js";
import type { Cpu } from "../cpu.js";
import { def, defGroup, type Handler } from "../table.js";

const enum Sh { ROL = 0, ROR = 1, RCL = 2, RCR = 3, SHL = 4, SHR = 5, SAL = 6, SAR = 7 }

/**
 * Applies group-2 operation `op` to `v` (zero-extended to `bits` 8/16/32) with masked count `n`
 * (1..31), sets the flags, returns the result (junk above `bits` allowed).
 */
function shift(cpu: Cpu, op: number, v: number, n: number, bits: 8 | 16 | 32): number {
  const size = (bits >>> 3) as 1 | 2 | 4;
  const top = bits - 1;
  let r: number, cf: number, of: number;
  switch (op) {
    case Sh.ROL: {
      const k = n & top;
      r = k === 0 ? v : bits === 32 ? (v << k) | (v >>> (32 - k)) : ((v << k) | (v >>> (bits - k)));
      cf = r & 1;
      of = cf ^ ((r >>> top) & 1);
      return rotFlags(cpu, r, cf, of);
    }
    case Sh.ROR: {
      const k = n & top;
      r = k === 0 ? v : bits === 32 ? (v >>> k) | (v << (32 - k)) : ((v >>> k) | (v << (bits - k)));
      cf = (r >>> top) & 1;
      of = cf ^ ((r >>> (top - 1)) & 1);
      return rotFlags(cpu, r, cf, of);
    }
    case Sh.RCL: {
      const k = bits === 32 ? n : n % (bits + 1);
      if (k === 0) return v;
      const c = cpu.cf();
      // (c:v) rotated left by k over bits+1 positions
      if (k === 1) {
        r = (v << 1) | c;
        cf = (v >>> top) & 1;
      } else {
        r = (v << k) | (c << (k - 1)) | (v >>> (bits + 1 - k));
        cf = (v >>> (bits - k)) & 1;
      }
      of = cf ^ ((r >>> top) & 1);
      return rotFlags(cpu, r, cf, of);
    }
    case Sh.RCR: {
      const k = bits === 32 ? n : n % (bits + 1);
      if (k === 0) return v;
      const c = cpu.cf();
      if (k === 1) {
        r = (v >>> 1) | (c << top);
        cf = v & 1;
      } else {
        r = (v >>> k) | (c << (bits - k)) | (v << (bits + 1 - k));
        cf = (v >>> (k - 1)) & 1;
      }
      of = ((r >>> top) ^ (r >>> (top - 1))) & 1;
      return rotFlags(cpu, r, cf, of);
    }
    case Sh.SHL:
    case Sh.SAL:
      if (n <= bits) { // n = 32 cannot happen: counts are masked to 31
        r = v << n;
        cf = (v >>> (bits - n)) & 1;
      } else {
        r = 0;
        cf = 0;
      }
      of = cf ^ ((r >>> top) & 1);
      break;
    case Sh.SHR:
      r = v >>> n;
      cf = (v >>> (n - 1)) & 1;
      of = ((r >>> top) ^ (r >>> (top - 1))) & 1;
      break;
    default: { // SAR
      const s = bits === 32 ? v : bits === 16 ? (v << 16) >> 16 : (v << 24) >> 24;
      r = s >> n;
      cf = (s >> (n - 1)) & 1;
      of = 0;
      break;
    }
  }
  cpu.setResult(r, size, cf | (of << 11));
  return r;
}

/** Rotates change only CF and OF. */
function rotFlags(cpu: Cpu, r: number, cf: number, of: number): number {
  cpu.setFlagBits(cf | (of << 11), Flag.CF | Flag.OF);
  return r;
}

// Memory destinations go through one linear address. A zero count still performs the access
// (a fault is a fault) but writes nothing back.
function sh8(cpu: Cpu, i: Insn, op: number, count: number): void {
  const n = count & 31;
  if (i.mod === 3) {
    if (n !== 0) cpu.setReg8(i.rm, shift(cpu, op, cpu.reg8(i.rm), n, 8));
    return;
  }
  const lin = cpu.linRmw(i.seg, cpu.ea(i), 1);
  const v = cpu.rd8(lin);
  if (n !== 0) cpu.wr8(lin, shift(cpu, op, v, n, 8));
}

function sh16(cpu: Cpu, i: Insn, op: number, count: number): void {
  const n = count & 31;
  if (i.mod === 3) {
    if (n !== 0) cpu.setReg16(i.rm, shift(cpu, op, cpu.reg16(i.rm), n, 16));
    return;
  }
  const lin = cpu.linRmw(i.seg, cpu.ea(i), 2);
  const v = cpu.rd16(lin);
  if (n !== 0) cpu.wr16(lin, shift(cpu, op, v, n, 16));
}

function sh32(cpu: Cpu, i: Insn, op: number, count: number): void {
  const n = count & 31;
  if (i.mod === 3) {
    if (n !== 0) cpu.r32[i.rm] = shift(cpu, op, cpu.r32[i.rm], n, 32);
    return;
  }
  const lin = cpu.linRmw(i.seg, cpu.ea(i), 4);
  const v = cpu.rd32(lin);
  if (n !== 0) cpu.wr32(lin, shift(cpu, op, v, n, 32));
}

// ------------------------------------------------------------------------------------------
// SHLD / SHRD: `d` the destination, `s` the source supplying the bits shifted in, `n` 1..31.

function shld32(cpu: Cpu, d: number, s: number, n: number): number {
  const r = (d << n) | (s >>> (32 - n));
  const cf = (d >>> (32 - n)) & 1;
  cpu.setResult(r, 4, cf | ((cf ^ (r >>> 31)) << 11));
  return r;
}

function shrd32(cpu: Cpu, d: number, s: number, n: number): number {
  const r = (d >>> n) | (s << (32 - n));
  const cf = (d >>> (n - 1)) & 1;
  cpu.setResult(r, 4, cf | ((((r >>> 31) ^ (r >>> 30)) & 1) << 11));
  return r;
}

// 16-bit forms with counts above 16 are undefined. Like Bochs's model of P6 hardware, SHLD then
// shifts s:d left by n - 16 and SHRD shifts d:s right by n - 16 (the result is the low word).
function shld16(cpu: Cpu, d: number, s: number, n: number): number {
  const t = ((d << 16) | s) >>> 0;
  let r = (t << n) >>> 16;
  if (n > 16) r |= d >>> (32 - n);
  r &= 0xffff;
  const cf = (t >>> (32 - n)) & 1;
  cpu.setResult(r, 2, cf | ((cf ^ (r >>> 15)) << 11));
  return r;
}

function shrd16(cpu: Cpu, d: number, s: number, n: number): number {
  const t = ((s << 16) | d) >>> 0;
  let r = t >>> n;
  if (n > 16) r |= d << (32 - n);
  r &= 0xffff;
  const cf = (d >>> (n - 1)) & 1;
  cpu.setResult(r, 2, cf | ((((r >>> 15) ^ (r >>> 14)) & 1) << 11));
  return r;
}

function dshift16(cpu: Cpu, i: Insn, left: boolean, count: number): void {
  const n = count & 31;
  const s = cpu.reg16(i.reg);
  if (i.mod === 3) {
    if (n !== 0) cpu.setReg16(i.rm, (left ? shld16 : shrd16)(cpu, cpu.reg16(i.rm), s, n));
    return;
  }
  const lin = cpu.linRmw(i.seg, cpu.ea(i), 2);
  const v = cpu.rd16(lin);
  if (n !== 0) cpu.wr16(lin, (left ? shld16 : shrd16)(cpu, v, s, n));
}

function dshift32(cpu: Cpu, i: Insn, left: boolean, count: number): void {
  const n = count & 31;
  const s = cpu.r32[i.reg];
  if (i.mod === 3) {
    if (n !== 0) cpu.r32[i.rm] = (left ? shld32 : shrd32)(cpu, cpu.r32[i.rm], s, n);
    return;
  }
  const lin = cpu.linRmw(i.seg, cpu.ea(i), 4);
  const v = cpu.rd32(lin);
  if (n !== 0) cpu.wr32(lin, (left ? shld32 : shrd32)(cpu, v, s, n));
}

function register(): void {
  for (let op = 0; op < 8; op++) {
    defGroup(0xc0, op, (cpu, i) => sh8(cpu, i, op, i.imm));
    defGroup(0xd0, op, (cpu, i) => sh8(cpu, i, op, 1));
    defGroup(0xd2, op, (cpu, i) => sh8(cpu, i, op, cpu.r8[4] /* CL */));
    defGroup(0xc1, op, (cpu, i) => sh16(cpu, i, op, i.imm), (cpu, i) => sh32(cpu, i, op, i.imm));
    defGroup(0xd1, op, (cpu, i) => sh16(cpu, i, op, 1), (cpu, i) => sh32(cpu, i, op, 1));
    defGroup(0xd3, op, (cpu, i) => sh16(cpu, i, op, cpu.r8[4]), (cpu, i) => sh32(cpu, i, op, cpu.r8[4]));
  }
  const dsh = (left: boolean, imm: boolean): [Handler, Handler] => [
    (cpu, i) => dshift16(cpu, i, left, imm ? i.imm : cpu.r8[4]),
    (cpu, i) => dshift32(cpu, i, left, imm ? i.imm : cpu.r8[4]),
  ];
  def(0x1a4, ...dsh(true, true));
  def(0x1a5, ...dsh(true, false));
  def(0x1ac, ...dsh(false, true));
  def(0x1ad, ...dsh(false, false));
}

register();
