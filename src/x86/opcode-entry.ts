// The shape of the opcode tables (src/x86/opcodes*.ts) and the little language they are written
// in. Tables are written as short strings in the SDM's operand notation ("add Ev,Gv",
// "imul Gv,Ev,sIb") and compiled once, at load, into OpEntry objects that the decoder walks and
// the disassembler prints; an interpreter can key its handlers on the same entries.

/** Addressing method of an operand: where its value comes from (SDM Appendix A.2.1). */
export const enum Am {
  /** ModRM r/m: a general register or memory. */
  E,
  /** ModRM reg: a general register. */
  G,
  /** ModRM r/m, memory only (a register form is #UD). */
  M,
  /** ModRM r/m, register only (the mod bits are ignored, as for MOV to/from CRn). */
  R,
  /** Immediate, zero-extended (or an operand-sized value). */
  I,
  /** 8-bit immediate sign-extended to the operand size (83 /x, 6A, 6B). */
  SI,
  /** Relative branch target, sign-extended rel8/rel16/rel32. */
  J,
  /** Far pointer immediate: offset then selector (9A, EA). */
  A,
  /** moffs: an address-sized offset with no ModRM (A0–A3). */
  O,
  /** ModRM reg as a segment register. */
  S,
  /** ModRM reg as a control register. */
  C,
  /** ModRM reg as a debug register. */
  D,
  /** ModRM reg as an XMM register. */
  V,
  /** ModRM r/m: an XMM register or memory. */
  W,
  /** ModRM r/m, register only: an XMM register. */
  U,
  /** ModRM reg as an MMX register. */
  P,
  /** ModRM r/m: an MMX register or memory. */
  Q,
  /** ModRM r/m, register only: an MMX register. */
  N,
  /** A fixed general register (`reg` holds its number; 8-bit numbering for byte size). */
  Reg,
  /** A general register named by the low three opcode bits (50+r, B8+r, ...). */
  Z,
  /** A fixed segment register. */
  Sreg,
  /** The constant 1 of the shift-by-one forms. */
  One,
  /** x87 st(0), printed "st". */
  St0,
  /** x87 st(i) from ModRM r/m. */
  Sti,
  /** String source DS:[eSI] (segment overridable). */
  X,
  /** String destination ES:[eDI]. */
  Y,
  /** XLAT's DS:[eBX+AL]. */
  Xlat,
  /** The implicit xmm0 of the SSE4.1 blends. */
  Xmm0,
  /** ModRM reg as a test register (the 486's TR3–TR7, MOV 0F 24/26). */
  T,
  /** ModRM reg as an MPX bound register. */
  Bnd,
  /** ModRM r/m: an MPX bound register or memory. */
  BndE,
}

/** Operand size code (SDM Appendix A.2.2), which also picks objdump's "... PTR" keyword. */
export const enum Sz {
  /** No size: LEA, LGDT, FXSAVE... print no PTR keyword. */
  None,
  B,
  W,
  D,
  Q,
  /** Word or doubleword by operand size. */
  V,
  /** Word for 16-bit operand size, doubleword otherwise (immediates never grow past 32 bits). */
  Z,
  /** Far pointer: 32-bit or 48-bit by operand size (DWORD PTR / FWORD PTR). */
  P,
  /** BOUND's pair: two words or two doublewords. */
  A,
  /** 128 bits (XMMWORD PTR). */
  X,
  /** 80-bit x87 (TBYTE PTR). */
  T,
  /** A word in memory, an operand-sized register (MOV Sreg, SLDT, STR, SMSW). */
  Wv,
  /** 128 bits without objdump's size keyword (INVPCID's descriptor). */
  Xn,
  /** A byte in memory, a doubleword register (PEXTRB, PINSRB). */
  Db,
  /** A word in memory, a doubleword register (PEXTRW). */
  Dw,
  /** A doubleword register, or memory without objdump's size keyword (BNDCL). */
  Dn,
}

export interface Operand {
  readonly am: Am;
  readonly size: Sz;
  /** For Reg/Sreg: the register number. */
  readonly reg: number;
}

/** Kinds of table node; OpEntry is a leaf, the others choose a child. */
export const enum NodeKind {
  Leaf,
  /** Children indexed by ModRM.reg. */
  ByReg,
  /** Children [memory form, register form]. */
  ByMod,
  /** Children indexed by ModRM.rm (register forms of 0F 01, x87 D9 E0–FF...). */
  ByRm,
  /** Children indexed by mandatory prefix: [none, 66, F3, F2]. */
  ByPrefix,
}

