// The handler table: instruction semantics indexed by opcode (Insn.op), ModRM reg for the group
// opcodes, and operand size. The ops/ modules fill it; the decode cache looks a handler up once
// per decoded instruction, so execution never dispatches on the opcode again.

import type { Insn } from "../../x86/insn.js";
import type { Cpu } from "./cpu.js";

export type Handler = (cpu: Cpu, i: Insn) => void;

const OPS = 0x400;
const table: (Handler | undefined)[] = new Array(OPS * 8 * 2);
/** 1 where the handler depends on ModRM.reg (a group opcode). */
const grouped = new Uint8Array(OPS);

function slot(op: number, reg: number, size32: boolean): number {
  return (((op << 3) | reg) << 1) | (size32 ? 1 : 0);
}

/**
 * Defines opcode `op` for both operand sizes: `h16` for 16-bit operand size, `h32` for 32-bit
 * (give one handler for byte forms and size-independent instructions).
 */
export function def(op: number, h16: Handler, h32: Handler = h16): void {
  if (grouped[op]) throw new Error(`opcode 0x${op.toString(16)} is a group; use defGroup`);
  if (table[slot(op, 0, false)] !== undefined) throw new Error(`opcode 0x${op.toString(16)} defined twice`);
  table[slot(op, 0, false)] = h16;
  table[slot(op, 0, true)] = h32;
}

/** Defines member `reg` (ModRM bits 5:3) of group opcode `op`. */
export function defGroup(op: number, reg: number, h16: Handler, h32: Handler = h16): void {
  if (!grouped[op] && table[slot(op, 0, false)] !== undefined) throw new Error(`opcode 0x${op.toString(16)} is not a group`);
  if (table[slot(op, reg, false)] !== undefined) throw new Error(`opcode 0x${op.toString(16)} /${reg} defined twice`);
  grouped[op] = 1;
  table[slot(op, reg, false)] = h16;
  table[slot(op, reg, true)] = h32;
}

/** The handler for a decoded instruction, or undefined when it is not implemented (#UD). */
export function handlerFor(i: Insn): Handler | undefined {
  return table[slot(i.op, grouped[i.op] ? i.reg : 0, i.opsize === 32)];
}
