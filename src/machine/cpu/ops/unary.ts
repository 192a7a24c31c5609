// The one-operand arithmetic family and its relatives: TEST, NOT, NEG, MUL, IMUL (all three
// forms), DIV, IDIV, and the accumulator sign extensions CBW/CWDE and CWD/CDQ.
//
// Flags the SDM leaves undefined are set the way the P6 family does: MUL and IMUL take SF ZF PF
// from the low half of the result and clear AF; DIV and IDIV leave every flag unchanged.

import { Reg, type Insn } from "../../../x86/insn.js";
import { Flag } from "../../../x86/eflags.js";
import { type Cpu } from "../cpu.js";
import { Vec } from "../../../x86/vectors.js";
import { LazyOp } from "../lazy-flags.js";
import { def, defGroup } from "../table.js";

const CF_OF = Flag.CF | Flag.OF;

/**
 * Linear address of a read-modify-write memory operand at `seg:off`, checked for writing — segment
 * and page — before anything is read, as hardware does for a read with intent to write: a fault
 * then comes first, reports a write, and finds flags, registers and memory unchanged.
 */
// ------------------------------------------------------------------------------------------
// 32 × 32 → 64-bit multiplication in int32 pieces. The low half is Math.imul; the high half comes
// from 16-bit partial products, each exact in a double. Results go to module state, not objects.

