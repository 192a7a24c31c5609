// The x87 instructions of an i686 (escapes D8–DF, and FXSAVE/FXRSTOR at 0F AE /0 /1): stack
// handling, exception masking and delivery, and the environment images. The arithmetic is in
// ../fpu/float80.ts, the transcendentals in ../fpu/transcendental.ts, the state in ../fpu/fpu.ts.
//
// Every instruction starts in `enter`: CR0.EM or CR0.TS → #NM; then, for the waiting forms (all
// but FNINIT, FNCLEX, FNSTSW, FNSTCW, FNSTENV, FNSAVE), a pending unmasked exception (SW.ES) is
// delivered — #MF when CR0.NE = 1, else FERR# through `Fpu.ferr` (the PC's IRQ13 / IGNNE# path).

import type { Insn } from "../../../x86/insn.js";
import { type Cpu } from "../cpu.js";
import { Stop } from "../arch.js";
import { Vec } from "../../../x86/vectors.js";
import { def, defGroup } from "../table.js";
import { Sw, type Fpu } from "../fpu/fpu.js";
import * as F from "../fpu/float80.js";
import { Cls, Cmp, Exc, type F80, type FpEnv } from "../fpu/float80.js";
import * as T from "../fpu/transcendental.js";
import { Cr0 } from "../../../x86/paging.js";


/** Which prologue an instruction has. */
const enum Kind {
  /** Waiting, records FIP/FCS/FOP (and FDP/FDS for a memory operand). */
  ARITH,
  /** Waiting control instruction (FLDCW, FLDENV, FRSTOR): no pointer update. */
  CONTROL,
  /** Non-waiting control instruction (FNINIT, FNCLEX, FNSTSW, FNSTCW, FNSTENV, FNSAVE). */
  NOWAIT,
}

/**
 * Delivers a pending unmasked x87 exception: #MF (CR0.NE = 1), or FERR#. Returns false when the
 * CPU must wait for the FERR# interrupt: the instruction is restarted after it and retires then,
 * so the count the run loop makes as the handler returns is taken back here.
 */
function deliverPending(cpu: Cpu): boolean {
  if (cpu.cr0 & Cr0.NE) cpu.raise(Vec.MF);
  const f = cpu.fpu;
  if (f.ferr === null || f.ferr(true)) return true;
  cpu.eip = cpu.insnEip;
  cpu.icount--;
  cpu.halted = true;
  cpu.requestStop(Stop.HALT);
  return false;
}

/**
 * WAIT/FWAIT (9B): #NM when CR0.MP and CR0.TS are both set, then any pending unmasked exception.
 */
export function fpuWait(cpu: Cpu): void {
  if ((cpu.cr0 & (Cr0.MP | Cr0.TS)) === (Cr0.MP | Cr0.TS)) cpu.raise(Vec.NM);
  if (cpu.fpu.sw & Sw.ES) deliverPending(cpu);
}

type Body = (cpu: Cpu, f: Fpu, i: Insn) => void;

function x87(kind: Kind, body: Body): (cpu: Cpu, i: Insn) => void {
  return (cpu, i) => {
    if (cpu.cr0 & (Cr0.EM | Cr0.TS)) cpu.raise(Vec.NM);
    const f = cpu.fpu;
    if (kind !== Kind.NOWAIT && (f.sw & Sw.ES) !== 0 && !deliverPending(cpu)) return;
    f.flags = 0;
    f.c1 = false;
    if (kind === Kind.ARITH) {
      f.fip = cpu.insnEip;
      f.fcs = cpu.segSel[1];
      f.fop = ((i.op & 7) << 8) | i.modrm;
      if (i.mod !== 3) {
        f.fdp = cpu.ea(i);
        f.fds = cpu.segSel[i.seg];
      }
    }
    body(cpu, f, i);
  };
}

/** Folds an operation's exceptions and C1 into the status word. */
function commit(f: Fpu): void {
  f.sw = (f.sw | (f.flags & (Sw.EXC | Sw.SF))) & ~Sw.C1;
  if (f.c1) f.sw |= Sw.C1;
  f.updateSummary();
}

const masked = (f: Fpu, bits: number): boolean => (bits & ~f.cw & 0x3f) === 0;

/** True when ST(i) for each i is in use; else a stack underflow (IE|SF, C1 = 0) is recorded. */
function need(f: Fpu, ...regs: number[]): boolean {
  for (const r of regs) {
    if (f.isEmpty(r)) {
      f.flags |= Exc.IE | Exc.SF;
      f.c1 = false;
      return false;
    }
  }
  return true;
}

/** True when a push has room; else a stack overflow (IE|SF, C1 = 1). */
function room(f: Fpu): boolean {
  if (((f.empty >> ((f.top - 1) & 7)) & 1) === 0) {
    f.flags |= Exc.IE | Exc.SF;
    f.c1 = true;
    return false;
  }
  return true;
}

