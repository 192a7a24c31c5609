// The checks VM entry makes (SDM vol. 3, 26.2 and 26.3.1), as three tables of named checks run in
// the SDM's order: VM-execution, exit and entry control fields (failing: VMfailValid 7), host
// state (VMfailValid 8), and guest state (a VM-entry failure: exit reason 33 with the entry-failure
// bit and an exit qualification). Each entry says in words what the SDM requires, so a failure
// tells the user which rule the VMM broke.
//
// Scope: the checks that exist on a processor without Intel 64 and with our capabilities (./controls.ts).
// Checks about 64-bit state (canonical addresses, IA-32e mode, CR8, L bits) reduce to "that control
// or bit is 0" and are covered by the capability checks. Not done: the checks of features we do
// not report (APIC virtualization, VPID, PML, posted interrupts, shadow VMCS, SMM dual-monitor).
// The MSR-load lists and loading guest state (26.3.2, 26.4) are the CPU's part; event injection
// (26.5) too, after `checkVmEntry` passes.

import { Flag } from "../x86/eflags.js";
import {
  Activity, CAPS, CR3_TARGETS, EFER_VALID, EntryCtl, ExitCtl, Interruptibility, Pin, Proc, Proc2,
  controlsAllowed, cr0Allowed, cr4Allowed,
} from "./controls.js";
import { patValid } from "../x86/msr.js";
import { eptpValid } from "./ept.js";
import { hasErrorCode } from "../x86/vectors.js";
import { EntryFailureQual, IntType } from "./exits.js";
import {
  FIELDS, Field, FieldType, Width, fieldType, fieldWidth, guestArField, guestBaseField, guestLimitField, guestSelectorField,
  hostSelectorField,
} from "./fields.js";
import { VMCS_REVISION_ID, VmInsnError, type PhysWords, type Vmcs } from "./vmcs.js";
import { Cr0, Cr4, pdpteReserved } from "../x86/paging.js";

/** Segment access-rights bits as the VMCS holds them (24.4.1, table 24-2): descriptor bytes 5-6 plus "unusable". */
export const enum Ar {
  TYPE = 0xf,
  ACCESSED = 1,
  RW = 2,
  CONFORMING = 4,
  CODE = 8,
  S = 1 << 4,
  DPL_SHIFT = 5,
  DPL = 3 << 5,
  P = 1 << 7,
  RESERVED_11_8 = 0xf00,
  AVL = 1 << 12,
  L = 1 << 13,
  DB = 1 << 14,
  G = 1 << 15,
  UNUSABLE = 1 << 16,
  RESERVED_31_17 = 0xfffe0000,
}

/**
 * A VMCS access-rights value from a descriptor-cache attribute word in descriptor-byte layout
 * (the CPU's SegAttr: type, S, DPL, P, AVL, D/B, G; bits 11:8 are dropped) and whether the
 * register is unusable (loaded with a null selector in protected mode).
 */
export function arFromAttr(attr: number, unusable: boolean): number {
  return (attr & 0xf0ff) | (unusable ? Ar.UNUSABLE : 0);
}

/** The attribute word of a VMCS access-rights value (bits 15:0 less the reserved 11:8). */
export function attrFromAr(ar: number): number {
  return ar & 0xf0ff;
}

/** Why a VM entry failed, or null from checkVmEntry when it may go on. */
export interface EntryFailure {
  /** Which table failed: control fields, host state, or guest state. */
  area: "control" | "host" | "guest";
  /** The rule, as the SDM states it. */
  check: string;
  /** VMfailValid error number for control and host failures; 0 for guest failures. */
  error: VmInsnError | 0;
  /** Exit qualification for guest failures (basic exit reason 33). */
  qualification: EntryFailureQual;
}

/** What a check sees. */
interface Ctx {
  v: Vmcs;
  mem: PhysWords;
  /** The current-VMCS pointer (the link pointer must differ), or -1. */
  current: number;
}

type Check = readonly [name: string, ok: (c: Ctx) => boolean, qualification?: EntryFailureQual];

// ------------------------------------------------------------------------------------------------
// Field helpers

