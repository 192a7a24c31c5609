import { describe, expect, it } from "vitest";
import { runAsm } from "../../../../test/support/cpu.js";
import { Seg } from "../../../x86/insn.js";
import { SegAttr } from "../arch.js";
import { Vec } from "../../../x86/vectors.js";

const CF = 0x1, ZF = 0x40;

describe("bit tests, bit scans, BSWAP, SETcc and CMOVcc", () => {
  it("addresses BT's bit string with a negative register offset", () => {
    const { cpu } = runAsm("mov dword [0x2ffc], 0x80000000\n mov ecx, -1\n bt dword [0x3000], ecx\n int3");
    expect(cpu.getEflags() & CF).toBe(CF);
  });

  it("sets, clears and complements a bit far beyond the operand in memory", () => {
    const { cpu } = runAsm("mov ecx, 100\n bts dword [0x3000], ecx\n mov ecx, 101\n btc dword [0x3000], ecx\n btr dword [0x3000], ecx\n int3");
    expect(cpu.mem.read32(0x300c)).toBe(1 << 4);
    expect(cpu.getEflags() & CF).toBe(CF);
  });

  it("masks BT's immediate to the operand size and leaves ZF alone", () => {
    const { cpu } = runAsm("mov word [0x3000], 2\n xor eax, eax\n bt word [0x3000], 17\n int3");
    expect(cpu.getEflags() & (CF | ZF)).toBe(CF | ZF);
  });

  it("masks a register bit offset to the register's width", () => {
    const { cpu } = runAsm("mov eax, 1\n mov ecx, 32\n btr eax, ecx\n int3");
    expect(cpu.r32[0]).toBe(0);
    expect(cpu.getEflags() & CF).toBe(CF);
  });

  it("finds the lowest and highest set bits with BSF and BSR", () => {
    const { cpu } = runAsm("mov eax, 0x00f00100\n bsf ebx, eax\n bsr ecx, eax\n int3");
    expect(cpu.r32[3]).toBe(8);
    expect(cpu.r32[1]).toBe(23);
    expect(cpu.getEflags() & ZF).toBe(0);
  });

  it("sets ZF and keeps the destination when BSF's source is zero", () => {
    const { cpu } = runAsm("mov ebx, 0x1234\n xor eax, eax\n bsf ebx, eax\n int3");
    expect(cpu.r32[3]).toBe(0x1234);
    expect(cpu.getEflags() & ZF).toBe(ZF);
  });

  it("reverses the bytes of a register with BSWAP", () => {
    const { cpu } = runAsm("mov esi, 0x11223344\n bswap esi\n int3");
    expect(cpu.r32[6]).toBe(0x44332211);
  });

  it("writes 1 or 0 with SETcc", () => {
    const { cpu } = runAsm("mov eax, 1\n cmp eax, 2\n setl bl\n setg bh\n setb byte [0x3000]\n int3");
    expect(cpu.r8[12]).toBe(1);
    expect(cpu.r8[13]).toBe(0);
    expect(cpu.mem.read8(0x3000)).toBe(1);
  });

  it("reads CMOVcc's memory source even when the condition is false", () => {
    // DS limited to 4 KiB: the read at 0x3000 is outside it.
    const { cpu } = runAsm("mov ebx, 7\n xor eax, eax\n cmovnz ebx, [0x3000]\n int3",
      (cpu) => cpu.setSegCache(Seg.DS, 0x10, 0, 0xfff, SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.ACCESSED | SegAttr.DB));
    expect(cpu.excVector).toBe(Vec.GP);
    expect(cpu.r32[3]).toBe(7);
  });

  it("moves with CMOVcc only when the condition holds", () => {
    const { cpu } = runAsm("mov ebx, 7\n mov ecx, 9\n xor eax, eax\n cmovz ebx, ecx\n cmovnz ecx, eax\n int3");
    expect(cpu.r32[3]).toBe(9);
    expect(cpu.r32[1]).toBe(9);
  });
});
