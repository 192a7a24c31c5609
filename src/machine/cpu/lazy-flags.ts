// Lazy arithmetic flags. Arithmetic instructions do not compute OSZAPC; they record the operation,
// its operands and result, and the flags are derived only when something reads them (a Jcc reads
// one or two, PUSHF all). Which flags are lazy at any moment is `lzMask`; the others live in
// `flags`. The state is plain numbers, so it saves and restores like every other register.

import { Flag } from "../../x86/eflags.js";

export const enum LazyOp {
  /** CF/OF/AF of an addition a + b (+ carry-in 0). INC is ADD with b = 1 and CF left eager. */
  ADD = 0,
  /** An addition with carry-in 1. */
  ADC = 1,
  /** CF/OF/AF of a subtraction a - b (- borrow-in 0). DEC, NEG (a = 0) and CMP use it too. */
  SUB = 2,
  /** A subtraction with borrow-in 1. */
  SBB = 3,
  /** Result-only: CF = OF = AF = 0. */
  LOGIC = 4,
}

/** Width masks by operand size in bytes, as int32 (the 32-bit mask is -1). */
export const WIDTH_MASK = [0, 0xff, 0xffff, 0, -1] as const;
/** Sign-bit masks by operand size in bytes, as int32. */
export const SIGN_BIT = [0, 0x80, 0x8000, 0, 1 << 31] as const;

const PARITY = new Uint8Array(256);
for (let v = 0; v < 256; v++) {
  let bits = 0;
  for (let b = v; b !== 0; b >>= 1) bits += b & 1;
  PARITY[v] = (bits & 1) === 0 ? Flag.PF : 0;
}

/** The lazy-flag registers of the CPU (a mixin-free record the Cpu embeds by composition). */
export class LazyFlags {
  /** EFLAGS with every non-lazy bit current (bit 1 always set). */
  flags = Flag.FIXED;
  /** Which of OSZAPC are to be derived from the recorded operation. */
  lzMask = 0;
  lzOp: LazyOp = LazyOp.LOGIC;
  lzA = 0;
  lzB = 0;
  lzR = 0;
  /** Width mask of the recorded operation (WIDTH_MASK) and its sign bit. */
  lzW = -1;
  lzSign = 1 << 31;

  /** Records an operation whose OSZAPC are all lazy. Values may carry junk above the width. */
  setLazy(op: LazyOp, a: number, b: number, r: number, size: 1 | 2 | 4): void {
    this.lzMask = Flag.CF | Flag.PF | Flag.AF | Flag.ZF | Flag.SF | Flag.OF;
    this.lzOp = op;
    this.lzA = a;
    this.lzB = b;
    this.lzR = r;
    this.lzW = WIDTH_MASK[size];
    this.lzSign = SIGN_BIT[size];
  }

  /** A logic result: SF ZF PF from `r`, CF = OF = AF = 0. */
  setLogic(r: number, size: 1 | 2 | 4): void {
    this.flags &= ~(Flag.CF | Flag.OF | Flag.AF);
    this.lzMask = Flag.PF | Flag.ZF | Flag.SF;
    this.lzOp = LazyOp.LOGIC;
    this.lzR = r;
    this.lzW = WIDTH_MASK[size];
    this.lzSign = SIGN_BIT[size];
  }

  /**
   * SF ZF PF from `r`, with CF OF AF given eagerly in `eager` (only those three bits are read from
   * it). For shifts, multiplies and the like.
   */
  setResult(r: number, size: 1 | 2 | 4, eager: number): void {
    this.flags = (this.flags & ~(Flag.CF | Flag.OF | Flag.AF)) | (eager & (Flag.CF | Flag.OF | Flag.AF));
    this.lzMask = Flag.PF | Flag.ZF | Flag.SF;
    this.lzOp = LazyOp.LOGIC;
    this.lzR = r;
    this.lzW = WIDTH_MASK[size];
    this.lzSign = SIGN_BIT[size];
  }

  /** INC/DEC: like ADD/SUB of 1, but CF keeps its current value. */
  setIncDec(op: LazyOp.ADD | LazyOp.SUB, a: number, r: number, size: 1 | 2 | 4): void {
    this.setIncDecCf(op, a, r, size, this.cf());
  }

  /** INC/DEC with CF (0 or 1) as the flags before gave it (compiled code knows it: ./jit/emit.ts). */
  setIncDecCf(op: LazyOp.ADD | LazyOp.SUB, a: number, r: number, size: 1 | 2 | 4, cf: number): void {
    this.flags = (this.flags & ~Flag.CF) | cf;
    this.lzMask = Flag.PF | Flag.AF | Flag.ZF | Flag.SF | Flag.OF;
    this.lzOp = op;
    this.lzA = a;
    this.lzB = 1;
    this.lzR = r;
    this.lzW = WIDTH_MASK[size];
    this.lzSign = SIGN_BIT[size];
  }