const read = (c: Ctx, f: Field | number): number => c.v.read(f);
const hi = (c: Ctx, f: Field): number => c.v.read(f | 1);
const pin = (c: Ctx): number => read(c, Field.PIN_BASED_CTLS);
const proc = (c: Ctx): number => read(c, Field.PROC_BASED_CTLS);
const proc2 = (c: Ctx): number => ((proc(c) & Proc.ACTIVATE_SECONDARY) !== 0 ? read(c, Field.PROC_BASED_CTLS2) : 0);
const exitCtl = (c: Ctx): number => read(c, Field.VM_EXIT_CTLS);
const entryCtl = (c: Ctx): number => read(c, Field.VM_ENTRY_CTLS);
const unrestricted = (c: Ctx): boolean => (proc2(c) & Proc2.UNRESTRICTED_GUEST) !== 0;

/** A 4 KiB-aligned physical address below 4 GiB (IA32_VMX_BASIC bit 48). */
const pageAddrOk = (c: Ctx, f: Field): boolean => (read(c, f) & 0xfff) === 0 && hi(c, f) === 0;

/** An MSR area of `count` 16-byte entries: 16-byte aligned, all of it below 4 GiB. */
function msrAreaOk(c: Ctx, addr: Field, count: Field): boolean {
  const n = read(c, count);
  if (n === 0) return true;
  const a = read(c, addr);
  return (a & 0xf) === 0 && hi(c, addr) === 0 && a + 16 * n - 1 <= 0xffffffff;
}

// The event to inject (VM-entry interruption information), if valid.
const inj = (c: Ctx): number => read(c, Field.VM_ENTRY_INTR_INFO);
const injValid = (c: Ctx): boolean => (inj(c) & 0x80000000) !== 0;
const injType = (c: Ctx): number => (inj(c) >>> 8) & 7;
const injVector = (c: Ctx): number => inj(c) & 0xff;
const injecting = (c: Ctx, type: IntType): boolean => injValid(c) && injType(c) === type;

// Guest segments, by src/x86 Seg number: ES 0, CS 1, SS 2, DS 3, FS 4, GS 5; LDTR and TR apart.
const ES = 0, CS = 1, SS = 2, DS = 3, FS = 4, GS = 5;
const DATA_SEGS = [DS, ES, FS, GS];
const ALL_SEGS = [CS, SS, DS, ES, FS, GS];
const HOST_SEGS = [ES, CS, SS, DS, FS, GS];
const CODE_TYPES = [9, 11, 13, 15];
const ar = (c: Ctx, seg: number): number => read(c, guestArField(seg));
const sel = (c: Ctx, seg: number): number => read(c, guestSelectorField(seg));
const usable = (c: Ctx, seg: number): boolean => (ar(c, seg) & Ar.UNUSABLE) === 0;
const type = (c: Ctx, seg: number): number => ar(c, seg) & Ar.TYPE;
const dpl = (c: Ctx, seg: number): number => (ar(c, seg) >>> Ar.DPL_SHIFT) & 3;
const v86 = (c: Ctx): boolean => (read(c, Field.GUEST_RFLAGS) & Flag.VM) !== 0;
const guestCr0 = (c: Ctx): number => read(c, Field.GUEST_CR0);
/** CS is checked as if usable; the others when usable. */
const checked = (c: Ctx, seg: number): boolean => seg === CS || usable(c, seg);

/** G agrees with the limit: limit bits 11:0 not all 1 means byte granularity; bits 31:20 set means page granularity. */
function granularityOk(limit: number, arValue: number): boolean {
  const g = (arValue & Ar.G) !== 0;
  if ((limit & 0xfff) !== 0xfff && g) return false;
  if ((limit >>> 20) !== 0 && !g) return false;
  return true;
}

const every = (segs: number[], ok: (seg: number) => boolean): boolean => segs.every(ok);

// ------------------------------------------------------------------------------------------------
// 26.2.1: VM-execution, VM-exit and VM-entry control fields

