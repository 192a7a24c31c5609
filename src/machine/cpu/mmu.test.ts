import { describe, expect, it } from "vitest";
import { Reg, Seg } from "../../x86/insn.js";
import { runAsm } from "../../../test/support/cpu.js";
import { FAULT, Stop } from "./arch.js";
import { Vec } from "../../x86/vectors.js";
import { Cr0, Cr4, NOT_PRESENT, Pte, peekTranslate } from "../../x86/paging.js";
import { PhysMem } from "../memory.js";
import { Cpu } from "./cpu.js";

const P = 1, RW = 2, US = 4, PS = 0x80, G = 0x100;
const XD = 0x80000000 | 0;
const PDPT = 0x10000, PD = 0x11000, PT = 0x12000;

/** Writes a 64-bit paging entry. */
function entry(c: Cpu, at: number, lo: number, hi = 0): void {
  c.mem.write32(at, lo);
  c.mem.write32(at + 4, hi);
}

/**
 * PAE tables: 0–2 MiB identity through one 2 MiB page; 0x200000 → phys 0x30000 and 0x201000 →
 * phys 0x31000 (execute-disable) through a page table; 0x202000 → phys 0x32000, read-only;
 * 0x400000 → phys 0 through a second 2 MiB page.
 */
function paeTables(c: Cpu): void {
  entry(c, PDPT, PD | P);
  entry(c, PD, 0 | P | RW | US | PS);
  entry(c, PD + 8, PT | P | RW | US);
  entry(c, PD + 16, 0 | P | RW | PS);
  entry(c, PT, 0x30000 | P | RW);
  entry(c, PT + 8, 0x31000 | P | RW, XD);
  entry(c, PT + 16, 0x32000 | P);
}

/** Turns on PAE paging (and NX when `nx`), then runs `body`. */
const enablePae = (nx: boolean, body: string): string => `
  mov eax, cr4
  or eax, 0x20
  mov cr4, eax
  mov eax, ${PDPT}
  mov cr3, eax
  ${nx ? "mov ecx, 0xc0000080\n  rdmsr\n  or eax, 0x800\n  wrmsr" : ""}
  mov eax, cr0
  or eax, 0x80000000
  mov cr0, eax
  ${body}`;

