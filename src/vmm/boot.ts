// What the guest starts with: the bytes to put in guest RAM and the VCPU's first state, which the
// VMM loads in its reply to the VCPU's STARTUP message. Linux comes from src/x86's boot-protocol
// planner (flat 32-bit protected mode, paging off — an unrestricted guest needs no real-mode
// setup code); a flat image starts in real mode like a boot sector, in the state the bare
// machine's CPU has after RESET.

import { GuestField, Proc, Proc2 } from "../l4/api.js";
import { type BootSegment, LinuxBootError, planLinuxBoot } from "../x86/linux-boot.js";
import type { BootImage } from "./config.js";
import { CR0_OWNED, CR4_OWNED } from "./cr.js";

export interface GuestWrite {
  addr: number;
  bytes: Uint8Array;
  what: string;
}

export interface GuestStart {
  writes: GuestWrite[];
  /** The STARTUP reply's guest state (the control group comes from the VCPU book). */
  fields: [GuestField, number][];
  /** CR0 and CR4 as the guest believes them (the read shadows). */
  cr0: number;
  cr4: number;
  notes: string[];
}

const AR_UNUSABLE = 0x10000;

function segment(
  fields: [GuestField, number][],
  sel: GuestField,
  s: { selector: number; base: number; limit: number; accessRights: number },
): void {
  fields.push([sel, s.selector], [sel + 1, s.base >>> 0], [sel + 2, s.limit >>> 0], [sel + 3, s.accessRights >>> 0]);
}

/** The guest's start, or a one-line reason it cannot be booted. */
export function planGuest(boot: BootImage, ramSize: number): GuestStart | string {
  if (boot.kind === "linux") {
    let plan;
    try {
      plan = planLinuxBoot({ kernel: boot.kernel, initrd: boot.initrd, cmdline: boot.cmdline, ramSize });
    } catch (e) {
      if (e instanceof LinuxBootError) return e.message;
      throw e;
    }
    for (const w of plan.writes) {
      if (w.addr + w.bytes.length > ramSize) return `the ${w.what} (${w.bytes.length} bytes at 0x${w.addr.toString(16)}) does not fit in guest RAM`;
    }
    const r = plan.regs;
    const f: [GuestField, number][] = [
      [GuestField.EAX, r.eax], [GuestField.ECX, r.ecx], [GuestField.EDX, r.edx], [GuestField.EBX, r.ebx],
      [GuestField.EBP, r.ebp], [GuestField.ESI, r.esi], [GuestField.EDI, r.edi],
      [GuestField.ESP, r.esp], [GuestField.EIP, r.eip], [GuestField.EFLAGS, r.eflags],
      [GuestField.CR0, (r.cr0 | CR0_OWNED) >>> 0], [GuestField.CR2, 0], [GuestField.CR3, r.cr3], [GuestField.CR4, (r.cr4 | CR4_OWNED) >>> 0],
      [GuestField.GDTR_BASE, plan.gdtr.base], [GuestField.GDTR_LIMIT, plan.gdtr.limit],
      [GuestField.IDTR_BASE, plan.idtr.base], [GuestField.IDTR_LIMIT, plan.idtr.limit],
      [GuestField.DR7, 0x400],
      [GuestField.DR6, 0xffff0ff0],
    ];
    const sg = plan.segments;
    const seg = (field: GuestField, s: BootSegment) => segment(f, field, s);
    seg(GuestField.DS_SEL, sg.ds);
    seg(GuestField.ES_SEL, sg.es);
    seg(GuestField.FS_SEL, sg.fs);
    seg(GuestField.GS_SEL, sg.gs);
    seg(GuestField.CS_SEL, sg.cs);
    seg(GuestField.SS_SEL, sg.ss);
    seg(GuestField.TR_SEL, sg.tr);
    seg(GuestField.LDTR_SEL, sg.ldtr);
    return { writes: plan.writes, fields: f, cr0: r.cr0, cr4: r.cr4, notes: plan.notes };
  }
  const addr = boot.kind === "flat" ? (boot.addr ?? 0x7c00) : 0;
  const writes: GuestWrite[] = [];
  if (boot.kind === "flat") {
    if (boot.image.length === 0) return "the boot image is empty";
    if (addr + boot.image.length > ramSize) return `the boot image (${boot.image.length} bytes at 0x${addr.toString(16)}) does not fit in guest RAM`;
    writes.push({ addr, bytes: boot.image, what: "boot image" });
  }
  // The state after RESET (SDM vol. 3, 9.1.1) with CS:IP at the image: real mode, segments of
  // 64 KiB at base 0, the IVT at 0, EDX the processor signature (family 6, model 5, stepping 2).
  const cr0 = 0x60000010;
  const f: [GuestField, number][] = [
    [GuestField.EAX, 0], [GuestField.ECX, 0], [GuestField.EDX, 0x652], [GuestField.EBX, 0],
    [GuestField.EBP, 0], [GuestField.ESI, 0], [GuestField.EDI, 0],
    [GuestField.ESP, 0], [GuestField.EIP, addr], [GuestField.EFLAGS, 0x2],
    [GuestField.CR0, (cr0 | CR0_OWNED) >>> 0], [GuestField.CR2, 0], [GuestField.CR3, 0], [GuestField.CR4, CR4_OWNED],
    [GuestField.GDTR_BASE, 0], [GuestField.GDTR_LIMIT, 0xffff],
    [GuestField.IDTR_BASE, 0], [GuestField.IDTR_LIMIT, 0xffff],
    [GuestField.DR7, 0x400],
    [GuestField.DR6, 0xffff0ff0],
  ];
  const data = { selector: 0, base: 0, limit: 0xffff, accessRights: 0x93 };
  for (const s of [GuestField.DS_SEL, GuestField.ES_SEL, GuestField.FS_SEL, GuestField.GS_SEL, GuestField.SS_SEL]) segment(f, s, data);
  segment(f, GuestField.CS_SEL, { selector: 0, base: 0, limit: 0xffff, accessRights: 0x9b });
  segment(f, GuestField.TR_SEL, { selector: 0, base: 0, limit: 0xffff, accessRights: 0x8b });
  segment(f, GuestField.LDTR_SEL, { selector: 0, base: 0, limit: 0xffff, accessRights: 0x82 | AR_UNUSABLE });
  return { writes, fields: f, cr0, cr4: 0, notes: [`${boot.kind === "flat" ? "flat image" : "no image"}: real mode at 0:0x${addr.toString(16)}`] };
}

/**
 * The exits the VMM wants (VMX processor-based controls): HLT, every I/O instruction but those to
 * the ports it mapped into the VM (I/O bitmaps, which the kernel keeps), and the optional RDTSC,
 * INVLPG and CR3 exits; EPT and unrestricted guest. MSR accesses exit without MSR bitmaps;
 * CPUID, VMCALL and triple faults always exit. Reserved bits that must be 1 are the platform's
 * business.
 */
export function processorControls(exits: { rdtsc: boolean; invlpg: boolean; cr3: boolean }): [number, number] {
  let p = Proc.HLT_EXITING | Proc.USE_IO_BITMAPS | Proc.ACTIVATE_SECONDARY;
  if (exits.rdtsc) p |= Proc.RDTSC_EXITING;
  if (exits.invlpg) p |= Proc.INVLPG_EXITING;
  if (exits.cr3) p |= Proc.CR3_LOAD_EXITING | Proc.CR3_STORE_EXITING;
  return [p >>> 0, (Proc2.ENABLE_EPT | Proc2.UNRESTRICTED_GUEST) >>> 0];
}
