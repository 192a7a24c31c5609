// Which instructions a compiled block may hold, and where one must end (see ./README.md).
//
// PLAIN instructions change nothing the block was compiled under or the run loop decides on
// between instructions: no segment register, CPL, control or debug register, IF, TF or RF, no
// I/O, no TLB invalidation, no event delivery, no halt, and EIP moves on to the next instruction.
// A block runs any number of them in a row. LAST instructions may do any of that, or transfer
// control (or, as a REP string instruction that stops after a chunk, leave EIP at itself): a
// block ends with one. Everything not listed below is LAST, so an instruction added to the
// handler table ends blocks until someone decides otherwise.

import { Prefix, type Insn } from "../../../x86/insn.js";

export const enum Role {
  /** May be followed by more instructions in the block. */
  PLAIN = 0,
  /** Ends the block (included in it). */
  LAST = 1,
}

/** By Insn.op: 1 = PLAIN whatever ModRM.reg says, 2 = PLAIN for the reg values in GROUP_PLAIN. */
const PLAIN_OP = new Uint8Array(0x400);
/** For opcodes marked 2: bit r set when /r is PLAIN. */
const GROUP_PLAIN = new Uint8Array(0x400);

function plain(...ops: number[]): void {
  for (const op of ops) PLAIN_OP[op] = 1;
}

function range(from: number, to: number): number[] {
  const out: number[] = [];
  for (let op = from; op <= to; op++) out.push(op);
  return out;
}

function plainGroup(op: number, regs: number[]): void {
  PLAIN_OP[op] = 2;
  for (const r of regs) GROUP_PLAIN[op] |= 1 << r;
}

// One-byte map.
for (let alu = 0; alu < 8; alu++) plain(...range(alu << 3, (alu << 3) + 5)); // ADD..CMP, all forms
plain(0x06, 0x0e, 0x16, 0x1e); // PUSH ES/CS/SS/DS (the POPs load segments)
plain(0x27, 0x2f, 0x37, 0x3f); // DAA DAS AAA AAS
plain(...range(0x40, 0x5f)); // INC/DEC/PUSH/POP r
plain(0x60, 0x61, 0x62, 0x63); // PUSHA POPA BOUND ARPL
plain(...range(0x68, 0x6b)); // PUSH Iz, IMUL Iz, PUSH Ib, IMUL Ib
plain(...range(0x80, 0x8d)); // group 1, TEST, XCHG, MOV, MOV Ev,Sreg, LEA
plainGroup(0x8f, [0]); // POP Ev
plain(...range(0x90, 0x99), 0x9b, 0x9c, 0x9e, 0x9f); // NOP XCHG CBW CWD FWAIT PUSHF SAHF LAHF
plain(...range(0xa0, 0xaf)); // MOV moffs, string instructions (REP: see roleOf), TEST
plain(...range(0xb0, 0xbf)); // MOV r,imm
plain(0xc0, 0xc1, 0xc8, 0xc9); // shift group, ENTER, LEAVE
plainGroup(0xc6, [0]);
plainGroup(0xc7, [0]);
plain(...range(0xd0, 0xdf)); // shift groups, AAM AAD SALC XLAT, x87
plain(0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfc, 0xfd); // CMC, group 3, CLC STC CLD STD
plainGroup(0xfe, [0, 1]);
plainGroup(0xff, [0, 1, 6]); // INC DEC PUSH (CALL and JMP end blocks)
// Two-byte map.
plain(0x11f, 0x131); // NOP Ev, RDTSC
plain(...range(0x140, 0x14f)); // CMOVcc
plain(...range(0x190, 0x19f)); // SETcc
plain(0x1a0, 0x1a3, 0x1a4, 0x1a5, 0x1a8, 0x1ab, 0x1ac, 0x1ad, 0x1af); // PUSH FS/GS, BT BTS SHLD SHRD IMUL
plain(0x1b0, 0x1b1, 0x1b3, 0x1b6, 0x1b7, 0x1ba, 0x1bb, 0x1bc, 0x1bd, 0x1be, 0x1bf); // CMPXCHG BTR MOVZX BT* BSF BSR MOVSX
plain(0x1c0, 0x1c1, ...range(0x1c8, 0x1cf)); // XADD, BSWAP
plainGroup(0x1c7, [1]); // CMPXCHG8B

const STRING_OPS = new Set([0xa4, 0xa5, 0xa6, 0xa7, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf]);

/** Whether a block may go on after `i` (a valid instruction with a handler). */
export function roleOf(i: Insn): Role {
  const p = PLAIN_OP[i.op];
  if (p === 0) return Role.LAST;
  if (p === 2 && ((GROUP_PLAIN[i.op] >>> i.reg) & 1) === 0) return Role.LAST;
  // A repeated string instruction may stop after a chunk with EIP at itself.
  if (STRING_OPS.has(i.op) && (i.prefixes & (Prefix.REP | Prefix.REPNE)) !== 0) return Role.LAST;
  return Role.PLAIN;
}
