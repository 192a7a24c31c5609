// The i386 register file as gdb numbers it, and the target description that tells gdb so. One
// table drives both the `g`/`p` byte layout and the XML, so they cannot disagree. The order and
// types are those of QEMU's i386 target (gdb-xml/i386-32bit.xml), which QEMU users' gdb sessions
// know: gdb's org.gnu.gdb.i386.core (8 general registers, eip, eflags, 6 segment selectors), then
// QEMU's system registers (fs_base, gs_base, k_gs_base, cr0, cr2, cr3, cr4, cr8, efer: `info
// registers cr0`, `p $cr3`), st0-st7 as 80-bit extended values and the 8 x87 control registers;
// after those, where QEMU has SSE (which this CPU has not), the descriptor-table registers
// gdtr_base, gdtr_limit, idtr_base and idtr_limit. k_gs_base and cr8 exist only in 64-bit mode and
// with a local APIC: they read 0, as they do under QEMU's i386 target.

export const REG32_NAMES = [
  "eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi",
  "eip", "eflags", "cs", "ss", "ds", "es", "fs", "gs",
  "fs_base", "gs_base", "k_gs_base", "cr0", "cr2", "cr3", "cr4", "cr8", "efer",
  "fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop",
  "gdtr_base", "gdtr_limit", "idtr_base", "idtr_limit",
] as const;
export const ST_NAMES = ["st0", "st1", "st2", "st3", "st4", "st5", "st6", "st7"] as const;

/** A 32-bit register by its gdb name. */
export type Reg32 = (typeof REG32_NAMES)[number];
/** An x87 data register by its gdb name: st0 is the top of the stack, ST(0), not physical R0. */
export type StReg = (typeof ST_NAMES)[number];

/**
 * The whole register file. 32-bit registers are unsigned numbers; x87 data registers are 10 bytes
 * of 80-bit extended precision, little-endian as FSAVE stores them. ftag is the full 16-bit tag
 * word (two bits per physical register, as FSTENV stores it), not FXSAVE's abridged byte.
 */
export type RegisterFile = Record<Reg32, number> & Record<StReg, Uint8Array>;

export interface RegDef {
  name: Reg32 | StReg;
  /** Bytes in the `g` packet. */
  size: 4 | 10;
  type: string;
  group?: string;
}

const int32 = (name: Reg32, type = "int32", group?: string): RegDef => ({ name, size: 4, type, group });

/** gdb's register numbers are indexes into this table. */
export const REGS: readonly RegDef[] = [
  int32("eax"), int32("ecx"), int32("edx"), int32("ebx"),
  int32("esp", "data_ptr"), int32("ebp", "data_ptr"), int32("esi"), int32("edi"),
  int32("eip", "code_ptr"), int32("eflags", "i386_eflags"),
  int32("cs"), int32("ss"), int32("ds"), int32("es"), int32("fs"), int32("gs"),
  int32("fs_base"), int32("gs_base"), int32("k_gs_base"),
  int32("cr0", "i386_cr0"), int32("cr2"), int32("cr3", "i386_cr3"), int32("cr4", "i386_cr4"), int32("cr8"),
  int32("efer", "i386_efer"),
  ...ST_NAMES.map((name): RegDef => ({ name, size: 10, type: "i387_ext" })),
  ...(["fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop"] as const).map((n) =>
    int32(n, "int", "float"),
  ),
  int32("gdtr_base", "data_ptr"), int32("gdtr_limit"), int32("idtr_base", "data_ptr"), int32("idtr_limit"),
];

/** Size of the `g` packet's register block in bytes. */
export const REGISTER_BYTES = REGS.reduce((n, r) => n + r.size, 0);

/** The register file serialized in `g` order. */
export function packRegisters(regs: RegisterFile): Uint8Array {
  const out = new Uint8Array(REGISTER_BYTES);
  const view = new DataView(out.buffer);
  let at = 0;
  for (const r of REGS) {
    if (r.size === 4) view.setUint32(at, regs[r.name as Reg32] >>> 0, true);
    else out.set((regs[r.name as StReg] ?? new Uint8Array(10)).subarray(0, 10), at);
    at += r.size;
  }
  return out;
}

