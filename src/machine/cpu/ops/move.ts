// Data movement and the flag-register odds and ends: MOV (general-purpose forms), MOVZX/MOVSX,
// LEA, XCHG, NOP/PAUSE and NOP Ev, XADD, CMPXCHG, CMPXCHG8B, XLAT, LAHF/SAHF, CLC STC CMC CLD STD,
// and SALC.
//
// Exchanges and compare-exchanges on memory use one linear address, compute everything, write
// memory, and only then write registers: a fault leaves the instruction restartable.

import { Reg, type Insn } from "../../../x86/insn.js";
import { Flag } from "../../../x86/eflags.js";
import { type Cpu } from "../cpu.js";
import { Vec } from "../../../x86/vectors.js";
import { LazyOp } from "../lazy-flags.js";
import { def, defGroup, type Handler } from "../table.js";

const LAHF_FLAGS = Flag.SF | Flag.ZF | Flag.AF | Flag.PF | Flag.CF;

function register(): void {
  // MOV Eb,Gb / Ev,Gv / Gb,Eb / Gv,Ev
  def(0x88, (cpu, i) => cpu.writeE8(i, cpu.reg8(i.reg)));
  def(0x89, (cpu, i) => cpu.writeE16(i, cpu.reg16(i.reg)), (cpu, i) => cpu.writeE32(i, cpu.r32[i.reg]));
  def(0x8a, (cpu, i) => cpu.setReg8(i.reg, cpu.readE8(i)));
  def(0x8b, (cpu, i) => cpu.setReg16(i.reg, cpu.readE16(i)), (cpu, i) => { cpu.r32[i.reg] = cpu.readE32(i); });
  // MOV AL/eAX, moffs and back (A0–A3): the decoder gives them as mod=0 memory operands.
  def(0xa0, (cpu, i) => { cpu.r8[0] = cpu.readE8(i); });
  def(0xa1, (cpu, i) => { cpu.r16[0] = cpu.readE16(i); }, (cpu, i) => { cpu.r32[0] = cpu.readE32(i); });
  def(0xa2, (cpu, i) => cpu.writeE8(i, cpu.r8[0]));
  def(0xa3, (cpu, i) => cpu.writeE16(i, cpu.r16[0]), (cpu, i) => cpu.writeE32(i, cpu.r32[0]));
  // MOV r8,Ib (B0–B7); MOV r16/r32,Iv (B8–BF)
  for (let r = 0; r < 8; r++) {
    def(0xb0 + r, (cpu, i) => cpu.setReg8(r, i.imm));
    def(0xb8 + r, (cpu, i) => cpu.setReg16(r, i.imm), (cpu, i) => { cpu.r32[r] = i.imm; });
  }
  // MOV Eb,Ib (C6 /0); MOV Ev,Iz (C7 /0)
  defGroup(0xc6, 0, (cpu, i) => cpu.writeE8(i, i.imm));
  defGroup(0xc7, 0, (cpu, i) => cpu.writeE16(i, i.imm), (cpu, i) => cpu.writeE32(i, i.imm));

  // MOVZX Gv,Eb / Gv,Ew (0F B6, B7); MOVSX (0F BE, BF)
  def(0x1b6, (cpu, i) => cpu.setReg16(i.reg, cpu.readE8(i)), (cpu, i) => { cpu.r32[i.reg] = cpu.readE8(i); });
  def(0x1b7, (cpu, i) => cpu.setReg16(i.reg, cpu.readE16(i)), (cpu, i) => { cpu.r32[i.reg] = cpu.readE16(i); });
  def(0x1be, (cpu, i) => cpu.setReg16(i.reg, (cpu.readE8(i) << 24) >> 24),
    (cpu, i) => { cpu.r32[i.reg] = (cpu.readE8(i) << 24) >> 24; });
  def(0x1bf, (cpu, i) => cpu.setReg16(i.reg, cpu.readE16(i)),
    (cpu, i) => { cpu.r32[i.reg] = (cpu.readE16(i) << 16) >> 16; });

  // LEA Gv,M: the address (already truncated to the address size) truncated to the operand size.
  def(0x8d, (cpu, i) => {
    if (i.mod === 3) cpu.raise(Vec.UD);
    cpu.setReg16(i.reg, cpu.ea(i));
  }, (cpu, i) => {
    if (i.mod === 3) cpu.raise(Vec.UD);
    cpu.r32[i.reg] = cpu.ea(i);
  });

  // XCHG Eb,Gb / Ev,Gv (86, 87)
  def(0x86, (cpu, i) => {
    const g = cpu.reg8(i.reg);
    if (i.mod === 3) {
      cpu.setReg8(i.reg, cpu.reg8(i.rm));
      cpu.setReg8(i.rm, g);
      return;
    }
    const lin = cpu.linRmw(i.seg, cpu.ea(i), 1);
    const m = cpu.rd8(lin);
    cpu.wr8(lin, g);
    cpu.setReg8(i.reg, m);
  });
  def(0x87, (cpu, i) => {
    const g = cpu.reg16(i.reg);
    if (i.mod === 3) {
      cpu.setReg16(i.reg, cpu.reg16(i.rm));
      cpu.setReg16(i.rm, g);
      return;
    }
    const lin = cpu.linRmw(i.seg, cpu.ea(i), 2);
    const m = cpu.rd16(lin);
    cpu.wr16(lin, g);
    cpu.setReg16(i.reg, m);
  }, (cpu, i) => {
    const g = cpu.r32[i.reg];
    if (i.mod === 3) {
      cpu.r32[i.reg] = cpu.r32[i.rm];
      cpu.r32[i.rm] = g;
      return;
    }
    const lin = cpu.linRmw(i.seg, cpu.ea(i), 4);
    const m = cpu.rd32(lin);
    cpu.wr32(lin, g);
    cpu.r32[i.reg] = m;
  });
  // XCHG eAX,r (91–97). 90 is NOP (and F3 90 PAUSE, which a single-threaded core treats alike).
  for (let r = 1; r < 8; r++) {
    def(0x90 + r, (cpu) => {
      const a = cpu.r16[0];
      cpu.r16[0] = cpu.r16[r << 1];
      cpu.r16[r << 1] = a;
    }, (cpu) => {
      const a = cpu.r32[0];
      cpu.r32[0] = cpu.r32[r];
      cpu.r32[r] = a;
    });
  }
  const nop: Handler = () => {};
  def(0x90, nop);
  // The hint-NOP space 0F 18–0F 1F (SDM vol. 2, NOP, and Appendix A's reserved NOPs): NOP Ev
  // with any ModRM, register forms included; the prefetch hints (0F 18 /0–/3), CLDEMOTE, ENDBR32
  // and the MPX forms are NOPs on a CPU without those features. The operand is decoded (its length
  // counts) but never accessed: no #PF, no limit check. Silicon agrees, for 0F 18 with a register
  // operand too, where QEMU raises #UD (test/native's hintnop family).
  for (let op = 0x118; op <= 0x11f; op++) def(op, nop);

  // XADD Eb,Gb / Ev,Gv (0F C0, C1): dest = dest + src, src = old dest; flags of the addition.
  def(0x1c0, (cpu, i) => {
    const g = cpu.reg8(i.reg);
    if (i.mod === 3) {
      const d = cpu.reg8(i.rm);
      cpu.setReg8(i.reg, d);
      cpu.setReg8(i.rm, add(cpu, d, g, 1));
      return;
    }
    const lin = cpu.linRmw(i.seg, cpu.ea(i), 1);
    const d = cpu.rd8(lin);
    const r = (d + g) | 0;
    cpu.wr8(lin, r);
    cpu.setReg8(i.reg, d);
    cpu.setLazy(LazyOp.ADD, d, g, r, 1);
  });
  def(0x1c1, (cpu, i) => {
    const g = cpu.reg16(i.reg);
    if (i.mod === 3) {
      const d = cpu.reg16(i.rm);
      cpu.setReg16(i.reg, d);
      cpu.setReg16(i.rm, add(cpu, d, g, 2));
      return;
    }
    const lin = cpu.linRmw(i.seg, cpu.ea(i), 2);
    const d = cpu.rd16(lin);
    const r = (d + g) | 0;
    cpu.wr16(lin, r);
    cpu.setReg16(i.reg, d);
    cpu.setLazy(LazyOp.ADD, d, g, r, 2);
  }, (cpu, i) => {
    const g = cpu.r32[i.reg];
    if (i.mod === 3) {
      const d = cpu.r32[i.rm];
      cpu.r32[i.reg] = d;
      cpu.r32[i.rm] = add(cpu, d, g, 4);
      return;
    }
    const lin = cpu.linRmw(i.seg, cpu.ea(i), 4);
    const d = cpu.rd32(lin);
    const r = (d + g) | 0;
    cpu.wr32(lin, r);
    cpu.r32[i.reg] = d;
    cpu.setLazy(LazyOp.ADD, d, g, r, 4);
  });

  // CMPXCHG Eb,Gb / Ev,Gv (0F B0, B1): compare the accumulator with dest (flags of acc - dest);
  // equal: dest = src; else acc = dest, and a memory dest is written back with its own value.
  def(0x1b0, (cpu, i) => {
    const acc = cpu.r8[0];
    if (i.mod === 3) {
      const d = cpu.reg8(i.rm);
      if (cmp(cpu, acc, d, 1)) cpu.setReg8(i.rm, cpu.reg8(i.reg));
      else cpu.r8[0] = d;
      return;
    }
    const lin = cpu.linRmw(i.seg, cpu.ea(i), 1);
    const d = cpu.rd8(lin);
    const eq = acc === d;
    cpu.wr8(lin, eq ? cpu.reg8(i.reg) : d);
    if (!eq) cpu.r8[0] = d;
    cpu.setLazy(LazyOp.SUB, acc, d, acc - d, 1);
  });
  def(0x1b1, (cpu, i) => {
    const acc = cpu.r16[0];
    if (i.mod === 3) {
      const d = cpu.reg16(i.rm);
      if (cmp(cpu, acc, d, 2)) cpu.setReg16(i.rm, cpu.reg16(i.reg));
      else cpu.r16[0] = d;
      return;
    }
    const lin = cpu.linRmw(i.seg, cpu.ea(i), 2);
    const d = cpu.rd16(lin);
    const eq = acc === d;
    cpu.wr16(lin, eq ? cpu.reg16(i.reg) : d);
    if (!eq) cpu.r16[0] = d;
    cpu.setLazy(LazyOp.SUB, acc, d, acc - d, 2);
  }, (cpu, i) => {
    const acc = cpu.r32[0];
    if (i.mod === 3) {
      const d = cpu.r32[i.rm];
      if (cmp(cpu, acc, d, 4)) cpu.r32[i.rm] = cpu.r32[i.reg];
      else cpu.r32[0] = d;
      return;
    }
    const lin = cpu.linRmw(i.seg, cpu.ea(i), 4);
    const d = cpu.rd32(lin);
    const eq = acc === d;
    cpu.wr32(lin, eq ? cpu.r32[i.reg] : d);
    if (!eq) cpu.r32[0] = d;
    cpu.setLazy(LazyOp.SUB, acc, d, (acc - d) | 0, 4);
  });

  // CMPXCHG8B m64 (0F C7 /1): EDX:EAX against m64; equal: m64 = ECX:EBX, else EDX:EAX = m64 (and
  // m64 is written back unchanged). Only ZF changes.
  defGroup(0x1c7, 1, cmpxchg8b);

  // XLAT (D7): AL = [seg:(E)BX + AL]
  def(0xd7, (cpu, i) => {
    const a = cpu.r32[Reg.EBX] + cpu.r8[0];
    cpu.r8[0] = cpu.read8(i.seg, i.adsize === 32 ? a | 0 : a & 0xffff);
  });

  // LAHF (9F): AH = SF ZF 0 AF 0 PF 1 CF; SAHF (9E): the reverse.
  def(0x9f, (cpu) => { cpu.r8[1] = (cpu.arith() & LAHF_FLAGS) | Flag.FIXED; });
  def(0x9e, (cpu) => cpu.setFlagBits(cpu.r8[1], LAHF_FLAGS));

  // CLC STC CMC CLD STD
  def(0xf8, (cpu) => cpu.setCF(false));
  def(0xf9, (cpu) => cpu.setCF(true));
  def(0xf5, (cpu) => cpu.setCF(cpu.cf() === 0));
  def(0xfc, (cpu) => { cpu.flags &= ~Flag.DF; });
  def(0xfd, (cpu) => { cpu.flags |= Flag.DF; });

  // SALC (D6, undocumented but executed by P6 cores): AL = CF ? FFh : 0; no flags change.
  def(0xd6, (cpu) => { cpu.r8[0] = -cpu.cf(); });
}

