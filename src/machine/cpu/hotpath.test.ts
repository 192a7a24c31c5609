// The interpreter's fast paths must not be observable: memory accesses served from the TLB, the
// fetch path's remembered code page, and REP MOVS/STOS moving whole runs of iterations at once.
// Each test drives one of them to the edge where it has to give way to the slow path.

import { describe, expect, it } from "vitest";
import { Reg } from "../../x86/insn.js";
import { runAsm } from "../../../test/support/cpu.js";
import { type Cpu } from "./cpu.js";
import { Stop } from "./arch.js";
import { Vec } from "../../x86/vectors.js";
import { REP_CHUNK } from "../../x86/rep.js";
import { Tlb } from "./mmu.js";

const P = 1, RW = 2, US = 4;
const PD = 0x10000, PT = 0x11000;

/**
 * 32-bit paging: the first 4 MiB identity-mapped through one page table (supervisor, writable),
 * but for the pages `absent` lists.
 */
function tables(c: Cpu, absent: number[] = [], flags = P | RW): void {
  c.mem.write32(PD, PT | P | RW | US);
  for (let p = 0; p < 1024; p++) c.mem.write32(PT + 4 * p, absent.includes(p << 12) ? 0 : (p << 12) | flags);
}

const PAGING_ON = `
  mov eax, ${PD}
  mov cr3, eax
  mov eax, cr0
  or eax, 0x80000000
  mov cr0, eax`;

/** Bytes `from`..`from+n` of RAM. */
function bytes(c: Cpu, from: number, n: number): number[] {
  return Array.from(c.mem.u8.subarray(from, from + n));
}

describe("self-modifying code and the decode cache", () => {
  it("re-decodes an instruction on another page after a write to it", () => {
    // The routine at 0x5000 runs once (and is cached), is patched from 0x1000's page, runs again.
    const { cpu } = runAsm(`
      ${PAGING_ON}
      call 0x5000
      mov ebx, eax
      mov byte [0x5001], 0x22
      call 0x5000
      int3`, (c) => {
      tables(c);
      c.mem.load(0x5000, new Uint8Array([0xb8, 0x11, 0, 0, 0, 0xc3])); // mov eax, 0x11; ret
    });
    expect(cpu.excVector).toBe(Vec.BP);
    expect(cpu.r32[Reg.EBX]).toBe(0x11);
    expect(cpu.r32[Reg.EAX]).toBe(0x22);
  });

  it("executes the new bytes when an instruction rewrites the next one on its own page", () => {
    const { cpu } = runAsm(`
      mov ecx, 2
    again:
      mov eax, 1          ; patched to mov eax, 7 on the first pass
      mov byte [again + 1], 7
      dec ecx
      jnz again
      int3`);
    expect(cpu.r32[Reg.EAX]).toBe(7);
  });

  it("sees code overwritten by a REP STOSB that runs in bulk", () => {
    // The STOSB turns the two INC EAX after it into NOPs before they run.
    const { cpu } = runAsm(`
      mov edi, target
      mov al, 0x90
      mov ecx, 2
      xor edx, edx
      rep stosb
    target:
      inc edx
      inc edx
      int3`);
    expect(cpu.excVector).toBe(Vec.BP);
    expect(cpu.r32[Reg.EDX]).toBe(0);
  });

  it("sees code overwritten by a REP MOVSD from another page", () => {
    const { cpu } = runAsm(`
      mov esi, 0x6000
      mov edi, target
      mov ecx, 2
      xor edx, edx
      rep movsd
    target:
      inc edx
      inc edx
      inc edx
      inc edx
      inc edx
      inc edx
      inc edx
      inc edx
      int3`, (c) => c.mem.load(0x6000, new Uint8Array([0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90])));
    expect(cpu.r32[Reg.EDX]).toBe(0);
  });
});

