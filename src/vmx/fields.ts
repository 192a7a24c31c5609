// VMCS field encodings (SDM vol. 3, Appendix B) for the VMX implementation our 32-bit CPU has:
// no Intel 64, with EPT and unrestricted guest, without VPID, APIC virtualization, posted
// interrupts, PML, VM functions, VMCS shadowing, the preemption timer, or PERF_GLOBAL_CTRL loading.
//
// An encoding is 32 bits (SDM 24.11.2):
//   bit 0      access type: 0 = full, 1 = high (the upper 32 bits of a 64-bit field)
//   bits 9:1   index
//   bits 11:10 type: 0 control, 1 VM-exit information (read-only), 2 guest state, 3 host state
//   bit 12     reserved (0)
//   bits 14:13 width: 0 16-bit, 1 64-bit, 2 32-bit, 3 natural (32 bits on this CPU)
//   bits 31:15 reserved (0)

/** Every VMCS field this CPU supports, by its full encoding. `| 1` names a 64-bit field's high half. */
export const enum Field {
  // 16-bit guest-state fields (B.1.2)
  GUEST_ES_SELECTOR = 0x0800,
  GUEST_CS_SELECTOR = 0x0802,
  GUEST_SS_SELECTOR = 0x0804,
  GUEST_DS_SELECTOR = 0x0806,
  GUEST_FS_SELECTOR = 0x0808,
  GUEST_GS_SELECTOR = 0x080a,
  GUEST_LDTR_SELECTOR = 0x080c,
  GUEST_TR_SELECTOR = 0x080e,
  // 16-bit host-state fields (B.1.3)
  HOST_ES_SELECTOR = 0x0c00,
  HOST_CS_SELECTOR = 0x0c02,
  HOST_SS_SELECTOR = 0x0c04,
  HOST_DS_SELECTOR = 0x0c06,
  HOST_FS_SELECTOR = 0x0c08,
  HOST_GS_SELECTOR = 0x0c0a,
  HOST_TR_SELECTOR = 0x0c0c,

  // 64-bit control fields (B.2.1)
  IO_BITMAP_A = 0x2000,
  IO_BITMAP_B = 0x2002,
  MSR_BITMAP = 0x2004,
  VM_EXIT_MSR_STORE_ADDR = 0x2006,
  VM_EXIT_MSR_LOAD_ADDR = 0x2008,
  VM_ENTRY_MSR_LOAD_ADDR = 0x200a,
  EXECUTIVE_VMCS_POINTER = 0x200c,
  TSC_OFFSET = 0x2010,
  EPT_POINTER = 0x201a,
  // 64-bit read-only data field (B.2.2)
  GUEST_PHYSICAL_ADDRESS = 0x2400,
  // 64-bit guest-state fields (B.2.3)
  VMCS_LINK_POINTER = 0x2800,
  GUEST_IA32_DEBUGCTL = 0x2802,
  GUEST_IA32_PAT = 0x2804,
  GUEST_IA32_EFER = 0x2806,
  GUEST_PDPTE0 = 0x280a,
  GUEST_PDPTE1 = 0x280c,
  GUEST_PDPTE2 = 0x280e,
  GUEST_PDPTE3 = 0x2810,
  // 64-bit host-state fields (B.2.4)
  HOST_IA32_PAT = 0x2c00,
  HOST_IA32_EFER = 0x2c02,

  // 32-bit control fields (B.3.1)
  PIN_BASED_CTLS = 0x4000,
  PROC_BASED_CTLS = 0x4002,
  EXCEPTION_BITMAP = 0x4004,
  PF_ERROR_CODE_MASK = 0x4006,
  PF_ERROR_CODE_MATCH = 0x4008,
  CR3_TARGET_COUNT = 0x400a,
  VM_EXIT_CTLS = 0x400c,
  VM_EXIT_MSR_STORE_COUNT = 0x400e,
  VM_EXIT_MSR_LOAD_COUNT = 0x4010,
  VM_ENTRY_CTLS = 0x4012,
  VM_ENTRY_MSR_LOAD_COUNT = 0x4014,
  VM_ENTRY_INTR_INFO = 0x4016,
  VM_ENTRY_EXCEPTION_ERROR_CODE = 0x4018,
  VM_ENTRY_INSTRUCTION_LEN = 0x401a,
  PROC_BASED_CTLS2 = 0x401e,
  // 32-bit read-only data fields (B.3.2)
  VM_INSTRUCTION_ERROR = 0x4400,
  VM_EXIT_REASON = 0x4402,
  VM_EXIT_INTR_INFO = 0x4404,
  VM_EXIT_INTR_ERROR_CODE = 0x4406,
  IDT_VECTORING_INFO = 0x4408,
  IDT_VECTORING_ERROR_CODE = 0x440a,
  VM_EXIT_INSTRUCTION_LEN = 0x440c,
  VM_EXIT_INSTRUCTION_INFO = 0x440e,
  // 32-bit guest-state fields (B.3.3)
  GUEST_ES_LIMIT = 0x4800,
  GUEST_CS_LIMIT = 0x4802,
  GUEST_SS_LIMIT = 0x4804,
  GUEST_DS_LIMIT = 0x4806,
  GUEST_FS_LIMIT = 0x4808,
  GUEST_GS_LIMIT = 0x480a,
  GUEST_LDTR_LIMIT = 0x480c,
  GUEST_TR_LIMIT = 0x480e,
  GUEST_GDTR_LIMIT = 0x4810,
  GUEST_IDTR_LIMIT = 0x4812,
  GUEST_ES_AR = 0x4814,
  GUEST_CS_AR = 0x4816,
  GUEST_SS_AR = 0x4818,
  GUEST_DS_AR = 0x481a,
  GUEST_FS_AR = 0x481c,
  GUEST_GS_AR = 0x481e,
  GUEST_LDTR_AR = 0x4820,
  GUEST_TR_AR = 0x4822,
  GUEST_INTERRUPTIBILITY = 0x4824,
  GUEST_ACTIVITY_STATE = 0x4826,
  GUEST_SMBASE = 0x4828,
  GUEST_IA32_SYSENTER_CS = 0x482a,
  // 32-bit host-state field (B.3.4)
  HOST_IA32_SYSENTER_CS = 0x4c00,

  // Natural-width control fields (B.4.1)
  CR0_GUEST_HOST_MASK = 0x6000,
  CR4_GUEST_HOST_MASK = 0x6002,
  CR0_READ_SHADOW = 0x6004,
  CR4_READ_SHADOW = 0x6006,
  CR3_TARGET_VALUE0 = 0x6008,
  CR3_TARGET_VALUE1 = 0x600a,
  CR3_TARGET_VALUE2 = 0x600c,
  CR3_TARGET_VALUE3 = 0x600e,
  // Natural-width read-only data fields (B.4.2)
  EXIT_QUALIFICATION = 0x6400,
  IO_RCX = 0x6402,
  IO_RSI = 0x6404,
  IO_RDI = 0x6406,
  IO_RIP = 0x6408,
  GUEST_LINEAR_ADDRESS = 0x640a,
  // Natural-width guest-state fields (B.4.3)
  GUEST_CR0 = 0x6800,
  GUEST_CR3 = 0x6802,
  GUEST_CR4 = 0x6804,
  GUEST_ES_BASE = 0x6806,
  GUEST_CS_BASE = 0x6808,
  GUEST_SS_BASE = 0x680a,
  GUEST_DS_BASE = 0x680c,
  GUEST_FS_BASE = 0x680e,
  GUEST_GS_BASE = 0x6810,
  GUEST_LDTR_BASE = 0x6812,
  GUEST_TR_BASE = 0x6814,
  GUEST_GDTR_BASE = 0x6816,
  GUEST_IDTR_BASE = 0x6818,
  GUEST_DR7 = 0x681a,
  GUEST_RSP = 0x681c,
  GUEST_RIP = 0x681e,
  GUEST_RFLAGS = 0x6820,
  GUEST_PENDING_DBG_EXCEPTIONS = 0x6822,
  GUEST_IA32_SYSENTER_ESP = 0x6824,
  GUEST_IA32_SYSENTER_EIP = 0x6826,
  // Natural-width host-state fields (B.4.4)
  HOST_CR0 = 0x6c00,
  HOST_CR3 = 0x6c02,
  HOST_CR4 = 0x6c04,
  HOST_FS_BASE = 0x6c06,
  HOST_GS_BASE = 0x6c08,
  HOST_TR_BASE = 0x6c0a,
  HOST_GDTR_BASE = 0x6c0c,
  HOST_IDTR_BASE = 0x6c0e,
  HOST_IA32_SYSENTER_ESP = 0x6c10,
  HOST_IA32_SYSENTER_EIP = 0x6c12,
  HOST_RSP = 0x6c14,
  HOST_RIP = 0x6c16,
}

