// VMX controls (SDM vol. 3, 24.6-24.8) and the capability MSRs our CPU model reports (Appendix A):
// which controls exist, which may be 0 or 1, the CR0/CR4 bits fixed in VMX operation, and the
// EPT capabilities. Everything the entry checks (./entry.ts) enforce comes from these values, so
// software that reads the MSRs and sets controls accordingly always passes them.

import { HIGHEST_FIELD_INDEX } from "./fields.js";
import { VMCS_REGION_SIZE, VMCS_REVISION_ID } from "./vmcs.js";
import { Cr0, Cr4 } from "../x86/paging.js";
import { Efer } from "../x86/msr.js";

/** Pin-based VM-execution controls (24.6.1). */
export const enum Pin {
  EXT_INT_EXITING = 1 << 0,
  NMI_EXITING = 1 << 3,
  VIRTUAL_NMIS = 1 << 5,
  PREEMPTION_TIMER = 1 << 6, // not supported
  POSTED_INTERRUPTS = 1 << 7, // not supported
}

/** Primary processor-based VM-execution controls (24.6.2, table 24-6). */
export const enum Proc {
  INTR_WINDOW_EXITING = 1 << 2,
  USE_TSC_OFFSETTING = 1 << 3,
  HLT_EXITING = 1 << 7,
  INVLPG_EXITING = 1 << 9,
  MWAIT_EXITING = 1 << 10,
  RDPMC_EXITING = 1 << 11,
  RDTSC_EXITING = 1 << 12,
  CR3_LOAD_EXITING = 1 << 15,
  CR3_STORE_EXITING = 1 << 16,
  ACTIVATE_TERTIARY = 1 << 17, // not supported
  CR8_LOAD_EXITING = 1 << 19, // Intel 64 only: not supported here
  CR8_STORE_EXITING = 1 << 20, // Intel 64 only: not supported here
  USE_TPR_SHADOW = 1 << 21, // not supported (no APIC)
  NMI_WINDOW_EXITING = 1 << 22,
  MOV_DR_EXITING = 1 << 23,
  UNCOND_IO_EXITING = 1 << 24,
  USE_IO_BITMAPS = 1 << 25,
  MONITOR_TRAP_FLAG = 1 << 27,
  USE_MSR_BITMAPS = 1 << 28,
  MONITOR_EXITING = 1 << 29,
  PAUSE_EXITING = 1 << 30,
  ACTIVATE_SECONDARY = 1 << 31,
}

/** Secondary processor-based VM-execution controls (24.6.2, table 24-7). */
export const enum Proc2 {
  VIRTUALIZE_APIC_ACCESSES = 1 << 0,
  ENABLE_EPT = 1 << 1,
  DESCRIPTOR_TABLE_EXITING = 1 << 2,
  ENABLE_RDTSCP = 1 << 3,
  VIRTUALIZE_X2APIC = 1 << 4,
  ENABLE_VPID = 1 << 5,
  WBINVD_EXITING = 1 << 6,
  UNRESTRICTED_GUEST = 1 << 7,
  APIC_REGISTER_VIRTUALIZATION = 1 << 8,
  VIRTUAL_INTERRUPT_DELIVERY = 1 << 9,
  PAUSE_LOOP_EXITING = 1 << 10,
  RDRAND_EXITING = 1 << 11,
  ENABLE_INVPCID = 1 << 12,
  ENABLE_VM_FUNCTIONS = 1 << 13,
  VMCS_SHADOWING = 1 << 14,
  ENCLS_EXITING = 1 << 15,
  RDSEED_EXITING = 1 << 16,
  ENABLE_PML = 1 << 17,
  EPT_VIOLATION_VE = 1 << 18,
  CONCEAL_VMX_FROM_PT = 1 << 19,
  ENABLE_XSAVES = 1 << 20,
  MODE_BASED_EPT_EXECUTE = 1 << 22,
  TSC_SCALING = 1 << 25,
}

/** VM-exit controls (24.7.1). */
export const enum ExitCtl {
  SAVE_DEBUG_CONTROLS = 1 << 2,
  HOST_ADDRESS_SPACE_SIZE = 1 << 9, // Intel 64 only
  LOAD_PERF_GLOBAL_CTRL = 1 << 12,
  ACK_INTERRUPT_ON_EXIT = 1 << 15,
  SAVE_IA32_PAT = 1 << 18,
  LOAD_IA32_PAT = 1 << 19,
  SAVE_IA32_EFER = 1 << 20,
  LOAD_IA32_EFER = 1 << 21,
  SAVE_PREEMPTION_TIMER = 1 << 22,
}

