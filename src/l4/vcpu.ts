// VCPUs, the VT-x extension: a VCPU thread runs its VM through the Platform until an exit or a
// deadline; each exit the kernel does not handle itself becomes a virtualization-fault IPC to the
// thread's handler (an EPT violation a page fault to its pager), carrying the guest state its
// transfer mask names (vcpu-state.ts).

import { ExitReason, GuestField, Label, MR_COUNT, Rights, VcpuReason, msgTag, vfaultLabel } from "./api.js";
import { COSTS } from "./costs.js";
import { eptEffectiveRights } from "./ept.js";
import { kernelCall } from "./ipc.js";
import type { VcpuExit } from "./platform.js";
import { account, nextWake, pick } from "./sched.js";
import { eptMapped } from "./space.js";
import type { KernelContext, Tcb } from "./state.js";
import { fitMask, readState } from "./vcpu-state.js";

/** The valid bit of the VM-entry interruption information. */
const ENTRY_VALID = 0x80000000;
/** The MRs a vfault has for guest-state words, after the tag, qualification, length and mask. */
const VFAULT_STATE_WORDS = MR_COUNT - 4;

/** Runs VCPU thread t for one scheduling unit: its STARTUP or RECALL message, or one guest entry. */
export function runVcpuThread(k: KernelContext, t: Tcb): void {
  const v = t.vcpu!;
  const p = k.platform;
  if (!v.created) {
    p.vcpuCreate(t.no);
    v.created = true;
    p.guestWrite(t.no, GuestField.EIP, t.ip);
    p.guestWrite(t.no, GuestField.ESP, t.sp);
    if (t.flags) p.guestWrite(t.no, GuestField.EFLAGS, t.flags);
  }
  if (v.startup) {
    v.startup = false;
    sendVfault(k, t, VcpuReason.STARTUP, 0, 0, null);
    return;
  }
  if (v.recall) {
    v.recall = false;
    // An event the last reply injected that no VM entry has delivered yet goes in first: on
    // hardware the recalling IPI's exit comes after the entry that delivers it. Otherwise the
    // handler, answering the recall with an injection of its own, would overwrite it (an
    // interrupt acknowledged at the virtual PIC and never delivered).
    if (!v.inGuest && (p.guestRead(t.no, GuestField.ENTRY_INTR_INFO) & ENTRY_VALID) !== 0) {
      p.charge(COSTS.VM_ENTRY);
      k.observer?.vmEntry?.(t.id);
      const exit = p.runVcpu(v.run, p.now());
      if (exit) {
        vcpuExited(k, t, exit);
        return;
      }
      v.inGuest = true;
    }
    if (v.inGuest) {
      v.inGuest = false;
      p.charge(COSTS.VM_EXIT);
    }
    sendVfault(k, t, VcpuReason.RECALL, 0, 0, null);
    return;
  }
  // The entry is part of the timeslice: a slice ends at the same moment whether or not the host
  // cut the guest's run in two (a cut run resumes without another entry).
  const start = p.now();
  if (!v.inGuest) {
    p.charge(COSTS.VM_ENTRY);
    k.observer?.vmEntry?.(t.id);
  }
  v.inGuest = false;
  let until = Math.max(p.now() + 1, start + t.remaining);
  const wake = nextWake(k);
  if (wake >= 0 && wake < until) until = wake;
  if (k.runUntil < until) until = k.runUntil;
  const exit = p.runVcpu(v.run, until);
  if (!exit) {
    v.inGuest = true;
    return;
  }
  vcpuExited(k, t, exit);
}

/** A VM exit of VCPU thread t: the kernel's own, or a message to the handler or pager. */
function vcpuExited(k: KernelContext, t: Tcb, exit: VcpuExit): void {
  countExit(k, t, exit.reason, exit.qualification);
  switch (exit.reason) {
    case ExitReason.EXTERNAL_INTERRUPT:
      return; // the kernel's own business: the interrupt is taken before the next decision
    case ExitReason.EPT_VIOLATION:
      vmPageFault(k, t, exit);
      return;
    case ExitReason.INTERRUPT_WINDOW:
      k.platform.guestWrite(t.no, GuestField.INTR_WINDOW, 0);
      sendVfault(k, t, exit.reason, exit.qualification, exit.instructionLength, exit);
      return;
    default:
      sendVfault(k, t, exit.reason, exit.qualification, exit.instructionLength, exit);
  }
}

