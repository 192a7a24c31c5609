import { describe, expect, it } from "vitest";
import { decode, emptyInsn } from "./decoder.js";
import { BufferSource } from "./disasm.js";
import { type Insn, Prefix, Reg, Seg } from "./insn.js";
import type { OpEntry } from "./opcode-entry.js";

/** Decodes hex bytes ("8b 44 24 08") placed at `addr`. */
function dec(hexBytes: string, default32 = true, addr = 0x1000): Insn {
  const bytes = Uint8Array.from(hexBytes.trim().split(/\s+/).map((h) => parseInt(h, 16)));
  return decode(new BufferSource(bytes, addr), addr, default32);
}
const mnem = (i: Insn) => (i.entry as OpEntry).mnem;

describe("decode: lengths and ModRM", () => {
  it("decodes a register-to-register ModRM form with no memory operand", () => {
    const i = dec("31 ed");
    expect(i).toMatchObject({ len: 2, op: 0x31, modrm: 0xed, mod: 3, reg: 5, rm: 5, base: -1, index: -1 });
    expect(mnem(i)).toBe("xor");
  });

  it("decodes base+index*scale+disp8 through a SIB byte, sign-extending the displacement", () => {
    const i = dec("8b 44 8b f0");
    expect(i).toMatchObject({ len: 4, base: Reg.EBX, index: Reg.ECX, scale: 2, disp: -16, seg: Seg.DS });
  });

  it("decodes a disp32 with no base (mod=0 rm=5) as an absolute address", () => {
    const i = dec("8b 0d 40 3e c4 01");
    expect(i).toMatchObject({ len: 6, base: -1, index: -1, disp: 0x1c43e40 });
  });

  it("decodes SIB with base=5 and mod=0 as index*scale+disp32", () => {
    const i = dec("8b 04 8d 10 00 00 00");
    expect(i).toMatchObject({ len: 7, base: -1, index: Reg.ECX, scale: 2, disp: 0x10 });
  });

  it("treats SIB index 4 as no index", () => {
    const i = dec("8b 04 24");
    expect(i).toMatchObject({ len: 3, base: Reg.ESP, index: -1 });
  });

  it("defaults to SS for EBP and ESP bases and to DS otherwise", () => {
    expect(dec("8b 45 f8").seg).toBe(Seg.SS);
    expect(dec("8b 44 24 04").seg).toBe(Seg.SS);
    expect(dec("8b 44 25 04").seg).toBe(Seg.SS);
    expect(dec("8b 04 2c").seg).toBe(Seg.SS); // [esp+ebp*1]: the base decides
    expect(dec("8b 04 68").seg).toBe(Seg.DS); // [eax+ebp*2]: EBP as index does not count
    expect(dec("8b 05 00 00 00 00").seg).toBe(Seg.DS);
  });

  it("lets a segment prefix override the default segment, the last one winning", () => {
    const i = dec("3e 65 8b 45 00");
    expect(i).toMatchObject({ segOverride: Seg.GS, seg: Seg.GS, prefixes: Prefix.SEG, len: 5 });
  });

  it("decodes the eight 16-bit addressing forms with 67", () => {
    const forms: [string, number, number, number][] = [
      ["00", Reg.EBX, Reg.ESI, Seg.DS], ["01", Reg.EBX, Reg.EDI, Seg.DS], ["02", Reg.EBP, Reg.ESI, Seg.SS],
      ["03", Reg.EBP, Reg.EDI, Seg.SS], ["04", Reg.ESI, -1, Seg.DS], ["05", Reg.EDI, -1, Seg.DS],
      ["07", Reg.EBX, -1, Seg.DS],
    ];
    for (const [m, base, index, seg] of forms) {
      expect(dec(`67 8b ${m}`)).toMatchObject({ len: 3, adsize: 16, base, index, scale: 0, seg });
    }
    expect(dec("67 8b 06 34 12")).toMatchObject({ len: 5, base: -1, index: -1, disp: 0x1234, seg: Seg.DS });
    expect(dec("67 8b 46 fe")).toMatchObject({ len: 4, base: Reg.EBP, disp: -2, seg: Seg.SS });
    expect(dec("67 8b 87 00 80")).toMatchObject({ len: 5, base: Reg.EBX, disp: -0x8000 });
  });

  it("uses 16-bit operands and addresses by default in a 16-bit code segment", () => {
    expect(dec("8b 46 02", false)).toMatchObject({ len: 3, opsize: 16, adsize: 16, base: Reg.EBP, disp: 2 });
    expect(dec("66 b8 78 56 34 12", false)).toMatchObject({ len: 6, opsize: 32, imm: 0x12345678 });
    expect(dec("b8 34 12", false)).toMatchObject({ len: 3, opsize: 16, imm: 0x1234 });
  });
});

