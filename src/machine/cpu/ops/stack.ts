// Stack instructions: PUSH/POP of registers, immediates, memory and segment registers, PUSHA/POPA,
// PUSHF/POPF (SDM vol. 2, each instruction's Operation section). Multi-slot pushes and pops
// commit (E)SP only after every memory access has succeeded, so a fault restarts cleanly.

import { Flag } from "../../../x86/eflags.js";
import { Reg, Seg, type Insn } from "../../../x86/insn.js";
import type { Cpu } from "../cpu.js";
import { Dr6 } from "../../../x86/debugregs.js";
import { loadSeg, v86, v86Sensitive } from "../segments.js";
import { def, defGroup } from "../table.js";

/**
 * Marks the next instruction as not interruptible (after MOV SS, POP SS and STI that set IF):
 * external interrupts are not taken before the instruction at icount `cpu.irqShadowAt`.
 */
export function inhibitInterrupts(cpu: Cpu): void {
  cpu.irqShadowAt = cpu.icount + 1;
}

/**
 * After MOV SS and POP SS: external interrupts and debug exceptions wait until the next
 * instruction has run (SDM vol. 3, 6.8.3), so no handler runs on a half-switched stack. The
 * single-step trap this instruction would take is dropped: TF is unchanged, so the next
 * instruction's own trap, after it, is the delayed one (one trap for the two, as on silicon).
 */
export function stackSwitchShadow(cpu: Cpu): void {
  inhibitInterrupts(cpu);
  cpu.dbgTrap &= ~Dr6.BS;
}

/** Flags POPF/IRET may write at CPL 0 with a 32-bit operand (VM, VIF and VIP never: SDM POPF). */
const POPF_FLAGS = Flag.CF | Flag.PF | Flag.AF | Flag.ZF | Flag.SF | Flag.TF | Flag.IF | Flag.DF | Flag.OF |
  Flag.IOPL | Flag.NT | Flag.AC | Flag.ID;

/** POPF: which bits change depends on the mode, CPL and IOPL; RF is cleared. */
export function popf(cpu: Cpu, v: number, size32: boolean): void {
  const old = cpu.materialize();
  const iopl = (old >>> 12) & 3;
  let mask = POPF_FLAGS;
  if (v86(cpu)) {
    // Virtual-8086 mode with IOPL 3 (else #GP, checked by the caller): IOPL is kept.
    mask &= ~Flag.IOPL;
  } else if (cpu.protectedMode() && cpu.cpl > 0) {
    mask &= ~Flag.IOPL;
    if (cpu.cpl > iopl) mask &= ~Flag.IF;
  }
  if (!size32) mask &= 0xffff;
  let f = (old & ~mask) | (v & mask) | Flag.FIXED;
  if (size32) f &= ~Flag.RF;
  cpu.flags = f >>> 0;
}