/** Pushes v, or (stack full) the indefinite when IE is masked. */
function pushChecked(f: Fpu, v: () => F80 | null): void {
  if (!room(f)) {
    if (masked(f, Exc.IE)) f.push(F.INDEFINITE);
    commit(f);
    return;
  }
  const r = v();
  if (r !== null) f.push(r);
  commit(f);
}

const CC = Sw.C0 | Sw.C1 | Sw.C2 | Sw.C3;
function setCC(f: Fpu, c0: boolean, c1: boolean, c2: boolean, c3: boolean): void {
  f.sw = (f.sw & ~CC) | (c0 ? Sw.C0 : 0) | (c1 ? Sw.C1 : 0) | (c2 ? Sw.C2 : 0) | (c3 ? Sw.C3 : 0);
}

// ------------------------------------------------------------------------------------------------
// Memory operands

function readM80(cpu: Cpu, seg: number, off: number): F80 {
  const lo = cpu.read32(seg, off) >>> 0;
  const hi = cpu.read32(seg, off + 4) >>> 0;
  const se = cpu.read16(seg, off + 8);
  return { se, m: (BigInt(hi) << 32n) | BigInt(lo) };
}
function writeM80(cpu: Cpu, seg: number, off: number, v: F80): void {
  cpu.linRmw(seg, off, 10);
  cpu.write32(seg, off, Number(v.m & 0xffffffffn));
  cpu.write32(seg, off + 4, Number(v.m >> 32n));
  cpu.write16(seg, off + 8, v.se);
}
function readM64(cpu: Cpu, seg: number, off: number): bigint {
  const lo = cpu.read32(seg, off) >>> 0;
  return (BigInt(cpu.read32(seg, off + 4) >>> 0) << 32n) | BigInt(lo);
}
function writeM64(cpu: Cpu, seg: number, off: number, v: bigint): void {
  cpu.linRmw(seg, off, 8);
  cpu.write32(seg, off, Number(v & 0xffffffffn));
  cpu.write32(seg, off + 4, Number((v >> 32n) & 0xffffffffn));
}

/** Out of `memOperand`: the memory operand was a single/double denormal (DE for the operation). */
let memDenormal = false;

/** The memory operand of an arithmetic form, by escape: m32 real, m32 int, m64 real, m16 int. */
function memOperand(cpu: Cpu, f: Fpu, i: Insn): F80 | null {
  const off = cpu.ea(i);
  memDenormal = false;
  switch (i.op & 7) {
    case 0: {
      const v = cpu.read32(i.seg, off);
      memDenormal = (v & 0x7f800000) === 0 && (v & 0x7fffff) !== 0;
      return F.fromF32(f, v, true);
    }
    case 2: return F.fromInt(BigInt(cpu.read32(i.seg, off)));
    case 4: {
      const v = readM64(cpu, i.seg, off);
      memDenormal = (v & 0x7ff0000000000000n) === 0n && (v & 0xfffffffffffffn) !== 0n;
      return F.fromF64(f, v, true);
    }
    default: return F.fromInt(BigInt((cpu.read16(i.seg, off) << 16) >> 16));
  }
}

// ------------------------------------------------------------------------------------------------
// Arithmetic: FADD FMUL FCOM FCOMP FSUB FSUBR FDIV FDIVR (reg = ModRM.reg).

/** ST-style operation `reg` on a and b (bDen: b came from a denormal memory operand). */
function arith(f: Fpu, reg: number, a: F80, b: F80, bDen = false): F80 | null {
  switch (reg) {
    case 0: return F.add(f, a, b, false, bDen);
    case 1: return F.mul(f, a, b, bDen);
    case 4: return F.add(f, a, b, true, bDen);
    case 5: return F.add(f, b, a, true, bDen);
    case 6: return F.div(f, a, b, false, bDen);
    default: return F.div(f, b, a, bDen, false);
  }
}

/** Sets C3 C2 C0 from a comparison (C1 = 0); unordered for null with IE masked. */
function compareCC(f: Fpu, r: Cmp | null): void {
  if (r === null) return;
  setCC(f, r === Cmp.LT || r === Cmp.UN, false, r === Cmp.UN, r === Cmp.EQ || r === Cmp.UN);
}

/**
 * FCOM-family on ST(0) and b (already read); pops `pops` times unless an exception is unmasked.
 * The condition codes are set even then (as the host does).
 */
function fcom(f: Fpu, b: F80 | null, haveOps: boolean, quiet: boolean, pops: number, bDen = false): void {
  if (!haveOps || b === null) {
    if (masked(f, Exc.IE)) { compareCC(f, Cmp.UN); for (let k = 0; k < pops; k++) f.pop(); }
    commit(f);
    return;
  }
  const r = F.compare(f, f.st(0), b, quiet, bDen);
  f.c1 = false;
  compareCC(f, r);
  commit(f);
  if (masked(f, f.flags & 0x3f)) for (let k = 0; k < pops; k++) f.pop();
}

