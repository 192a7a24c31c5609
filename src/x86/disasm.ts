// Intel-syntax disassembly that reproduces, character for character, what GNU objdump 2.40
// (`objdump -d -M intel`) prints for 32-bit (and 16-bit) code, so its output can be diffed
// against objdump's and read by people used to it.

import { Am, EntryFlag, OpEntry, type Operand, Sz } from "./opcode-entry.js";
import { decode, emptyInsn, operandsInvalid } from "./decoder.js";
import { type ByteSource, type Insn, Prefix, Reg, Seg } from "./insn.js";

const REG8 = ["al", "cl", "dl", "bl", "ah", "ch", "dh", "bh"];
const REG16 = ["ax", "cx", "dx", "bx", "sp", "bp", "si", "di"];
const REG32 = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"];
const SREG = ["es", "cs", "ss", "ds", "fs", "gs", "?", "?"];

const hex = (v: number): string => `0x${(v >>> 0).toString(16)}`;

/** CMPPS's legacy predicates by immediate, as objdump spells them in the mnemonic. */
const CMP_PREDICATES = ["eq", "lt", "le", "unord", "neq", "nlt", "nle", "ord"];

/**
 * objdump's spelling of the instruction: prefixes, mnemonic padded to 6 columns, operands.
 * `src` (the bytes the instruction was decoded from) lets repeated prefixes be shown in their
 * byte order, as objdump does; without it the prefixes the Insn records are shown.
 */
export function formatInsn(insn: Insn, addr: number, src?: ByteSource): string {
  const e = insn.entry as OpEntry;
  const bad = (e.flags & EntryFlag.Invalid && e.ops.length === 0) || operandsInvalid(e, insn.mod);
  if (bad) return e.flags & EntryFlag.QuietBad ? "(bad)" : `${prefixWords(insn, e, true, src, addr)}(bad)`;

  let mnem = mnemonic(insn, e);
  let nops = e.ops.length;
  // objdump names CMPPS/CMPPD/CMPSS/CMPSD's legacy predicates (0 to 7) in the mnemonic instead.
  if (insn.op === 0x1c2 && (insn.imm & 0xff) < CMP_PREDICATES.length) {
    mnem = `cmp${CMP_PREDICATES[insn.imm & 0xff]}${mnem.slice(3)}`;
    nops--;
  }
  let ops = "";
  let imms = 0;
  for (let k = 0; k < nops; k++) {
    const o = e.ops[k];
    if (k > 0) ops += ",";
    ops += operand(insn, o, addr, imms > 0);
    if (o.am === Am.I || o.am === Am.SI) imms++;
  }
  const text = prefixWords(insn, e, false, src, addr) + mnem;
  return ops === "" ? text : `${text.padEnd(6)} ${ops}`;
}

/**
 * The mnemonic at the instruction's size. Names that differ only by objdump's size suffix
 * ("ret"/"retw") take it only when a 66 prefix moves away from the segment's default size:
 * "w" in 32-bit code, "d" in 16-bit code.
 */
function mnemonic(insn: Insn, e: OpEntry): string {
  if (e.mnem16 === e.mnem) return e.mnem;
  if (e.mnem16 === `${e.mnem}w`) {
    if (!(insn.prefixes & Prefix.OPSIZE)) return e.mnem;
    return insn.opsize === 16 ? e.mnem16 : `${e.mnem}d`;
  }
  return (e.flags & EntryFlag.ByAdsize ? insn.adsize : insn.opsize) === 16 ? e.mnem16 : e.mnem;
}

/** Whether the instruction was decoded for a 32-bit code segment. */
function code32(insn: Insn): boolean {
  return (insn.opsize === 32) !== ((insn.prefixes & Prefix.OPSIZE) !== 0);
}

/** Prefix bytes in the order objdump would meet them, when the instruction bytes are unknown. */
function canonicalPrefixes(insn: Insn): number[] {
  const p = insn.prefixes;
  const out: number[] = [];
  if (p & Prefix.SEG) out.push(SEG_PREFIX_BYTE[insn.segOverride]);
  if (p & Prefix.OPSIZE) out.push(0x66);
  if (p & Prefix.ADSIZE) out.push(0x67);
  if (p & Prefix.LOCK) out.push(0xf0);
  if (p & Prefix.REP) out.push(0xf3);
  if (p & Prefix.REPNE) out.push(0xf2);
  return out;
}

