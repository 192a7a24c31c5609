// What VMX non-root operation does at each point the controls govern (SDM vol. 3, chapter 25): the
// questions the CPU asks while it runs a guest — does this instruction, access or event cause a
// VM exit, and if not, what does the instruction see or change instead. Pure functions over a
// Vmcs; the I/O and MSR bitmaps are read from physical memory through a callback.
//
// Conventions: `true` means "this causes a VM exit". Values are as the CPU keeps them (int32 or
// uint32; compare with `>>> 0` where it matters). Bitmap and pointer fields are used through their
// low halves: VM entry checked that the high halves are 0 (physical addresses are 32 bits).

import { Flag } from "../x86/eflags.js";
import { CR3_TARGETS, Interruptibility, Pin, Proc, Proc2, cr0Allowed, cr4Allowed, ExitCtl } from "./controls.js";
import { Field } from "./fields.js";
import type { Vmcs } from "./vmcs.js";
import { Cr0 } from "../x86/paging.js";

/** Reads bytes of physical memory (src/machine's PhysMem satisfies this). */
export interface PhysBytes {
  read8(addr: number): number;
}

// ------------------------------------------------------------------------------------------------
// Controls

/** The secondary controls in effect: 0 unless "activate secondary controls" is 1 (24.6.2). */
export function secondaryControls(v: Vmcs): number {
  return (v.read(Field.PROC_BASED_CTLS) & Proc.ACTIVATE_SECONDARY) !== 0 ? v.read(Field.PROC_BASED_CTLS2) : 0;
}

/** A primary processor-based control is 1: HLT, INVLPG, MWAIT, RDPMC, RDTSC, MOV DR, MONITOR, PAUSE exiting... */
export function procExits(v: Vmcs, control: Proc): boolean {
  return (v.read(Field.PROC_BASED_CTLS) & control) !== 0;
}

/** A secondary control is in effect: WBINVD exiting, and the modes below. */
export function proc2Enabled(v: Vmcs, control: Proc2): boolean {
  return (secondaryControls(v) & control) !== 0;
}

export function eptEnabled(v: Vmcs): boolean {
  return proc2Enabled(v, Proc2.ENABLE_EPT);
}

export function unrestrictedGuest(v: Vmcs): boolean {
  return proc2Enabled(v, Proc2.UNRESTRICTED_GUEST);
}

// ------------------------------------------------------------------------------------------------
// I/O instructions (25.1.3)

/**
 * IN, INS, OUT, OUTS of `size` bytes at `port`. Without I/O bitmaps, "unconditional I/O
 * exiting" decides. With them (the unconditional control is then ignored) every port the access
 * touches is looked up — bitmap A for 0000-7FFF, B for 8000-FFFF — and any set bit exits; so does
 * an access that wraps from FFFF to 0000.
 */
export function ioExits(v: Vmcs, port: number, size: number, mem: PhysBytes): boolean {
  const proc = v.read(Field.PROC_BASED_CTLS);
  if ((proc & Proc.USE_IO_BITMAPS) === 0) return (proc & Proc.UNCOND_IO_EXITING) !== 0;
  for (let p = port & 0xffff, end = p + size; p < end; p++) {
    if (p > 0xffff) return true;
    const base = v.read(p < 0x8000 ? Field.IO_BITMAP_A : Field.IO_BITMAP_B);
    const bit = p & 0x7fff;
    if (((mem.read8(base + (bit >>> 3)) >>> (bit & 7)) & 1) !== 0) return true;
  }
  return false;
}

// ------------------------------------------------------------------------------------------------
// RDMSR and WRMSR (25.1.3)

/**
 * RDMSR (`write` false) or WRMSR of MSR `msr` (ECX). Without MSR bitmaps every access exits.
 * With them, MSRs 00000000-00001FFF and C0000000-C0001FFF are looked up in the 4 KiB bitmap —
 * read-low at 0, read-high at 1024, write-low at 2048, write-high at 3072 — and any other MSR
 * exits.
 */
export function msrExits(v: Vmcs, msr: number, write: boolean, mem: PhysBytes): boolean {
  if ((v.read(Field.PROC_BASED_CTLS) & Proc.USE_MSR_BITMAPS) === 0) return true;
  let n = msr >>> 0;
  let offset = write ? 2048 : 0;
  if (n >= 0xc0000000 && n <= 0xc0001fff) {
    n -= 0xc0000000;
    offset += 1024;
  } else if (n > 0x1fff) {
    return true;
  }
  return ((mem.read8(v.read(Field.MSR_BITMAP) + offset + (n >>> 3)) >>> (n & 7)) & 1) !== 0;
}

// ------------------------------------------------------------------------------------------------
// Control registers (25.1.3, 25.3)

