// The IA32 CPU: architectural state as plain typed arrays and numbers, the segmented and linear
// memory paths, the decoded-instruction cache and the interpreter loop. Instruction semantics live
// in ./ops/, one file per family, registered in the handler table (./table.ts).

import { MAX_INSN_LEN, decode, lastDecodeTooLong } from "../../x86/decoder.js";
import { Flag } from "../../x86/eflags.js";
import { Reg, Seg, type ByteSource, type Insn } from "../../x86/insn.js";
import { Vec } from "../../x86/vectors.js";
import { I686, type CpuModel } from "../../x86/cpuid.js";
import { Armed, FAULT, JitMode, SegAttr, Stop, type IoBus } from "./arch.js";
import { PAGE_SHIFT, PageFlag, type PhysMem } from "../memory.js";
import { LazyFlags } from "./lazy-flags.js";
import { Mmu, Tlb, USER_HALF } from "./mmu.js";
import { INTERRUPTS } from "./interrupts.js";
import { debugAfter, debugBefore, debugRegsChanged, HOST_BREAK, hostDebugBefore, type HostDebug } from "./debug.js";
import { handlerFor, type Handler } from "./table.js";
import { compileBlock, type Block } from "./jit/compile.js";
import { Fpu, type FpuState } from "./fpu/fpu.js";
import type { Vmx } from "./vmx.js";
import "./ops/index.js";

/** A CPU's architectural state as plain data (see Cpu.save). */
export interface CpuState {
  regs: number[];
  eip: number;
  eflags: number;
  segSel: number[];
  segBase: number[];
  segLimit: number[];
  segAttr: number[];
  cr: [number, number, number, number];
  dr: number[];
  gdtr: [number, number];
  idtr: [number, number];
  ldtr: [number, number, number];
  tr: [number, number, number, number];
  cpl: number;
  msr: [number, number, number, number, number, number, number];
  icount: number;
  tscPerInsn: number;
  tscOffset: bigint;
  halted: boolean;
  /** The icount of the instruction an STI or MOV SS shadow covers, if it is this one; else -1. */
  irqShadowAt: number;
  intr: boolean;
  fpu: FpuState;
}

/** The linear address of the first byte of the page after the one `lin` lies in. */
function nextPage(lin: number): number {
  return ((lin | 0xfff) + 1) | 0;
}

/** A code page's decoded instructions (by page offset) and compiled blocks. */
export class CodePage {
  readonly lines: Insn[] = new Array<Insn>(1 << PAGE_SHIFT);
  /** 1 for each byte of a decoded instruction: only writes to these invalidate the page. */
  readonly code = new Uint8Array(1 << PAGE_SHIFT);
  /** Compiled blocks by the offset of their first instruction (allocated with the first). */
  blocks: (Block | undefined)[] | null = null;
  /**
   * Per offset with no block there: how often the interpreter reached it, plus the instructions
   * it then ran in a straight line from it (see Cpu.runBlock). Between two looks at an offset's
   * heat (each arrival there) a straight run in the page adds at most 4096, so 16 bits hold any
   * threshold up to 61439.
   */
  readonly heat = new Uint16Array(1 << PAGE_SHIFT);

  /** Caches `i`, decoded at `off`. */
  put(off: number, i: Insn): void {
    this.lines[off] = i;
    this.code.fill(1, off, off + i.len);
  }

  /** Whether any of the `len` bytes at `off` belongs to a decoded instruction. */
  holds(off: number, len: number): boolean {
    const code = this.code;
    for (let q = off, end = Math.min(off + len, 1 << PAGE_SHIFT); q < end; q++) if (code[q] !== 0) return true;
    return false;
  }
}

/** The handler of an instruction longer than 15 bytes. */
function tooLong(cpu: Cpu): void {
  cpu.gp(0);
}

/** The handler of an invalid or unimplemented encoding. */
function undefinedOpcode(cpu: Cpu): void {
  cpu.raise(Vec.UD);
}

// The handlers the run loop calls by name (its call sites then see one target each, which the
// JIT can inline), before the generic indirect call: the most frequent instructions in Linux.
// Looked up when the first CPU is made, once every ops module has filled the handler table.
let hotMovGvEv: Handler = tooLong, hotMovEvGv: Handler = tooLong, hotAddEvGv: Handler = tooLong;
let hotImulGvEv: Handler = tooLong, hotShrEvIb: Handler = tooLong, hotJne: Handler = tooLong;
let hotCmpEvGv: Handler = tooLong, hotMovzxGvEw: Handler = tooLong, hotAddEvIb: Handler = tooLong;
let hotJe: Handler = tooLong, hotRet: Handler = tooLong, hotCall: Handler = tooLong;

function hotHandlers(): void {
  const h = (op: number, reg = 0): Handler => handlerFor({ op, reg, opsize: 32 } as Insn) as Handler;
  hotMovGvEv = h(0x8b);
  hotMovEvGv = h(0x89);
  hotAddEvGv = h(0x01);
  hotImulGvEv = h(0x1af);
  hotShrEvIb = h(0xc1, 5);
  hotJne = h(0x75);
  hotCmpEvGv = h(0x39);
  hotMovzxGvEw = h(0x1b7);
  hotAddEvIb = h(0x83, 0);
  hotJe = h(0x74);
  hotRet = h(0xc3);
  hotCall = h(0xe8);
}

/** Byte-register offsets into the register file: AL CL DL BL AH CH DH BH. */
const BYTE_REG = new Uint8Array([0, 4, 8, 12, 1, 5, 9, 13]);

/**
 * Faults delivered in a row, within one run, with no instruction retiring in between, after which
 * the run stops (Stop.EXCEPTION, `faultLoop` set): a handler whose first instruction faults again
 * loops for ever, and as guest time is retired instructions, not even the clock moves — nothing
 * could end it. No guest that works comes near: a fault's handler retires instructions.
 */
export const FAULT_LOOP = 10_000;

/**
 * Number fields that pass 2^31 in the middle of a run: the icount, the end of a run and the icount
 * an interrupt shadow (STI, MOV SS) ends at, in every long run; CR2 and TR's limit when the VMM
 * puts back a guest's unsigned page-fault address, or the guest's LTR loads a limit of 4 GiB - 1;
 * the TSC ticks passed without instructions (and the TSC offset as a double) once 2^31 ns of guest
 * time have passed halted or in the L4 kernel's charged costs. Were they small integers until then, the first larger value would change the
 * Cpu's hidden class at that moment, and V8 would drop the optimized code of every method and
 * compiled block that reads the Cpu (89 blocks in a boot under the VMM), to optimize it all
 * again. The constructor gives each a double first, so the class never changes. (Giving every
 * address and limit field one was worse: 323 blocks dropped.)
 */
