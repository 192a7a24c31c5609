// The eight classic ALU operations (ADD OR ADC SBB AND SUB XOR CMP) in all their encodings,
// and INC/DEC. Operation numbers follow the opcode layout: op = opcode bits 5:3 = group /reg.

import type { Insn } from "../../../x86/insn.js";
import type { Cpu } from "../cpu.js";
import { LazyOp } from "../lazy-flags.js";
import { def, defGroup, type Handler } from "../table.js";

export const enum AluOp { ADD = 0, OR = 1, ADC = 2, SBB = 3, AND = 4, SUB = 5, XOR = 6, CMP = 7 }

/** Applies ALU operation `op` to `a` and `b` of `size` bytes, sets the flags, returns the result. */
export function alu(cpu: Cpu, op: number, a: number, b: number, size: 1 | 2 | 4): number {
  let r: number;
  switch (op) {
    case AluOp.ADD:
      r = (a + b) | 0;
      cpu.setLazy(LazyOp.ADD, a, b, r, size);
      return r;
    case AluOp.OR:
      r = a | b;
      cpu.setLogic(r, size);
      return r;
    case AluOp.ADC: {
      const c = cpu.cf();
      r = (a + b + c) | 0;
      cpu.setLazy(c ? LazyOp.ADC : LazyOp.ADD, a, b, r, size);
      return r;
    }
    case AluOp.SBB: {
      const c = cpu.cf();
      r = (a - b - c) | 0;
      cpu.setLazy(c ? LazyOp.SBB : LazyOp.SUB, a, b, r, size);
      return r;
    }
    case AluOp.AND:
      r = a & b;
      cpu.setLogic(r, size);
      return r;
    case AluOp.XOR:
      r = a ^ b;
      cpu.setLogic(r, size);
      return r;
    default: // SUB, CMP
      r = (a - b) | 0;
      cpu.setLazy(LazyOp.SUB, a, b, r, size);
      return r;
  }
}

// Memory destinations are read and written through one linear address, computed once.
function rmw8(cpu: Cpu, i: Insn, op: number, b: number): void {
  if (i.mod === 3) {
    const r = alu(cpu, op, cpu.reg8(i.rm), b, 1);
    if (op !== AluOp.CMP) cpu.setReg8(i.rm, r);
    return;
  }
  const off = cpu.ea(i);
  if (op === AluOp.CMP) {
    alu(cpu, op, cpu.read8(i.seg, off), b, 1);
    return;
  }
  const lin = cpu.linRmw(i.seg, off, 1);
  cpu.wr8(lin, alu(cpu, op, cpu.rd8(lin), b, 1));
}

function rmw16(cpu: Cpu, i: Insn, op: number, b: number): void {
  if (i.mod === 3) {
    const r = alu(cpu, op, cpu.reg16(i.rm), b & 0xffff, 2);
    if (op !== AluOp.CMP) cpu.setReg16(i.rm, r);
    return;
  }
  const off = cpu.ea(i);
  if (op === AluOp.CMP) {
    alu(cpu, op, cpu.read16(i.seg, off), b & 0xffff, 2);
    return;
  }
  const lin = cpu.linRmw(i.seg, off, 2);
  cpu.wr16(lin, alu(cpu, op, cpu.rd16(lin), b & 0xffff, 2));
}

function rmw32(cpu: Cpu, i: Insn, op: number, b: number): void {
  if (i.mod === 3) {
    const r = alu(cpu, op, cpu.r32[i.rm], b, 4);
    if (op !== AluOp.CMP) cpu.r32[i.rm] = r;
    return;
  }
  const off = cpu.ea(i);
  if (op === AluOp.CMP) {
    alu(cpu, op, cpu.read32(i.seg, off), b, 4);
    return;
  }
  const lin = cpu.linRmw(i.seg, off, 4);
  cpu.wr32(lin, alu(cpu, op, cpu.rd32(lin), b, 4));
}

