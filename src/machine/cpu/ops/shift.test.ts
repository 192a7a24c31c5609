import { describe, expect, it } from "vitest";
import { runAsm } from "../../../../test/support/cpu.js";

const CF = 0x1, ZF = 0x40, SF = 0x80, OF = 0x800;
const flags = (cpu: { getEflags(): number }): number => cpu.getEflags() & (CF | ZF | SF | OF);

describe("shifts and rotates", () => {
  it("changes no flags and no operand when the masked count is zero", () => {
    const { cpu } = runAsm("mov eax, 0x80000001\n stc\n mov cl, 32\n shl eax, cl\n int3");
    expect(cpu.r32[0] >>> 0).toBe(0x80000001);
    expect(flags(cpu)).toBe(CF);
  });

  it("sets CF to the last bit shifted out and OF to the sign change on SHL by 1", () => {
    const { cpu } = runAsm("mov al, 0x40\n shl al, 1\n int3");
    expect(cpu.r8[0]).toBe(0x80);
    expect(flags(cpu)).toBe(SF | OF);
  });

  it("sets OF to the original sign bit on SHR by 1 and clears it on SAR", () => {
    const { cpu } = runAsm("mov ax, 0x8001\n shr ax, 1\n pushfd\n pop ebx\n mov dx, 0x8001\n sar dx, 1\n int3");
    expect(cpu.r16[0]).toBe(0x4000);
    expect(cpu.r32[3] & (CF | OF)).toBe(CF | OF);
    expect(cpu.r16[2 << 1]).toBe(0xc000);
    expect(flags(cpu)).toBe(CF | SF);
  });

  it("fills with the sign on an 8-bit SAR by more than 8", () => {
    const { cpu } = runAsm("mov bl, 0x80\n mov cl, 20\n sar bl, cl\n int3");
    expect(cpu.r8[12]).toBe(0xff);
    expect(cpu.getEflags() & CF).toBe(CF);
  });

  it("rotates 8-bit RCL through carry modulo 9", () => {
    const { cpu } = runAsm("mov al, 0x81\n stc\n mov cl, 9\n rcl al, cl\n pushfd\n pop ebx\n mov dl, 0x81\n stc\n rcl dl, 1\n int3");
    expect(cpu.r8[0]).toBe(0x81);
    expect(cpu.r32[3] & CF).toBe(CF);
    expect(cpu.r8[8]).toBe(0x03);
    expect(cpu.getEflags() & (CF | OF)).toBe(CF | OF);
  });

  it("rotates RCR right through carry with OF from the two top result bits", () => {
    const { cpu } = runAsm("mov eax, 1\n clc\n rcr eax, 1\n pushfd\n pop ebx\n mov edx, 2\n stc\n rcr edx, 1\n int3");
    expect(cpu.r32[0]).toBe(0);
    expect(cpu.r32[3] & (CF | OF)).toBe(CF);
    expect(cpu.r32[2] >>> 0).toBe(0x80000001);
    expect(cpu.getEflags() & (CF | OF)).toBe(OF);
  });

  it("sets CF from the low bit after ROL by a multiple of the width", () => {
    const { cpu } = runAsm("mov al, 0x81\n clc\n rol al, 8\n int3");
    expect(cpu.r8[0]).toBe(0x81);
    expect(cpu.getEflags() & CF).toBe(CF);
  });

  it("shifts a memory operand through one address", () => {
    const { cpu } = runAsm("mov dword [0x3000], 0x12345678\n ror dword [0x3000], 8\n int3");
    expect(cpu.mem.read32(0x3000) >>> 0).toBe(0x78123456);
  });

  it("fills SHLD from the source's high bits and SHRD from its low bits", () => {
    const { cpu } = runAsm("mov eax, 0x12345678\n mov ebx, 0x9abcdef0\n shld eax, ebx, 8\n mov edx, 0x12345678\n shrd edx, ebx, 4\n int3");
    expect(cpu.r32[0] >>> 0).toBe(0x3456789a);
    expect(cpu.r32[2] >>> 0).toBe(0x01234567);
  });

  it("takes SHLD's CF from the last bit shifted out of the destination", () => {
    const { cpu } = runAsm("mov ax, 0x8000\n mov bx, 0\n shld ax, bx, 1\n int3");
    expect(cpu.r16[0]).toBe(0);
    expect(flags(cpu)).toBe(CF | ZF | OF);
  });
});