const WIDE_FIELDS = ["icount", "runEnd", "irqShadowAt", "cr2", "trLimit", "tscPending", "tscOffsetNum"] as const;

export class Cpu extends LazyFlags implements ByteSource {
  readonly mem: PhysMem;
  io: IoBus;
  model: Readonly<CpuModel> = I686;

  // --- General registers: one buffer seen as 32-, 16- and 8-bit registers.
  readonly r32 = new Int32Array(8);
  readonly r16 = new Uint16Array(this.r32.buffer); // register n is r16[n << 1]
  readonly r8 = new Uint8Array(this.r32.buffer);
  /** EIP of the next instruction (during a handler: of the one after the current). */
  eip = 0;
  /** EIP of the instruction being executed: faults restart from here. */
  insnEip = 0;

  // --- Segment registers: visible selector and hidden descriptor cache.
  readonly segSel = new Uint16Array(6);
  readonly segBase = new Int32Array(6);
  /** Effective limit in bytes (granularity applied), as uint32 stored in a Float64Array-free way. */
  readonly segLimit = new Uint32Array(6);
  readonly segAttr = new Uint16Array(6);
  /** Per segment: 1 when reads need no checks (expand-up, limit 4 GiB - 1, usable); 2 likewise for writes. */
  readonly segFast = new Uint8Array(6);

  // --- System registers.
  cr0 = 0x60000010; // CD NW ET, as after reset
  cr2 = 0;
  cr3 = 0;
  cr4 = 0;
  readonly dr = new Int32Array(8);
  gdtrBase = 0;
  gdtrLimit = 0xffff;
  idtrBase = 0;
  idtrLimit = 0x3ff;
  ldtrSel = 0;
  ldtrBase = 0;
  ldtrLimit = 0;
  trSel = 0;
  trBase = 0;
  trLimit = 0;
  trAttr = 0;
  /** Current privilege level (see `cpl`). */
  private cplValue = 0;
  // Model-specific registers an i686 kernel uses (TSC is derived from icount).
  sysenterCs = 0;
  sysenterEsp = 0;
  sysenterEip = 0;
  miscEnable = 1; // fast strings
  patLo = 0x00070406;
  patHi = 0x00070406;
  efer = 0;
  /** CS.D: default operand and address size of the code segment is 32 bits. */
  code32 = false;
  /** SS.B: the stack pointer is ESP (else SP). */
  stack32 = false;
  /** 0xffff in 16-bit code, else -1: EIP wraps to this. */
  ipMask = 0xffff;

  // --- Time and control.
  /** Retired instructions since reset: the virtual clock's source. */
  icount = 0;
  /** TSC = icount * tscPerInsn + tscOffset (a documented ratio; see ARCHITECTURE.md). */
  tscPerInsn = 1;
  private tscOffsetBig = 0n;
  /**
   * TSC ticks that passed with no instruction retiring (passTsc) and are not in tscOffsetBig yet:
   * an integer in a double. The L4 kernel charges its costs as passing time several times per VM
   * exit, and a BigInt sum each time was most of what an exit allocated.
   */
  private tscPending = 0;
  /** tscOffsetBig as a double, and the value it was taken from (rdtsc's fast path). */
  private tscOffsetOf = 0n;
  private tscOffsetNum = 0;
  halted = false;
  /**
   * The icount the current `run` ends at: a repeated string instruction, which retires each
   * iteration, runs no iteration past it (./ops/string.ts). Not state: every run sets it.
   */
  runEnd = 0;
  /** Set by instructions or devices to leave the loop after the current instruction. */
  stopRequested = false;
  stopReason: Stop = Stop.BUDGET;
  /**
   * Test harnesses set this to stop on every exception instead of delivering it; `excVector` and
   * `excCode` then tell which. INT3 stops too, with EIP after it, as a debugger sees it.
   */
  trapExceptions = false;
  excVector = -1;
  excCode = -1;
  /** The last run stopped in a loop of faults (FAULT_LOOP); host-side, not state. */
  faultLoop = false;
  /**
   * Interrupt shadow: after MOV SS, POP SS and an STI that sets IF, external interrupts are
   * not taken before the instruction at this icount has executed (SDM vol. 3, 6.8.3).
   */
  irqShadowAt = -1;
  /** The INTR pin: the interrupt controller has a request for the CPU. */
  intr = false;
  /** In VMX non-root operation: instruction handlers ask the VMX unit whether they exit. */
  nonRoot = false;
  /** In a guest with external-interrupt exiting: RFLAGS.IF does not block external interrupts (they exit). */
  extIntExiting = false;
  /** The VMX unit (./vmx.ts), when the machine has one. */
  vmx: Vmx | null = null;
  /** The INTA cycle: the interrupt controller answers the vector of its highest request. */
  acknowledgeIntr: () => number = () => 0xff;

  /** Linear → physical translation (paging). */
  readonly paging: Mmu;
  // The memory fast paths' view of the TLB and of RAM (the same arrays the MMU and PhysMem own).
  private readonly tlb: Int32Array;
  /** The TLB half of the current privilege: USER_HALF at CPL 3, else 0 (compiled code reads it). */
  tlbUser = 0;
  private readonly ram8: Uint8Array;
  private readonly ram16: Uint16Array;
  private readonly ram32: Int32Array;
  private readonly pageFlags: Uint8Array;
  /** CS needs no limit check on fetch (flat, readable): segFast[CS] bit 0. */
  private csFlat = false;
  /** segBase[CS], as a plain field for the fetch path. */
  private csBase = 0;

  // --- Debug exceptions (./debug.ts, which states the run loop's part).
  /** Why the run loop calls debugBefore before every instruction (Armed bits; 0: no reason). */
  dbgArmed = 0;
  /** Set by debugBefore (and task switches): the run loop calls debugAfter after the instruction. */
  dbgPending = 0;
  /** DR6 trap bits (BS, BT) to report after the current instruction. */
  dbgTrap = 0;
  /** The current instruction started with RF set: clear it when it completes. */
  dbgRf = 0;
  /** Enabled instruction breakpoints, bit n for DRn. */
  dbgExec = 0;
  /** The host debugger's breakpoints and watchpoints (./debug.ts), when one is attached; not state. */
  hostDebug: HostDebug | null = null;

  /** The x87 FPU (./fpu/, instructions in ./ops/x87.ts). */
  readonly fpu = new Fpu();