/** Bits 14:13 of an encoding. */
export const enum Width { W16 = 0, W64 = 1, W32 = 2, NATURAL = 3 }

/** Bits 11:10 of an encoding. */
export const enum FieldType { CONTROL = 0, EXIT_INFO = 1, GUEST = 2, HOST = 3 }

export function fieldWidth(enc: number): Width {
  return ((enc >>> 13) & 3) as Width;
}

export function fieldType(enc: number): FieldType {
  return ((enc >>> 10) & 3) as FieldType;
}

export function fieldIndex(enc: number): number {
  return (enc >>> 1) & 0x1ff;
}

/** The encoding of a 64-bit field's high half. */
export function high(enc: Field): number {
  return enc | 1;
}

/** The supported fields with their SDM names, in encoding order: the VMCS storage layout. */
export const FIELDS: readonly (readonly [Field, string])[] = [
  [Field.GUEST_ES_SELECTOR, "GUEST_ES_SELECTOR"],
  [Field.GUEST_CS_SELECTOR, "GUEST_CS_SELECTOR"],
  [Field.GUEST_SS_SELECTOR, "GUEST_SS_SELECTOR"],
  [Field.GUEST_DS_SELECTOR, "GUEST_DS_SELECTOR"],
  [Field.GUEST_FS_SELECTOR, "GUEST_FS_SELECTOR"],
  [Field.GUEST_GS_SELECTOR, "GUEST_GS_SELECTOR"],
  [Field.GUEST_LDTR_SELECTOR, "GUEST_LDTR_SELECTOR"],
  [Field.GUEST_TR_SELECTOR, "GUEST_TR_SELECTOR"],
  [Field.HOST_ES_SELECTOR, "HOST_ES_SELECTOR"],
  [Field.HOST_CS_SELECTOR, "HOST_CS_SELECTOR"],
  [Field.HOST_SS_SELECTOR, "HOST_SS_SELECTOR"],
  [Field.HOST_DS_SELECTOR, "HOST_DS_SELECTOR"],
  [Field.HOST_FS_SELECTOR, "HOST_FS_SELECTOR"],
  [Field.HOST_GS_SELECTOR, "HOST_GS_SELECTOR"],
  [Field.HOST_TR_SELECTOR, "HOST_TR_SELECTOR"],
  [Field.IO_BITMAP_A, "IO_BITMAP_A"],
  [Field.IO_BITMAP_B, "IO_BITMAP_B"],
  [Field.MSR_BITMAP, "MSR_BITMAP"],
  [Field.VM_EXIT_MSR_STORE_ADDR, "VM_EXIT_MSR_STORE_ADDR"],
  [Field.VM_EXIT_MSR_LOAD_ADDR, "VM_EXIT_MSR_LOAD_ADDR"],
  [Field.VM_ENTRY_MSR_LOAD_ADDR, "VM_ENTRY_MSR_LOAD_ADDR"],
  [Field.EXECUTIVE_VMCS_POINTER, "EXECUTIVE_VMCS_POINTER"],
  [Field.TSC_OFFSET, "TSC_OFFSET"],
  [Field.EPT_POINTER, "EPT_POINTER"],
  [Field.GUEST_PHYSICAL_ADDRESS, "GUEST_PHYSICAL_ADDRESS"],
  [Field.VMCS_LINK_POINTER, "VMCS_LINK_POINTER"],
  [Field.GUEST_IA32_DEBUGCTL, "GUEST_IA32_DEBUGCTL"],
  [Field.GUEST_IA32_PAT, "GUEST_IA32_PAT"],
  [Field.GUEST_IA32_EFER, "GUEST_IA32_EFER"],
  [Field.GUEST_PDPTE0, "GUEST_PDPTE0"],
  [Field.GUEST_PDPTE1, "GUEST_PDPTE1"],
  [Field.GUEST_PDPTE2, "GUEST_PDPTE2"],
  [Field.GUEST_PDPTE3, "GUEST_PDPTE3"],
  [Field.HOST_IA32_PAT, "HOST_IA32_PAT"],
  [Field.HOST_IA32_EFER, "HOST_IA32_EFER"],
  [Field.PIN_BASED_CTLS, "PIN_BASED_CTLS"],
  [Field.PROC_BASED_CTLS, "PROC_BASED_CTLS"],
  [Field.EXCEPTION_BITMAP, "EXCEPTION_BITMAP"],
  [Field.PF_ERROR_CODE_MASK, "PF_ERROR_CODE_MASK"],
  [Field.PF_ERROR_CODE_MATCH, "PF_ERROR_CODE_MATCH"],
  [Field.CR3_TARGET_COUNT, "CR3_TARGET_COUNT"],
  [Field.VM_EXIT_CTLS, "VM_EXIT_CTLS"],
  [Field.VM_EXIT_MSR_STORE_COUNT, "VM_EXIT_MSR_STORE_COUNT"],
  [Field.VM_EXIT_MSR_LOAD_COUNT, "VM_EXIT_MSR_LOAD_COUNT"],
  [Field.VM_ENTRY_CTLS, "VM_ENTRY_CTLS"],
  [Field.VM_ENTRY_MSR_LOAD_COUNT, "VM_ENTRY_MSR_LOAD_COUNT"],
  [Field.VM_ENTRY_INTR_INFO, "VM_ENTRY_INTR_INFO"],
  [Field.VM_ENTRY_EXCEPTION_ERROR_CODE, "VM_ENTRY_EXCEPTION_ERROR_CODE"],
  [Field.VM_ENTRY_INSTRUCTION_LEN, "VM_ENTRY_INSTRUCTION_LEN"],
  [Field.PROC_BASED_CTLS2, "PROC_BASED_CTLS2"],
  [Field.VM_INSTRUCTION_ERROR, "VM_INSTRUCTION_ERROR"],
  [Field.VM_EXIT_REASON, "VM_EXIT_REASON"],
  [Field.VM_EXIT_INTR_INFO, "VM_EXIT_INTR_INFO"],
  [Field.VM_EXIT_INTR_ERROR_CODE, "VM_EXIT_INTR_ERROR_CODE"],
  [Field.IDT_VECTORING_INFO, "IDT_VECTORING_INFO"],
  [Field.IDT_VECTORING_ERROR_CODE, "IDT_VECTORING_ERROR_CODE"],
  [Field.VM_EXIT_INSTRUCTION_LEN, "VM_EXIT_INSTRUCTION_LEN"],
  [Field.VM_EXIT_INSTRUCTION_INFO, "VM_EXIT_INSTRUCTION_INFO"],
  [Field.GUEST_ES_LIMIT, "GUEST_ES_LIMIT"],
  [Field.GUEST_CS_LIMIT, "GUEST_CS_LIMIT"],
  [Field.GUEST_SS_LIMIT, "GUEST_SS_LIMIT"],
  [Field.GUEST_DS_LIMIT, "GUEST_DS_LIMIT"],
  [Field.GUEST_FS_LIMIT, "GUEST_FS_LIMIT"],
  [Field.GUEST_GS_LIMIT, "GUEST_GS_LIMIT"],
  [Field.GUEST_LDTR_LIMIT, "GUEST_LDTR_LIMIT"],
  [Field.GUEST_TR_LIMIT, "GUEST_TR_LIMIT"],
  [Field.GUEST_GDTR_LIMIT, "GUEST_GDTR_LIMIT"],
  [Field.GUEST_IDTR_LIMIT, "GUEST_IDTR_LIMIT"],
  [Field.GUEST_ES_AR, "GUEST_ES_AR"],
  [Field.GUEST_CS_AR, "GUEST_CS_AR"],
  [Field.GUEST_SS_AR, "GUEST_SS_AR"],
  [Field.GUEST_DS_AR, "GUEST_DS_AR"],
  [Field.GUEST_FS_AR, "GUEST_FS_AR"],
  [Field.GUEST_GS_AR, "GUEST_GS_AR"],
  [Field.GUEST_LDTR_AR, "GUEST_LDTR_AR"],
  [Field.GUEST_TR_AR, "GUEST_TR_AR"],
  [Field.GUEST_INTERRUPTIBILITY, "GUEST_INTERRUPTIBILITY"],
  [Field.GUEST_ACTIVITY_STATE, "GUEST_ACTIVITY_STATE"],
  [Field.GUEST_SMBASE, "GUEST_SMBASE"],
  [Field.GUEST_IA32_SYSENTER_CS, "GUEST_IA32_SYSENTER_CS"],
  [Field.HOST_IA32_SYSENTER_CS, "HOST_IA32_SYSENTER_CS"],
  [Field.CR0_GUEST_HOST_MASK, "CR0_GUEST_HOST_MASK"],
  [Field.CR4_GUEST_HOST_MASK, "CR4_GUEST_HOST_MASK"],
  [Field.CR0_READ_SHADOW, "CR0_READ_SHADOW"],
  [Field.CR4_READ_SHADOW, "CR4_READ_SHADOW"],
  [Field.CR3_TARGET_VALUE0, "CR3_TARGET_VALUE0"],
  [Field.CR3_TARGET_VALUE1, "CR3_TARGET_VALUE1"],
  [Field.CR3_TARGET_VALUE2, "CR3_TARGET_VALUE2"],
  [Field.CR3_TARGET_VALUE3, "CR3_TARGET_VALUE3"],
  [Field.EXIT_QUALIFICATION, "EXIT_QUALIFICATION"],
  [Field.IO_RCX, "IO_RCX"],
  [Field.IO_RSI, "IO_RSI"],
  [Field.IO_RDI, "IO_RDI"],
  [Field.IO_RIP, "IO_RIP"],
  [Field.GUEST_LINEAR_ADDRESS, "GUEST_LINEAR_ADDRESS"],
  [Field.GUEST_CR0, "GUEST_CR0"],
  [Field.GUEST_CR3, "GUEST_CR3"],
  [Field.GUEST_CR4, "GUEST_CR4"],
  [Field.GUEST_ES_BASE, "GUEST_ES_BASE"],
  [Field.GUEST_CS_BASE, "GUEST_CS_BASE"],
  [Field.GUEST_SS_BASE, "GUEST_SS_BASE"],
  [Field.GUEST_DS_BASE, "GUEST_DS_BASE"],
  [Field.GUEST_FS_BASE, "GUEST_FS_BASE"],
  [Field.GUEST_GS_BASE, "GUEST_GS_BASE"],
  [Field.GUEST_LDTR_BASE, "GUEST_LDTR_BASE"],
  [Field.GUEST_TR_BASE, "GUEST_TR_BASE"],
  [Field.GUEST_GDTR_BASE, "GUEST_GDTR_BASE"],
  [Field.GUEST_IDTR_BASE, "GUEST_IDTR_BASE"],
  [Field.GUEST_DR7, "GUEST_DR7"],
  [Field.GUEST_RSP, "GUEST_RSP"],
  [Field.GUEST_RIP, "GUEST_RIP"],
  [Field.GUEST_RFLAGS, "GUEST_RFLAGS"],
  [Field.GUEST_PENDING_DBG_EXCEPTIONS, "GUEST_PENDING_DBG_EXCEPTIONS"],
  [Field.GUEST_IA32_SYSENTER_ESP, "GUEST_IA32_SYSENTER_ESP"],
  [Field.GUEST_IA32_SYSENTER_EIP, "GUEST_IA32_SYSENTER_EIP"],
  [Field.HOST_CR0, "HOST_CR0"],
  [Field.HOST_CR3, "HOST_CR3"],
  [Field.HOST_CR4, "HOST_CR4"],
  [Field.HOST_FS_BASE, "HOST_FS_BASE"],
  [Field.HOST_GS_BASE, "HOST_GS_BASE"],
  [Field.HOST_TR_BASE, "HOST_TR_BASE"],
  [Field.HOST_GDTR_BASE, "HOST_GDTR_BASE"],
  [Field.HOST_IDTR_BASE, "HOST_IDTR_BASE"],
  [Field.HOST_IA32_SYSENTER_ESP, "HOST_IA32_SYSENTER_ESP"],
  [Field.HOST_IA32_SYSENTER_EIP, "HOST_IA32_SYSENTER_EIP"],
  [Field.HOST_RSP, "HOST_RSP"],
  [Field.HOST_RIP, "HOST_RIP"],
];

