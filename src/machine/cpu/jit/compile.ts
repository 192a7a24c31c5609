// Block formation and code generation: a run of decoded instructions within one physical code
// page becomes one JavaScript function (see ./README.md for the contract with the run loop).

import { decode } from "../../../x86/decoder.js";
import type { ByteSource, Insn } from "../../../x86/insn.js";
import { PAGE_SHIFT, PAGE_SIZE } from "../../memory.js";
import { JitMode } from "../arch.js";
import type { Cpu } from "../cpu.js";
import { handlerFor } from "../table.js";
import { emitInsn, Emitter } from "./emit.js";
import { Role, roleOf } from "./role.js";

/** A compiled block: `run` executes it from its first instruction (see ./README.md). */
export interface Block {
  readonly run: (cpu: Cpu, end: number) => void;
  /** Instructions in the block: a run retires all of them unless one faults or the block is cut short. */
  readonly n: number;
  /** Bytes of code from the first instruction: a host breakpoint in [start, start + bytes) keeps the block from running. */
  readonly bytes: number;
  /** The Cpu.jitMode bits the code relies on, and their values when it was generated. */
  readonly mask: number;
  readonly mode: number;
}

/**
 * Reads code bytes straight from a physical page, so that looking ahead while forming a block
 * never walks the page tables or faults; bytes past the page read as 0 (an instruction that
 * reaches them is left out of the block).
 */
class PageBytes implements ByteSource {
  linBase = 0;
  physBase = 0;
  constructor(readonly ram: Uint8Array) {}
  byte(addr: number): number {
    const o = (addr - this.linBase) >>> 0;
    return o < PAGE_SIZE ? this.ram[this.physBase + o] : 0;
  }
}

let bytes: PageBytes | null = null;

/**
 * Compiles the block that starts at linear `lin` in the code page whose decoded instructions are
 * `lines` (physical page `page`, decoded with CS.D = cpu.code32), for the CPU's current mode.
 * Null when the first instruction cannot be compiled (the interpreter runs it).
 */
export function compileBlock(cpu: Cpu, lines: Insn[], page: number, lin: number): Block | null {
  if (bytes === null || bytes.ram !== cpu.mem.u8) bytes = new PageBytes(cpu.mem.u8);
  bytes.linBase = lin & ~(PAGE_SIZE - 1);
  bytes.physBase = page << PAGE_SHIFT;
  const insns: Insn[] = [];
  let off = lin & (PAGE_SIZE - 1);
  const first = off;
  const max = cpu.jitBlockLimit;
  while (insns.length < max) {
    let i = lines[off];
    if (i === undefined) {
      i = decode(bytes, bytes.linBase + off, cpu.code32);
      // Invalid encodings and instructions that cross into the next page are the interpreter's.
      if (i.invalid || off + i.len > PAGE_SIZE) break;
      const h = handlerFor(i);
      if (h === undefined) break;
      i.exec = h;
      lines[off] = i;
    } else if (i.invalid || handlerFor(i) !== i.exec) {
      break;
    }
    insns.push(i);
    off += i.len;
    if (roleOf(i) === Role.LAST || off >= PAGE_SIZE) break;
  }
  if (insns.length === 0) return null;
  const e = new Emitter(cpu, lin);
  for (let k = 0; k < insns.length; k++) emitInsn(e, insns[k], k, k === insns.length - 1);
  const mask = e.modeMask | JitMode.OK;
  return { run: e.finish(insns.length), n: insns.length, bytes: off - first, mask, mode: cpu.jitMode & mask };
}