  /** Code pages (decoded instructions, compiled blocks), keyed by physical page << 1 | CS.D. */
  private icache: (CodePage | undefined)[] = [];
  /** Code pages outside RAM (their bytes never change: writes there go nowhere). */
  private icacheHigh = new Map<number, CodePage>();
  // The code page the last instruction came from (see fetch).
  private fetchLinPage = -1;
  private fetchPhysPage = -1;
  private fetchLines: Insn[] = [];
  private fetchCode: CodePage = new CodePage();

  // --- The compiler (./jit/).
  /** Compile hot code (the interpreter stays the reference: see ./jit/README.md). */
  private jitOn = false;
  /** JitMode bits of the current state. */
  jitMode = 0;
  /** Set during a compiled block when it must end after the current instruction. */
  jitBreak = 0;
  /**
   * The heat at which a block is compiled from an offset (CodePage.heat): the instructions the
   * interpreter ran from it, counting each arrival once (1 to 61439).
   */
  jitThreshold = 32000;
  /** Longest block, in instructions. */
  jitBlockLimit = 64;
  /** The interpreter's current straight run: its code page, the offset it began at, the last instruction's linear address. */
  private heatCode: CodePage | null = null;
  private heatStart = 0;
  private heatLast = 0;
  /** Blocks compiled so far (a statistic). */
  jitCompiled = 0;
  /** Sees each block as it is compiled and may wrap it (differential tests: test/support/lockstep.ts). */
  jitOnCompile: ((b: Block) => Block) | null = null;
  /**
   * Linear code pages fetched from, one byte per page of the 4 GiB space, marked each time the
   * fetch moves to another page (not per instruction); null when nobody asks. The Timeline
   * (src/replay/timeline.ts) skips a stretch of history in which no breakpoint's page was marked.
   */
  private codeTrace: Uint8Array | null = null;

  constructor(mem: PhysMem, io: IoBus) {
    super();
    this.mem = mem;
    this.io = io;
    if (hotMovGvEv === tooLong) hotHandlers();
    this.paging = new Mmu(this, mem);
    this.tlb = this.paging.tlb;
    this.ram8 = mem.u8;
    this.ram16 = mem.u16;
    this.ram32 = mem.i32;
    this.pageFlags = mem.pageFlags;
    mem.onCodeWrite = (page, addr, len) => {
      // Data beside code (a variable in a code page) leaves the code alone.
      const off = addr & ((1 << PAGE_SHIFT) - 1);
      const a = this.icache[page << 1], b = this.icache[(page << 1) | 1];
      if ((a !== undefined && a.holds(off, len)) || (b !== undefined && b.holds(off, len))) this.dropCode(page);
      else if (a === undefined && b === undefined) mem.pageFlags[page] &= ~PageFlag.CODE;
    };
    for (const f of WIDE_FIELDS) {
      const v = this[f];
      this[f] = 2 ** 32;
      this[f] = v;
    }
    this.reset();
  }

  /** Forgets the decoded and compiled code of physical page `page` (its bytes are being written). */
  private dropCode(page: number): void {
    this.icache[page << 1] = undefined;
    this.icache[(page << 1) | 1] = undefined;
    if (page === this.fetchPhysPage) {
      this.fetchLinPage = -1;
      this.jitBreak = 1; // a running block may have just overwritten its own code
    }
    this.mem.pageFlags[page] &= ~PageFlag.CODE;
  }

  /** The state after RESET (SDM vol. 3, 9.1.1): real mode at F000:FFF0. */
  reset(): void {
    this.r32.fill(0);
    this.r32[Reg.EDX] = (this.model.family << 8) | (this.model.model << 4) | this.model.stepping;
    this.flags = Flag.FIXED;
    this.lzMask = 0;
    this.cr0 = 0x60000010;
    this.cr2 = this.cr3 = this.cr4 = 0;
    this.dr.fill(0);
    this.dr[6] = 0xffff0ff0 | 0;
    this.dr[7] = 0x400;
    debugRegsChanged(this);
    this.dbgPending = this.dbgTrap = this.dbgRf = 0;
    this.gdtrBase = this.idtrBase = 0;
    this.gdtrLimit = this.idtrLimit = 0xffff;
    this.ldtrSel = this.ldtrBase = this.trSel = this.trBase = 0;
    this.ldtrLimit = this.trLimit = 0xffff;
    this.trAttr = 0x8b;
    this.cpl = 0;
    for (let s = 0; s < 6; s++) this.setSegCache(s, 0, 0, 0xffff, SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.ACCESSED);
    this.setSegCache(Seg.CS, 0xf000, 0xffff0000 | 0, 0xffff, SegAttr.P | SegAttr.S | SegAttr.CODE | SegAttr.RW | SegAttr.ACCESSED);
    this.eip = 0xfff0;
    this.efer = 0;
    this.fpu.reset();
    this.halted = false;
    this.stopRequested = false;
    this.paging.changed();
    // Preallocated to cover RAM, so the array stays one of fast elements, not a dictionary.
    this.icache = new Array<CodePage | undefined>(2 * (this.mem.size >>> PAGE_SHIFT)).fill(undefined);
    this.icacheHigh.clear();
    this.fetchLinPage = -1;
    const flags = this.mem.pageFlags;
    for (let p = 0; p < flags.length; p++) flags[p] &= ~PageFlag.CODE;
  }

  /** Current privilege level. The TLB half and the fetch path follow it. */
  get cpl(): number {
    return this.cplValue;
  }

  set cpl(v: number) {
    this.cplValue = v;
    this.tlbUser = this.paging.user = v === 3 ? USER_HALF : 0;
    this.fetchLinPage = -1;
  }

  /** The MMU dropped translations: the fetch path must translate its code page again. */
  tlbFlushed(): void {
    this.fetchLinPage = -1;
  }

  /** A data breakpoint (the guest's or the host debugger's) matched an access: a compiled block ends after the instruction. */
  watchHit(): void {
    this.jitBreak = 1;
  }

  /** Whether hot code is compiled (off: the interpreter runs everything). */
  get jit(): boolean {
    return this.jitOn;
  }

  set jit(on: boolean) {
    this.jitOn = on;
    this.updateJitMode();
  }

  private updateJitMode(): void {
    const fast = this.segFast, base = this.segBase;
    this.jitMode = (this.jitOn && this.code32 && this.csFlat ? JitMode.OK : 0) |
      (fast[Seg.ES] === 3 && base[Seg.ES] === 0 ? JitMode.FLAT_ES : 0) |
      (fast[Seg.SS] === 3 && base[Seg.SS] === 0 ? JitMode.FLAT_SS : 0) |
      (fast[Seg.DS] === 3 && base[Seg.DS] === 0 ? JitMode.FLAT_DS : 0) |
      (fast[Seg.FS] === 3 ? JitMode.FAST_FS : 0) | (fast[Seg.GS] === 3 ? JitMode.FAST_GS : 0) |
      (this.stack32 ? JitMode.STACK32 : 0);
  }

