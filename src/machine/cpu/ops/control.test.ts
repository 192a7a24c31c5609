import { describe, expect, it } from "vitest";
import { Flag } from "../../../x86/eflags.js";
import { Reg, Seg } from "../../../x86/insn.js";
import { bareCpu, identityPaging, nasm, PAGING_PD, runAsm } from "../../../../test/support/cpu.js";
import { type Cpu } from "../cpu.js";
import { SegAttr, Stop } from "../arch.js";
import { Vec } from "../../../x86/vectors.js";
import { writeDescriptor, writeGate } from "../segments.js";

const CODE32 = SegAttr.P | SegAttr.S | SegAttr.CODE | SegAttr.RW | SegAttr.DB | SegAttr.G;
const DATA32 = SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.DB | SegAttr.G;
const DPL3 = 3 << SegAttr.DPL_SHIFT;

/** A GDT at 0x500: 08 code0, 10 data0, 18 code3, 20 data3, 28 not-present code, 30 call gate, 38 conforming code0, 40 small code0. */
function gdt(cpu: Cpu): void {
  cpu.gdtrBase = 0x500;
  cpu.gdtrLimit = 0x4f;
  writeDescriptor(cpu, 0x508, 0, 0xfffff, CODE32);
  writeDescriptor(cpu, 0x510, 0, 0xfffff, DATA32);
  writeDescriptor(cpu, 0x518, 0, 0xfffff, CODE32 | DPL3);
  writeDescriptor(cpu, 0x520, 0, 0xfffff, DATA32 | DPL3);
  writeDescriptor(cpu, 0x528, 0, 0xfffff, CODE32 & ~SegAttr.P);
  writeGate(cpu, 0x530, 0x08, 0x1000, 0xc, 0);
  writeDescriptor(cpu, 0x538, 0, 0xfffff, CODE32 | SegAttr.DC);
  writeDescriptor(cpu, 0x540, 0, 0x1fff, CODE32 & ~SegAttr.G);
}

/** The GDT, and CPL 3 with user code and stack segments. */
function user(c: Cpu): void {
  gdt(c);
  c.cpl = 3;
  c.setSegCache(Seg.CS, 0x1b, 0, 0xffffffff, CODE32 | DPL3);
  c.setSegCache(Seg.SS, 0x23, 0, 0xffffffff, DATA32 | DPL3);
}

describe("conditional and near jumps", () => {
  it("takes a Jcc whose condition holds and falls through otherwise", () => {
    const { cpu } = runAsm(`
      mov eax, 1
      cmp eax, 1
      je .t
      mov ebx, 1
      int3
    .t: mov ebx, 2
      cmp eax, 2
      jg .bad
      jl .ok
    .bad: mov ecx, 1
      int3
    .ok: mov ecx, 2
      int3`);
    expect(cpu.r32[Reg.EBX]).toBe(2);
    expect(cpu.r32[Reg.ECX]).toBe(2);
  });

  it("truncates the target of a jump with 16-bit operand size to 16 bits", () => {
    const { cpu } = bareCpu(new Uint8Array([0x90]));
    // 66 E9 rel16 at 0x21000: EIP = (0x21004 + 0x0ffc) & 0xffff = 0x2000, not 0x22000.
    cpu.mem.load(0x21000, nasm(`db 0x66, 0xe9\n dw 0x0ffc`, 32, 0x21000));
    cpu.mem.load(0x2000, new Uint8Array([0xcc]));
    cpu.eip = 0x21000;
    expect(cpu.run(10)).toBe(Stop.EXCEPTION);
    expect(cpu.excVector).toBe(Vec.BP);
    expect(cpu.eip).toBe(0x2001);
  });

  it("raises #GP(0) at the jump when the target is beyond the CS limit", () => {
    const { cpu, stop } = runAsm(`nop\n jmp dword 0x12345`, undefined, { mode: "real" });
    expect(stop).toBe(Stop.EXCEPTION);
    expect(cpu.excVector).toBe(Vec.GP);
    expect(cpu.excCode).toBe(0);
    expect(cpu.eip).toBe(0x1001);
  });

  it("calls and returns, RET imm16 releasing the arguments", () => {
    const { cpu } = runAsm(`
      push 7
      push 5
      call f
      int3
    f: mov eax, [esp+4]
      add eax, [esp+8]
      ret 8`);
    expect(cpu.r32[Reg.EAX]).toBe(12);
    expect(cpu.r32[Reg.ESP]).toBe(0x80000);
  });

  it("calls and jumps through registers and memory", () => {
    const { cpu } = runAsm(`
      mov eax, f
      call eax
      mov dword [0x3000], g
      jmp [0x3000]
      int3
    f: mov ebx, 1
      ret
    g: mov ecx, 3
      int3`);
    expect(cpu.r32[Reg.EBX]).toBe(1);
    expect(cpu.r32[Reg.ECX]).toBe(3);
  });

  it("pushes a 16-bit return address in real mode", () => {
    const { cpu } = runAsm(`
      call f
      int3
    f: mov bx, [esp]
      ret`, undefined, { mode: "real" });
    expect(cpu.reg16(Reg.EBX)).toBe(0x1003);
    expect(cpu.reg16(Reg.ESP)).toBe(0xfffe);
  });
});

