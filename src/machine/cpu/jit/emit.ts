// Code generation for one block: each instruction becomes JavaScript source, either inlined —
// specialised for its operand size, registers, immediates and the segments it uses — or a call of
// its handler from the interpreter's table, so every instruction has the interpreter's semantics
// and the uncommon ones share its code (see ./README.md for the contract).
//
// The generated function, for a block of n instructions entered at EIP e:
//
//   function block_<lin>(cpu, end) {
//     const i0 = cpu.icount, lim = end - i0, e = cpu.eip; let ic = 0; let k = 0, ..., g0 = 0, ...;
//     g0 = R[0]; ...                        (the registers the block uses)
//     try { ...the instructions... } catch (x) { if (k >= 0) { R[0] = g0 ...; icount, insnEip, flags of instruction k } throw x; }
//     R[0] = g0; ...; cpu.eip = ...; cpu.icount = i0 + (ic + n); return cpu.jitNext(end);
//   }
//
// `ic` counts from the block's entry (`i0`), and `lim` is the budget left there, so that a loop's
// count and its look at the budget stay small integers: past 2^31 instructions the icount is a
// double, which V8's baseline tier, where most blocks run, boxes on every sum.
//
// A conditional jump forward to an instruction further on in the trace breaks out of a labelled
// block (`j<index>: { ... }`, opened at the top of the body) that ends just before it, with `ic`
// moved back by the instructions skipped (Emitter.jumpsIn).
//
// An inlined instruction that may fault first sets k to its index, so the catch restores the
// icount and EIP the interpreter would have at that fault (the run loop's catch then delivers it).
// A handler call sets icount, insnEip and EIP before the call, as the interpreter does, since
// handlers read them (and may move insnEip: a task switch), and k to -1. The guest's 32-bit
// registers the block uses live in locals (g0 for EAX...) for its whole run, loop passes included:
// loaded at entry, and those it writes written back to the register file on every way out — the
// end, a side exit, the budget's exit from a loop, the catch — and before a handler call, after
// which all are loaded again. No inlined instruction writes a register before its last access to
// memory, so at a fault the locals are the interpreter's registers. Memory is written through as
// each instruction completes. The lazy flags are deferred: the record of the last flag-setting
// instruction stays in locals and goes to the CPU only where something can look at it — before a
// handler call, on every way out of the block (its end, a side exit, a fault: the catch writes the
// record pending at the faulting instruction), and where a flag is needed that the locals cannot
// give — so at any exit the CPU's state is the interpreter's; a loop carries the record pending at
// its back edge into the next pass the same way (Emitter.carry). After an instruction that touched
// memory or called a handler, `cpu.jitBreak` set (a write to this code page, a watchpoint hit, a
// stop request) ends the block there.
//
// Memory goes through the CPU's TLB in line: a read, a write or a read-modify-write of an aligned
// operand that hits it reads and writes RAM's typed arrays (Emitter.rd, wr, rmw; m, t, wm, wv, p
// are their scratch), and only a miss calls the CPU's accessor (cpu.rd8, cpu.wr16, cpu.linRmw...)
// after setting sl, which says jitBreak must be looked at (Emitter.breakCheck). Segments that are
// not flat, and the stack when it is not, go through the CPU's accessors. Locals named after an
// instruction's index (x3, r3...) hold its operands and result for as long as a flag record may
// refer to them; a, o, v are scratch.

import { Flag } from "../../../x86/eflags.js";
import { Seg, type Insn } from "../../../x86/insn.js";
import { JitMode } from "../arch.js";
import type { Cpu } from "../cpu.js";
import type { Block } from "./compile.js";

/**
 * A block's code: runs it from its first instruction and returns the block to run next when it
 * left by a way the compiler controls (Cpu.jitNext), else null (see ./README.md).
 */
export type BlockFn = (cpu: Cpu, end: number) => Block | null;
import { LazyOp } from "../lazy-flags.js";

/** Thrown by a block to leave through its catch after an instruction (Emitter.breakCheck); never seen outside. */
const BLOCK_BREAK: { readonly blockBreak: true } = Object.freeze({ blockBreak: true });

/**
 * Placeholders in the generated lines for code only `finish` knows, once it knows every register
 * the block uses: the writing of the register locals back to the CPU, and their reloading.
 */
const SYNC = "\u0000S", RELOAD = "\u0000L";
/** The typed array over RAM for an access of each size, and the shift from a byte address to its index. */
const RAM = { 1: "RAM8", 2: "RAM16", 4: "RAM32" } as const;
const RAM_SHIFT = { 1: 0, 2: 1, 4: 2 } as const;
/** The CPU's methods the generated code calls that read or write only the lazy flags. */
const FLAG_CALLS = new Set(["cf", "cond", "setLazy", "setLogic", "setResult", "setIncDecCf"]);
/**
 * Placeholders for the code writing the flag record carried from the pass before (Emitter.carry),
 * and for CF as it gives it (as the CPU's flags give it in the first pass).
 */
const CARRIED = "\u0000C", CARRIED_CF = "\u0000F";
const ALL_ARITH = Flag.CF | Flag.PF | Flag.AF | Flag.ZF | Flag.SF | Flag.OF;
const CF_OF_AF = Flag.CF | Flag.OF | Flag.AF;
const LAZY_RESULT = Flag.PF | Flag.ZF | Flag.SF;

type Size = 1 | 2 | 4;

const WIDTH = { 1: "255", 2: "65535", 4: "-1" } as const;
const SIGN = { 1: "128", 2: "32768", 4: "-2147483648" } as const;

/**
 * The lazy flags as an instruction of the block left them: the operation, the locals holding its
 * operands and result (or its eager CF/OF/AF), CF as an expression, and the code that writes the
 * record into the CPU's lazy-flag registers exactly as the interpreter would have.
 */
interface FlagRec {
  kind: "arith" | "logic" | "incdec" | "result";
  /** LazyOp of arith (ADD or SUB; with `carry`, ADC or SBB when the carry-in is 1) and incdec. */
  op: LazyOp;
  /** Local holding the carry-in of an ADC/SBB (0 or 1), else null. */
  carry: string | null;
  a: string;
  b: string;
  r: string;
  /** Local holding CF | OF << 11 (| AF) of a "result" record. */
  eager: string;
  size: Size;
  cf: string;
  /** The LazyFlags setter that writes the record, and its arguments (expressions). */
  setter: string;
  args: string[];
}

/** The code writing a flag record into the CPU. */
function storeOf(rec: FlagRec, args = rec.args): string {
  return `cpu.${rec.setter}(${args.join(", ")});`;
}

/** How the trace goes on after an instruction (see ./compile.ts). */
export const enum Step {
  /** To the next instruction in memory. */
  NEXT = 0,
  /** The block ends after it. */
  LAST = 1,
  /** An unconditional JMP followed to its target. */
  JUMP = 2,
  /** A CALL followed to its target (the return address pushed). */
  CALL = 3,
  /** A conditional jump: taken, the block is left for the target; not taken, it goes on. */
  BRANCH = 4,
  /** A conditional jump followed to its target: not taken, the block is left. */
  BRANCH_TAKEN = 5,
}

