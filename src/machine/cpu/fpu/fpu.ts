// The x87 FPU's architectural state as plain data: eight 80-bit physical registers, the control,
// status and tag words, and the last-instruction/last-data pointers. Instruction semantics are in
// ../ops/x87.ts; the arithmetic in ./float80.ts.

import { Cls, classify, type F80, type FpEnv } from "./float80.js";

/** Status word bits (SDM vol. 1, 8.1.3). */
export const enum Sw {
  EXC = 0x3f, SF = 0x40, ES = 0x80, C0 = 0x100, C1 = 0x200, C2 = 0x400, TOP_SHIFT = 11, TOP = 0x3800, C3 = 0x4000, B = 0x8000,
}

/** Two-bit register tags. */
export const enum Tag { VALID = 0, ZERO = 1, SPECIAL = 2, EMPTY = 3 }

export interface FpuState {
  cw: number;
  sw: number;
  /** Bit n set: physical register n is empty. */
  empty: number;
  se: number[];
  m: string[];
  fip: number;
  fcs: number;
  fdp: number;
  fds: number;
  fop: number;
}

export class Fpu implements FpEnv {
  /** Control word: exception masks, precision and rounding control. */
  cw = 0x037f;
  /** Status word; TOP lives in it (bits 13:11). */
  sw = 0;
  /** Bit n: physical register n is empty. The full tag word is derived from the contents. */
  empty = 0xff;
  /** Physical registers: sign/exponent and significand. */
  readonly se = new Uint16Array(8);
  readonly m = new BigUint64Array(8);
  /** Last instruction pointer (offset and CS), last data pointer (offset and DS), opcode (11 bits). */
  fip = 0;
  fcs = 0;
  fdp = 0;
  fds = 0;
  fop = 0;

  // FpEnv: what one operation raised (the instruction folds it into `sw`).
  flags = 0;
  c1 = false;

  /**
   * Asserted FERR# with CR0.NE = 0 (the PC's IRQ13 path): the machine wires this to the interrupt
   * controller. Returns true when IGNNE# is asserted (the instruction then proceeds as if no
   * exception were pending), false to make the CPU wait for the interrupt before retrying.
   * Unwired, the FPU behaves as if IGNNE# were asserted.
   */
  ferr: ((asserted: boolean) => boolean) | null = null;

  /** FNINIT. */
  init(): void {
    this.cw = 0x037f;
    this.sw = 0;
    this.empty = 0xff;
    this.fip = this.fcs = this.fdp = this.fds = this.fop = 0;
  }

  /** After RESET the registers read as +0 as well (SDM vol. 3, table 9-1). */
  reset(): void {
    this.init();
    this.cw = 0x0040;
    this.empty = 0; // FTW 5555h: every register holds +0
    this.se.fill(0);
    this.m.fill(0n);
  }

  get top(): number {
    return (this.sw >> Sw.TOP_SHIFT) & 7;
  }
  set top(t: number) {
    this.sw = (this.sw & ~Sw.TOP) | ((t & 7) << Sw.TOP_SHIFT);
  }

  /** Physical register of ST(i). */
  phys(i: number): number {
    return (this.top + i) & 7;
  }
  isEmpty(i: number): boolean {
    return ((this.empty >> this.phys(i)) & 1) !== 0;
  }
  st(i: number): F80 {
    const p = this.phys(i);
    return { se: this.se[p], m: this.m[p] };
  }
  /** Writes ST(i) and tags it valid. */
  setSt(i: number, v: F80): void {
    const p = this.phys(i);
    this.se[p] = v.se;
    this.m[p] = v.m;
    this.empty &= ~(1 << p);
  }
  push(v: F80): void {
    this.top = this.top - 1;
    this.setSt(0, v);
  }
  pop(): void {
    this.empty |= 1 << this.top;
    this.top = this.top + 1;
  }

  /** The tag of physical register p, from its contents (what FSTENV/FSAVE store). */
  tagOf(p: number): Tag {
    if ((this.empty >> p) & 1) return Tag.EMPTY;
    const c = classify({ se: this.se[p], m: this.m[p] });
    return c === Cls.NORMAL ? Tag.VALID : c === Cls.ZERO ? Tag.ZERO : Tag.SPECIAL;
  }
  tagWord(): number {
    let t = 0;
    for (let p = 0; p < 8; p++) t |= this.tagOf(p) << (2 * p);
    return t;
  }
  /** Loads a tag word: only "empty or not" is kept, as P6 hardware does. */
  setTagWord(t: number): void {
    let e = 0;
    for (let p = 0; p < 8; p++) if (((t >> (2 * p)) & 3) === Tag.EMPTY) e |= 1 << p;
    this.empty = e;
  }

  /** The status word with ES and B recomputed from the flags and masks. */
  updateSummary(): void {
    if ((this.sw & ~this.cw & Sw.EXC) !== 0) this.sw |= Sw.ES | Sw.B;
    else this.sw &= ~(Sw.ES | Sw.B);
  }

  save(): FpuState {
    return {
      cw: this.cw, sw: this.sw, empty: this.empty, se: Array.from(this.se), m: Array.from(this.m, (v) => v.toString(16)),
      fip: this.fip, fcs: this.fcs, fdp: this.fdp, fds: this.fds, fop: this.fop,
    };
  }

  restore(s: FpuState): void {
    this.cw = s.cw;
    this.sw = s.sw;
    this.empty = s.empty;
    this.se.set(s.se);
    s.m.forEach((v, k) => { this.m[k] = BigInt("0x" + v); });
    this.fip = s.fip;
    this.fcs = s.fcs;
    this.fdp = s.fdp;
    this.fds = s.fds;
    this.fop = s.fop;
  }
}