/** VM-entry controls (24.8.1). */
export const enum EntryCtl {
  LOAD_DEBUG_CONTROLS = 1 << 2,
  IA32E_MODE_GUEST = 1 << 9, // Intel 64 only
  ENTRY_TO_SMM = 1 << 10,
  DEACTIVATE_DUAL_MONITOR = 1 << 11,
  LOAD_PERF_GLOBAL_CTRL = 1 << 13,
  LOAD_IA32_PAT = 1 << 14,
  LOAD_IA32_EFER = 1 << 15,
}

/** The capability MSRs (Appendix A; MSR index list in vol. 4), and IA32_FEATURE_CONTROL. */
export const enum VmxMsr {
  FEATURE_CONTROL = 0x3a,
  BASIC = 0x480,
  PINBASED_CTLS = 0x481,
  PROCBASED_CTLS = 0x482,
  EXIT_CTLS = 0x483,
  ENTRY_CTLS = 0x484,
  MISC = 0x485,
  CR0_FIXED0 = 0x486,
  CR0_FIXED1 = 0x487,
  CR4_FIXED0 = 0x488,
  CR4_FIXED1 = 0x489,
  VMCS_ENUM = 0x48a,
  PROCBASED_CTLS2 = 0x48b,
  EPT_VPID_CAP = 0x48c,
  TRUE_PINBASED_CTLS = 0x48d,
  TRUE_PROCBASED_CTLS = 0x48e,
  TRUE_EXIT_CTLS = 0x48f,
  TRUE_ENTRY_CTLS = 0x490,
}

/** Allowed settings of one control word: bits that must be 1, bits that may be 1. */
export interface Allowed {
  /** Allowed 0-settings (capability MSR bits 31:0): a 1 here means the control must be 1. */
  readonly must1: number;
  /** Allowed 1-settings (bits 63:32): a 0 here means the control must be 0. */
  readonly may1: number;
}

/** True when `value` respects `a`. */
export function controlsAllowed(value: number, a: Allowed): boolean {
  return ((value & a.must1) >>> 0) === a.must1 >>> 0 && (value & ~a.may1) === 0;
}

// The default1 classes (A.2): reserved controls that default to 1.
const PIN_DEFAULT1 = 0x00000016;
const PROC_DEFAULT1 = 0x0401e172;
const EXIT_DEFAULT1 = 0x00036dff;
const ENTRY_DEFAULT1 = 0x000011ff;

const PIN_SUPPORTED = Pin.EXT_INT_EXITING | Pin.NMI_EXITING | Pin.VIRTUAL_NMIS;
const PROC_SUPPORTED = Proc.INTR_WINDOW_EXITING | Proc.USE_TSC_OFFSETTING | Proc.HLT_EXITING | Proc.INVLPG_EXITING |
  Proc.MWAIT_EXITING | Proc.RDPMC_EXITING | Proc.RDTSC_EXITING | Proc.CR3_LOAD_EXITING | Proc.CR3_STORE_EXITING |
  Proc.NMI_WINDOW_EXITING | Proc.MOV_DR_EXITING | Proc.UNCOND_IO_EXITING | Proc.USE_IO_BITMAPS |
  Proc.MONITOR_TRAP_FLAG | Proc.USE_MSR_BITMAPS | Proc.MONITOR_EXITING | Proc.PAUSE_EXITING | Proc.ACTIVATE_SECONDARY;
const PROC2_SUPPORTED = Proc2.ENABLE_EPT | Proc2.WBINVD_EXITING | Proc2.UNRESTRICTED_GUEST;
const EXIT_SUPPORTED = ExitCtl.ACK_INTERRUPT_ON_EXIT | ExitCtl.SAVE_IA32_PAT | ExitCtl.LOAD_IA32_PAT |
  ExitCtl.SAVE_IA32_EFER | ExitCtl.LOAD_IA32_EFER;
const ENTRY_SUPPORTED = EntryCtl.LOAD_IA32_PAT | EntryCtl.LOAD_IA32_EFER;

/**
 * What this CPU allows in each control word. The `true*` entries are the IA32_VMX_TRUE_* MSRs,
 * which VM entry uses (IA32_VMX_BASIC bit 55 is 1): of the default1 controls only CR3-load and
 * CR3-store exiting may be cleared (so EPT guests can own CR3). The save/load debug controls
 * stay fixed at 1: VM exits always save DR7 and entries always load it.
 */
