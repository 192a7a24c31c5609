// Executes a Linux boot plan (src/x86/linux-boot.ts) on the bare machine: the plan's bytes go into
// RAM and the CPU is put straight into the state the 32-bit boot protocol promises the kernel —
// flat protected mode, paging off, interrupts off, ESI at the zero page. No BIOS and no real-mode
// setup code run; the plan already holds what they would have told the kernel.

import type { BootPlan, BootSegment } from "../x86/linux-boot.js";
import { Reg, Seg } from "../x86/insn.js";
import type { Cpu } from "./cpu/cpu.js";
import type { PhysMem } from "./memory.js";

/** A VMX access-rights word without its "unusable" bit and limit nibble is our SegAttr. */
const AR_ATTR_MASK = 0xf0ff;

export function startLinux(cpu: Cpu, mem: PhysMem, plan: BootPlan): void {
  for (const w of plan.writes) {
    if (w.addr + w.bytes.length > mem.size) {
      throw new Error(`the ${w.what} (${w.bytes.length} bytes at 0x${w.addr.toString(16)}) does not fit in RAM`);
    }
    mem.load(w.addr, w.bytes);
  }
  const r = plan.regs;
  // CR0 first: whether CS and SS are 32-bit is decided as they load, by the mode they load in.
  cpu.cr0 = r.cr0;
  cpu.cr3 = r.cr3;
  cpu.cr4 = r.cr4;
  cpu.paging.changed();
  cpu.gdtrBase = plan.gdtr.base;
  cpu.gdtrLimit = plan.gdtr.limit;
  cpu.idtrBase = plan.idtr.base;
  cpu.idtrLimit = plan.idtr.limit;
  const s = plan.segments;
  const load = (seg: Seg, d: BootSegment) => cpu.setSegCache(seg, d.selector, d.base | 0, d.limit, d.accessRights & AR_ATTR_MASK);
  load(Seg.ES, s.es);
  load(Seg.CS, s.cs);
  load(Seg.SS, s.ss);
  load(Seg.DS, s.ds);
  load(Seg.FS, s.fs);
  load(Seg.GS, s.gs);
  cpu.trSel = s.tr.selector;
  cpu.trBase = s.tr.base;
  cpu.trLimit = s.tr.limit;
  cpu.trAttr = s.tr.accessRights & AR_ATTR_MASK;
  cpu.ldtrSel = s.ldtr.selector;
  cpu.ldtrBase = s.ldtr.base;
  cpu.ldtrLimit = s.ldtr.limit;
  cpu.cpl = 0;
  cpu.r32[Reg.EAX] = r.eax;
  cpu.r32[Reg.EBX] = r.ebx;
  cpu.r32[Reg.ECX] = r.ecx;
  cpu.r32[Reg.EDX] = r.edx;
  cpu.r32[Reg.ESI] = r.esi;
  cpu.r32[Reg.EDI] = r.edi;
  cpu.r32[Reg.EBP] = r.ebp;
  cpu.r32[Reg.ESP] = r.esp;
  cpu.setFlagBits(r.eflags, 0xffffffff);
  cpu.eip = r.eip;
}