/** One of the first CR3_TARGET_COUNT CR3-target values equals `value`. */
export function cr3TargetHit(v: Vmcs, value: number): boolean {
  const n = Math.min(v.read(Field.CR3_TARGET_COUNT), CR3_TARGETS);
  for (let k = 0; k < n; k++) if (v.read(Field.CR3_TARGET_VALUE0 + 2 * k) === value >>> 0) return true;
  return false;
}

/**
 * MOV to CRn with source `value`. CR0 and CR4: an exit when any bit set in the guest/host mask
 * differs from the read shadow. CR3: an exit under "CR3-load exiting" unless `value` is one of the
 * CR3-target values (with a count of 0, always). CR8 does not exist on this CPU (#UD first).
 */
export function movToCrExits(v: Vmcs, cr: number, value: number): boolean {
  switch (cr) {
    case 0: return ((value ^ v.read(Field.CR0_READ_SHADOW)) & v.read(Field.CR0_GUEST_HOST_MASK)) !== 0;
    case 4: return ((value ^ v.read(Field.CR4_READ_SHADOW)) & v.read(Field.CR4_GUEST_HOST_MASK)) !== 0;
    case 3: return (v.read(Field.PROC_BASED_CTLS) & Proc.CR3_LOAD_EXITING) !== 0 && !cr3TargetHit(v, value);
    default: return false;
  }
}

/** MOV from CRn: only CR3 can exit ("CR3-store exiting"); CR0 and CR4 reads see shadows instead. */
export function movFromCrExits(v: Vmcs, cr: number): boolean {
  return cr === 3 && (v.read(Field.PROC_BASED_CTLS) & Proc.CR3_STORE_EXITING) !== 0;
}

/** What MOV from CR0 and SMSW read: the read shadow in host-owned bits, CR0 elsewhere. */
export function cr0ReadValue(v: Vmcs, cr0: number): number {
  const mask = v.read(Field.CR0_GUEST_HOST_MASK);
  return ((cr0 & ~mask) | (v.read(Field.CR0_READ_SHADOW) & mask)) >>> 0;
}

/** What MOV from CR4 reads. */
export function cr4ReadValue(v: Vmcs, cr4: number): number {
  const mask = v.read(Field.CR4_GUEST_HOST_MASK);
  return ((cr4 & ~mask) | (v.read(Field.CR4_READ_SHADOW) & mask)) >>> 0;
}

/**
 * CR0 after a MOV to CR0 that did not exit: host-owned bits keep their value, the others come
 * from the source. The CPU then raises #GP(0) if the result fails its usual checks or
 * guestCr0Allowed.
 */
export function cr0WriteValue(v: Vmcs, cr0: number, value: number): number {
  const mask = v.read(Field.CR0_GUEST_HOST_MASK);
  return ((cr0 & mask) | (value & ~mask)) >>> 0;
}

/** CR4 after a MOV to CR4 that did not exit (then checked by guestCr4Allowed). */
export function cr4WriteValue(v: Vmcs, cr4: number, value: number): number {
  const mask = v.read(Field.CR4_GUEST_HOST_MASK);
  return ((cr4 & mask) | (value & ~mask)) >>> 0;
}

/**
 * A CR0 value the guest may hold: VMX's fixed bits, except that under unrestricted guest PE and
 * PG may be 0 (PG without PE stays #GP by the ordinary rule).
 */
export function guestCr0Allowed(v: Vmcs, cr0: number): boolean {
  return cr0Allowed(cr0, unrestrictedGuest(v));
}

/** A CR4 value the guest may hold (VMXE must stay 1: VMMs own it through the mask and shadow). */
export function guestCr4Allowed(cr4: number): boolean {
  return cr4Allowed(cr4);
}

/** CLTS exits when CR0.TS is host-owned and set in the read shadow. */
export function cltsExits(v: Vmcs): boolean {
  return (v.read(Field.CR0_GUEST_HOST_MASK) & v.read(Field.CR0_READ_SHADOW) & Cr0.TS) !== 0;
}

/** CR0 after a CLTS that did not exit: TS cleared, unless the host owns it (then unchanged). */
export function cltsValue(v: Vmcs, cr0: number): number {
  return ((v.read(Field.CR0_GUEST_HOST_MASK) & Cr0.TS) !== 0 ? cr0 : cr0 & ~Cr0.TS) >>> 0;
}

/**
 * LMSW with 16-bit `source` exits when it would set a host-owned PE that the shadow has clear, or
 * change any host-owned bit of MP, EM, TS from its shadow value.
 */