describe("PAE paging", () => {
  it("walks the PDPTE, PDE and PTE levels and 2 MiB pages, setting accessed and dirty bits", () => {
    const { cpu, stop } = runAsm(enablePae(false, `
      mov dword [0x200010], 0xcafe
      mov ebx, [0x400000 + 0x5000]
      mov esi, [0x202000]
      int3`), (c) => {
      paeTables(c);
      c.mem.write32(0x5000, 0x12345678);
      c.mem.write32(0x32000, 0x5a5a);
    });
    expect(stop).toBe(Stop.EXCEPTION);
    expect(cpu.excVector).toBe(Vec.BP);
    expect(cpu.mem.read32(0x30010)).toBe(0xcafe);
    expect(cpu.r32[Reg.EBX]).toBe(0x12345678);
    expect(cpu.r32[Reg.ESI]).toBe(0x5a5a);
    expect(cpu.mem.read32(PT) & 0x60).toBe(0x60); // A and D on the written page
    expect(cpu.mem.read32(PT + 16) & 0x60).toBe(0x20); // only A on the read one
    expect(cpu.mem.read32(PD + 8) & 0x20).toBe(0x20);
    expect(cpu.mem.read32(PD + 16) & 0x60).toBe(0x20);
    // The debugger's and the VMM's walk finds the same pages without touching A/D bits.
    const peek = (lin: number) => peekTranslate(cpu.mem, cpu, lin);
    expect(peek(0x200123)).toBe(0x30123);
    expect(peek(0x4abcde)).toBe(0xabcde);
    expect(peek(0x600000)).toBe(NOT_PRESENT);
  });

  it("raises #PF with the I/D bit on a fetch from an execute-disable page when EFER.NXE is set", () => {
    const { cpu, stop } = runAsm(enablePae(true, `
      mov eax, [0x201000]
      jmp 0x201000`), (c) => {
      paeTables(c);
      c.mem.write8(0x31000, 0x90);
    });
    expect(stop).toBe(Stop.EXCEPTION);
    expect([cpu.excVector, cpu.excCode]).toEqual([Vec.PF, 0x11]);
    expect(cpu.cr2).toBe(0x201000);
    expect(cpu.eip).toBe(0x201000);
  });

  it("reports reserved bits (RSVD) for an XD bit when EFER.NXE is clear", () => {
    const { cpu } = runAsm(enablePae(false, `mov eax, [0x201004]`), paeTables);
    expect([cpu.excVector, cpu.excCode]).toEqual([Vec.PF, 0x9]);
    expect(cpu.cr2).toBe(0x201004);
  });

  it("faults a not-present fetch with I/D set, and a supervisor write to a read-only page under CR0.WP", () => {
    const nx = runAsm(enablePae(true, `call 0x203000`), paeTables);
    expect([nx.cpu.excVector, nx.cpu.excCode]).toEqual([Vec.PF, 0x10]);
    const wp = runAsm(enablePae(false, `
      mov dword [0x202000], 1
      mov eax, cr0
      or eax, 0x10000
      mov cr0, eax
      mov dword [0x202000], 2`), paeTables);
    expect([wp.cpu.excVector, wp.cpu.excCode]).toEqual([Vec.PF, 0x3]);
    expect(wp.cpu.mem.read32(0x32000)).toBe(1);
  });

  it("reports the first byte of the second page in CR2 when a write straddling into it faults, leaving the first page unwritten", () => {
    // 0x202000 is read-only (a supervisor write faults under WP); 0x203000 is not mapped.
    const wp = "mov eax, cr0\n or eax, 0x10000\n mov cr0, eax";
    for (const [insn, code] of [["mov dword [0x201ffe], 0x11223344", 0x03], ["add dword [0x201ffd], 1", 0x03], ["mov word [0x201fff], 0x1122", 0x03]] as const) {
      const { cpu } = runAsm(enablePae(false, `${wp}\n ${insn}\n int3`), (c) => {
        paeTables(c);
        entry(c, PT + 8, 0x31000 | P | RW);
      });
      expect([cpu.excVector, cpu.excCode, cpu.cr2]).toEqual([Vec.PF, code, 0x202000]);
      expect(cpu.mem.read32(0x31ffc)).toBe(0);
    }
    // Both pages absent: the first one faults first.
    const { cpu } = runAsm(enablePae(false, `mov dword [0x203ffe], 1\n int3`), paeTables);
    expect([cpu.excVector, cpu.excCode, cpu.cr2]).toEqual([Vec.PF, 0x02, 0x203ffe]);
  });

  it("refuses a PDPT with reserved bits with #GP(0) on the MOV to CR3", () => {
    const { cpu } = runAsm(enablePae(false, `
      mov dword [${PDPT + 8}], 0x13000 | 1 | 0x40
      mov eax, ${PDPT}
      mov cr3, eax`), paeTables);
    expect([cpu.excVector, cpu.excCode]).toEqual([Vec.GP, 0]);
  });

  it("keeps global pages across a CR3 write but drops them on INVLPG and on a CR4.PGE toggle", () => {
    // 0x200000 is global, 0x202000 is not; after the PTEs are redirected to 0x33000 only a flush
    // that reaches the entry shows the new mapping.
    const { cpu } = runAsm(enablePae(false, `
      mov eax, cr4
      or eax, 0x80
      mov cr4, eax
      mov eax, [0x200000]
      mov eax, [0x202000]
      mov dword [${PT}], 0x33000 | 3 | 0x100
      mov dword [${PT + 16}], 0x33000 | 1
      mov eax, cr3
      mov cr3, eax
      mov ebx, [0x200000]
      mov ecx, [0x202000]
      invlpg [0x200000]
      mov edx, [0x200000]
      mov dword [${PT}], 0x30000 | 3 | 0x100
      mov eax, cr3
      mov cr3, eax
      mov esi, [0x200000]
      mov eax, cr4
      and eax, ~0x80
      mov cr4, eax
      or eax, 0x80
      mov cr4, eax
      mov edi, [0x200000]
      int3`), (c) => {
      paeTables(c);
      c.mem.write32(PT, 0x30000 | P | RW | G);
      c.mem.write32(0x30000, 0x30);
      c.mem.write32(0x32000, 0x32);
      c.mem.write32(0x33000, 0x33);
    });
    expect(cpu.excVector).toBe(Vec.BP);
    expect(cpu.r32[Reg.EBX]).toBe(0x30); // global: survived the CR3 write
    expect(cpu.r32[Reg.ECX]).toBe(0x33); // not global: walked again
    expect(cpu.r32[Reg.EDX]).toBe(0x33); // INVLPG drops a global entry
    expect(cpu.r32[Reg.ESI]).toBe(0x33); // ... which is global again and survives CR3
    expect(cpu.r32[Reg.EDI]).toBe(0x30); // toggling PGE flushes everything
  });

  it("makes descriptor-table reads and accessed-bit writes supervisor accesses at CPL 3", () => {
    // Phys 0–2 MiB is supervisor-only at 0 and user-accessible at 0x600000; user code runs in the
    // alias and loads DS from the GDT at 0x500, on the supervisor-only page.
    const { cpu } = runAsm(enablePae(false, `
      push 0x23
      push 0x67f000
      push 0x1b
      push user + 0x600000
      retf
    user:
      mov ax, 0x23
      mov ds, ax
      mov eax, [0x1ff000]
      int3`), (c) => {
      paeTables(c);
      entry(c, PD, 0 | P | RW | PS);
      entry(c, PD + 24, 0 | P | RW | US | PS);
      c.gdtrBase = 0x500;
      c.gdtrLimit = 0x2f;
      c.mem.write32(0x518, 0x0000ffff); c.mem.write32(0x51c, 0x00cffb00);
      c.mem.write32(0x520, 0x0000ffff); c.mem.write32(0x524, 0x00cff200);
    });
    expect(cpu.excVector).toBe(Vec.PF); // the user's own read of a supervisor page
    expect(cpu.excCode).toBe(0x5);
    expect(cpu.cr2).toBe(0x1ff000);
    expect(cpu.cpl).toBe(3);
    expect(cpu.segSel[Seg.DS]).toBe(0x23); // DS was loaded from the supervisor page
    expect(cpu.mem.read8(0x525) & 1).toBe(1); // and its accessed bit written there
  });
});