describe("the TLB fast paths", () => {
  it("takes the user half of the TLB at CPL 3: a supervisor page read at CPL 0 still faults there", () => {
    // The supervisor reads 0x7000 (entering it in the TLB), then drops to CPL 3 through an IRET
    // onto user-accessible code, whose read of the same supervisor-only page must fault.
    const { cpu } = runAsm(`
      ${PAGING_ON}
      mov eax, [0x7000]
      mov bx, 0x23
      mov ds, bx
      push 0x23
      push 0x9ff0
      push 0x202
      push 0x1b
      push 0x8000
      iret`, (c) => {
      tables(c);
      for (const p of [0x8000, 0x9000]) c.mem.write32(PT + 4 * (p >>> 12), p | P | RW | US);
      c.mem.write32(PD, PT | P | RW | US);
      c.mem.load(0x8000, new Uint8Array([0x8b, 0x1d, 0x00, 0x70, 0, 0])); // mov ebx, [0x7000]
      c.gdtrBase = 0x500;
      c.gdtrLimit = 0x2f;
      c.mem.write32(0x518, 0x0000ffff); c.mem.write32(0x51c, 0x00cffa00); // 0x1b: user code
      c.mem.write32(0x520, 0x0000ffff); c.mem.write32(0x524, 0x00cff200); // 0x23: user data
      c.mem.write32(0x7000, 0x77);
    });
    expect(cpu.r32[Reg.EAX]).toBe(0x77);
    expect(cpu.cpl).toBe(3);
    expect([cpu.excVector, cpu.excCode, cpu.cr2]).toEqual([Vec.PF, 0x5, 0x7000]);
  });

  it("forgets translations when paging is turned off and on again", () => {
    // Linear 0x7000 maps to phys 0x9000 with paging on; paging off reads phys 0x7000.
    const { cpu } = runAsm(`
      ${PAGING_ON}
      mov ebx, [0x7000]
      mov eax, cr0
      and eax, 0x7fffffff
      mov cr0, eax
      mov ecx, [0x7000]
      or eax, 0x80000000
      mov cr0, eax
      mov edx, [0x7000]
      int3`, (c) => {
      tables(c);
      c.mem.write32(PT + 4 * 7, 0x9000 | P | RW);
      c.mem.write32(0x7000, 0x70);
      c.mem.write32(0x9000, 0x90);
    });
    expect([cpu.r32[Reg.EBX], cpu.r32[Reg.ECX], cpu.r32[Reg.EDX]]).toEqual([0x90, 0x70, 0x90]);
  });

  it("holds identity translations with paging off, of RAM only, after the first access", () => {
    // RAM is 1 MiB: 0x200000 reads as open bus and is never entered.
    const { cpu } = runAsm(`
      mov eax, [0x7000]
      mov dword [0x8004], 0x1234
      mov ebx, [0x200000]
      mov ecx, [0x8004]
      int3`, (c) => c.mem.write32(0x7000, 0x70));
    expect([cpu.r32[Reg.EAX], cpu.r32[Reg.EBX], cpu.r32[Reg.ECX]]).toEqual([0x70, -1, 0x1234]);
    expect([cpu.paging.tlb[7] & (Tlb.R | Tlb.W), cpu.paging.tlb[8] & (Tlb.R | Tlb.W), cpu.paging.tlb[0x200]]).toEqual([Tlb.R | Tlb.W, Tlb.R | Tlb.W, 0]);
    expect([cpu.paging.tlb[7] & ~0xfff, cpu.paging.tlb[8] & ~0xfff]).toEqual([0x7000, 0x8000]);
  });

  it("reads and writes misaligned and page-straddling operands through the slow path", () => {
    const { cpu } = runAsm(`
      ${PAGING_ON}
      mov dword [0x7ffe], 0x44332211
      mov eax, [0x7ffe]
      mov bx, [0x7fff]
      mov dword [0x7001], 0xaabbccdd
      mov ecx, [0x7001]
      int3`, (c) => {
      tables(c);
      c.mem.write32(PT + 4 * 8, 0x5000 | P | RW); // linear 0x8000 is phys 0x5000
    });
    expect(cpu.r32[Reg.EAX]).toBe(0x44332211);
    expect(cpu.r32[Reg.EBX] & 0xffff).toBe(0x3322);
    expect(bytes(cpu, 0x7ffe, 2)).toEqual([0x11, 0x22]);
    expect(bytes(cpu, 0x5000, 2)).toEqual([0x33, 0x44]);
    expect(cpu.r32[Reg.ECX]).toBe(0xaabbccdd | 0);
  });
});

