// What a VM exit reports (SDM vol. 3, 24.9 and chapter 27; Appendix C): the exit reason, exit
// qualifications per reason, the interruption-information formats (VM-exit interruption
// information, IDT-vectoring information, VM-entry interruption information), and VM-exit
// instruction information. Encoders are allocation-free integer functions for the CPU; decoders
// return small objects for the kernel, the debugger and tests.

import { Vec } from "../x86/vectors.js";
import { Field } from "./fields.js";
import type { Vmcs } from "./vmcs.js";

/** Basic exit reasons (Appendix C, table C-1). */
export const enum ExitReason {
  EXCEPTION_NMI = 0,
  EXTERNAL_INTERRUPT = 1,
  TRIPLE_FAULT = 2,
  INIT = 3,
  SIPI = 4,
  IO_SMI = 5,
  OTHER_SMI = 6,
  INTERRUPT_WINDOW = 7,
  NMI_WINDOW = 8,
  TASK_SWITCH = 9,
  CPUID = 10,
  GETSEC = 11,
  HLT = 12,
  INVD = 13,
  INVLPG = 14,
  RDPMC = 15,
  RDTSC = 16,
  RSM = 17,
  VMCALL = 18,
  VMCLEAR = 19,
  VMLAUNCH = 20,
  VMPTRLD = 21,
  VMPTRST = 22,
  VMREAD = 23,
  VMRESUME = 24,
  VMWRITE = 25,
  VMXOFF = 26,
  VMXON = 27,
  CR_ACCESS = 28,
  MOV_DR = 29,
  IO_INSTRUCTION = 30,
  RDMSR = 31,
  WRMSR = 32,
  INVALID_GUEST_STATE = 33,
  MSR_LOADING = 34,
  MWAIT = 36,
  MONITOR_TRAP_FLAG = 37,
  MONITOR = 39,
  PAUSE = 40,
  MACHINE_CHECK_DURING_ENTRY = 41,
  TPR_BELOW_THRESHOLD = 43,
  APIC_ACCESS = 44,
  VIRTUALIZED_EOI = 45,
  GDTR_IDTR_ACCESS = 46,
  LDTR_TR_ACCESS = 47,
  EPT_VIOLATION = 48,
  EPT_MISCONFIG = 49,
  INVEPT = 50,
  RDTSCP = 51,
  PREEMPTION_TIMER = 52,
  INVVPID = 53,
  WBINVD = 54,
  XSETBV = 55,
  APIC_WRITE = 56,
  RDRAND = 57,
  INVPCID = 58,
  VMFUNC = 59,
  ENCLS = 60,
  RDSEED = 61,
  PML_FULL = 62,
  XSAVES = 63,
  XRSTORS = 64,
  PCONFIG = 65,
  SPP_EVENT = 66,
  UMWAIT = 67,
  TPAUSE = 68,
  LOADIWKEY = 69,
  ENCLV = 70,
  ENQCMD_PASID_FAILURE = 72,
  ENQCMDS_PASID_FAILURE = 73,
  BUS_LOCK = 74,
  INSTRUCTION_TIMEOUT = 75,
  SEAMCALL = 76,
  TDCALL = 77,
  RDMSRLIST = 78,
  WRMSRLIST = 79,
  URDMSR = 80,
  UWRMSR = 81,
}