  // ------------------------------------------------------------------------------------------
  // Registers

  reg8(n: number): number {
    return this.r8[BYTE_REG[n]];
  }

  setReg8(n: number, v: number): void {
    this.r8[BYTE_REG[n]] = v;
  }

  reg16(n: number): number {
    return this.r16[n << 1];
  }

  setReg16(n: number, v: number): void {
    this.r16[n << 1] = v;
  }

  /** EFLAGS as software reads it (lazy flags folded in). */
  getEflags(): number {
    return this.materialize() >>> 0;
  }

  /**
   * Loads a segment register's visible and hidden parts directly, as RESET, a VM entry or a
   * test harness does; the instruction-level loads with their checks are in ./segments.ts.
   */
  setSegCache(seg: number, sel: number, base: number, limit: number, attr: number): void {
    this.segSel[seg] = sel;
    this.segBase[seg] = base;
    this.segLimit[seg] = limit >>> 0;
    this.segAttr[seg] = attr;
    const usable = (attr & SegAttr.P) !== 0 && (attr & SegAttr.S) !== 0;
    const code = (attr & SegAttr.CODE) !== 0;
    const expandDown = !code && (attr & SegAttr.DC) !== 0;
    const full = limit >>> 0 === 0xffffffff && usable && !expandDown;
    const readable = !code || (attr & SegAttr.RW) !== 0;
    const writable = !code && (attr & SegAttr.RW) !== 0;
    this.segFast[seg] = full ? (readable ? 1 : 0) | (writable ? 2 : 0) : 0;
    if (seg === Seg.CS) {
      this.fetchLinPage = -1;
      this.csFlat = (this.segFast[seg] & 1) !== 0;
      this.csBase = this.segBase[seg];
      this.code32 = (attr & SegAttr.DB) !== 0 && this.protectedMode();
      this.ipMask = this.code32 ? -1 : 0xffff;
    } else if (seg === Seg.SS) {
      this.stack32 = (attr & SegAttr.DB) !== 0 && this.protectedMode();
    }
    this.updateJitMode();
  }

  protectedMode(): boolean {
    return (this.cr0 & 1) !== 0;
  }

  // ------------------------------------------------------------------------------------------
  // Exceptions

  /** Raises exception `vector` (with an error code, or -1 for none); does not return. */
  raise(vector: number, code = -1): never {
    this.excVector = vector;
    this.excCode = code;
    this.dbgPending = 0; // a faulting instruction reports no debug trap
    throw FAULT;
  }

  /** #PF with `code` (the MMU has set CR2). */
  pageFault(code: number): never {
    return this.raise(Vec.PF, code);
  }

  /** #GP with an error code (default 0). */
  gp(code = 0): never {
    return this.raise(Vec.GP, code);
  }

  // ------------------------------------------------------------------------------------------
  // Segmented memory: offset → linear address, with the segment's limit and type checks.

  /** Linear address of a `size`-byte read at `seg:off`. */
  linR(seg: number, off: number, size: number): number {
    if ((this.segFast[seg] & 1) !== 0) return (this.segBase[seg] + off) | 0;
    return this.segCheck(seg, off >>> 0, size, false);
  }

  /** Linear address of a `size`-byte write at `seg:off`. */
  linW(seg: number, off: number, size: number): number {
    if ((this.segFast[seg] & 2) !== 0) return (this.segBase[seg] + off) | 0;
    return this.segCheck(seg, off >>> 0, size, true);
  }

  private segCheck(seg: number, off: number, size: number, write: boolean): number {
    const attr = this.segAttr[seg];
    const fault = seg === Seg.SS ? Vec.SS : Vec.GP;
    if (this.protectedMode()) {
      if ((attr & SegAttr.P) === 0 || (attr & SegAttr.S) === 0) this.raise(fault, 0); // null or unusable
      if (attr & SegAttr.CODE) {
        if (write || (attr & SegAttr.RW) === 0) this.raise(fault, 0);
      } else if (write && (attr & SegAttr.RW) === 0) {
        this.raise(fault, 0);
      }
    }
    const limit = this.segLimit[seg];
    const last = off + size - 1;
    if (!(attr & SegAttr.CODE) && (attr & SegAttr.DC)) {
      // Expand-down: valid offsets are limit+1 .. 0xffff or 0xffffffff.
      const top = attr & SegAttr.DB ? 0xffffffff : 0xffff;
      if (off <= limit || last > top) this.raise(fault, 0);
    } else if (last > limit) {
      this.raise(fault, 0);
    }
    return (this.segBase[seg] + off) | 0;
  }

  /**
   * Linear address of a read-modify-write operand: checked for writing, segment and page(s),
   * before the read, so a fault leaves the flags alone and reports write intent as hardware does.
   */
  linRmw(seg: number, off: number, size: number): number {
    const lin = this.linW(seg, off, size);
    // A TLB entry that allows writing needs no walk (for an operand within one page).
    if ((this.tlb[(lin >>> 12) | this.tlbUser] & Tlb.W) === 0 || (lin & 0xfff) + size > 0x1000) this.probeRmw(lin, size);
    return lin;
  }

  private probeRmw(lin: number, size: number): void {
    if (this.paging.enabled) {
      this.paging.translate(lin, true);
      if ((lin & 0xfff) + size > 0x1000) this.paging.translate(nextPage(lin), true);
    }
  }

  read8(seg: number, off: number): number {
    return this.rd8(this.linR(seg, off, 1));
  }
  read16(seg: number, off: number): number {
    return this.rd16(this.linR(seg, off, 2));
  }
  read32(seg: number, off: number): number {
    return this.rd32(this.linR(seg, off, 4));
  }
  write8(seg: number, off: number, v: number): void {
    this.wr8(this.linW(seg, off, 1), v);
  }
  write16(seg: number, off: number, v: number): void {
    this.wr16(this.linW(seg, off, 2), v);
  }
  write32(seg: number, off: number, v: number): void {
    this.wr32(this.linW(seg, off, 4), v);
  }

  // ------------------------------------------------------------------------------------------
  // Linear memory. Paging (the next layer of translation) plugs in here.

