// The virtual-machine control structure as plain data (SDM vol. 3, chapter 24): every supported
// field (./fields.ts) as two 32-bit halves in one Uint32Array, the VMCS revision identifier, the
// VMX-abort indicator and the launch state. The CPU keeps the current VMCS as a Vmcs; VMCLEAR
// writes it to its 4 KiB region in memory (storeTo) and VMPTRLD reads it back (loadFrom), so a
// snapshot of RAM plus the CPU's current Vmcs captures all VMX state.
//
// Two ways in: `read`/`write` are the processor's own accesses (VM exits write read-only
// exit-information fields, VM entries read guest state) and never fail; `vmread`/`vmwrite` are the
// instructions, with their access-type and read-only rules and VM-instruction error numbers.

import { FIELD_COUNT, FIELDS, FieldType, SLOTS, Width, fieldType, fieldWidth, slotOf, type Field } from "./fields.js";

/** VM-instruction error numbers, stored in VM_INSTRUCTION_ERROR on VMfailValid (SDM 30.4). */
export const enum VmInsnError {
  VMCALL_IN_ROOT = 1,
  VMCLEAR_INVALID_ADDRESS = 2,
  VMCLEAR_VMXON_POINTER = 3,
  VMLAUNCH_NONCLEAR_VMCS = 4,
  VMRESUME_NONLAUNCHED_VMCS = 5,
  VMRESUME_AFTER_VMXOFF = 6,
  ENTRY_INVALID_CONTROL = 7,
  ENTRY_INVALID_HOST_STATE = 8,
  VMPTRLD_INVALID_ADDRESS = 9,
  VMPTRLD_VMXON_POINTER = 10,
  VMPTRLD_BAD_REVISION = 11,
  UNSUPPORTED_COMPONENT = 12,
  VMWRITE_READ_ONLY = 13,
  VMXON_IN_ROOT = 15,
  ENTRY_INVALID_EXECUTIVE_VMCS = 16,
  ENTRY_NONLAUNCHED_EXECUTIVE_VMCS = 17,
  ENTRY_EXECUTIVE_NOT_VMXON = 18,
  VMCALL_NONCLEAR_VMCS = 19,
  VMCALL_INVALID_EXIT_CONTROLS = 20,
  VMCALL_BAD_MSEG_REVISION = 22,
  VMXOFF_DUAL_MONITOR = 23,
  VMCALL_INVALID_SMM_FEATURES = 24,
  ENTRY_INVALID_EXECUTIVE_CONTROLS = 25,
  ENTRY_BLOCKED_BY_MOV_SS = 26,
  INVALID_INVEPT_OPERAND = 28,
}

/** The revision identifier of our VMCS format (IA32_VMX_BASIC bits 30:0): "AG", format 1. */
export const VMCS_REVISION_ID = 0x41470001;

/** Bytes software allocates for a VMXON or VMCS region (IA32_VMX_BASIC bits 44:32). */
export const VMCS_REGION_SIZE = 4096;

/**
 * Our VMCS region layout (the SDM leaves all but the first 8 bytes to the implementation):
 * revision id (bit 31: shadow-VMCS indicator), VMX-abort indicator, launch state, then each
 * field's low and high halves in FIELDS order.
 */
export const enum Region {
  REVISION = 0,
  ABORT = 4,
  LAUNCH_STATE = 8,
  FIELDS = 16,
}

/** Reads and writes 32-bit words of physical memory (src/machine's PhysMem satisfies this). */
export interface PhysWords {
  read32(addr: number): number;
  write32(addr: number, v: number): void;
}

/** A Vmcs as plain data (save/restore). */
export interface VmcsState {
  revision: number;
  abort: number;
  launched: boolean;
  /** Low and high halves of each field, FIELDS order. */
  fields: number[];
}

/** Value masks per slot: what a field of that width holds in its low half. */
const LOW_MASK = new Uint32Array(FIELD_COUNT);
/** Per slot: 1 when the field is read-only (VM-exit information). */
const READ_ONLY = new Uint8Array(FIELD_COUNT);
FIELDS.forEach(([enc], slot) => {
  LOW_MASK[slot] = fieldWidth(enc) === Width.W16 ? 0xffff : 0xffffffff;
  READ_ONLY[slot] = fieldType(enc) === FieldType.EXIT_INFO ? 1 : 0;
});