/** Builds one block's function. */
export class Emitter {
  /** Values the generated code refers to by name (handlers, decoded instructions). */
  private readonly consts: unknown[] = [];
  private readonly names: string[] = [];
  private readonly body: string[] = [];
  private readonly locals = new Set<string>(["a", "o", "v"]);
  /** Offset of each instruction's EIP from the block's first. */
  readonly offsets: number[] = [];
  /** Per instruction the catch may be reached before (a fault in it, a break after the one before): the flag record to write. */
  private readonly catchFlags = new Map<number, string>();
  private readonly faulting = new Set<number>();
  /** The Cpu.jitMode bits the code relies on. */
  modeMask = 0;
  /** The flags as the instructions so far left them, when known. */
  flags: FlagRec | null = null;
  /** `flags` is not in the CPU's registers yet. */
  pending = false;
  /** The block's last instruction set cpu.eip itself. */
  eipSet = false;
  /** The block ends with a handler call, after which the run loop must look at the CPU. */
  endsInHandler = false;
  /** The block loops to its own start (see loopBack). */
  loops = false;
  /** The code reads or writes memory through the TLB itself (rd, wr, rmw). */
  private tlbUsed = false;
  /** The calls the in-line accesses make on a TLB miss, each after setting `sl` (see onlyFastPaths). */
  private readonly slowCalls = new Set<string>();
  /** Where the current instruction's lines begin in `body`. */
  private insnFrom = 0;
  /**
   * A pass of the loop may begin with the record of the pass before pending (see carry): where
   * the flags would go to the CPU before the pass records its own, the code writes it (CARRIED).
   */
  private carried = true;
  /** The code writing the record a pass carries into the next, when lp says there is one. */
  private carriedStore = "";
  /** Instructions whose way out of the trace jumps forward inside it instead: the index of the instruction they jump to. */
  private readonly inward = new Map<number, number>();
  /** The instructions jumped to from before them (Emitter.jumpsIn), each the end of a labelled block opened at the top. */
  private readonly joins = new Set<number>();
  /** The 32-bit registers the code reads or writes, each in a local (g0 for EAX...), and those it writes. */
  private readonly regsUsed = new Set<number>();
  private readonly regsWritten = new Set<number>();

  constructor(readonly cpu: Cpu, readonly lin: number) {
    this.constant("R", cpu.r32);
    this.constant("SB", cpu.segBase);
    this.constant("BRK", BLOCK_BREAK);
    this.constant("TLB", cpu.paging.tlb);
    this.constant("RAM8", cpu.mem.u8);
    this.constant("RAM16", cpu.mem.u16);
    this.constant("RAM32", cpu.mem.i32);
    this.constant("PF", cpu.mem.pageFlags);
  }

  /** Gives `value` the name `name` in the generated code (a fresh name when none is given). */
  constant(name: string | null, value: unknown): string {
    const n = name ?? `c${this.consts.length}`;
    this.consts.push(value);
    this.names.push(n);
    return n;
  }

  local(name: string): string {
    this.locals.add(name);
    return name;
  }

  line(s: string): void {
    this.body.push(s);
  }

  /** Relies on mode bit `bit` having its current value; returns whether it is set. */
  uses(bit: JitMode): boolean {
    this.modeMask |= bit;
    return (this.cpu.jitMode & bit) !== 0;
  }

  /** The block's function; `n` instructions, the last continuing (if it does) at offset `next`. */
  finish(n: number, next: number): BlockFn {
    const offsets = this.constant("O", Int32Array.from(this.offsets));
    if (!this.loops) this.line(this.exitFlush());
    // The blocks a forward jump inside breaks out of, nested by where they end (see jumpsIn).
    const opens = [...this.joins].sort((a, b) => b - a).map((t) => `j${t}: {`).join(" ");
    const inner = opens === "" ? this.body : [opens, ...this.body];
    const body = this.loops ? ["for (;;) {", ...inner, "}"] : inner;
    const byCode = new Map<string, number[]>();
    for (const [k, code] of this.catchFlags) if (code !== "") byCode.set(code, [...(byCode.get(code) ?? []), k]);
    const cases = [...byCode].map(([code, ks]) => `${ks.map((k) => `case ${k}:`).join(" ")} ${code} break;`);
    const flagsOnFault = cases.length === 0 ? "" : ` switch (k) { ${cases.join(" ")} }`;
    const used = [...this.regsUsed].sort(), written = [...this.regsWritten].sort();
    const src = [
      `"use strict";`,
      `return (function block_${(this.lin >>> 0).toString(16)}(cpu, end) {`,
      `const i0 = cpu.icount, lim = end - i0, e = cpu.eip; let ic = 0;${this.tlbUsed ? " const u = cpu.tlbUser; let m = 0, t = 0, wm = 0, wv = 0, sl = 0;" : ""}`,
      `let k = 0, ${[...this.locals, ...used.map((n) => `g${n}`)].map((l) => `${l} = 0`).join(", ")};`,
      RELOAD,
      `try {`,
      ...body,
      // A fault in an inlined instruction leaves the registers as they were before it: none is
      // written before its last access to memory. A handler's (k = -1) leaves them as it has them.
      `} catch (x) { if (x === BRK) k++; if (k >= 0) { ${SYNC} cpu.icount = i0 + (ic + k); cpu.insnEip = (e + ${offsets}[k]) | 0;${flagsOnFault} if (x === BRK) { cpu.eip = cpu.insnEip; return null; } } throw x; }`,
      SYNC,
      this.eipSet ? "" : `cpu.eip = (e + ${next}) | 0;`,
      `cpu.icount = i0 + (ic + ${n});`,
      this.endsInHandler ? "return null;" : "return cpu.jitNext(end);",
      // Parenthesised, so V8 compiles the function now rather than parsing it again on its first call.
      `});`,
    ].join("\n")
      .replaceAll(SYNC, written.map((n) => `R[${n}] = g${n};`).join(" "))
      .replaceAll(RELOAD, used.map((n) => `g${n} = R[${n}];`).join(" "))
      .replaceAll(CARRIED, this.carriedStore)
      .replaceAll(CARRIED_CF, this.carriedStore === "" ? "cpu.cf()" : "(lp !== 0 ? qc : cpu.cf())");
    return new Function(...this.names, src)(...this.consts) as BlockFn;
  }

  // ------------------------------------------------------------------------------------------
  // Operands

  /** The effective address of the memory operand, as an expression. */
  ea(i: Insn): string {
    const terms: string[] = [];
    if (i.adsize === 32) {
      if (i.base >= 0) terms.push(this.reg(i.base, 4));
      if (i.index >= 0) terms.push(i.scale === 0 ? this.reg(i.index, 4) : `(${this.reg(i.index, 4)} << ${i.scale})`);
      if (i.disp === 0 && terms.length === 1 && !terms[0].startsWith("(")) return terms[0];
      if (i.disp !== 0 || terms.length === 0) terms.push(String(i.disp));
      return `((${terms.join(" + ")}) | 0)`;
    }
    if (i.base >= 0) terms.push(this.reg(i.base, 2));
    if (i.index >= 0) terms.push(this.reg(i.index, 2));
    if (i.disp !== 0 || terms.length === 0) terms.push(String(i.disp));
    return `((${terms.join(" + ")}) & 65535)`;
  }

  /** The mode bit that makes `seg` flat (base 0, no checks), or 0. */
  private static flatBit(seg: number): JitMode | 0 {
    return seg === Seg.ES ? JitMode.FLAT_ES : seg === Seg.SS ? JitMode.FLAT_SS : seg === Seg.DS ? JitMode.FLAT_DS : 0;
  }

  /** The mode bit that frees `seg` of checks (any base), or 0. */
  private static fastBit(seg: number): JitMode | 0 {
    return seg === Seg.FS ? JitMode.FAST_FS : seg === Seg.GS ? JitMode.FAST_GS : 0;
  }