describe("LOOP and JCXZ", () => {
  it("counts with ECX and stops at zero", () => {
    const { cpu } = runAsm(`
      mov ecx, 5
      xor eax, eax
    .l: inc eax
      loop .l
      int3`);
    expect(cpu.r32[Reg.EAX]).toBe(5);
    expect(cpu.r32[Reg.ECX]).toBe(0);
  });

  it("counts with CX when the address size is 16 bits", () => {
    const { cpu } = runAsm(`
      mov ecx, 0x10001
      a16 loop .x
      int3
    .x: mov ebx, 1
      int3`);
    expect(cpu.r32[Reg.ECX]).toBe(0x10000);
    expect(cpu.r32[Reg.EBX]).toBe(0);
  });

  it("LOOPE stops when ZF is clear and LOOPNE when it is set", () => {
    const { cpu } = runAsm(`
      mov ecx, 10
      xor eax, eax
    .l: inc eax
      cmp eax, 3
      loopne .l
      mov ebx, ecx
      mov ecx, 10
      xor edx, edx
    .m: inc edx
      cmp edx, 1
      loope .m
      int3`);
    expect(cpu.r32[Reg.EAX]).toBe(3);
    expect(cpu.r32[Reg.EBX]).toBe(7);
    expect(cpu.r32[Reg.EDX]).toBe(2);
    expect(cpu.r32[Reg.ECX]).toBe(8);
  });

  it("JECXZ jumps on ECX = 0 and JCXZ looks only at CX", () => {
    const { cpu } = runAsm(`
      mov ecx, 0x10000
      jecxz .bad
      a16 jcxz .ok
    .bad: mov eax, 1
      int3
    .ok: mov eax, 2
      int3`);
    expect(cpu.r32[Reg.EAX]).toBe(2);
  });
});

