import { describe, expect, it } from "vitest";
import { Flag } from "../../../x86/eflags.js";
import { Reg, Seg } from "../../../x86/insn.js";
import { runAsm } from "../../../../test/support/cpu.js";
import { type Cpu } from "../cpu.js";
import { SegAttr } from "../arch.js";
import { Vec } from "../../../x86/vectors.js";
import { writeDescriptor } from "../segments.js";

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

/**
 * GDT at 0x500: 08 flat code, 10 flat 32-bit data (B = 1), 18 a 16-bit stack (B = 0) at 0x50000
 * with a 64 KiB limit, 20 read-only data. SS starts as the 16-bit stack with ESP's upper half set.
 */
function stack16(c: Cpu): void {
  const data = SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.ACCESSED;
  c.gdtrBase = 0x500;
  c.gdtrLimit = 0x27;
  writeDescriptor(c, 0x508, 0, 0xfffff, SegAttr.P | SegAttr.S | SegAttr.CODE | SegAttr.RW | SegAttr.ACCESSED | SegAttr.DB | SegAttr.G);
  writeDescriptor(c, 0x510, 0, 0xfffff, data | SegAttr.DB | SegAttr.G);
  writeDescriptor(c, 0x518, 0x50000, 0xffff, data);
  writeDescriptor(c, 0x520, 0, 0xfffff, (data & ~SegAttr.RW) | SegAttr.DB | SegAttr.G);
  c.setSegCache(Seg.SS, 0x18, 0x50000, 0xffff, data);
}

describe("POP of a segment register", () => {
  // SDM POP: the stack pointer is incremented by the operand size, with the address size of the
  // stack the value was read from; QEMU agrees (guests/conformance/corners.asm).
  it("o32 POP SS from a 16-bit stack to a 32-bit SS moves SP by four as a 16-bit stack", () => {
    const { cpu } = runAsm(`o32 pop ss\n int3`, (c) => {
      stack16(c);
      c.r32[Reg.ESP] = 0xabcdfffc | 0;
      c.mem.write32(0x5fffc, 0xffff0010 | 0);
    });
    expect(cpu.excVector).toBe(Vec.BP);
    expect(cpu.segSel[Seg.SS]).toBe(0x10);
    expect(cpu.r32[Reg.ESP] >>> 0).toBe(0xabcd0000);
  });

  it("o16 POP SS from a 16-bit stack to a 32-bit SS moves SP by two as a 16-bit stack", () => {
    const { cpu } = runAsm(`o16 pop ss\n int3`, (c) => {
      stack16(c);
      c.r32[Reg.ESP] = 0xabcdfffe | 0;
      c.mem.write16(0x5fffe, 0x10);
    });
    expect(cpu.segSel[Seg.SS]).toBe(0x10);
    expect(cpu.r32[Reg.ESP] >>> 0).toBe(0xabcd0000);
  });

  it("POP SS from a 32-bit stack to a 16-bit SS moves all of ESP", () => {
    const { cpu } = runAsm(`o32 pop ss\n int3`, (c) => {
      stack16(c);
      c.setSegCache(Seg.SS, 0x10, 0, 0xffffffff, SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.ACCESSED | SegAttr.DB | SegAttr.G);
      c.r32[Reg.ESP] = 0x1fffc;
      c.mem.write32(0x1fffc, 0x18);
    });
    expect(cpu.segSel[Seg.SS]).toBe(0x18);
    expect(cpu.r32[Reg.ESP]).toBe(0x20000);
  });

  for (const [seg, n] of [["ds", Seg.DS], ["es", Seg.ES], ["fs", Seg.FS], ["gs", Seg.GS]] as const) {
    it(`o32 and o16 POP ${seg.toUpperCase()} on a 16-bit stack move SP by four and two, wrapping in 64 KiB`, () => {
      const { cpu } = runAsm(`o32 pop ${seg}\n o16 pop ${seg}\n int3`, (c) => {
        stack16(c);
        c.r32[Reg.ESP] = 0xabcdfffa | 0;
        c.mem.write32(0x5fffa, 0x10);
        c.mem.write16(0x5fffe, 0x20);
      });
      expect(cpu.segSel[n]).toBe(0x20);
      expect(cpu.r32[Reg.ESP] >>> 0).toBe(0xabcd0000);
    });
  }

  it("a POP SS that faults leaves SP unchanged", () => {
    const { cpu } = runAsm(`o32 pop ss\n int3`, (c) => {
      stack16(c);
      c.r32[Reg.ESP] = 0xabcdfffc | 0;
      c.mem.write32(0x5fffc, 0x20);
    });
    expect([cpu.excVector, cpu.excCode]).toEqual([Vec.GP, 0x20]);
    expect(cpu.r32[Reg.ESP] >>> 0).toBe(0xabcdfffc);
    expect(cpu.segSel[Seg.SS]).toBe(0x18);
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