/** FCOMI-family: ZF PF CF from the comparison, OF SF AF cleared. */
function fcomi(cpu: Cpu, f: Fpu, rm: number, quiet: boolean, pop: boolean): void {
  let r: Cmp | null;
  if (!need(f, 0, rm)) r = masked(f, Exc.IE) ? Cmp.UN : null;
  else r = F.compare(f, f.st(0), f.st(rm), quiet);
  if (r !== null) {
    const v = r === Cmp.LT ? 0x1 : r === Cmp.EQ ? 0x40 : r === Cmp.UN ? 0x45 : 0;
    cpu.setFlagBits(v, 0x8d5);
  }
  f.c1 = false;
  commit(f);
  if (pop && masked(f, f.flags & 0x3f)) f.pop();
}

function arithHandler(op: number, reg: number): Body {
  return (cpu, f, i) => {
    if (i.mod !== 3) {
      const b = need(f, 0) ? memOperand(cpu, f, i) : null;
      if (reg === 2 || reg === 3) return fcom(f, b, !f.isEmpty(0), false, reg - 2, memDenormal);
      if (f.isEmpty(0)) {
        if (masked(f, Exc.IE)) f.setSt(0, F.INDEFINITE);
      } else if (b !== null) {
        const r = arith(f, reg, f.st(0), b, memDenormal);
        if (r !== null) f.setSt(0, r);
      }
      return commit(f);
    }
    const rm = i.rm;
    if (op === 0xd8) {
      if (reg === 2 || reg === 3) {
        const ok = need(f, 0, rm);
        return fcom(f, ok ? f.st(rm) : null, ok, false, reg - 2);
      }
      if (!need(f, 0, rm)) {
        if (masked(f, Exc.IE)) f.setSt(0, F.INDEFINITE);
      } else {
        const r = arith(f, reg, f.st(0), f.st(rm));
        if (r !== null) f.setSt(0, r);
      }
      return commit(f);
    }
    // DC / DE register forms: ST(i) ← ST(i) op ST(0), the subtract and divide reversed; DE pops.
    const pop = op === 0xde;
    const r2 = reg >= 4 ? reg ^ 1 : reg;
    if (!need(f, 0, rm)) {
      if (masked(f, Exc.IE)) {
        f.setSt(rm, F.INDEFINITE);
        if (pop) f.pop();
      }
      return commit(f);
    }
    const r = arith(f, r2, f.st(rm), f.st(0));
    if (r !== null) {
      f.setSt(rm, r);
      commit(f);
      if (pop) f.pop();
    } else {
      commit(f);
    }
  };
}

// ------------------------------------------------------------------------------------------------
// Loads and stores

/** FLD from memory (m32 m64 m80) or an integer (FILD) / BCD (FBLD) source. */
function load(read: (cpu: Cpu, f: Fpu, i: Insn) => F80 | null): Body {
  return (cpu, f, i) => {
    const v = read(cpu, f, i); // memory faults come before any stack change
    pushChecked(f, () => v);
  };
}

/**
 * FST/FSTP/FIST/FISTP/FBSTP to memory: `conv` turns ST(0) into a writer, or null (unmasked
 * exception: nothing stored, no pop). `indefinite` is the masked response to stack underflow.
 */
function store(pop: boolean, conv: (f: FpEnv, v: F80) => ((cpu: Cpu, i: Insn) => void) | null, indefinite: F80 | null): Body {
  return (cpu, f, i) => {
    let w: ((cpu: Cpu, i: Insn) => void) | null;
    if (!need(f, 0)) {
      if (!masked(f, Exc.IE)) return commit(f);
      w = conv({ cw: f.cw | 0x3f, flags: 0, c1: false }, indefinite ?? F.INDEFINITE);
    } else {
      w = conv(f, f.st(0));
    }
    if (w !== null) w(cpu, i);
    commit(f);
    if (w !== null && pop) f.pop();
  };
}

const st32 = (f: FpEnv, v: F80): ((cpu: Cpu, i: Insn) => void) | null => {
  const r = F.toF32(f, v);
  return r === null ? null : (cpu, i) => cpu.write32(i.seg, cpu.ea(i), r | 0);
};
const st64 = (f: FpEnv, v: F80): ((cpu: Cpu, i: Insn) => void) | null => {
  const r = F.toF64(f, v);
  return r === null ? null : (cpu, i) => writeM64(cpu, i.seg, cpu.ea(i), r);
};
const st80 = (_f: FpEnv, v: F80): ((cpu: Cpu, i: Insn) => void) => (cpu, i) => writeM80(cpu, i.seg, cpu.ea(i), v);
const stInt = (bits: 16 | 32 | 64) => (f: FpEnv, v: F80): ((cpu: Cpu, i: Insn) => void) | null => {
  const r = F.toInt(f, v, bits);
  if (r === null) return null;
  if (bits === 16) return (cpu, i) => cpu.write16(i.seg, cpu.ea(i), Number(BigInt.asUintN(16, r)));
  if (bits === 32) return (cpu, i) => cpu.write32(i.seg, cpu.ea(i), Number(BigInt.asIntN(32, r)));
  return (cpu, i) => writeM64(cpu, i.seg, cpu.ea(i), BigInt.asUintN(64, r));
};
const stBcd = (f: FpEnv, v: F80): ((cpu: Cpu, i: Insn) => void) | null => {
  const r = F.toBcd(f, v);
  if (r === null) return null;
  return (cpu, i) => {
    const off = cpu.ea(i);
    cpu.linRmw(i.seg, off, 10);
    for (let k = 0; k < 10; k++) cpu.write8(i.seg, off + k, r[k]);
  };
};