const CONTROL_CHECKS: readonly Check[] = [
  ["pin-based controls respect IA32_VMX_TRUE_PINBASED_CTLS", (c) => controlsAllowed(pin(c), CAPS.truePin)],
  ["primary processor-based controls respect IA32_VMX_TRUE_PROCBASED_CTLS", (c) => controlsAllowed(proc(c), CAPS.trueProc)],
  ["secondary processor-based controls, when activated, respect IA32_VMX_PROCBASED_CTLS2", (c) => controlsAllowed(proc2(c), CAPS.proc2)],
  ["the CR3-target count is at most 4", (c) => read(c, Field.CR3_TARGET_COUNT) <= CR3_TARGETS],
  ["with I/O bitmaps, both bitmap addresses are 4 KiB-aligned and below 4 GiB",
    (c) => (proc(c) & Proc.USE_IO_BITMAPS) === 0 || (pageAddrOk(c, Field.IO_BITMAP_A) && pageAddrOk(c, Field.IO_BITMAP_B))],
  ["with MSR bitmaps, the bitmap address is 4 KiB-aligned and below 4 GiB",
    (c) => (proc(c) & Proc.USE_MSR_BITMAPS) === 0 || pageAddrOk(c, Field.MSR_BITMAP)],
  ["virtual NMIs require NMI exiting", (c) => (pin(c) & Pin.VIRTUAL_NMIS) === 0 || (pin(c) & Pin.NMI_EXITING) !== 0],
  ["NMI-window exiting requires virtual NMIs", (c) => (proc(c) & Proc.NMI_WINDOW_EXITING) === 0 || (pin(c) & Pin.VIRTUAL_NMIS) !== 0],
  ["with EPT, the EPT pointer has memory type UC or WB, walk length 4, no A/D enable, and no reserved bits",
    (c) => (proc2(c) & Proc2.ENABLE_EPT) === 0 || eptpValid(read(c, Field.EPT_POINTER), hi(c, Field.EPT_POINTER))],
  ["unrestricted guest requires EPT", (c) => !unrestricted(c) || (proc2(c) & Proc2.ENABLE_EPT) !== 0],
  ["VM-exit controls respect IA32_VMX_TRUE_EXIT_CTLS", (c) => controlsAllowed(exitCtl(c), CAPS.trueExit)],
  ["the VM-exit MSR-store area is 16-byte aligned and below 4 GiB", (c) => msrAreaOk(c, Field.VM_EXIT_MSR_STORE_ADDR, Field.VM_EXIT_MSR_STORE_COUNT)],
  ["the VM-exit MSR-load area is 16-byte aligned and below 4 GiB", (c) => msrAreaOk(c, Field.VM_EXIT_MSR_LOAD_ADDR, Field.VM_EXIT_MSR_LOAD_COUNT)],
  ["VM-entry controls respect IA32_VMX_TRUE_ENTRY_CTLS", (c) => controlsAllowed(entryCtl(c), CAPS.trueEntry)],
  // Event injection (26.2.1.3)
  ["the injected event's interruption type is not reserved (1)", (c) => !injValid(c) || injType(c) !== 1],
  ["an injected NMI has vector 2", (c) => !injecting(c, IntType.NMI) || injVector(c) === 2],
  ["an injected hardware exception has a vector of at most 31", (c) => !injecting(c, IntType.HARDWARE_EXCEPTION) || injVector(c) <= 31],
  ["an injected other event (pending MTF) has vector 0", (c) => !injecting(c, IntType.OTHER_EVENT) || injVector(c) === 0],
  ["deliver-error-code is set exactly for a hardware exception that pushes one, in protected mode or without unrestricted guest",
    (c) => {
      if (!injValid(c)) return true;
      const wants = (!unrestricted(c) || (guestCr0(c) & Cr0.PE) !== 0) && injType(c) === IntType.HARDWARE_EXCEPTION && hasErrorCode(injVector(c));
      return ((inj(c) & 0x800) !== 0) === wants;
    }],
  ["bits 30:12 of the VM-entry interruption information are 0", (c) => !injValid(c) || (inj(c) & 0x7ffff000) === 0],
  ["an injected error code has bits 31:16 clear", (c) => !injValid(c) || (inj(c) & 0x800) === 0 || (read(c, Field.VM_ENTRY_EXCEPTION_ERROR_CODE) >>> 16) === 0],
  ["an injected software interrupt or exception has an instruction length of 1 to 15",
    (c) => {
      const t = injType(c);
      if (!injValid(c) || t < IntType.SOFTWARE_INTERRUPT || t > IntType.SOFTWARE_EXCEPTION) return true;
      const len = read(c, Field.VM_ENTRY_INSTRUCTION_LEN);
      return len >= 1 && len <= 15;
    }],
  ["the VM-entry MSR-load area is 16-byte aligned and below 4 GiB", (c) => msrAreaOk(c, Field.VM_ENTRY_MSR_LOAD_ADDR, Field.VM_ENTRY_MSR_LOAD_COUNT)],
];