export class Vmcs {
  /** Field storage: slot s has its low half at 2s and its high half at 2s + 1. */
  readonly f = new Uint32Array(2 * FIELD_COUNT);
  /** Bits 30:0 of the region's first word; bit 31 is the shadow-VMCS indicator. */
  revision = VMCS_REVISION_ID;
  /** The VMX-abort indicator (region offset 4). */
  abort = 0;
  /** Launch state: false = "clear" (after VMCLEAR), true = "launched" (after a VMLAUNCH). */
  launched = false;

  // ------------------------------------------------------------------------------------------
  // The processor's accesses

  /**
   * The 32-bit value of a field half: the low half for a full encoding, the high half for a high
   * (bit 0 = 1) encoding. `enc` must name a supported field (see slotOf).
   */
  read(enc: Field | number): number {
    return this.f[(SLOTS[enc >>> 1] << 1) | (enc & 1)];
  }

  /** Writes one half (16-bit fields keep bits 15:0); read-only fields included. */
  write(enc: Field | number, v: number): void {
    const slot = SLOTS[enc >>> 1];
    this.f[(slot << 1) | (enc & 1)] = (enc & 1) !== 0 ? v : v & LOW_MASK[slot];
  }

  /** Both halves of a 64-bit field. */
  write64(enc: Field, lo: number, hi: number): void {
    const i = SLOTS[enc >>> 1] << 1;
    this.f[i] = lo;
    this.f[i + 1] = hi;
  }

  /** A 64-bit field as an unsigned bigint (TSC offset, EPTP, PAT). */
  read64(enc: Field): bigint {
    const i = SLOTS[enc >>> 1] << 1;
    return (BigInt(this.f[i + 1]) << 32n) | BigInt(this.f[i]);
  }

  /** Sets a 64-bit field from a bigint (taken modulo 2^64). */
  write64n(enc: Field, v: bigint): void {
    const u = BigInt.asUintN(64, v);
    this.write64(enc, Number(u & 0xffffffffn), Number(u >> 32n));
  }

  // ------------------------------------------------------------------------------------------
  // The instructions (SDM 24.11.2 and the VMREAD/VMWRITE pages): outside IA-32e mode

  /**
   * VMREAD: the value the 32-bit destination receives — 16-bit fields zero-extended, the low
   * half of a 64-bit field for the full access type, its high half for the high access type — or
   * -1 when `enc` names no supported component (VMfailValid with UNSUPPORTED_COMPONENT).
   */
  vmread(enc: number): number {
    const slot = slotOf(enc);
    if (slot < 0) return -1;
    return this.f[(slot << 1) | (enc & 1)];
  }

  /**
   * VMWRITE of the 32-bit source `v`: 0 on success, else the VM-instruction error. 16-bit fields
   * take bits 15:0; a full-access write to a 64-bit field writes the low half and clears the high
   * half; a high-access write changes only the high half. VM-exit information fields are
   * read-only (IA32_VMX_MISC bit 29 is 0).
   */
  vmwrite(enc: number, v: number): VmInsnError | 0 {
    const slot = slotOf(enc);
    if (slot < 0) return VmInsnError.UNSUPPORTED_COMPONENT;
    if (READ_ONLY[slot] !== 0) return VmInsnError.VMWRITE_READ_ONLY;
    const i = slot << 1;
    if ((enc & 1) !== 0) {
      this.f[i + 1] = v;
    } else {
      this.f[i] = v & LOW_MASK[slot];
      this.f[i + 1] = 0;
    }
    return 0;
  }

  // ------------------------------------------------------------------------------------------
  // The region in memory

  /** Writes this VMCS into the region at physical `base` (VMCLEAR, or switching VMCS on VMPTRLD). */
  storeTo(mem: PhysWords, base: number): void {
    mem.write32(base + Region.REVISION, this.revision);
    mem.write32(base + Region.ABORT, this.abort);
    mem.write32(base + Region.LAUNCH_STATE, this.launched ? 1 : 0);
    for (let k = 0; k < this.f.length; k++) mem.write32(base + Region.FIELDS + 4 * k, this.f[k]);
  }