/** Bits of OpEntry.flags. */
export const enum EntryFlag {
  /** An undefined encoding: objdump's "(bad)", the CPU's #UD. */
  Invalid = 1,
  /** The mnemonic's variant is picked by address size, not operand size (JECXZ/JCXZ). */
  ByAdsize = 2,
  /** A string instruction: F3/F2 are REP prefixes, and 67 changes its operands. */
  String = 4,
  /** The string instruction compares, so F3 is spelled "repz" rather than "rep". */
  StringCmp = 8,
  /** Selected by a mandatory 66/F2/F3 prefix, which is then not an operand-size or REP prefix. */
  MandatoryPrefix = 16,
  /** The operation depends on the operand size even though no operand shows it (CWDE, IRET...). */
  SizedByOpsize = 32,
  /** A near branch: F2 is spelled "bnd". */
  Branch = 64,
  /** An indirect near branch: 3E is spelled "notrack". */
  Indirect = 128,
  /** Accepts a ModRM byte whose operands the entry does not use (register forms of 0F 01...). */
  HasModrm = 256,
  /** Accepts LOCK when its destination is memory (and then F2/F3 are XACQUIRE/XRELEASE). */
  Lockable = 512,
  /** A store that F3 turns into an XRELEASE without LOCK (MOV to memory). */
  Release = 1024,
  /** An undefined form that objdump shows as a bare "(bad)", its prefixes unnamed. */
  QuietBad = 2048,
  /**
   * A hint NOP in a column that F3 or F2 selects (0F 1B, 1C, 1E): objdump names the F3/F2, and a
   * 66 too, although the 66 still sizes the operand ("repz data16 nop WORD PTR [eax]").
   */
  NamesPrefixes = 4096,
}

/** What immediate bytes follow the ModRM/SIB/displacement. */
export const enum Imm {
  None,
  /** One byte. */
  B,
  /** Two bytes. */
  W,
  /** Two or four bytes by operand size. */
  Z,
  /** Far pointer: a Z-sized offset then a 16-bit selector. */
  P,
}

export class OpEntry {
  readonly kind = NodeKind.Leaf;
  /** objdump's mnemonic at 32-bit (operand or address) size. */
  readonly mnem: string;
  /** objdump's mnemonic at 16-bit size (same as `mnem` for most instructions). */
  readonly mnem16: string;
  readonly ops: readonly Operand[];
  readonly flags: number;
  /** Whether the encoding has a ModRM byte. */
  readonly modrm: boolean;
  /** The immediates that follow, in order; `imm1Signed` tells whether the first is sign-extended. */
  readonly imm1: Imm;
  readonly imm2: Imm;
  readonly imm1Signed: boolean;
  /** Whether an operand is a moffs (A0–A3): an address-sized offset follows the opcode. */
  readonly moffs: boolean;
  /** Whether r/m always names a register whatever the mod bits say (MOV CRn/DRn/TRn). */
  readonly regOnly: boolean;

  constructor(mnem: string, mnem16: string, ops: readonly Operand[], flags: number) {
    this.mnem = mnem;
    this.mnem16 = mnem16;
    this.ops = ops;
    let modrm = (flags & EntryFlag.HasModrm) !== 0;
    let imm1 = Imm.None;
    let imm2 = Imm.None;
    let signed = false;
    let moffs = false;
    for (const o of ops) {
      let imm = Imm.None;
      switch (o.am) {
        case Am.E: case Am.G: case Am.M: case Am.R: case Am.S: case Am.C: case Am.D:
        case Am.V: case Am.W: case Am.U: case Am.P: case Am.Q: case Am.N: case Am.Sti:
        case Am.T: case Am.Bnd: case Am.BndE:
          modrm = true;
          break;
        case Am.I:
          imm = o.size === Sz.B ? Imm.B : o.size === Sz.W ? Imm.W : Imm.Z;
          break;
        case Am.SI:
          imm = Imm.B;
          signed = imm1 === Imm.None;
          break;
        case Am.J:
          imm = o.size === Sz.B ? Imm.B : Imm.Z;
          signed = true;
          break;
        case Am.A:
          imm = Imm.P;
          break;
        case Am.O:
          moffs = true;
          break;
      }
      if (imm === Imm.None) continue;
      if (imm1 === Imm.None) imm1 = imm;
      else imm2 = imm;
    }
    this.flags = flags;
    this.modrm = modrm;
    this.imm1 = imm1;
    this.imm2 = imm2;
    this.imm1Signed = signed;
    this.moffs = moffs;
    this.regOnly = ops.some((o) => o.am === Am.R);
  }
}

