import { describe, expect, it } from "vitest";
import { Reg, Seg } from "../../../x86/insn.js";
import { runAsm } from "../../../../test/support/cpu.js";
import { Vec } from "../../../x86/vectors.js";

describe("SYSENTER and SYSEXIT", () => {
  it("round-trips kernel → SYSEXIT → user → SYSENTER → kernel with the flat segments SYSENTER_CS implies", () => {
    const { cpu } = runAsm(`
      mov ecx, 0x174       ; SYSENTER_CS
      mov eax, 0x10
      xor edx, edx
      wrmsr
      mov ecx, 0x175       ; SYSENTER_ESP
      mov eax, 0x70000
      wrmsr
      mov ecx, 0x176       ; SYSENTER_EIP
      mov eax, kernel
      wrmsr
      mov ecx, 0x60000     ; the user stack
      mov edx, user
      sysexit
    user:
      mov esi, esp
      mov edi, cs
      sysenter
    kernel:
      int3`);
    expect(cpu.excVector).toBe(Vec.BP);
    expect(cpu.r32[Reg.ESI]).toBe(0x60000);
    expect(cpu.r32[Reg.EDI]).toBe(0x23); // (0x10 + 16) | 3
    expect(cpu.cpl).toBe(0);
    expect(cpu.segSel[Seg.CS]).toBe(0x10);
    expect(cpu.segSel[Seg.SS]).toBe(0x18);
    expect(cpu.r32[Reg.ESP]).toBe(0x70000);
    expect(cpu.segLimit[Seg.SS]).toBe(0xffffffff);
    expect(cpu.code32).toBe(true);
  });

  it("raises #GP(0) for SYSENTER with SYSENTER_CS = 0 and for SYSEXIT outside CPL 0", () => {
    const enter = runAsm(`sysenter`);
    expect([enter.cpu.excVector, enter.cpu.excCode]).toEqual([Vec.GP, 0]);
    const exit = runAsm(`
      mov ecx, 0x174
      mov eax, 0x10
      xor edx, edx
      wrmsr
      mov edx, user
      sysexit
    user:
      sysexit`);
    expect([exit.cpu.excVector, exit.cpu.excCode]).toEqual([Vec.GP, 0]);
    expect(exit.cpu.cpl).toBe(3);
  });
});