/** Each basic exit reason with its name and the SDM's short description. */
export const EXIT_REASONS: readonly (readonly [ExitReason, string, string])[] = [
  [ExitReason.EXCEPTION_NMI, "EXCEPTION_NMI", "exception or NMI"],
  [ExitReason.EXTERNAL_INTERRUPT, "EXTERNAL_INTERRUPT", "external interrupt"],
  [ExitReason.TRIPLE_FAULT, "TRIPLE_FAULT", "triple fault"],
  [ExitReason.INIT, "INIT", "INIT signal"],
  [ExitReason.SIPI, "SIPI", "start-up IPI"],
  [ExitReason.IO_SMI, "IO_SMI", "I/O system-management interrupt"],
  [ExitReason.OTHER_SMI, "OTHER_SMI", "other SMI"],
  [ExitReason.INTERRUPT_WINDOW, "INTERRUPT_WINDOW", "interrupt window"],
  [ExitReason.NMI_WINDOW, "NMI_WINDOW", "NMI window"],
  [ExitReason.TASK_SWITCH, "TASK_SWITCH", "task switch"],
  [ExitReason.CPUID, "CPUID", "CPUID"],
  [ExitReason.GETSEC, "GETSEC", "GETSEC"],
  [ExitReason.HLT, "HLT", "HLT"],
  [ExitReason.INVD, "INVD", "INVD"],
  [ExitReason.INVLPG, "INVLPG", "INVLPG"],
  [ExitReason.RDPMC, "RDPMC", "RDPMC"],
  [ExitReason.RDTSC, "RDTSC", "RDTSC"],
  [ExitReason.RSM, "RSM", "RSM in SMM"],
  [ExitReason.VMCALL, "VMCALL", "VMCALL"],
  [ExitReason.VMCLEAR, "VMCLEAR", "VMCLEAR"],
  [ExitReason.VMLAUNCH, "VMLAUNCH", "VMLAUNCH"],
  [ExitReason.VMPTRLD, "VMPTRLD", "VMPTRLD"],
  [ExitReason.VMPTRST, "VMPTRST", "VMPTRST"],
  [ExitReason.VMREAD, "VMREAD", "VMREAD"],
  [ExitReason.VMRESUME, "VMRESUME", "VMRESUME"],
  [ExitReason.VMWRITE, "VMWRITE", "VMWRITE"],
  [ExitReason.VMXOFF, "VMXOFF", "VMXOFF"],
  [ExitReason.VMXON, "VMXON", "VMXON"],
  [ExitReason.CR_ACCESS, "CR_ACCESS", "control-register access"],
  [ExitReason.MOV_DR, "MOV_DR", "MOV DR"],
  [ExitReason.IO_INSTRUCTION, "IO_INSTRUCTION", "I/O instruction"],
  [ExitReason.RDMSR, "RDMSR", "RDMSR"],
  [ExitReason.WRMSR, "WRMSR", "WRMSR"],
  [ExitReason.INVALID_GUEST_STATE, "INVALID_GUEST_STATE", "VM-entry failure due to invalid guest state"],
  [ExitReason.MSR_LOADING, "MSR_LOADING", "VM-entry failure due to MSR loading"],
  [ExitReason.MWAIT, "MWAIT", "MWAIT"],
  [ExitReason.MONITOR_TRAP_FLAG, "MONITOR_TRAP_FLAG", "monitor trap flag"],
  [ExitReason.MONITOR, "MONITOR", "MONITOR"],
  [ExitReason.PAUSE, "PAUSE", "PAUSE"],
  [ExitReason.MACHINE_CHECK_DURING_ENTRY, "MACHINE_CHECK_DURING_ENTRY", "VM-entry failure due to machine-check event"],
  [ExitReason.TPR_BELOW_THRESHOLD, "TPR_BELOW_THRESHOLD", "TPR below threshold"],
  [ExitReason.APIC_ACCESS, "APIC_ACCESS", "APIC access"],
  [ExitReason.VIRTUALIZED_EOI, "VIRTUALIZED_EOI", "virtualized EOI"],
  [ExitReason.GDTR_IDTR_ACCESS, "GDTR_IDTR_ACCESS", "access to GDTR or IDTR"],
  [ExitReason.LDTR_TR_ACCESS, "LDTR_TR_ACCESS", "access to LDTR or TR"],
  [ExitReason.EPT_VIOLATION, "EPT_VIOLATION", "EPT violation"],
  [ExitReason.EPT_MISCONFIG, "EPT_MISCONFIG", "EPT misconfiguration"],
  [ExitReason.INVEPT, "INVEPT", "INVEPT"],
  [ExitReason.RDTSCP, "RDTSCP", "RDTSCP"],
  [ExitReason.PREEMPTION_TIMER, "PREEMPTION_TIMER", "VMX-preemption timer expired"],
  [ExitReason.INVVPID, "INVVPID", "INVVPID"],
  [ExitReason.WBINVD, "WBINVD", "WBINVD or WBNOINVD"],
  [ExitReason.XSETBV, "XSETBV", "XSETBV"],
  [ExitReason.APIC_WRITE, "APIC_WRITE", "APIC write"],
  [ExitReason.RDRAND, "RDRAND", "RDRAND"],
  [ExitReason.INVPCID, "INVPCID", "INVPCID"],
  [ExitReason.VMFUNC, "VMFUNC", "VMFUNC"],
  [ExitReason.ENCLS, "ENCLS", "ENCLS"],
  [ExitReason.RDSEED, "RDSEED", "RDSEED"],
  [ExitReason.PML_FULL, "PML_FULL", "page-modification log full"],
  [ExitReason.XSAVES, "XSAVES", "XSAVES"],
  [ExitReason.XRSTORS, "XRSTORS", "XRSTORS"],
  [ExitReason.PCONFIG, "PCONFIG", "PCONFIG"],
  [ExitReason.SPP_EVENT, "SPP_EVENT", "SPP-related event"],
  [ExitReason.UMWAIT, "UMWAIT", "UMWAIT"],
  [ExitReason.TPAUSE, "TPAUSE", "TPAUSE"],
  [ExitReason.LOADIWKEY, "LOADIWKEY", "LOADIWKEY"],
  [ExitReason.ENCLV, "ENCLV", "ENCLV"],
  [ExitReason.ENQCMD_PASID_FAILURE, "ENQCMD_PASID_FAILURE", "ENQCMD PASID translation failure"],
  [ExitReason.ENQCMDS_PASID_FAILURE, "ENQCMDS_PASID_FAILURE", "ENQCMDS PASID translation failure"],
  [ExitReason.BUS_LOCK, "BUS_LOCK", "bus lock"],
  [ExitReason.INSTRUCTION_TIMEOUT, "INSTRUCTION_TIMEOUT", "instruction timeout"],
  [ExitReason.SEAMCALL, "SEAMCALL", "SEAMCALL"],
  [ExitReason.TDCALL, "TDCALL", "TDCALL"],
  [ExitReason.RDMSRLIST, "RDMSRLIST", "RDMSRLIST"],
  [ExitReason.WRMSRLIST, "WRMSRLIST", "WRMSRLIST"],
  [ExitReason.URDMSR, "URDMSR", "URDMSR"],
  [ExitReason.UWRMSR, "UWRMSR", "UWRMSR"],
];