// ------------------------------------------------------------------------------------------------
// 26.2.2 and 26.2.3: host state

const HOST_CHECKS: readonly Check[] = [
  ["host CR0 has the bits VMX operation fixes (IA32_VMX_CR0_FIXED0/1)", (c) => cr0Allowed(read(c, Field.HOST_CR0))],
  ["host CR4 has the bits VMX operation fixes (IA32_VMX_CR4_FIXED0/1)", (c) => cr4Allowed(read(c, Field.HOST_CR4))],
  ["a loaded host IA32_PAT holds only valid memory types",
    (c) => (exitCtl(c) & ExitCtl.LOAD_IA32_PAT) === 0 || patValid(read(c, Field.HOST_IA32_PAT), hi(c, Field.HOST_IA32_PAT))],
  ["a loaded host IA32_EFER has no reserved bits (only NXE; LMA and LME 0)",
    (c) => (exitCtl(c) & ExitCtl.LOAD_IA32_EFER) === 0 || ((read(c, Field.HOST_IA32_EFER) & ~EFER_VALID) === 0 && hi(c, Field.HOST_IA32_EFER) === 0)],
  ["host ES CS SS DS FS GS and TR selectors have RPL 0 and TI 0",
    (c) => HOST_SEGS.every((s) => (read(c, hostSelectorField(s)) & 7) === 0) && (read(c, Field.HOST_TR_SELECTOR) & 7) === 0],
  ["the host CS selector is not null", (c) => read(c, Field.HOST_CS_SELECTOR) !== 0],
  ["the host TR selector is not null", (c) => read(c, Field.HOST_TR_SELECTOR) !== 0],
  ["the host SS selector is not null (no 64-bit host)", (c) => read(c, Field.HOST_SS_SELECTOR) !== 0],
];

// ------------------------------------------------------------------------------------------------
// 26.3.1: guest state

/** Reserved bits of guest RFLAGS: 31:22, 15, 5, 3. */
const RFLAGS_RESERVED = 0xffc08028;
/** Pending debug exceptions: B3-B0, enabled breakpoint (12), BS (14); the rest reserved (no RTM). */
const PENDING_DBG_VALID = 0x500f;
const PENDING_BS = 1 << 14;
/** IA32_DEBUGCTL bits accepted in the guest field: LBR (0) and BTF (1). */
const DEBUGCTL_VALID = 0x3;
const DEBUGCTL_BTF = 0x2;

function pdptesOk(c: Ctx): boolean {
  const cr0 = guestCr0(c), cr4 = read(c, Field.GUEST_CR4);
  if ((cr0 & Cr0.PG) === 0 || (cr4 & Cr4.PAE) === 0) return true;
  if ((proc2(c) & Proc2.ENABLE_EPT) !== 0) {
    for (let k = 0; k < 4; k++) {
      const f = Field.GUEST_PDPTE0 + 2 * k;
      if (pdpteReserved(read(c, f), read(c, f | 1))) return false;
    }
    return true;
  }
  const base = (read(c, Field.GUEST_CR3) & ~0x1f) >>> 0;
  for (let k = 0; k < 4; k++) if (pdpteReserved(c.mem.read32(base + 8 * k), c.mem.read32(base + 8 * k + 4))) return false;
  return true;
}

function linkPointerOk(c: Ctx): boolean {
  const lo = read(c, Field.VMCS_LINK_POINTER), high = hi(c, Field.VMCS_LINK_POINTER);
  if (lo === 0xffffffff && high === 0xffffffff) return true;
  if ((lo & 0xfff) !== 0 || high !== 0 || lo === c.current >>> 0) return false;
  // The referenced region's revision, with bit 31 (shadow VMCS) equal to "VMCS shadowing" (0).
  return c.mem.read32(lo) >>> 0 === VMCS_REVISION_ID;
}