// ------------------------------------------------------------------------------------------------
// Register-only operations on ST(0)

/** ST(0) ← op(ST(0)), with stack underflow's masked response. */
function unary(op: (f: Fpu, a: F80) => F80 | null): Body {
  return (_cpu, f) => {
    if (!need(f, 0)) {
      if (masked(f, Exc.IE)) f.setSt(0, F.INDEFINITE);
      return commit(f);
    }
    const r = op(f, f.st(0));
    if (r !== null) f.setSt(0, r);
    commit(f);
  };
}

/** ST(1) ← op(ST(1), ST(0)), pop (FYL2X, FYL2XP1, FPATAN). */
function binaryPop(op: (f: Fpu, y: F80, x: F80) => F80 | null): Body {
  return (_cpu, f) => {
    if (!need(f, 0, 1)) {
      if (masked(f, Exc.IE)) {
        f.setSt(1, F.INDEFINITE);
        f.pop();
      }
      return commit(f);
    }
    const r = op(f, f.st(1), f.st(0));
    commit(f);
    if (r !== null) {
      f.setSt(1, r);
      f.pop();
    }
  };
}

/** FSIN FCOS FPTAN FSINCOS: C2 = 1 (operand unchanged) when |x| ≥ 2^63. */
function trig(op: (f: Fpu, x: F80) => T.Trig, pushes: boolean, pushOne: boolean): Body {
  return (_cpu, f) => {
    f.sw &= ~Sw.C2;
    if (!need(f, 0)) {
      if (masked(f, Exc.IE)) {
        f.setSt(0, F.INDEFINITE);
        if (pushes) f.push(F.INDEFINITE);
      }
      return commit(f);
    }
    if (pushes && !room(f)) {
      if (masked(f, Exc.IE)) {
        f.setSt(0, F.INDEFINITE);
        f.push(F.INDEFINITE);
      }
      return commit(f);
    }
    const r = op(f, f.st(0));
    if (r === null) return commit(f);
    if (r.outOfRange) {
      f.c1 = false;
      commit(f);
      f.sw |= Sw.C2;
      return;
    }
    commit(f);
    if (!pushes) {
      f.setSt(0, r.r[0]);
    } else if (pushOne) {
      f.setSt(0, r.r[0]);
      // A NaN result (NaN operand, masked invalid) is pushed again in place of 1.0.
      f.push(F.classify(r.r[0]) === Cls.QNAN ? r.r[0] : F.ONE);
    } else {
      f.setSt(0, r.r[0]);
      f.push(r.r[1]);
    }
  };
}

function fxam(f: Fpu): void {
  const a = f.st(0);
  let c3 = false, c2 = false, c0 = false;
  if (f.isEmpty(0)) { c3 = true; c0 = true; } else {
    switch (F.classify(a)) {
      case Cls.UNSUPPORTED: break;
      case Cls.QNAN: case Cls.SNAN: c0 = true; break;
      case Cls.NORMAL: c2 = true; break;
      case Cls.INF: c2 = true; c0 = true; break;
      case Cls.ZERO: c3 = true; break;
      case Cls.DENORMAL: c3 = true; c2 = true; break;
    }
  }
  setCC(f, c0, F.signOf(a) === 1, c2, c3);
}

/** The constant loads D9 E8–EE by rm. */
function constant(f: Fpu, rm: number): F80 {
  const env = { cw: f.cw, flags: 0, c1: false };
  switch (rm) {
    case 0: return F.ONE;
    case 1: return T.roundBig(env, T.CONSTANTS.l2t);
    case 2: return T.roundBig(env, T.CONSTANTS.l2e);
    case 3: return T.roundBig(env, T.CONSTANTS.pi);
    case 4: return T.roundBig(env, T.CONSTANTS.lg2);
    case 5: return T.roundBig(env, T.CONSTANTS.ln2);
    default: return F.ZERO;
  }
}

// ------------------------------------------------------------------------------------------------
// Environment images (FSTENV/FLDENV, FSAVE/FRSTOR): 14 or 28 bytes, real- or protected-mode.

function realFormat(cpu: Cpu): boolean {
  return !cpu.protectedMode() || (cpu.getEflags() & 0x20000) !== 0;
}