function countExit(k: KernelContext, t: Tcb, reason: number, qualification: number): void {
  k.platform.charge(COSTS.VM_EXIT);
  const st = k.s.stats;
  st.vmExits++;
  st.exitsByReason[reason] = (st.exitsByReason[reason] ?? 0) + 1;
  k.observer?.vmExit?.(t.id, reason, qualification);
}

/**
 * A VCPU left in the guest by a deadline exits now if anything else is to happen: an
 * interrupt (as the exit the platform would have reported), a timeout, another thread's turn.
 */
export function leaveGuestIfNeeded(k: KernelContext): void {
  const g = k.s.threads[k.s.lastRun];
  if (!g || !g.vcpu?.inGuest) return;
  const irq = k.platform.pendingIrq() >= 0;
  const wake = nextWake(k);
  if (!irq && !(wake >= 0 && wake <= k.platform.now()) && pick(k) === g) return;
  g.vcpu.inGuest = false;
  // Either way an external-interrupt exit, as on hardware: a device's interrupt, or the kernel's
  // own timer's (a timeout due, the timeslice's end).
  countExit(k, g, ExitReason.EXTERNAL_INTERRUPT, 0);
  // The exit the platform would have reported had the guest run on: its cost is the VCPU's
  // time, as there, or how the host cut its runs would show in the timeslice.
  if (irq) account(k, g, COSTS.VM_EXIT);
}

function sendVfault(k: KernelContext, t: Tcb, reason: number, qualification: number, length: number, exit: VcpuExit | null): void {
  const v = t.vcpu!;
  const mask = fitMask(v.xfer[reason] ?? v.xferDefault, VFAULT_STATE_WORDS);
  const mr = t.utcb.mr;
  mr[1] = qualification >>> 0;
  mr[2] = length >>> 0;
  mr[3] = mask;
  const end = readState(k, t, mask, exit, 4);
  mr[0] = msgTag(vfaultLabel(reason), end - 1, 0);
  v.lastReason = reason;
  v.lastQualification = qualification >>> 0;
  kernelCall(k, t, "vfault", t.utcb.exceptionHandler);
}

/** An EPT violation: a page fault to the VM's pager, unless the mapping is there already. */
function vmPageFault(k: KernelContext, t: Tcb, exit: VcpuExit): void {
  const gpa = exit.guestPhysical >>> 0;
  const q = exit.qualification;
  const need = (q & 1 ? Rights.R : 0) | (q & 2 ? Rights.W : 0) | (q & 4 ? Rights.X : 0);
  const node = k.mapdb.lookup(t.space, false, gpa);
  if (node && (eptEffectiveRights(node.rights) & need) === need) {
    eptMapped(k, node);
    return;
  }
  k.s.stats.vmPageFaults++;
  const v = t.vcpu!;
  const mr = t.utcb.mr;
  mr[1] = gpa;
  mr[2] = k.platform.guestRead(t.no, GuestField.EIP) >>> 0;
  k.observer?.fault?.(t.id, "vm", gpa, mr[2]);
  const mask = fitMask(v.xfer[ExitReason.EPT_VIOLATION] ?? 0, VFAULT_STATE_WORDS);
  let u = 2;
  if (mask !== 0) {
    mr[3] = mask;
    u = readState(k, t, mask, exit, 4) - 1;
  }
  mr[0] = msgTag(Label.PAGE_FAULT | need, u, 0);
  v.lastReason = ExitReason.EPT_VIOLATION;
  v.lastQualification = q >>> 0;
  kernelCall(k, t, "vmfault", t.utcb.pager);
}