  /**
   * The linear address of an access of `size` bytes at `offset` (an expression) through segment
   * `seg`, as an expression (`write`: checked for writing). Flat segments need no code; others go
   * through the CPU's checks, which may fault.
   */
  linear(seg: number, offset: string, size: Size, write: boolean): string {
    const flat = Emitter.flatBit(seg), fast = Emitter.fastBit(seg);
    if (flat !== 0 && this.uses(flat)) return offset;
    if (fast !== 0 && this.uses(fast)) return `((SB[${seg}] + ${offset}) | 0)`;
    return `cpu.${write ? "linW" : "linR"}(${seg}, ${offset}, ${size})`;
  }

  /** The instruction's memory operand of `size` bytes, read, as an expression (zero-extended; int32 for dwords). */
  readE(i: Insn, size: Size): string {
    return this.rd(this.linear(i.seg, this.ea(i), size, false), size);
  }

  /**
   * A read of `size` bytes at linear `lin` (an expression), as an expression: the CPU accessor's
   * TLB hit in line, the call only on a miss or a misaligned operand. A block that runs a few
   * thousand times stays in V8's baseline tier, where every call is a real one: the boot's blocks
   * spent a seventh of its time in calls of rd32, and the decompressor's byte loops in rd8 and wr8.
   */
  rd(lin: string, size: Size): string {
    this.tlbUsed = true;
    const aligned = size === 1 ? "" : ` && (m & ${size - 1}) === 0`;
    return `(m = ${lin}, t = TLB[(m >>> 12) | u], (t & 1) !== 0${aligned} ? ${RAM[size]}[((t & -4096) | (m & 4095)) >>> ${RAM_SHIFT[size]}] : (sl = 1, ${this.slow(`cpu.rd${size * 8}(m)`)}))`;
  }

  /** A call on a TLB miss of an in-line access, which sets `sl` first (see onlyFastPaths). */
  private slow(call: string): string {
    this.slowCalls.add(call);
    return call;
  }

  /** Emits the read of the instruction's memory operand into `into`. */
  loadE(i: Insn, size: Size, into = "v"): void {
    this.line(`${into} = ${this.readE(i, size)};`);
  }

  /** Emits the write of `value` (an expression) to the instruction's memory operand. */
  writeE(i: Insn, size: Size, value: string): void {
    this.line(this.wr(this.linear(i.seg, this.ea(i), size, true), size, value));
  }

  /**
   * Code writing `value` in `size` bytes at linear `lin` (expressions, taken in that order): the
   * CPU accessor's fast path in line — an aligned TLB hit on a page with no flags (no code, no
   * checkpoint or hash to tell) — the call otherwise. Scratch of its own, so that `value` may hold
   * a read (rd).
   */
  wr(lin: string, size: Size, value: string): string {
    this.tlbUsed = true;
    const aligned = size === 1 ? "" : ` && (wm & ${size - 1}) === 0`;
    return `wm = ${lin}; wv = ${value}; t = TLB[(wm >>> 12) | u]; ` +
      `if ((t & 2) !== 0${aligned} && PF[t >>> 12] === 0) ${RAM[size]}[((t & -4096) | (wm & 4095)) >>> ${RAM_SHIFT[size]}] = wv; ` +
      `else { sl = 1; ${this.slow(`cpu.wr${size * 8}(wm, wv)`)}; }`;
  }

  /**
   * Emits a read-modify-write of the memory operand: `v` = the value, then `compute()` (which
   * emits code leaving the result in `result` and may set flags), then the write-back. The
   * destination is checked for writing before the read (Cpu.linRmw), as the interpreter does: in
   * line, a TLB entry that allows the write of an aligned operand to a page with no flags, whose
   * index in RAM's array `p` keeps for the write-back (-1 when the CPU's accessors do both).
   */
  rmw(i: Insn, size: Size, result: string, compute: () => void): void {
    const lin = this.linear(i.seg, "o", size, true);
    const bits = size * 8;
    if (lin.includes("cpu.")) {
      this.line(`o = ${this.ea(i)}; a = cpu.linRmw(${i.seg}, o, ${size}); v = cpu.rd${bits}(a);`);
      compute();
      this.line(this.wr("a", size, result));
      return;
    }
    this.tlbUsed = true;
    this.local("p");
    const aligned = size === 1 ? "" : ` && (a & ${size - 1}) === 0`;
    this.line(`o = ${this.ea(i)}; a = ${lin}; t = TLB[(a >>> 12) | u]; ` +
      `if ((t & 2) !== 0${aligned} && PF[t >>> 12] === 0) { p = ((t & -4096) | (a & 4095)) >>> ${RAM_SHIFT[size]}; v = ${RAM[size]}[p]; } ` +
      `else { sl = 1; ${this.slow(`a = cpu.linRmw(${i.seg}, o, ${size})`)}; ${this.slow(`v = cpu.rd${bits}(a)`)}; p = -1; }`);
    compute();
    this.line(`if (p >= 0) ${RAM[size]}[p] = ${result}; else ${this.slow(`cpu.wr${bits}(a, ${result})`)};`);
  }

  /**
   * Code pushing the dword `value` (an expression, which sees ESP as it was before the push).
   * On a flat 32-bit stack it is the write and ESP's update, with no call.
   */
  push32(value: string): string {
    const sp = this.regW(4);
    if (this.uses(JitMode.FLAT_SS) && this.uses(JitMode.STACK32)) return `a = (${sp} - 4) | 0; ${this.wr("a", 4, value)} ${sp} = a;`;
    return `R[4] = ${sp}; cpu.push32(${value}); ${sp} = R[4];`;
  }

  /** Code popping a dword into local `into`. */
  pop32(into: string): string {
    const sp = this.regW(4);
    if (this.uses(JitMode.FLAT_SS) && this.uses(JitMode.STACK32)) return `${into} = ${this.rd(sp, 4)}; ${sp} = (${sp} + 4) | 0;`;
    return `R[4] = ${sp}; ${into} = cpu.pop32(); ${sp} = R[4];`;
  }

  /** A register operand of `size` as an expression (zero-extended below 32 bits; int32 for dwords). */
  reg(n: number, size: Size): string {
    if (size === 1 && n >= 4) {
      this.regsUsed.add(n - 4);
      return `((g${n - 4} >>> 8) & 255)`;
    }
    this.regsUsed.add(n);
    return size === 4 ? `g${n}` : `(g${n} & ${WIDTH[size]})`;
  }

  /** The local of 32-bit register `n`, which the code writes. */
  regW(n: number): string {
    this.regsUsed.add(n);
    this.regsWritten.add(n);
    return `g${n}`;
  }

  /**
   * Code writing `value` (an expression) to the register operand of `size`: a byte or word
   * register keeps the rest of its dword, and a dword is kept an int32 (as the register file would
   * make it), whatever the expression gives.
   */
  setReg(n: number, size: Size, value: string): string {
    if (size === 4) return `${this.regW(n)} = (${value}) | 0;`;
    if (size === 2) return `${this.regW(n)} = (g${n} & -65536) | ((${value}) & 65535);`;
    if (n < 4) return `${this.regW(n)} = (g${n} & -256) | ((${value}) & 255);`;
    return `${this.regW(n - 4)} = (g${n - 4} & -65281) | (((${value}) & 255) << 8);`;
  }

  // ------------------------------------------------------------------------------------------
  // Flags