function storeEnv(cpu: Cpu, f: Fpu, seg: number, off: number, op32: boolean): number {
  const real = realFormat(cpu);
  const tw = f.tagWord();
  if (op32) {
    cpu.linRmw(seg, off, 28);
    const w = (k: number, v: number): void => cpu.write32(seg, off + 4 * k, v);
    w(0, 0xffff0000 | f.cw);
    w(1, 0xffff0000 | f.sw);
    w(2, 0xffff0000 | tw);
    if (real) {
      const ip = (f.fcs << 4) + f.fip, dp = (f.fds << 4) + f.fdp;
      w(3, 0xffff0000 | (ip & 0xffff));
      w(4, ((ip >>> 16) << 12) | f.fop);
      w(5, 0xffff0000 | (dp & 0xffff));
      w(6, (dp >>> 16) << 12);
    } else {
      w(3, f.fip);
      w(4, (f.fop << 16) | f.fcs);
      w(5, f.fdp);
      w(6, 0xffff0000 | f.fds);
    }
    return 28;
  }
  cpu.linRmw(seg, off, 14);
  const w = (k: number, v: number): void => cpu.write16(seg, off + 2 * k, v);
  w(0, f.cw);
  w(1, f.sw);
  w(2, tw);
  if (real) {
    const ip = (f.fcs << 4) + f.fip, dp = (f.fds << 4) + f.fdp;
    w(3, ip);
    w(4, (((ip >>> 16) & 0xf) << 12) | f.fop);
    w(5, dp);
    w(6, ((dp >>> 16) & 0xf) << 12);
  } else {
    w(3, f.fip);
    w(4, f.fcs);
    w(5, f.fdp);
    w(6, f.fds);
  }
  return 14;
}

function loadEnv(cpu: Cpu, f: Fpu, seg: number, off: number, op32: boolean): number {
  const real = realFormat(cpu);
  const n = op32 ? 4 : 2;
  const r = (k: number): number => (op32 ? cpu.read32(seg, off + 4 * k) : cpu.read16(seg, off + 2 * k));
  const v = [0, 1, 2, 3, 4, 5, 6].map(r); // all reads first: a fault changes nothing
  f.cw = v[0] & 0xffff;
  f.sw = v[1] & 0xffff;
  f.setTagWord(v[2] & 0xffff);
  if (real) {
    const ipHi = op32 ? (v[4] >>> 12) & 0xffff : (v[4] >>> 12) & 0xf;
    const dpHi = op32 ? (v[6] >>> 12) & 0xffff : (v[6] >>> 12) & 0xf;
    f.fcs = 0;
    f.fip = ((ipHi << 16) | (v[3] & 0xffff)) >>> 0;
    f.fop = v[4] & 0x7ff;
    f.fds = 0;
    f.fdp = ((dpHi << 16) | (v[5] & 0xffff)) >>> 0;
  } else {
    f.fip = op32 ? v[3] : v[3] & 0xffff;
    f.fcs = v[4] & 0xffff;
    if (op32) f.fop = (v[4] >>> 16) & 0x7ff;
    f.fdp = op32 ? v[5] : v[5] & 0xffff;
    f.fds = v[6] & 0xffff;
  }
  f.updateSummary();
  return 7 * n;
}

function fsave(cpu: Cpu, f: Fpu, i: Insn): void {
  const off = cpu.ea(i);
  const size = i.opsize === 32 ? 108 : 94;
  cpu.linRmw(i.seg, off, size);
  const at = off + storeEnv(cpu, f, i.seg, off, i.opsize === 32);
  for (let k = 0; k < 8; k++) {
    const p = f.phys(k);
    writeM80(cpu, i.seg, at + 10 * k, { se: f.se[p], m: f.m[p] });
  }
  f.init();
}

function frstor(cpu: Cpu, f: Fpu, i: Insn): void {
  const off = cpu.ea(i);
  const envSize = i.opsize === 32 ? 28 : 14;
  const regs: F80[] = [];
  for (let k = 0; k < 8; k++) regs.push(readM80(cpu, i.seg, off + envSize + 10 * k));
  loadEnv(cpu, f, i.seg, off, i.opsize === 32);
  for (let k = 0; k < 8; k++) {
    const p = f.phys(k);
    f.se[p] = regs[k].se;
    f.m[p] = regs[k].m;
  }
}

