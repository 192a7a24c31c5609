// SYSENTER / SYSEXIT, the fast system calls of the P6 family (SDM vol. 2, SYSENTER and SYSEXIT
// Operation), with the flat segments they load implied by IA32_SYSENTER_CS; and INT1 (ICEBP), the
// one-byte debug trap.

import { Flag } from "../../../x86/eflags.js";
import { Reg, Seg } from "../../../x86/insn.js";
import type { Cpu } from "../cpu.js";
import { deliverDebugTrap } from "../debug.js";
import { def } from "../table.js";

// In SegAttr's layout, as literals: this module is evaluated inside cpu.ts's import cycle, before
// SegAttr exists at run time.
/** CS: P S DPL 0, execute/read, accessed, D, G (4 GiB). */
const FLAT_CS = 0xc09b;
/** SS: P S DPL 0, read/write, accessed, B, G (4 GiB). */
const FLAT_SS = 0xc093;
const DPL3 = 0x60;

/** SYSENTER: to CPL 0 at SYSENTER_CS:SYSENTER_EIP with SS = SYSENTER_CS + 8 and ESP = SYSENTER_ESP. */
export function sysenter(cpu: Cpu): void {
  const cs = cpu.sysenterCs & 0xfffc;
  if (!cpu.protectedMode() || cs === 0) cpu.gp(0);
  cpu.flags &= ~(Flag.VM | Flag.IF | Flag.RF);
  cpu.cpl = 0;
  cpu.setSegCache(Seg.CS, cs, 0, 0xffffffff, FLAT_CS);
  cpu.setSegCache(Seg.SS, (cs + 8) & 0xfffc, 0, 0xffffffff, FLAT_SS);
  cpu.r32[Reg.ESP] = cpu.sysenterEsp;
  cpu.eip = cpu.sysenterEip;
}

/** SYSEXIT: to CPL 3 at (SYSENTER_CS + 16) | 3 : EDX with SS = (SYSENTER_CS + 24) | 3 and ESP = ECX. */
export function sysexit(cpu: Cpu): void {
  const cs = cpu.sysenterCs & 0xfffc;
  if (!cpu.protectedMode() || cs === 0 || cpu.cpl !== 0 || (cpu.flags & Flag.VM) !== 0) cpu.gp(0);
  cpu.cpl = 3;
  cpu.setSegCache(Seg.CS, ((cs + 16) & 0xfffc) | 3, 0, 0xffffffff, FLAT_CS | DPL3);
  cpu.setSegCache(Seg.SS, ((cs + 24) & 0xfffc) | 3, 0, 0xffffffff, FLAT_SS | DPL3);
  cpu.r32[Reg.ESP] = cpu.r32[Reg.ECX];
  cpu.eip = cpu.r32[Reg.EDX];
}

function register(): void {
  def(0x134, sysenter);
  def(0x135, sysexit);
  // INT1 / ICEBP: #DB as a trap, delivered like a hardware event (no gate DPL check, DR6 unchanged).
  def(0xf1, deliverDebugTrap);
}

register();
