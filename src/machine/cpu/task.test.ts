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
const TSS32 = SegAttr.P | 0x9;
const IDT = 0x4000, MAIN_TSS = 0x6000, OTHER_TSS = 0x7000;

/** Handlers sit at 0x1100, 0x1200, ...: `at(n)` pads the program to the n-th one. */
const at = (n: number): string => `times 0x${n}00 - ($ - $$) db 0xcc`;

/**
 * GDT at 0x500: 08 code, 10 data, 18 the main task's TSS (current, busy), 20 a second task's TSS,
 * 28 a task gate to it. The second task starts at `eip` on its own stack with DS = ES = 0x10.
 */
function tasks(c: Cpu, eip: number): void {
  c.trapExceptions = false;
  c.gdtrBase = 0x500;
  c.gdtrLimit = 0x2f;
  writeDescriptor(c, 0x508, 0, 0xfffff, CODE32);
  writeDescriptor(c, 0x510, 0, 0xfffff, DATA32);
  writeDescriptor(c, 0x518, MAIN_TSS, 0x67, TSS32 | 2);
  writeDescriptor(c, 0x520, OTHER_TSS, 0x67, TSS32);
  writeGate(c, 0x528, 0x20, 0, 0x5, 0);
  c.trSel = 0x18;
  c.trBase = MAIN_TSS;
  c.trLimit = 0x67;
  c.trAttr = TSS32 | 2;
  c.idtrBase = IDT;
  c.idtrLimit = 0x7ff;
  const t = OTHER_TSS;
  c.mem.write32(t + 0x1c, 0); // CR3
  c.mem.write32(t + 0x20, eip);
  c.mem.write32(t + 0x24, 0x2); // EFLAGS
  c.mem.write32(t + 0x38, 0x70000); // ESP
  for (const [off, sel] of [[0x48, 0x10], [0x4c, 0x08], [0x50, 0x10], [0x54, 0x10], [0x58, 0], [0x5c, 0]]) c.mem.write16(t + off, sel);
  c.mem.write16(t + 0x60, 0); // no LDT
}

const busy = (c: Cpu, sel: number): boolean => (c.mem.read8(0x500 + sel + 5) & 2) !== 0;