// FXSAVE/FXRSTOR: the 512-byte image (32-bit form), registers in ST order, abridged tags.
function fxsave(cpu: Cpu, i: Insn): void {
  if (cpu.cr0 & (Cr0.EM | Cr0.TS)) cpu.raise(Vec.NM);
  const f = cpu.fpu;
  const off = cpu.ea(i);
  if (off & 15) cpu.gp(0);
  cpu.linRmw(i.seg, off, 512);
  cpu.write16(i.seg, off, f.cw);
  cpu.write16(i.seg, off + 2, f.sw);
  cpu.write16(i.seg, off + 4, ~f.empty & 0xff);
  cpu.write16(i.seg, off + 6, f.fop);
  cpu.write32(i.seg, off + 8, f.fip);
  cpu.write32(i.seg, off + 12, f.fcs);
  cpu.write32(i.seg, off + 16, f.fdp);
  cpu.write32(i.seg, off + 20, f.fds);
  cpu.write32(i.seg, off + 24, 0x1f80); // MXCSR: no SSE unit, its reset value
  cpu.write32(i.seg, off + 28, 0);
  for (let k = 0; k < 8; k++) {
    const p = f.phys(k);
    writeM80(cpu, i.seg, off + 32 + 16 * k, { se: f.se[p], m: f.m[p] });
    for (let b = 10; b < 16; b += 2) cpu.write16(i.seg, off + 32 + 16 * k + b, 0);
  }
}

function fxrstor(cpu: Cpu, i: Insn): void {
  if (cpu.cr0 & (Cr0.EM | Cr0.TS)) cpu.raise(Vec.NM);
  const f = cpu.fpu;
  const off = cpu.ea(i);
  if (off & 15) cpu.gp(0);
  const cw = cpu.read16(i.seg, off), sw = cpu.read16(i.seg, off + 2), tag = cpu.read8(i.seg, off + 4);
  const fop = cpu.read16(i.seg, off + 6), fip = cpu.read32(i.seg, off + 8), fcs = cpu.read16(i.seg, off + 12);
  const fdp = cpu.read32(i.seg, off + 16), fds = cpu.read16(i.seg, off + 20);
  const regs: F80[] = [];
  for (let k = 0; k < 8; k++) regs.push(readM80(cpu, i.seg, off + 32 + 16 * k));
  f.cw = cw;
  f.sw = sw;
  f.fop = fop & 0x7ff;
  f.fip = fip;
  f.fcs = fcs;
  f.fdp = fdp;
  f.fds = fds;
  for (let k = 0; k < 8; k++) {
    const p = f.phys(k);
    f.se[p] = regs[k].se;
    f.m[p] = regs[k].m;
  }
  f.empty = ~tag & 0xff;
  f.updateSummary();
}

// ------------------------------------------------------------------------------------------------
// The table

const ud: Body = (cpu) => cpu.raise(Vec.UD);

function fcmov(cc: (cpu: Cpu) => boolean): Body {
  return (cpu, f, i) => {
    if (!need(f, 0, i.rm)) {
      if (masked(f, Exc.IE) && cc(cpu)) f.setSt(0, F.INDEFINITE);
      return commit(f);
    }
    if (cc(cpu)) f.setSt(0, f.st(i.rm));
    commit(f);
  };
}

