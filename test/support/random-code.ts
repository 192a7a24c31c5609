// Seeded random programs for differential tests: basic blocks of integer instructions in the forms
// compiled code specialises (every ALU operation at 8, 16 and 32 bits, register and memory
// operands, immediates, shifts, multiplies, flag readers, the stack), joined by conditional and
// unconditional jumps forward, calls, and counted loops of a block onto itself. Memory operands are
// EDI-based (EDI points at a data area and is never a destination) with ESI as a masked index, so
// programs run long without wandering off; a few use FS, whose base the harness sets.

import { seeded as prng } from "./random.js";

const R32 = ["eax", "ebx", "ecx", "edx", "ebp"];
const R16 = ["ax", "bx", "cx", "dx", "bp"];
const R8 = ["al", "bl", "cl", "dl", "ah", "bh", "ch", "dh"];
const ALU = ["add", "or", "adc", "sbb", "and", "sub", "xor", "cmp"];
const SHIFTS = ["shl", "shr", "sar", "rol", "ror", "rcl", "rcr"];
const CC = ["o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g"];

/**
 * Nasm source of a random program of `blocks` blocks for a flat 32-bit machine; the harness sets
 * EDI to a data area of at least 16 KiB and FS's base to another. Never ends by itself.
 */
export function randomProgram(seed: number, blocks = 40): string {
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  const int = (n: number): number => Math.floor(rnd() * n);
  const imm32 = (): number => [0, 1, -1, 0x7fffffff, -0x80000000, 0xff, 0x80, int(0x100000000) | 0][int(8)];
  const mem = (size: string): string => {
    const d = int(4) * 1024 + int(64) * (rnd() < 0.7 ? 4 : 1);
    const form = int(4);
    if (form === 0) return `${size} [edi + ${d}]`;
    if (form === 1) return `${size} [edi + esi*${pick([1, 2, 4])} + ${d & 0x3ff}]`;
    if (form === 2) return `${size} [fs:edi + ${d}]`;
    return `${size} [edi + ${d}]`;
  };
  const lines: string[] = [];
  const emit = (s: string): void => {
    lines.push("  " + s);
  };
  /** One random instruction; `balanced`: none that moves ESP (in subroutines, which must return). */
  const insn = (balanced = false): void => {
    const r = pick(R32), r2 = pick(R32), b = pick(R8), b2 = pick(R8), w = pick(R16), w2 = pick(R16);
    let kind = int(30);
    while (balanced && (kind === 19 || kind === 20)) kind = int(30);
    switch (kind) {
      case 0: return emit(`${pick(ALU)} ${r}, ${r2}`);
      case 1: return emit(`${pick(ALU)} ${r}, ${imm32()}`);
      case 2: return emit(`${pick(ALU)} ${r}, ${mem("dword")}`);
      case 3: return emit(`${pick(ALU)} ${mem("dword")}, ${r}`);
      case 4: return emit(`${pick(ALU)} ${mem("dword")}, ${rnd() < 0.5 ? int(256) - 128 : imm32()}`);
      case 5: return emit(`${pick(ALU)} ${b}, ${rnd() < 0.5 ? b2 : int(256)}`);
      case 6: return emit(`${pick(ALU)} ${w}, ${rnd() < 0.5 ? w2 : int(65536)}`);
      case 7: return emit(`${pick(ALU)} ${mem("byte")}, ${rnd() < 0.5 ? String(int(256)) : b2}`);
      case 8: return emit(`${pick(["inc", "dec"])} ${pick([r, b, w, mem("dword"), mem("byte")])}`);
      case 9: return emit(`test ${r}, ${rnd() < 0.5 ? r2 : imm32()}`);
      case 10: return emit(`test ${mem("dword")}, ${r}`);
      case 11: return emit(`mov ${r}, ${rnd() < 0.5 ? r2 : imm32()}`);
      case 12: return emit(`mov ${r}, ${mem("dword")}`);
      case 13: return emit(`mov ${mem("dword")}, ${rnd() < 0.5 ? r : imm32()}`);
      case 14: return emit(rnd() < 0.5 ? `mov ${b}, ${mem("byte")}` : `mov ${mem("byte")}, ${b}`);
      case 15: return emit(`${pick(["movzx", "movsx"])} ${r}, ${pick([b, w, mem("byte"), mem("word")])}`);
      case 16: return emit(`lea ${r}, [${r2} + ${pick(R32)}*${pick([1, 2, 4, 8])} + ${imm32()}]`);
      case 17: return emit(`${pick(SHIFTS)} ${pick([r, b, w, mem("dword")])}, ${pick(["1", "cl", String(int(40))])}`);
      case 18: return emit(rnd() < 0.5 ? `imul ${r}, ${pick([r2, mem("dword")])}` : `imul ${r}, ${r2}, ${imm32()}`);
      case 19: return emit(`push ${pick([r, String(imm32()), mem("dword")])}`);
      case 20: return emit(`pop ${r}`);
      case 21: return emit(`set${pick(CC)} ${rnd() < 0.7 ? b : mem("byte")}`);
      case 22: return emit(`cmov${pick(CC)} ${r}, ${rnd() < 0.7 ? r2 : mem("dword")}`);
      case 23: return emit(pick(["cdq", "cwde", "cbw", "cwd", "clc", "stc", "cmc", "lahf", "sahf", "nop"]));
      case 24: return emit(`${pick(["neg", "not"])} ${pick([r, b, mem("dword")])}`);
      case 25: return emit(`${pick(["xchg", "xadd"])} ${pick([r, mem("dword")])}, ${r2}`);
      case 26: return emit(`bswap ${r}`);
      case 27: return emit(`${pick(["bt", "bts", "btr", "btc"])} ${r}, ${rnd() < 0.5 ? r2 : int(32)}`);
      case 28: return emit(`${pick(["shld", "shrd"])} ${r}, ${r2}, ${int(32)}`);
      default: return emit(`mov ${w}, ${mem("word")}`);
    }
  };
  lines.push("start:");
  for (let k = 0; k < blocks; k++) {
    lines.push(`b${k}:`);
    emit(`mov esi, ${pick(R32)}`);
    emit(`and esi, 0x3fc`);
    const n = 1 + int(10);
    for (let m = 0; m < n; m++) insn();
    // Forward only (the loops onto themselves are counted), so every pass runs through.
    const to = `b${Math.min(blocks, k + 1 + int(4))}`;
    switch (int(6)) {
      case 0: emit(`j${pick(CC)} ${to}`); break;
      case 1: emit(`jmp ${to}`); break;
      case 2: emit(`call sub${int(4)}`); break;
      case 3: // a loop onto itself, a byte counter in memory ending it
        emit(`sub byte [edi + ${0x3000 + k}], ${37 + int(60)}`);
        emit(`j${pick(["nc", "a", "ns"])} b${k}`);
        break;
      case 4: emit(`j${pick(CC)} ${to}`); break;
      default: break; // falls through
    }
  }
  lines.push(`b${blocks}:`);
  emit(`jmp b0`);
  for (let s = 0; s < 4; s++) {
    lines.push(`sub${s}:`);
    const n = 1 + int(6);
    for (let m = 0; m < n; m++) insn(true);
    emit("ret");
  }
  return lines.join("\n");
}