export function lmswExits(v: Vmcs, source: number): boolean {
  const mask = v.read(Field.CR0_GUEST_HOST_MASK), shadow = v.read(Field.CR0_READ_SHADOW);
  if ((mask & source & Cr0.PE) !== 0 && (shadow & Cr0.PE) === 0) return true;
  return ((source ^ shadow) & mask & 0xe) !== 0;
}

/** CR0 after an LMSW that did not exit: PE MP EM TS loaded (PE only set), host-owned bits unchanged. */
export function lmswValue(v: Vmcs, cr0: number, source: number): number {
  const mask = v.read(Field.CR0_GUEST_HOST_MASK) & 0xf;
  const loaded = (cr0 & ~0xe) | (source & 0xf);
  return ((cr0 & mask) | (loaded & ~mask)) >>> 0;
}

// ------------------------------------------------------------------------------------------------
// Exceptions and events (25.2)

/**
 * An exception with `vector` (0-31) exits when its exception-bitmap bit is 1 — except #PF, where
 * the bit's sense inverts unless (error code & PFEC_MASK) == PFEC_MATCH. NMIs are not exceptions
 * here (see nmiExits); neither are INT n software interrupts.
 */
export function exceptionExits(v: Vmcs, vector: number, errorCode = 0): boolean {
  if (vector > 31) return false;
  const bit = (v.read(Field.EXCEPTION_BITMAP) >>> vector) & 1;
  if (vector !== 14) return bit === 1;
  const match = ((errorCode & v.read(Field.PF_ERROR_CODE_MASK)) >>> 0) === v.read(Field.PF_ERROR_CODE_MATCH);
  return match ? bit === 1 : bit === 0;
}

/** An NMI exits ("NMI exiting"). */
export function nmiExits(v: Vmcs): boolean {
  return (v.read(Field.PIN_BASED_CTLS) & Pin.NMI_EXITING) !== 0;
}

/**
 * An external interrupt exits ("external-interrupt exiting"); RFLAGS.IF and STI/MOV-SS blocking
 * then do not hold it back.
 */
export function extIntExits(v: Vmcs): boolean {
  return (v.read(Field.PIN_BASED_CTLS) & Pin.EXT_INT_EXITING) !== 0;
}

/** The exit acknowledges the interrupt controller and reports the vector ("acknowledge interrupt on exit"). */
export function ackInterruptOnExit(v: Vmcs): boolean {
  return (v.read(Field.VM_EXIT_CTLS) & ExitCtl.ACK_INTERRUPT_ON_EXIT) !== 0;
}

/**
 * An interrupt-window exit is due before the next instruction: the control is 1, RFLAGS.IF is 1
 * and nothing blocks by STI or MOV SS (`blocking`: Interruptibility bits as the CPU has them now).
 */
export function interruptWindowExits(v: Vmcs, eflags: number, blocking: number): boolean {
  return (v.read(Field.PROC_BASED_CTLS) & Proc.INTR_WINDOW_EXITING) !== 0 && (eflags & Flag.IF) !== 0 &&
    (blocking & (Interruptibility.BLOCKING_BY_STI | Interruptibility.BLOCKING_BY_MOV_SS)) === 0;
}

/**
 * An NMI-window exit is due: the control is 1 (it requires virtual NMIs) and there is no
 * virtual-NMI blocking and no blocking by MOV SS — nor by STI, which the SDM leaves to the model
 * and this one counts.
 */
export function nmiWindowExits(v: Vmcs, blocking: number): boolean {
  return (v.read(Field.PROC_BASED_CTLS) & Proc.NMI_WINDOW_EXITING) !== 0 &&
    (blocking & (Interruptibility.BLOCKING_BY_NMI | Interruptibility.BLOCKING_BY_STI | Interruptibility.BLOCKING_BY_MOV_SS)) === 0;
}

/** A monitor-trap-flag exit follows the instruction (or event injection) just completed. */
export function mtfExits(v: Vmcs): boolean {
  return (v.read(Field.PROC_BASED_CTLS) & Proc.MONITOR_TRAP_FLAG) !== 0;
}

// ------------------------------------------------------------------------------------------------
// Time-stamp counter (25.3)

/**
 * The TSC a guest's RDTSC, RDTSCP or RDMSR(IA32_TIME_STAMP_COUNTER) reads when it does not exit:
 * the host TSC plus TSC_OFFSET (mod 2^64) under "use TSC offsetting". (WRMSR to the TSC is not
 * offset: it writes the value given.)
 */
export function guestTsc(v: Vmcs, hostTsc: bigint): bigint {
  if ((v.read(Field.PROC_BASED_CTLS) & Proc.USE_TSC_OFFSETTING) === 0) return hostTsc;
  return BigInt.asUintN(64, hostTsc + v.read64(Field.TSC_OFFSET));
}
