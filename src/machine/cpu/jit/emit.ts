// Code generation for one block: each instruction becomes JavaScript source, either inlined —
// specialised for its operand size, registers, immediates and the segments it uses — or a call of
// its handler from the interpreter's table, so every instruction has the interpreter's semantics
// and the uncommon ones share its code (see ./README.md for the contract).
//
// The generated function, for a block of n instructions starting at EIP e:
//
//   function block_<lin>(cpu, end) {
//     let ic = cpu.icount; const e = cpu.eip, u = cpu.tlbUser; let k = 0, ...;
//     try { ...instruction 0..n-1... } catch (x) { if (k >= 0) { cpu.icount = ic + k; cpu.insnEip = e + offset[k]; } throw x; }
//     cpu.icount = ic + n;
//   }
//
// An inlined instruction that may fault first sets k to its index, so the catch restores the
// icount and EIP the interpreter would have at that fault (the run loop's catch then delivers it).
// A handler call sets icount, insnEip and EIP before the call, as the interpreter does, since
// handlers read them (and may move insnEip: a task switch), and k to -1. Registers, memory and the lazy flags are written through as each instruction
// completes: at any exit the CPU's state is the interpreter's. After an instruction that touched
// memory or called a handler, `cpu.jitBreak` set (a write to this code page, a watchpoint hit, a
// stop request) ends the block there.

import { Flag } from "../../../x86/eflags.js";
import { Reg, Seg, type Insn } from "../../../x86/insn.js";
import { JitMode } from "../arch.js";
import type { Cpu } from "../cpu.js";
import { LazyOp } from "../lazy-flags.js";

/** Byte-register offsets into the register file: AL CL DL BL AH CH DH BH. */
const BYTE_REG = [0, 4, 8, 12, 1, 5, 9, 13];
const ALL_ARITH = Flag.CF | Flag.PF | Flag.AF | Flag.ZF | Flag.SF | Flag.OF;
const CF_OF_AF = Flag.CF | Flag.OF | Flag.AF;

type Size = 1 | 2 | 4;

const WIDTH = { 1: "255", 2: "65535", 4: "-1" } as const;
const SIGN = { 1: "128", 2: "32768", 4: "-2147483648" } as const;

/**
 * What the emitter knows of the lazy flags at a point in the block: the operation that last set
 * them and the locals holding its operands and result (the same values are in the CPU's lazy-flag
 * registers), or nothing (after a handler call, at the block's start).
 */
interface FlagRec {
  kind: "arith" | "logic" | "incdec" | "result";
  /** LazyOp of arith and incdec; for arith ADC/SBB a local holding the op chosen at run time. */
  op: LazyOp;
  carryIn: string | null;
  a: string;
  b: string;
  r: string;
  size: Size;
}

/** Builds one block's function. */
export class Emitter {
  /** Values the generated code refers to by name (handlers, decoded instructions). */
  private readonly consts: unknown[] = [];
  private readonly names: string[] = [];
  private readonly body: string[] = [];
  private readonly locals = new Set<string>(["a", "o", "t", "v", "p", "s"]);
  /** Offset of each instruction's EIP from the block's first, and past the last. */
  readonly offsets: number[] = [0];
  /** The Cpu.jitMode bits the code relies on. */
  modeMask = 0;
  /** The flags as the last inlined instruction left them, when known. */
  flags: FlagRec | null = null;
  /** The block's last instruction set cpu.eip itself. */
  eipSet = false;
  /** The block loops to its own start (see loopBack). */
  loops = false;