  /** CF as 0 or 1. */
  cf(): number {
    if ((this.lzMask & Flag.CF) === 0) return this.flags & Flag.CF;
    const w = this.lzW;
    const a = (this.lzA & w) >>> 0, b = (this.lzB & w) >>> 0, r = (this.lzR & w) >>> 0;
    switch (this.lzOp) {
      case LazyOp.ADD: return r < a ? 1 : 0;
      case LazyOp.ADC: return r <= a ? 1 : 0;
      case LazyOp.SUB: return a < b ? 1 : 0;
      case LazyOp.SBB: return a <= b ? 1 : 0;
      default: return 0;
    }
  }

  zf(): boolean {
    if ((this.lzMask & Flag.ZF) === 0) return (this.flags & Flag.ZF) !== 0;
    return (this.lzR & this.lzW) === 0;
  }

  sf(): boolean {
    if ((this.lzMask & Flag.SF) === 0) return (this.flags & Flag.SF) !== 0;
    return (this.lzR & this.lzSign) !== 0;
  }

  pf(): boolean {
    if ((this.lzMask & Flag.PF) === 0) return (this.flags & Flag.PF) !== 0;
    return PARITY[this.lzR & 0xff] !== 0;
  }

  af(): boolean {
    if ((this.lzMask & Flag.AF) === 0) return (this.flags & Flag.AF) !== 0;
    if (this.lzOp === LazyOp.LOGIC) return false;
    return ((this.lzA ^ this.lzB ^ this.lzR) & 0x10) !== 0;
  }

  of(): boolean {
    if ((this.lzMask & Flag.OF) === 0) return (this.flags & Flag.OF) !== 0;
    const a = this.lzA, b = this.lzB, r = this.lzR;
    switch (this.lzOp) {
      case LazyOp.ADD:
      case LazyOp.ADC:
        return ((a ^ r) & (b ^ r) & this.lzSign) !== 0;
      case LazyOp.SUB:
      case LazyOp.SBB:
        return ((a ^ b) & (a ^ r) & this.lzSign) !== 0;
      default:
        return false;
    }
  }

  /** Jcc/SETcc/CMOVcc condition `cc` (the low nibble of the opcode). */
  cond(cc: number): boolean {
    switch (cc) {
      case 0x0: return this.of();
      case 0x1: return !this.of();
      case 0x2: return this.cf() !== 0;
      case 0x3: return this.cf() === 0;
      case 0x4: return this.zf();
      case 0x5: return !this.zf();
      case 0x6: return this.cf() !== 0 || this.zf();
      case 0x7: return this.cf() === 0 && !this.zf();
      case 0x8: return this.sf();
      case 0x9: return !this.sf();
      case 0xa: return this.pf();
      case 0xb: return !this.pf();
      case 0xc: return this.sf() !== this.of();
      case 0xd: return this.sf() === this.of();
      case 0xe: return this.zf() || this.sf() !== this.of();
      default: return !this.zf() && this.sf() === this.of();
    }
  }

  /** The six status flags, computed now. */
  arith(): number {
    if (this.lzMask === 0) return this.flags & (Flag.CF | Flag.PF | Flag.AF | Flag.ZF | Flag.SF | Flag.OF);
    return this.cf() | (this.pf() ? Flag.PF : 0) | (this.af() ? Flag.AF : 0) | (this.zf() ? Flag.ZF : 0) |
      (this.sf() ? Flag.SF : 0) | (this.of() ? Flag.OF : 0);
  }

  /** Folds the lazy flags into `flags` and returns the whole EFLAGS value. */
  materialize(): number {
    if (this.lzMask !== 0) {
      const arith = Flag.CF | Flag.PF | Flag.AF | Flag.ZF | Flag.SF | Flag.OF;
      this.flags = (this.flags & ~arith) | this.arith();
      this.lzMask = 0;
    }
    return this.flags;
  }

  /** Sets the bits of `mask` from `value` (status flags included: they stop being lazy). */
  setFlagBits(value: number, mask: number): void {
    this.materialize();
    this.flags = ((this.flags & ~mask) | (value & mask) | Flag.FIXED) >>> 0;
  }

  /** Sets CF eagerly, keeping the other flags. */
  setCF(on: boolean | number): void {
    this.materialize();
    this.flags = on ? this.flags | Flag.CF : this.flags & ~Flag.CF;
  }
}