describe("the peek walk (src/x86/paging.ts) against the CPU's", () => {
  /** xorshift32: the tables are random but the same on every run. */
  function rng(seed: number): () => number {
    let x = seed >>> 0 || 1;
    return () => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return x >>> 0;
    };
  }

  /**
   * Random tables in 4 MiB of RAM (no reserved bits set, frames anywhere in 4 GiB), then every
   * linear address tried: the CPU's supervisor read either faults where the peek finds nothing
   * present, or reaches the same physical address.
   */
  function agree(mode: "2-level" | "pse" | "pae", seed: number): void {
    const r = rng(seed);
    const cpu = new Cpu(new PhysMem(4 << 20), { in8: () => 0, in16: () => 0, in32: () => 0, out8() {}, out16() {}, out32() {} });
    const present = () => (r() % 4 !== 0 ? Pte.P | Pte.RW : 0);
    const frame = () => r() & 0xfffff000;
    // Tables live in the first 4 MiB; entries that point to tables point there, leaves anywhere.
    const table = () => (r() % 1024) * 0x1000;
    for (let a = 0; a < 4 << 20; a += 4) cpu.mem.write32(a, 0);
    let cr3: number;
    if (mode === "pae") {
      cr3 = 0x3fffe0;
      for (let k = 0; k < 4; k++) cpu.mem.write32(cr3 + 8 * k, (table() | (r() % 4 !== 0 ? Pte.P : 0)) >>> 0);
      for (let a = 0; a < 0x3ff000; a += 8) {
        const large = r() % 3 === 0;
        cpu.mem.write32(a, ((large ? frame() & 0xffe00000 : table()) | (large ? Pte.PS : 0) | present()) >>> 0);
      }
    } else {
      cr3 = 0x3ff000;
      for (let a = 0; a < 0x400000; a += 4) {
        const large = r() % 3 === 0;
        cpu.mem.write32(a, ((large ? frame() & 0xffc00000 : table()) | (large ? Pte.PS : 0) | present()) >>> 0);
      }
    }
    cpu.cr3 = cr3;
    cpu.cr4 = mode === "pae" ? Cr4.PAE : mode === "pse" ? Cr4.PSE : 0;
    cpu.cr0 = (Cr0.PE | Cr0.PG) | 0;
    cpu.paging.changed();
    cpu.paging.cr3Changed();
    let tried = 0, mapped = 0;
    for (let page = 0; page < 1 << 20; page += 1 + (r() % 251)) {
      const lin = (page * 0x1000 + (r() & 0xfff)) >>> 0;
      const peek = peekTranslate(cpu.mem, cpu, lin);
      let walked: number;
      try {
        walked = cpu.paging.translateSys(lin, false) >>> 0;
      } catch (e) {
        if (e !== FAULT) throw e;
        walked = NOT_PRESENT;
      }
      expect(peek, `${mode} lin 0x${lin.toString(16)}`).toBe(walked);
      tried++;
      if (walked !== NOT_PRESENT) mapped++;
    }
    expect(tried).toBeGreaterThan(5000);
    expect(mapped).toBeGreaterThan(tried / 4);
  }

  it("finds what 2-level paging finds", () => agree("2-level", 1));
  it("finds what 2-level paging with 4 MiB pages finds", () => agree("pse", 2));
  it("finds what PAE paging finds", () => agree("pae", 3));
});