function add(cpu: Cpu, a: number, b: number, size: 1 | 2 | 4): number {
  const r = (a + b) | 0;
  cpu.setLazy(LazyOp.ADD, a, b, r, size);
  return r;
}

/** Sets the flags of a - b and returns whether a = b (operands zero-extended or int32 alike). */
function cmp(cpu: Cpu, a: number, b: number, size: 1 | 2 | 4): boolean {
  cpu.setLazy(LazyOp.SUB, a, b, (a - b) | 0, size);
  return a === b;
}

function cmpxchg8b(cpu: Cpu, i: Insn): void {
  if (i.mod === 3) cpu.raise(Vec.UD);
  const lin = cpu.linRmw(i.seg, cpu.ea(i), 8);
  const lo = cpu.rd32(lin), hi = cpu.rd32((lin + 4) | 0);
  const eq = lo === cpu.r32[Reg.EAX] && hi === cpu.r32[Reg.EDX];
  if (eq) {
    cpu.wr32(lin, cpu.r32[Reg.EBX]);
    cpu.wr32((lin + 4) | 0, cpu.r32[Reg.ECX]);
  } else {
    cpu.wr32(lin, lo);
    cpu.wr32((lin + 4) | 0, hi);
    cpu.r32[Reg.EAX] = lo;
    cpu.r32[Reg.EDX] = hi;
  }
  cpu.setFlagBits(eq ? Flag.ZF : 0, Flag.ZF);
}

register();