const REASON_NAMES: string[] = [];
for (const [r, name] of EXIT_REASONS) REASON_NAMES[r] = name;

/** The name of a basic exit reason ("IO_INSTRUCTION"), or "REASON_n" for an unassigned number. */
export function exitReasonName(reason: number): string {
  return REASON_NAMES[reason & 0xffff] ?? `REASON_${reason & 0xffff}`;
}

// ------------------------------------------------------------------------------------------------
// The exit-reason field (24.9.1, table 24-14)

/** Bit 31 of the exit-reason field: the VM entry failed (reasons 33, 34, 41). */
export const EXIT_REASON_ENTRY_FAILURE = 1 << 31;
/** Bit 28: a pending MTF VM exit. */
export const EXIT_REASON_PENDING_MTF = 1 << 28;

/** The exit-reason field of a failed VM entry (33 invalid guest state, 34 MSR loading, 41 #MC). */
export function entryFailureReason(basic: ExitReason): number {
  return (basic | EXIT_REASON_ENTRY_FAILURE) >>> 0;
}

/** Exit qualification of a VM entry that fails on guest state (reason 33; SDM 26.8). */
export const enum EntryFailureQual {
  DEFAULT = 0,
  PDPTE_LOADING = 2,
  NMI_INJECTION_BLOCKED_BY_STI = 3,
  INVALID_VMCS_LINK_POINTER = 4,
}

// ------------------------------------------------------------------------------------------------
// Exit qualifications (27.2.1, tables 27-1 to 27-7). Some need no encoder: an INVLPG exit's
// qualification is the linear-address operand; a #PF exception exit's is the faulting linear
// address (CR2 is not written); a VM-entry failure's is an EntryFailureQual.