export class Choice {
  readonly kind: NodeKind;
  readonly next: readonly OpNode[];
  constructor(kind: NodeKind, next: readonly OpNode[]) {
    this.kind = kind;
    this.next = next;
  }
}

export type OpNode = OpEntry | Choice;

// ------------------------------------------------------------------------------------------------
// The table language

const REG_NAMES: Record<string, [Sz, number]> = {
  AL: [Sz.B, 0], CL: [Sz.B, 1], DX: [Sz.W, 2],
  eAX: [Sz.V, 0], eCX: [Sz.V, 1], eDX: [Sz.V, 2], eBX: [Sz.V, 3],
  eSP: [Sz.V, 4], eBP: [Sz.V, 5], eSI: [Sz.V, 6], eDI: [Sz.V, 7],
  AX: [Sz.W, 0], EAX: [Sz.D, 0], ECX: [Sz.D, 1], EDX: [Sz.D, 2], EBX: [Sz.D, 3],
};
const SREG_NAMES: Record<string, number> = { ES: 0, CS: 1, SS: 2, DS: 3, FS: 4, GS: 5 };
const SIZES: Record<string, Sz> = {
  "": Sz.None, b: Sz.B, w: Sz.W, d: Sz.D, q: Sz.Q, v: Sz.V, z: Sz.Z, p: Sz.P, a: Sz.A,
  x: Sz.X, t: Sz.T, wv: Sz.Wv, xn: Sz.Xn, db: Sz.Db, dw: Sz.Dw, dn: Sz.Dn,
};
const METHODS: Record<string, Am> = {
  E: Am.E, G: Am.G, M: Am.M, R: Am.R, I: Am.I, sI: Am.SI, J: Am.J, A: Am.A, O: Am.O, S: Am.S,
  C: Am.C, D: Am.D, V: Am.V, W: Am.W, U: Am.U, P: Am.P, Q: Am.Q, N: Am.N, Z: Am.Z, X: Am.X,
  Y: Am.Y, T: Am.T, Bnd: Am.Bnd, BndE: Am.BndE,
};

const operandCache = new Map<string, Operand>();

/** Parses one operand token: "Ev", "sIb", "AL", "ES", "1", "ST", "STi", "XLAT", "XMM0". */
function operand(tok: string): Operand {
  const hit = operandCache.get(tok);
  if (hit) return hit;
  let o: Operand;
  const r = REG_NAMES[tok];
  if (r) o = { am: Am.Reg, size: r[0], reg: r[1] };
  else if (tok in SREG_NAMES) o = { am: Am.Sreg, size: Sz.W, reg: SREG_NAMES[tok] };
  else if (tok === "1") o = { am: Am.One, size: Sz.B, reg: 0 };
  else if (tok === "ST") o = { am: Am.St0, size: Sz.None, reg: 0 };
  else if (tok === "STi") o = { am: Am.Sti, size: Sz.None, reg: 0 };
  else if (tok === "XLAT") o = { am: Am.Xlat, size: Sz.B, reg: 0 };
  else if (tok === "XMM0") o = { am: Am.Xmm0, size: Sz.X, reg: 0 };
  else {
    const m = /^(sI|Bnd|BndE|[A-Z])([a-z]*)$/.exec(tok);
    if (!m || !(m[1] in METHODS) || !(m[2] in SIZES)) throw new Error(`opcode table: bad operand "${tok}"`);
    o = { am: METHODS[m[1]], size: SIZES[m[2]], reg: 0 };
  }
  operandCache.set(tok, o);
  return o;
}

/** Flags a table string can carry after its operands, as " !flag". */
const FLAG_NAMES: Record<string, number> = {
  adsize: EntryFlag.ByAdsize,
  str: EntryFlag.String,
  strcmp: EntryFlag.String | EntryFlag.StringCmp,
  osz: EntryFlag.SizedByOpsize,
  br: EntryFlag.Branch,
  ibr: EntryFlag.Branch | EntryFlag.Indirect,
  modrm: EntryFlag.HasModrm,
  lk: EntryFlag.Lockable,
  bad: EntryFlag.Invalid,
  rel: EntryFlag.Release,
};