export const CAPS = {
  pin: { must1: PIN_DEFAULT1, may1: PIN_DEFAULT1 | PIN_SUPPORTED },
  truePin: { must1: PIN_DEFAULT1, may1: PIN_DEFAULT1 | PIN_SUPPORTED },
  proc: { must1: PROC_DEFAULT1, may1: (PROC_DEFAULT1 | PROC_SUPPORTED) >>> 0 },
  trueProc: { must1: PROC_DEFAULT1 & ~(Proc.CR3_LOAD_EXITING | Proc.CR3_STORE_EXITING), may1: (PROC_DEFAULT1 | PROC_SUPPORTED) >>> 0 },
  proc2: { must1: 0, may1: PROC2_SUPPORTED },
  exit: { must1: EXIT_DEFAULT1, may1: EXIT_DEFAULT1 | EXIT_SUPPORTED },
  trueExit: { must1: EXIT_DEFAULT1, may1: EXIT_DEFAULT1 | EXIT_SUPPORTED },
  entry: { must1: ENTRY_DEFAULT1, may1: ENTRY_DEFAULT1 | ENTRY_SUPPORTED },
  trueEntry: { must1: ENTRY_DEFAULT1, may1: ENTRY_DEFAULT1 | ENTRY_SUPPORTED },
} as const satisfies Record<string, Allowed>;

// ------------------------------------------------------------------------------------------------
// CR0 and CR4 in VMX operation (A.7, A.8)


/** CR0 bits that must be 1 in VMX operation: PE, NE, PG. */
export const CR0_FIXED0 = (Cr0.PE | Cr0.NE | Cr0.PG) >>> 0;
/** CR0 bits that may be 1: the ones this CPU has (PE MP EM TS ET NE WP AM NW CD PG). */
export const CR0_FIXED1 = 0xe005003f;
/** CR4 bits that must be 1: VMXE. */
export const CR4_FIXED0 = Cr4.VMXE;
/** CR4 bits that may be 1: TSD DE PSE PAE MCE PGE PCE OSFXSR OSXMMEXCPT, and VMXE. */
export const CR4_FIXED1 = 0x7fc | Cr4.VMXE;

/**
 * A CR0 value VMX operation allows. `unrestricted` (the guest's "unrestricted guest" control)
 * frees PE and PG from FIXED0, as VM entry and MOV to CR0 in non-root operation do (26.3.1.1, 25.3).
 */
export function cr0Allowed(cr0: number, unrestricted = false): boolean {
  const must1 = unrestricted ? (CR0_FIXED0 & ~(Cr0.PE | Cr0.PG)) >>> 0 : CR0_FIXED0;
  return ((cr0 & must1) >>> 0) === must1 && (cr0 & ~CR0_FIXED1) === 0;
}

/** A CR4 value VMX operation allows. */
export function cr4Allowed(cr4: number): boolean {
  return (cr4 & CR4_FIXED0) === CR4_FIXED0 && (cr4 & ~CR4_FIXED1) === 0;
}

// ------------------------------------------------------------------------------------------------
// IA32_VMX_MISC (A.6) and IA32_VMX_EPT_VPID_CAP (A.10)

/** Activity states (24.4.2). */
export const enum Activity { ACTIVE = 0, HLT = 1, SHUTDOWN = 2, WAIT_FOR_SIPI = 3 }

/** Interruptibility-state bits (24.4.2, table 24-3). */
export const enum Interruptibility {
  BLOCKING_BY_STI = 1 << 0,
  BLOCKING_BY_MOV_SS = 1 << 1,
  BLOCKING_BY_SMI = 1 << 2,
  BLOCKING_BY_NMI = 1 << 3,
  ENCLAVE_INTERRUPTION = 1 << 4,
}

/** Number of CR3-target values (IA32_VMX_MISC bits 24:16). */
export const CR3_TARGETS = 4;

/**
 * IA32_VMX_MISC low half: bit 5 (VM exits store EFER.LMA into "IA-32e mode guest", required
 * with unrestricted guest), bit 6 (HLT activity state), four CR3 targets, MSR lists of up to 512
 * entries (bits 27:25 = 0). No preemption timer, no shutdown or wait-for-SIPI activity state, no
 * VMWRITE to exit-information fields (bit 29), no zero-length software-event injection (bit 30).
 */
export const MISC_LO = (1 << 5) | (1 << 6) | (CR3_TARGETS << 16);