describe("ENTER and LEAVE", () => {
  it("builds a nested frame with the display of enclosing frame pointers", () => {
    const { cpu } = runAsm(`
      mov ebp, 0x7000
      mov dword [0x6ffc], 0xaaaa
      mov dword [0x6ff8], 0xbbbb
      enter 8, 3
      int3`);
    expect(cpu.r32[Reg.EBP]).toBe(0x7fffc);
    expect(cpu.r32[Reg.ESP]).toBe(0x7ffe8);
    expect(cpu.mem.read32(0x7fffc)).toBe(0x7000);
    expect(cpu.mem.read32(0x7fff8)).toBe(0xaaaa);
    expect(cpu.mem.read32(0x7fff4)).toBe(0xbbbb);
    expect(cpu.mem.read32(0x7fff0)).toBe(0x7fffc);
  });

  it("takes the nesting level modulo 32", () => {
    const { cpu } = runAsm(`
      mov ebp, 0x7000
      enter 4, 33
      int3`);
    expect(cpu.r32[Reg.EBP]).toBe(0x7fffc);
    expect(cpu.mem.read32(0x7fff8)).toBe(0x7fffc);
    expect(cpu.r32[Reg.ESP]).toBe(0x7fff8 - 4);
  });

  it("uses BP and SP with 16-bit operands on a 16-bit stack", () => {
    const { cpu } = runAsm(`
      mov bp, 0x7000
      mov word [0x6ffe], 0x1234
      enter 2, 2
      mov ax, sp
      mov bx, bp
      leave
      int3`, undefined, { mode: "real" });
    expect(cpu.reg16(Reg.EBX)).toBe(0xfffc);
    expect(cpu.mem.read16(0xfffa)).toBe(0x1234);
    expect(cpu.mem.read16(0xfff8)).toBe(0xfffc);
    expect(cpu.reg16(Reg.EAX)).toBe(0xfff6);
    expect(cpu.reg16(Reg.ESP)).toBe(0xfffe);
    expect(cpu.reg16(Reg.EBP)).toBe(0x7000);
  });

  /** SS as a 16-bit stack (B = 0) at 0x50000 with a 64 KiB limit. */
  const stack16 = (c: Cpu): void => c.setSegCache(Seg.SS, 0x10, 0x50000, 0xffff, SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.ACCESSED);

  it("o32 ENTER on a 16-bit stack changes BP and SP but not the upper halves of EBP and ESP", () => {
    // QEMU agrees (gen_enter writes EBP at the stack's address size): guests/conformance/corners.asm.
    const { cpu } = runAsm(`o32 enter 8, 0\n int3`, (c) => {
      stack16(c);
      c.r32[Reg.ESP] = 0xabcd1000 | 0;
      c.r32[Reg.EBP] = 0x12345678;
    });
    expect(cpu.r32[Reg.EBP] >>> 0).toBe(0x12340ffc);
    expect(cpu.r32[Reg.ESP] >>> 0).toBe(0xabcd0ff4);
    expect(cpu.mem.read32(0x50ffc)).toBe(0x12345678);
  });

  it("o32 ENTER with a nesting level on a 16-bit stack copies doublewords through BP", () => {
    const { cpu } = runAsm(`o32 enter 4, 2\n int3`, (c) => {
      stack16(c);
      c.r32[Reg.ESP] = 0x1000;
      c.r32[Reg.EBP] = 0x77772000;
      c.mem.write32(0x51ffc, 0xdeadbeef | 0);
    });
    expect(cpu.mem.read32(0x50ffc)).toBe(0x77772000);
    expect(cpu.mem.read32(0x50ff8) >>> 0).toBe(0xdeadbeef);
    // FrameTemp is SP on a 16-bit stack (SDM ENTER), pushed as a doubleword.
    expect(cpu.mem.read32(0x50ff4)).toBe(0x0ffc);
    expect(cpu.r32[Reg.EBP] >>> 0).toBe(0x77770ffc);
    expect(cpu.r32[Reg.ESP]).toBe(0x0ff0);
  });

  // SDM ENTER, Protected Mode Exceptions: "#PF(fault-code) if a page fault occurs or if a write
  // using the final value of the stack pointer (within the current stack segment) would cause a
  // page fault". QEMU never checks the final stack pointer.
  /** CPL 3 with paging on; 0x60000 is a supervisor page. */
  const ring3 = (c: Cpu): void => {
    user(c);
    identityPaging(c, (p) => (p === 0x60 ? 3 : 7));
    c.cr3 = PAGING_PD;
    c.cr0 |= 0x80010000;
    c.paging.changed();
  };

  it("faults when the final stack pointer lies on a supervisor page, having written nothing", () => {
    const { cpu } = runAsm(`enter 0x20, 0\n int3`, (c) => {
      ring3(c);
      c.r32[Reg.ESP] = 0x61008;
      c.r32[Reg.EBP] = 0x11111111;
    });
    expect([cpu.excVector, cpu.excCode, cpu.cr2]).toEqual([Vec.PF, 7, 0x60fe4]);
    expect(cpu.mem.read32(0x61004)).toBe(0);
    expect(cpu.r32[Reg.EBP]).toBe(0x11111111);
    expect(cpu.r32[Reg.ESP]).toBe(0x61008);
  });

  it("faults on a frame pointer copy of a nesting level before writing the saved EBP", () => {
    const { cpu } = runAsm(`enter 0, 3\n int3`, (c) => {
      ring3(c);
      c.r32[Reg.ESP] = 0x61004;
      c.r32[Reg.EBP] = 0x61100;
    });
    expect([cpu.excVector, cpu.excCode, cpu.cr2]).toEqual([Vec.PF, 7, 0x60ffc]);
    expect(cpu.mem.read32(0x61000)).toBe(0);
    expect(cpu.r32[Reg.ESP]).toBe(0x61004);
  });

  it("raises #SS when the final stack pointer is outside an expand-down stack's limit, having written nothing", () => {
    const { cpu } = runAsm(`enter 0x20, 0\n int3`, (c) => {
      c.setSegCache(Seg.SS, 0x10, 0, 0x1000, SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.DC | SegAttr.DB);
      c.r32[Reg.ESP] = 0x1010;
      c.r32[Reg.EBP] = 0x5555;
    });
    expect([cpu.excVector, cpu.excCode]).toEqual([Vec.SS, 0]);
    expect(cpu.mem.read32(0x100c)).toBe(0);
    expect(cpu.r32[Reg.ESP]).toBe(0x1010);
  });

  it("LEAVE restores the caller's frame", () => {
    const { cpu } = runAsm(`
      mov ebp, 0x1234
      push ebp
      mov ebp, esp
      sub esp, 64
      leave
      int3`);
    expect(cpu.r32[Reg.EBP]).toBe(0x1234);
    expect(cpu.r32[Reg.ESP]).toBe(0x80000);
  });
});