const blocking = (c: Ctx): number => read(c, Field.GUEST_INTERRUPTIBILITY);
const STI_OR_MOV_SS = Interruptibility.BLOCKING_BY_STI | Interruptibility.BLOCKING_BY_MOV_SS;
const activity = (c: Ctx): number => read(c, Field.GUEST_ACTIVITY_STATE);

const GUEST_CHECKS: readonly Check[] = [
  // 26.3.1.1: control registers, debug registers, MSRs
  ["guest CR0 has the bits VMX operation fixes (PE and PG free under unrestricted guest)", (c) => cr0Allowed(guestCr0(c), unrestricted(c))],
  ["guest CR0.PG requires CR0.PE", (c) => (guestCr0(c) & Cr0.PG) === 0 || (guestCr0(c) & Cr0.PE) !== 0],
  ["guest CR4 has the bits VMX operation fixes (IA32_VMX_CR4_FIXED0/1)", (c) => cr4Allowed(read(c, Field.GUEST_CR4))],
  ["a loaded guest IA32_DEBUGCTL has only LBR and BTF set",
    (c) => (entryCtl(c) & EntryCtl.LOAD_DEBUG_CONTROLS) === 0 || ((read(c, Field.GUEST_IA32_DEBUGCTL) & ~DEBUGCTL_VALID) === 0 && hi(c, Field.GUEST_IA32_DEBUGCTL) === 0)],
  ["a loaded guest IA32_PAT holds only valid memory types",
    (c) => (entryCtl(c) & EntryCtl.LOAD_IA32_PAT) === 0 || patValid(read(c, Field.GUEST_IA32_PAT), hi(c, Field.GUEST_IA32_PAT))],
  ["a loaded guest IA32_EFER has no reserved bits (only NXE; LMA and LME 0)",
    (c) => (entryCtl(c) & EntryCtl.LOAD_IA32_EFER) === 0 || ((read(c, Field.GUEST_IA32_EFER) & ~EFER_VALID) === 0 && hi(c, Field.GUEST_IA32_EFER) === 0)],

  // 26.3.1.2: segment registers
  ["the guest TR selector has TI 0", (c) => (read(c, Field.GUEST_TR_SELECTOR) & 4) === 0],
  ["a usable guest LDTR selector has TI 0", (c) => (read(c, Field.GUEST_LDTR_AR) & Ar.UNUSABLE) !== 0 || (read(c, Field.GUEST_LDTR_SELECTOR) & 4) === 0],
  ["guest SS.RPL equals CS.RPL (outside virtual-8086 mode, without unrestricted guest)",
    (c) => v86(c) || unrestricted(c) || (sel(c, SS) & 3) === (sel(c, CS) & 3)],
  ["virtual-8086 guest segment bases are selector * 16",
    (c) => !v86(c) || every(ALL_SEGS, (s) => read(c, guestBaseField(s)) === (sel(c, s) << 4) >>> 0)],
  ["virtual-8086 guest segment limits are 0xFFFF", (c) => !v86(c) || every(ALL_SEGS, (s) => read(c, guestLimitField(s)) === 0xffff)],
  ["virtual-8086 guest segment access rights are 0xF3", (c) => !v86(c) || every(ALL_SEGS, (s) => ar(c, s) === 0xf3)],
  ["guest CS is an accessed code segment (type 9, 11, 13, 15), or accessed read/write data (3) under unrestricted guest",
    (c) => v86(c) || CODE_TYPES.includes(type(c, CS)) || (unrestricted(c) && type(c, CS) === 3)],
  ["a usable guest SS is accessed read/write data (type 3 or 7)", (c) => v86(c) || !usable(c, SS) || type(c, SS) === 3 || type(c, SS) === 7],
  ["usable guest DS ES FS GS are accessed, and readable if code",
    (c) => v86(c) || every(DATA_SEGS, (s) => !usable(c, s) || ((type(c, s) & Ar.ACCESSED) !== 0 && ((type(c, s) & Ar.CODE) === 0 || (type(c, s) & Ar.RW) !== 0)))],
  ["guest CS and the usable data segments have S = 1", (c) => v86(c) || every(ALL_SEGS, (s) => !checked(c, s) || (ar(c, s) & Ar.S) !== 0)],
  ["guest CS.DPL is 0 for a data-type CS, equals SS.DPL when non-conforming, and is at most SS.DPL when conforming",
    (c) => {
      if (v86(c)) return true;
      const t = type(c, CS), d = dpl(c, CS), ss = dpl(c, SS);
      if (t === 3) return d === 0;
      if (t === 9 || t === 11) return d === ss;
      if (t === 13 || t === 15) return d <= ss;
      return true;
    }],
  ["guest SS.DPL equals SS.RPL without unrestricted guest", (c) => v86(c) || unrestricted(c) || dpl(c, SS) === (sel(c, SS) & 3)],
  ["guest SS.DPL is 0 with a data-type CS or CR0.PE clear", (c) => v86(c) || (type(c, CS) !== 3 && (guestCr0(c) & Cr0.PE) !== 0) || dpl(c, SS) === 0],
  ["usable guest DS ES FS GS that are data or non-conforming code have DPL at least RPL (without unrestricted guest)",
    (c) => v86(c) || unrestricted(c) || every(DATA_SEGS, (s) => !usable(c, s) || type(c, s) > 11 || dpl(c, s) >= (sel(c, s) & 3))],
  ["guest CS and the usable data segments are present", (c) => v86(c) || every(ALL_SEGS, (s) => !checked(c, s) || (ar(c, s) & Ar.P) !== 0)],
  ["guest CS and the usable data segments have access-rights bits 11:8 and 31:17 clear",
    (c) => v86(c) || every(ALL_SEGS, (s) => !checked(c, s) || (ar(c, s) & (Ar.RESERVED_11_8 | Ar.RESERVED_31_17)) === 0)],
  ["the guest CS L bit is 0 (no IA-32e mode)", (c) => v86(c) || (ar(c, CS) & Ar.L) === 0],
  ["guest CS and the usable data segments have a granularity that agrees with their limits",
    (c) => v86(c) || every(ALL_SEGS, (s) => !checked(c, s) || granularityOk(read(c, guestLimitField(s)), ar(c, s)))],
  ["guest TR is a usable, present busy TSS (type 3 or 11, S 0) with bits 11:8 and 31:17 clear and a granularity matching its limit",
    (c) => {
      const a = read(c, Field.GUEST_TR_AR), t = a & Ar.TYPE;
      return (t === 3 || t === 11) && (a & (Ar.S | Ar.UNUSABLE | Ar.RESERVED_11_8 | Ar.RESERVED_31_17)) === 0 && (a & Ar.P) !== 0 &&
        granularityOk(read(c, Field.GUEST_TR_LIMIT), a);
    }],
  ["a usable guest LDTR is a present LDT (type 2, S 0) with bits 11:8 and 31:17 clear and a granularity matching its limit",
    (c) => {
      const a = read(c, Field.GUEST_LDTR_AR);
      if ((a & Ar.UNUSABLE) !== 0) return true;
      return (a & Ar.TYPE) === 2 && (a & (Ar.S | Ar.RESERVED_11_8 | Ar.RESERVED_31_17)) === 0 && (a & Ar.P) !== 0 &&
        granularityOk(read(c, Field.GUEST_LDTR_LIMIT), a);
    }],

  // 26.3.1.3: descriptor-table registers
  ["guest GDTR and IDTR limits fit in 16 bits", (c) => (read(c, Field.GUEST_GDTR_LIMIT) >>> 16) === 0 && (read(c, Field.GUEST_IDTR_LIMIT) >>> 16) === 0],

  // 26.3.1.4: RIP and RFLAGS
  ["guest RFLAGS has bits 31:22, 15, 5 and 3 clear and bit 1 set",
    (c) => (read(c, Field.GUEST_RFLAGS) & RFLAGS_RESERVED) === 0 && (read(c, Field.GUEST_RFLAGS) & Flag.FIXED) !== 0],
  ["guest RFLAGS.VM is 0 when CR0.PE is 0", (c) => !v86(c) || (guestCr0(c) & Cr0.PE) !== 0],
  ["guest RFLAGS.IF is 1 when an external interrupt is injected", (c) => !injecting(c, IntType.EXTERNAL) || (read(c, Field.GUEST_RFLAGS) & Flag.IF) !== 0],

  // 26.3.1.5: non-register state
  ["the guest activity state is active or HLT (the states IA32_VMX_MISC reports)", (c) => activity(c) === Activity.ACTIVE || activity(c) === Activity.HLT],
  ["a halted guest has SS.DPL 0", (c) => activity(c) !== Activity.HLT || dpl(c, SS) === 0],
  ["the guest is active when blocked by STI or MOV SS", (c) => (blocking(c) & STI_OR_MOV_SS) === 0 || activity(c) === Activity.ACTIVE],
  ["an event injected into a halted guest is an external interrupt, an NMI, #DB, #MC, or a pending MTF exit",
    (c) => {
      if (activity(c) !== Activity.HLT || !injValid(c)) return true;
      const t = injType(c), vec = injVector(c);
      return t === IntType.EXTERNAL || t === IntType.NMI || (t === IntType.HARDWARE_EXCEPTION && (vec === 1 || vec === 18)) ||
        (t === IntType.OTHER_EVENT && vec === 0);
    }],
  ["guest interruptibility bits 31:4 are 0", (c) => (blocking(c) >>> 4) === 0],
  ["the guest is not blocked by both STI and MOV SS", (c) => (blocking(c) & STI_OR_MOV_SS) !== STI_OR_MOV_SS],
  ["guest blocking by STI requires RFLAGS.IF", (c) => (blocking(c) & Interruptibility.BLOCKING_BY_STI) === 0 || (read(c, Field.GUEST_RFLAGS) & Flag.IF) !== 0],
  ["an external interrupt is injected only without blocking by STI or MOV SS", (c) => !injecting(c, IntType.EXTERNAL) || (blocking(c) & STI_OR_MOV_SS) === 0],
  ["an NMI is injected only without blocking by MOV SS", (c) => !injecting(c, IntType.NMI) || (blocking(c) & Interruptibility.BLOCKING_BY_MOV_SS) === 0],
  ["guest blocking by SMI is 0 outside SMM", (c) => (blocking(c) & Interruptibility.BLOCKING_BY_SMI) === 0],
  ["with virtual NMIs, an NMI is injected only without virtual-NMI blocking",
    (c) => !injecting(c, IntType.NMI) || (pin(c) & Pin.VIRTUAL_NMIS) === 0 || (blocking(c) & Interruptibility.BLOCKING_BY_NMI) === 0],
  ["guest pending debug exceptions have only B3-B0, the enabled-breakpoint bit and BS set", (c) => (read(c, Field.GUEST_PENDING_DBG_EXCEPTIONS) & ~PENDING_DBG_VALID) === 0],
  ["under STI or MOV-SS blocking or in HLT, pending BS is set exactly when RFLAGS.TF is 1 and DEBUGCTL.BTF is 0",
    (c) => {
      if ((blocking(c) & STI_OR_MOV_SS) === 0 && activity(c) !== Activity.HLT) return true;
      const single = (read(c, Field.GUEST_RFLAGS) & Flag.TF) !== 0 && (read(c, Field.GUEST_IA32_DEBUGCTL) & DEBUGCTL_BTF) === 0;
      return ((read(c, Field.GUEST_PENDING_DBG_EXCEPTIONS) & PENDING_BS) !== 0) === single;
    }],
  ["an NMI is injected only without blocking by STI (this model fails such entries)",
    (c) => !injecting(c, IntType.NMI) || (blocking(c) & Interruptibility.BLOCKING_BY_STI) === 0, EntryFailureQual.NMI_INJECTION_BLOCKED_BY_STI],
  ["the VMCS link pointer is all ones, or a 4 KiB-aligned address below 4 GiB, not the current VMCS, of a region with our revision",
    linkPointerOk, EntryFailureQual.INVALID_VMCS_LINK_POINTER],

  // 26.3.1.6: PDPTEs of a PAE guest (from the guest-state fields with EPT, else from memory at CR3)
  ["a PAE-paging guest's present PDPTEs have no reserved bits set", pdptesOk, EntryFailureQual.PDPTE_LOADING],
];

