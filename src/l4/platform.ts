// How the kernel reaches the hardware. The machine integration implements this on the emulated PC
// (its clock, interrupt controller, RAM, I/O bus and the CPU's VMX non-root mode); the kernel's
// tests implement it with a fake (fake-platform.ts). Everything crossing it is numbers or small
// plain records, so it does not depend on src/machine or src/vmx internals.

import type { GuestField } from "./api.js";

/** What the kernel tells the platform about a VCPU when it enters the guest. */
export interface VcpuRun {
  /** The VCPU's number (the kernel uses its thread number); names its VMCS on the platform. */
  readonly id: number;
  /** Physical address of the EPT PML4 of the VCPU's VM space (the EPTP without its flags). */
  readonly eptRoot: number;
  /**
   * Physical addresses of the VM space's I/O bitmaps A and B (for the VMCS; they take effect when
   * the VCPU's handler sets "use I/O bitmaps"): the ports mapped into the space are clear.
   */
  readonly ioBitmaps: readonly number[];
}

/**
 * A VM exit as plain data. The platform may reuse one object for every exit: the kernel copies
 * what it needs before it calls the platform again. Other guest state (registers, event
 * information) is read through Platform.guestRead.
 */
export interface VcpuExit {
  /** Basic exit reason (VMX numbering, bits 15:0 of the exit-reason field). */
  reason: number;
  qualification: number;
  instructionLength: number;
  /** Guest-linear address, where the exit defines one (else 0). */
  guestLinear: number;
  /** Guest-physical address of an EPT violation or misconfiguration (else 0). */
  guestPhysical: number;
}

export interface Platform {
  // Time.
  /** Virtual time in ns. */
  now(): number;
  /** Advances virtual time by ns of kernel or user work. */
  charge(ns: number): void;
  /** Arms the one-shot scheduler timer for absolute time deadlineNs; -1 disarms it. */
  setTimer(deadlineNs: number): void;
  /**
   * Idles the CPU (HLT): virtual time runs until the armed timer's deadline, a pending interrupt,
   * or limitNs, whichever comes first; true then (at once if one already holds). limitNs is the
   * host's bound on this run, not machine state: how a run is cut into pieces must not change the
   * machine. False, without moving time, when nothing can end the wait: no timer armed, no
   * interrupt will come by itself, and no limit (only outside input, a key, can wake it).
   */
  idle(limitNs: number): boolean;

  // Interrupts.
  readonly irqLines: number;
  /** The pending, unmasked line the controller would deliver next, or -1. */
  pendingIrq(): number;
  maskIrq(line: number): void;
  unmaskIrq(line: number): void;
  /** End of interrupt at the controller for `line`. */
  ackIrq(line: number): void;

  // Physical memory (RAM) and I/O ports.
  readonly memorySize: number;
  read32(paddr: number): number;
  write32(paddr: number, value: number): void;
  readBytes(paddr: number, dst: Uint8Array): void;
  writeBytes(paddr: number, src: Uint8Array): void;
  ioRead(port: number, size: 1 | 2 | 4): number;
  ioWrite(port: number, size: 1 | 2 | 4, value: number): void;

  // VT-x.
  /** Creates the VMCS of VCPU `id` (the guest state starts as after VMCLEAR, all zero). */
  vcpuCreate(id: number): void;
  vcpuDestroy(id: number): void;
  /**
   * Runs the guest until a VM exit or until virtual time reaches untilNs. Returns the exit, or
   * null when the deadline came first. A physical interrupt during guest execution is an exit
   * with reason EXTERNAL_INTERRUPT (the kernel handles those itself).
   */
  runVcpu(vcpu: VcpuRun, untilNs: number): VcpuExit | null;
  guestRead(id: number, field: GuestField): number;
  /** Writes a guest-state word; writing RETIRED counts that many guest instructions as retired. */
  guestWrite(id: number, field: GuestField, value: number): void;
  /** INVEPT for the EPT rooted at eptRoot, after the kernel removed or reduced entries. */
  invalidateEpt(eptRoot: number): void;
}