describe("software interrupts and BOUND", () => {
  it("stops on INT3 with EIP after it when exceptions are trapped", () => {
    const { cpu, stop } = runAsm(`nop\n int3\n nop`);
    expect(stop).toBe(Stop.EXCEPTION);
    expect(cpu.excVector).toBe(Vec.BP);
    expect(cpu.excCode).toBe(-1);
    expect(cpu.eip).toBe(0x1002);
  });

  it("stops on INT n and on INTO with OF set, after the instruction", () => {
    let r = runAsm(`int 0x80`);
    expect(r.cpu.excVector).toBe(0x80);
    expect(r.cpu.eip).toBe(0x1002);
    r = runAsm(`mov al, 0x7f\n add al, 1\n into\n int3`);
    expect(r.cpu.excVector).toBe(Vec.OF);
    expect(r.cpu.eip).toBe(0x1005);
    r = runAsm(`into\n int3`);
    expect(r.cpu.excVector).toBe(Vec.BP);
  });

  it("raises #BR as a fault when the index is outside the signed bounds", () => {
    const { cpu } = runAsm(`
      mov dword [0x3000], -5
      mov dword [0x3004], 10
      mov eax, -5
      bound eax, [0x3000]
      mov eax, 10
      bound eax, [0x3000]
      mov eax, 11
      bound eax, [0x3000]
      int3`);
    expect(cpu.excVector).toBe(Vec.BR);
    expect(cpu.eip).toBe(0x1000 + 47); // the third BOUND
  });
});