const SEG_PREFIX_BYTE = [0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65];

function prefixClass(b: number): number {
  return b === 0x66 ? 1 : b === 0x67 ? 2 : b === 0xf0 ? 3 : b === 0xf2 || b === 0xf3 ? 4 : 0;
}

/**
 * The prefixes objdump names before the mnemonic ("lock ", "rep ", "data16 ", "cs "...): those
 * the instruction does not consume. Of repeated prefixes of one kind only the last takes effect,
 * so the earlier ones are always named. For an undefined encoding (`bad`) all are named but a
 * mandatory prefix that selected it.
 */
function prefixWords(insn: Insn, e: OpEntry, bad: boolean, src: ByteSource | undefined, addr: number): string {
  const p = insn.prefixes;
  if (p === 0) return "";
  let bytes: number[];
  if (src) {
    bytes = [];
    for (let k = 0; k < insn.len; k++) {
      const b = src.byte((addr + k) >>> 0);
      if (b !== 0x66 && b !== 0x67 && b !== 0xf0 && b !== 0xf2 && b !== 0xf3 && SEG_PREFIX_BYTE.indexOf(b) < 0) break;
      bytes.push(b);
    }
  } else {
    bytes = canonicalPrefixes(insn);
  }
  const last = [-1, -1, -1, -1, -1];
  bytes.forEach((b, k) => (last[prefixClass(b)] = k));

  const mandatory = (e.flags & EntryFlag.MandatoryPrefix) !== 0;
  const repConsumed = mandatory && (p & (Prefix.REP | Prefix.REPNE)) !== 0;
  const memory = hasMemory(insn, e);
  // Hardware lock elision: F2/F3 on a LOCKed (or implicitly locked XCHG) store, F3 on a MOV store.
  const hle = memory && (e.flags & EntryFlag.Lockable) !== 0 && ((p & Prefix.LOCK) !== 0 || e.mnem === "xchg");
  const used = [
    !bad && usesSegment(insn, e),
    mandatory && !repConsumed ? true : !bad && (e.flags & EntryFlag.NamesPrefixes) === 0 && usesOpsize(insn, e),
    !bad && usesAdsize(insn, e),
    false,
    repConsumed,
  ];
  let s = "";
  bytes.forEach((b, k) => {
    const c = prefixClass(b);
    const active = last[c] === k;
    if (active && used[c]) return;
    switch (c) {
      case 0:
        s += active && b === 0x3e && !bad && e.flags & EntryFlag.Indirect ? "notrack " : `${SREG[SEG_PREFIX_BYTE.indexOf(b)]} `;
        break;
      case 1:
        s += code32(insn) ? "data16 " : "data32 ";
        break;
      case 2:
        s += code32(insn) ? "addr16 " : "addr32 ";
        break;
      case 3:
        s += "lock ";
        break;
      default:
        if (!active || bad) s += b === 0xf3 ? "repz " : "repnz ";
        else if (b === 0xf3) {
          s += (e.flags & (EntryFlag.String | EntryFlag.StringCmp)) === EntryFlag.String ? "rep "
            : hle || (memory && e.flags & EntryFlag.Release) ? "xrelease " : "repz ";
        } else {
          s += e.flags & EntryFlag.Branch ? "bnd " : hle ? "xacquire " : "repnz ";
        }
    }
  });
  return s;
}

function hasMemory(insn: Insn, e: OpEntry): boolean {
  return (insn.modrm >= 0 && insn.mod !== 3 && !e.regOnly) || e.moffs;
}

function usesSegment(insn: Insn, e: OpEntry): boolean {
  if (hasMemory(insn, e)) return !(e.flags & EntryFlag.Indirect && insn.segOverride === Seg.DS);
  return e.ops.some((o) => o.am === Am.X || o.am === Am.Xlat);
}

function usesOpsize(insn: Insn, e: OpEntry): boolean {
  // A mnemonic pair picked by the address size (JECXZ/JCXZ) leaves the operand size unused.
  if (e.flags & EntryFlag.SizedByOpsize || (e.mnem !== e.mnem16 && !(e.flags & EntryFlag.ByAdsize))) return true;
  return e.ops.some((o) =>
    o.size === Sz.V || o.size === Sz.Z || o.size === Sz.P || o.size === Sz.A ||
    (o.size === Sz.Wv && insn.mod === 3) || (o.am === Am.J && o.size !== Sz.B));
}

