// Implicit supervisor accesses (SDM vol. 3, 4.6): the processor's own reads and writes of the GDT,
// LDT, IDT and TSS are supervisor accesses whatever the CPL, so a user-mode segment load or an
// interrupt from CPL 3 may use descriptor tables on supervisor-only pages. These accessors are the
// CPU's rd*/wr* with the supervisor TLB and walk.

import type { Cpu } from "./cpu.js";

export function sysRd8(cpu: Cpu, lin: number): number {
  return cpu.mem.read8(cpu.paging.enabled ? cpu.paging.translateSys(lin, false) : lin >>> 0);
}

export function sysRd16(cpu: Cpu, lin: number): number {
  if (!cpu.paging.enabled) return cpu.mem.read16(lin >>> 0);
  if ((lin & 0xfff) === 0xfff) return sysRd8(cpu, lin) | (sysRd8(cpu, (lin + 1) | 0) << 8);
  return cpu.mem.read16(cpu.paging.translateSys(lin, false, 2));
}

/** As an int32. */
export function sysRd32(cpu: Cpu, lin: number): number {
  if (!cpu.paging.enabled) return cpu.mem.read32(lin >>> 0);
  if ((lin & 0xfff) > 0xffc) return sysRd16(cpu, lin) | (sysRd16(cpu, (lin + 2) | 0) << 16);
  return cpu.mem.read32(cpu.paging.translateSys(lin, false, 4));
}

export function sysWr8(cpu: Cpu, lin: number, v: number): void {
  cpu.mem.write8(cpu.paging.enabled ? cpu.paging.translateSys(lin, true) : lin >>> 0, v & 0xff);
}

export function sysWr16(cpu: Cpu, lin: number, v: number): void {
  if (!cpu.paging.enabled) return cpu.mem.write16(lin >>> 0, v & 0xffff);
  if ((lin & 0xfff) === 0xfff) {
    cpu.paging.translateSys((lin + 1) | 0, true);
    sysWr8(cpu, lin, v);
    sysWr8(cpu, (lin + 1) | 0, v >>> 8);
    return;
  }
  cpu.mem.write16(cpu.paging.translateSys(lin, true, 2), v & 0xffff);
}

export function sysWr32(cpu: Cpu, lin: number, v: number): void {
  if (!cpu.paging.enabled) return cpu.mem.write32(lin >>> 0, v);
  if ((lin & 0xfff) > 0xffc) {
    cpu.paging.translateSys((lin + 3) | 0, true);
    sysWr16(cpu, lin, v);
    sysWr16(cpu, (lin + 2) | 0, v >>> 16);
    return;
  }
  cpu.mem.write32(cpu.paging.translateSys(lin, true, 4), v);
}

/** Checks that `size` (≤ 4 KiB) bytes at `lin` can be written by the supervisor: present and writable. */
export function sysProbeWrite(cpu: Cpu, lin: number, size: number): void {
  if (!cpu.paging.enabled) return;
  const last = (lin + size - 1) | 0;
  cpu.paging.translateSys(lin, true);
  if ((last ^ lin) >>> 12 !== 0) cpu.paging.translateSys(last, true);
}