export const BAD = new OpEntry("(bad)", "(bad)", [], EntryFlag.Invalid);
/** The missing unprefixed form of an instruction that exists only with 66 (most of SSE4). */
export const BAD_WITHOUT_66 = new OpEntry("(bad)", "(bad)", [], EntryFlag.Invalid | EntryFlag.QuietBad);
/** An undefined encoding that still has a ModRM byte, e.g. a hole in a ModRM.reg group. */
export const BAD_MODRM = new OpEntry("(bad)", "(bad)", [], EntryFlag.Invalid | EntryFlag.HasModrm);

/**
 * Compiles one table string: "mnem[|mnem16] [op,op,...] [!flag...]", or "" for an undefined
 * encoding. `extraFlags` are or-ed in (the SSE tables mark their mandatory-prefix forms).
 */
export function entry(spec: string, extraFlags = 0): OpEntry {
  if (spec === "") return extraFlags === 0 ? BAD : new OpEntry("(bad)", "(bad)", [], EntryFlag.Invalid | extraFlags);
  const words = spec.split(" ");
  // "_" stands for a space inside a mnemonic: objdump's "fneni(8087 only)".
  const [mnem, mnem16 = mnem] = words[0].replaceAll("_", " ").split("|");
  let flags = extraFlags;
  let ops: Operand[] = [];
  for (const w of words.slice(1)) {
    if (w.startsWith("!")) {
      const f = FLAG_NAMES[w.slice(1)];
      if (f === undefined) throw new Error(`opcode table: bad flag "${w}" in "${spec}"`);
      flags |= f;
    } else {
      ops = w.split(",").map(operand);
    }
  }
  return new OpEntry(mnem, mnem16, ops, flags);
}

/** A table cell: a spec string, or an already-built node. */
export type Cell = string | OpNode;

export function node(c: Cell, extraFlags = 0): OpNode {
  return typeof c === "string" ? entry(c, extraFlags) : c;
}

/** A ModRM.reg group: eight cells. */
export function byReg(cells: readonly Cell[]): Choice {
  if (cells.length !== 8) throw new Error("opcode table: a group has eight members");
  return new Choice(NodeKind.ByReg, cells.map((c) => groupMember(node(c))));
}

/** Memory form and register form. */
export function byMod(mem: Cell, reg: Cell): Choice {
  return new Choice(NodeKind.ByMod, [groupMember(node(mem)), groupMember(node(reg))]);
}

/** Register forms by ModRM.rm: eight cells. */
export function byRm(cells: readonly Cell[]): Choice {
  if (cells.length !== 8) throw new Error("opcode table: an rm row has eight members");
  return new Choice(NodeKind.ByRm, cells.map((c) => groupMember(node(c))));
}

/**
 * Forms selected by mandatory prefix: none, 66, F3, F2. A missing (or null) cell means the prefix
 * selects nothing and the instruction is the unprefixed form, with the prefix keeping its usual
 * meaning; "" means the prefixed encoding is undefined.
 */
export function byPrefix(none: Cell, p66: Cell | null = "", pF3: Cell | null = "", pF2: Cell | null = ""): Choice {
  const plain = node(none);
  const prefixed = (c: Cell | null) => (c === null ? plain : withFlags(node(c), EntryFlag.MandatoryPrefix));
  return new Choice(NodeKind.ByPrefix, [plain, prefixed(p66), prefixed(pF3), prefixed(pF2)]);
}

/**
 * Forms selected by prefix, each cell saying itself whether it consumes the prefix (see
 * `mandatory`): for the hint-NOP space, where one column mixes new instructions with NOPs.
 */
export function byPrefixMixed(none: Cell, p66: Cell, pF3: Cell, pF2: Cell): Choice {
  return new Choice(NodeKind.ByPrefix, [node(none), node(p66), node(pF3), node(pF2)]);
}

/** The cell as an instruction that its mandatory prefix selected (for `byPrefixMixed`). */
export function mandatory(c: Cell): OpNode {
  return withFlags(node(c), EntryFlag.MandatoryPrefix);
}

/** The node with `flags` added to every entry under it. */
function withFlags(n: OpNode, flags: number): OpNode {
  if (n instanceof Choice) return new Choice(n.kind, n.next.map((c) => withFlags(c, flags)));
  return new OpEntry(n.mnem, n.mnem16, n.ops, n.flags | flags);
}

/** Inside a ModRM-selected choice an undefined member still owns its ModRM byte. */
function groupMember(n: OpNode): OpNode {
  return n === BAD ? BAD_MODRM : n;
}
