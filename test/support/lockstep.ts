// Differential testing of the compiler (src/machine/cpu/jit) against the interpreter: two
// machines from the same state, one compiling every block the first time it is reached and
// returning to the caller after each, the other interpreting; after every block the interpreter is
// run to the same instruction count and the whole state — registers, flags, segments, control
// and debug registers, FPU, icount, RAM — must be the same.
//
// A block may end in an instruction that ran without retiring (src/vmm/README.md, "Retired
// instructions"): a repeated string instruction that stopped after a chunk (src/x86/rep.ts), an
// INT n whose delivery raised a fault in its place. The interpreter, run to the same icount, stops
// before it, and cannot be stopped after the same execution; such a block is compared at the next
// one that retires something, where both have run it.

import { decode } from "../../src/x86/decoder.js";
import { Prefix, type Insn } from "../../src/x86/insn.js";
import { formatInsn } from "../../src/x86/disasm.js";
import { Stop } from "../../src/machine/cpu/arch.js";
import type { Cpu, CpuState } from "../../src/machine/cpu/cpu.js";
import { peekTranslate } from "../../src/x86/paging.js";
import type { Pc, PcState } from "../../src/machine/pc.js";

/**
 * Makes `cpu` compile everything at first sight and leave `run` after each block (which so
 * chains to no other: the tests of ./jit.test.ts run chained blocks).
 */
export function compileEverything(cpu: Cpu): void {
  cpu.jit = true;
  cpu.jitThreshold = 1;
  cpu.jitOnCompile = (b) => ({
    ...b,
    run: (c, end) => {
      b.run(c, end);
      if (!c.stopRequested) c.requestStop(Stop.REQUEST);
      return null;
    },
  });
}

/** The CPU's architectural state, with the lazy flags folded in but left lazy in the CPU. */
export function cpuState(cpu: Cpu): CpuState {
  const lazy = [cpu.flags, cpu.lzMask, cpu.lzOp, cpu.lzA, cpu.lzB, cpu.lzR, cpu.lzW, cpu.lzSign] as const;
  const s = cpu.save();
  [cpu.flags, cpu.lzMask, cpu.lzOp, cpu.lzA, cpu.lzB, cpu.lzR, cpu.lzW, cpu.lzSign] = lazy;
  return s;
}

/**
 * The CPU's architectural state as numbers, cheaply (compared after every block; the full
 * `cpuState` is built only to describe a difference).
 */
function fingerprint(cpu: Cpu, out: number[]): number[] {
  out.length = 0;
  for (let r = 0; r < 8; r++) out.push(cpu.r32[r]);
  out.push(cpu.eip, (cpu.flags & ~0x8d5) | cpu.arith(), cpu.icount, cpu.cr0, cpu.cr2, cpu.cr3, cpu.cr4, cpu.cpl);
  for (let s = 0; s < 6; s++) out.push(cpu.segSel[s], cpu.segBase[s], cpu.segLimit[s], cpu.segAttr[s]);
  for (let r = 0; r < 8; r++) out.push(cpu.dr[r]);
  out.push(cpu.gdtrBase, cpu.gdtrLimit, cpu.idtrBase, cpu.idtrLimit, cpu.ldtrSel, cpu.ldtrBase, cpu.trSel, cpu.trBase);
  out.push(cpu.efer, cpu.sysenterCs, cpu.sysenterEsp, cpu.sysenterEip, cpu.halted ? 1 : 0, cpu.irqShadowAt, cpu.intr ? 1 : 0);
  const f = cpu.fpu;
  out.push(f.cw, f.sw, f.empty, f.fip, f.fcs, f.fdp, f.fds, f.fop);
  for (let r = 0; r < 8; r++) out.push(f.se[r], Number(f.m[r] >> 32n), Number(f.m[r] & 0xffffffffn));
  return out;
}

function sameNumbers(a: number[], b: number[]): boolean {
  if (a.length !== b.length) return false;
  for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return false;
  return true;
}

const fa: number[] = [], fb: number[] = [];

const hex = (v: unknown): string => (typeof v === "number" ? "0x" + (v >>> 0).toString(16) : typeof v === "bigint" ? v.toString() : JSON.stringify(v));

/** The fields where `a` and `b` differ, one line each ("" when they do not). */
export function stateDiff(a: unknown, b: unknown, path = ""): string[] {
  if (a === b) return [];
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return [`${path}: compiled ${hex(a)}, interpreted ${hex(b)}`];
  if (a instanceof Uint8Array && b instanceof Uint8Array) {
    for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return [`${path}[${hex(k)}]: compiled ${hex(a[k])}, interpreted ${hex(b[k])}`];
    return a.length === b.length ? [] : [`${path}: lengths ${a.length} and ${b.length}`];
  }
  const out: string[] = [];
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) out.push(...stateDiff((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], path ? `${path}.${k}` : k));
  return out;
}

function ramDiff(a: Uint8Array, b: Uint8Array): string[] {
  if (Buffer.compare(a, b) === 0) return [];
  for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return [`ram[${hex(k)}]: compiled ${hex(a[k])}, interpreted ${hex(b[k])}`];
  return [];
}

/** The instruction at `cpu`'s EIP, as the interpreter would read it. */
function insnAt(cpu: Cpu, eip: number): Insn {
  return decode({ byte: (lin: number) => cpu.mem.read8(peekTranslate(cpu.mem, cpu, lin) >>> 0) }, (cpu.segBase[1] + eip) | 0, cpu.code32);
}