/** Splits a `G` block (or a prefix of one, as gdb may send) into named register values. */
export function unpackRegisters(bytes: Uint8Array): Partial<RegisterFile> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Partial<Record<string, number | Uint8Array>> = {};
  let at = 0;
  for (const r of REGS) {
    if (at + r.size > bytes.length) break;
    out[r.name] = r.size === 4 ? view.getUint32(at, true) : bytes.slice(at, at + 10);
    at += r.size;
  }
  return out as Partial<RegisterFile>;
}

/** One register's bytes as `p` returns them. */
export function packRegister(regs: RegisterFile, index: number): Uint8Array {
  const r = REGS[index];
  if (r.size === 10) return (regs[r.name as StReg] ?? new Uint8Array(10)).slice(0, 10);
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, regs[r.name as Reg32] >>> 0, true);
  return out;
}

/** One register's value from `P` bytes, or undefined when the length is wrong. */
export function unpackRegister(index: number, bytes: Uint8Array): Partial<RegisterFile> | undefined {
  const r = REGS[index];
  if (r === undefined || bytes.length !== r.size) return undefined;
  if (r.size === 10) return { [r.name]: bytes.slice() } as Partial<RegisterFile>;
  return { [r.name]: new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true) } as Partial<RegisterFile>;
}

// Bits gdb shows by name (`[ ZF PF IF ]`, `[ PG WP PE ]`), as QEMU's description names them.
type Fields = [string, number, number?][];
const FLAGS: { id: string; fields: Fields }[] = [
  {
    id: "i386_eflags",
    fields: [
      ["CF", 0], ["", 1], ["PF", 2], ["AF", 4], ["ZF", 6], ["SF", 7], ["TF", 8], ["IF", 9], ["DF", 10],
      ["OF", 11], ["NT", 14], ["RF", 16], ["VM", 17], ["AC", 18], ["VIF", 19], ["VIP", 20], ["ID", 21],
    ],
  },
  {
    id: "i386_cr0",
    fields: [["PG", 31], ["CD", 30], ["NW", 29], ["AM", 18], ["WP", 16], ["NE", 5], ["ET", 4], ["TS", 3], ["EM", 2], ["MP", 1], ["PE", 0]],
  },
  { id: "i386_cr3", fields: [["PDBR", 12, 31], ["PCID", 0, 11]] },
  {
    id: "i386_cr4",
    fields: [
      ["SMAP", 21], ["SMEP", 20], ["OSXSAVE", 18], ["PCIDE", 17], ["FSGSBASE", 16], ["SMXE", 14], ["VMXE", 13],
      ["UMIP", 11], ["OSXMMEXCPT", 10], ["OSFXSR", 9], ["PCE", 8], ["PGE", 7], ["MCE", 6], ["PAE", 5], ["PSE", 4],
      ["DE", 3], ["TSD", 2], ["PVI", 1], ["VME", 0],
    ],
  },
  { id: "i386_efer", fields: [["NXE", 11], ["LMA", 10], ["LME", 8], ["SCE", 0]] },
];

/** The target description gdb fetches with `qXfer:features:read:target.xml`. */
export function targetXml(): string {
  const flags = FLAGS.flatMap(({ id, fields }) => [
    `    <flags id="${id}" size="4">`,
    ...fields.map(([n, start, end = start]) => `      <field name="${n}" start="${start}" end="${end}"/>`),
    "    </flags>",
  ]);
  const regs = REGS.map(
    (r, i) =>
      `    <reg name="${r.name}" bitsize="${r.size * 8}" type="${r.type}" regnum="${i}"` +
      (r.group ? ` group="${r.group}"` : "") +
      "/>",
  );
  return [
    '<?xml version="1.0"?>',
    '<!DOCTYPE target SYSTEM "gdb-target.dtd">',
    '<target version="1.0">',
    "  <architecture>i386</architecture>",
    '  <feature name="org.gnu.gdb.i386.core">',
    ...flags,
    ...regs,
    "  </feature>",
    "</target>",
    "",
  ].join("\n");
}
