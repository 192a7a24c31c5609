import { describe, expect, it } from "vitest";
import { Flag } from "../../../x86/eflags.js";
import { Reg, Seg } from "../../../x86/insn.js";
import { bareCpu, CODE_BASE, nasm, runAsm } from "../../../../test/support/cpu.js";
import { SegAttr, Stop } from "../arch.js";
import { Vec } from "../../../x86/vectors.js";
import { REP_CHUNK } from "../../../x86/rep.js";

const DATA32 = SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.DB;

function fill(mem: { write8(a: number, v: number): void }, at: number, text: string): void {
  for (let k = 0; k < text.length; k++) mem.write8(at + k, text.charCodeAt(k));
}

describe("MOVS, STOS, LODS", () => {
  it("REP MOVSB copies ECX bytes forward and leaves the pointers past them", () => {
    const { cpu } = runAsm(`
      mov esi, 0x3000
      mov edi, 0x4000
      mov ecx, 11
      rep movsb
      int3`, (c) => fill(c.mem, 0x3000, "hello world"));
    expect(cpu.r32[Reg.ECX]).toBe(0);
    expect(cpu.r32[Reg.ESI]).toBe(0x300b);
    expect(cpu.r32[Reg.EDI]).toBe(0x400b);
    expect(cpu.mem.read8(0x4000 + 10)).toBe("d".charCodeAt(0));
  });

  it("copies backwards with DF set", () => {
    const { cpu } = runAsm(`
      std
      mov esi, 0x3008
      mov edi, 0x4008
      mov ecx, 3
      rep movsd
      cld
      int3`, (c) => { c.mem.write32(0x3000, 1); c.mem.write32(0x3004, 2); c.mem.write32(0x3008, 3); });
    expect(cpu.mem.read32(0x4000)).toBe(1);
    expect(cpu.mem.read32(0x4008)).toBe(3);
    expect(cpu.r32[Reg.ESI]).toBe(0x2ffc);
  });

  it("uses SI, DI and CX with a 16-bit address size, wrapping at 64 KiB", () => {
    const { cpu } = runAsm(`
      mov esi, 0x1fffe
      mov edi, 0x14000
      mov ecx, 0x10002
      a16 rep movsb
      int3`, (c) => { c.mem.write8(0xfffe, 0xaa); c.mem.write8(0xffff, 0xbb); });
    expect(cpu.r32[Reg.ESI]).toBe(0x10000);
    expect(cpu.r32[Reg.EDI]).toBe(0x14002);
    expect(cpu.r32[Reg.ECX]).toBe(0x10000);
    expect(cpu.mem.read16(0x4000)).toBe(0xbbaa);
  });

  it("honours a segment override on the source but never on ES:EDI", () => {
    const { cpu } = runAsm(`
      mov esi, 0
      mov edi, 0x4000
      fs movsd
      int3`, (c) => {
      c.setSegCache(Seg.FS, 0x10, 0x3000, 0xffffffff, DATA32 | SegAttr.G);
      c.mem.write32(0x3000, 0x12345678);
    });
    expect(cpu.mem.read32(0x4000)).toBe(0x12345678);
  });

  it("treats REPNE on MOVS as REP", () => {
    const { cpu } = runAsm(`
      mov esi, 0x3000
      mov edi, 0x4000
      mov ecx, 4
      repne movsb
      int3`, (c) => fill(c.mem, 0x3000, "abcd"));
    expect(cpu.r32[Reg.ECX]).toBe(0);
    expect(cpu.mem.read32(0x4000)).toBe(0x64636261);
  });

  it("REP STOSW fills and LODSB loads", () => {
    const { cpu } = runAsm(`
      mov edi, 0x4000
      mov ecx, 4
      mov ax, 0xbeef
      rep stosw
      mov esi, 0x4001
      lodsb
      int3`);
    expect(cpu.mem.read16(0x4006)).toBe(0xbeef);
    expect(cpu.mem.read16(0x4008)).toBe(0);
    expect(cpu.r8[0]).toBe(0xbe);
    expect(cpu.r32[Reg.ESI]).toBe(0x4002);
  });

  it("does nothing when the count is zero, and retires once", () => {
    const { cpu } = runAsm(`
      mov edi, 0x4000
      xor ecx, ecx
      mov al, 1
      rep stosb
      int3`);
    expect(cpu.r32[Reg.EDI]).toBe(0x4000);
    expect(cpu.mem.read8(0x4000)).toBe(0);
    expect(cpu.icount).toBe(3 + 1 + 1);
  });

  it("runs long repeats in chunks and retires each iteration", () => {
    const n = REP_CHUNK * 3 + 5;
    const { cpu } = runAsm(`
      mov edi, 0x10000
      mov ecx, ${n}
      mov al, 7
      rep stosb
      int3`);
    expect(cpu.r32[Reg.ECX]).toBe(0);
    expect(cpu.mem.read8(0x10000 + n - 1)).toBe(7);
    expect(cpu.mem.read8(0x10000 + n)).toBe(0);
    expect(cpu.icount).toBe(3 + n + 1); // three MOVs, every STOSB iteration, INT3
  });

  it("ends a chunk exactly at the run's end, with the registers of the iterations retired", () => {
    for (const [op, bulk] of [["rep movsd", true], ["rep stosb", true], ["rep lodsw", false], ["repe cmpsb", false]] as const) {
      // Budgets that end inside a bulk run, inside the first chunk and inside a later one.
      for (const budget of [3 + 1, 3 + 700, 3 + REP_CHUNK + 17]) {
        const { cpu, stop } = runAsm(`
          mov esi, 0x10000
          mov edi, 0x10000
          mov ecx, ${REP_CHUNK * 2}
          ${op}
          int3`, undefined, { budget });
        expect(stop, op).toBe(Stop.BUDGET);
        expect(cpu.icount, op).toBe(budget);
        const done = budget - 3;
        expect(cpu.r32[Reg.ECX], `${op} ${bulk ? "in bulk" : ""}`).toBe(REP_CHUNK * 2 - done);
        expect(cpu.eip).toBe(0x1000 + 15);
      }
    }
  });

  it("leaves the same state whether or not a run's end cut it, an STI's shadow long lapsed", () => {
    // The STI's shadow covers the MOV after it; a REP that ends an execution early must not make
    // the state (which a state hash reads) differ from the run that went through it.
    const code = nasm(`
      sti
      mov edi, 0x10000
      mov ecx, 100
      rep stosb
      int3`, 32, CODE_BASE);
    // Runs of these many instructions first: none, one to the REP's middle, one to its first
    // iteration and more to its next-to-last.
    const states = [[], [3 + 40], [3 + 1, 1, 97]].map((runs) => {
      const { cpu } = bareCpu(code);
      for (const n of runs) expect(cpu.run(n)).toBe(Stop.BUDGET);
      cpu.run(100_000);
      expect(cpu.r32[Reg.ECX]).toBe(0);
      return cpu.save();
    });
    expect(states[1]).toEqual(states[0]);
    expect(states[2]).toEqual(states[0]);
  });

  it("stops a faulting REP mid-way with the registers of the iterations done, ready to resume", () => {
    const { cpu, stop } = runAsm(`
      mov esi, 0x3000
      mov edi, 0x1ffc
      mov ecx, 10
      rep movsb
      int3`, (c) => c.setSegCache(Seg.ES, 0x10, 0, 0x1fff, DATA32));
    expect(stop).toBe(Stop.EXCEPTION);
    expect([cpu.excVector, cpu.excCode]).toEqual([Vec.GP, 0]);
    expect(cpu.r32[Reg.ECX]).toBe(6);
    expect(cpu.r32[Reg.EDI]).toBe(0x2000);
    expect(cpu.eip).toBe(0x1000 + 15);
    expect(cpu.icount).toBe(3 + 4); // the iterations before the faulting one retired

    // Widen ES and resume: the loop finishes where it stopped.
    cpu.setSegCache(Seg.ES, 0x10, 0, 0xffffffff, DATA32 | SegAttr.G);
    cpu.run(100);
    expect(cpu.excVector).toBe(Vec.BP);
    expect(cpu.r32[Reg.ECX]).toBe(0);
    expect(cpu.r32[Reg.EDI]).toBe(0x2006);
  });
});