/** High half of the last `umulHi`/`imulHi` product, as an int32. */
function umulHi(a: number, b: number): number {
  const al = a & 0xffff, ah = a >>> 16, bl = b & 0xffff, bh = b >>> 16;
  const lh = al * bh, hl = ah * bl;
  const mid = ((al * bl) >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  return (ah * bh + Math.floor(lh / 65536) + Math.floor(hl / 65536) + Math.floor(mid / 65536)) | 0;
}

/** High half of the signed product of int32s `a` and `b`, as an int32. */
function imulHi(a: number, b: number): number {
  let hi = umulHi(a, b);
  if (a < 0) hi = (hi - b) | 0;
  if (b < 0) hi = (hi - a) | 0;
  return hi;
}

// ------------------------------------------------------------------------------------------
// 64 ÷ 32-bit division. The dividend is hi:lo; the caller has checked hi < d (unsigned), so the
// quotient fits 32 bits. Two long-division steps of 16 bits keep every intermediate below 2^48.

let divRem = 0;

/** Unsigned (hi:lo) / d with hi < d, all as uint32 numbers; the remainder goes to `divRem`. */
function udiv64(hi: number, lo: number, d: number): number {
  let t = hi * 65536 + (lo >>> 16);
  const q1 = Math.floor(t / d);
  t = (t - q1 * d) * 65536 + (lo & 0xffff);
  const q0 = Math.floor(t / d);
  divRem = t - q0 * d;
  return q1 * 65536 + q0;
}

// ------------------------------------------------------------------------------------------
// MUL / IMUL (one operand): the accumulator times r/m into the double-width accumulator.

function mul8(cpu: Cpu, v: number): void {
  const p = cpu.r8[0] * v;
  cpu.r16[0] = p;
  cpu.setResult(p, 1, p > 0xff ? CF_OF : 0);
}

function imul8(cpu: Cpu, v: number): void {
  const p = ((cpu.r8[0] << 24) >> 24) * ((v << 24) >> 24);
  cpu.r16[0] = p;
  cpu.setResult(p, 1, p !== (p << 24) >> 24 ? CF_OF : 0);
}

function mul16(cpu: Cpu, v: number): void {
  const p = cpu.r16[0] * v;
  cpu.r16[0] = p;
  cpu.r16[Reg.EDX << 1] = p >>> 16;
  cpu.setResult(p, 2, p > 0xffff ? CF_OF : 0);
}

function imul16(cpu: Cpu, v: number): void {
  const p = ((cpu.r16[0] << 16) >> 16) * ((v << 16) >> 16);
  cpu.r16[0] = p;
  cpu.r16[Reg.EDX << 1] = p >> 16;
  cpu.setResult(p, 2, p !== (p << 16) >> 16 ? CF_OF : 0);
}

function mul32(cpu: Cpu, v: number): void {
  const a = cpu.r32[Reg.EAX];
  const lo = Math.imul(a, v), hi = umulHi(a, v);
  cpu.r32[Reg.EAX] = lo;
  cpu.r32[Reg.EDX] = hi;
  cpu.setResult(lo, 4, hi !== 0 ? CF_OF : 0);
}

function imul32(cpu: Cpu, v: number): void {
  const a = cpu.r32[Reg.EAX];
  const lo = Math.imul(a, v), hi = imulHi(a, v);
  cpu.r32[Reg.EAX] = lo;
  cpu.r32[Reg.EDX] = hi;
  cpu.setResult(lo, 4, hi !== lo >> 31 ? CF_OF : 0);
}

// IMUL with a destination register (0F AF, 69, 6B): the product truncated to the operand size.
function imul2x16(cpu: Cpu, a: number, b: number): number {
  const p = ((a << 16) >> 16) * ((b << 16) >> 16);
  cpu.setResult(p, 2, p !== (p << 16) >> 16 ? CF_OF : 0);
  return p & 0xffff;
}

function imul2x32(cpu: Cpu, a: number, b: number): number {
  const lo = Math.imul(a, b);
  cpu.setResult(lo, 4, imulHi(a, b) !== lo >> 31 ? CF_OF : 0);
  return lo;
}

// ------------------------------------------------------------------------------------------
// DIV / IDIV: results are computed in full before any register changes, so #DE leaves them intact.

function div8(cpu: Cpu, d: number): void {
  if (d === 0) cpu.raise(Vec.DE);
  const n = cpu.r16[0];
  const q = Math.floor(n / d);
  if (q > 0xff) cpu.raise(Vec.DE);
  cpu.r16[0] = ((n - q * d) << 8) | q;
}

function idiv8(cpu: Cpu, v: number): void {
  const d = (v << 24) >> 24;
  if (d === 0) cpu.raise(Vec.DE);
  const n = (cpu.r16[0] << 16) >> 16;
  const q = Math.trunc(n / d);
  if (q > 127 || q < -128) cpu.raise(Vec.DE);
  cpu.r16[0] = (((n - q * d) & 0xff) << 8) | (q & 0xff);
}

function div16(cpu: Cpu, d: number): void {
  if (d === 0) cpu.raise(Vec.DE);
  const n = (cpu.r16[Reg.EDX << 1] * 65536 + cpu.r16[0]);
  const q = Math.floor(n / d);
  if (q > 0xffff) cpu.raise(Vec.DE);
  cpu.r16[0] = q;
  cpu.r16[Reg.EDX << 1] = n - q * d;
}

function idiv16(cpu: Cpu, v: number): void {
  const d = (v << 16) >> 16;
  if (d === 0) cpu.raise(Vec.DE);
  const n = (cpu.r16[Reg.EDX << 1] << 16) | cpu.r16[0];
  const q = Math.trunc(n / d);
  if (q > 32767 || q < -32768) cpu.raise(Vec.DE);
  cpu.r16[0] = q;
  cpu.r16[Reg.EDX << 1] = n - q * d;
}

function div32(cpu: Cpu, v: number): void {
  const d = v >>> 0;
  if (d === 0) cpu.raise(Vec.DE);
  const hi = cpu.r32[Reg.EDX] >>> 0;
  if (hi >= d) cpu.raise(Vec.DE);
  const q = udiv64(hi, cpu.r32[Reg.EAX] >>> 0, d);
  cpu.r32[Reg.EAX] = q;
  cpu.r32[Reg.EDX] = divRem;
}

function idiv32(cpu: Cpu, d: number): void {
  if (d === 0) cpu.raise(Vec.DE);
  let hi = cpu.r32[Reg.EDX], lo = cpu.r32[Reg.EAX];
  const nneg = hi < 0;
  if (nneg) { // |dividend|, as uint32 halves
    hi = ~hi + (lo === 0 ? 1 : 0);
    lo = -lo;
  }
  const ad = d < 0 ? -d : d; // 2^31 for INT_MIN: still exact as a Number
  if (hi >>> 0 >= ad) cpu.raise(Vec.DE);
  const q = udiv64(hi >>> 0, lo >>> 0, ad);
  const qneg = nneg !== d < 0;
  if (q > (qneg ? 0x80000000 : 0x7fffffff)) cpu.raise(Vec.DE);
  cpu.r32[Reg.EAX] = qneg ? -q : q;
  cpu.r32[Reg.EDX] = nneg ? -divRem : divRem;
}

// ------------------------------------------------------------------------------------------

function register(): void {
  // TEST Eb,Gb / Ev,Gv; AL,Ib / eAX,Iz; F6/F7 /0 and its alias /1
  def(0x84, (cpu, i) => cpu.setLogic(cpu.readE8(i) & cpu.reg8(i.reg), 1));
  def(0x85, (cpu, i) => cpu.setLogic(cpu.readE16(i) & cpu.reg16(i.reg), 2),
    (cpu, i) => cpu.setLogic(cpu.readE32(i) & cpu.r32[i.reg], 4));
  def(0xa8, (cpu, i) => cpu.setLogic(cpu.r8[0] & i.imm, 1));
  def(0xa9, (cpu, i) => cpu.setLogic(cpu.r16[0] & i.imm, 2), (cpu, i) => cpu.setLogic(cpu.r32[0] & i.imm, 4));
  for (const reg of [0, 1]) {
    defGroup(0xf6, reg, (cpu, i) => cpu.setLogic(cpu.readE8(i) & i.imm, 1));
    defGroup(0xf7, reg, (cpu, i) => cpu.setLogic(cpu.readE16(i) & i.imm, 2),
      (cpu, i) => cpu.setLogic(cpu.readE32(i) & i.imm, 4));
  }

  // NOT (no flags) and NEG (flags of 0 - x) read and write memory through one linear address.
  defGroup(0xf6, 2, (cpu, i) => {
    if (i.mod === 3) return cpu.setReg8(i.rm, ~cpu.reg8(i.rm));
    const lin = cpu.linRmw(i.seg, cpu.ea(i), 1);
    cpu.wr8(lin, ~cpu.rd8(lin));
  });
  defGroup(0xf7, 2, (cpu, i) => {
    if (i.mod === 3) return cpu.setReg16(i.rm, ~cpu.reg16(i.rm));
    const lin = cpu.linRmw(i.seg, cpu.ea(i), 2);
    cpu.wr16(lin, ~cpu.rd16(lin));
  }, (cpu, i) => {
    if (i.mod === 3) {
      cpu.r32[i.rm] = ~cpu.r32[i.rm];
      return;
    }
    const lin = cpu.linRmw(i.seg, cpu.ea(i), 4);
    cpu.wr32(lin, ~cpu.rd32(lin));
  });
  defGroup(0xf6, 3, (cpu, i) => {
    if (i.mod === 3) return cpu.setReg8(i.rm, neg(cpu, cpu.reg8(i.rm), 1));
    const lin = cpu.linRmw(i.seg, cpu.ea(i), 1);
    cpu.wr8(lin, neg(cpu, cpu.rd8(lin), 1));
  });
  defGroup(0xf7, 3, (cpu, i) => {
    if (i.mod === 3) return cpu.setReg16(i.rm, neg(cpu, cpu.reg16(i.rm), 2));
    const lin = cpu.linRmw(i.seg, cpu.ea(i), 2);
    cpu.wr16(lin, neg(cpu, cpu.rd16(lin), 2));
  }, (cpu, i) => {
    if (i.mod === 3) {
      cpu.r32[i.rm] = neg(cpu, cpu.r32[i.rm], 4);
      return;
    }
    const lin = cpu.linRmw(i.seg, cpu.ea(i), 4);
    cpu.wr32(lin, neg(cpu, cpu.rd32(lin), 4));
  });

  // MUL IMUL DIV IDIV (F6/F7 /4–/7)
  defGroup(0xf6, 4, (cpu, i) => mul8(cpu, cpu.readE8(i)));
  defGroup(0xf6, 5, (cpu, i) => imul8(cpu, cpu.readE8(i)));
  defGroup(0xf6, 6, (cpu, i) => div8(cpu, cpu.readE8(i)));
  defGroup(0xf6, 7, (cpu, i) => idiv8(cpu, cpu.readE8(i)));
  defGroup(0xf7, 4, (cpu, i) => mul16(cpu, cpu.readE16(i)), (cpu, i) => mul32(cpu, cpu.readE32(i)));
  defGroup(0xf7, 5, (cpu, i) => imul16(cpu, cpu.readE16(i)), (cpu, i) => imul32(cpu, cpu.readE32(i)));
  defGroup(0xf7, 6, (cpu, i) => div16(cpu, cpu.readE16(i)), (cpu, i) => div32(cpu, cpu.readE32(i)));
  defGroup(0xf7, 7, (cpu, i) => idiv16(cpu, cpu.readE16(i)), (cpu, i) => idiv32(cpu, cpu.readE32(i)));

  // IMUL Gv,Ev (0F AF); IMUL Gv,Ev,Iz (69); IMUL Gv,Ev,sIb (6B)
  def(0x1af, (cpu, i) => cpu.setReg16(i.reg, imul2x16(cpu, cpu.reg16(i.reg), cpu.readE16(i))),
    (cpu, i) => { cpu.r32[i.reg] = imul2x32(cpu, cpu.r32[i.reg], cpu.readE32(i)); });
  const imul3x16 = (cpu: Cpu, i: Insn): void => cpu.setReg16(i.reg, imul2x16(cpu, cpu.readE16(i), i.imm));
  const imul3x32 = (cpu: Cpu, i: Insn): void => { cpu.r32[i.reg] = imul2x32(cpu, cpu.readE32(i), i.imm); };
  def(0x69, imul3x16, imul3x32);
  def(0x6b, imul3x16, imul3x32);

  // CBW / CWDE; CWD / CDQ
  def(0x98, (cpu) => { cpu.r16[0] = (cpu.r8[0] << 24) >> 24; },
    (cpu) => { cpu.r32[Reg.EAX] = (cpu.r16[0] << 16) >> 16; });
  def(0x99, (cpu) => { cpu.r16[Reg.EDX << 1] = (cpu.r16[0] << 16) >> 31; },
    (cpu) => { cpu.r32[Reg.EDX] = cpu.r32[Reg.EAX] >> 31; });
}

/** NEG: 0 - a, with the flags of that subtraction (CF = a ≠ 0). */
function neg(cpu: Cpu, a: number, size: 1 | 2 | 4): number {
  const r = -a | 0;
  cpu.setLazy(LazyOp.SUB, 0, a, r, size);
  return r;
}

register();