  //
  // Each access first tries the fast path: a TLB hit (the TLB also holds identity translations
  // with paging off, and only ever RAM: see ./mmu.ts) for an aligned access, served straight from
  // RAM's typed arrays; a write also needs its page to hold no cached code. Anything else — a miss,
  // a misaligned or page-crossing access, a code page, memory beyond RAM — takes the slow path.
  // The slow path translates even with paging off, which enters the page's identity translation.

  rd8(lin: number): number {
    const e = this.tlb[(lin >>> 12) | this.tlbUser];
    if ((e & Tlb.R) !== 0) return this.ram8[(e & ~0xfff) | (lin & 0xfff)];
    return this.mem.read8(this.paging.translate(lin, false));
  }
  rd16(lin: number): number {
    const e = this.tlb[(lin >>> 12) | this.tlbUser];
    if ((e & Tlb.R) !== 0 && (lin & 1) === 0) return this.ram16[((e & ~0xfff) | (lin & 0xfff)) >>> 1];
    return this.rd16Slow(lin);
  }
  private rd16Slow(lin: number): number {
    if ((lin & 0xfff) === 0xfff) return this.rd8(lin) | (this.rd8(lin + 1) << 8);
    return this.mem.read16(this.paging.translate(lin, false, 2));
  }
  /** As an int32. */
  rd32(lin: number): number {
    const e = this.tlb[(lin >>> 12) | this.tlbUser];
    if ((e & Tlb.R) !== 0 && (lin & 3) === 0) return this.ram32[((e & ~0xfff) | (lin & 0xfff)) >>> 2];
    return this.rd32Slow(lin);
  }
  private rd32Slow(lin: number): number {
    if ((lin & 0xfff) > 0xffc) return this.rd16(lin) | (this.rd16(lin + 2) << 16);
    return this.mem.read32(this.paging.translate(lin, false, 4));
  }
  wr8(lin: number, v: number): void {
    const e = this.tlb[(lin >>> 12) | this.tlbUser];
    if ((e & Tlb.W) !== 0) {
      const p = (e & ~0xfff) | (lin & 0xfff);
      if (this.pageFlags[p >>> 12] === 0) {
        this.ram8[p] = v;
        return;
      }
    }
    this.mem.write8(this.paging.translate(lin, true), v & 0xff);
  }
  wr16(lin: number, v: number): void {
    const e = this.tlb[(lin >>> 12) | this.tlbUser];
    if ((e & Tlb.W) !== 0 && (lin & 1) === 0) {
      const p = (e & ~0xfff) | (lin & 0xfff);
      if (this.pageFlags[p >>> 12] === 0) {
        this.ram16[p >>> 1] = v;
        return;
      }
    }
    this.wr16Slow(lin, v);
  }
  private wr16Slow(lin: number, v: number): void {
    if ((lin & 0xfff) === 0xfff) {
      this.probeSplitWrite(lin);
      this.wr8(lin, v);
      this.wr8(lin + 1, v >>> 8);
      return;
    }
    this.mem.write16(this.paging.translate(lin, true, 2), v & 0xffff);
  }
  wr32(lin: number, v: number): void {
    const e = this.tlb[(lin >>> 12) | this.tlbUser];
    if ((e & Tlb.W) !== 0 && (lin & 3) === 0) {
      const p = (e & ~0xfff) | (lin & 0xfff);
      if (this.pageFlags[p >>> 12] === 0) {
        this.ram32[p >>> 2] = v;
        return;
      }
    }
    this.wr32Slow(lin, v);
  }
  private wr32Slow(lin: number, v: number): void {
    if ((lin & 0xfff) > 0xffc) {
      this.probeSplitWrite(lin);
      this.wr16(lin, v);
      this.wr16(lin + 2, v >>> 16);
      return;
    }
    this.mem.write32(this.paging.translate(lin, true, 4), v);
  }

  /**
   * A write that straddles two pages: both must be writable before either byte changes. The
   * first page is checked first, and a fault on the second reports its first byte in CR2 (as
   * QEMU and Bochs do), not the last byte of the write.
   */
  private probeSplitWrite(lin: number): void {
    this.paging.translate(lin, true);
    this.paging.translate(nextPage(lin), true);
  }

  /**
   * The physical address of `lin` when the TLB already allows this access at the current
   * privilege — no walk, no fault, no accessed/dirty update — else -1. Only RAM is ever in the
   * TLB, and never a page with a data breakpoint: a bulk operation may use RAM's arrays directly
   * within the page (see ./ops/string.ts).
   */
  tlbPhys(lin: number, write: boolean): number {
    const e = this.tlb[(lin >>> 12) | this.tlbUser];
    if ((e & (write ? Tlb.W : Tlb.R)) === 0) return -1;
    return ((e & ~0xfff) | (lin & 0xfff)) >>> 0;
  }

  get tscOffset(): bigint {
    if (this.tscPending !== 0) {
      this.tscOffsetBig += BigInt(this.tscPending);
      this.tscPending = 0;
    }
    return this.tscOffsetBig;
  }

  set tscOffset(v: bigint) {
    this.tscOffsetBig = v;
    this.tscPending = 0;
  }

  /** Lets `ticks` of the TSC pass without an instruction retiring (Pc.passTime). */
  passTsc(ticks: number): void {
    const sum = this.tscPending + ticks;
    if (sum <= Number.MAX_SAFE_INTEGER) this.tscPending = sum;
    else this.tscOffset += BigInt(ticks);
  }

  /** The time-stamp counter: a fixed ratio of retired instructions, plus what WRMSR set. */
  tsc(): bigint {
    return BigInt.asUintN(64, BigInt(this.icount) * BigInt(this.tscPerInsn) + this.tscOffset);
  }

  /**
   * The TSC as a double while that is exact (below 2^53: years of guest time), else -1: tsc()'s
   * BigInts cost more than the rest of RDTSC, and Linux's delay loops run it millions of times.
   */
  private tscNumber(): number {
    if (this.tscOffsetBig !== this.tscOffsetOf) {
      this.tscOffsetOf = this.tscOffsetBig;
      this.tscOffsetNum = Number(this.tscOffsetBig);
    }
    const t = this.icount * this.tscPerInsn + this.tscOffsetNum + this.tscPending;
    return t >= 0 && t <= Number.MAX_SAFE_INTEGER && Number.isSafeInteger(this.tscOffsetNum) ? t : -1;
  }

  /** The TSC into EDX:EAX, as RDTSC reads it outside VMX non-root operation. */
  rdtsc(): void {
    const t = this.tscNumber();
    if (t >= 0) return this.tscInto(t);
    const v = this.tsc();
    this.r32[Reg.EAX] = Number(v & 0xffffffffn) | 0;
    this.r32[Reg.EDX] = Number(v >> 32n) | 0;
  }

