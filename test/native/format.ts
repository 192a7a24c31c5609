// The native-conformance fixture format, shared by the generator (scripts/native/gen-cases.ts)
// and the harness. Fixtures are produced by running each instruction on the host CPU; see
// test/native/README.md.

/** Register order everywhere: EAX ECX EDX EBX ESP EBP ESI EDI (the ModRM numbering). */
export const REG_NAMES = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"] as const;
/** Segment-register order everywhere: ES CS SS DS FS GS (the sreg numbering). */
export const SEG_NAMES = ["es", "cs", "ss", "ds", "fs", "gs"] as const;

export const enum F {
  CF = 0x1, PF = 0x4, AF = 0x10, ZF = 0x40, SF = 0x80, TF = 0x100, IF = 0x200, DF = 0x400, OF = 0x800,
  RF = 0x10000, AC = 0x40000, ID = 0x200000,
  ARITH = 0x8d5,
}

/**
 * EFLAGS bits the harness compares: everything architectural except RF (bit 16, which the
 * processor may set in the image saved for a fault) and the reserved bits other than bit 1.
 */
export const COMPARED_FLAGS = 0x003e7fd7;

/** Vectors that push an error code (SDM vol. 3, table 6-1). */
export const VECTORS_WITH_ERROR = new Set([8, 10, 11, 12, 13, 14, 17]);

/** A memory run: linear address and hex bytes. */
export type MemRun = [addr: number, hex: string];

/** One instruction executed natively. */
export interface FixtureCase {
  /** Unique within the family: the asm plus the interesting inputs. */
  n: string;
  asm: string;
  /** Instruction bytes, as nasm assembled them (hex). */
  code: string;
  /** Initial state: registers, EFLAGS, segment selectors if not the defaults, memory overrides. */
  i: { r: number[]; f: number; s?: number[]; m?: MemRun[] };
  /**
   * Final state. eip is linear; v/e are the exception vector and error code when the instruction
   * raised one (fault: eip at the instruction; trap (#BP, #OF): eip after it); s is present when
   * a selector changed; m lists the data-region bytes that changed.
   */
  o: { r: number[]; eip: number; f: number; s?: number[]; v?: number; e?: number; m?: MemRun[] };
  /** EFLAGS bits the SDM leaves undefined for this case (not compared). */
  fm?: number;
  /** Per register (EAX..EDI order), bits the SDM leaves undefined. */
  rm?: number[];
  /** Memory ranges [addr, len] the SDM leaves undefined. */
  mm?: [number, number][];
}

export interface FixtureFamily {
  family: string;
  cases: FixtureCase[];
}

/** A segment descriptor as the adapter must reproduce it. */
export interface DescriptorInfo {
  selector: number;
  base: number;
  limit: number; // byte-granular effective limit
  /** Descriptor bytes 5–6 in the SegAttr layout (type/S/DPL/P in the low byte, AVL/D/G above). */
  attr: number;
  note: string;
}

export interface FixtureMeta {
  version: 1;
  host: string;
  codeAddr: number;
  codeSize: number;
  /** Where each instruction is placed; the rest of the code region is 0xCC. */
  insnAddr: number;
  dataAddr: number;
  dataSize: number;
  /** Base64 of the data region's initial contents (before per-case overrides). */
  pattern: string;
  /** Selectors the native runner starts every case with unless the case overrides them. */
  initialSegs: number[];
  gdtLimit: number;
  ldtLimit: number;
  descriptors: DescriptorInfo[];
  notes: string[];
}