describe("decode: immediates", () => {
  it("sign-extends the Ib of 83, 6A and 6B but not of 80 or B0", () => {
    expect(dec("83 e4 f0")).toMatchObject({ len: 3, imm: -16 });
    expect(dec("6a ff")).toMatchObject({ len: 2, imm: -1 });
    expect(dec("6b c0 f0")).toMatchObject({ len: 3, imm: -16 });
    expect(dec("80 e4 f0")).toMatchObject({ len: 3, imm: 0xf0 });
    expect(dec("b0 ff")).toMatchObject({ len: 2, imm: 0xff });
  });

  it("reads Iz as 16 bits under 66 and 32 bits otherwise", () => {
    expect(dec("81 c5 ed 4d 1f 00")).toMatchObject({ len: 6, imm: 0x1f4ded });
    expect(dec("66 81 c5 ed 4d")).toMatchObject({ len: 5, imm: 0x4ded, opsize: 16 });
    expect(dec("69 c0 00 00 00 80")).toMatchObject({ len: 6, imm: -0x80000000 });
  });

  it("sign-extends branch displacements", () => {
    expect(dec("eb fe")).toMatchObject({ len: 2, imm: -2 });
    expect(dec("e8 d4 82 02 00")).toMatchObject({ len: 5, imm: 0x282d4 });
    expect(dec("0f 84 fa ff ff ff")).toMatchObject({ len: 6, imm: -6 });
    expect(dec("66 e9 fe ff")).toMatchObject({ len: 4, imm: -2 });
  });

  it("decodes moffs forms A0–A3 as mod=0 memory operands with no base or index", () => {
    expect(dec("a1 14 00 00 00")).toMatchObject({ len: 5, mod: 0, modrm: -1, base: -1, index: -1, disp: 0x14, seg: Seg.DS });
    expect(dec("65 a3 14 00 00 00")).toMatchObject({ len: 6, mod: 0, disp: 0x14, seg: Seg.GS });
    expect(dec("67 a0 34 12")).toMatchObject({ len: 4, mod: 0, disp: 0x1234, adsize: 16 });
  });

  it("decodes far pointers as offset then selector", () => {
    expect(dec("ea 78 56 34 12 10 00")).toMatchObject({ len: 7, imm: 0x12345678, imm2: 0x10 });
    expect(dec("66 9a 34 12 08 00")).toMatchObject({ len: 6, imm: 0x1234, imm2: 0x8 });
  });

  it("decodes ENTER's Iw frame size and Ib nesting level", () => {
    expect(dec("c8 10 20 03")).toMatchObject({ len: 4, imm: 0x2010, imm2: 3 });
  });

  it("decodes a ModRM group member's immediate after the displacement", () => {
    expect(dec("c7 84 24 8c 00 00 00 01 00 00 00")).toMatchObject({ len: 11, disp: 0x8c, imm: 1, base: Reg.ESP });
    expect(dec("f6 40 10 80")).toMatchObject({ len: 4, reg: 0, disp: 0x10, imm: 0x80 });
    expect(dec("f6 58 10")).toMatchObject({ len: 3, reg: 3 }); // NEG has no immediate
  });
});

