import { describe, expect, it } from "vitest";
import { identityPaging, PAGING_ON, runAsm } from "../../../../test/support/cpu.js";
import { Vec } from "../../../x86/vectors.js";


const CF = 0x1, PF = 0x4, AF = 0x10, ZF = 0x40, SF = 0x80, DF = 0x400;

describe("MOV, LEA, XCHG, XADD, CMPXCHG, XLAT and the flag moves", () => {
  it("moves through the moffs forms", () => {
    const { cpu } = runAsm("mov eax, 0xcafebabe\n mov [0x3000], eax\n xor eax, eax\n mov al, [0x3001]\n mov bx, [0x3002]\n int3");
    expect(cpu.r8[0]).toBe(0xba);
    expect(cpu.r16[3 << 1]).toBe(0xcafe);
  });

  it("zero- and sign-extends with MOVZX and MOVSX", () => {
    const { cpu } = runAsm("mov bl, 0x80\n movzx eax, bl\n movsx ecx, bl\n mov dx, 0x8000\n movsx esi, dx\n int3");
    expect(cpu.r32[0]).toBe(0x80);
    expect(cpu.r32[1]).toBe(-128);
    expect(cpu.r32[6]).toBe(-32768);
  });

  it("computes LEA without touching memory and truncates it to a 16-bit operand", () => {
    const { cpu } = runAsm("mov ebx, 0xfffff000\n mov esi, 0x10\n lea eax, [ebx+esi*4+0x2345]\n lea cx, [ebx+0x1234]\n int3");
    expect(cpu.r32[0]).toBe(0x1385);
    expect(cpu.r16[1 << 1]).toBe(0x0234);
  });

  it("raises #UD for LEA with a register operand", () => {
    const { cpu } = runAsm("db 0x8d, 0xc0\n int3");
    expect(cpu.excVector).toBe(Vec.UD);
  });

  it("exchanges a register with memory", () => {
    const { cpu } = runAsm("mov dword [0x3000], 5\n mov eax, 9\n xchg [0x3000], eax\n xchg ecx, eax\n int3");
    expect(cpu.mem.read32(0x3000)).toBe(9);
    expect(cpu.r32[1]).toBe(5);
  });

  it("leaves the sum in the destination and the old value in the source with XADD", () => {
    const { cpu } = runAsm("mov dword [0x3000], 0xffffffff\n mov eax, 1\n xadd [0x3000], eax\n int3");
    expect(cpu.mem.read32(0x3000)).toBe(0);
    expect(cpu.r32[0]).toBe(-1);
    expect(cpu.getEflags() & (CF | ZF)).toBe(CF | ZF);
  });

  it("stores the source when CMPXCHG finds the accumulator equal", () => {
    const { cpu } = runAsm("mov dword [0x3000], 7\n mov eax, 7\n mov ecx, 42\n cmpxchg [0x3000], ecx\n int3");
    expect(cpu.mem.read32(0x3000)).toBe(42);
    expect(cpu.getEflags() & ZF).toBe(ZF);
  });

  it("loads the accumulator when CMPXCHG finds it unequal", () => {
    const { cpu } = runAsm("mov dword [0x3000], 7\n mov eax, 8\n mov ecx, 42\n cmpxchg [0x3000], ecx\n int3");
    expect(cpu.mem.read32(0x3000)).toBe(7);
    expect(cpu.r32[0]).toBe(7);
    expect(cpu.getEflags() & (ZF | CF)).toBe(0);
  });

  it("swaps in ECX:EBX with CMPXCHG8B when EDX:EAX matches, else loads EDX:EAX", () => {
    const { cpu } = runAsm(`mov dword [0x3000], 1\n mov dword [0x3004], 2\n mov eax, 1\n mov edx, 2\n mov ebx, 3\n mov ecx, 4
 cmpxchg8b [0x3000]\n pushfd\n pop esi\n xor eax, eax\n cmpxchg8b [0x3000]\n int3`);
    expect(cpu.r32[6] & ZF).toBe(ZF);
    expect(cpu.mem.read32(0x3000)).toBe(3);
    expect(cpu.mem.read32(0x3004)).toBe(4);
    expect(cpu.r32[0]).toBe(3);
    expect(cpu.r32[2]).toBe(4);
    expect(cpu.getEflags() & ZF).toBe(0);
  });

  it("looks up AL in the table at EBX with XLAT", () => {
    const { cpu } = runAsm("mov dword [0x3004], 0x44332211\n mov ebx, 0x3000\n mov al, 6\n xlatb\n int3");
    expect(cpu.r8[0]).toBe(0x33);
  });

  it("round-trips SF ZF AF PF CF through LAHF and SAHF", () => {
    const { cpu } = runAsm("mov ah, 0xff\n sahf\n lahf\n mov bl, ah\n mov ah, 0\n sahf\n int3");
    expect(cpu.r8[12]).toBe(0xd7);
    expect(cpu.getEflags() & (CF | PF | AF | ZF | SF)).toBe(0);
  });

  it("flips CF with CMC and sets DF with STD", () => {
    const { cpu } = runAsm("stc\n cmc\n setc bl\n cmc\n std\n int3");
    expect(cpu.r8[12]).toBe(0);
    expect(cpu.getEflags() & (CF | DF)).toBe(CF | DF);
  });

  it("sets AL from CF with SALC", () => {
    const { cpu } = runAsm("stc\n db 0xd6\n mov bl, al\n clc\n db 0xd6\n int3");
    expect(cpu.r8[12]).toBe(0xff);
    expect(cpu.r8[0]).toBe(0);
  });

  it("treats PAUSE and the long NOP as no-ops", () => {
    const { cpu } = runAsm("mov eax, 3\n pause\n nop\n nop dword [eax+eax*1+0x100]\n int3");
    expect(cpu.r32[0]).toBe(3);
    expect(cpu.excVector).toBe(3);
  });
});

