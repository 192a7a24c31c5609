import { describe, expect, it } from "vitest";
import { Reg, Seg } from "../../../x86/insn.js";
import { runAsm } from "../../../../test/support/cpu.js";
import { type Cpu } from "../cpu.js";
import { SegAttr, Stop } from "../arch.js";
import { Vec } from "../../../x86/vectors.js";
import { writeDescriptor, writeGate } from "../segments.js";

const CODE32 = SegAttr.P | SegAttr.S | SegAttr.CODE | SegAttr.RW | SegAttr.DB | SegAttr.G;
const DATA32 = SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.DB | SegAttr.G;
const DPL3 = 3 << SegAttr.DPL_SHIFT;

/** GDT at 0x500: 08 code0, 10 data0, 18 code3, 20 data3, 28 a DPL-3 call gate to 08:0x1100 with 2 parameters; TSS stack 10:0x9000. */
function system(c: Cpu): void {
  c.gdtrBase = 0x500;
  c.gdtrLimit = 0x2f;
  writeDescriptor(c, 0x508, 0, 0xfffff, CODE32);
  writeDescriptor(c, 0x510, 0, 0xfffff, DATA32);
  writeDescriptor(c, 0x518, 0, 0xfffff, CODE32 | DPL3);
  writeDescriptor(c, 0x520, 0, 0xfffff, DATA32 | DPL3);
  writeGate(c, 0x528, 0x08, 0x1100, 0xc, 3);
  c.mem.write8(0x528 + 4, 2); // parameter count
  c.trBase = 0x6000;
  c.trLimit = 0x67;
  c.trAttr = 0x8b;
  c.mem.write32(0x6004, 0x9000);
  c.mem.write16(0x6008, 0x10);
  c.cpl = 3;
  c.setSegCache(Seg.CS, 0x1b, 0, 0xffffffff, CODE32 | DPL3);
  c.setSegCache(Seg.SS, 0x23, 0, 0xffffffff, DATA32 | DPL3);
}

describe("call gates", () => {
  it("CALLs from CPL 3 through a call gate to CPL 0 with the TSS stack and copied parameters, and RETF 8 returns", () => {
    const { cpu, stop } = runAsm(`
      push 0x1111
      push 0x2222
      call 0x28:0
      mov ebx, esp
      mov edi, cs
      int3
      times 0x100 - ($ - $$) db 0xcc
      mov esi, cs
      mov eax, [esp + 8]   ; the parameter pushed last
      mov ecx, [esp + 12]
      mov edx, [esp + 20]  ; the caller's SS
      retf 8`, system);
    expect(stop).toBe(Stop.EXCEPTION);
    expect(cpu.excVector).toBe(Vec.BP);
    expect(cpu.r32[Reg.ESI]).toBe(0x08);
    expect(cpu.r32[Reg.EAX]).toBe(0x2222);
    expect(cpu.r32[Reg.ECX]).toBe(0x1111);
    expect(cpu.r32[Reg.EDX]).toBe(0x23);
    expect(cpu.mem.read32(0x9000 - 4)).toBe(0x23);
    expect(cpu.r32[Reg.EBX]).toBe(0x80000); // RETF 8 dropped the parameters
    expect(cpu.r32[Reg.EDI]).toBe(0x1b);
    expect(cpu.cpl).toBe(3);
  });

  it("returns from a 16-bit call gate with O16 RETF, loading the outer 32-bit stack's ESP with the zero-extended SP", () => {
    // A 16-bit gate (type 4) pushes SS, SP, the word parameters, CS and IP as words on the inner
    // stack, whose ESP has upper bits (0x9000) that must not leak into the outer ESP.
    const { cpu } = runAsm(`
      mov esp, 0xf000
      push word 0x1111
      push word 0x2222
      call 0x28:0
      mov ebx, esp
      int3
      times 0x100 - ($ - $$) db 0xcc
      mov eax, [esp + 4]  ; both word parameters
      o16 retf 4`, (c) => {
      system(c);
      writeGate(c, 0x528, 0x08, 0x1100, 0x4, 3);
      c.mem.write8(0x528 + 4, 2);
    });
    expect(cpu.excVector).toBe(Vec.BP);
    expect(cpu.r32[Reg.EAX]).toBe(0x11112222);
    expect(cpu.r32[Reg.EBX]).toBe(0xf000);
  });

  it("refuses a JMP through a call gate to a more privileged segment with #GP(code selector)", () => {
    const { cpu } = runAsm(`jmp 0x28:0`, system);
    expect([cpu.excVector, cpu.excCode]).toEqual([Vec.GP, 0x08]);
  });
});