/** Qualification of a debug-exception exit: B3-B0 (bits 3:0), BD (13), BS (14). */
export const enum DebugQual { B0 = 1, B1 = 2, B2 = 4, B3 = 8, BD = 1 << 13, BS = 1 << 14 }

/** Source of a task switch (table 27-2, bits 31:30). */
export const enum TaskSource { CALL = 0, IRET = 1, JMP = 2, TASK_GATE = 3 }

/** Task-switch qualification: selector of the new TSS and what started the switch. */
export function taskSwitchQualification(selector: number, source: TaskSource): number {
  return ((selector & 0xffff) | (source << 30)) >>> 0;
}

export function decodeTaskSwitch(q: number): { selector: number; source: TaskSource } {
  return { selector: q & 0xffff, source: (q >>> 30) as TaskSource };
}

/** Access types of a control-register access (table 27-3, bits 5:4). */
export const enum CrAccess { MOV_TO_CR = 0, MOV_FROM_CR = 1, CLTS = 2, LMSW = 3 }

/**
 * Control-register access qualification: CR number (bits 3:0; 0 for CLTS and LMSW), access type
 * (5:4), LMSW operand in memory (6), the general register of a MOV (11:8, src/x86 Reg numbers)
 * and LMSW's 16-bit source data (31:16).
 */
export function crQualification(cr: number, access: CrAccess, gpr = 0, lmswMemory = false, lmswSource = 0): number {
  return ((cr & 0xf) | (access << 4) | (lmswMemory ? 0x40 : 0) | ((gpr & 0xf) << 8) | ((lmswSource & 0xffff) << 16)) >>> 0;
}

export interface CrQual {
  cr: number;
  access: CrAccess;
  lmswMemory: boolean;
  gpr: number;
  lmswSource: number;
}

export function decodeCrQualification(q: number): CrQual {
  return { cr: q & 0xf, access: ((q >>> 4) & 3) as CrAccess, lmswMemory: (q & 0x40) !== 0, gpr: (q >>> 8) & 0xf, lmswSource: q >>> 16 };
}

/** MOV DR qualification (table 27-4): DR number (2:0), direction (4: 1 = from DR), GPR (11:8). */
export function drQualification(dr: number, fromDr: boolean, gpr: number): number {
  return (dr & 7) | (fromDr ? 0x10 : 0) | ((gpr & 0xf) << 8);
}

export function decodeDrQualification(q: number): { dr: number; fromDr: boolean; gpr: number } {
  return { dr: q & 7, fromDr: (q & 0x10) !== 0, gpr: (q >>> 8) & 0xf };
}

/**
 * I/O-instruction qualification (table 27-5): size of access (2:0: 0, 1 or 3 for 1, 2 or 4
 * bytes), direction (3: 1 = IN), string instruction (4), REP prefix (5), operand encoding (6:
 * 1 = immediate port, 0 = DX), port (31:16).
 */
export function ioQualification(port: number, size: 1 | 2 | 4, input: boolean, string = false, rep = false, immediate = false): number {
  return ((size - 1) | (input ? 8 : 0) | (string ? 0x10 : 0) | (rep ? 0x20 : 0) | (immediate ? 0x40 : 0) | ((port & 0xffff) << 16)) >>> 0;
}

export interface IoQual {
  port: number;
  size: 1 | 2 | 4;
  input: boolean;
  string: boolean;
  rep: boolean;
  immediate: boolean;
}

/**
 * The fields of an I/O qualification one at a time, for the per-exit paths (decodeIoQualification
 * makes an object of them all).
 */
export const enum IoQualBit { INPUT = 8, STRING = 0x10, REP = 0x20, IMMEDIATE = 0x40 }
export function ioQualPort(q: number): number {
  return q >>> 16;
}
export function ioQualSize(q: number): 1 | 2 | 4 {
  return ((q & 7) + 1) as 1 | 2 | 4;
}

export function decodeIoQualification(q: number): IoQual {
  return {
    port: q >>> 16,
    size: ((q & 7) + 1) as 1 | 2 | 4,
    input: (q & 8) !== 0,
    string: (q & 0x10) !== 0,
    rep: (q & 0x20) !== 0,
    immediate: (q & 0x40) !== 0,
  };
}