describe("the hint-NOP space 0F 18–0F 1F", () => {
  // Every ModRM.reg and register form is a NOP on P6 and later silicon (test/native's hintnop
  // family ran them on the host CPU); QEMU raises #UD for 0F 18 /0–/3 with a register operand.
  const forms = [
    "prefetchnta [0x50000]", "prefetcht0 [ebx+0x50000]", "prefetcht1 [0x50000]", "prefetcht2 [0x50000]",
    "db 0x0f, 0x18, 0xc0", "db 0x0f, 0x18, 0x25, 0x00, 0x00, 0x05, 0x00", "db 0x0f, 0x19, 0x05, 0x00, 0x00, 0x05, 0x00",
    "db 0x0f, 0x1a, 0x05, 0x00, 0x00, 0x05, 0x00", "db 0x66, 0x0f, 0x1b, 0x05, 0x00, 0x00, 0x05, 0x00",
    "db 0x0f, 0x1c, 0x05, 0x00, 0x00, 0x05, 0x00", "db 0x0f, 0x1d, 0xc1", "db 0xf3, 0x0f, 0x1e, 0xfb", "db 0xf3, 0x0f, 0x1e, 0xc8",
    "nop dword [0x50000]", "nop word [eax+eax*1+0x50000]",
  ];

  it("executes every form as a NOP that never reads its memory operand (no #PF on a not-present page)", () => {
    for (const form of forms) {
      const { cpu } = runAsm(`${PAGING_ON}\n mov eax, 0x12345678\n ${form}\n int3`, (c) => identityPaging(c, (p) => (p === 0x50 ? 0 : 7)));
      expect([form, cpu.excVector]).toEqual([form, Vec.BP]);
      expect(cpu.r32[0]).toBe(0x12345678);
    }
  });

  it("runs ENDBR32 as a NOP, as any CPU without CET does", () => {
    const { cpu } = runAsm("endbr32\n mov eax, 7\n int3");
    expect([cpu.excVector, cpu.r32[0]]).toEqual([Vec.BP, 7]);
  });

  it("raises #UD for a LOCK prefix on a hint NOP", () => {
    const { cpu } = runAsm("db 0xf0, 0x0f, 0x18, 0x00");
    expect(cpu.excVector).toBe(Vec.UD);
  });
});