  /**
   * RDTSC as compiled code runs it in place (./jit/emit.ts): EDX:EAX set, in or out of VMX
   * non-root operation, when nothing but the read is due and the sum is exact in a double; false
   * when the instruction's handler must run instead (CR4.TSD set, RDTSC exiting, a huge TSC).
   */
  rdtscInPlace(): boolean {
    if ((this.cr4 & 4) !== 0) return false;
    let t = this.tscNumber();
    if (this.nonRoot && t >= 0) t = (this.vmx as Vmx).guestTscNumber(t);
    if (t < 0) return false;
    this.tscInto(t);
    return true;
  }

  /** A TSC value exact in a double into EDX:EAX. */
  private tscInto(t: number): void {
    this.r32[Reg.EAX] = t % 4294967296 | 0;
    this.r32[Reg.EDX] = Math.floor(t / 4294967296) | 0;
  }

  setTsc(v: bigint): void {
    this.tscOffset = BigInt.asIntN(64, v - BigInt(this.icount) * BigInt(this.tscPerInsn));
  }

  // ------------------------------------------------------------------------------------------
  // Operands of a decoded instruction

  /** Effective address (segment offset) of the memory operand. */
  ea(i: Insn): number {
    let a = i.disp;
    if (i.base >= 0) a += this.r32[i.base];
    if (i.index >= 0) a += this.r32[i.index] << i.scale;
    return i.adsize === 32 ? a | 0 : a & 0xffff;
  }

  readE8(i: Insn): number {
    return i.mod === 3 ? this.r8[BYTE_REG[i.rm]] : this.read8(i.seg, this.ea(i));
  }
  readE16(i: Insn): number {
    return i.mod === 3 ? this.r16[i.rm << 1] : this.read16(i.seg, this.ea(i));
  }
  readE32(i: Insn): number {
    return i.mod === 3 ? this.r32[i.rm] : this.read32(i.seg, this.ea(i));
  }
  writeE8(i: Insn, v: number): void {
    if (i.mod === 3) this.r8[BYTE_REG[i.rm]] = v;
    else this.write8(i.seg, this.ea(i), v);
  }
  writeE16(i: Insn, v: number): void {
    if (i.mod === 3) this.r16[i.rm << 1] = v;
    else this.write16(i.seg, this.ea(i), v);
  }
  writeE32(i: Insn, v: number): void {
    if (i.mod === 3) this.r32[i.rm] = v;
    else this.write32(i.seg, this.ea(i), v);
  }

  // ------------------------------------------------------------------------------------------
  // The stack

  /** The stack pointer as an offset in SS (SP zero-extended in 16-bit stacks). */
  sp(): number {
    return this.stack32 ? this.r32[Reg.ESP] : this.r16[Reg.ESP << 1];
  }

  /** Sets the stack pointer, keeping ESP's upper half for a 16-bit stack. */
  setSp(v: number): void {
    if (this.stack32) this.r32[Reg.ESP] = v;
    else this.r16[Reg.ESP << 1] = v;
  }

  /** SP after moving it by `delta`, wrapped to the stack's width. */
  spPlus(delta: number): number {
    return this.stack32 ? (this.r32[Reg.ESP] + delta) | 0 : (this.r16[Reg.ESP << 1] + delta) & 0xffff;
  }

  push16(v: number): void {
    const sp = this.spPlus(-2);
    this.write16(Seg.SS, sp, v);
    this.setSp(sp);
  }
  push32(v: number): void {
    const sp = this.spPlus(-4);
    this.write32(Seg.SS, sp, v);
    this.setSp(sp);
  }
  pop16(): number {
    const v = this.read16(Seg.SS, this.sp());
    this.setSp(this.spPlus(2));
    return v;
  }
  pop32(): number {
    const v = this.read32(Seg.SS, this.sp());
    this.setSp(this.spPlus(4));
    return v;
  }

  // ------------------------------------------------------------------------------------------
  // Instruction fetch through the decode cache

  /** ByteSource for the decoder: `addr` is a linear address. */
  byte(addr: number): number {
    return this.mem.read8(this.paging.enabled ? this.paging.translateExec(addr) : addr >>> 0);
  }

  // The fetch itself is written out in `run`: the code page of the previous instruction, if
  // nothing since could have changed its translation (TLB flush, CS load, privilege change, code
  // write: each resets fetchLinPage through tlbFlushed, setSegCache, the cpl setter or
  // onCodeWrite), else fetchPage; then the decoded instruction at the page offset, else decodeAt.

  /** Looks up (or creates) the decode cache of the code page holding `lin`; makes it current. */
  private fetchPage(lin: number): Insn[] {
    const phys = this.codePhys(lin);
    const page = phys >>> PAGE_SHIFT;
    const key = (page << 1) | (this.code32 ? 1 : 0);
    const inRam = key < this.icache.length;
    let code = inRam ? this.icache[key] : this.icacheHigh.get(key);
    if (code === undefined) {
      code = new CodePage();
      if (inRam) {
        this.icache[key] = code;
        this.pageFlags[page] |= PageFlag.CODE;
      } else this.icacheHigh.set(key, code);
    }
    if (this.codeTrace !== null) this.codeTrace[lin >>> PAGE_SHIFT] = 1;
    this.fetchLinPage = lin >>> PAGE_SHIFT;
    this.fetchPhysPage = page;
    this.fetchLines = code.lines;
    this.fetchCode = code;
    return code.lines;
  }

  /**
   * Starts marking fetched code pages into `marks` (a fresh stretch: the current page counts
   * again), or stops with null.
   */
  traceCode(marks: Uint8Array | null): void {
    this.codeTrace = marks;
    this.fetchLinPage = -1;
  }

  private decodeAt(lin: number, lines: Insn[], off: number): Insn {
    const i = decode(this, lin, this.code32);
    // The decoder marks invalid encodings, LOCK where the SDM forbids it included: #UD. An
    // instruction longer than 15 bytes is invalid too, but raises #GP(0).
    i.exec = (!i.invalid ? handlerFor(i) : lastDecodeTooLong() ? tooLong : undefined) ?? undefinedOpcode;
    // An instruction that crosses into the next page is not cached: a write there would not drop it.
    if (off + i.len <= 1 << PAGE_SHIFT) this.fetchCode.put(off, i);
    return i;
  }

  private codePhys(lin: number): number {
    return this.paging.enabled ? this.paging.translateExec(lin) : lin >>> 0;
  }

  // ------------------------------------------------------------------------------------------
  // The interpreter loop