describe("far transfers", () => {
  it("jumps, calls and returns far in real mode", () => {
    const { cpu } = runAsm(`
      call 0x0100:0x0010
      mov bx, cs
      int3
      times 0x10 - ($ - $$) nop
      mov ax, cs
      retf`, undefined, { mode: "real" });
    expect(cpu.reg16(Reg.EAX)).toBe(0x0100);
    expect(cpu.reg16(Reg.EBX)).toBe(0);
    expect(cpu.segBase[Seg.CS]).toBe(0);
    expect(cpu.reg16(Reg.ESP)).toBe(0xfffe);
  });

  it("jumps far to a code segment at the same privilege in protected mode", () => {
    const { cpu } = runAsm(`
      jmp 0x40:.t
    .t: int3`, gdt);
    expect(cpu.segSel[Seg.CS]).toBe(0x40);
    expect(cpu.segLimit[Seg.CS]).toBe(0x1fff);
    expect(cpu.mem.read8(0x545) & SegAttr.ACCESSED).toBe(SegAttr.ACCESSED);
  });

  it("checks far targets: null, not present, not code, gates, limit", () => {
    const fault = (sel: number, off = 0x1000): [number, number] => {
      const { cpu } = runAsm(`jmp ${sel}:${off}`, gdt);
      return [cpu.excVector, cpu.excCode];
    };
    expect(fault(0)).toEqual([Vec.GP, 0]);
    expect(fault(0x28)).toEqual([Vec.NP, 0x28]);
    expect(fault(0x10)).toEqual([Vec.GP, 0x10]);
    expect(fault(0x33)).toEqual([Vec.GP, 0x30]); // a call gate of DPL 0 named with RPL 3
    expect(fault(0x18)).toEqual([Vec.GP, 0x18]); // DPL 3 from CPL 0
    expect(fault(0x0b)).toEqual([Vec.GP, 0x08]); // RPL 3 > CPL 0
    expect(fault(0x40, 0x2000)).toEqual([Vec.GP, 0]);
    expect(fault(0x400)).toEqual([Vec.GP, 0x400]); // beyond the GDT limit
  });

  it("enters a more privileged conforming segment keeping the CPL", () => {
    const { cpu } = runAsm(`
      call 0x38:.t
    .t: int3`, user);
    expect(cpu.excVector).toBe(Vec.BP);
    expect(cpu.segSel[Seg.CS]).toBe(0x3b);
    expect(cpu.cpl).toBe(3);
    expect(cpu.mem.read32(0x80000 - 4)).toBe(0x1b);
  });

  it("returns far to an outer privilege level, switching stacks and nulling kernel data segments", () => {
    const { cpu } = runAsm(`
      mov ax, 0x10
      mov ds, ax
      mov ax, 0x23
      mov es, ax
      push 0x23
      push 0x7000
      push 0x1b
      push .user
      retf
    .user: int3`, gdt);
    expect(cpu.cpl).toBe(3);
    expect(cpu.segSel[Seg.CS]).toBe(0x1b);
    expect(cpu.segSel[Seg.SS]).toBe(0x23);
    expect(cpu.r32[Reg.ESP]).toBe(0x7000);
    expect(cpu.segSel[Seg.DS]).toBe(0);
    expect(cpu.segSel[Seg.ES]).toBe(0x23);
  });

  it("refuses a far return to an inner level", () => {
    const { cpu } = runAsm(`
      push 0x08
      push 0x1000
      retf`, user);
    expect([cpu.excVector, cpu.excCode]).toEqual([Vec.GP, 0x08]);
  });

  it("IRET at CPL 3 cannot change IOPL or IF, and returns to the same level", () => {
    const { cpu } = runAsm(`
      pushfd
      or dword [esp], 0x3200
      push cs
      push .t
      iretd
    .t: int3`, user);
    expect(cpu.excVector).toBe(Vec.BP);
    expect(cpu.getEflags() & (Flag.IOPL | Flag.IF)).toBe(0);
  });

  it("IRET at CPL 0 to CPL 3 loads the user stack and flags", () => {
    const { cpu } = runAsm(`
      push 0x23
      push 0x6000
      push 0x3202
      push 0x1b
      push .u
      iretd
    .u: int3`, gdt);
    expect(cpu.cpl).toBe(3);
    expect(cpu.r32[Reg.ESP]).toBe(0x6000);
    expect(cpu.getEflags() & (Flag.IOPL | Flag.IF)).toBe(Flag.IOPL | Flag.IF);
  });

  it("IRET in real mode pops IP, CS and FLAGS", () => {
    const { cpu } = runAsm(`
      pushf
      push 0
      push .t
      mov ax, 0x0cd5
      push ax
      popf
      iret
    .t: int3`, undefined, { mode: "real" });
    expect(cpu.excVector).toBe(Vec.BP);
    expect(cpu.getEflags() & Flag.CF).toBe(0);
    expect(cpu.reg16(Reg.ESP)).toBe(0xfffe);
  });
});
