import { describe, expect, it } from "vitest";
import { Flag } from "../../x86/eflags.js";
import { Reg, Seg } from "../../x86/insn.js";
import { runAsm } from "../../../test/support/cpu.js";
import { type Cpu } from "./cpu.js";
import { SegAttr, Stop } from "./arch.js";
import { Vec } from "../../x86/vectors.js";
import { writeDescriptor, writeGate } from "./segments.js";

const CODE32 = SegAttr.P | SegAttr.S | SegAttr.CODE | SegAttr.RW | SegAttr.DB | SegAttr.G;
const DATA32 = SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.DB | SegAttr.G;
const DPL3 = 3 << SegAttr.DPL_SHIFT;
const INT32 = 0xe, TRAP32 = 0xf, INT16 = 0x6;
const IDT = 0x4000;

/** Handlers sit at 0x1100, 0x1200, ...: `handler(n)` pads the program to the n-th one. */
const handler = (n: number): string => `times 0x${n}00 - ($ - $$) db 0xcc`;

/** GDT at 0x500 (08 code0, 10 data0, 18 code3, 20 data3, 28 not-present code), an IDT at 0x4000 and a TSS at 0x6000. */
function system(c: Cpu): void {
  c.trapExceptions = false;
  c.gdtrBase = 0x500;
  c.gdtrLimit = 0x2f;
  writeDescriptor(c, 0x508, 0, 0xfffff, CODE32);
  writeDescriptor(c, 0x510, 0, 0xfffff, DATA32);
  writeDescriptor(c, 0x518, 0, 0xfffff, CODE32 | DPL3);
  writeDescriptor(c, 0x520, 0, 0xfffff, DATA32 | DPL3);
  writeDescriptor(c, 0x528, 0, 0xfffff, CODE32 & ~SegAttr.P);
  c.idtrBase = IDT;
  c.idtrLimit = 0x7ff;
  c.trBase = 0x6000;
  c.trLimit = 0x67;
  c.trAttr = 0x8b;
  c.mem.write32(0x6004, 0x9000); // ESP0
  c.mem.write16(0x6008, 0x10); // SS0
}

function gate(c: Cpu, vector: number, offset: number, type = INT32, dpl = 0, sel = 0x08): void {
  writeGate(c, IDT + vector * 8, sel, offset, type, dpl);
}

function user(c: Cpu): void {
  c.cpl = 3;
  c.setSegCache(Seg.CS, 0x1b, 0, 0xffffffff, CODE32 | DPL3);
  c.setSegCache(Seg.SS, 0x23, 0, 0xffffffff, DATA32 | DPL3);
}

const stack = (c: Cpu, k: number): number => c.mem.read32(c.r32[Reg.ESP] + 4 * k);

describe("real-mode delivery through the IVT", () => {
  it("INT n pushes FLAGS, CS and IP, clears IF and TF, and enters the handler", () => {
    const { cpu, stop } = runAsm(`
      int 0x21
      ${handler(1)}
      hlt`, (c) => {
      c.trapExceptions = false;
      c.mem.write16(0x21 * 4, 0x0100);
      c.mem.write16(0x21 * 4 + 2, 0x0100);
      c.flags |= Flag.IF | Flag.TF;
    }, { mode: "real" });
    expect(stop).toBe(Stop.HALT);
    expect(cpu.segSel[Seg.CS]).toBe(0x100);
    expect(cpu.segBase[Seg.CS]).toBe(0x1000);
    expect(cpu.reg16(Reg.ESP)).toBe(0xfffe - 6);
    expect(cpu.mem.read16(0xfff8)).toBe(0x1002);
    expect(cpu.mem.read16(0xfffa)).toBe(0);
    expect(cpu.mem.read16(0xfffc) & (Flag.IF | Flag.TF)).toBe(Flag.IF | Flag.TF);
    expect(cpu.getEflags() & (Flag.IF | Flag.TF)).toBe(0);
  });

  it("a fault pushes the address of the faulting instruction, and IRET resumes", () => {
    const { cpu } = runAsm(`
      xor bx, bx
      xor dx, dx
      div bx
      mov cx, 1
      hlt
      ${handler(1)}
      mov bx, 1
      iret`, (c) => {
      c.trapExceptions = false;
      c.mem.write16(0, 0x1100);
    }, { mode: "real" });
    // DIV is retried after the handler fixed BX, so it returns to the DIV itself.
    expect(cpu.reg16(Reg.ECX)).toBe(1);
    expect(cpu.reg16(Reg.EBX)).toBe(1);
    expect(cpu.reg16(Reg.ESP)).toBe(0xfffe);
  });
});