  /** Runs at most `budget` instructions; returns why it stopped. */
  run(budget: number): Stop {
    const end = this.icount + budget;
    this.runEnd = end;
    this.stopRequested = false;
    this.stopReason = Stop.BUDGET;
    this.faultLoop = false;
    if (this.halted && !this.interruptible()) return (this.stopReason = Stop.HALT);
    // Faults delivered since the icount was last `faultsAt`: see FAULT_LOOP.
    let faultsAt = -1, faults = 0;
    while (this.icount < end) {
      try {
        while (this.icount < end) {
          if (this.intr && this.interruptible() && !this.acceptInterrupt()) return this.stopReason;
          // Set before the fetch, so a fault in the fetch (CS limit, page fault) restarts here.
          this.insnEip = this.eip;
          const eip = this.eip;
          const lin = (this.csBase + eip) | 0;
          const dbg = (this.flags & (Flag.TF | Flag.RF)) | this.dbgArmed;
          // A compiled block, when one may run here (see ./jit/README.md): no interrupt can be
          // taken before it ends, and no debug check is due but the host debugger's.
          if ((this.jitMode & JitMode.OK) !== 0 && (dbg === 0 || dbg === Armed.HOST) &&
            (!this.intr || ((this.flags & Flag.IF) === 0 && !this.extIntExiting)) && this.runBlock(lin, end, dbg)) {
            // The host debugger's watchpoints (debugAfter), when it is armed: the MMU keeps
            // watchpoints set while another HostDebug, with none, is installed (the Timeline's
            // quiet runs), and the interpreter ignores their hits then too.
            if (dbg !== 0 && this.paging.hits !== 0) this.dbgPending = 1;
            if (this.dbgPending !== 0) this.debugAfter();
            if (this.stopRequested) {
              this.stopRequested = false;
              return this.stopReason;
            }
            continue;
          }
          if (dbg !== 0) this.debugBefore();
          const lines = (lin >>> PAGE_SHIFT) === this.fetchLinPage ? this.fetchLines : this.fetchPage(lin);
          const off = lin & ((1 << PAGE_SHIFT) - 1);
          const i = lines[off] ?? this.decodeAt(lin, lines, off);
          if (!this.csFlat && (eip >>> 0) + i.len - 1 > this.segLimit[Seg.CS]) this.gp(0);
          this.eip = (eip + i.len) & this.ipMask;
          const exec = i.exec as Handler;
          if (exec === hotMovGvEv) hotMovGvEv(this, i);
          else if (exec === hotMovEvGv) hotMovEvGv(this, i);
          else if (exec === hotAddEvGv) hotAddEvGv(this, i);
          else if (exec === hotImulGvEv) hotImulGvEv(this, i);
          else if (exec === hotShrEvIb) hotShrEvIb(this, i);
          else if (exec === hotJne) hotJne(this, i);
          else if (exec === hotCmpEvGv) hotCmpEvGv(this, i);
          else if (exec === hotMovzxGvEw) hotMovzxGvEw(this, i);
          else if (exec === hotAddEvIb) hotAddEvIb(this, i);
          else if (exec === hotJe) hotJe(this, i);
          else if (exec === hotRet) hotRet(this, i);
          else if (exec === hotCall) hotCall(this, i);
          else exec(this, i);
          this.icount++;
          if (this.dbgPending !== 0) this.debugAfter();
          if (this.stopRequested) {
            this.stopRequested = false;
            return this.stopReason;
          }
        }
      } catch (e) {
        // The host debugger's breakpoint: stopped before the instruction, nothing of it done.
        if (e === HOST_BREAK) return (this.stopReason = Stop.REQUEST);
        if (e !== FAULT) throw e;
        this.eip = this.insnEip;
        if (this.trapExceptions) return (this.stopReason = Stop.EXCEPTION);
        if (this.icount !== faultsAt) {
          faultsAt = this.icount;
          faults = 0;
        }
        if (++faults > FAULT_LOOP) {
          this.faultLoop = true;
          return (this.stopReason = Stop.EXCEPTION);
        }
        if (!this.deliverException(this.excVector, this.excCode)) return this.stopReason;
      }
    }
    return Stop.BUDGET;
  }

  /**
   * Runs the compiled block that starts at linear `lin` if there is one for the current mode and
   * the budget up to `end` covers it (compiling it once the code is hot); false when the
   * interpreter is to run the instruction instead. With the host debugger armed (`dbg`) only a
   * block clear of its breakpoints runs, and only from the code page already current.
   */
  private runBlock(lin: number, end: number, dbg: number): boolean {
    if (lin >>> PAGE_SHIFT !== this.fetchLinPage) {
      if (dbg !== 0) return false;
      this.fetchPage(lin);
    }
    const code = this.fetchCode;
    const off = lin & ((1 << PAGE_SHIFT) - 1);
    let b = code.blocks === null ? undefined : code.blocks[off];
    if (b === undefined || (this.jitMode & b.mask) !== b.mode) {
      // An instruction just past the last one the interpreter ran (within an instruction's
      // length) continues a straight run, and heats the run's start too: code run in long
      // straight lines (unrolled loops, long functions called a few thousand times) compiles
      // after a few passes, as a loop's short body does after many.
      const step = lin - this.heatLast;
      this.heatLast = lin;
      if (step > 0 && step <= MAX_INSN_LEN && code === this.heatCode) code.heat[this.heatStart]++;
      else {
        this.heatCode = code;
        this.heatStart = off;
      }
      if (++code.heat[off] < this.jitThreshold) return false;
      code.heat[off] = 0;
      const made = compileBlock(this, code, this.fetchPhysPage, lin);
      if (made === null) return false;
      this.jitCompiled++;
      b = this.jitOnCompile === null ? made : this.jitOnCompile(made);
      (code.blocks ??= new Array<Block | undefined>(1 << PAGE_SHIFT))[off] = b;
    }
    if (b.n > end - this.icount) return false;
    if (dbg !== 0 && this.hostDebug !== null && !this.hostDebug.clearOf((lin + b.from) | 0, b.bytes)) return false;
    this.jitBreak = 0;
    if (dbg !== 0) this.paging.hits = 0; // as debugBefore does before each instruction
    for (let next: Block | null = b; next !== null;) next = next.run(this, end);
    return true;
  }

