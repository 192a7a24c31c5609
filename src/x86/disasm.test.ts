import { describe, expect, it } from "vitest";
import { decode } from "./decoder.js";
import { addressWidth, BufferSource, disassembleBuffer, formatInsn, formatLine } from "./disasm.js";

/** objdump's text for hex bytes at `addr` in 32-bit (or 16-bit) code. */
function text(hexBytes: string, addr = 0x8049000, bits: 16 | 32 = 32): string {
  const bytes = Uint8Array.from(hexBytes.trim().split(/\s+/).map((h) => parseInt(h, 16)));
  const src = new BufferSource(bytes, addr);
  return formatInsn(decode(src, addr, bits === 32), addr, src);
}

describe("formatInsn spells instructions as objdump -M intel does", () => {
  it("pads the mnemonic to six columns and a space, and not at all without operands", () => {
    expect(text("31 ed")).toBe("xor    ebp,ebp");
    expect(text("c3")).toBe("ret");
    expect(text("0f 01 d0")).toBe("xgetbv");
  });

  it("names memory operand sizes and segments", () => {
    expect(text("ff 74 24 20")).toBe("push   DWORD PTR [esp+0x20]");
    expect(text("65 8b 35 08 00 00 00")).toBe("mov    esi,DWORD PTR gs:0x8");
    expect(text("65 a1 14 00 00 00")).toBe("mov    eax,gs:0x14");
    expect(text("8b 44 8b f0")).toBe("mov    eax,DWORD PTR [ebx+ecx*4-0x10]");
    expect(text("8d 74 26 00")).toBe("lea    esi,[esi+eiz*1+0x0]");
    expect(text("0f b6 46 08")).toBe("movzx  eax,BYTE PTR [esi+0x8]");
    expect(text("db 6c 24 04")).toBe("fld    TBYTE PTR [esp+0x4]");
    expect(text("0f b2 24 24")).toBe("lss    esp,FWORD PTR [esp]");
    expect(text("66 0f 7f 02")).toBe("movdqa XMMWORD PTR [edx],xmm0");
    expect(text("67 8b 46 fe")).toBe("mov    eax,DWORD PTR [bp-0x2]");
  });

  it("prints immediates in hex at the operand size and branch targets as addresses", () => {
    expect(text("83 e4 f0")).toBe("and    esp,0xfffffff0");
    expect(text("66 6a ff")).toBe("pushw  0xffff");
    expect(text("e8 d4 82 02 00", 0x8049117)).toBe("call   0x80713f0");
    expect(text("ea 00 00 10 00 10 00")).toBe("jmp    0x10:0x100000");
    expect(text("c8 10 00 01")).toBe("enter  0x10,0x1");
  });

  it("names the prefixes the instruction does not consume", () => {
    expect(text("f3 ab")).toBe("rep stos DWORD PTR es:[edi],eax");
    expect(text("f3 a6")).toBe("repz cmps BYTE PTR ds:[esi],BYTE PTR es:[edi]");
    expect(text("f0 ff 40 1c")).toBe("lock inc DWORD PTR [eax+0x1c]");
    expect(text("3e ff 20")).toBe("notrack jmp DWORD PTR [eax]");
    expect(text("f2 e8 00 00 00 00", 0)).toBe("bnd call 0x6");
    expect(text("2e 90")).toBe("cs nop");
    expect(text("67 90")).toBe("addr16 nop");
    expect(text("66 a4")).toBe("data16 movs BYTE PTR es:[edi],BYTE PTR ds:[esi]");
    expect(text("f3 0f 1e fb")).toBe("endbr32");
  });

  it("names an operand-size prefix on JECXZ, whose register the address size picks", () => {
    expect(text("66 e3 13", 0)).toBe("data16 jecxz 0x16");
    expect(text("67 e3 13", 0)).toBe("jcxz   0x16");
    expect(text("66 e3 13", 0, 16)).toBe("data32 jcxz 0x16");
  });

  it("spells x87 registers and undefined encodings objdump's way", () => {
    expect(text("de c9")).toBe("fmulp  st(1),st");
    expect(text("da c9")).toBe("fcmove st,st(1)");
    expect(text("0f 04")).toBe("(bad)");
  });

  it("spells SSE compares with a predicate objdump names as its pseudo-op, dropping the immediate", () => {
    expect(text("0f c2 f1 00")).toBe("cmpeqps xmm6,xmm1");
    expect(text("f3 0f c2 01 02")).toBe("cmpless xmm0,DWORD PTR [ecx]");
    expect(text("66 0f c2 41 04 03")).toBe("cmpunordpd xmm0,XMMWORD PTR [ecx+0x4]");
    expect(text("f2 3e 0f c2 f1 05")).toBe("ds cmpnltsd xmm6,xmm1");
    expect(text("0f c2 f1 07")).toBe("cmpordps xmm6,xmm1");
    // AVX's predicates 8 to 31 have no legacy pseudo-op.
    expect(text("0f c2 f1 08")).toBe("cmpps  xmm6,xmm1,0x8");
  });

  it("suffixes the x87 environment and state saves whose layout a 66 prefix resizes", () => {
    expect(text("66 d9 75 0e")).toBe("fnstenvw [ebp+0xe]");
    expect(text("66 d9 65 0e")).toBe("fldenvw [ebp+0xe]");
    expect(text("66 dd 71 86")).toBe("fnsavew [ecx-0x7a]");
    expect(text("66 dd 61 86")).toBe("frstorw [ecx-0x7a]");
    expect(text("66 d9 75 0e", 0, 16)).toBe("fnstenvd [di+0xe]");
    expect(text("d9 75 0e")).toBe("fnstenv [ebp+0xe]");
  });

  it("uses 16-bit code's defaults and suffixes", () => {
    expect(text("8b 46 02", 0, 16)).toBe("mov    ax,WORD PTR [bp+0x2]");
    expect(text("66 c3", 0, 16)).toBe("retd");
    expect(text("66 90", 0, 16)).toBe("xchg   eax,eax");
  });

  it("names 67 in 16-bit code on an address with neither base nor index, as objdump does", () => {
    expect(text("67 8b 05 78 56 34 12", 0, 16)).toBe("addr32 mov ax,WORD PTR ds:0x12345678");
    expect(text("67 8b 04 25 78 56 34 12", 0, 16)).toBe("addr32 mov ax,WORD PTR ds:0x12345678");
    expect(text("67 8b 04 65 78 56 34 12", 0, 16)).toBe("addr32 mov ax,WORD PTR [eiz*2+0x12345678]");
    expect(text("67 8b 04 24", 0, 16)).toBe("mov    ax,WORD PTR [esp]");
    // In 32-bit code the index is what tells [eiz*1+disp] from disp alone.
    expect(text("8b 04 25 78 56 34 12")).toBe("mov    eax,DWORD PTR [eiz*1+0x12345678]");
  });
});