/** Register forms for escape `op`, ModRM.reg `reg`, dispatched on rm inside. */
function regForm(op: number, reg: number): Body | undefined {
  const rmTable = (bodies: (Body | undefined)[]): Body => (cpu, f, i) => (bodies[i.rm] ?? ud)(cpu, f, i);
  switch (op) {
    case 0xd8:
    case 0xdc:
      return op === 0xdc && (reg === 2 || reg === 3) ? undefined : arithHandler(op, reg);
    case 0xde:
      if (reg === 2) return undefined;
      if (reg === 3) return rmTable([undefined, (_c, f) => { const ok = need(f, 0, 1); fcom(f, ok ? f.st(1) : null, ok, false, 2); }]);
      return arithHandler(op, reg);
    case 0xd9:
      switch (reg) {
        case 0: return (_c, f, i) => {
          if (!need(f, i.rm)) return pushChecked(f, () => (masked(f, Exc.IE) ? F.INDEFINITE : null));
          const v = f.st(i.rm);
          pushChecked(f, () => v);
        };
        case 1: return (_c, f, i) => {
          if (f.isEmpty(0) || f.isEmpty(i.rm)) {
            need(f, 0, i.rm);
            if (!masked(f, Exc.IE)) return commit(f);
            if (f.isEmpty(0)) f.setSt(0, F.INDEFINITE);
            if (f.isEmpty(i.rm)) f.setSt(i.rm, F.INDEFINITE);
          }
          const a = f.st(0), b = f.st(i.rm);
          f.setSt(0, b);
          f.setSt(i.rm, a);
          commit(f);
        };
        case 2: return rmTable([(_c, f) => commit(f)]);
        case 4: return rmTable([
          unary((_f, a) => F.neg(a)),
          unary((_f, a) => F.abs(a)),
          undefined, undefined,
          (_c, f) => { const ok = need(f, 0); fcom(f, ok ? F.ZERO : null, ok, false, 0); },
          (_c, f) => { fxam(f); },
        ]);
        case 5: return (_c, f, i) => {
          if (i.rm === 7) return ud(_c, f, i);
          pushChecked(f, () => constant(f, i.rm));
        };
        case 6: return rmTable([
          unary((f, a) => T.f2xm1(f, a)),
          binaryPop((f, y, x) => T.fyl2x(f, y, x)),
          trig((f, x) => T.fptan(f, x), true, true),
          binaryPop((f, y, x) => T.fpatan(f, y, x)),
          (_c, f) => {
            if (!need(f, 0)) {
              if (masked(f, Exc.IE)) { f.setSt(0, F.INDEFINITE); if (room(f)) f.push(F.INDEFINITE); }
              return commit(f);
            }
            if (!room(f)) {
              if (masked(f, Exc.IE)) { f.setSt(0, F.INDEFINITE); f.push(F.INDEFINITE); }
              return commit(f);
            }
            const r = F.extract(f, f.st(0));
            commit(f);
            if (r !== null) { f.setSt(0, r[0]); f.push(r[1]); }
          },
          (_c, f) => prem(f, true),
          (_c, f) => { f.top = f.top - 1; f.c1 = false; commit(f); },
          (_c, f) => { f.top = f.top + 1; f.c1 = false; commit(f); },
        ]);
        case 7: return rmTable([
          (_c, f) => prem(f, false),
          binaryPop((f, y, x) => T.fyl2xp1(f, y, x)),
          unary((f, a) => F.sqrt(f, a)),
          trig((f, x) => T.fsincos(f, x), true, false),
          unary((f, a) => F.roundToInt(f, a)),
          (_c, f) => {
            if (!need(f, 0, 1)) {
              if (masked(f, Exc.IE)) f.setSt(0, F.INDEFINITE);
              return commit(f);
            }
            const r = F.scale(f, f.st(0), f.st(1));
            if (r !== null) f.setSt(0, r);
            commit(f);
          },
          trig((f, x) => T.fsin(f, x), false, false),
          trig((f, x) => T.fcos(f, x), false, false),
        ]);
      }
      return undefined;
    case 0xda:
      if (reg < 4) return fcmov([(c: Cpu) => c.cf() !== 0, (c: Cpu) => c.zf(), (c: Cpu) => c.cf() !== 0 || c.zf(), (c: Cpu) => c.pf()][reg]);
      if (reg === 5) return rmTable([undefined, (_c, f) => { const ok = need(f, 0, 1); fcom(f, ok ? f.st(1) : null, ok, true, 2); }]);
      return undefined;
    case 0xdb:
      if (reg < 4) return fcmov([(c: Cpu) => c.cf() === 0, (c: Cpu) => !c.zf(), (c: Cpu) => c.cf() === 0 && !c.zf(), (c: Cpu) => !c.pf()][reg]);
      if (reg === 5) return (cpu, f, i) => fcomi(cpu, f, i.rm, true, false);
      if (reg === 6) return (cpu, f, i) => fcomi(cpu, f, i.rm, false, false);
      return undefined;
    case 0xdd:
      switch (reg) {
        case 0: return (_c, f, i) => { f.empty |= 1 << f.phys(i.rm); commit(f); };
        case 2: case 3: return (_c, f, i) => {
          if (!need(f, 0)) {
            if (!masked(f, Exc.IE)) return commit(f);
            f.setSt(i.rm, F.INDEFINITE);
          } else {
            f.setSt(i.rm, f.st(0));
          }
          commit(f);
          if (reg === 3) f.pop();
        };
        case 4: case 5: return (_c, f, i) => { const ok = need(f, 0, i.rm); fcom(f, ok ? f.st(i.rm) : null, ok, true, reg - 4); };
      }
      return undefined;
    case 0xdf:
      if (reg === 0) return (_c, f, i) => { f.empty |= 1 << f.phys(i.rm); commit(f); f.pop(); };
      if (reg === 5) return (cpu, f, i) => fcomi(cpu, f, i.rm, true, true);
      if (reg === 6) return (cpu, f, i) => fcomi(cpu, f, i.rm, false, true);
      return undefined;
  }
  return undefined;
}

function prem(f: Fpu, ieee: boolean): void {
  if (!need(f, 0, 1)) {
    if (masked(f, Exc.IE)) f.setSt(0, F.INDEFINITE);
    return commit(f);
  }
  const r = F.remainder(f, f.st(0), f.st(1), ieee);
  if (r === null) return commit(f);
  f.setSt(0, r.r);
  f.c1 = (r.q & 1) !== 0;
  commit(f);
  const q = r.partial ? 0 : r.q;
  setCC(f, (q & 4) !== 0, (q & 1) !== 0, r.partial, (q & 2) !== 0);
}

