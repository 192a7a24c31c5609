// Block formation and code generation: a trace of decoded instructions within one physical code
// page becomes one JavaScript function (see ./README.md for the contract with the run loop).

import { decode } from "../../../x86/decoder.js";
import type { ByteSource, Insn } from "../../../x86/insn.js";
import { PAGE_SHIFT, PAGE_SIZE } from "../../memory.js";
import { JitMode } from "../arch.js";
import type { CodePage, Cpu } from "../cpu.js";
import { handlerFor } from "../table.js";
import { emitInsn, Emitter, Step, type BlockFn } from "./emit.js";
import { Role, roleOf } from "./role.js";

/** A compiled block: `run` executes it from its first instruction (see ./README.md). */
export interface Block {
  readonly run: BlockFn;
  /** Instructions in the block at most: a run retires them all unless it leaves early. */
  readonly n: number;
  /** The bytes its instructions occupy: [start + from, start + from + bytes), `from` <= 0. */
  readonly from: number;
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

const isJcc = (op: number): boolean => (op >= 0x70 && op < 0x80) || (op >= 0x180 && op < 0x190);

/**
 * Compiles the block that starts at linear `lin` in `code` (physical page `page`, decoded with
 * CS.D = cpu.code32), for the CPU's current mode.
 * Null when the first instruction cannot be compiled, or the page is not RAM (the interpreter runs it).
 *
 * The block is a trace: it follows the code through PLAIN instructions, through unconditional
 * near jumps and calls to targets in the same page, and through conditional jumps — to a target
 * backwards (a loop), else past them — leaving the block the other way; until an instruction
 * that must end it, one it has already taken in, the page's end or Cpu.jitBlockLimit
 * instructions. A jump back to the first instruction makes the block a loop.
 */
export function compileBlock(cpu: Cpu, code: CodePage, page: number, lin: number): Block | null {
  // Code above RAM (all 0xff bytes, the interpreter's #UD) is never compiled.
  if (page >= cpu.mem.size >>> PAGE_SHIFT) return null;
  const lines = code.lines;
  if (bytes === null || bytes.ram !== cpu.mem.u8) bytes = new PageBytes(cpu.mem.u8);
  bytes.linBase = lin & ~(PAGE_SIZE - 1);
  bytes.physBase = page << PAGE_SHIFT;
  const first = lin & (PAGE_SIZE - 1);
  const insns: Insn[] = [], starts: number[] = [], nexts: number[] = [], steps: Step[] = [];
  const seen = new Set<number>();
  let off = first;
  let lo = PAGE_SIZE, hi = 0;
  const max = cpu.jitBlockLimit;
  while (insns.length < max && !seen.has(off)) {
    let i = lines[off];
    if (i === undefined) {
      i = decode(bytes, bytes.linBase + off, cpu.code32);
      // Invalid encodings and instructions that cross into the next page are the interpreter's.
      if (i.invalid || off + i.len > PAGE_SIZE) break;
      const h = handlerFor(i);
      if (h === undefined) break;
      i.exec = h;
      code.put(off, i);
    } else if (i.invalid || handlerFor(i) !== i.exec) {
      break;
    }
    seen.add(off);
    lo = Math.min(lo, off);
    hi = Math.max(hi, off + i.len);
    const start = off - first, fall = start + i.len;
    const target = fall + (i.imm | 0);
    const inPage = first + target >= 0 && first + target < PAGE_SIZE;
    let step: Step, next = fall;
    const fresh = inPage && target !== 0 && !seen.has(first + target);
    if (roleOf(i) === Role.PLAIN) step = fall + first < PAGE_SIZE ? Step.NEXT : Step.LAST;
    else if (i.opsize !== 32) step = Step.LAST;
    else if ((i.op === 0xe9 || i.op === 0xeb) && fresh) [step, next] = [Step.JUMP, target];
    else if (i.op === 0xe8 && fresh) [step, next] = [Step.CALL, target];
    // A conditional jump backwards is taken the more often (a loop); else it falls through.
    else if (isJcc(i.op) && fresh && target < start) [step, next] = [Step.BRANCH_TAKEN, target];
    else if (isJcc(i.op) && target !== 0 && fall + first < PAGE_SIZE) step = Step.BRANCH;
    else step = Step.LAST;
    insns.push(i);
    starts.push(start);
    nexts.push(next);
    steps.push(step);
    if (step === Step.LAST) break;
    off = first + next;
  }
  if (insns.length === 0) return null;
  const n = insns.length;
  // A trace that comes back to its first instruction by falling through (a loop entered in its
  // middle, after a budget boundary cut a run there) loops in the function, as one whose last
  // jump goes back does; else chaining would enter it again for every pass.
  const home = off === first && seen.has(off) && (steps[n - 1] === Step.NEXT || steps[n - 1] === Step.BRANCH);
  // A trace cut short (by its length, or by reaching code it holds) ends after its last
  // instruction however that instruction goes on.
  if (!home && steps[n - 1] !== Step.LAST && steps[n - 1] !== Step.NEXT) {
    steps[n - 1] = Step.LAST;
    nexts[n - 1] = starts[n - 1] + insns[n - 1].len;
  }
  const e = new Emitter(cpu, lin);
  // A conditional jump whose way out of the trace leads to an instruction further on in it (an
  // `if` without `else`, taken past its body) jumps there inside the function instead.
  const index = new Map(starts.map((s, k) => [s, k]));
  for (let k = 0; k < n - 1; k++) {
    if (steps[k] !== Step.BRANCH && steps[k] !== Step.BRANCH_TAKEN) continue;
    const i = insns[k], fall = starts[k] + i.len;
    const t = index.get(steps[k] === Step.BRANCH ? fall + (i.imm | 0) : fall);
    if (t !== undefined && t > k) e.jumpsIn(k, t);
  }
  for (let k = 0; k < n; k++) emitInsn(e, insns[k], k, starts[k], steps[k]);
  if (home) e.loopHome();
  const mask = e.modeMask | JitMode.OK;
  return { run: e.finish(n, nexts[n - 1]), n, from: lo - first, bytes: hi - lo, mask, mode: cpu.jitMode & mask };
}
