import { describe, expect, it } from "vitest";
import { runAsm } from "../../../../test/support/cpu.js";
import { Vec } from "../../../x86/vectors.js";

const CF = 0x1, ZF = 0x40, SF = 0x80, OF = 0x800;

describe("TEST, NOT, NEG, MUL, IMUL, DIV, IDIV, CBW, CWD", () => {
  it("sets CF when NEG's operand is not zero and OF for the most negative value", () => {
    const { cpu } = runAsm("mov eax, 0x80000000\n neg eax\n pushfd\n pop ebx\n xor ecx, ecx\n neg ecx\n pushfd\n pop edx\n int3");
    expect(cpu.r32[0] >>> 0).toBe(0x80000000);
    expect(cpu.r32[3] & (CF | OF)).toBe(CF | OF);
    expect(cpu.r32[2] & (CF | ZF)).toBe(ZF);
  });

  it("leaves the flags alone on NOT of a memory operand", () => {
    const { cpu } = runAsm("stc\n mov dword [0x2000], 0x0f0f00ff\n not dword [0x2000]\n int3");
    expect(cpu.mem.read32(0x2000) >>> 0).toBe(0xf0f0ff00);
    expect(cpu.getEflags() & CF).toBe(CF);
  });

  it("puts MUL's 64-bit product in EDX:EAX and sets CF and OF when EDX is not zero", () => {
    const { cpu } = runAsm("mov eax, 0xffffffff\n mov ebx, 0xffffffff\n mul ebx\n int3");
    expect(cpu.r32[0] >>> 0).toBe(1);
    expect(cpu.r32[2] >>> 0).toBe(0xfffffffe);
    expect(cpu.getEflags() & (CF | OF)).toBe(CF | OF);
  });

  it("sets OF when IMUL's product does not fit the destination", () => {
    const { cpu } = runAsm("mov eax, 0x10000\n imul eax, eax, 0x8000\n pushfd\n pop ebx\n mov ecx, -2\n imul ecx, ecx\n int3");
    expect(cpu.r32[0] >>> 0).toBe(0x80000000);
    expect(cpu.r32[3] & (CF | OF)).toBe(CF | OF);
    expect(cpu.r32[1]).toBe(4);
    expect(cpu.getEflags() & (CF | OF)).toBe(0);
  });

  it("computes one-operand IMUL's signed high half", () => {
    const { cpu } = runAsm("mov eax, -3\n mov ebx, 0x7fffffff\n imul ebx\n int3");
    expect(cpu.r32[0] >>> 0).toBe(0x80000003);
    expect(cpu.r32[2]).toBe(-2);
    expect(cpu.getEflags() & (CF | OF)).toBe(CF | OF);
  });

  it("divides EDX:EAX by a 32-bit divisor exactly", () => {
    const { cpu } = runAsm("mov edx, 0xfffffffe\n mov eax, 0xffffffff\n mov ebx, 0xffffffff\n div ebx\n int3");
    expect(cpu.r32[0] >>> 0).toBe(0xffffffff);
    expect(cpu.r32[2] >>> 0).toBe(0xfffffffe);
  });

  it("rounds IDIV's quotient toward zero and gives the remainder the dividend's sign", () => {
    const { cpu } = runAsm("mov eax, -7\n cdq\n mov ebx, 2\n idiv ebx\n int3");
    expect(cpu.r32[0]).toBe(-3);
    expect(cpu.r32[2]).toBe(-1);
  });

  it("raises #DE on division by zero with the registers unchanged", () => {
    const { cpu } = runAsm("mov eax, 5\n xor edx, edx\n xor ebx, ebx\n div ebx\n int3");
    expect(cpu.excVector).toBe(Vec.DE);
    expect(cpu.r32[0]).toBe(5);
    expect(cpu.eip).toBe(0x1000 + 9);
  });

  it("raises #DE when IDIV of INT_MIN by -1 overflows", () => {
    const { cpu } = runAsm("mov eax, 0x80000000\n cdq\n mov ebx, -1\n idiv ebx\n int3");
    expect(cpu.excVector).toBe(Vec.DE);
  });

  it("raises #DE when an 8-bit DIV quotient exceeds 255", () => {
    const { cpu } = runAsm("mov ax, 0x1000\n mov bl, 0x10\n div bl\n int3");
    expect(cpu.excVector).toBe(Vec.DE);
  });

  it("accepts IDIV's most negative quotient", () => {
    const { cpu } = runAsm("mov ax, -256\n mov bl, 2\n idiv bl\n int3");
    expect(cpu.excVector).toBe(3);
    expect(cpu.r8[0]).toBe(0x80);
    expect(cpu.r8[1]).toBe(0);
  });

  it("sign-extends with CBW, CWDE, CWD and CDQ", () => {
    const { cpu } = runAsm("mov eax, 0x12345680\n cbw\n mov ebx, eax\n cwde\n mov ecx, eax\n cwd\n mov esi, edx\n cdq\n int3");
    expect(cpu.r32[3] >>> 0).toBe(0x1234ff80);
    expect(cpu.r32[1]).toBe(-128);
    expect(cpu.r32[6] & 0xffff).toBe(0xffff);
    expect(cpu.r32[2]).toBe(-1);
  });

  it("sets SF and ZF from TEST of AL with an immediate", () => {
    const { cpu } = runAsm("mov al, 0x80\n test al, 0x80\n int3");
    expect(cpu.getEflags() & (SF | ZF | CF | OF)).toBe(SF);
  });
});