function run(checks: readonly Check[], c: Ctx, area: EntryFailure["area"], error: VmInsnError | 0): EntryFailure | null {
  for (const [check, ok, qual] of checks) {
    if (!ok(c)) return { area, check, error, qualification: qual ?? EntryFailureQual.DEFAULT };
  }
  return null;
}

// ------------------------------------------------------------------------------------------------
// The last entry that passed. Between a VM exit and the next entry little changes that the checks
// read: the exit writes its information fields and the guest's registers, the VMM its reply. The
// checks are a function of the VMCS's words (and of memory and the current-VMCS pointer only for
// a VMCS link pointer in use and for PAE paging without EPT), so an entry whose words equal, in
// the bits the checks look at, those of a VMCS that passed without reading memory passes too.

/** Guest RFLAGS as the checks look at it: the reserved bits, bit 1, TF, IF and VM. */
const RFLAGS_CHECKED = (RFLAGS_RESERVED | Flag.FIXED | Flag.TF | Flag.IF | Flag.VM) >>> 0;

/**
 * The words of the VMCS storage (`Vmcs.f`) the checks may read, and the bits of each: every field
 * but the exit-information fields, guest RIP and guest RSP (written at every exit, read by no
 * check), and of RFLAGS only RFLAGS_CHECKED (its arithmetic flags change at nearly every exit).
 */
