// Bit operations: BT BTS BTR BTC (register and immediate bit offsets), BSF BSR, BSWAP, and the
// condition-driven SETcc and CMOVcc.

import type { Insn } from "../../../x86/insn.js";
import { Flag } from "../../../x86/eflags.js";
import type { Cpu } from "../cpu.js";
import { def, defGroup } from "../table.js";

const enum Bt { TEST = 0, SET = 1, RESET = 2, COMPLEMENT = 3 }

/** The new value of a BTx operand whose selected bit mask is `m`. */
function btApply(op: number, v: number, m: number): number {
  switch (op) {
    case Bt.SET: return v | m;
    case Bt.RESET: return v & ~m;
    case Bt.COMPLEMENT: return v ^ m;
    default: return v;
  }
}

/**
 * BTx on a memory operand: `off` is the segment offset of the word or dword holding the bit,
 * `bit` its number there. CF = the bit; ZF keeps its value; OF SF AF PF (undefined) are kept too.
 */
function btMem(cpu: Cpu, i: Insn, op: number, off: number, bit: number, size: 2 | 4): void {
  const m = 1 << bit;
  if (op === Bt.TEST) {
    const v = size === 2 ? cpu.read16(i.seg, off) : cpu.read32(i.seg, off);
    cpu.setCF((v & m) !== 0);
    return;
  }
  const lin = cpu.linRmw(i.seg, off, size);
  const v = size === 2 ? cpu.rd16(lin) : cpu.rd32(lin);
  if (size === 2) cpu.wr16(lin, btApply(op, v, m));
  else cpu.wr32(lin, btApply(op, v, m));
  cpu.setCF((v & m) !== 0);
}

/** BTx Ev,Gv: in memory, the signed bit offset selects a word/dword relative to the operand. */
function btReg16(cpu: Cpu, i: Insn, op: number): void {
  const idx = (cpu.reg16(i.reg) << 16) >> 16;
  if (i.mod === 3) return btR16(cpu, i, op, idx & 15);
  const a = cpu.ea(i) + ((idx >> 4) << 1);
  btMem(cpu, i, op, i.adsize === 32 ? a | 0 : a & 0xffff, idx & 15, 2);
}

function btReg32(cpu: Cpu, i: Insn, op: number): void {
  const idx = cpu.r32[i.reg];
  if (i.mod === 3) return btR32(cpu, i, op, idx & 31);
  const a = cpu.ea(i) + ((idx >> 5) << 2);
  btMem(cpu, i, op, i.adsize === 32 ? a | 0 : a & 0xffff, idx & 31, 4);
}

function btR16(cpu: Cpu, i: Insn, op: number, bit: number): void {
  const v = cpu.reg16(i.rm), m = 1 << bit;
  if (op !== Bt.TEST) cpu.setReg16(i.rm, btApply(op, v, m));
  cpu.setCF((v & m) !== 0);
}

function btR32(cpu: Cpu, i: Insn, op: number, bit: number): void {
  const v = cpu.r32[i.rm], m = 1 << bit;
  if (op !== Bt.TEST) cpu.r32[i.rm] = btApply(op, v, m);
  cpu.setCF((v & m) !== 0);
}

/**
 * Flags of BSF/BSR with a non-zero source and result `idx`: ZF = 0 and, for the undefined ones, as
 * Bochs models the P6: SF ZF PF of the index, CF = OF = AF = 0. `idx | 0x100` as a 32-bit result
 * is non-zero and positive with the index's parity.
 */
function scanFlags(cpu: Cpu, idx: number): void {
  cpu.setResult(idx | 0x100, 4, 0);
}

function bsf(v: number): number {
  return 31 - Math.clz32(v & -v);
}

function bsr(v: number): number {
  return 31 - Math.clz32(v);
}

function register(): void {
  // BT BTS BTR BTC Ev,Gv: 0F A3, AB, B3, BB
  const regForms = [0x1a3, 0x1ab, 0x1b3, 0x1bb];
  for (let op = 0; op < 4; op++) {
    def(regForms[op], (cpu, i) => btReg16(cpu, i, op), (cpu, i) => btReg32(cpu, i, op));
    // 0F BA /4–/7 Ev,Ib: the immediate is taken modulo the operand size; no displacement.
    defGroup(0x1ba, 4 + op, (cpu, i) => {
      const bit = i.imm & 15;
      if (i.mod === 3) btR16(cpu, i, op, bit);
      else btMem(cpu, i, op, cpu.ea(i), bit, 2);
    }, (cpu, i) => {
      const bit = i.imm & 31;
      if (i.mod === 3) btR32(cpu, i, op, bit);
      else btMem(cpu, i, op, cpu.ea(i), bit, 4);
    });
  }

  // BSF / BSR: a zero source sets ZF and leaves the destination unchanged.
  def(0x1bc, (cpu, i) => {
    const v = cpu.readE16(i);
    if (v === 0) return cpu.setFlagBits(Flag.ZF, Flag.ZF);
    const r = bsf(v);
    cpu.setReg16(i.reg, r);
    scanFlags(cpu, r);
  }, (cpu, i) => {
    const v = cpu.readE32(i);
    if (v === 0) return cpu.setFlagBits(Flag.ZF, Flag.ZF);
    const r = bsf(v);
    cpu.r32[i.reg] = r;
    scanFlags(cpu, r);
  });
  def(0x1bd, (cpu, i) => {
    const v = cpu.readE16(i);
    if (v === 0) return cpu.setFlagBits(Flag.ZF, Flag.ZF);
    const r = bsr(v);
    cpu.setReg16(i.reg, r);
    scanFlags(cpu, r);
  }, (cpu, i) => {
    const v = cpu.readE32(i);
    if (v === 0) return cpu.setFlagBits(Flag.ZF, Flag.ZF);
    const r = bsr(v);
    cpu.r32[i.reg] = r;
    scanFlags(cpu, r);
  });

  // BSWAP r32 (0F C8+r). The 16-bit form is undefined; Intel hardware clears the low word.
  for (let r = 0; r < 8; r++) {
    def(0x1c8 + r, (cpu) => cpu.setReg16(r, 0), (cpu) => {
      const v = cpu.r32[r];
      cpu.r32[r] = (v << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24);
    });
  }

  for (let cc = 0; cc < 16; cc++) {
    // SETcc Eb (0F 90+cc); ModRM.reg is ignored.
    def(0x190 + cc, (cpu, i) => cpu.writeE8(i, cpu.cond(cc) ? 1 : 0));
    // CMOVcc Gv,Ev (0F 40+cc): the source is read (and may fault) whatever the condition.
    def(0x140 + cc, (cpu, i) => {
      const v = cpu.readE16(i);
      if (cpu.cond(cc)) cpu.setReg16(i.reg, v);
    }, (cpu, i) => {
      const v = cpu.readE32(i);
      if (cpu.cond(cc)) cpu.r32[i.reg] = v;
    });
  }
}

register();
