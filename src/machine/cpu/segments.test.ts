import { describe, expect, it } from "vitest";
import { Seg } from "../../x86/insn.js";
import { runAsm } from "../../../test/support/cpu.js";
import { type Cpu } from "./cpu.js";
import { SegAttr } from "./arch.js";
import { Vec } from "../../x86/vectors.js";
import { writeDescriptor } from "./segments.js";
import { descAttr, descBase, descLimit } from "../../x86/descriptor.js";

const CODE32 = SegAttr.P | SegAttr.S | SegAttr.CODE | SegAttr.RW | SegAttr.DB | SegAttr.G;
const DATA32 = SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.DB | SegAttr.G;
const DPL3 = 3 << SegAttr.DPL_SHIFT;

/**
 * GDT at 0x500: 08 code0, 10 data0, 18 code3, 20 data3, 28 not-present data, 30 execute-only code,
 * 38 read-only data, 40 readable code0; LDT none.
 */
function gdt(c: Cpu): void {
  c.gdtrBase = 0x500;
  c.gdtrLimit = 0x47;
  writeDescriptor(c, 0x508, 0, 0xfffff, CODE32);
  writeDescriptor(c, 0x510, 0, 0xfffff, DATA32);
  writeDescriptor(c, 0x518, 0, 0xfffff, CODE32 | DPL3);
  writeDescriptor(c, 0x520, 0x12345000, 0xabcde, DATA32 | DPL3);
  writeDescriptor(c, 0x528, 0, 0xfffff, DATA32 & ~SegAttr.P);
  writeDescriptor(c, 0x530, 0, 0xfffff, CODE32 & ~SegAttr.RW);
  writeDescriptor(c, 0x538, 0, 0xfffff, DATA32 & ~SegAttr.RW);
  writeDescriptor(c, 0x540, 0, 0xfffff, CODE32);
}

function user(c: Cpu): void {
  gdt(c);
  c.cpl = 3;
  c.setSegCache(Seg.CS, 0x1b, 0, 0xffffffff, CODE32 | DPL3);
  c.setSegCache(Seg.SS, 0x23, 0, 0xffffffff, DATA32 | DPL3);
}

function load(seg: string, sel: number, setup: (c: Cpu) => void = gdt): { cpu: Cpu; fault: [number, number] } {
  const { cpu } = runAsm(`mov ax, ${sel}\n mov ${seg}, ax\n int3`, setup);
  return { cpu, fault: [cpu.excVector, cpu.excCode] };
}

describe("descriptor parsing", () => {
  it("reads base, limit with granularity and attributes from the descriptor words", () => {
    const lo = 0xcdef | (0x5000 << 16);
    const hi = 0x34 | ((DATA32 | DPL3) << 8) | 0xa0000 | 0x12000000;
    expect(descBase(lo, hi)).toBe(0x12345000);
    expect(descLimit(lo, hi)).toBe(0xacdeffff);
    expect(descAttr(hi)).toBe(DATA32 | DPL3);
    expect(descLimit(0xffff, 0)).toBe(0xffff);
  });
});

describe("loading segment registers", () => {
  it("takes the base from selector << 4 in real mode and keeps limit and attributes", () => {
    const { cpu } = runAsm(`mov ax, 0x1234\n mov es, ax\n int3`, (c) => {
      c.setSegCache(Seg.ES, 0, 0, 0xffffffff, DATA32);
    }, { mode: "real" });
    expect(cpu.segSel[Seg.ES]).toBe(0x1234);
    expect(cpu.segBase[Seg.ES]).toBe(0x12340);
    expect(cpu.segLimit[Seg.ES]).toBe(0xffffffff);
    expect(cpu.segAttr[Seg.ES]).toBe(DATA32);
  });

  it("loads the descriptor cache in protected mode and sets the accessed bit", () => {
    const { cpu } = load("ds", 0x23);
    expect(cpu.segBase[Seg.DS]).toBe(0x12345000);
    expect(cpu.segLimit[Seg.DS]).toBe(0xabcdefff);
    expect(cpu.segAttr[Seg.DS]).toBe(DATA32 | DPL3 | SegAttr.ACCESSED);
    expect(cpu.mem.read8(0x525) & 1).toBe(1);
  });

  it("accepts the null selector in DS, ES, FS and GS, and faults on its use", () => {
    const { cpu } = runAsm(`xor eax, eax\n mov ds, ax\n mov fs, ax\n mov ebx, [0x3000]`, gdt);
    expect([cpu.excVector, cpu.excCode]).toEqual([Vec.GP, 0]);
    expect(cpu.segSel[Seg.DS]).toBe(0);
    expect(cpu.eip).toBe(0x1000 + 2 + 2 + 2);
  });

  it("refuses the null selector in SS with #GP(0)", () => {
    expect(load("ss", 0).fault).toEqual([Vec.GP, 0]);
    expect(load("ss", 3).fault).toEqual([Vec.GP, 0]);
  });

  it("requires a writable data segment with RPL = DPL = CPL for SS", () => {
    expect(load("ss", 0x23).fault).toEqual([Vec.GP, 0x20]); // DPL 3 at CPL 0
    expect(load("ss", 0x13).fault).toEqual([Vec.GP, 0x10]); // RPL 3
    expect(load("ss", 0x38).fault).toEqual([Vec.GP, 0x38]); // read-only
    expect(load("ss", 0x08).fault).toEqual([Vec.GP, 0x08]); // code
    expect(load("ss", 0x28).fault).toEqual([Vec.SS, 0x28]); // not present
    expect(load("ss", 0x10).fault).toEqual([Vec.BP, -1]);
  });

  it("checks data-segment loads: type, privilege, presence, table limit", () => {
    expect(load("ds", 0x28).fault).toEqual([Vec.NP, 0x28]);
    expect(load("ds", 0x30).fault).toEqual([Vec.GP, 0x30]); // execute-only code
    expect(load("ds", 0x40).fault).toEqual([Vec.BP, -1]); // readable code
    expect(load("ds", 0x48).fault).toEqual([Vec.GP, 0x48]); // beyond the GDT
    expect(load("ds", 0x0c).fault).toEqual([Vec.GP, 0x0c]); // no LDT (the error code keeps TI)
    expect(load("ds", 0x10, user).fault).toEqual([Vec.GP, 0x10]); // DPL 0 at CPL 3
    expect(load("ds", 0x22).fault).toEqual([Vec.BP, -1]); // RPL 2 ≤ DPL 3
  });

  it("reads descriptors from the LDT when TI is set", () => {
    const { cpu } = runAsm(`mov ax, 0x0f\n mov gs, ax\n int3`, (c) => {
      gdt(c);
      c.ldtrSel = 0x50;
      c.ldtrBase = 0x700;
      c.ldtrLimit = 0x0f;
      writeDescriptor(c, 0x708, 0x40000, 0xf, DATA32 | DPL3);
    });
    expect(cpu.segSel[Seg.GS]).toBe(0x0f);
    expect(cpu.segBase[Seg.GS]).toBe(0x40000);
    expect(cpu.segLimit[Seg.GS]).toBe(0xffff);
  });
});