describe("objdump's line layout", () => {
  it("aligns the address and pads the byte column", () => {
    expect(formatLine(0x8049110, [0x31, 0xed], "xor    ebp,ebp")).toBe(" 8049110:\t31 ed                \txor    ebp,ebp");
  });

  it("continues instructions longer than seven bytes on lines of their own", () => {
    const bytes = [0xc7, 0x05, 0xa0, 0x98, 0xe7, 0x01, 0xff, 0xff, 0xff, 0xff];
    expect(formatLine(0xc10000b4, bytes, "mov    DWORD PTR ds:0x1e798a0,0xffffffff")).toBe(
      "c10000b4:\tc7 05 a0 98 e7 01 ff \tmov    DWORD PTR ds:0x1e798a0,0xffffffff\nc10000bb:\tff ff ff ",
    );
  });

  it("gives small files four address digits, as objdump does", () => {
    expect(addressWidth(0x10)).toBe(4);
    expect(addressWidth(0x1000)).toBe(8);
    expect(addressWidth(0x8200000)).toBe(8);
  });

  it("lists a buffer, merging FWAIT into a following no-wait x87 instruction", () => {
    const lines: string[] = [];
    disassembleBuffer(Uint8Array.of(0x9b, 0xdb, 0xe3, 0x90, 0xa1), 0x100, 32, (l) => lines.push(l));
    expect(lines).toEqual([" 100:\t9b db e3             \tfinit", " 103:\t90                   \tnop", " 104:\ta1                   \t.byte 0xa1"]);
  });

  it("merges FWAIT into any x87 instruction that follows, prefixes and all, as objdump does", () => {
    const listing = (...bytes: number[]) => {
      const lines: string[] = [];
      disassembleBuffer(Uint8Array.from(bytes), 0, 32, (l) => lines.push(l.split("\t")[2]));
      return lines;
    };
    expect(listing(0x9b, 0xdd, 0xe6)).toEqual(["fucom  st(6)"]);
    expect(listing(0x9b, 0xd9, 0x2d, 0, 0, 0, 0)).toEqual(["fldcw  WORD PTR ds:0x0"]);
    expect(listing(0x9b, 0x66, 0xd9, 0xf3)).toEqual(["data16 fpatan"]);
    expect(listing(0x9b, 0x66, 0xd9, 0x75, 0x0e)).toEqual(["fstenvw [ebp+0xe]"]);
    expect(listing(0x9b, 0x2e, 0xdd, 0x38)).toEqual(["fstsw  WORD PTR cs:[eax]"]);
    expect(listing(0x9b, 0xf0, 0xd8, 0x00)).toEqual(["lock fadd DWORD PTR [eax]"]);
    expect(listing(0x9b, 0x90)).toEqual(["fwait", "nop"]);
    // Prefixes before the FWAIT go to the x87 instruction, unless it has its own.
    expect(listing(0x66, 0x9b, 0xdb, 0xe3)).toEqual(["data16 finit"]);
    expect(listing(0x66, 0x9b, 0xd9, 0x75, 0x0e)).toEqual(["fstenvw [ebp+0xe]"]);
    expect(listing(0x65, 0x9b, 0xdd, 0xe6)).toEqual(["gs fucom st(6)"]);
    expect(listing(0x66, 0x66, 0x9b, 0xdb, 0xe3)).toEqual(["data16 data16 finit"]);
    expect(listing(0x66, 0x9b, 0x65, 0xd8, 0xc1)).toEqual(["data16 fwait", "gs fadd st,st(1)"]);
    expect(listing(0x66, 0x9b, 0x90)).toEqual(["data16 fwait", "nop"]);
  });

  it("names a prefix cut off by the buffer's end by the prefix, as objdump does", () => {
    const listing = (bytes: number[], bits: 16 | 32) => {
      const lines: string[] = [];
      disassembleBuffer(Uint8Array.from(bytes), 0, bits, (l) => lines.push(l.split("\t")[2]));
      return lines;
    };
    expect(listing([0x65, 0x8b], 32)).toEqual(["gs", ".byte 0x8b"]);
    expect(listing([0x66], 32)).toEqual(["data16"]);
    expect(listing([0x66], 16)).toEqual(["data32"]);
    expect(listing([0x67, 0xf0, 0xf2, 0xf3], 32)).toEqual(["addr16", "lock", "repnz", "repz"]);
  });
});
