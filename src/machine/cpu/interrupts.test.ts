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

  it("an external interrupt due mid-REP is taken between iterations: EIP at the REP, ECX part way, and IRET resumes it", () => {
    // The run ends where the interrupt is due (a timer event's icount): 3 instructions, 100 iterations.
    const { cpu, stop } = runAsm(`
      sti
      mov edi, 0x20000
      mov ecx, 5000
      rep stosb
      hlt
      ${handler(1)}
      iretd`, (c) => { system(c); gate(c, 0x20, 0x1100); }, { budget: 3 + 100 });
    expect(stop).toBe(Stop.BUDGET);
    expect([cpu.eip, cpu.r32[Reg.ECX], cpu.icount]).toEqual([0x100b, 4900, 103]);
    cpu.intr = true;
    cpu.acknowledgeIntr = () => {
      cpu.intr = false;
      return 0x20;
    };
    expect(cpu.run(1)).toBe(Stop.BUDGET);
    // The frame returned to the REP: the handler's IRETD retired at icount 104.
    expect([cpu.eip, cpu.r32[Reg.ECX], cpu.icount]).toEqual([0x100b, 4900, 104]);
    expect(cpu.run(10_000)).toBe(Stop.HALT);
    expect([cpu.r32[Reg.ECX], cpu.r32[Reg.EDI], cpu.icount]).toEqual([0, 0x20000 + 5000, 104 + 4900 + 1]);
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

  it("retires INT n when it is delivered, and not when a fault is delivered in its place (its frame returns to the INT)", () => {
    const ok = runAsm(`int 0x40\n${handler(1)}\nhlt`, (c) => { system(c); gate(c, 0x40, 0x1100); });
    expect(ok.cpu.icount).toBe(2); // INT, HLT
    const bad = runAsm(`int 0x40\n${handler(1)}\nhlt`, (c) => {
      system(c);
      gate(c, Vec.NP, 0x1100);
      c.mem.write8(IDT + 0x40 * 8 + 5, 0x0e); // a 32-bit interrupt gate with P = 0
    });
    expect(stack(bad.cpu, 1)).toBe(0x1000);
    expect(bad.cpu.icount).toBe(1); // HLT only
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

describe("virtual-8086 mode", () => {
  /** Ring-0 code at 0x1000 that IRETDs to 0100:0100 (linear 0x1100) in virtual-8086 mode, IOPL and IF from `flags`. */
  const toV86 = (flags: number, v86code: string, rest = ""): string => `
      push dword 0x0404      ; GS
      push dword 0x0303      ; FS
      push dword 0x0202      ; DS
      push dword 0x0101      ; ES
      push dword 0x0700      ; SS
      push dword 0x12340ff0  ; ESP
      push dword 0x${(flags | Flag.VM | Flag.FIXED).toString(16)}
      push dword 0x0100      ; CS
      push dword 0x0100      ; EIP
      iretd
      ${handler(1)}
      bits 16
      ${v86code}
      bits 32
      ${rest}`;

  it("IRETD at CPL 0 to a frame with VM enters it at CPL 3, every segment loaded the real-mode way", () => {
    const { cpu } = runAsm(toV86(Flag.IOPL, "mov ax, ds\nint3"), (c) => { c.cr0 |= 1; });
    expect(cpu.excVector).toBe(Vec.BP);
    expect(cpu.cpl).toBe(3);
    expect(cpu.getEflags() & Flag.VM).toBe(Flag.VM);
    expect(cpu.reg16(Reg.EAX)).toBe(0x0202);
    expect(cpu.r32[Reg.ESP] >>> 0).toBe(0x12340ff0);
    for (const [seg, sel] of [[Seg.ES, 0x101], [Seg.CS, 0x100], [Seg.SS, 0x700], [Seg.DS, 0x202], [Seg.FS, 0x303], [Seg.GS, 0x404]]) {
      expect([cpu.segSel[seg], cpu.segBase[seg], cpu.segLimit[seg], cpu.segAttr[seg]]).toEqual([sel, sel << 4, 0xffff, 0xf3]);
    }
  });

  it("an interrupt out of it enters the ring-0 handler with GS, FS, DS and ES pushed under the frame, and null", () => {
    const { cpu } = runAsm(toV86(Flag.IOPL, "int 0x80", `${handler(2)}\nhlt`), (c) => {
      system(c);
      gate(c, 0x80, 0x1200, INT32, 3);
    });
    expect(cpu.halted).toBe(true);
    expect(cpu.cpl).toBe(0);
    expect(cpu.getEflags() & Flag.VM).toBe(0);
    expect(cpu.r32[Reg.ESP]).toBe(0x9000 - 36);
    expect([0, 1, 2, 3, 4, 5, 6, 7, 8].map((k) => stack(cpu, k) >>> 0)).toEqual([0x102, 0x100, Flag.VM | Flag.IOPL | Flag.FIXED, 0x12340ff0, 0x700, 0x101, 0x202, 0x303, 0x404]);
    for (const seg of [Seg.ES, Seg.DS, Seg.FS, Seg.GS]) expect(cpu.segSel[seg]).toBe(0);
  });

  it("the handler's IRETD goes back to it, segments from the frame", () => {
    const { cpu } = runAsm(toV86(Flag.IOPL, "int 0x80\nmov bx, ds\nhlt", `${handler(2)}\nmov eax, 0x55\niretd\n${handler(3)}\nhlt`), (c) => {
      system(c);
      gate(c, 0x80, 0x1200, INT32, 3);
      gate(c, Vec.GP, 0x1300);
    });
    // HLT at CPL 3 faults: the #GP handler halts.
    expect(cpu.halted).toBe(true);
    expect(cpu.r32[Reg.EAX]).toBe(0x55);
    expect(cpu.reg16(Reg.EBX)).toBe(0x202);
    expect(stack(cpu, 3) & Flag.VM).toBe(Flag.VM);
  });

  it("CLI, STI, PUSHF, POPF, INT n and IRET fault with #GP(0) below IOPL 3, INT3 does not", () => {
    for (const insn of ["cli", "sti", "pushf", "popf", "o32 pushf", "int 0x80", "iret", "o32 iret"]) {
      const { cpu } = runAsm(toV86(2 << 12, insn), (c) => { c.cr0 |= 1; });
      expect([insn, cpu.excVector, cpu.excCode]).toEqual([insn, Vec.GP, 0]);
      expect(cpu.eip).toBe(0x100);
    }
    const { cpu } = runAsm(toV86(0, "int3"), (c) => { c.cr0 |= 1; });
    expect(cpu.excVector).toBe(Vec.BP);
  });

  it("POPF and IRET at IOPL 3 change neither IOPL nor VM", () => {
    const { cpu } = runAsm(toV86(Flag.IOPL, "push word 0x0cd5\npopf\npush dword 0x00000cd5\npush dword 0x100\npush dword next - 0x1000\no32 iret\nnext: int3"), (c) => { c.cr0 |= 1; });
    expect(cpu.excVector).toBe(Vec.BP);
    expect(cpu.getEflags() & (Flag.VM | Flag.IOPL | 0xfff)).toBe(Flag.VM | Flag.IOPL | 0xcd7);
  });

  it("a gate to a handler other than non-conforming ring 0 faults with #GP(selector)", () => {
    const { cpu } = runAsm(toV86(Flag.IOPL, "int 0x80", `${handler(2)}\nhlt`), (c) => {
      system(c);
      gate(c, 0x80, 0x1200, INT32, 3, 0x18);
      gate(c, Vec.GP, 0x1200);
    });
    expect(cpu.halted).toBe(true);
    expect(stack(cpu, 0)).toBe(0x18);
    expect(stack(cpu, 1)).toBe(0x100);
  });
});