/** Number of supported fields (storage slots). */
export const FIELD_COUNT = FIELDS.length;

/**
 * Storage slot per encoding >>> 1 (access type dropped), or -1: one table load per access. Only
 * valid for encodings that slotOf accepts; the processor's own accesses index it directly.
 */
export const SLOTS = new Int16Array(1 << 14).fill(-1);
FIELDS.forEach(([enc], slot) => {
  SLOTS[enc >>> 1] = slot;
});

/**
 * The storage slot of a supported field's encoding (either access type), or -1 when the encoding
 * names no field of this VMCS: reserved bits set, an unsupported component, or the high access
 * type on a field that is not 64 bits wide. VMREAD/VMWRITE fail with error 12 on -1.
 */
export function slotOf(enc: number): number {
  if (enc >>> 0 > 0x7fff || (enc & 0x1000) !== 0) return -1;
  if ((enc & 1) !== 0 && fieldWidth(enc) !== Width.W64) return -1;
  return SLOTS[enc >>> 1];
}

/** The SDM name of a field encoding (with "_HIGH" for a high access), or a hex string. */
export function fieldName(enc: number): string {
  const slot = slotOf(enc);
  if (slot < 0) return `0x${(enc >>> 0).toString(16)}`;
  return (enc & 1) !== 0 ? `${FIELDS[slot][1]}_HIGH` : FIELDS[slot][1];
}