const WATCHED: { words: Int32Array; masks: Uint32Array } = (() => {
  const words: number[] = [], masks: number[] = [];
  FIELDS.forEach(([enc], slot) => {
    if (fieldType(enc) === FieldType.EXIT_INFO || enc === Field.GUEST_RIP || enc === Field.GUEST_RSP) return;
    words.push(2 * slot);
    masks.push(enc === Field.GUEST_RFLAGS ? RFLAGS_CHECKED : 0xffffffff);
    if (fieldWidth(enc) === Width.W64) {
      words.push(2 * slot + 1);
      masks.push(0xffffffff);
    }
  });
  return { words: Int32Array.from(words), masks: Uint32Array.from(masks) };
})();

/** Per VMCS: its watched words when it last passed every check without reading memory. */
const passed = new WeakMap<Vmcs, Uint32Array>();

function samePassed(v: Vmcs): boolean {
  const snap = passed.get(v);
  if (snap === undefined) return false;
  const { words, masks } = WATCHED, f = v.f;
  for (let k = 0; k < words.length; k++) if (((f[words[k]] & masks[k]) >>> 0) !== snap[k]) return false;
  return true;
}

function rememberPassed(c: Ctx): void {
  const linkUnused = read(c, Field.VMCS_LINK_POINTER) === 0xffffffff && hi(c, Field.VMCS_LINK_POINTER) === 0xffffffff;
  const pdptesInMemory = (guestCr0(c) & Cr0.PG) !== 0 && (read(c, Field.GUEST_CR4) & Cr4.PAE) !== 0 && (proc2(c) & Proc2.ENABLE_EPT) === 0;
  if (!linkUnused || pdptesInMemory) {
    passed.delete(c.v);
    return;
  }
  const { words, masks } = WATCHED, f = c.v.f;
  const snap = passed.get(c.v) ?? new Uint32Array(words.length);
  for (let k = 0; k < words.length; k++) snap[k] = f[words[k]] & masks[k];
  passed.set(c.v, snap);
}

/**
 * All VM-entry checks on `v`, in order: controls (VMfailValid 7), host state (VMfailValid 8), guest
 * state (VM-entry failure, exit reason 33 | 0x80000000 with `qualification`). `mem` serves the
 * checks that read memory (PDPTEs without EPT, the VMCS link pointer's region); `current` is the
 * current-VMCS pointer. Returns null when the entry may proceed to load guest state.
 */
export function checkVmEntry(v: Vmcs, mem: PhysWords, current = -1): EntryFailure | null {
  if (samePassed(v)) return null;
  const c: Ctx = { v, mem, current };
  const failure = run(CONTROL_CHECKS, c, "control", VmInsnError.ENTRY_INVALID_CONTROL) ??
    run(HOST_CHECKS, c, "host", VmInsnError.ENTRY_INVALID_HOST_STATE) ??
    run(GUEST_CHECKS, c, "guest", 0);
  if (failure === null) rememberPassed(c);
  return failure;
}

/** The names of every check, by area, in the order they run (for documentation and tests). */
export const ENTRY_CHECKS = {
  control: CONTROL_CHECKS.map(([n]) => n),
  host: HOST_CHECKS.map(([n]) => n),
  guest: GUEST_CHECKS.map(([n]) => n),
};