  private record(rec: FlagRec): void {
    this.flags = rec;
    this.pending = true;
    this.carried = false;
  }

  /** ADD/ADC/SUB/SBB of `a` and `b` into `r` (Cpu.setLazy); `carry` is the ADC/SBB carry-in local. */
  setArith(op: LazyOp.ADD | LazyOp.SUB, carry: string | null, a: string, b: string, r: string, size: Size): void {
    const [ua, ub, ur] = unsigned(a, b, r, size);
    const sub = op === LazyOp.SUB;
    const lt = sub ? `${ua} < ${ub}` : `${ur} < ${ua}`, le = sub ? `${ua} <= ${ub}` : `${ur} <= ${ua}`;
    const cf = carry === null ? `(${lt} ? 1 : 0)` : `((${carry} !== 0 ? ${le} : ${lt}) ? 1 : 0)`;
    const opExpr = carry === null ? String(op) : `(${carry} !== 0 ? ${sub ? LazyOp.SBB : LazyOp.ADC} : ${op})`;
    this.record({ kind: "arith", op, carry, a, b, r, eager: "", size, cf, setter: "setLazy", args: [opExpr, a, b, r, String(size)] });
  }

  /** AND/OR/XOR/TEST result `r` (Cpu.setLogic). */
  setLogic(r: string, size: Size): void {
    this.record({ kind: "logic", op: LazyOp.LOGIC, carry: null, a: "0", b: "0", r, eager: "", size, cf: "0", setter: "setLogic", args: [r, String(size)] });
  }

  /** Result `r` with CF/OF/AF in local `eager` (Cpu.setResult). */
  setResult(r: string, size: Size, eager: string): void {
    this.record({ kind: "result", op: LazyOp.LOGIC, carry: null, a: "0", b: "0", r, eager, size, cf: `(${eager} & 1)`, setter: "setResult", args: [r, String(size), eager] });
  }

  /** The code of Cpu.setResult. */
  static resultCode(r: string, size: Size, eager: string): string {
    return `cpu.setResult(${r}, ${size}, ${eager});`;
  }

  /** INC/DEC of `a` into `r` (Cpu.setIncDec): CF keeps the value the flags before give it. */
  setIncDec(op: LazyOp.ADD | LazyOp.SUB, a: string, r: string, size: Size): void {
    const cf = this.cf();
    this.record({ kind: "incdec", op, carry: null, a, b: "1", r, eager: "", size, cf, setter: "setIncDecCf", args: [String(op), a, r, String(size), cf] });
  }

  /** Writes the pending flag record into the CPU (the main path goes on with it there). */
  flush(): void {
    const code = this.exitFlush();
    if (code !== "") this.line(code);
    this.pending = this.carried = false;
  }

  /** The code a way out of the block runs to leave the flags in the CPU (the main path keeps them pending). */
  exitFlush(): string {
    if (this.pending && this.flags !== null) return storeOf(this.flags);
    return this.carried ? CARRIED : "";
  }

  /** The flags are whatever a handler left in the CPU: nothing known, nothing pending. */
  forgetFlags(): void {
    this.flags = null;
    this.pending = this.carried = false;
  }

  /** CF as 0 or 1, as an expression. */
  cf(): string {
    if (this.flags !== null) return this.flags.cf;
    return this.carried ? CARRIED_CF : "cpu.cf()";
  }

  /**
   * At a loop's back edge, going on to another pass: the pending record stays pending, its
   * operands copied to locals of their own (the next pass's instructions reuse theirs), and is
   * written where the next pass first needs the CPU's flags, if it ever does.
   */
  carry(): void {
    if (!this.pending || this.flags === null) return;
    const rec = this.flags;
    const args = rec.args.map((x, n) => (/^-?\d+$/.test(x) ? x : this.local(`q${n}`)));
    const copies = rec.args.map((x, n) => (args[n] === x ? "" : `${args[n]} = ${x}; `)).join("");
    // Both may read lp and qc (CARRIED_CF): the copies come first.
    this.line(`${copies}qc = ${rec.cf}; lp = 1;`);
    this.local("lp");
    this.local("qc");
    this.carriedStore = `if (lp !== 0) ${storeOf(rec, args)}`;
  }

  /** The Jcc/SETcc/CMOVcc condition `cc` as a boolean expression. */
  cond(cc: number): string {
    const f = this.flags;
    const not = (cc & 1) !== 0;
    let s: string | null = null;
    if (f !== null) {
      const base = cc & ~1;
      const zf = `((${f.r} & ${WIDTH[f.size]}) === 0)`;
      const sf = `((${f.r} & ${SIGN[f.size]}) !== 0)`;
      const cf = `(${f.cf} !== 0)`;
      let of: string;
      if (f.kind === "logic") of = "false";
      else if (f.kind === "result") of = `((${f.eager} & ${Flag.OF}) !== 0)`;
      else if (f.op === LazyOp.ADD) of = `(((${f.a} ^ ${f.r}) & (${f.b} ^ ${f.r}) & ${SIGN[f.size]}) !== 0)`;
      else of = `(((${f.a} ^ ${f.b}) & (${f.a} ^ ${f.r}) & ${SIGN[f.size]}) !== 0)`;
      if (f.kind === "arith" && f.op === LazyOp.SUB && f.carry === null) {
        // A compare: the conditions are the comparisons themselves.
        const [ua, ub] = unsigned(f.a, f.b, f.r, f.size);
        const sa = signed(f.a, f.size), sb = signed(f.b, f.size);
        switch (base) {
          case 0x2: s = `(${ua} < ${ub})`; break;
          case 0x6: s = `(${ua} <= ${ub})`; break;
          case 0xc: s = `(${sa} < ${sb})`; break;
          case 0xe: s = `(${sa} <= ${sb})`; break;
        }
      } else if (f.kind === "logic") {
        switch (base) {
          case 0x2: s = "false"; break;
          case 0x6: s = zf; break;
          case 0xc: s = sf; break;
          case 0xe: s = `(${zf} || ${sf})`; break;
        }
      }
      if (s === null) {
        switch (base) {
          case 0x0: s = of; break;
          case 0x2: s = cf; break;
          case 0x4: s = zf; break;
          case 0x6: s = `(${cf} || ${zf})`; break;
          case 0x8: s = sf; break;
          case 0xc: s = `(${sf} !== ${of})`; break;
          case 0xe: s = `(${zf} || ${sf} !== ${of})`; break;
        }
      }
    }
    if (s === null) {
      // Parity, or nothing known: the CPU's own evaluation, from its registers.
      this.flush();
      return `cpu.cond(${cc})`;
    }
    return not ? `!${s}` : s;
  }

  // ------------------------------------------------------------------------------------------
  // Instruction boundaries and ways out

  /** Instruction `j` may fault from here on: the catch must know which it was. */
  mayFault(j: number): void {
    if (this.faulting.has(j)) return;
    this.faulting.add(j);
    this.line(`k = ${j};`);
    this.catchFlags.set(j, this.exitFlush());
  }

  /**
   * After instruction `j` (not the last), which touched memory or called a handler, with k = j:
   * a set cpu.jitBreak leaves the block by the catch, as at a fault before instruction j + 1 but
   * with nothing to deliver (it is rare: a write to this code page, a watchpoint hit, a stop
   * request).
   */
  breakCheck(j: number): void {
    this.catchFlags.set(j + 1, this.exitFlush());
    this.line(this.tlbUsed && this.onlyFastPaths() ? `if (sl !== 0) { sl = 0; if (cpu.jitBreak !== 0) throw BRK; }` : `if (cpu.jitBreak !== 0) throw BRK;`);
  }