/**
 * Whether `a` ran past an instruction that did not retire, which `b`, at the same icount, is
 * still before: a repeated string instruction or a software interrupt at `b`'s EIP.
 */
function unretired(a: Cpu, b: Cpu): boolean {
  if (a.icount !== b.icount) return false;
  const i = insnAt(b, b.eip);
  const op = i.op;
  const string = (op >= 0x6c && op <= 0x6f) || (op >= 0xa4 && op <= 0xa7) || (op >= 0xaa && op <= 0xaf);
  return (string && (i.prefixes & (Prefix.REP | Prefix.REPNE)) !== 0) || op === 0xcc || op === 0xcd || op === 0xce;
}

/** The instructions from EIP `eip` on (up to `n`), as the interpreter's copy would read them, for a report. */
function listing(cpu: Cpu, eip: number, n = 12): string {
  const out: string[] = [];
  for (let k = 0; k < n; k++) {
    const i = insnAt(cpu, eip);
    const lin = (cpu.segBase[1] + eip) | 0;
    out.push(`    ${(lin >>> 0).toString(16)}: ${formatInsn(i, lin)}`);
    eip += i.len;
  }
  return out.join("\n");
}

export interface LockstepResult {
  /** Blocks run (each compared). */
  blocks: number;
  /** How `a` stopped last. */
  stop: Stop;
  icount: number;
}

/**
 * Runs bare CPUs `a` (compiling; see compileEverything) and `b` (interpreting) in lock-step for
 * up to `budget` instructions or until `a` stops otherwise; throws at the first difference.
 */
export function lockstepCpus(a: Cpu, b: Cpu, budget: number): LockstepResult {
  if (b.jit) throw new Error("the reference CPU compiles: make it with jit off");
  compileEverything(a);
  const end = a.icount + budget;
  let blocks = 0;
  let stop: Stop = Stop.BUDGET;
  while (a.icount < end) {
    const from = a.eip;
    stop = a.run(end - a.icount);
    let sb: Stop = Stop.BUDGET;
    while (b.icount < a.icount) {
      sb = b.run(a.icount - b.icount);
      if (sb !== Stop.BUDGET) break;
    }
    blocks++;
    if (stop === Stop.REQUEST && unretired(a, b)) continue;
    const same = sameNumbers(fingerprint(a, fa), fingerprint(b, fb));
    const diffs = [...(same ? [] : stateDiff(cpuState(a), cpuState(b))), ...ramDiff(a.mem.u8, b.mem.u8)];
    if (!same && diffs.length === 0) diffs.push("the CPUs' fingerprints differ");
    if (stop !== Stop.REQUEST && stop !== sb) diffs.push(`stop: compiled ${stop}, interpreted ${sb}`);
    if (diffs.length > 0) throw new Error(`after the block at EIP ${hex(from)} (icount ${a.icount}):\n  ${diffs.join("\n  ")}\n  the code:\n${listing(b, from)}`);
    if (stop !== Stop.REQUEST && stop !== Stop.BUDGET) break;
  }
  return { blocks, stop, icount: a.icount };
}

function pcState(pc: Pc): PcState {
  const s = pc.save({ ram: false });
  s.cpu = cpuState(pc.cpu);
  return s;
}

/**
 * Runs machines `a` (compiling) and `b` (interpreting) in lock-step up to `budget` instructions
 * or until `a` stops (halts with interrupts off, resets, shuts down); throws at the first difference.
 * The CPUs and RAM are compared after every block; the chips, which only I/O instructions (run by
 * the same handlers in both) and time change, every 64 blocks and at the end.
 */
export function lockstepPcs(a: Pc, b: Pc, budget: number): LockstepResult {
  if (b.cpu.jit) throw new Error("the reference machine compiles: make it with jit: false");
  compileEverything(a.cpu);
  const end = a.cpu.icount + budget;
  let blocks = 0;
  let stop: Stop = Stop.BUDGET;
  while (a.cpu.icount < end) {
    const from = a.cpu.eip;
    stop = a.run({ maxInsns: end });
    let sb = b.run({ maxInsns: a.cpu.icount, untilNs: a.nowNs() });
    // A stop in the middle of an instruction (a shutdown) retires nothing: the interpreter is still before it.
    if (stop !== Stop.REQUEST && stop !== Stop.BUDGET && sb === Stop.BUDGET && b.cpu.icount === a.cpu.icount) sb = b.run({ maxInsns: a.cpu.icount + 1, untilNs: a.nowNs() });
    blocks++;
    if (stop === Stop.REQUEST && unretired(a.cpu, b.cpu)) continue;
    const whole = (blocks & 63) === 0 || stop !== Stop.REQUEST;
    const same = sameNumbers(fingerprint(a.cpu, fa), fingerprint(b.cpu, fb));
    const diffs = [...(same && !whole ? [] : stateDiff(pcState(a), pcState(b))), ...ramDiff(a.mem.u8, b.mem.u8)];
    if (!same && diffs.length === 0) diffs.push("the CPUs' fingerprints differ");
    if (stop !== Stop.REQUEST && stop !== Stop.BUDGET && stop !== sb) diffs.push(`stop: compiled ${stop}, interpreted ${sb}`);
    if (diffs.length > 0) throw new Error(`after the block at EIP ${hex(from)} (icount ${a.cpu.icount}):\n  ${diffs.join("\n  ")}\n  the code:\n${listing(b.cpu, from)}`);
    if (stop !== Stop.REQUEST) break;
  }
  return { blocks, stop, icount: a.cpu.icount };
}