describe("protected-mode delivery through the IDT", () => {
  it("an interrupt gate at the same privilege pushes EFLAGS, CS, EIP and clears IF", () => {
    const { cpu, stop } = runAsm(`
      sti
      int 0x80
      ${handler(1)}
      hlt`, (c) => { system(c); gate(c, 0x80, 0x1100); });
    expect(stop).toBe(Stop.HALT);
    expect(cpu.r32[Reg.ESP]).toBe(0x80000 - 12);
    expect(stack(cpu, 0)).toBe(0x1003);
    expect(stack(cpu, 1)).toBe(0x08);
    expect(stack(cpu, 2) & Flag.IF).toBe(Flag.IF);
    expect(cpu.getEflags() & Flag.IF).toBe(0);
  });

  it("a trap gate leaves IF set", () => {
    const { cpu } = runAsm(`
      sti
      int 0x80
      ${handler(1)}
      hlt`, (c) => { system(c); gate(c, 0x80, 0x1100, TRAP32); });
    expect(cpu.getEflags() & Flag.IF).toBe(Flag.IF);
  });

  it("pushes the error code of #GP with EIP at the faulting instruction", () => {
    const { cpu } = runAsm(`
      mov ax, 0x48
      mov ds, ax
      ${handler(1)}
      hlt`, (c) => { system(c); gate(c, Vec.GP, 0x1100); });
    expect(stack(cpu, 0)).toBe(0x48);
    expect(stack(cpu, 1)).toBe(0x1004);
  });

  it("switches to the TSS's ring-0 stack from CPL 3, and IRET returns to ring 3", () => {
    const { cpu } = runAsm(`
      int 0x80
      mov ebx, 0x55
      jmp $
      ${handler(1)}
      mov [0x3000], esp
      mov eax, [esp + 16]
      mov ecx, [esp + 4]
      iretd`, (c) => {
      system(c);
      user(c);
      c.r32[Reg.ESP] = 0x7000;
      gate(c, 0x80, 0x1100, INT32, 3);
    }, { budget: 50 });
    expect(cpu.mem.read32(0x3000)).toBe(0x9000 - 20);
    expect(cpu.r32[Reg.EAX]).toBe(0x23);
    expect(cpu.r32[Reg.ECX]).toBe(0x1b);
    expect(cpu.mem.read32(0x9000 - 8)).toBe(0x7000);
    expect(cpu.cpl).toBe(3);
    expect(cpu.r32[Reg.EBX]).toBe(0x55);
    expect(cpu.r32[Reg.ESP]).toBe(0x7000);
    expect(cpu.segSel[Seg.SS]).toBe(0x23);
  });

  it("refuses INT n through a gate whose DPL is below the CPL with #GP(vector * 8 + 2)", () => {
    const { cpu } = runAsm(`
      int 0x80
      ${handler(1)}
      hlt`, (c) => {
      system(c);
      user(c);
      c.r32[Reg.ESP] = 0x7000;
      gate(c, 0x80, 0x1000, INT32, 0);
      gate(c, Vec.GP, 0x1100);
    });
    expect(cpu.cpl).toBe(0);
    expect(stack(cpu, 0)).toBe(0x80 * 8 + 2);
    expect(stack(cpu, 1)).toBe(0x1000);
  });

  it("raises #NP(vector * 8 + 2) for a gate that is not present", () => {
    const { cpu } = runAsm(`
      int 0x40
      ${handler(1)}
      hlt`, (c) => {
      system(c);
      gate(c, Vec.NP, 0x1100);
      c.mem.write8(IDT + 0x40 * 8 + 5, 0x0e); // a 32-bit interrupt gate with P = 0
    });
    expect(stack(cpu, 0)).toBe(0x40 * 8 + 2);
  });

  it("sets EXT in the error code of a fault raised while delivering an exception", () => {
    const { cpu } = runAsm(`
      ud2
      ${handler(1)}
      hlt`, (c) => {
      system(c);
      gate(c, Vec.UD, 0x1000, INT32, 0, 0x28);
      gate(c, Vec.NP, 0x1100);
    });
    expect(stack(cpu, 0)).toBe(0x28 | 1);
    expect(stack(cpu, 1)).toBe(0x1000);
  });

  it("a contributory fault while delivering #GP becomes a double fault with error code 0", () => {
    const { cpu } = runAsm(`
      mov ax, 0x48
      mov ds, ax
      ${handler(1)}
      hlt`, (c) => {
      system(c);
      gate(c, Vec.GP, 0x1000, INT32, 0, 0x28); // its code segment is not present: #NP
      gate(c, Vec.DF, 0x1100);
    });
    expect(cpu.halted).toBe(true);
    expect(stack(cpu, 0)).toBe(0);
  });

  it("shuts down on a fault while delivering a double fault", () => {
    const { cpu, stop } = runAsm(`
      mov ax, 0x48
      mov ds, ax`, (c) => {
      system(c);
      c.idtrLimit = 0;
    });
    expect(stop).toBe(Stop.SHUTDOWN);
    expect(cpu.eip).toBe(0x1004);
  });

  it("a 16-bit interrupt gate pushes a 16-bit frame", () => {
    const { cpu } = runAsm(`
      int 0x30
      ${handler(1)}
      hlt`, (c) => { system(c); gate(c, 0x30, 0x1100, INT16); });
    expect(cpu.r32[Reg.ESP]).toBe(0x80000 - 6);
    expect(cpu.mem.read16(0x80000 - 6)).toBe(0x1002);
    expect(cpu.mem.read16(0x80000 - 4)).toBe(0x08);
  });
});