/**
 * objdump counts 67 as used by memory operands (but not moffs ones, nor, in 16-bit code, a 32-bit
 * address with neither base nor index, whose text does not show the address size), strings and
 * JCXZ.
 */
function usesAdsize(insn: Insn, e: OpEntry): boolean {
  if (e.flags & (EntryFlag.ByAdsize | EntryFlag.String)) return true;
  const shownSize = !(insn.adsize === 32 && !code32(insn) && insn.base < 0 && insn.index < 0);
  return (insn.modrm >= 0 && insn.mod !== 3 && !e.regOnly && shownSize) || e.ops.some((o) => o.am === Am.Xlat);
}

function gpr(size: Sz, n: number, opsize: number): string {
  switch (size) {
    case Sz.B:
      return REG8[n];
    case Sz.W:
      return REG16[n];
    case Sz.V: case Sz.Z: case Sz.Wv:
      return opsize === 16 ? REG16[n] : REG32[n];
    default:
      return REG32[n];
  }
}

function ptr(size: Sz, opsize: number): string {
  switch (size) {
    case Sz.B: case Sz.Db:
      return "BYTE PTR ";
    case Sz.W: case Sz.Wv: case Sz.Dw:
      return "WORD PTR ";
    case Sz.D:
      return "DWORD PTR ";
    case Sz.Q:
      return "QWORD PTR ";
    case Sz.V: case Sz.Z:
      return opsize === 16 ? "WORD PTR " : "DWORD PTR ";
    case Sz.P:
      return opsize === 16 ? "DWORD PTR " : "FWORD PTR ";
    case Sz.A:
      return opsize === 16 ? "DWORD PTR " : "QWORD PTR ";
    case Sz.X:
      return "XMMWORD PTR ";
    case Sz.T:
      return "TBYTE PTR ";
    default:
      return "";
  }
}

function immMask(size: Sz, opsize: number): number {
  if (size === Sz.B) return 0xff;
  if (size === Sz.W || opsize === 16) return 0xffff;
  return 0xffffffff;
}

/** One operand; `second` says an immediate is the instruction's second one (ENTER's level). */
function operand(insn: Insn, o: Operand, addr: number, second: boolean): string {
  const opsize = insn.opsize;
  switch (o.am) {
    case Am.E:
      return insn.mod === 3 ? gpr(o.size, insn.rm, opsize) : ptr(o.size, opsize) + memory(insn);
    case Am.G:
      return gpr(o.size, insn.reg, opsize);
    case Am.M:
      return ptr(o.size, opsize) + memory(insn);
    case Am.R:
      return gpr(o.size, insn.rm, opsize);
    case Am.I:
      return hex((second ? insn.imm2 : insn.imm) & immMask(o.size, opsize));
    case Am.SI:
      return hex(insn.imm & immMask(Sz.V, opsize));
    case Am.J: {
      // objdump wraps a rel16 target to 16 bits in 32-bit code (66 asked for it), and within
      // the instruction's own 64K block in 16-bit code.
      const target = addr + insn.len + insn.imm;
      if (opsize === 32 || o.size === Sz.B) return hex(target);
      return hex(code32(insn) ? target & 0xffff : (addr & ~0xffff) | (target & 0xffff));
    }
    case Am.A:
      return `${hex(insn.imm2)}:${hex(insn.imm)}`;
    case Am.O:
      return memory(insn);
    case Am.S:
      return SREG[insn.reg];
    case Am.C:
      return `cr${insn.reg}`;
    case Am.D:
      return `dr${insn.reg}`;
    case Am.V:
      return `xmm${insn.reg}`;
    case Am.W:
      return insn.mod === 3 ? `xmm${insn.rm}` : ptr(o.size, opsize) + memory(insn);
    case Am.U:
      return `xmm${insn.rm}`;
    case Am.P:
      return `mm${insn.reg}`;
    case Am.Q:
      return insn.mod === 3 ? `mm${insn.rm}` : ptr(o.size, opsize) + memory(insn);
    case Am.N:
      return `mm${insn.rm}`;
    case Am.Reg:
      return gpr(o.size, o.reg, opsize);
    case Am.Z:
      return gpr(o.size, insn.op & 7, opsize);
    case Am.Sreg:
      return SREG[o.reg];
    case Am.One:
      return "1";
    case Am.St0:
      return "st";
    case Am.Sti:
      return `st(${insn.rm})`;
    case Am.X:
      return `${ptr(o.size, opsize)}${SREG[insn.segOverride >= 0 ? insn.segOverride : Seg.DS]}:[${insn.adsize === 16 ? "si" : "esi"}]`;
    case Am.Y:
      return `${ptr(o.size, opsize)}es:[${insn.adsize === 16 ? "di" : "edi"}]`;
    case Am.Xlat:
      return `BYTE PTR ${SREG[insn.segOverride >= 0 ? insn.segOverride : Seg.DS]}:[${insn.adsize === 16 ? "bx" : "ebx"}]`;
    case Am.Xmm0:
      return "xmm0";
    case Am.T:
      return `tr${insn.reg}`;
    case Am.Bnd:
      return insn.reg < 4 ? `bnd${insn.reg}` : "(bad)";
    case Am.BndE:
      return insn.mod !== 3 ? memory(insn) : insn.rm < 4 ? `bnd${insn.rm}` : "(bad)";
  }
}