function register(): void {
  for (let op = 0; op < 8; op++) {
    const base = op << 3;
    // op Eb,Gb / op Ev,Gv
    def(base + 0, (cpu, i) => rmw8(cpu, i, op, cpu.reg8(i.reg)));
    def(base + 1, (cpu, i) => rmw16(cpu, i, op, cpu.reg16(i.reg)), (cpu, i) => rmw32(cpu, i, op, cpu.r32[i.reg]));
    // op Gb,Eb / op Gv,Ev
    def(base + 2, (cpu, i) => {
      const r = alu(cpu, op, cpu.reg8(i.reg), cpu.readE8(i), 1);
      if (op !== AluOp.CMP) cpu.setReg8(i.reg, r);
    });
    def(base + 3, (cpu, i) => {
      const r = alu(cpu, op, cpu.reg16(i.reg), cpu.readE16(i), 2);
      if (op !== AluOp.CMP) cpu.setReg16(i.reg, r);
    }, (cpu, i) => {
      const r = alu(cpu, op, cpu.r32[i.reg], cpu.readE32(i), 4);
      if (op !== AluOp.CMP) cpu.r32[i.reg] = r;
    });
    // op AL,Ib / op eAX,Iz
    def(base + 4, (cpu, i) => {
      const r = alu(cpu, op, cpu.r8[0], i.imm & 0xff, 1);
      if (op !== AluOp.CMP) cpu.r8[0] = r;
    });
    def(base + 5, (cpu, i) => {
      const r = alu(cpu, op, cpu.r16[0], i.imm & 0xffff, 2);
      if (op !== AluOp.CMP) cpu.r16[0] = r;
    }, (cpu, i) => {
      const r = alu(cpu, op, cpu.r32[0], i.imm, 4);
      if (op !== AluOp.CMP) cpu.r32[0] = r;
    });
    // Group 1: 80 Eb,Ib; 81 Ev,Iz; 82 Eb,Ib (alias of 80); 83 Ev,sIb
    const eb: Handler = (cpu, i) => rmw8(cpu, i, op, i.imm & 0xff);
    defGroup(0x80, op, eb);
    defGroup(0x82, op, eb);
    defGroup(0x81, op, (cpu, i) => rmw16(cpu, i, op, i.imm), (cpu, i) => rmw32(cpu, i, op, i.imm));
    defGroup(0x83, op, (cpu, i) => rmw16(cpu, i, op, i.imm), (cpu, i) => rmw32(cpu, i, op, i.imm));
  }

  // INC/DEC r16/r32 (40–4F)
  for (let r = 0; r < 8; r++) {
    def(0x40 + r, (cpu) => cpu.setReg16(r, incDec(cpu, LazyOp.ADD, cpu.reg16(r), 2)),
      (cpu) => { cpu.r32[r] = incDec(cpu, LazyOp.ADD, cpu.r32[r], 4); });
    def(0x48 + r, (cpu) => cpu.setReg16(r, incDec(cpu, LazyOp.SUB, cpu.reg16(r), 2)),
      (cpu) => { cpu.r32[r] = incDec(cpu, LazyOp.SUB, cpu.r32[r], 4); });
  }
  // FE /0 /1 and FF /0 /1: INC/DEC Eb / Ev
  for (const [reg, lop] of [[0, LazyOp.ADD], [1, LazyOp.SUB]] as const) {
    defGroup(0xfe, reg, (cpu, i) => {
      if (i.mod === 3) return cpu.setReg8(i.rm, incDec(cpu, lop, cpu.reg8(i.rm), 1));
      const lin = cpu.linRmw(i.seg, cpu.ea(i), 1);
      cpu.wr8(lin, incDec(cpu, lop, cpu.rd8(lin), 1));
    });
    defGroup(0xff, reg, (cpu, i) => {
      if (i.mod === 3) return cpu.setReg16(i.rm, incDec(cpu, lop, cpu.reg16(i.rm), 2));
      const lin = cpu.linRmw(i.seg, cpu.ea(i), 2);
      cpu.wr16(lin, incDec(cpu, lop, cpu.rd16(lin), 2));
    }, (cpu, i) => {
      if (i.mod === 3) {
        cpu.r32[i.rm] = incDec(cpu, lop, cpu.r32[i.rm], 4);
        return;
      }
      const lin = cpu.linRmw(i.seg, cpu.ea(i), 4);
      cpu.wr32(lin, incDec(cpu, lop, cpu.rd32(lin), 4));
    });
  }
}

function incDec(cpu: Cpu, op: LazyOp.ADD | LazyOp.SUB, a: number, size: 1 | 2 | 4): number {
  const r = op === LazyOp.ADD ? (a + 1) | 0 : (a - 1) | 0;
  cpu.setIncDec(op, a, r, size);
  return r;
}

register();
