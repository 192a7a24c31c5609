// The instruction decoder: prefixes, opcode, ModRM/SIB/displacement and immediates, driven by the
// opcode tables. It runs once per instruction the CPU first meets (the CPU caches the result) and
// over whole kernels for the disassembler, so it allocates nothing when given an Insn to fill.

import { Am, type Choice, EntryFlag, Imm, NodeKind, OpEntry, type OpNode } from "./opcode-entry.js";
import { OPCODES } from "./opcodes.js";
import { type ByteSource, type Insn, OpMap, Prefix, Reg, Seg } from "./insn.js";

/** The architectural limit on instruction length; longer ones raise #GP (objdump: "(bad)"). */
export const MAX_INSN_LEN = 15;

/** A blank Insn with every field present, so all Insns share one object shape. */
export function emptyInsn(): Insn {
  return {
    len: 0, op: 0, prefixes: 0, opsize: 32, adsize: 32, segOverride: -1, seg: Seg.DS,
    modrm: -1, mod: -1, reg: -1, rm: -1, base: -1, index: -1, scale: 0, disp: 0,
    imm: 0, imm2: 0, invalid: false, entry: null, exec: null,
  };
}

// The byte cursor. Module state rather than a closure keeps decode() allocation-free; decode is
// not re-entrant (a ByteSource never decodes).
let src: ByteSource;
let start = 0;
let pos = 0;
/** Set when the instruction ran past MAX_INSN_LEN bytes. */
let tooLong = false;

/**
 * Whether the last `decode` stopped at MAX_INSN_LEN: that instruction is marked invalid, but the
 * CPU raises #GP(0) for it rather than the #UD of an undefined encoding (SDM vol. 2, 2.3.11).
 */
export function lastDecodeTooLong(): boolean {
  return tooLong;
}

function next(): number {
  if (pos >= MAX_INSN_LEN) {
    tooLong = true;
    return 0;
  }
  return src.byte((start + pos++) >>> 0) & 0xff;
}
function next16(): number {
  const lo = next();
  return lo | (next() << 8);
}
function next32(): number {
  const lo = next16();
  return (lo | (next16() << 16)) | 0;
}

/** 16-bit addressing's eight r/m forms: base and index registers (-1: none). */
const BASE16 = [Reg.EBX, Reg.EBX, Reg.EBP, Reg.EBP, Reg.ESI, Reg.EDI, Reg.EBP, Reg.EBX];
const INDEX16 = [Reg.ESI, Reg.EDI, Reg.ESI, Reg.EDI, -1, -1, -1, -1];

const SEG_PREFIX: Record<number, Seg> = {
  0x26: Seg.ES, 0x2e: Seg.CS, 0x36: Seg.SS, 0x3e: Seg.DS, 0x64: Seg.FS, 0x65: Seg.GS,
};
/** Segment register number of each byte that is a segment prefix, else -1. */
const SEG_OF = new Int8Array(256).fill(-1);
for (const [b, s] of Object.entries(SEG_PREFIX)) SEG_OF[Number(b)] = s;

/**
 * Decodes the instruction at `addr` (read through `src`) for a code segment whose default
 * operand and address size is 32-bit (`default32`) or 16-bit. Fills and returns `out` if given.
 */