  /** Loads this VMCS from the region at physical `base` (VMPTRLD, after its checks passed). */
  loadFrom(mem: PhysWords, base: number): void {
    this.revision = mem.read32(base + Region.REVISION) >>> 0;
    this.abort = mem.read32(base + Region.ABORT) >>> 0;
    this.launched = mem.read32(base + Region.LAUNCH_STATE) === 1;
    for (let k = 0; k < this.f.length; k++) this.f[k] = mem.read32(base + Region.FIELDS + 4 * k);
  }

  // ------------------------------------------------------------------------------------------
  // Plain data

  save(): VmcsState {
    return { revision: this.revision, abort: this.abort, launched: this.launched, fields: Array.from(this.f) };
  }

  restore(s: VmcsState): void {
    if (s.fields.length !== this.f.length) throw new Error(`VMCS state has ${s.fields.length} words, expected ${this.f.length}`);
    this.revision = s.revision;
    this.abort = s.abort;
    this.launched = s.launched;
    this.f.set(s.fields);
  }

  /** Every field by SDM name, 64-bit fields as bigints: for debuggers and test failure messages. */
  dump(): Record<string, number | bigint> {
    const out: Record<string, number | bigint> = {};
    FIELDS.forEach(([enc, name], slot) => {
      out[name] = fieldWidth(enc) === Width.W64 ? (BigInt(this.f[2 * slot + 1]) << 32n) | BigInt(this.f[2 * slot]) : this.f[2 * slot];
    });
    return out;
  }
}

// ------------------------------------------------------------------------------------------------
// Checks of the VMX instructions that manage VMCS pointers and launch state (SDM chapter 30). The
// CPU does the #UD/#GP checks and VMfailInvalid (no current VMCS); these give the VMfailValid
// error number, or 0 when the instruction proceeds.

/**
 * A VMXON/VMCS pointer operand is valid when 4 KiB-aligned and within the physical-address width:
 * 32 bits, as IA32_VMX_BASIC bit 48 reports. `hi` is the operand's upper doubleword.
 */
export function vmxPointerValid(lo: number, hi: number): boolean {
  return (lo & 0xfff) === 0 && hi === 0;
}

/** VMCLEAR of pointer `lo:hi` while `vmxon` is the VMXON pointer. */
export function vmclearError(lo: number, hi: number, vmxon: number): VmInsnError | 0 {
  if (!vmxPointerValid(lo, hi)) return VmInsnError.VMCLEAR_INVALID_ADDRESS;
  if (lo >>> 0 === vmxon >>> 0) return VmInsnError.VMCLEAR_VMXON_POINTER;
  return 0;
}

/**
 * VMPTRLD of pointer `lo:hi`; `regionRevision` is the first word of the region it names (bit 31
 * set means a shadow VMCS, which this CPU does not support: a revision mismatch).
 */
export function vmptrldError(lo: number, hi: number, vmxon: number, regionRevision: number): VmInsnError | 0 {
  if (!vmxPointerValid(lo, hi)) return VmInsnError.VMPTRLD_INVALID_ADDRESS;
  if (lo >>> 0 === vmxon >>> 0) return VmInsnError.VMPTRLD_VMXON_POINTER;
  if (regionRevision >>> 0 !== VMCS_REVISION_ID) return VmInsnError.VMPTRLD_BAD_REVISION;
  return 0;
}

/**
 * VMLAUNCH (`resume` false) or VMRESUME (`resume` true) before the VM-entry checks (SDM 26.1):
 * events blocked by MOV SS, then the launch state. The entry checks come next (./entry.ts).
 */
export function launchError(v: Vmcs, resume: boolean, blockedByMovSs: boolean): VmInsnError | 0 {
  if (blockedByMovSs) return VmInsnError.ENTRY_BLOCKED_BY_MOV_SS;
  if (!resume && v.launched) return VmInsnError.VMLAUNCH_NONCLEAR_VMCS;
  if (resume && !v.launched) return VmInsnError.VMRESUME_NONLAUNCHED_VMCS;
  return 0;
}

/**
 * VMCLEAR's effect on a VMCS: launch state "clear". (The CPU then stores it to its region and,
 * if it was current, drops the current-VMCS pointer.)
 */
export function vmclear(v: Vmcs): void {
  v.launched = false;
}

/** VMCLEAR of a VMCS that is not current: its region's launch state becomes "clear". */
export function vmclearRegion(mem: PhysWords, base: number): void {
  mem.write32(base + Region.LAUNCH_STATE, 0);
}