describe("decode: prefixes and opcode maps", () => {
  it("records operand-size, address-size, LOCK and REP prefixes", () => {
    const i = dec("f0 66 0f b1 0a");
    expect(i).toMatchObject({ len: 5, op: 0x1b1, prefixes: Prefix.LOCK | Prefix.OPSIZE, opsize: 16, invalid: false });
    expect(dec("f3 ab")).toMatchObject({ len: 2, prefixes: Prefix.REP });
    expect(dec("67 f3 a4")).toMatchObject({ len: 3, prefixes: Prefix.REP | Prefix.ADSIZE, adsize: 16 });
  });

  it("keeps only the last of F2 and F3", () => {
    expect(dec("f2 f3 a6").prefixes).toBe(Prefix.REP);
    expect(dec("f3 f2 a6").prefixes).toBe(Prefix.REPNE);
  });

  it("selects SSE forms by mandatory prefix, F2/F3 before 66", () => {
    expect(mnem(dec("0f 10 c1"))).toBe("movups");
    expect(mnem(dec("66 0f 10 c1"))).toBe("movupd");
    expect(mnem(dec("f3 0f 10 c1"))).toBe("movss");
    expect(mnem(dec("66 f2 0f 10 c1"))).toBe("movsd");
    expect(mnem(dec("f3 0f bc c1"))).toBe("tzcnt");
    expect(mnem(dec("f3 90"))).toBe("pause");
  });

  it("numbers 0F 38 and 0F 3A opcodes in their own maps", () => {
    expect(dec("66 0f 38 00 c2")).toMatchObject({ len: 5, op: 0x200 });
    expect(dec("66 0f 3a 0f d3 01")).toMatchObject({ len: 6, op: 0x30f, imm: 1 });
  });

  it("decodes the x87 escapes' memory and register forms", () => {
    expect(mnem(dec("dd 44 24 08"))).toBe("fld");
    expect(dec("dd 44 24 08")).toMatchObject({ len: 4, op: 0xdd, reg: 0, mod: 1 });
    expect(mnem(dec("d9 ee"))).toBe("fldz");
    expect(mnem(dec("de c1"))).toBe("faddp");
  });

  it("decodes the system and hint instructions found in real kernels", () => {
    expect(mnem(dec("0f 01 15 46 3e c4 01"))).toBe("lgdtd");
    expect(dec("0f 22 c0")).toMatchObject({ len: 3, op: 0x122, reg: 0, rm: 0 });
    expect(mnem(dec("0f 01 d0"))).toBe("xgetbv");
    expect(mnem(dec("c7 f8 10 00 00 00"))).toBe("xbegin");
    expect(mnem(dec("c6 f8 ff"))).toBe("xabort");
    expect(mnem(dec("f3 0f 1e fb"))).toBe("endbr32");
    expect(dec("66 0f 1f 44 00 00")).toMatchObject({ len: 6, invalid: false });
    expect(mnem(dec("0f 18 0a"))).toBe("prefetcht0");
    expect(mnem(dec("0f ae e8"))).toBe("lfence");
  });
});

describe("decode: invalid encodings", () => {
  it("marks undefined opcodes invalid", () => {
    expect(dec("0f 04").invalid).toBe(true);
    expect(dec("d6").invalid).toBe(false); // SALC: undocumented, but every i686 executes it
    expect(dec("0f 0b").invalid).toBe(false); // UD2 is defined; executing it raises #UD
  });

  it("marks a memory-only operand given a register invalid", () => {
    expect(dec("8d c0").invalid).toBe(true);
    expect(dec("0f 01 f0").invalid).toBe(false); // the register forms of 0F 01 are other instructions
  });

  it("marks LOCK on a non-lockable instruction or a register destination invalid", () => {
    expect(dec("f0 ff 40 1c").invalid).toBe(false);
    expect(dec("f0 89 00").invalid).toBe(true);
    expect(dec("f0 01 c0").invalid).toBe(true);
  });

  it("rejects instructions longer than 15 bytes", () => {
    const i = dec("66 ".repeat(14) + "b8 01 00");
    expect(i).toMatchObject({ invalid: true, len: 15 });
    expect(dec("66 ".repeat(12) + "b8 01 00")).toMatchObject({ invalid: false, len: 15 });
  });
});

describe("decode: the Insn object", () => {
  it("fills and returns the given Insn, resetting every field", () => {
    const out = emptyInsn();
    const keys = Object.keys(out);
    const a = decode(new BufferSource(Uint8Array.of(0x8b, 0x44, 0x8b, 0xf0), 0), 0, true, out);
    expect(a).toBe(out);
    decode(new BufferSource(Uint8Array.of(0x90), 0), 0, true, out);
    expect(out).toMatchObject({ len: 1, modrm: -1, mod: -1, base: -1, index: -1, scale: 0, disp: 0, imm: 0, exec: null });
    expect(Object.keys(out)).toEqual(keys);
  });

  it("points entry at the table entry", () => {
    expect((dec("31 ed").entry as OpEntry).ops.length).toBe(2);
  });
});