export function decode(source: ByteSource, addr: number, default32: boolean, out?: Insn): Insn {
  const i = out ?? emptyInsn();
  src = source;
  start = addr;
  pos = 0;
  tooLong = false;

  // Prefixes. The last segment override wins, and so does the last of F2/F3.
  let prefixes = 0;
  let segOverride = -1;
  let b = next();
  for (;;) {
    const s = SEG_OF[b];
    if (s >= 0) {
      segOverride = s;
      prefixes |= Prefix.SEG;
    } else if (b === 0x66) prefixes |= Prefix.OPSIZE;
    else if (b === 0x67) prefixes |= Prefix.ADSIZE;
    else if (b === 0xf0) prefixes |= Prefix.LOCK;
    else if (b === 0xf3) prefixes = (prefixes & ~Prefix.REPNE) | Prefix.REP;
    else if (b === 0xf2) prefixes = (prefixes & ~Prefix.REP) | Prefix.REPNE;
    else break;
    if (tooLong) break;
    b = next();
  }
  const opsize = (prefixes & Prefix.OPSIZE) !== 0 !== default32 ? 32 : 16;
  const adsize = (prefixes & Prefix.ADSIZE) !== 0 !== default32 ? 32 : 16;

  // Opcode.
  let op = b;
  if (b === 0x0f) {
    const b2 = next();
    op = b2 === 0x38 ? OpMap.THREE_38 | next() : b2 === 0x3a ? OpMap.THREE_3A | next() : OpMap.TWO | b2;
  }
  const opEnd = pos;

  // Walk the table down to the entry, reading the ModRM byte when a choice or the entry needs it.
  let modrm = -1;
  let n: OpNode = OPCODES[op];
  while (n.kind !== NodeKind.Leaf) {
    const c = n as Choice;
    switch (c.kind) {
      case NodeKind.ByPrefix: {
        // F2/F3 select before 66 (the last of F2/F3 is the one in `prefixes`).
        const k = prefixes & Prefix.REP ? 2 : prefixes & Prefix.REPNE ? 3 : prefixes & Prefix.OPSIZE ? 1 : 0;
        n = c.next[k];
        break;
      }
      case NodeKind.ByReg:
        if (modrm < 0) modrm = next();
        n = c.next[(modrm >> 3) & 7];
        break;
      case NodeKind.ByMod:
        if (modrm < 0) modrm = next();
        n = c.next[modrm >= 0xc0 ? 1 : 0];
        break;
      default: // ByRm
        if (modrm < 0) modrm = next();
        n = c.next[modrm & 7];
        break;
    }
  }
  const e = n as OpEntry;
  if (e.modrm && modrm < 0) modrm = next();

  let invalid = (e.flags & EntryFlag.Invalid) !== 0;
  let mod = -1;
  let reg = -1;
  let rm = -1;
  let base = -1;
  let index = -1;
  let scale = 0;
  let disp = 0;
  let seg: number = Seg.DS;
  if (modrm >= 0) {
    mod = modrm >> 6;
    reg = (modrm >> 3) & 7;
    rm = modrm & 7;
    // MOV to/from CRn/DRn ignore the mod bits: the operand is always a register.
    if (mod !== 3 && !e.regOnly) {
      if (adsize === 32) {
        base = rm;
        if (rm === 4) {
          const sib = next();
          scale = sib >> 6;
          index = (sib >> 3) & 7;
          if (index === 4) index = -1;
          base = sib & 7;
          if (base === 5 && mod === 0) {
            base = -1;
            disp = next32();
          }
        } else if (rm === 5 && mod === 0) {
          base = -1;
          disp = next32();
        }
        if (base === Reg.EBP || base === Reg.ESP) seg = Seg.SS;
      } else if (mod === 0 && rm === 6) {
        disp = next16();
      } else {
        base = BASE16[rm];
        index = INDEX16[rm];
        if (base === Reg.EBP) seg = Seg.SS;
      }
      if (mod === 1) disp = (next() << 24) >> 24;
      else if (mod === 2) disp = adsize === 32 ? next32() : (next16() << 16) >> 16;
    }
  } else if (e.moffs) {
    // A0–A3 address memory directly: the offset is a displacement with no base or index.
    mod = 0;
    disp = adsize === 32 ? next32() : next16();
  }
  if (segOverride >= 0) seg = segOverride;

  // Immediates.
  let imm = 0;
  let imm2 = 0;
  if (e.imm1 !== Imm.None) {
    imm = readImm(e.imm1, opsize, e.imm1Signed);
    if (e.imm1 === Imm.P) imm2 = next16();
    else if (e.imm2 !== Imm.None) imm2 = readImm(e.imm2, opsize, false);
  }

  const misfit = operandsInvalid(e, mod);
  // objdump ends an undefined encoding after its opcode bytes (x87 escapes keep their ModRM);
  // matching it keeps listings in step. The CPU raises #UD, for which the length is moot.
  if ((invalid && e.ops.length === 0 && (op < 0xd8 || op > 0xdf)) || misfit) pos = opEnd;
  if (!invalid) invalid = misfit || ((prefixes & Prefix.LOCK) !== 0 && (mod === 3 || !(e.flags & EntryFlag.Lockable)));
  if (tooLong) {
    invalid = true;
    pos = MAX_INSN_LEN;
  }

  i.len = pos;
  i.op = op;
  i.prefixes = prefixes;
  i.opsize = opsize;
  i.adsize = adsize;
  i.segOverride = segOverride;
  i.seg = seg;
  i.modrm = modrm;
  i.mod = mod;
  i.reg = reg;
  i.rm = rm;
  i.base = base;
  i.index = index;
  i.scale = scale;
  i.disp = disp;
  i.imm = imm;
  i.imm2 = imm2;
  i.invalid = invalid;
  i.entry = e;
  i.exec = null;
  return i;
}

function readImm(kind: Imm, opsize: number, signed: boolean): number {
  switch (kind) {
    case Imm.B: {
      const v = next();
      return signed ? (v << 24) >> 24 : v;
    }
    case Imm.W:
      return next16();
    default: // Z, and the offset of P
      if (opsize === 32) return next32();
      return signed ? (next16() << 16) >> 16 : next16();
  }
}

/** Register-only operands given memory, or memory-only operands given a register. */
export function operandsInvalid(e: OpEntry, mod: number): boolean {
  if (mod < 0 || e.regOnly) return false;
  for (const o of e.ops) {
    if (o.am === Am.M ? mod === 3 : (o.am === Am.U || o.am === Am.N) && mod !== 3) return true;
  }
  return false;
}