  constructor(readonly cpu: Cpu, readonly lin: number) {
    this.constant("R", cpu.r32);
    this.constant("R16", cpu.r16);
    this.constant("R8", cpu.r8);
    this.constant("T", cpu.paging.tlb);
    this.constant("M8", cpu.mem.u8);
    this.constant("M16", cpu.mem.u16);
    this.constant("M32", cpu.mem.i32);
    this.constant("CP", cpu.mem.codePages);
    this.constant("SB", cpu.segBase);
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

  /** The mode the block is compiled for. */
  get mode(): number {
    return this.cpu.jitMode;
  }

  /** Relies on mode bit `bit` having its current value. */
  uses(bit: JitMode): boolean {
    this.modeMask |= bit;
    return (this.cpu.jitMode & bit) !== 0;
  }

  /** The block's function; `n` instructions. */
  finish(n: number): (cpu: Cpu, end: number) => void {
    const offsets = this.constant("O", Int32Array.from(this.offsets));
    const body = this.loops ? ["for (;;) {", ...this.body, "}"] : this.body;
    const src = [
      `"use strict";`,
      `return function block_${(this.lin >>> 0).toString(16)}(cpu, end) {`,
      `let ic = cpu.icount; const e = cpu.eip, u = cpu.tlbUser;`,
      `let k = 0, ${[...this.locals].map((l) => `${l} = 0`).join(", ")};`,
      `try {`,
      ...body,
      `} catch (x) { if (k >= 0) { cpu.icount = ic + k; cpu.insnEip = (e + ${offsets}[k]) | 0; } throw x; }`,
      this.eipSet ? "" : `cpu.eip = (e + ${this.offsets[n]}) | 0;`,
      `cpu.icount = ic + ${n};`,
      `};`,
    ].join("\n");
    return new Function(...this.names, src)(...this.consts) as (cpu: Cpu, end: number) => void;
  }

  // ------------------------------------------------------------------------------------------
  // Operands

  /** The effective address of the memory operand, as an expression. */
  ea(i: Insn): string {
    const terms: string[] = [];
    if (i.adsize === 32) {
      if (i.base >= 0) terms.push(`R[${i.base}]`);
      if (i.index >= 0) terms.push(i.scale === 0 ? `R[${i.index}]` : `(R[${i.index}] << ${i.scale})`);
      if (i.disp !== 0 || terms.length === 0) terms.push(String(i.disp));
      return terms.length === 1 && terms[0].startsWith("R[") ? terms[0] : `((${terms.join(" + ")}) | 0)`;
    }
    if (i.base >= 0) terms.push(`R16[${i.base << 1}]`);
    if (i.index >= 0) terms.push(`R16[${i.index << 1}]`);
    if (i.disp !== 0 || terms.length === 0) terms.push(String(i.disp));
    return `((${terms.join(" + ")}) & 65535)`;
  }

  /**
   * Emits `o = offset; a = linear address` for an access of `size` bytes through segment `seg`
   * (`write`: checked for writing). Flat segments need no code; others go through the CPU's
   * checks, which may fault.
   */
  address(seg: number, offset: string, size: Size, write: boolean): void {
    this.line(`o = ${offset};`);
    const flat = seg === Seg.ES ? JitMode.FLAT_ES : seg === Seg.SS ? JitMode.FLAT_SS : seg === Seg.DS ? JitMode.FLAT_DS : 0;
    const fast = seg === Seg.FS ? JitMode.FAST_FS : seg === Seg.GS ? JitMode.FAST_GS : 0;
    if (flat !== 0 && this.uses(flat)) this.line(`a = o;`);
    else if (fast !== 0 && this.uses(fast)) this.line(`a = (SB[${seg}] + o) | 0;`);
    else this.line(`a = cpu.${write ? "linW" : "linR"}(${seg}, o, ${size});`);
  }

  /** Emits `v = ` the `size`-byte value at linear `a` (zero-extended; int32 for dwords). */
  load(size: Size, into = "v"): void {
    this.line(`t = T[(a >>> 12) | u];`);
    if (size === 4) this.line(`${into} = (t & 1) !== 0 && (a & 3) === 0 ? M32[((t & -4096) | (a & 4095)) >> 2] : cpu.rd32(a);`);
    else if (size === 2) this.line(`${into} = (t & 1) !== 0 && (a & 1) === 0 ? M16[((t & -4096) | (a & 4095)) >> 1] : cpu.rd16(a);`);
    else this.line(`${into} = (t & 1) !== 0 ? M8[(t & -4096) | (a & 4095)] : cpu.rd8(a);`);
  }

  /** Emits the store of `value` (an expression) at linear `a`. */
  store(size: Size, value: string): void {
    this.line(`t = T[(a >>> 12) | u];`);
    const align = size === 4 ? " && (a & 3) === 0" : size === 2 ? " && (a & 1) === 0" : "";
    const slot = size === 4 ? `M32[((t & -4096) | (a & 4095)) >> 2]` : size === 2 ? `M16[((t & -4096) | (a & 4095)) >> 1]` : `M8[(t & -4096) | (a & 4095)]`;
    this.line(`if ((t & 2) !== 0${align} && CP[t >>> 12] === 0) ${slot} = ${value}; else cpu.wr${size * 8}(a, ${value});`);
  }

  /** Emits the read of the instruction's memory operand into `v` (the address in o/a). */
  loadE(i: Insn, size: Size, into = "v"): void {
    this.address(i.seg, this.ea(i), size, false);
    this.load(size, into);
  }

  /**
   * Emits a read-modify-write of the memory operand: `v` = the value, then `compute()` (which
   * emits code leaving the result in `r` and may set flags), then the write-back. The destination
   * is checked for writing before the read, as the interpreter's linRmw does.
   */
  rmw(i: Insn, size: Size, result: string, compute: () => void): void {
    const seg = i.seg;
    const flat = seg === Seg.ES ? JitMode.FLAT_ES : seg === Seg.SS ? JitMode.FLAT_SS : seg === Seg.DS ? JitMode.FLAT_DS : 0;
    const fast = seg === Seg.FS ? JitMode.FAST_FS : seg === Seg.GS ? JitMode.FAST_GS : 0;
    this.line(`o = ${this.ea(i)};`);
    const generic = !((flat !== 0 && this.uses(flat)) || (fast !== 0 && this.uses(fast)));
    if (generic) this.line(`a = cpu.linRmw(${seg}, o, ${size});`);
    else this.line(flat !== 0 ? `a = o;` : `a = (SB[${seg}] + o) | 0;`);
    const align = size === 4 ? " && (a & 3) === 0" : size === 2 ? " && (a & 1) === 0" : "";
    const slot = size === 4 ? `M32[p >> 2]` : size === 2 ? `M16[p >> 1]` : `M8[p]`;
    this.line(`t = T[(a >>> 12) | u];`);
    this.line(`if ((t & 2) !== 0${align} && CP[t >>> 12] === 0) { p = (t & -4096) | (a & 4095); v = ${slot}; }`);
    this.line(`else { ${generic ? "" : `a = cpu.linRmw(${seg}, o, ${size}); `}v = cpu.rd${size * 8}(a); p = -1; }`);
    compute();
    this.line(`if (p >= 0) ${slot} = ${result}; else cpu.wr${size * 8}(a, ${result});`);
  }

  /** A register operand of `size` as an expression (zero-extended below 32 bits). */
  reg(n: number, size: Size): string {
    return size === 4 ? `R[${n}]` : size === 2 ? `R16[${n << 1}]` : `R8[${BYTE_REG[n]}]`;
  }

  // ------------------------------------------------------------------------------------------
  // Flags

  /** Emits the lazy-flag record of an ADD/ADC/SUB/SBB (Cpu.setLazy); `opExpr` when chosen at run time. */
  setArith(op: LazyOp, opExpr: string | null, a: string, b: string, r: string, size: Size): void {
    this.line(`cpu.lzMask = ${ALL_ARITH}; cpu.lzOp = ${opExpr ?? op}; cpu.lzA = ${a}; cpu.lzB = ${b}; cpu.lzR = ${r}; cpu.lzW = ${WIDTH[size]}; cpu.lzSign = ${SIGN[size]};`);
    this.flags = { kind: "arith", op, carryIn: opExpr, a, b, r, size };
  }

  /** Emits Cpu.setLogic. */
  setLogic(r: string, size: Size): void {
    this.line(`cpu.flags &= ${~CF_OF_AF}; cpu.lzMask = ${Flag.PF | Flag.ZF | Flag.SF}; cpu.lzOp = ${LazyOp.LOGIC}; cpu.lzR = ${r}; cpu.lzW = ${WIDTH[size]}; cpu.lzSign = ${SIGN[size]};`);
    this.flags = { kind: "logic", op: LazyOp.LOGIC, carryIn: null, a: "0", b: "0", r, size };
  }

  /** Emits Cpu.setResult with CF/OF/AF given by `eager` (an expression). */
  setResult(r: string, size: Size, eager: string): void {
    this.line(this.setResultCode(r, size, eager));
    this.noteResult(r, size);
  }

  /** The code of Cpu.setResult (for the caller to place). */
  setResultCode(r: string, size: Size, eager: string): string {
    return `cpu.flags = (cpu.flags & ${~CF_OF_AF}) | ((${eager}) & ${CF_OF_AF}); cpu.lzMask = ${Flag.PF | Flag.ZF | Flag.SF}; cpu.lzOp = ${LazyOp.LOGIC}; cpu.lzR = ${r}; cpu.lzW = ${WIDTH[size]}; cpu.lzSign = ${SIGN[size]};`;
  }

  /** The flags are now Cpu.setResult's of `r`. */
  noteResult(r: string, size: Size): void {
    this.flags = { kind: "result", op: LazyOp.LOGIC, carryIn: null, a: "0", b: "0", r, size };
  }

  /** Emits Cpu.setIncDec (CF keeps its value, computed from the flags before). */
  setIncDec(op: LazyOp.ADD | LazyOp.SUB, a: string, r: string, size: Size): void {
    this.line(`cpu.flags = (cpu.flags & -2) | (${this.cf()}); cpu.lzMask = ${ALL_ARITH & ~Flag.CF}; cpu.lzOp = ${op}; cpu.lzA = ${a}; cpu.lzB = 1; cpu.lzR = ${r}; cpu.lzW = ${WIDTH[size]}; cpu.lzSign = ${SIGN[size]};`);
    this.flags = { kind: "incdec", op, carryIn: null, a, b: "1", r, size };
  }

  /** The flags are whatever a handler left: nothing known. */
  forgetFlags(): void {
    this.flags = null;
  }

  /** CF as 0 or 1, as an expression. */
  cf(): string {
    const f = this.flags;
    if (f !== null && f.kind === "arith" && f.carryIn === null) {
      const [a, b, r] = this.unsigned(f);
      return f.op === LazyOp.SUB ? `(${a} < ${b} ? 1 : 0)` : `(${r} < ${a} ? 1 : 0)`;
    }
    if (f !== null && f.kind === "logic") return "0";
    return "cpu.cf()";
  }

  /** Operands and result masked to the width, as unsigned numbers. */
  private unsigned(f: FlagRec): [string, string, string] {
    if (f.size === 4) return [`(${f.a} >>> 0)`, `(${f.b} >>> 0)`, `(${f.r} >>> 0)`];
    const w = WIDTH[f.size];
    return [`(${f.a} & ${w})`, `(${f.b} & ${w})`, `(${f.r} & ${w})`];
  }

  /** Operand `x` of the flag record sign-extended to 32 bits. */
  private signed(x: string, size: Size): string {
    return size === 4 ? `(${x} | 0)` : size === 2 ? `((${x} << 16) >> 16)` : `((${x} << 24) >> 24)`;
  }

  /** The Jcc/SETcc/CMOVcc condition `cc` as a boolean expression. */
  cond(cc: number): string {
    const f = this.flags;
    const not = (cc & 1) !== 0;
    const base = cc & ~1;
    let s: string | null = null;
    if (f !== null) {
      const zf = `((${f.r} & ${WIDTH[f.size]}) === 0)`;
      const sf = `((${f.r} & ${SIGN[f.size]}) !== 0)`;
      if (f.kind === "arith" && f.op === LazyOp.SUB && f.carryIn === null) {
        const [ua, ub] = this.unsigned(f);
        const sa = this.signed(f.a, f.size), sb = this.signed(f.b, f.size);
        switch (base) {
          case 0x2: s = `(${ua} < ${ub})`; break;
          case 0x4: s = zf; break;
          case 0x6: s = `(${ua} <= ${ub})`; break;
          case 0x8: s = sf; break;
          case 0xc: s = `(${sa} < ${sb})`; break;
          case 0xe: s = `(${sa} <= ${sb})`; break;
        }
      } else if (f.kind === "logic") {
        switch (base) {
          case 0x0: s = "false"; break;
          case 0x2: s = "false"; break;
          case 0x4: case 0x6: s = zf; break;
          case 0x8: case 0xc: s = sf; break;
          case 0xe: s = `(${zf} || ${sf})`; break;
        }
      } else {
        switch (base) {
          case 0x4: s = zf; break;
          case 0x8: s = sf; break;
        }
      }
    }
    if (s === null) return `cpu.cond(${cc})`;
    return not ? `!${s}` : s;
  }

  // ------------------------------------------------------------------------------------------
  // Instruction boundaries

  /** Before instruction `j`, which may fault: the catch must know which it was. */
  mayFault(j: number): void {
    this.line(`k = ${j};`);
  }

  /** After instruction `j` (not the last), which touched memory or called a handler. */
  breakCheck(j: number, eipDone: boolean): void {
    const eip = eipDone ? "" : ` cpu.eip = (e + ${this.offsets[j + 1]}) | 0;`;
    this.line(`if (cpu.jitBreak !== 0) {${eip} cpu.icount = ic + ${j + 1}; return; }`);
  }
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

/** Emits instruction `j` of the block (`last`: the block ends after it). */
export function emitInsn(e: Emitter, i: Insn, j: number, last: boolean): void {
  const start = e.offsets[j];
  const next = start + i.len;
  e.offsets.push(next);
  const done = inline(e, i, j, start, next, last);
  if (done === null) {
    const h = e.constant(null, i.exec), ins = e.constant(null, i);
    // The handler's faults leave icount and insnEip as it has them (a task switch moves insnEip).
    e.line(`k = -1; cpu.icount = ic + ${j}; cpu.insnEip = (e + ${start}) | 0;`);
    e.line(`cpu.eip = (e + ${next}) | 0; ${h}(cpu, ${ins});`);
    e.forgetFlags();
    if (last) e.eipSet = true;
    else e.breakCheck(j, true);
    return;
  }
  if (done === Done.JUMP) e.eipSet = true;
  else if (done === Done.MEMORY && !last) e.breakCheck(j, false);
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
      const lop = add ? LazyOp.ADD : LazyOp.SUB;
      e.setArith(lop, `(${c} !== 0 ? ${add ? LazyOp.ADC : LazyOp.SBB} : ${lop})`, x, y, r, size);
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
 * `start` and `next` are its EIP's and the next instruction's offsets from the block's first EIP.
 */
function inline(e: Emitter, i: Insn, j: number, start: number, next: number, last: boolean): Done | null {
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
      if (alu !== Alu.CMP) e.line(`${e.reg(0, size)} = ${r};`);
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
      if (alu !== Alu.CMP) e.line(`${e.reg(i.reg, size)} = ${r};`);
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
        e.line(`${e.reg(i.rm, size)} = ${e.reg(i.reg, size)};`);
        return Done.PURE;
      }
      e.mayFault(j);
      e.address(i.seg, e.ea(i), size, true);
      e.store(size, e.reg(i.reg, size));
      return Done.MEMORY;
    }
    case 0x8a: case 0x8b: { // MOV reg, r/m
      const size: Size = op === 0x8a ? 1 : vsize(i);
      if (!mem) {
        e.line(`${e.reg(i.reg, size)} = ${e.reg(i.rm, size)};`);
        return Done.PURE;
      }
      e.mayFault(j);
      e.loadE(i, size);
      e.line(`${e.reg(i.reg, size)} = v;`);
      return Done.MEMORY;
    }
    case 0xa0: case 0xa1: { // MOV AL/eAX, moffs
      const size: Size = op === 0xa0 ? 1 : vsize(i);
      e.mayFault(j);
      e.loadE(i, size);
      e.line(`${e.reg(0, size)} = v;`);
      return Done.MEMORY;
    }
    case 0xa2: case 0xa3: { // MOV moffs, AL/eAX
      const size: Size = op === 0xa2 ? 1 : vsize(i);
      e.mayFault(j);
      e.address(i.seg, e.ea(i), size, true);
      e.store(size, e.reg(0, size));
      return Done.MEMORY;
    }
    case 0xc6: case 0xc7: { // MOV r/m, imm
      if (i.reg !== 0) return null;
      const size: Size = op === 0xc6 ? 1 : vsize(i);
      if (!mem) {
        e.line(`${e.reg(i.rm, size)} = ${immOf(i, size)};`);
        return Done.PURE;
      }
      e.mayFault(j);
      e.address(i.seg, e.ea(i), size, true);
      e.store(size, immOf(i, size));
      return Done.MEMORY;
    }
    case 0x8d: { // LEA
      if (!mem) return null;
      e.line(`${e.reg(i.reg, vsize(i))} = ${e.ea(i)};`);
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
      e.line(`R[${i.reg}] = ${ext};`);
      return mem ? Done.MEMORY : Done.PURE;
    }
    case 0x90: // NOP (and PAUSE)
      return Done.PURE;
    case 0x98: // CWDE
      if (i.opsize !== 32) return null;
      e.line(`R[0] = (R[0] << 16) >> 16;`);
      return Done.PURE;
    case 0x99: // CDQ
      if (i.opsize !== 32) return null;
      e.line(`R[2] = R[0] >> 31;`);
      return Done.PURE;
    case 0x1af: { // IMUL reg, r/m
      if (i.opsize !== 32) return null;
      return imul(e, i, j, `R[${i.reg}]`);
    }
    case 0x69: case 0x6b: { // IMUL reg, r/m, imm
      if (i.opsize !== 32) return null;
      return imul(e, i, j, String(i.imm | 0));
    }
  }
  if (op >= 0x40 && op < 0x50 && i.opsize === 32) { // INC/DEC r32
    const n = op & 7, x = e.local(`x${j}`), r = e.local(`r${j}`);
    const lop = op < 0x48 ? LazyOp.ADD : LazyOp.SUB;
    e.line(`${x} = R[${n}]; ${r} = (${x} ${lop === LazyOp.ADD ? "+" : "-"} 1) | 0;`);
    e.setIncDec(lop, x, r, 4);
    e.line(`R[${n}] = ${r};`);
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
      e.line(`${e.reg(i.rm, size)} = ${r};`);
      return Done.PURE;
    }
    e.mayFault(j);
    e.rmw(i, size, r, body);
    return Done.MEMORY;
  }
  if (op >= 0x50 && op < 0x60 && i.opsize === 32) { // PUSH/POP r32
    if (!e.uses(JitMode.STACK32)) return null;
    const n = op & 7;
    e.mayFault(j);
    if (op < 0x58) push(e, `R[${n}]`);
    else {
      e.line(`s = R[4];`);
      e.address(Seg.SS, "s", 4, false);
      e.load(4);
      e.line(`R[4] = (s + 4) | 0; R[${n}] = v;`);
    }
    return Done.MEMORY;
  }
  if ((op === 0x68 || op === 0x6a) && i.opsize === 32) { // PUSH imm
    if (!e.uses(JitMode.STACK32)) return null;
    e.mayFault(j);
    push(e, String(i.imm | 0));
    return Done.MEMORY;
  }
  if (op === 0xff && i.reg === 6 && i.opsize === 32) { // PUSH r/m32
    if (!e.uses(JitMode.STACK32)) return null;
    e.mayFault(j);
    if (mem) {
      e.loadE(i, 4, e.local(`y${j}`));
      push(e, `y${j}`);
    } else push(e, `R[${i.rm}]`);
    return Done.MEMORY;
  }
  if ((op === 0xc1 || op === 0xd1 || op === 0xd3) && (i.reg === 4 || i.reg === 5 || i.reg === 7) && i.opsize === 32 && !mem) {
    return shift(e, i, j, op === 0xc1 ? String(i.imm & 31) : op === 0xd1 ? "1" : null);
  }
  if ((op >= 0x190 && op < 0x1a0) && !mem) { // SETcc r8
    e.line(`${e.reg(i.rm, 1)} = ${e.cond(op & 15)} ? 1 : 0;`);
    return Done.PURE;
  }
  if ((op >= 0x140 && op < 0x150) && i.opsize === 32 && !mem) { // CMOVcc r32, r32
    e.line(`if (${e.cond(op & 15)}) R[${i.reg}] = R[${i.rm}];`);
    return Done.PURE;
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
    if (!e.uses(JitMode.STACK32)) return null;
    e.mayFault(j);
    push(e, `(e + ${next}) | 0`);
    e.line(`cpu.eip = (e + ${next + (i.imm | 0)}) | 0;`);
    return Done.JUMP;
  }
  if ((op === 0xc3 || op === 0xc2) && i.opsize === 32) { // RET [imm16]
    if (!e.uses(JitMode.STACK32)) return null;
    e.mayFault(j);
    e.line(`s = R[4];`);
    e.address(Seg.SS, "s", 4, false);
    e.load(4);
    e.line(`R[4] = (s + ${4 + (op === 0xc2 ? i.imm & 0xffff : 0)}) | 0; cpu.eip = v;`);
    return Done.JUMP;
  }
  if (op === 0xff && (i.reg === 2 || i.reg === 4) && i.opsize === 32) { // CALL/JMP r/m32
    if (i.reg === 2 && !e.uses(JitMode.STACK32)) return null;
    const y = e.local(`y${j}`);
    if (mem) {
      e.mayFault(j);
      e.loadE(i, 4, y);
    } else e.line(`${y} = R[${i.rm}];`);
    if (i.reg === 2) {
      e.mayFault(j);
      push(e, `(e + ${next}) | 0`);
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
    if (alu !== Alu.CMP) e.line(`${e.reg(i.rm, size)} = ${r};`);
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

/** Emits a 32-bit push of `value` (an expression evaluated before ESP moves). */
function push(e: Emitter, value: string): void {
  e.line(`v = ${value}; s = (R[4] - 4) | 0;`);
  e.address(Seg.SS, "s", 4, true);
  e.store(4, "v");
  e.line(`R[4] = s;`);
}

/** IMUL r32, r/m32[, imm]: the product of r/m and `other`. */
function imul(e: Emitter, i: Insn, j: number, other: string): Done {
  const mem = i.mod !== 3;
  const y = e.local(`y${j}`), r = e.local(`r${j}`);
  if (mem) {
    e.mayFault(j);
    e.loadE(i, 4, y);
  } else e.line(`${y} = R[${i.rm}];`);
  const x = e.local(`x${j}`);
  e.line(`${x} = ${other}; ${r} = Math.imul(${y}, ${x});`);
  // Overflow when the exact product differs from the truncated one (both fit a double's 53 bits
  // only as |product| < 2^53: compare via the high half instead).
  e.line(`v = ${y} * ${x};`);
  e.setResult(r, 4, `(v === ${r} ? 0 : ${Flag.CF | Flag.OF})`);
  e.line(`R[${i.reg}] = ${r};`);
  return mem ? Done.MEMORY : Done.PURE;
}

/** SHL/SHR/SAR r32 by `count` (an immediate already masked) or CL (null). */
function shift(e: Emitter, i: Insn, j: number, count: string | null): Done {
  const x = e.local(`x${j}`), r = e.local(`r${j}`), n = e.local(`n${j}`);
  e.line(`${n} = ${count ?? "R8[4] & 31"};`);
  if (count === "0") return Done.PURE;
  const guard = count === null ? `if (${n} !== 0) ` : "";
  const kind = i.reg;
  let body: string;
  if (kind === 4) {
    body = `${r} = ${x} << ${n}; v = (${x} >>> (32 - ${n})) & 1;`;
    body += ` ${e.setResultCode(r, 4, `v | ((v ^ (${r} >>> 31)) << 11)`)}`;
  } else if (kind === 5) {
    body = `${r} = ${x} >>> ${n}; v = (${x} >>> (${n} - 1)) & 1;`;
    body += ` ${e.setResultCode(r, 4, `v | ((((${r} >>> 31) ^ (${r} >>> 30)) & 1) << 11)`)}`;
  } else {
    body = `${r} = ${x} >> ${n}; v = (${x} >> (${n} - 1)) & 1;`;
    body += ` ${e.setResultCode(r, 4, "v")}`;
  }
  e.line(`${x} = R[${i.rm}]; ${guard}{ ${body} R[${i.rm}] = ${r}; }`);
  // With a CL count of zero nothing changes, flags included: what is known of them is unsure.
  if (count === null) e.forgetFlags();
  else e.noteResult(r, 4);
  return Done.PURE;
}

/**
 * A Jcc or JMP back to the block's first instruction: the block becomes a loop that runs again
 * while the budget (`end`) covers another pass, else leaves EIP at its start.
 */
function loopBack(e: Emitter, cond: string, next: number): Done {
  const n = e.offsets.length - 1;
  e.loops = true;
  e.line(`if (!${cond}) { cpu.eip = (e + ${next}) | 0; break; }`);
  e.line(`ic += ${n};`);
  e.line(`if (ic + ${n} > end) { cpu.eip = e; cpu.icount = ic; return; }`);
  return Done.JUMP;
}