/** The full encoding of a field by SDM name (as in FIELDS), or undefined. */
export function fieldByName(name: string): Field | undefined {
  for (const [enc, n] of FIELDS) if (n === name) return enc;
  return undefined;
}

/**
 * VMCS_ENUM (IA32_VMX_VMCS_ENUM bits 9:1): the highest index used by any supported encoding.
 */
export const HIGHEST_FIELD_INDEX = FIELDS.reduce((m, [enc]) => Math.max(m, fieldIndex(enc)), 0);

// Segment register fields in the order of the CPU's segment numbers (ES CS SS DS FS GS), which is
// also the order of their encodings: field(seg) = FIRST + 2 * seg.

/** Guest selector field of segment register `seg` (0 ES .. 5 GS, as src/x86 Seg). */
export function guestSelectorField(seg: number): Field {
  return (Field.GUEST_ES_SELECTOR + 2 * seg) as Field;
}
export function guestBaseField(seg: number): Field {
  return (Field.GUEST_ES_BASE + 2 * seg) as Field;
}
export function guestLimitField(seg: number): Field {
  return (Field.GUEST_ES_LIMIT + 2 * seg) as Field;
}
export function guestArField(seg: number): Field {
  return (Field.GUEST_ES_AR + 2 * seg) as Field;
}
/** Host selector field of `seg` (ES..GS); the host has no LDTR and its TR is HOST_TR_SELECTOR. */
export function hostSelectorField(seg: number): Field {
  return (Field.HOST_ES_SELECTOR + 2 * seg) as Field;
}