/** EPT capabilities (IA32_VMX_EPT_VPID_CAP, low half). */
export const enum EptCap {
  EXECUTE_ONLY = 1 << 0,
  WALK_LENGTH_4 = 1 << 6,
  MEMTYPE_UC = 1 << 8,
  MEMTYPE_WB = 1 << 14,
  PAGE_2M = 1 << 16,
  PAGE_1G = 1 << 17, // not supported
  INVEPT = 1 << 20,
  ACCESSED_DIRTY = 1 << 21, // not supported
  ADVANCED_EXIT_INFO = 1 << 22, // not supported
  INVEPT_SINGLE_CONTEXT = 1 << 25,
  INVEPT_ALL_CONTEXT = 1 << 26,
}

/**
 * What our EPT offers: execute-only pages, 4-level walks, UC or WB EPT structures, 2 MiB pages,
 * INVEPT single- and all-context. No 1 GiB pages, accessed/dirty flags, advanced EPT-violation
 * information, or INVVPID (the high half is 0).
 */
export const EPT_CAP_LO = EptCap.EXECUTE_ONLY | EptCap.WALK_LENGTH_4 | EptCap.MEMTYPE_UC | EptCap.MEMTYPE_WB |
  EptCap.PAGE_2M | EptCap.INVEPT | EptCap.INVEPT_SINGLE_CONTEXT | EptCap.INVEPT_ALL_CONTEXT;

/** IA32_FEATURE_CONTROL as firmware leaves it: locked (bit 0), VMX outside SMX enabled (bit 2). */
export const FEATURE_CONTROL = 0x5;

/**
 * IA32_VMX_BASIC high half: region size (bits 44:32), bit 48 (VMX physical addresses are 32 bits
 * wide: no Intel 64), write-back VMCS memory type (bits 53:50 = 6), bit 54 (INS/OUTS exits report
 * instruction information), bit 55 (the TRUE capability MSRs exist).
 */
export const BASIC_HI = VMCS_REGION_SIZE | (1 << 16) | (6 << 18) | (1 << 22) | (1 << 23);

/**
 * RDMSR of a VMX capability MSR or IA32_FEATURE_CONTROL: [EAX, EDX] as int32s, or undefined when
 * `msr` is none of them (IA32_VMX_VMFUNC is absent: no VM functions). The MSRs are read-only:
 * WRMSR to any of them raises #GP(0) (FEATURE_CONTROL is locked).
 */
export function readVmxMsr(msr: number): [lo: number, hi: number] | undefined {
  const pair = (a: Allowed): [number, number] => [a.must1 | 0, a.may1 | 0];
  switch (msr >>> 0) {
    case VmxMsr.FEATURE_CONTROL: return [FEATURE_CONTROL, 0];
    case VmxMsr.BASIC: return [VMCS_REVISION_ID, BASIC_HI];
    case VmxMsr.PINBASED_CTLS: return pair(CAPS.pin);
    case VmxMsr.PROCBASED_CTLS: return pair(CAPS.proc);
    case VmxMsr.EXIT_CTLS: return pair(CAPS.exit);
    case VmxMsr.ENTRY_CTLS: return pair(CAPS.entry);
    case VmxMsr.MISC: return [MISC_LO, 0];
    case VmxMsr.CR0_FIXED0: return [CR0_FIXED0 | 0, 0];
    case VmxMsr.CR0_FIXED1: return [CR0_FIXED1 | 0, 0];
    case VmxMsr.CR4_FIXED0: return [CR4_FIXED0, 0];
    case VmxMsr.CR4_FIXED1: return [CR4_FIXED1, 0];
    case VmxMsr.VMCS_ENUM: return [HIGHEST_FIELD_INDEX << 1, 0];
    case VmxMsr.PROCBASED_CTLS2: return pair(CAPS.proc2);
    case VmxMsr.EPT_VPID_CAP: return [EPT_CAP_LO, 0];
    case VmxMsr.TRUE_PINBASED_CTLS: return pair(CAPS.truePin);
    case VmxMsr.TRUE_PROCBASED_CTLS: return pair(CAPS.trueProc);
    case VmxMsr.TRUE_EXIT_CTLS: return pair(CAPS.trueExit);
    case VmxMsr.TRUE_ENTRY_CTLS: return pair(CAPS.trueEntry);
    default: return undefined;
  }
}

/** EFER bits this CPU has: NXE only (no SCE, no long mode). */
export const EFER_VALID = Efer.NXE;