  /**
   * The block to chain to from a compiled block that left by one of its own exits, with EIP and
   * icount set (./jit/README.md): the one starting at EIP, if it is compiled for the current mode
   * and covered by the budget up to `end`; else null, and the run loop looks. Nothing the run loop decides on between instructions can have changed since the
   * block started: such changes come from handlers, and a block ending in one does not chain.
   */
  jitNext(end: number): Block | null {
    const lin = (this.csBase + this.eip) | 0;
    if (this.dbgArmed !== 0) return null;
    if (lin >>> PAGE_SHIFT !== this.fetchLinPage) return this.jitNextPage(lin, end);
    const b = (this.fetchCode.blocks as (Block | undefined)[])[lin & ((1 << PAGE_SHIFT) - 1)];
    if (b === undefined || (this.jitMode & b.mask) !== b.mode || b.n > end - this.icount) return null;
    return b;
  }

  /**
   * jitNext for an EIP in another code page: only through a translation the TLB already holds
   * (a walk could fault, or set accessed bits, which only the fetch itself may do), and the page
   * becomes the current one only when its block is taken, so the code trace marks no page that
   * does not run.
   */
  private jitNextPage(lin: number, end: number): Block | null {
    let phys = lin >>> 0;
    if (this.paging.enabled) {
      const t = this.tlb[(lin >>> PAGE_SHIFT) | this.tlbUser];
      if ((t & Tlb.X) === 0) return null;
      phys = t >>> 0;
    }
    const key = ((phys >>> PAGE_SHIFT) << 1) | (this.code32 ? 1 : 0);
    const code = key < this.icache.length ? this.icache[key] : undefined;
    if (code === undefined || code.blocks === null) return null;
    const b = code.blocks[lin & ((1 << PAGE_SHIFT) - 1)];
    if (b === undefined || (this.jitMode & b.mask) !== b.mode || b.n > end - this.icount) return null;
    this.fetchPage(lin);
    return b;
  }

  /**
   * Delivers a fault through the IVT/IDT; returns false when the CPU cannot go on (shutdown,
   * or delivery not possible in this mode), with `stopReason` saying why.
   */
  deliverException(vector: number, code: number): boolean {
    return this.interrupts.deliver(this, vector, code, false);
  }

  /**
   * The architectural state as plain data (arrays of numbers, a bigint for the TSC offset). The
   * TLB is not in it: the PC's state carries it (Pc.save, Mmu.saveTlb), and a CPU restored without
   * it starts with none. The decoded and compiled code, kept by physical page and mode, is kept
   * too: it depends only on the bytes of its pages, and whoever puts RAM back does so through
   * PhysMem's barrier, which drops the code whose bytes it changes (and only that).
   */
  save(): CpuState {
    return {
      regs: Array.from(this.r32),
      eip: this.eip,
      eflags: this.materialize(),
      segSel: Array.from(this.segSel),
      segBase: Array.from(this.segBase),
      segLimit: Array.from(this.segLimit),
      segAttr: Array.from(this.segAttr),
      cr: [this.cr0, this.cr2, this.cr3, this.cr4],
      dr: Array.from(this.dr),
      gdtr: [this.gdtrBase, this.gdtrLimit],
      idtr: [this.idtrBase, this.idtrLimit],
      ldtr: [this.ldtrSel, this.ldtrBase, this.ldtrLimit],
      tr: [this.trSel, this.trBase, this.trLimit, this.trAttr],
      cpl: this.cpl,
      msr: [this.sysenterCs, this.sysenterEsp, this.sysenterEip, this.miscEnable, this.patLo, this.patHi, this.efer],
      icount: this.icount,
      tscPerInsn: this.tscPerInsn,
      tscOffset: this.tscOffset,
      halted: this.halted,
      // A shadow for an instruction already retired is dead: which dead value the field holds
      // depends on where runs were cut, so the state says -1 for all of them.
      irqShadowAt: this.irqShadowAt === this.icount ? this.icount : -1,
      intr: this.intr,
      fpu: this.fpu.save(),
    };
  }

  restore(s: CpuState): void {
    this.r32.set(s.regs);
    this.eip = s.eip;
    this.flags = s.eflags;
    this.lzMask = 0;
    [this.cr0, this.cr2, this.cr3, this.cr4] = s.cr;
    this.dr.set(s.dr);
    debugRegsChanged(this);
    [this.gdtrBase, this.gdtrLimit] = s.gdtr;
    [this.idtrBase, this.idtrLimit] = s.idtr;
    [this.ldtrSel, this.ldtrBase, this.ldtrLimit] = s.ldtr;
    [this.trSel, this.trBase, this.trLimit, this.trAttr] = s.tr;
    this.cpl = s.cpl;
    for (let seg = 0; seg < 6; seg++) this.setSegCache(seg, s.segSel[seg], s.segBase[seg], s.segLimit[seg], s.segAttr[seg]);
    [this.sysenterCs, this.sysenterEsp, this.sysenterEip, this.miscEnable, this.patLo, this.patHi, this.efer] = s.msr;
    this.icount = s.icount;
    this.tscPerInsn = s.tscPerInsn;
    this.tscOffset = s.tscOffset;
    this.halted = s.halted;
    this.irqShadowAt = s.irqShadowAt;
    this.intr = s.intr;
    this.fpu.restore(s.fpu);
    this.stopRequested = false;
    this.paging.changed();
    this.fetchLinPage = -1;
  }

  /** An external interrupt can be taken now: INTR raised, IF set, no interrupt shadow. */
  private interruptible(): boolean {
    return this.intr && ((this.flags & Flag.IF) !== 0 || this.extIntExiting) && this.icount !== this.irqShadowAt;
  }

  /** Takes the external interrupt the controller offers; false when its delivery stopped the CPU. */
  private acceptInterrupt(): boolean {
    const vector = this.acknowledgeIntr();
    this.halted = false;
    this.insnEip = this.eip;
    return this.interrupts.deliver(this, vector, -1, false);
  }

  /** Debug checks before an instruction: see ./debug.ts for the run loop's contract. */
  debugBefore(): void {
    if ((this.dbgArmed & Armed.INTR_WINDOW) !== 0) this.vmx?.boundary();
    if ((this.dbgArmed & Armed.HOST) !== 0) hostDebugBefore(this);
    debugBefore(this);
  }

  /** Debug traps after an instruction completed: see ./debug.ts. */
  debugAfter(): void {
    debugAfter(this);
  }

  /** Ends `run` after the current instruction with `reason`. */
  requestStop(reason: Stop): void {
    this.stopReason = reason;
    this.stopRequested = true;
    this.jitBreak = 1;
  }

  // Installed by ./interrupts.ts so this file need not know the delivery rules.
  interrupts: { deliver(cpu: Cpu, vector: number, code: number, software: boolean): boolean } = INTERRUPTS;
}