/** Memory forms. */
function memForm(op: number, reg: number): [Kind, Body] | undefined {
  const A = Kind.ARITH;
  if (op === 0xd8 || op === 0xda || op === 0xdc || op === 0xde) return [A, arithHandler(op, reg)];
  switch (op) {
    case 0xd9:
      switch (reg) {
        case 0: return [A, load((cpu, f, i) => F.fromF32(f, cpu.read32(i.seg, cpu.ea(i))))];
        case 2: case 3: return [A, store(reg === 3, st32, null)];
        case 4: return [Kind.CONTROL, (cpu, f, i) => { loadEnv(cpu, f, i.seg, cpu.ea(i), i.opsize === 32); }];
        case 5: return [Kind.CONTROL, (cpu, f, i) => { f.cw = cpu.read16(i.seg, cpu.ea(i)) | 0x40; f.updateSummary(); }];
        case 6: return [Kind.NOWAIT, (cpu, f, i) => { storeEnv(cpu, f, i.seg, cpu.ea(i), i.opsize === 32); f.cw |= 0x3f; f.updateSummary(); }];
        case 7: return [Kind.NOWAIT, (cpu, f, i) => cpu.write16(i.seg, cpu.ea(i), f.cw)];
      }
      return undefined;
    case 0xdb:
      switch (reg) {
        case 0: return [A, load((cpu, _f, i) => F.fromInt(BigInt(cpu.read32(i.seg, cpu.ea(i)))))];
        case 2: case 3: return [A, store(reg === 3, stInt(32), null)];
        case 5: return [A, load((cpu, _f, i) => readM80(cpu, i.seg, cpu.ea(i)))];
        case 7: return [A, store(true, st80, null)];
      }
      return undefined;
    case 0xdd:
      switch (reg) {
        case 0: return [A, load((cpu, f, i) => F.fromF64(f, readM64(cpu, i.seg, cpu.ea(i))))];
        case 2: case 3: return [A, store(reg === 3, st64, null)];
        case 4: return [Kind.CONTROL, frstor];
        case 6: return [Kind.NOWAIT, fsave];
        case 7: return [Kind.NOWAIT, (cpu, f, i) => cpu.write16(i.seg, cpu.ea(i), f.sw)];
      }
      return undefined;
    case 0xdf:
      switch (reg) {
        case 0: return [A, load((cpu, _f, i) => F.fromInt(BigInt((cpu.read16(i.seg, cpu.ea(i)) << 16) >> 16)))];
        case 2: case 3: return [A, store(reg === 3, stInt(16), null)];
        case 4: return [A, load((cpu, _f, i) => {
          const off = cpu.ea(i);
          const b: number[] = [];
          for (let k = 0; k < 10; k++) b.push(cpu.read8(i.seg, off + k));
          return F.fromBcd(b);
        })];
        case 5: return [A, load((cpu, _f, i) => F.fromInt(BigInt.asIntN(64, readM64(cpu, i.seg, cpu.ea(i)))))];
        case 6: return [A, store(true, stBcd, null)];
        case 7: return [A, store(true, stInt(64), null)];
      }
      return undefined;
  }
  return undefined;
}

function register(): void {
  def(0x9b, fpuWait);
  for (let op = 0xd8; op <= 0xdf; op++) {
    for (let reg = 0; reg < 8; reg++) {
      const mem = memForm(op, reg);
      // FISTTP (DB /1, DD /1, DF /1) is SSE3: #UD on an i686, as are the undefined memory forms.
      const memH = mem ? x87(mem[0], mem[1]) : (cpu: Cpu) => cpu.raise(Vec.UD);
      const regBody = regForm(op, reg);
      let regH: (cpu: Cpu, i: Insn) => void;
      if (op === 0xdb && reg === 4) {
        // FNENI/FNDISI/FNSETPM are no-ops on a 387 and later; FNCLEX and FNINIT do not wait.
        const nowait = x87(Kind.NOWAIT, (_c, f, i) => {
          if (i.rm === 2) { f.sw &= ~(Sw.EXC | Sw.SF | Sw.ES | Sw.B); }
          else if (i.rm === 3) f.init();
        });
        const plain = x87(Kind.CONTROL, () => {});
        regH = (cpu, i) => (i.rm === 2 || i.rm === 3 ? nowait : i.rm <= 4 ? plain : (c: Cpu) => c.raise(Vec.UD))(cpu, i);
      } else if (op === 0xdf && reg === 4) {
        const fnstswAx = x87(Kind.NOWAIT, (c, f) => c.setReg16(0, f.sw));
        regH = (cpu, i) => (i.rm === 0 ? fnstswAx(cpu, i) : cpu.raise(Vec.UD));
      } else {
        const h = regBody ? x87(Kind.ARITH, regBody) : undefined;
        regH = h ?? ((cpu: Cpu) => cpu.raise(Vec.UD));
      }
      defGroup(op, reg, (cpu, i) => (i.mod === 3 ? regH : memH)(cpu, i));
    }
  }
  defGroup(0x1ae, 0, (cpu, i) => (i.mod === 3 ? cpu.raise(Vec.UD) : fxsave(cpu, i)));
  defGroup(0x1ae, 1, (cpu, i) => (i.mod === 3 ? cpu.raise(Vec.UD) : fxrstor(cpu, i)));
}

register();