const BASE16_NAME = ["bx+si", "bx+di", "bp+si", "bp+di", "si", "di", "bp", "bx"];

/** The memory operand: "[ebx+esi*4-0x10]", "ds:0x1234", "fs:[eax]". */
function memory(insn: Insn): string {
  // On an indirect branch 3E is NOTRACK, named as a prefix rather than as a segment.
  const notrack = insn.segOverride === Seg.DS && (insn.entry as OpEntry).flags & EntryFlag.Indirect;
  const override = insn.segOverride >= 0 && !notrack ? `${SREG[insn.segOverride]}:` : "";
  const disp = insn.disp;
  // A SIB byte with neither base nor index is [eiz*1+disp] in 32-bit code, where objdump needs the
  // index to tell it from disp alone; in 16-bit code only a scale shows it.
  const eiz = insn.adsize === 32 && insn.rm === 4 && (code32(insn) || insn.scale !== 0);
  if (insn.base < 0 && insn.index < 0 && !eiz) {
    // An absolute address (including moffs): objdump always names the segment.
    return `${override || "ds:"}${hex(insn.adsize === 16 ? disp & 0xffff : disp)}`;
  }
  let s: string;
  if (insn.adsize === 16) {
    s = BASE16_NAME[insn.rm];
  } else {
    s = insn.base >= 0 ? REG32[insn.base] : "";
    // With a SIB byte objdump shows the scale even without an index, as the pseudo-register eiz,
    // except for the common [esp+...].
    if (insn.index >= 0 || (insn.rm === 4 && (insn.scale !== 0 || insn.base !== Reg.ESP))) {
      s += `${s ? "+" : ""}${insn.index >= 0 ? REG32[insn.index] : "eiz"}*${1 << insn.scale}`;
    }
  }
  if (insn.mod !== 0 || insn.base < 0) s += displacement(disp, insn.adsize);
  return `${override}[${s}]`;
}

function displacement(disp: number, adsize: number): string {
  if (adsize === 16) disp = (disp << 16) >> 16;
  return disp < 0 ? `-${hex(-disp)}` : `+${hex(disp)}`;
}

// ------------------------------------------------------------------------------------------------
// objdump's line layout

/** Bytes objdump shows per line; longer instructions continue on the next line. */
const BYTES_PER_LINE = 7;

/** A ByteSource over a buffer whose first byte is at address `base`; reads past the end give 0. */
export class BufferSource implements ByteSource {
  constructor(readonly buf: Uint8Array, readonly base: number) {}
  byte(addr: number): number {
    const k = addr - this.base;
    return k >= 0 && k < this.buf.length ? this.buf[k] : 0;
  }
}

/**
 * How many hex digits objdump gives addresses in a section ending at `end`: eight, less the
 * section's leading zero digits rounded down to a multiple of four (so small files get four).
 */