/** EPT-violation qualification bits (table 27-7). */
export const enum EptQual {
  READ = 1 << 0,
  WRITE = 1 << 1,
  FETCH = 1 << 2,
  READABLE = 1 << 3,
  WRITABLE = 1 << 4,
  EXECUTABLE = 1 << 5,
  /** Bit 7: the guest-linear-address field is valid. */
  LINEAR_VALID = 1 << 7,
  /** Bit 8 (with bit 7): the access was to the translation of a linear address, not to a guest paging-structure entry. */
  TRANSLATION = 1 << 8,
  /** Bit 12: the fault came during an IRET that unblocked NMIs (virtual NMIs). */
  NMI_UNBLOCKING = 1 << 12,
}

/** How the guest-physical address of an EPT violation came about (bits 8:7). */
export const enum GuestLinear {
  /** No linear address: PDPTE loading, a physical access. Bits 8:7 = 00. */
  NONE = 0,
  /** An access to a guest paging-structure entry during a linear translation. Bits 8:7 = 01. */
  PAGING_STRUCTURE = 1,
  /** The final access of a linear translation. Bits 8:7 = 11. */
  TRANSLATION = 3,
}

/**
 * EPT-violation qualification: the access (bits 2:0, EptAccess R/W/X), the AND of the R/W/X bits of
 * the EPT entries walked (5:3; 0 when an entry was not present), the guest-linear kind (8:7) and
 * NMI unblocking (12). Bit 6 (user-mode executable) and bits 11:9 (advanced information) are 0:
 * no mode-based execute control, no advanced EPT-violation information.
 */
export function eptViolationQualification(access: number, perms: number, linear: GuestLinear, nmiUnblocking = false): number {
  return (access & 7) | ((perms & 7) << 3) | (linear << 7) | (nmiUnblocking ? EptQual.NMI_UNBLOCKING : 0);
}

export interface EptViolationQual {
  read: boolean;
  write: boolean;
  fetch: boolean;
  readable: boolean;
  writable: boolean;
  executable: boolean;
  linearValid: boolean;
  translation: boolean;
  nmiUnblocking: boolean;
}

export function decodeEptViolation(q: number): EptViolationQual {
  return {
    read: (q & EptQual.READ) !== 0,
    write: (q & EptQual.WRITE) !== 0,
    fetch: (q & EptQual.FETCH) !== 0,
    readable: (q & EptQual.READABLE) !== 0,
    writable: (q & EptQual.WRITABLE) !== 0,
    executable: (q & EptQual.EXECUTABLE) !== 0,
    linearValid: (q & EptQual.LINEAR_VALID) !== 0,
    translation: (q & (EptQual.LINEAR_VALID | EptQual.TRANSLATION)) === (EptQual.LINEAR_VALID | EptQual.TRANSLATION),
    nmiUnblocking: (q & EptQual.NMI_UNBLOCKING) !== 0,
  };
}

// ------------------------------------------------------------------------------------------------
// Interruption information (24.8.3 table 24-13, 24.9.2 table 24-15, 24.9.3 table 24-16)

/** Interruption types (bits 10:8). */
export const enum IntType {
  EXTERNAL = 0,
  NMI = 2,
  HARDWARE_EXCEPTION = 3,
  SOFTWARE_INTERRUPT = 4,
  PRIVILEGED_SOFTWARE_EXCEPTION = 5,
  SOFTWARE_EXCEPTION = 6,
  OTHER_EVENT = 7,
}

export const INT_INFO_ERROR_CODE = 1 << 11;
/** VM-exit interruption information only: the exit came while IRET unblocked NMIs. */
export const INT_INFO_NMI_UNBLOCKING = 1 << 12;
export const INT_INFO_VALID = 1 << 31;

/** An interruption-information word: vector, type, error-code flag and the valid bit. */
export function intInfo(vector: number, type: IntType, errorCode = false): number {
  return ((vector & 0xff) | (type << 8) | (errorCode ? INT_INFO_ERROR_CODE : 0) | INT_INFO_VALID) >>> 0;
}