function register(): void {
  // PUSH r16/r32 (50–57): PUSH (E)SP pushes the value before the push.
  for (let r = 0; r < 8; r++) {
    def(0x50 + r, (cpu) => cpu.push16(cpu.reg16(r)), (cpu) => cpu.push32(cpu.r32[r]));
    // POP r16/r32 (58–5F): POP (E)SP loads the popped value into (E)SP, after the increment.
    def(0x58 + r, (cpu) => {
      const v = cpu.pop16();
      cpu.setReg16(r, v);
    }, (cpu) => {
      const v = cpu.pop32();
      cpu.r32[r] = v;
    });
  }

  // PUSH Iz (68), PUSH sIb (6A)
  def(0x68, (cpu, i) => cpu.push16(i.imm), (cpu, i) => cpu.push32(i.imm));
  def(0x6a, (cpu, i) => cpu.push16(i.imm), (cpu, i) => cpu.push32(i.imm));

  // PUSH Ev (FF /6): the operand is read before ESP moves.
  defGroup(0xff, 6, (cpu, i) => cpu.push16(cpu.readE16(i)), (cpu, i) => cpu.push32(cpu.readE32(i)));

  // POP Ev (8F /0): an ESP-based destination address is computed after the increment.
  defGroup(0x8f, 0, (cpu, i) => popEv(cpu, i, false), (cpu, i) => popEv(cpu, i, true));

  // PUSH/POP sreg. A 32-bit PUSH sreg writes 2 bytes and moves ESP by 4 (P6 family).
  const sregs: [push: number, pop: number, seg: number][] = [
    [0x06, 0x07, Seg.ES], [0x0e, -1, Seg.CS], [0x16, 0x17, Seg.SS], [0x1e, 0x1f, Seg.DS],
    [0x1a0, 0x1a1, Seg.FS], [0x1a8, 0x1a9, Seg.GS],
  ];
  for (const [push, pop, seg] of sregs) {
    def(push, (cpu) => cpu.push16(cpu.segSel[seg]), (cpu) => {
      const sp = cpu.spPlus(-4);
      cpu.write16(Seg.SS, sp, cpu.segSel[seg]);
      cpu.setSp(sp);
    });
    if (pop < 0) continue;
    // The stack pointer moves by the width of the stack the value came from: a POP SS that
    // switches between 16- and 32-bit stacks still moves SP (or ESP) as the old SS.B says. A load
    // that faults leaves it unchanged.
    const h = (size: 2 | 4) => (cpu: Cpu): void => {
      const oldStack32 = cpu.stack32;
      const v = cpu.rd16(cpu.linR(Seg.SS, cpu.sp(), size));
      const sp = cpu.spPlus(size);
      loadSeg(cpu, seg, v);
      if (oldStack32) cpu.r32[Reg.ESP] = sp;
      else cpu.r16[Reg.ESP << 1] = sp;
      if (seg === Seg.SS) stackSwitchShadow(cpu);
    };
    def(pop, h(2), h(4));
  }

  // PUSHA / PUSHAD: the ESP pushed is the value before the instruction.
  def(0x60, (cpu) => {
    for (let r = 0; r < 8; r++) cpu.write16(Seg.SS, cpu.spPlus(-2 * (r + 1)), cpu.reg16(r));
    cpu.setSp(cpu.spPlus(-16));
  }, (cpu) => {
    for (let r = 0; r < 8; r++) cpu.write32(Seg.SS, cpu.spPlus(-4 * (r + 1)), cpu.r32[r]);
    cpu.setSp(cpu.spPlus(-32));
  });
  // POPA / POPAD: the saved (E)SP is skipped. All reads happen before any register changes.
  def(0x61, (cpu) => {
    for (let r = 7; r >= 0; r--) cpu.linR(Seg.SS, cpu.spPlus(2 * (7 - r)), 2);
    for (let r = 7; r >= 0; r--) {
      const v = cpu.read16(Seg.SS, cpu.spPlus(2 * (7 - r)));
      if (r !== Reg.ESP) cpu.setReg16(r, v);
    }
    cpu.setSp(cpu.spPlus(16));
  }, (cpu) => {
    for (let r = 7; r >= 0; r--) cpu.linR(Seg.SS, cpu.spPlus(4 * (7 - r)), 4);
    for (let r = 7; r >= 0; r--) {
      const v = cpu.read32(Seg.SS, cpu.spPlus(4 * (7 - r)));
      if (r !== Reg.ESP) cpu.r32[r] = v;
    }
    cpu.setSp(cpu.spPlus(32));
  });

  // PUSHF / PUSHFD: VM and RF read as 0 in the pushed image. Both, and POPF, are IOPL-sensitive
  // in virtual-8086 mode.
  def(0x9c, (cpu) => {
    v86Sensitive(cpu);
    cpu.push16(cpu.materialize());
  }, (cpu) => {
    v86Sensitive(cpu);
    cpu.push32(cpu.materialize() & ~(Flag.VM | Flag.RF));
  });
  def(0x9d, (cpu) => {
    v86Sensitive(cpu);
    const v = cpu.read16(Seg.SS, cpu.sp());
    popf(cpu, v, false);
    cpu.setSp(cpu.spPlus(2));
  }, (cpu) => {
    v86Sensitive(cpu);
    const v = cpu.read32(Seg.SS, cpu.sp());
    popf(cpu, v, true);
    cpu.setSp(cpu.spPlus(4));
  });
}

function popEv(cpu: Cpu, i: Insn, size32: boolean): void {
  const size = size32 ? 4 : 2;
  const sp = cpu.sp();
  const v = size32 ? cpu.read32(Seg.SS, sp) : cpu.read16(Seg.SS, sp);
  if (i.mod === 3) {
    cpu.setSp(cpu.spPlus(size));
    if (size32) cpu.r32[i.rm] = v;
    else cpu.setReg16(i.rm, v);
    return;
  }
  const oldEsp = cpu.r32[Reg.ESP];
  cpu.setSp(cpu.spPlus(size));
  const ea = cpu.ea(i);
  try {
    const lin = cpu.linW(i.seg, ea, size);
    if (size32) cpu.wr32(lin, v);
    else cpu.wr16(lin, v);
  } catch (e) {
    cpu.r32[Reg.ESP] = oldEsp; // a faulting POP leaves ESP as it was
    throw e;
  }
}

register();