export function addressWidth(end: number): number {
  const digits = (end >>> 0).toString(16).padStart(8, "0");
  let zeros = 0;
  while (zeros < 8 && digits[zeros] === "0") zeros++;
  return zeros === 0 ? 8 : 8 - ((zeros - 1) & ~3);
}

function hexBytes(bytes: ArrayLike<number>, from: number, to: number): string {
  let s = "";
  for (let k = from; k < to; k++) s += `${bytes[k].toString(16).padStart(2, "0")} `;
  return s;
}

/**
 * One instruction in objdump's layout, e.g. " 8049110:\t31 ed                \txor    ebp,ebp":
 * the address right-aligned in `width` digits, up to seven bytes padded to a fixed column, the
 * text; longer instructions continue with their further bytes on lines of their own.
 */
export function formatLine(addr: number, bytes: ArrayLike<number>, text: string, width = 8): string {
  const at = (a: number) => (a >>> 0).toString(16).padStart(width);
  let out = `${at(addr)}:\t${hexBytes(bytes, 0, Math.min(bytes.length, BYTES_PER_LINE)).padEnd(BYTES_PER_LINE * 3)}\t${text}`;
  for (let k = BYTES_PER_LINE; k < bytes.length; k += BYTES_PER_LINE) {
    out += `\n${at(addr + k)}:\t${hexBytes(bytes, k, Math.min(bytes.length, k + BYTES_PER_LINE))}`;
  }
  return out;
}

/**
 * objdump takes FWAIT before an x87 instruction, prefixed or not, as that instruction's prefix:
 * one line, a no-wait control instruction shown as its waiting form ("9b db e3" is "finit"), any
 * other as it is ("9b d8 c1" is "fadd st,st(1)"); `next` is the instruction after the FWAIT.
 */
function waitingForm(next: Insn, addr: number, src: ByteSource): string | undefined {
  const e = next.entry as OpEntry;
  if (next.op < 0xd8 || next.op > 0xdf) return undefined;
  const text = formatInsn(next, addr, src);
  if (!e.mnem.startsWith("fn")) return text;
  const m = /^((?:\S+ )*?)fn(\S*)(?: +(.*))?$/.exec(text);
  if (!m) return undefined;
  const name = `${m[1]}f${m[2]}`;
  return m[3] === undefined ? name : `${name.padEnd(6)} ${m[3]}`;
}

/**
 * FWAIT with prefixes of its own (`len` bytes at `addr`) before an x87 instruction with none:
 * objdump gives it the prefixes ("66 9b d9 75 0e" is "fstenvw"), so it is decoded with them into
 * `out`, the FWAIT's byte left out.
 */
function prefixedWaitingForm(src: ByteSource, addr: number, len: number, bits: 16 | 32, out: Insn): string | undefined {
  const fwait = addr + len - 1;
  const without: ByteSource = { byte: (a) => src.byte(a < fwait ? a : a + 1) };
  decode(without, addr, bits === 32, out);
  return waitingForm(out, addr, without);
}

/** How disassembleBuffer lays out a listing beyond objdump's line format. */
export interface ListingOptions {
  /** Digits of the address column (default: from the buffer's last address). */
  width?: number;
  /**
   * objdump's symbolic form of a branch target ("7c1f <pm_entry+0x3>", for a file with symbols),
   * or undefined to leave it as "0x7c1f".
   */
  target?: (addr: number) => string | undefined;
  /** Runs of zero bytes shown as "\t...", as objdump -d does (its skip_zeroes rules). */
  skipZeroes?: boolean;
}

/** objdump's defaults: zeros skipped in runs of at least 8, or of fewer than 3 at the very end. */
const SKIP_ZEROES = 8, SKIP_ZEROES_AT_END = 3;

/**
 * How many of the zero bytes from `off` objdump skips as one "\t..." line (its skip_zeroes
 * rules), or 0 to show them.
 */
function zeroesToSkip(code: Uint8Array, off: number): number {
  let z = off;
  while (z < code.length && code[z] === 0) z++;
  if (z - off >= SKIP_ZEROES || (z === code.length && z > off && z - off < SKIP_ZEROES_AT_END)) {
    // Before more bytes, only whole words are skipped: an instruction may start with a zero.
    return z === code.length ? z - off : (z - off) & ~3;
  }
  return 0;
}