describe("REP MOVS and REP STOS in bulk", () => {
  it("stops a REP MOVSD at the page it cannot write, with the registers of the iterations done, and finishes when resumed", () => {
    // 0x9000 is not present: the copy of 0x1800 bytes from 0x20000 to 0x8800 faults after
    // 0x800 bytes (512 dwords).
    const n = 0x600;
    const { cpu, stop } = runAsm(`
      ${PAGING_ON}
      mov esi, 0x20000
      mov edi, 0x8800
      mov ecx, ${n}
      rep movsd
      int3`, (c) => {
      tables(c, [0x9000]);
      for (let k = 0; k < 4 * n; k++) c.mem.u8[0x20000 + k] = (k * 7 + 3) & 0xff;
    });
    expect(stop).toBe(Stop.EXCEPTION);
    expect([cpu.excVector, cpu.excCode, cpu.cr2]).toEqual([Vec.PF, 0x2, 0x9000]);
    expect(cpu.r32[Reg.ECX]).toBe(n - 0x200);
    expect(cpu.r32[Reg.ESI]).toBe(0x20800);
    expect(cpu.r32[Reg.EDI]).toBe(0x9000);
    expect(bytes(cpu, 0x8800, 0x800)).toEqual(bytes(cpu, 0x20000, 0x800));
    expect(bytes(cpu, 0x9000, 4)).toEqual([0, 0, 0, 0]);
    // The "page-fault handler": map the page, flush it, resume at the REP MOVSD.
    cpu.mem.write32(PT + 4 * 9, 0x9000 | P | RW);
    cpu.paging.invalidate(0x9000);
    const icount = cpu.icount;
    expect(cpu.run(10_000)).toBe(Stop.EXCEPTION);
    expect(cpu.excVector).toBe(Vec.BP);
    expect(cpu.r32[Reg.ECX]).toBe(0);
    expect(cpu.r32[Reg.EDI]).toBe(0x8800 + 4 * n);
    expect(bytes(cpu, 0x8800, 4 * n)).toEqual(bytes(cpu, 0x20000, 4 * n));
    // The dwords left, each an iteration, and the INT3.
    expect(cpu.icount - icount).toBe(n - 0x200 + 1);
  });

  it("faults on the first unreadable source page, after the bytes before it", () => {
    const { cpu } = runAsm(`
      ${PAGING_ON}
      mov esi, 0x8ffd
      mov edi, 0x20000
      mov ecx, 10
      rep movsb
      int3`, (c) => tables(c, [0x9000]));
    expect([cpu.excVector, cpu.excCode, cpu.cr2]).toEqual([Vec.PF, 0x0, 0x9000]);
    expect([cpu.r32[Reg.ECX], cpu.r32[Reg.ESI], cpu.r32[Reg.EDI]]).toEqual([7, 0x9000, 0x20003]);
  });

  it("repeats the pattern like the hardware when a forward REP MOVSB overlaps its source", () => {
    const { cpu } = runAsm(`
      mov esi, 0x20000
      mov edi, 0x20001
      mov ecx, 100
      rep movsb
      mov esi, 0x30004
      mov edi, 0x30000
      mov ecx, 3000
      rep movsd
      int3`, (c) => {
      c.mem.write8(0x20000, 0x5a);
      for (let k = 0; k < 12004; k++) c.mem.u8[0x30000 + k] = k & 0xff;
    });
    expect(bytes(cpu, 0x20000, 101)).toEqual(new Array(101).fill(0x5a));
    // Downward overlap is a plain move.
    const want = Array.from({ length: 12000 }, (_, k) => (k + 4) & 0xff);
    expect(bytes(cpu, 0x30000, 12000)).toEqual(want);
  });

  it("moves backwards with DF set, overlapping upward like memmove, across pages", () => {
    const n = 3000;
    const { cpu } = runAsm(`
      std
      mov esi, 0x30000 + ${4 * (n - 1)}
      mov edi, 0x30010 + ${4 * (n - 1)}
      mov ecx, ${n}
      rep movsd
      cld
      int3`, (c) => {
      for (let k = 0; k < 4 * n; k++) c.mem.u8[0x30000 + k] = (k * 13) & 0xff;
    });
    const want = Array.from({ length: 4 * n }, (_, k) => (k * 13) & 0xff);
    expect(bytes(cpu, 0x30010, 4 * n)).toEqual(want);
    expect(cpu.r32[Reg.ESI]).toBe(0x30000 - 4);
    expect(cpu.r32[Reg.EDI]).toBe(0x30010 - 4);
  });

  it("fills with REP STOSB/W/D forward and backward, aligned or not, across pages", () => {
    const { cpu } = runAsm(`
      mov eax, 0x11223344
      mov edi, 0x20ffd
      mov ecx, 5000
      rep stosd
      mov edi, 0x30001
      mov ecx, 3000
      rep stosw
      mov edi, 0x40fff
      mov ecx, 4099
      rep stosb
      std
      mov edi, 0x51000
      mov ecx, 2000
      rep stosd
      cld
      int3`);
    const dword = [0x44, 0x33, 0x22, 0x11];
    expect(bytes(cpu, 0x20ffd, 20000)).toEqual(Array.from({ length: 20000 }, (_, k) => dword[k & 3]));
    expect(bytes(cpu, 0x30001, 6000)).toEqual(Array.from({ length: 6000 }, (_, k) => dword[k & 1]));
    expect(bytes(cpu, 0x40fff, 4099)).toEqual(new Array(4099).fill(0x44));
    expect(bytes(cpu, 0x51004 - 8000, 8000)).toEqual(Array.from({ length: 8000 }, (_, k) => dword[k & 3]));
    expect(cpu.r32[Reg.EDI]).toBe(0x51000 - 8000);
    expect([cpu.mem.u8[0x20ffc], cpu.mem.u8[0x30000], cpu.mem.u8[0x40ffe], cpu.mem.u8[0x51004 - 8001]]).toEqual([0, 0, 0, 0]);
  });

  it("runs in chunks of REP_CHUNK iterations and retires each iteration", () => {
    const { cpu } = runAsm(`
      mov edi, 0x20000
      mov ecx, ${3 * REP_CHUNK + 5}
      rep stosd
      int3`);
    expect(cpu.icount).toBe(2 + 3 * REP_CHUNK + 5 + 1);
    expect(cpu.r32[1]).toBe(0);
  });
});
