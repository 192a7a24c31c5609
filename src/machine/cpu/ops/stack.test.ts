import { describe, expect, it } from "vitest";
import { Flag } from "../../../x86/eflags.js";
import { Reg, Seg } from "../../../x86/insn.js";
import { runAsm } from "../../../../test/support/cpu.js";
import { type Cpu } from "../cpu.js";
import { SegAttr } from "../arch.js";
import { Vec } from "../../../x86/vectors.js";

const CODE3 = SegAttr.P | SegAttr.S | SegAttr.CODE | SegAttr.RW | SegAttr.DB | SegAttr.G | (3 << SegAttr.DPL_SHIFT);
const DATA3 = SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.DB | SegAttr.G | (3 << SegAttr.DPL_SHIFT);

function user(c: Cpu): void {
  c.cpl = 3;
  c.setSegCache(Seg.CS, 0x1b, 0, 0xffffffff, CODE3);
  c.setSegCache(Seg.SS, 0x23, 0, 0xffffffff, DATA3);
}

describe("PUSH and POP", () => {
  it("PUSH ESP pushes the value ESP had before the push", () => {
    const { cpu } = runAsm(`push esp\n pop eax\n int3`);
    expect(cpu.r32[Reg.EAX]).toBe(0x80000);
  });

  it("POP ESP loads ESP with the popped value", () => {
    const { cpu } = runAsm(`push 0x5000\n pop esp\n int3`);
    expect(cpu.r32[Reg.ESP]).toBe(0x5000);
  });

  it("POP [ESP] computes the address after incrementing ESP", () => {
    const { cpu } = runAsm(`
      push 0x11
      push 0x22
      pop dword [esp]
      int3`);
    expect(cpu.r32[Reg.ESP]).toBe(0x80000 - 4);
    expect(cpu.mem.read32(0x80000 - 4)).toBe(0x22);
  });

  it("pushes sign-extended byte immediates and 16-bit values with an operand-size prefix", () => {
    const { cpu } = runAsm(`
      push byte -2
      push word 0x1234
      int3`);
    expect(cpu.mem.read32(0x80000 - 4)).toBe(-2);
    expect(cpu.mem.read16(0x80000 - 6)).toBe(0x1234);
    expect(cpu.r32[Reg.ESP]).toBe(0x80000 - 6);
  });

  it("PUSH Ev and POP Ev move memory through the stack", () => {
    const { cpu } = runAsm(`
      mov dword [0x3000], 0xdeadbeef
      push dword [0x3000]
      pop dword [0x3004]
      int3`);
    expect(cpu.mem.read32(0x3004) >>> 0).toBe(0xdeadbeef);
  });

  it("a 32-bit PUSH of a segment register writes two bytes and moves ESP by four", () => {
    const { cpu } = runAsm(`
      mov dword [0x80000 - 4], 0xffffffff
      push ds
      int3`);
    expect(cpu.r32[Reg.ESP]).toBe(0x80000 - 4);
    expect(cpu.mem.read32(0x80000 - 4) >>> 0).toBe(0xffff0010);
  });

  it("POP SS marks the next instruction as not interruptible", () => {
    const { cpu } = runAsm(`push ss\n pop ss\n int3`, undefined, { mode: "real" });
    expect(cpu.irqShadowAt).toBe(2);
  });

  it("PUSHA saves the original ESP and POPA skips it", () => {
    const { cpu } = runAsm(`
      mov eax, 1
      mov ecx, 2
      mov edx, 3
      mov ebx, 4
      mov ebp, 6
      mov esi, 7
      mov edi, 8
      pushad
      mov eax, [esp + 12]
      mov [esp + 28], dword 0x99
      mov dword [esp + 12], 0x1234
      popad
      int3`);
    expect(cpu.r32[Reg.EAX]).toBe(0x99);
    expect(cpu.r32[Reg.EBX]).toBe(4);
    expect(cpu.r32[Reg.ESP]).toBe(0x80000);
    expect(cpu.r32[Reg.EDI]).toBe(8);
    expect(cpu.mem.read32(0x80000 - 20)).toBe(0x1234);
  });

  it("PUSHA and POPA with 16-bit operands in real mode", () => {
    const { cpu } = runAsm(`
      mov ax, 0x1111
      mov di, 0x8888
      pusha
      mov [0x3000], sp
      xor ax, ax
      xor di, di
      popa
      int3`, undefined, { mode: "real" });
    expect(cpu.mem.read16(0x3000)).toBe(0xfffe - 16);
    expect(cpu.reg16(Reg.EAX)).toBe(0x1111);
    expect(cpu.reg16(Reg.EDI)).toBe(0x8888);
    expect(cpu.reg16(Reg.ESP)).toBe(0xfffe);
  });
});

describe("PUSHF and POPF", () => {
  it("PUSHFD clears RF and VM in the pushed image", () => {
    const { cpu } = runAsm(`pushfd\n pop eax\n int3`, (c) => { c.flags |= Flag.RF; });
    expect(cpu.r32[Reg.EAX] & Flag.RF).toBe(0);
    expect(cpu.r32[Reg.EAX] & Flag.FIXED).toBe(Flag.FIXED);
  });

  it("POPF at CPL 0 changes IF, IOPL, AC and ID but not VM", () => {
    const { cpu } = runAsm(`
      push dword 0x263202 | 0x20000 | 0x10000
      popfd
      int3`);
    const f = cpu.getEflags();
    expect(f & (Flag.IF | Flag.IOPL | Flag.AC | Flag.ID)).toBe(Flag.IF | Flag.IOPL | Flag.AC | Flag.ID);
    expect(f & (Flag.VM | Flag.RF)).toBe(0);
  });

  it("POPF at CPL 3 with IOPL 0 leaves IF and IOPL alone but changes the status flags", () => {
    const { cpu } = runAsm(`
      push dword 0x3000 | 0x200 | 0x8d5
      popfd
      int3`, user);
    const f = cpu.getEflags();
    expect(f & (Flag.IF | Flag.IOPL)).toBe(0);
    expect(f & 0x8d5).toBe(0x8d5);
  });

  it("POPF at CPL 3 with IOPL 3 may change IF", () => {
    const { cpu } = runAsm(`
      push dword 0x200
      popfd
      int3`, (c) => { user(c); c.flags |= Flag.IOPL; });
    expect(cpu.getEflags() & (Flag.IF | Flag.IOPL)).toBe(Flag.IF | Flag.IOPL);
  });

  it("a 16-bit POPF keeps the upper half of EFLAGS", () => {
    const { cpu } = runAsm(`
      push word 0x0001
      popfw
      int3`, (c) => { c.flags |= Flag.AC; });
    expect(cpu.getEflags() & (Flag.AC | Flag.CF)).toBe(Flag.AC | Flag.CF);
  });

  it("stack faults leave ESP unchanged", () => {
    const { cpu } = runAsm(`push eax`, (c) => {
      c.setSegCache(Seg.SS, 0x10, 0, 0xfff, SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.DB);
      c.r32[Reg.ESP] = 0x2000;
    });
    expect([cpu.excVector, cpu.excCode]).toEqual([Vec.SS, 0]);
    expect(cpu.r32[Reg.ESP]).toBe(0x2000);
  });
});
