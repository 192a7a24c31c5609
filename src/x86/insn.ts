// The decoded form of one IA32 instruction: the contract between the decoder (src/x86/decoder.ts),
// which fills it from the opcode tables, and everything that reads it — the disassembler, the
// CPU's execution core (src/machine), the VMM's MMIO emulator and the TUI.

/** General-purpose register numbers, in ModRM encoding order. */
export const enum Reg {
  EAX = 0, ECX = 1, EDX = 2, EBX = 3, ESP = 4, EBP = 5, ESI = 6, EDI = 7,
}

/** Segment register numbers, in ModRM `sreg` encoding order. */
export const enum Seg {
  ES = 0, CS = 1, SS = 2, DS = 3, FS = 4, GS = 5,
}

/** Bits of `Insn.prefixes`: which legacy prefixes the instruction carried. */
export const enum Prefix {
  LOCK = 1,
  REP = 2, // F3: REP / REPE / REPZ (or a mandatory F3 of an SSE form)
  REPNE = 4, // F2: REPNE / REPNZ (or a mandatory F2)
  OPSIZE = 8, // 66
  ADSIZE = 16, // 67
  SEG = 32, // some segment override; which one is in `segOverride`
}

/** Opcode maps, as the high bits of `Insn.op`. */
export const enum OpMap {
  ONE = 0x000, // one-byte map
  TWO = 0x100, // 0F xx
  THREE_38 = 0x200, // 0F 38 xx
  THREE_3A = 0x300, // 0F 3A xx
}

/** Where the decoder reads instruction bytes from; `addr` is whatever the caller's addresses are. */
export interface ByteSource {
  byte(addr: number): number;
}

export interface Insn {
  /** Total length in bytes, prefixes included. */
  len: number;
  /** OpMap | opcode byte, e.g. 0x001 for ADD Ev,Gv, 0x1af for IMUL Gv,Ev (0F AF). */
  op: number;
  /** Prefix bits. */
  prefixes: number;
  /** Effective operand size; whether the instruction works on bytes is a property of its opcode. */
  opsize: 16 | 32;
  /** Effective address size. */
  adsize: 16 | 32;
  /** The segment override prefix (a Seg), or -1. */
  segOverride: number;
  /** Segment of the memory operand: the override, else DS — or SS when the base is (E)BP or ESP. */
  seg: number;
  /** The ModRM byte and its fields, or -1 in all four when the instruction has none. */
  modrm: number;
  mod: number;
  reg: number;
  rm: number;
  /**
   * The memory operand (when `mod !== 3`, and for the moffs forms A0–A3, which decode as mod=0
   * with no base and no index): effective address = base + (index << scale) + disp, truncated to
   * `adsize`. `base`/`index` are Reg numbers or -1. In 16-bit addressing the eight forms map to
   * base ∈ {BX, BP, SI, DI} and index ∈ {SI, DI} with scale 0.
   */
  base: number;
  index: number;
  scale: number;
  /** Displacement, sign-extended to 32 bits (an int32). */
  disp: number;
  /**
   * First immediate as the instruction uses it, as an int32: sign-extended where the SDM says so
   * (Ib of 6A/6B/83, rel8/rel16/rel32 of jumps and calls), zero-extended otherwise. For far
   * pointers (9A, EA) the offset; for ENTER the Iw frame size.
   */
  imm: number;
  /** Second immediate: the selector of a far pointer, ENTER's Ib nesting level; else 0. */
  imm2: number;
  /** True when the bytes do not form a valid instruction (the CPU raises #UD). */
  invalid: boolean;
  /** The opcode-table entry this decoded from (mnemonic and operand forms), for disassembly. */
  entry: unknown;
  /** Slot for the executing CPU's handler; the decoder leaves it null. */
  exec: unknown;
}