/** Bytes a line of data shows, as objdump -d shows a stretch it does not disassemble. */
const DATA_BYTES_PER_LINE = 16;

/**
 * Lists `code` (loaded at `base`) as data, as objdump -d lists the stretch of a data object's
 * symbol (STT_OBJECT) in a code section: sixteen bytes a line in hex, then as ASCII (a dot for
 * each byte that is not printable), runs of zeros as "\t..." when `skipZeroes` is set.
 */
export function dumpBuffer(code: Uint8Array, base: number, emit: (line: string) => void, opts: Pick<ListingOptions, "width" | "skipZeroes"> = {}): void {
  const width = opts.width ?? addressWidth(base + code.length);
  let off = 0;
  while (off < code.length) {
    const skip = opts.skipZeroes ? zeroesToSkip(code, off) : 0;
    if (skip > 0) {
      off += skip;
      emit("\t...");
      continue;
    }
    const end = Math.min(code.length, off + DATA_BYTES_PER_LINE);
    let ascii = "";
    for (let k = off; k < end; k++) ascii += code[k] >= 0x20 && code[k] < 0x7f ? String.fromCharCode(code[k]) : ".";
    emit(`${((base + off) >>> 0).toString(16).padStart(width)}:\t${hexBytes(code, off, end).padEnd(DATA_BYTES_PER_LINE * 3)}    ${ascii}`);
    off = end;
  }
}

/** A relative branch as formatInsn writes it: the mnemonic (and prefixes), then its target. */
const BRANCH = /^((?:\S+ )*(?:j[a-z]+|call|loop[a-z]*|xbegin) +)0x([0-9a-f]+)$/;

/** objdump lists an instruction the buffer's end cuts off by its first byte: a prefix by name. */
function cutOffPrefix(b: number, bits: 16 | 32): string | undefined {
  const seg = SEG_PREFIX_BYTE.indexOf(b);
  if (seg >= 0) return SREG[seg];
  switch (b) {
    case 0x66: return bits === 32 ? "data16" : "data32";
    case 0x67: return bits === 32 ? "addr16" : "addr32";
    case 0xf0: return "lock";
    case 0xf2: return "repnz";
    case 0xf3: return "repz";
    default: return undefined;
  }
}

/**
 * Disassembles `code` (loaded at `base`) from its start, one objdump line per instruction,
 * handing each line to `emit`. Like objdump, a byte that starts an instruction cut off by the
 * end of the buffer is shown as ".byte" (a prefix by its name), and the listing goes on from the
 * next byte.
 */
export function disassembleBuffer(code: Uint8Array, base: number, bits: 16 | 32, emit: (line: string) => void, opts: ListingOptions = {}): void {
  const src = new BufferSource(code, base);
  const insn = emptyInsn();
  const next = emptyInsn();
  const merged = emptyInsn();
  const width = opts.width ?? addressWidth(base + code.length);
  let off = 0;
  while (off < code.length) {
    const addr = (base + off) >>> 0;
    const skip = opts.skipZeroes ? zeroesToSkip(code, off) : 0;
    if (skip > 0) {
      off += skip;
      emit("\t...");
      continue;
    }
    decode(src, addr, bits === 32, insn);
    let len = insn.len;
    let text: string;
    if (off + len > code.length) {
      len = 1;
      text = cutOffPrefix(code[off], bits) ?? `.byte 0x${code[off].toString(16)}`;
    } else {
      text = formatInsn(insn, addr, src);
      if (insn.op === 0x9b && off + len < code.length) {
        decode(src, addr + len, bits === 32, next);
        let waiting: string | undefined;
        if (off + len + next.len <= code.length) {
          if (insn.prefixes === 0) waiting = waitingForm(next, addr + 1, src);
          else if (next.prefixes === 0) waiting = prefixedWaitingForm(src, addr, len, bits, merged);
        }
        if (waiting !== undefined) {
          text = waiting;
          len += next.len;
        }
      }
      const b = opts.target === undefined ? null : BRANCH.exec(text);
      if (b !== null) {
        const named = opts.target!(parseInt(b[2], 16));
        if (named !== undefined) text = `${b[1]}${named}`;
      }
    }
    emit(formatLine(addr, code.subarray(off, off + len), text, width));
    off += len;
  }
}