describe("CMPS and SCAS", () => {
  it("REPE CMPSB stops at the first difference with the flags of that comparison", () => {
    const { cpu } = runAsm(`
      mov esi, 0x3000
      mov edi, 0x4000
      mov ecx, 8
      repe cmpsb
      int3`, (c) => { fill(c.mem, 0x3000, "abcdefgh"); fill(c.mem, 0x4000, "abcXefgh"); });
    expect(cpu.r32[Reg.ECX]).toBe(4);
    expect(cpu.r32[Reg.ESI]).toBe(0x3004);
    expect(cpu.getEflags() & (Flag.ZF | Flag.CF)).toBe(0); // 'd' > 'X'
  });

  it("REPE CMPSD runs to the end when all match", () => {
    const { cpu } = runAsm(`
      mov esi, 0x3000
      mov edi, 0x4000
      mov ecx, 2
      repe cmpsd
      int3`);
    expect(cpu.r32[Reg.ECX]).toBe(0);
    expect(cpu.getEflags() & Flag.ZF).toBe(Flag.ZF);
  });

  it("REPNE SCASB finds a byte", () => {
    const { cpu } = runAsm(`
      mov edi, 0x4000
      mov ecx, -1
      xor al, al
      repne scasb
      not ecx
      dec ecx
      int3`, (c) => fill(c.mem, 0x4000, "length13bytes"));
    expect(cpu.r32[Reg.ECX]).toBe(13);
    expect(cpu.r32[Reg.EDI]).toBe(0x4000 + 14);
  });

  it("CMPSW subtracts ES:DI from DS:SI", () => {
    const { cpu } = runAsm(`
      mov esi, 0x3000
      mov edi, 0x4000
      cmpsw
      int3`, (c) => { c.mem.write16(0x3000, 1); c.mem.write16(0x4000, 2); });
    expect(cpu.getEflags() & (Flag.CF | Flag.SF)).toBe(Flag.CF | Flag.SF);
    expect(cpu.r32[Reg.EDI]).toBe(0x4002);
  });
});

describe("INS and OUTS", () => {
  it("REP OUTSB writes each byte to the port in DX", () => {
    const { io, cpu } = runAsm(`
      mov esi, 0x3000
      mov dx, 0x3f8
      mov ecx, 3
      rep outsb
      int3`, (c) => fill(c.mem, 0x3000, "abc"));
    expect(io.outs).toEqual([[0x3f8, 0x61, 1], [0x3f8, 0x62, 1], [0x3f8, 0x63, 1]]);
    expect(cpu.r32[Reg.ESI]).toBe(0x3003);
  });

  it("INSW stores the port's word at ES:EDI", () => {
    const { cpu } = runAsm(`
      mov edi, 0x4000
      mov dx, 0x1f0
      insw
      int3`, (c) => { (c.io as unknown as { ins: Map<number, number> }).ins.set(0x1f0, 0xabcd); });
    expect(cpu.mem.read16(0x4000)).toBe(0xabcd);
    expect(cpu.r32[Reg.EDI]).toBe(0x4002);
  });
});