export interface IntInfo {
  valid: boolean;
  vector: number;
  type: IntType;
  errorCode: boolean;
  nmiUnblocking: boolean;
}

export function decodeIntInfo(info: number): IntInfo {
  return {
    valid: (info & INT_INFO_VALID) !== 0,
    vector: info & 0xff,
    type: ((info >>> 8) & 7) as IntType,
    errorCode: (info & INT_INFO_ERROR_CODE) !== 0,
    nmiUnblocking: (info & INT_INFO_NMI_UNBLOCKING) !== 0,
  };
}

/**
 * The interruption type an exception reports in exit and IDT-vectoring information: #BP from INT3
 * and #OF from INTO are software exceptions, #DB from INT1 (ICEBP) a privileged software exception,
 * NMI (vector 2, not from INT 2) an NMI, everything else a hardware exception.
 */
export function exceptionType(vector: number, fromInt3OrInto = false, fromInt1 = false): IntType {
  if (fromInt1) return IntType.PRIVILEGED_SOFTWARE_EXCEPTION;
  if (fromInt3OrInto) return IntType.SOFTWARE_EXCEPTION;
  return vector === Vec.NMI ? IntType.NMI : IntType.HARDWARE_EXCEPTION;
}

// ------------------------------------------------------------------------------------------------
// VM-exit instruction information (27.2.5)

/** Address sizes in instruction information (bits 9:7). */
export const enum AddrSize { A16 = 0, A32 = 1 }

/**
 * Instruction information of an INS/OUTS exit (table 27-8): address size (9:7) and, for OUTS, the
 * segment register of the source (17:15, src/x86 Seg numbers; undefined for INS, reported as ES).
 */
export function insOutsInfo(addrSize: 16 | 32, seg: number): number {
  return ((addrSize === 32 ? AddrSize.A32 : AddrSize.A16) << 7) | ((seg & 7) << 15);
}

/**
 * Instruction information of VMX instructions (VMCLEAR VMPTRLD VMPTRST VMXON INVEPT VMREAD
 * VMWRITE; tables 27-9, 27-13, 27-14): scaling (1:0), register operand reg1 (6:3, VMREAD/VMWRITE
 * with a register operand), address size (9:7), register (1) or memory (0) operand (10), segment
 * (17:15), index (21:18, invalid 22), base (26:23, invalid 27), reg2 (31:28). `index`/`base` are
 * src/x86 Reg numbers or -1 for none.
 */
export function vmxInsnInfo(o: {
  scale?: number; reg1?: number; addrSize?: 16 | 32; register?: boolean; seg?: number; index?: number; base?: number; reg2?: number;
}): number {
  const index = o.index ?? -1, base = o.base ?? -1;
  return ((o.scale ?? 0) & 3) | (((o.reg1 ?? 0) & 0xf) << 3) | ((o.addrSize === 16 ? AddrSize.A16 : AddrSize.A32) << 7) |
    (o.register ? 1 << 10 : 0) | (((o.seg ?? 0) & 7) << 15) |
    (index < 0 ? 1 << 22 : (index & 0xf) << 18) | (base < 0 ? 1 << 27 : (base & 0xf) << 23) |
    (((o.reg2 ?? 0) & 0xf) << 28);
}