  /** The current instruction's code begins here (see onlyFastPaths). */
  beginInsn(): void {
    this.insnFrom = this.body.length;
  }

  /**
   * Whether the current instruction reached memory only through the in-line accesses (rd, wr,
   * rmw), calling into the CPU for nothing else but its flag record. Their hits cannot set
   * jitBreak (the TLB holds no watched page and a write's hit no code page: nothing is called);
   * their misses set `sl`, so jitBreak needs a look only after a miss.
   */
  private onlyFastPaths(): boolean {
    let code = this.body.slice(this.insnFrom).join("\n");
    for (const call of this.slowCalls) code = code.replaceAll(call, "");
    for (const call of code.matchAll(/cpu\.(\w+)\(/g)) if (!FLAG_CALLS.has(call[1])) return false;
    return true;
  }

  /**
   * After the block's last instruction, which goes on at its first: another pass while the budget
   * (`end`) covers one, else EIP at the start. The pending flag record is carried into the next
   * pass (carry); a break after the last instruction restarts at the first (offset 0).
   */
  loopHome(): void {
    const n = this.offsets.length;
    this.loops = this.eipSet = true;
    this.line(`ic += ${n};`);
    this.line(`if (ic + ${n} > lim) { ${this.exitFlush()} ${SYNC} cpu.eip = e; cpu.icount = i0 + ic; return null; }`);
    this.carry();
    this.offsets.push(0);
  }

  /**
   * Instruction `j`'s way out of the trace goes on at instruction `t` further on in it. The code
   * jumps there by breaking out of a labelled block that opens at the top of the body and closes
   * just before instruction `t` (blocks for several such instructions nest by where they end), so
   * V8 sees plain forward control flow. Both ways into `t` leave the flag record in the CPU. The
   * icount is `ic` plus the instruction's index on the trace, so the jump moves `ic` back by the
   * instructions it skips; the budget the block was entered with covers what is left of it.
   */
  jumpsIn(j: number, t: number): void {
    this.inward.set(j, t);
    this.joins.add(t);
  }

  /** Where instruction `j`'s way out of the trace jumps to inside it (jumpsIn), or undefined. */
  inwardOf(j: number): number | undefined {
    return this.inward.get(j);
  }

  /** Goes on at instruction `t` (jumpsIn) after instruction `j` when `cond` holds. */
  jumpIn(j: number, cond: string, t: number): void {
    const skipped = t - j - 1;
    this.line(`if (${cond}) { ${this.exitFlush()}${skipped !== 0 ? ` ic -= ${skipped};` : ""} break j${t}; }`);
  }

  /**
   * After instruction `j`, before its break check: when the next is jumped to from before it, the
   * way that falls into it leaves the flag record in the CPU too (so a break after `j` and a fault
   * in the next agree on what the catch writes).
   */
  beforeJoin(j: number): void {
    if (this.joins.has(j + 1)) this.flush();
  }

  /** Before instruction `j`: the end of the labelled block a jump to it breaks out of. */
  join(j: number): void {
    if (!this.joins.has(j)) return;
    this.flush();
    this.forgetFlags();
    this.line("}");
  }

  /** Leaves the block after instruction `j` for offset `to` when `cond` holds. */
  sideExit(j: number, cond: string, to: number): void {
    this.line(`if (${cond}) { ${this.exitFlush()} ${SYNC} cpu.eip = (e + ${to}) | 0; cpu.icount = i0 + (ic + ${j + 1}); return cpu.jitNext(end); }`);
  }
}

/** Operands and result masked to the width, ordered as unsigned numbers (for comparisons only). */
function unsigned(a: string, b: string, r: string, size: Size): [string, string, string] {
  // The sign bit flipped orders int32s as `>>> 0` orders uint32s, and stays a small integer,
  // which V8's baseline tier does not box.
  if (size === 4) return [`(${a} ^ -2147483648)`, `(${b} ^ -2147483648)`, `(${r} ^ -2147483648)`];
  const w = WIDTH[size];
  return [`(${a} & ${w})`, `(${b} & ${w})`, `(${r} & ${w})`];
}

/** `x` sign-extended from `size` bytes to 32 bits. */
function signed(x: string, size: Size): string {
  return size === 4 ? `(${x} | 0)` : size === 2 ? `((${x} << 16) >> 16)` : `((${x} << 24) >> 24)`;
}

// ------------------------------------------------------------------------------------------------
// Instructions

/** What an inlined instruction did, for the code after it. */
const enum Done {
  /** Touched no memory and cannot fault. */
  PURE = 0,
  /** Touched memory (the block must look at jitBreak after it). */
  MEMORY = 1,
  /** Set cpu.eip (a control transfer: the block's last instruction). */
  JUMP = 2,
}

/** Emits instruction `j` of the block at offset `start` from its first EIP, going on as `step` says (./compile.ts decides). */
export function emitInsn(e: Emitter, i: Insn, j: number, start: number, step: Step): void {
  e.offsets.push(start);
  e.join(j);
  e.beginInsn();
  const last = step === Step.LAST;
  let done: Done | null;
  if (step === Step.JUMP) done = Done.PURE;
  else if (step === Step.CALL) {
    e.mayFault(j);
    e.line(e.push32(`(e + ${start + i.len}) | 0`));
    done = Done.MEMORY;
  } else if (step === Step.BRANCH || step === Step.BRANCH_TAKEN) {
    const cond = e.cond(step === Step.BRANCH ? i.op & 15 : (i.op & 15) ^ 1);
    const t = e.inwardOf(j);
    if (t !== undefined) e.jumpIn(j, cond, t);
    else e.sideExit(j, cond, step === Step.BRANCH ? start + i.len + (i.imm | 0) : start + i.len);
    done = Done.PURE;
  } else done = inline(e, i, j, start, last);
  if (done === null) {
    const h = e.constant(null, i.exec), ins = e.constant(null, i);
    e.flush();
    // RDTSC (what Linux's delay loops run millions of times) reads the TSC in place when
    // nothing else is due (Cpu.rdtscInPlace); else its handler runs.
    const rdtsc = i.op === 0x131;
    if (rdtsc) e.line(`cpu.icount = i0 + (ic + ${j}); cpu.eip = (e + ${start + i.len}) | 0; if (cpu.rdtscInPlace()) { ${e.setReg(0, 4, "R[0]")} ${e.setReg(2, 4, "R[2]")} } else {`);
    // The handler's faults leave icount and insnEip as it has them (a task switch moves insnEip).
    e.line(`k = -1; cpu.icount = i0 + (ic + ${j}); cpu.insnEip = (e + ${start}) | 0;`);
    // A handler may retire more than one (a REP string instruction, each iteration: ../ops/string.ts)
    // or take the count back (an x87 instruction waiting for FERR#): the block's count goes on
    // from what it leaves.
    // Handlers read and write the register file: the locals go there before, and come back after.
    e.line(`cpu.eip = (e + ${start + i.len}) | 0; ${SYNC} ${h}(cpu, ${ins}); ${RELOAD} ic = cpu.icount - i0 - ${j};${rdtsc ? " }" : ""}`);
    e.forgetFlags();
    if (last) e.eipSet = e.endsInHandler = true;
    else {
      // A set jitBreak leaves with EIP where the handler put it: past the instruction, or at it
      // when the instruction waits to run again (an x87 instruction waiting for FERR#'s interrupt).
      e.line(`k = ${j}; if (cpu.jitBreak !== 0) { cpu.icount++; return null; }`);
    }
    return;
  }
  if (done === Done.JUMP) e.eipSet = true;
  else if (!last) {
    e.beforeJoin(j);
    if (done === Done.MEMORY) e.breakCheck(j);
  }
}

const enum Alu { ADD = 0, OR = 1, ADC = 2, SBB = 3, AND = 4, SUB = 5, XOR = 6, CMP = 7 }

/**
 * Emits ALU operation `op` on locals `x` (destination value) and `y` (source), leaving the result
 * in `r` and the flags recorded; the Alu.ADC/SBB carry-in comes from the flags before.
 */
function aluOp(e: Emitter, op: number, x: string, y: string, r: string, size: Size): void {
  switch (op) {
    case Alu.ADD:
      e.line(`${r} = (${x} + ${y}) | 0;`);
      e.setArith(LazyOp.ADD, null, x, y, r, size);
      return;
    case Alu.SUB:
    case Alu.CMP:
      e.line(`${r} = (${x} - ${y}) | 0;`);
      e.setArith(LazyOp.SUB, null, x, y, r, size);
      return;
    case Alu.ADC:
    case Alu.SBB: {
      const c = e.local(`c${r}`);
      e.line(`${c} = ${e.cf()};`);
      const add = op === Alu.ADC;
      e.line(`${r} = (${x} ${add ? "+" : "-"} ${y} ${add ? "+" : "-"} ${c}) | 0;`);
      e.setArith(add ? LazyOp.ADD : LazyOp.SUB, c, x, y, r, size);
      return;
    }
    default: {
      const sym = op === Alu.OR ? "|" : op === Alu.AND ? "&" : "^";
      e.line(`${r} = ${x} ${sym} ${y};`);
      e.setLogic(r, size);
    }
  }
}

/** The immediate as the handler uses it at this size. */
function immOf(i: Insn, size: Size): string {
  return String(size === 4 ? i.imm | 0 : size === 2 ? i.imm & 0xffff : i.imm & 0xff);
}

/** The operand size of a "v" operand. */
function vsize(i: Insn): Size {
  return i.opsize === 32 ? 4 : 2;
}

/**
 * Emits instruction `i` inline when the compiler knows it; null leaves it to a handler call.
 * `start` is its EIP's offset from the block's first EIP.
 */
function inline(e: Emitter, i: Insn, j: number, start: number, last: boolean): Done | null {
  const next = start + i.len;
  const op = i.op;
  const mem = i.mod !== 3;
  // ALU r/m, reg and reg, r/m forms; AL/eAX, imm; group 1.
  if (op < 0x40 && (op & 7) < 6) {
    const alu = op >>> 3, form = op & 7;
    const size: Size = (form & 1) === 0 ? 1 : vsize(i);
    const x = e.local(`x${j}`), y = e.local(`y${j}`), r = e.local(`r${j}`);
    if (form === 4 || form === 5) {
      e.line(`${x} = ${e.reg(0, size)}; ${y} = ${immOf(i, size)};`);
      aluOp(e, alu, x, y, r, size);
      if (alu !== Alu.CMP) e.line(e.setReg(0, size, r));
      return Done.PURE;
    }
    if (form >= 2) {
      // reg = reg op r/m
      if (mem) {
        e.mayFault(j);
        e.loadE(i, size, y);
      } else e.line(`${y} = ${e.reg(i.rm, size)};`);
      e.line(`${x} = ${e.reg(i.reg, size)};`);
      aluOp(e, alu, x, y, r, size);
      if (alu !== Alu.CMP) e.line(e.setReg(i.reg, size, r));
      return mem ? Done.MEMORY : Done.PURE;
    }
    return aluRm(e, i, j, alu, e.reg(i.reg, size), size, x, y, r);
  }
  if (op === 0x80 || op === 0x81 || op === 0x83) {
    const size: Size = op === 0x80 ? 1 : vsize(i);
    const x = e.local(`x${j}`), y = e.local(`y${j}`), r = e.local(`r${j}`);
    return aluRm(e, i, j, i.reg, immOf(i, size), size, x, y, r);
  }
  switch (op) {
    case 0x84: case 0x85: { // TEST r/m, reg
      const size: Size = op === 0x84 ? 1 : vsize(i);
      const y = e.local(`y${j}`), r = e.local(`r${j}`);
      if (mem) {
        e.mayFault(j);
        e.loadE(i, size, y);
      } else e.line(`${y} = ${e.reg(i.rm, size)};`);
      e.line(`${r} = ${y} & ${e.reg(i.reg, size)};`);
      e.setLogic(r, size);
      return mem ? Done.MEMORY : Done.PURE;
    }
    case 0xa8: case 0xa9: { // TEST AL/eAX, imm
      const size: Size = op === 0xa8 ? 1 : vsize(i);
      const r = e.local(`r${j}`);
      e.line(`${r} = ${e.reg(0, size)} & ${immOf(i, size)};`);
      e.setLogic(r, size);
      return Done.PURE;
    }
    case 0x88: case 0x89: { // MOV r/m, reg
      const size: Size = op === 0x88 ? 1 : vsize(i);
      if (!mem) {
        e.line(e.setReg(i.rm, size, e.reg(i.reg, size)));
        return Done.PURE;
      }
      e.mayFault(j);
      e.writeE(i, size, e.reg(i.reg, size));
      return Done.MEMORY;
    }
    case 0x8a: case 0x8b: { // MOV reg, r/m
      const size: Size = op === 0x8a ? 1 : vsize(i);
      if (!mem) {
        e.line(e.setReg(i.reg, size, e.reg(i.rm, size)));
        return Done.PURE;
      }
      e.mayFault(j);
      e.line(e.setReg(i.reg, size, e.readE(i, size)));
      return Done.MEMORY;
    }
    case 0xa0: case 0xa1: { // MOV AL/eAX, moffs
      const size: Size = op === 0xa0 ? 1 : vsize(i);
      e.mayFault(j);
      e.line(e.setReg(0, size, e.readE(i, size)));
      return Done.MEMORY;
    }
    case 0xa2: case 0xa3: { // MOV moffs, AL/eAX
      const size: Size = op === 0xa2 ? 1 : vsize(i);
      e.mayFault(j);
      e.writeE(i, size, e.reg(0, size));
      return Done.MEMORY;
    }
    case 0xc6: case 0xc7: { // MOV r/m, imm
      if (i.reg !== 0) return null;
      const size: Size = op === 0xc6 ? 1 : vsize(i);
      if (!mem) {
        e.line(e.setReg(i.rm, size, immOf(i, size)));
        return Done.PURE;
      }
      e.mayFault(j);
      e.writeE(i, size, immOf(i, size));
      return Done.MEMORY;
    }
    case 0x8d: { // LEA
      if (!mem) return null;
      e.line(e.setReg(i.reg, vsize(i), e.ea(i)));
      return Done.PURE;
    }
    case 0x1b6: case 0x1b7: case 0x1be: case 0x1bf: { // MOVZX / MOVSX
      if (i.opsize !== 32) return null;
      const from: Size = op === 0x1b6 || op === 0x1be ? 1 : 2;
      if (mem) {
        e.mayFault(j);
        e.loadE(i, from);
      } else e.line(`v = ${e.reg(i.rm, from)};`);
      const ext = op === 0x1be ? `(v << 24) >> 24` : op === 0x1bf ? `(v << 16) >> 16` : `v`;
      e.line(e.setReg(i.reg, 4, ext));
      return mem ? Done.MEMORY : Done.PURE;
    }
    case 0x90: // NOP (and PAUSE)
      return Done.PURE;
    case 0x98: // CWDE
      if (i.opsize !== 32) return null;
      e.line(e.setReg(0, 4, `(${e.reg(0, 4)} << 16) >> 16`));
      return Done.PURE;
    case 0x99: // CDQ
      if (i.opsize !== 32) return null;
      e.line(e.setReg(2, 4, `${e.reg(0, 4)} >> 31`));
      return Done.PURE;
    case 0x1af: { // IMUL reg, r/m
      if (i.opsize !== 32) return null;
      return imul(e, i, j, e.reg(i.reg, 4));
    }
    case 0x69: case 0x6b: { // IMUL reg, r/m, imm
      if (i.opsize !== 32) return null;
      return imul(e, i, j, String(i.imm | 0));
    }
  }
  if (op >= 0xb0 && op < 0xc0) { // MOV reg, imm
    const size: Size = op < 0xb8 ? 1 : vsize(i);
    e.line(e.setReg(op & 7, size, immOf(i, size)));
    return Done.PURE;
  }
  if (op >= 0x40 && op < 0x50 && i.opsize === 32) { // INC/DEC r32
    const n = op & 7, x = e.local(`x${j}`), r = e.local(`r${j}`);
    const lop = op < 0x48 ? LazyOp.ADD : LazyOp.SUB;
    e.line(`${x} = ${e.reg(n, 4)}; ${r} = (${x} ${lop === LazyOp.ADD ? "+" : "-"} 1) | 0;`);
    e.setIncDec(lop, x, r, 4);
    e.line(e.setReg(n, 4, r));
    return Done.PURE;
  }
  if ((op === 0xfe || op === 0xff) && (i.reg === 0 || i.reg === 1)) { // INC/DEC r/m
    const size: Size = op === 0xfe ? 1 : vsize(i);
    const x = e.local(`x${j}`), r = e.local(`r${j}`);
    const lop = i.reg === 0 ? LazyOp.ADD : LazyOp.SUB;
    const body = (): void => {
      e.line(`${x} = v; ${r} = (${x} ${lop === LazyOp.ADD ? "+" : "-"} 1) | 0;`);
      e.setIncDec(lop, x, r, size);
    };
    if (!mem) {
      e.line(`v = ${e.reg(i.rm, size)};`);
      body();
      e.line(e.setReg(i.rm, size, r));
      return Done.PURE;
    }
    e.mayFault(j);
    e.rmw(i, size, r, body);
    return Done.MEMORY;
  }
  if (op >= 0x50 && op < 0x60 && i.opsize === 32) { // PUSH/POP r32
    const n = op & 7;
    e.mayFault(j);
    if (op < 0x58) e.line(e.push32(e.reg(n, 4)));
    else e.line(`${e.pop32("v")} ${e.setReg(n, 4, "v")}`);
    return Done.MEMORY;
  }
  if ((op === 0x68 || op === 0x6a) && i.opsize === 32) { // PUSH imm
    e.mayFault(j);
    e.line(e.push32(String(i.imm | 0)));
    return Done.MEMORY;
  }
  if (op === 0xff && i.reg === 6 && i.opsize === 32) { // PUSH r/m32
    e.mayFault(j);
    if (mem) {
      e.loadE(i, 4);
      e.line(e.push32("v"));
    } else e.line(e.push32(e.reg(i.rm, 4)));
    return Done.MEMORY;
  }
  if ((op === 0xc1 || op === 0xd1 || op === 0xd3) && (i.reg === 4 || i.reg === 5 || i.reg === 7) && i.opsize === 32 && !mem) {
    return shift(e, i, j, op === 0xc1 ? String(i.imm & 31) : op === 0xd1 ? "1" : null);
  }
  if ((op === 0xc1 || op === 0xd1) && (i.reg === 4 || i.reg === 5 || i.reg === 7) && i.opsize === 16 && !mem) {
    const n = op === 0xc1 ? i.imm & 31 : 1;
    if (n === 0) return Done.PURE; // a zero count changes nothing, flags included
    if (n < 16) return shift16(e, i, j, n);
  }
  if ((op === 0xf6 || op === 0xf7) && (i.reg === 2 || i.reg === 3) && !mem) { // NOT, NEG r
    const size: Size = op === 0xf6 ? 1 : vsize(i);
    if (i.reg === 2) {
      e.line(e.setReg(i.rm, size, `~${e.reg(i.rm, size)}`));
      return Done.PURE;
    }
    const y = e.local(`y${j}`), r = e.local(`r${j}`);
    e.line(`${y} = ${e.reg(i.rm, size)}; ${r} = -${y} | 0;`);
    e.setArith(LazyOp.SUB, null, "0", y, r, size);
    e.line(e.setReg(i.rm, size, r));
    return Done.PURE;
  }
  if ((op === 0xc1 || op === 0xd1 || op === 0xd3) && (i.reg === 0 || i.reg === 1) && i.opsize === 32 && !mem) {
    return rotate(e, i, j, op === 0xc1 ? String(i.imm & 31) : op === 0xd1 ? "1" : null);
  }
  if ((op >= 0x190 && op < 0x1a0) && !mem) { // SETcc r8
    e.line(e.setReg(i.rm, 1, `${e.cond(op & 15)} ? 1 : 0`));
    return Done.PURE;
  }
  if ((op >= 0x140 && op < 0x150) && i.opsize === 32) { // CMOVcc r32, r/m32
    if (!mem) {
      e.line(`if (${e.cond(op & 15)}) ${e.setReg(i.reg, 4, e.reg(i.rm, 4))}`);
      return Done.PURE;
    }
    // The operand is read (and may fault) whether or not the condition holds.
    e.mayFault(j);
    e.loadE(i, 4);
    e.line(`if (${e.cond(op & 15)}) ${e.setReg(i.reg, 4, "v")}`);
    return Done.MEMORY;
  }
  // Control transfers: the block's last instruction.
  if (!last) return null;
  if ((op >= 0x70 && op < 0x80) || (op >= 0x180 && op < 0x190)) { // Jcc
    if (i.opsize !== 32) return null;
    const target = next + (i.imm | 0);
    const cond = e.cond(op & 15);
    if (target === 0) return loopBack(e, cond, next);
    e.line(`cpu.eip = (e + (${cond} ? ${target} : ${next})) | 0;`);
    return Done.JUMP;
  }
  if ((op === 0xe9 || op === 0xeb) && i.opsize === 32) { // JMP rel
    const target = next + (i.imm | 0);
    if (target === 0) return loopBack(e, "true", next);
    e.line(`cpu.eip = (e + ${target}) | 0;`);
    return Done.JUMP;
  }
  if (op === 0xe8 && i.opsize === 32) { // CALL rel32
    e.mayFault(j);
    e.line(`${e.push32(`(e + ${next}) | 0`)} cpu.eip = (e + ${next + (i.imm | 0)}) | 0;`);
    return Done.JUMP;
  }
  if ((op === 0xc3 || op === 0xc2) && i.opsize === 32) { // RET [imm16]
    e.mayFault(j);
    const imm = op === 0xc2 ? i.imm & 0xffff : 0;
    const sp = e.regW(4);
    e.line(`${e.pop32("v")}${imm !== 0 ? ` R[4] = ${sp}; cpu.setSp(cpu.spPlus(${imm})); ${sp} = R[4];` : ""} cpu.eip = v;`);
    return Done.JUMP;
  }
  if (op === 0xff && (i.reg === 2 || i.reg === 4) && i.opsize === 32) { // CALL/JMP r/m32
    const y = e.local(`y${j}`);
    if (mem) {
      e.mayFault(j);
      e.loadE(i, 4, y);
    } else e.line(`${y} = ${e.reg(i.rm, 4)};`);
    if (i.reg === 2) {
      e.mayFault(j);
      e.line(e.push32(`(e + ${next}) | 0`));
    }
    e.line(`cpu.eip = ${y};`);
    return Done.JUMP;
  }
  return null;
}

/** ALU op on the r/m operand with source expression `src`. */
function aluRm(e: Emitter, i: Insn, j: number, alu: number, src: string, size: Size, x: string, y: string, r: string): Done {
  if (i.mod === 3) {
    e.line(`${x} = ${e.reg(i.rm, size)}; ${y} = ${src};`);
    aluOp(e, alu, x, y, r, size);
    if (alu !== Alu.CMP) e.line(e.setReg(i.rm, size, r));
    return Done.PURE;
  }
  e.mayFault(j);
  if (alu === Alu.CMP) {
    e.loadE(i, size, x);
    e.line(`${y} = ${src};`);
    aluOp(e, alu, x, y, r, size);
    return Done.MEMORY;
  }
  e.line(`${y} = ${src};`);
  e.rmw(i, size, r, () => {
    e.line(`${x} = v;`);
    aluOp(e, alu, x, y, r, size);
  });
  return Done.MEMORY;
}

/** IMUL r32, r/m32[, imm]: the product of r/m and `other`. */
function imul(e: Emitter, i: Insn, j: number, other: string): Done {
  const mem = i.mod !== 3;
  const y = e.local(`y${j}`), r = e.local(`r${j}`);
  if (mem) {
    e.mayFault(j);
    e.loadE(i, 4, y);
  } else e.line(`${y} = ${e.reg(i.rm, 4)};`);
  const x = e.local(`x${j}`), f = e.local(`f${j}`);
  e.line(`${x} = ${other}; ${r} = Math.imul(${y}, ${x});`);
  // CF = OF = the product does not fit 32 bits: then the double product is at least 2^31 in
  // magnitude (exact below 2^53, larger beyond), never equal to the truncated one.
  e.line(`${f} = ${y} * ${x} === ${r} ? 0 : ${Flag.CF | Flag.OF};`);
  e.setResult(r, 4, f);
  e.line(e.setReg(i.reg, 4, r));
  return mem ? Done.MEMORY : Done.PURE;
}

/** SHL/SHR/SAR r32 by `count` (an immediate already masked) or CL (null). */
function shift(e: Emitter, i: Insn, j: number, count: string | null): Done {
  const x = e.local(`x${j}`), r = e.local(`r${j}`), n = e.local(`n${j}`), f = e.local(`f${j}`);
  if (count === "0") return Done.PURE;
  let body: string;
  if (i.reg === 4) body = `${r} = ${x} << ${n}; ${f} = (${x} >>> (32 - ${n})) & 1; ${f} |= (${f} ^ (${r} >>> 31)) << 11;`;
  else if (i.reg === 5) body = `${r} = ${x} >>> ${n}; ${f} = ((${x} >>> (${n} - 1)) & 1) | ((((${r} >>> 31) ^ (${r} >>> 30)) & 1) << 11);`;
  else body = `${r} = ${x} >> ${n}; ${f} = (${x} >> (${n} - 1)) & 1;`;
  if (count !== null) {
    e.line(`${n} = ${count}; ${x} = ${e.reg(i.rm, 4)}; ${body} ${e.setReg(i.rm, 4, r)}`);
    e.setResult(r, 4, f);
    return Done.PURE;
  }
  // A CL count of zero changes nothing, flags included: the record is written in place, if at all.
  e.flush();
  e.line(`${n} = ${e.reg(1, 1)} & 31; ${x} = ${e.reg(i.rm, 4)};`);
  e.line(`if (${n} !== 0) { ${body} ${Emitter.resultCode(r, 4, f)} ${e.setReg(i.rm, 4, r)} }`);
  e.forgetFlags();
  return Done.PURE;
}

/** SHL/SHR/SAR r16 by `n` (1 to 15), as ../ops/shift.ts does. */
function shift16(e: Emitter, i: Insn, j: number, n: number): Done {
  const x = e.local(`x${j}`), r = e.local(`r${j}`), f = e.local(`f${j}`);
  let body: string;
  if (i.reg === 4) body = `${r} = ${x} << ${n}; ${f} = (${x} >>> ${16 - n}) & 1; ${f} |= (${f} ^ ((${r} >>> 15) & 1)) << 11;`;
  else if (i.reg === 5) body = `${r} = ${x} >>> ${n}; ${f} = ((${x} >>> ${n - 1}) & 1) | ((((${r} >>> 15) ^ (${r} >>> 14)) & 1) << 11);`;
  else body = `${x} = (${x} << 16) >> 16; ${r} = ${x} >> ${n}; ${f} = (${x} >> ${n - 1}) & 1;`;
  e.line(`${x} = ${e.reg(i.rm, 2)}; ${body} ${e.setReg(i.rm, 2, r)}`);
  e.setResult(r, 2, f);
  return Done.PURE;
}

/**
 * ROL/ROR r32 by `count` (an immediate already masked) or CL (null), as ../ops/shift.ts does: they
 * change only CF and OF, so the flags before go to the CPU first and the two are set in it.
 */
function rotate(e: Emitter, i: Insn, j: number, count: string | null): Done {
  if (count === "0") return Done.PURE;
  const x = e.local(`x${j}`), r = e.local(`r${j}`), n = e.local(`n${j}`), f = e.local(`f${j}`);
  const body = i.reg === 0
    ? `${r} = (${x} << ${n}) | (${x} >>> (32 - ${n})); ${f} = ${r} & 1; ${f} |= (${f} ^ (${r} >>> 31)) << 11;`
    : `${r} = (${x} >>> ${n}) | (${x} << (32 - ${n})); ${f} = ${r} >>> 31; ${f} |= (${f} ^ ((${r} >>> 30) & 1)) << 11;`;
  const apply = `${body} cpu.setFlagBits(${f}, ${Flag.CF | Flag.OF}); ${e.setReg(i.rm, 4, r)}`;
  e.flush();
  if (count !== null) e.line(`${n} = ${count}; ${x} = ${e.reg(i.rm, 4)}; ${apply}`);
  else e.line(`${n} = ${e.reg(1, 1)} & 31; ${x} = ${e.reg(i.rm, 4)}; if (${n} !== 0) { ${apply} }`);
  e.forgetFlags();
  return Done.PURE;
}

/**
 * A Jcc or JMP back to the block's first instruction: the block becomes a loop that runs again
 * while the budget (`end`) covers another pass, else leaves EIP at its start.
 */
function loopBack(e: Emitter, cond: string, next: number): Done {
  const n = e.offsets.length;
  e.loops = true;
  e.line(`if (!${cond}) { ${e.exitFlush()} cpu.eip = (e + ${next}) | 0; break; }`);
  e.line(`ic += ${n};`);
  e.line(`if (ic + ${n} > lim) { ${e.exitFlush()} ${SYNC} cpu.eip = e; cpu.icount = i0 + ic; return null; }`);
  e.carry();
  return Done.JUMP;
}