describe("hardware task switches", () => {
  it("delivers a double fault through an IDT task gate and returns to the old task with IRET", () => {
    // #GP with a not-present #GP gate is a double fault; its task gate runs the second task, which
    // pops the error code, points the old task past the faulting instruction and IRETs to it.
    const { cpu, stop } = runAsm(`
      mov ebx, 0x11
      mov ax, 0x1234
      mov ds, ax          ; #GP(0x1230) -> #NP -> #DF
    back:
      mov ecx, 0x22
      hlt
      ${at(1)}
      pop edx             ; the double fault's error code
      str si
      mov di, [${OTHER_TSS}] ; the back link
      mov dword [${MAIN_TSS + 0x20}], back
      iret
      jmp $`, (c) => {
      tasks(c, 0x1100);
      writeGate(c, IDT + Vec.DF * 8, 0x20, 0, 0x5, 0);
      writeGate(c, IDT + Vec.GP * 8, 0x08, 0x1300, 0xe, 0);
      c.mem.write8(IDT + Vec.GP * 8 + 5, 0x0e); // not present
    });
    expect(stop).toBe(Stop.HALT);
    expect(cpu.trSel).toBe(0x18);
    expect(cpu.r32[Reg.ECX]).toBe(0x22);
    expect(cpu.r32[Reg.EBX]).toBe(0x11); // the old task's registers came back from its TSS
    // The handler's registers went into its own TSS when it IRETed.
    expect(cpu.mem.read32(OTHER_TSS + 0x28 + 4 * Reg.EDX)).toBe(0);
    expect(cpu.mem.read16(OTHER_TSS + 0x28 + 4 * Reg.ESI)).toBe(0x20);
    expect(cpu.mem.read16(OTHER_TSS + 0x28 + 4 * Reg.EDI)).toBe(0x18);
    expect(cpu.mem.read32(OTHER_TSS + 0x24) & Flag.NT).toBe(0); // NT cleared in the saved image
    expect(busy(cpu, 0x18)).toBe(true);
    expect(busy(cpu, 0x20)).toBe(false);
    expect(cpu.getEflags() & Flag.NT).toBe(0);
    expect(cpu.cr0 & 8).toBe(8); // CR0.TS
  });

  it("CALLs through a task gate with nesting and JMPs to a TSS without", () => {
    const call = runAsm(`
      call 0x28:0
      mov ecx, 0x33
      hlt
      ${at(1)}
      pushfd
      pop esi
      iret`, (c) => tasks(c, 0x1100));
    expect(call.stop).toBe(Stop.HALT);
    expect(call.cpu.r32[Reg.ECX]).toBe(0x33);
    expect(call.cpu.mem.read32(OTHER_TSS + 0x28 + 4 * Reg.ESI) & Flag.NT).toBe(Flag.NT);
    expect(call.cpu.mem.read16(OTHER_TSS)).toBe(0x18);
    expect(call.cpu.mem.read32(MAIN_TSS + 0x20)).toBe(0x1007); // the caller's saved EIP

    const jmp = runAsm(`
      jmp 0x20:0
      ${at(1)}
      pushfd
      pop esi
      hlt`, (c) => tasks(c, 0x1100));
    expect(jmp.stop).toBe(Stop.HALT);
    expect(jmp.cpu.trSel).toBe(0x20);
    expect(jmp.cpu.r32[Reg.ESI] & Flag.NT).toBe(0);
    expect(busy(jmp.cpu, 0x18)).toBe(false);
    expect(busy(jmp.cpu, 0x20)).toBe(true);
    expect(jmp.cpu.segSel[Seg.SS]).toBe(0x10);
    expect(jmp.cpu.r32[Reg.ESP]).toBe(0x70000);
  });

  it("refuses a JMP or CALL to a TSS named through the LDT with #GP(selector)", () => {
    for (const insn of ["jmp 0x0c:0", "call 0x0c:0"]) {
      const { cpu } = runAsm(`mov ax, 0x30\n lldt ax\n ${insn}`, (c) => {
        tasks(c, 0x1100);
        c.trapExceptions = true;
        c.gdtrLimit = 0x37;
        writeDescriptor(c, 0x530, 0x800, 0x0f, SegAttr.P | 0x2); // an LDT at 0x800 ...
        writeDescriptor(c, 0x808, OTHER_TSS, 0x67, TSS32); // ... whose entry 1 is a TSS
      });
      expect([cpu.excVector, cpu.excCode]).toEqual([Vec.GP, 0x0c]);
      expect(cpu.trSel).toBe(0x18);
    }
  });

  it("refuses a busy TSS with #GP(selector) and a bad new CS with #TS in the new task", () => {
    const busyTss = runAsm(`jmp 0x18:0`, (c) => {
      tasks(c, 0x1100);
      c.trapExceptions = true;
    });
    expect([busyTss.cpu.excVector, busyTss.cpu.excCode]).toEqual([Vec.GP, 0x18]);
    const badCs = runAsm(`jmp 0x20:0`, (c) => {
      tasks(c, 0x1100);
      c.trapExceptions = true;
      c.mem.write16(OTHER_TSS + 0x4c, 0x10); // CS names a data segment
    });
    expect([badCs.cpu.excVector, badCs.cpu.excCode]).toEqual([Vec.TS, 0x10]);
    expect(badCs.cpu.trSel).toBe(0x20); // after the commit point: in the new task
    expect(badCs.cpu.eip).toBe(0x1100);
  });
});

describe("a 16-bit (286) TSS", () => {
  it("loads the low halves of the general registers and sets the upper halves to all ones, as the 386 does", () => {
    const { cpu } = runAsm(`
      mov eax, 0xa1a10000
      mov ebx, 0xa4a40000
      mov esi, 0xa7a70000
      call 0x20:0
      ${at(1)}
      hlt`, (c) => {
      tasks(c, 0);
      writeDescriptor(c, 0x520, OTHER_TSS, 0x2b, SegAttr.P | 0x1); // a 16-bit TSS, available
      const t = OTHER_TSS;
      c.mem.write16(t + 0x0e, 0x1100); // IP
      c.mem.write16(t + 0x10, 0x2); // FLAGS
      for (let r = 0; r < 8; r++) c.mem.write16(t + 0x12 + 2 * r, 0x1111 * (r + 1));
      for (const [off, sel] of [[0x22, 0x10], [0x24, 0x08], [0x26, 0x10], [0x28, 0x10]]) c.mem.write16(t + off, sel);
    });
    expect(cpu.halted).toBe(true);
    expect(cpu.trSel).toBe(0x20);
    for (let r = 0; r < 8; r++) expect(cpu.r32[r] >>> 0).toBe((0xffff0000 | (0x1111 * (r + 1))) >>> 0);
  });
});