/** The instruction-caused exits (instruction length is recorded, 27.2.4). */
const INSTRUCTION_EXITS = new Uint8Array(128);
for (const r of [
  ExitReason.CPUID, ExitReason.GETSEC, ExitReason.HLT, ExitReason.INVD, ExitReason.INVLPG, ExitReason.RDPMC,
  ExitReason.RDTSC, ExitReason.RSM, ExitReason.VMCALL, ExitReason.VMCLEAR, ExitReason.VMLAUNCH, ExitReason.VMPTRLD,
  ExitReason.VMPTRST, ExitReason.VMREAD, ExitReason.VMRESUME, ExitReason.VMWRITE, ExitReason.VMXOFF, ExitReason.VMXON,
  ExitReason.CR_ACCESS, ExitReason.MOV_DR, ExitReason.IO_INSTRUCTION, ExitReason.RDMSR, ExitReason.WRMSR,
  ExitReason.MWAIT, ExitReason.MONITOR, ExitReason.PAUSE, ExitReason.GDTR_IDTR_ACCESS, ExitReason.LDTR_TR_ACCESS,
  ExitReason.INVEPT, ExitReason.RDTSCP, ExitReason.INVVPID, ExitReason.WBINVD, ExitReason.XSETBV, ExitReason.RDRAND,
  ExitReason.INVPCID, ExitReason.VMFUNC, ExitReason.ENCLS, ExitReason.RDSEED, ExitReason.XSAVES, ExitReason.XRSTORS,
  ExitReason.PCONFIG, ExitReason.UMWAIT, ExitReason.TPAUSE, ExitReason.LOADIWKEY, ExitReason.ENCLV,
  ExitReason.SEAMCALL, ExitReason.TDCALL, ExitReason.RDMSRLIST, ExitReason.WRMSRLIST, ExitReason.URDMSR, ExitReason.UWRMSR,
]) INSTRUCTION_EXITS[r] = 1;

/**
 * Whether an exit records the VM-exit instruction length (27.2.4): exits caused by executing an
 * instruction, and — for the event-driven reasons — exits where the event was a software
 * interrupt or exception (INT n, INT3, INTO, INT1), as the CPU says with `softwareEvent`. A task
 * switch records it when CALL, JMP, IRET or INT n started it.
 */
export function recordsInstructionLength(reason: number, softwareEvent = false): boolean {
  return INSTRUCTION_EXITS[reason & 0x7f] === 1 || softwareEvent;
}

/** The VMX instructions, which cause exits unconditionally in VMX non-root operation (25.1.2). */
export function isVmxInstructionExit(reason: number): boolean {
  return (reason >= ExitReason.VMCALL && reason <= ExitReason.VMXON) || reason === ExitReason.INVEPT || reason === ExitReason.INVVPID;
}

// ------------------------------------------------------------------------------------------------
// Recording an exit (27.2): the exit-information fields, written through the processor's access

/**
 * Writes the basic exit information: reason, qualification, instruction length and instruction
 * information, guest-linear and guest-physical addresses (0 when the exit does not define them);
 * clears the exit interruption information and IDT-vectoring valid bits (set them afterwards with
 * recordExitEvent / recordIdtVectoring); clears the VM-entry interruption information's valid bit,
 * as every VM exit does (27.2.3).
 */
export function recordExit(v: Vmcs, reason: number, qualification = 0, insnLen = 0, insnInfo = 0, linear = 0, physical = 0): void {
  v.write(Field.VM_EXIT_REASON, reason);
  v.write(Field.EXIT_QUALIFICATION, qualification);
  v.write(Field.VM_EXIT_INSTRUCTION_LEN, insnLen);
  v.write(Field.VM_EXIT_INSTRUCTION_INFO, insnInfo);
  v.write(Field.GUEST_LINEAR_ADDRESS, linear);
  v.write64(Field.GUEST_PHYSICAL_ADDRESS, physical, 0);
  v.write(Field.VM_EXIT_INTR_INFO, 0);
  v.write(Field.IDT_VECTORING_INFO, 0);
  v.write(Field.VM_ENTRY_INTR_INFO, v.read(Field.VM_ENTRY_INTR_INFO) & ~INT_INFO_VALID);
}

/** The event that caused an exception/NMI or acknowledged external-interrupt exit. */
export function recordExitEvent(v: Vmcs, info: number, errorCode = 0): void {
  v.write(Field.VM_EXIT_INTR_INFO, info);
  v.write(Field.VM_EXIT_INTR_ERROR_CODE, errorCode);
}

/** The event whose delivery the exit interrupted (IDT-vectoring information; bit 12 is undefined, 0). */
export function recordIdtVectoring(v: Vmcs, info: number, errorCode = 0): void {
  v.write(Field.IDT_VECTORING_INFO, info & ~INT_INFO_NMI_UNBLOCKING);
  v.write(Field.IDT_VECTORING_ERROR_CODE, errorCode);
}
