// The whole user interface of Afterglow's L4 kernel: what a user task (the root task, sigma0, the
// VMM) may know about the kernel. It follows the L4 X.2 reference manual as L4Ka::Pistachio
// implements it on ia32 (user/include/l4/{types,message,ipc}.h), with the thesis's extension for
// Intel VT-x: a VCPU thread whose VM exits arrive as virtualization-fault IPC.
//
// Words are 32-bit unsigned numbers. Layouts of thread ids, message tags, flexpages, map/grant
// items and acceptors are bit-exact X.2/ia32, so a message reads the same as on Pistachio.
// User threads are TypeScript "programs" (see UserProgram at the end): a step function that the
// kernel resumes with the result of its last system call and that returns its next one.
//
// Nothing here holds state; it is types, constants and small pure encode/decode functions.

import { exitReasonName as vmxExitName } from "../vmx/exits.js";

/** A 32-bit word, as an unsigned number (0 .. 2^32-1). */
export type Word = number;

// ------------------------------------------------------------------------------------------------
// Thread ids (X.2 2.1): a global id is thread number (18 bits) << 14 | version (14 bits).

export type ThreadId = number;

export const NIL_THREAD: ThreadId = 0;
export const ANY_THREAD: ThreadId = 0xffffffff;

export function globalId(threadNo: number, version: number): ThreadId {
  return ((threadNo << 14) | (version & 0x3fff)) >>> 0;
}

export function threadNo(t: ThreadId): number {
  return t >>> 14;
}

export function threadVersion(t: ThreadId): number {
  return t & 0x3fff;
}

// ------------------------------------------------------------------------------------------------
// Error codes of system calls other than Ipc (X.2 "ErrorCode" TCR; Pistachio l4/types.h).

export const enum L4Error {
  OK = 0,
  NO_PRIVILEGE = 1,
  INVALID_THREAD = 2,
  INVALID_SPACE = 3,
  INVALID_SCHEDULER = 4,
  INVALID_PARAM = 5,
  UTCB_AREA = 6,
  KIP_AREA = 7,
  NO_MEM = 8,
}

// ------------------------------------------------------------------------------------------------
// Message tag, MR0 (X.2 5.1): label (16) << 16 | flags (4) << 12 | t (6) << 6 | u (6).

export const MR_COUNT = 64;

/** Flag bits of a message tag (in the 4-bit flags field). E marks a failed IPC. */
export const enum TagFlag {
  PROPAGATED = 1,
  REDIRECTED = 2,
  XCPU = 4,
  ERROR = 8,
}

export function msgTag(label: number, u: number, t: number, flags = 0): Word {
  return (((label & 0xffff) << 16) | ((flags & 0xf) << 12) | ((t & 0x3f) << 6) | (u & 0x3f)) >>> 0;
}

export function tagLabel(tag: Word): number {
  return tag >>> 16;
}

export function tagU(tag: Word): number {
  return tag & 0x3f;
}

export function tagT(tag: Word): number {
  return (tag >>> 6) & 0x3f;
}

export function tagFlags(tag: Word): number {
  return (tag >>> 12) & 0xf;
}

export function ipcFailed(tag: Word): boolean {
  return (tag & 0x8000) !== 0;
}

// ------------------------------------------------------------------------------------------------
// IPC error codes (X.2 5.3): ErrorCode = offset << 4 | err << 1 | p, p = 1 in the receive phase.

export const enum IpcError {
  TIMEOUT = 1,
  NOT_EXIST = 2,
  CANCELED = 3,
  MSG_OVERFLOW = 4,
  XFER_TIMEOUT_CURRENT = 5,
  XFER_TIMEOUT_PARTNER = 6,
  ABORTED = 7,
}

export function ipcErrorCode(err: IpcError, receivePhase: boolean, offset = 0): Word {
  return ((offset << 4) | (err << 1) | (receivePhase ? 1 : 0)) >>> 0;
}

export function ipcErrorKind(code: Word): IpcError {
  return (code >>> 1) & 7;
}

export function ipcErrorInReceive(code: Word): boolean {
  return (code & 1) !== 0;
}

// ------------------------------------------------------------------------------------------------
// Timeouts. X.2 packs them into 16-bit floating-point microseconds; the model's clock counts
// nanoseconds, so a timeout here is a plain number: NEVER, ZERO, or a relative time in ns.

export type Timeout = number;

export const NEVER: Timeout = -1;
export const ZERO: Timeout = 0;

// ------------------------------------------------------------------------------------------------
// Flexpages (X.2 4.1): base (22 bits, aligned to the size) << 10 | s (6) << 4 | 0 | rwx.
// s = 1 with base 0 is the complete address space; the raw word 0 is the nil fpage.

export type Fpage = Word;

export const enum Rights {
  NONE = 0,
  X = 1,
  W = 2,
  R = 4,
  RW = 6,
  RX = 5,
  RWX = 7,
}

export const NIL_FPAGE: Fpage = 0;
export const COMPLETE_FPAGE: Fpage = 1 << 4;

/** The fpage of 2^log2 bytes at base (log2 >= 10; base aligned to the size), with rights. */
export function fpage(base: Word, log2: number, rights: number = Rights.NONE): Fpage {
  return ((base & ~0x3ff) | ((log2 & 0x3f) << 4) | (rights & 7)) >>> 0;
}

/** log2 of the fpage's size; 32 for the complete address space, 0 for the nil fpage. */
export function fpageLog2(f: Fpage): number {
  const s = (f >>> 4) & 0x3f;
  if (s === 1 && (f & ~0x3ff) === 0) return 32;
  return s;
}

export function fpageBase(f: Fpage): Word {
  const s = fpageLog2(f);
  if (s >= 32) return 0;
  return (f & ~0x3ff & ~((2 ** s - 1) >>> 0)) >>> 0;
}

export function fpageRights(f: Fpage): number {
  return f & 7;
}

export function withRights(f: Fpage, rights: number): Fpage {
  return ((f & ~7) | (rights & 7)) >>> 0;
}

export function isNilFpage(f: Fpage): boolean {
  return f === 0;
}

// I/O flexpages (X.2 ia32 appendix): port (16) << 16 | s (6) << 10 | 2 (6) << 4 | rwx (4).

export function ioFpage(port: number, log2: number, rights: number = Rights.NONE): Fpage {
  return (((port & 0xffff) << 16) | ((log2 & 0x3f) << 10) | (2 << 4) | (rights & 0xf)) >>> 0;
}

export function isIoFpage(f: Fpage): boolean {
  return ((f >>> 4) & 0x3f) === 2;
}

export function ioFpagePort(f: Fpage): number {
  return f >>> 16;
}

export function ioFpageLog2(f: Fpage): number {
  return (f >>> 10) & 0x3f;
}

// ------------------------------------------------------------------------------------------------
// Typed items (X.2 5.2). A map or grant item is two words: snd_base (22) << 10 | 0 | type << 1 | C,
// then the fpage. Type 4 (100b) maps, type 5 (101b) grants. String items are not supported.

export const enum ItemType {
  MAP = 4,
  GRANT = 5,
}

/** Writes a map (or grant) item into mr[index], mr[index+1]; returns the next free index. */
export function putMapItem(mr: Uint32Array, index: number, f: Fpage, sndBase: Word, grant = false): number {
  mr[index] = ((sndBase & ~0x3ff) | ((grant ? ItemType.GRANT : ItemType.MAP) << 1)) >>> 0;
  mr[index + 1] = f;
  return index + 2;
}

export function itemType(word0: Word): number {
  return (word0 >>> 1) & 7;
}

export function itemSndBase(word0: Word): Word {
  return (word0 & ~0x3ff) >>> 0;
}

/** Receive acceptor, BR0 (X.2 5.4): the receive window fpage with the low four bits cleared. */
export type Acceptor = Word;

export function acceptor(rcvWindow: Fpage): Acceptor {
  return (rcvWindow & ~0xf) >>> 0;
}

export const UNTYPED_ONLY: Acceptor = 0;

// ------------------------------------------------------------------------------------------------
// Kernel-generated messages. Their labels are negative (16-bit two's complement) as in X.2.
//
//   interrupt        label -1 << 4 (0xfff0), u = 0, from the interrupt thread; reply to acknowledge
//   page fault       label -2 << 4 | rwx (0xffe0 | rwx), MR1 fault address, MR2 fault IP;
//                    the pager replies with a map item (the faulter's window is its whole space)
//   exception        label -5 << 4 (0xffb0), u = 12: MR1 EIP, MR2 EFLAGS, MR3 vector, MR4 error
//                    code, MR5..12 EDI ESI EBP ESP EBX EDX ECX EAX; the reply's words write them back
//   sigma0 request   label -6 << 4 (0xffa0), MR1 the fpage wanted, MR2 attributes (user protocol)
//   I/O fault        label -8 << 4 | rw (0xff80 | rw), MR1 the I/O fpage of the port, MR2 fault IP
//   virtualization   label 0xf800 | exit reason, MR1 qualification, MR2 instruction length,
//     fault          MR3 the transfer mask actually sent, MR4.. the guest-state words it names

export const enum Label {
  INTERRUPT = 0xfff0,
  PAGE_FAULT = 0xffe0,
  PREEMPTION = 0xffd0,
  SYSTEM_EXCEPTION = 0xffc0,
  EXCEPTION = 0xffb0,
  SIGMA0 = 0xffa0,
  IO_FAULT = 0xff80,
  VFAULT = 0xf800,
}

export function isPageFaultLabel(label: number): boolean {
  return (label & 0xfff0) === Label.PAGE_FAULT;
}

export function isIoFaultLabel(label: number): boolean {
  return (label & 0xfff0) === Label.IO_FAULT;
}

export function isVfaultLabel(label: number): boolean {
  return (label & 0xff00) === Label.VFAULT;
}

export function vfaultLabel(reason: number): number {
  return Label.VFAULT | (reason & 0xff);
}

export function vfaultReason(label: number): number {
  return label & 0xff;
}

/** Word positions of the exception message (MR index). */
export const enum ExcMr {
  EIP = 1,
  EFLAGS = 2,
  VECTOR = 3,
  ERROR_CODE = 4,
  EDI = 5,
  ESI = 6,
  EBP = 7,
  ESP = 8,
  EBX = 9,
  EDX = 10,
  ECX = 11,
  EAX = 12,
}

// ------------------------------------------------------------------------------------------------
// The virtualization extension.
//
// A vfault's label carries a VMX basic exit reason (src/vmx's ExitReason, Intel SDM vol. 3,
// appendix C), or one of two that are the kernel's own (VcpuReason): STARTUP is the first
// message of a VCPU before it ever ran (so the handler can load the initial guest state), RECALL
// answers ExchangeRegisters(RECALL) on a VCPU in the guest.

/** The kernel's own vfault reasons, numbered where VMX has no exit reason. */
export const enum VcpuReason {
  RECALL = 0xfd,
  STARTUP = 0xfe,
}

/** A vfault reason's name: VMX's ("IO_INSTRUCTION"), or the kernel's STARTUP and RECALL. */
export function exitName(reason: number): string {
  if (reason === VcpuReason.STARTUP) return "STARTUP";
  if (reason === VcpuReason.RECALL) return "RECALL";
  return vmxExitName(reason);
}

/**
 * Exit qualifications and event information in a vfault are VMX's formats; their decoders come
 * from src/vmx, so a handler reads them as the CPU wrote them (the VMM imports them from here).
 */
export {
  EXIT_REASONS,
  ExitReason,
  CrAccess,
  IntType,
  TaskSource,
  decodeCrQualification,
  decodeDrQualification,
  decodeEptViolation,
  decodeIntInfo,
  decodeIoQualification,
  decodeTaskSwitch,
  ioQualPort,
  ioQualSize,
  IoQualBit,
  exitReasonName,
  type CrQual,
  type EptViolationQual,
  type IntInfo,
  type IoQual,
} from "../vmx/exits.js";

/**
 * The processor-based VM-execution controls, as the PROC_CTLS and PROC_CTLS2 words of Xfer.CTRL
 * carry them: a VMM chooses its exits (HLT, RDTSC, INVLPG, CR3, I/O...) by these bits.
 */
export { Proc, Proc2 } from "../vmx/controls.js";

/** The guest activity states of GuestField.ACTIVITY (active, HLT...). */
export { Activity } from "../vmx/controls.js";

/**
 * Guest-state words, in transfer order. A vfault message carries the words of the groups its
 * transfer mask names (see Xfer), group by group in ascending bit order, each group's words in
 * the order listed here; a reply writes back the groups its own mask names in the same layout.
 * Segment attributes use the VMX access-rights format.
 */
export const enum GuestField {
  // Xfer.GPR_ACDB
  EAX, ECX, EDX, EBX,
  // Xfer.GPR_BSD
  EBP, ESI, EDI,
  // Xfer.ESP, EIP, EFLAGS
  ESP, EIP, EFLAGS,
  // Xfer.DS_ES
  DS_SEL, DS_BASE, DS_LIMIT, DS_ATTR, ES_SEL, ES_BASE, ES_LIMIT, ES_ATTR,
  // Xfer.FS_GS
  FS_SEL, FS_BASE, FS_LIMIT, FS_ATTR, GS_SEL, GS_BASE, GS_LIMIT, GS_ATTR,
  // Xfer.CS_SS
  CS_SEL, CS_BASE, CS_LIMIT, CS_ATTR, SS_SEL, SS_BASE, SS_LIMIT, SS_ATTR,
  // Xfer.TR, LDTR
  TR_SEL, TR_BASE, TR_LIMIT, TR_ATTR, LDTR_SEL, LDTR_BASE, LDTR_LIMIT, LDTR_ATTR,
  // Xfer.GDTR, IDTR
  GDTR_BASE, GDTR_LIMIT, IDTR_BASE, IDTR_LIMIT,
  // Xfer.CR
  CR0, CR2, CR3, CR4,
  // Xfer.DR: DR7, and DR6 (which the VMCS does not hold: the platform keeps it with the GPRs)
  DR7, DR6,
  // Xfer.SYSENTER
  SYSENTER_CS, SYSENTER_ESP, SYSENTER_EIP,
  // Xfer.QUAL (read only)
  GUEST_LINEAR, GUEST_PHYSICAL,
  // Xfer.STATE: interruptibility state and activity state (0 active, 1 HLT, ...)
  INTERRUPTIBILITY, ACTIVITY,
  // Xfer.EVENT (read only): VM-exit interruption information and IDT-vectoring information
  EXIT_INTR_INFO, EXIT_INTR_ERROR, IDT_VECTORING_INFO, IDT_VECTORING_ERROR,
  // Xfer.INJ: VM-entry interruption information (valid bit 31 | deliver-error 11 | type 10:8 |
  // vector 7:0), error code, instruction length (for software interrupts and exceptions)
  ENTRY_INTR_INFO, ENTRY_ERROR_CODE, ENTRY_INSTR_LEN,
  // Xfer.CTRL: CR0/CR4 guest/host masks and read shadows, exception bitmap, processor controls
  CR0_MASK, CR0_SHADOW, CR4_MASK, CR4_SHADOW, EXCEPTION_BITMAP, PROC_CTLS, PROC_CTLS2,
  // Xfer.TSC: TSC offset
  TSC_OFFSET_LO, TSC_OFFSET_HI,
  // Xfer.PDPTE: the four PAE PDPTEs
  PDPTE0_LO, PDPTE0_HI, PDPTE1_LO, PDPTE1_HI, PDPTE2_LO, PDPTE2_HI, PDPTE3_LO, PDPTE3_HI,
  // Xfer.WINDOW: 1 = exit as soon as the guest can take an external interrupt (one shot: the
  // kernel clears it when that INTERRUPT_WINDOW exit happens), 0 = no such exit
  INTR_WINDOW,
  // Xfer.EFER: the guest's IA32_EFER, the VMCS field VM entry loads (only NXE exists on this
  // 32-bit CPU). RDMSR/WRMSR always exit; the VMM's emulation keeps it here so the CPU's guest
  // paging sees EFER.NXE
  EFER,
  // Xfer.RETIRE (written by replies, reads as 0): guest instructions the handler completed for
  // the guest, its exiting instruction once (or the elements of one chunk of a repeated string
  // instruction, each an iteration: src/x86/rep.ts). The platform counts them as retired, as the CPU counts those it runs, so a
  // guest retires the same instructions bare and in a VM (src/vmm/README.md, "Retired
  // instructions").
  RETIRED,
  COUNT,
}

/** Transfer-mask bits: groups of guest-state words (NOVA's MTD, Pistachio's CtrlXfer items). */
export const enum Xfer {
  GPR_ACDB = 1 << 0,
  GPR_BSD = 1 << 1,
  ESP = 1 << 2,
  EIP = 1 << 3,
  EFLAGS = 1 << 4,
  DS_ES = 1 << 5,
  FS_GS = 1 << 6,
  CS_SS = 1 << 7,
  TR = 1 << 8,
  LDTR = 1 << 9,
  GDTR = 1 << 10,
  IDTR = 1 << 11,
  CR = 1 << 12,
  DR = 1 << 13,
  SYSENTER = 1 << 14,
  QUAL = 1 << 15,
  STATE = 1 << 16,
  EVENT = 1 << 17,
  INJ = 1 << 18,
  CTRL = 1 << 19,
  TSC = 1 << 20,
  PDPTE = 1 << 21,
  WINDOW = 1 << 22,
  EFER = 1 << 23,
  RETIRE = 1 << 24,
}

export const XFER_GROUPS = 25;

/** Every group the kernel knows. */
export const XFER_ALL = (1 << XFER_GROUPS) - 1;

/** Groups a reply cannot write (the kernel ignores their words). */
export const XFER_READ_ONLY = Xfer.QUAL | Xfer.EVENT;

/** First GuestField of each group, by bit number; the group ends where the next begins. */
export const XFER_GROUP_FIRST: readonly number[] = [
  GuestField.EAX, GuestField.EBP, GuestField.ESP, GuestField.EIP, GuestField.EFLAGS,
  GuestField.DS_SEL, GuestField.FS_SEL, GuestField.CS_SEL, GuestField.TR_SEL, GuestField.LDTR_SEL,
  GuestField.GDTR_BASE, GuestField.IDTR_BASE, GuestField.CR0, GuestField.DR7, GuestField.SYSENTER_CS,
  GuestField.GUEST_LINEAR, GuestField.INTERRUPTIBILITY, GuestField.EXIT_INTR_INFO,
  GuestField.ENTRY_INTR_INFO, GuestField.CR0_MASK, GuestField.TSC_OFFSET_LO, GuestField.PDPTE0_LO,
  GuestField.INTR_WINDOW, GuestField.EFER, GuestField.RETIRED, GuestField.COUNT,
];

/** Each group's name, by bit number (the Xfer members in lower case): for tools that show messages. */
export const XFER_GROUP_NAMES: readonly string[] = [
  "gpr_acdb", "gpr_bsd", "esp", "eip", "eflags", "ds_es", "fs_gs", "cs_ss", "tr", "ldtr", "gdtr", "idtr", "cr", "dr",
  "sysenter", "qual", "state", "event", "inj", "ctrl", "tsc", "pdpte", "window", "efer", "retire",
];

/** Number of words a transfer mask names. */
export function xferWords(mask: number): number {
  let n = 0;
  for (let g = 0; g < XFER_GROUPS; g++) if (mask & (1 << g)) n += XFER_GROUP_FIRST[g + 1] - XFER_GROUP_FIRST[g];
  return n;
}

/** The group (bit number) a field belongs to. */
export function xferGroupOf(field: GuestField): number {
  let g = 0;
  while (XFER_GROUP_FIRST[g + 1] <= field) g++;
  return g;
}

/**
 * Where `field` sits in a block of words laid out by `mask`, counted from the block's first
 * word; -1 when the mask does not carry it.
 */
export function xferIndex(mask: number, field: GuestField): number {
  const g = xferGroupOf(field);
  if ((mask & (1 << g)) === 0) return -1;
  let i = 0;
  for (let h = 0; h < g; h++) if (mask & (1 << h)) i += XFER_GROUP_FIRST[h + 1] - XFER_GROUP_FIRST[h];
  return i + field - XFER_GROUP_FIRST[g];
}

/** MR positions of a vfault message. State words start at VfaultMr.STATE, laid out by MR3. */
export const enum VfaultMr {
  QUALIFICATION = 1,
  INSTRUCTION_LENGTH = 2,
  MASK = 3,
  STATE = 4,
}

/**
 * MR positions of a page fault sent for a VCPU (an EPT violation): MR1 guest-physical address,
 * MR2 guest EIP, then, if the handler asked for state on EPT_VIOLATION, MR3 the mask and MR4...
 */
export const enum VmFaultMr {
  ADDRESS = 1,
  IP = 2,
  MASK = 3,
  STATE = 4,
}

/**
 * The reply to a vfault or to a VCPU's page fault: untyped words MR1 = the mask of the groups
 * written back (Xfer.INJ to inject an event, Xfer.WINDOW to ask for an interrupt-window exit),
 * MR2... their words; then map items for the VM's guest-physical space. u = 0 resumes the guest
 * unchanged. Not replying leaves the VCPU blocked.
 */
export const enum VreplyMr {
  MASK = 1,
  STATE = 2,
}

/** VM-entry interruption-information types (bits 10:8). */
export const enum EventType {
  EXTERNAL = 0,
  NMI = 2,
  HARDWARE_EXCEPTION = 3,
  SOFTWARE_INTERRUPT = 4,
  PRIVILEGED_SOFTWARE_EXCEPTION = 5,
  SOFTWARE_EXCEPTION = 6,
}

/** The ENTRY_INTR_INFO word that injects `vector` of `type` (with an error code if asked). */
export function injectionInfo(vector: number, type: EventType, deliverErrorCode = false): Word {
  return ((1 << 31) | (deliverErrorCode ? 1 << 11 : 0) | ((type & 7) << 8) | (vector & 0xff)) >>> 0;
}

// ------------------------------------------------------------------------------------------------
// System-call arguments.

/** ExchangeRegisters control bits (X.2 3.3), plus RECALL (the thesis's kick of a running VCPU). */
export const enum ExregCtrl {
  HALT = 1 << 0,
  ABORT_RECV = 1 << 1,
  ABORT_SEND = 1 << 2,
  SET_SP = 1 << 3,
  SET_IP = 1 << 4,
  SET_FLAGS = 1 << 5,
  SET_USER_HANDLE = 1 << 6,
  SET_PAGER = 1 << 7,
  SET_HALT = 1 << 8,
  DELIVER = 1 << 9,
  RECALL = 1 << 10,
}

/** SpaceControl control word: bit 0 makes the space a VM whose memory is guest-physical (EPT). */
export const SPACE_VM = 1;

/** Unmap control word (X.2 4.3): fpages in MR0..k; bit 6 (f) also flushes the caller's own. */
export const UNMAP_FLUSH = 1 << 6;

export function unmapControl(count: number, flush: boolean): Word {
  return ((count - 1) & 0x3f) | (flush ? UNMAP_FLUSH : 0);
}

/** Schedule result: the destination thread's state (X.2 3.6). */
export const enum ThreadStateCode {
  ERROR = 0,
  DEAD = 1,
  INACTIVE = 2,
  RUNNING = 3,
  PENDING_SEND = 4,
  SENDING = 5,
  WAITING_RECEIVE = 6,
  RECEIVING = 7,
}

/** A TypeScript thread's code: a registered program and the plain state it starts with. */
export interface ProgramImage {
  readonly name: string;
  readonly state: unknown;
}

/** Transfer masks a VCPU's exception handler registers: per exit reason, with a default. */
export interface VcpuConfig {
  readonly xferDefault: number;
  readonly xfer?: readonly (readonly [reason: number, mask: number])[];
}

/** Fields every request may carry: user work done before the call, in ns (default COSTS.USER_STEP). */
interface Work {
  readonly work?: number;
}

export type Syscall = Work &
  (
    | { readonly op: "kernelInterface" }
    | {
        readonly op: "exchangeRegisters";
        readonly dest: ThreadId;
        readonly control: number;
        readonly sp?: Word;
        readonly ip?: Word;
        readonly flags?: Word;
        readonly userHandle?: Word;
        readonly pager?: ThreadId;
        /** With SET_IP on a TypeScript thread: the program it runs from now on. */
        readonly program?: ProgramImage;
      }
    | {
        readonly op: "threadControl";
        readonly dest: ThreadId;
        readonly space: ThreadId;
        readonly scheduler: ThreadId;
        readonly pager: ThreadId;
        readonly exceptionHandler?: ThreadId;
        readonly program?: ProgramImage;
        readonly vcpu?: VcpuConfig;
      }
    | { readonly op: "systemClock" }
    | { readonly op: "threadSwitch"; readonly dest: ThreadId }
    | {
        readonly op: "schedule";
        readonly dest: ThreadId;
        readonly timeslice?: number;
        readonly quantum?: number;
        readonly priority?: number;
      }
    | {
        /** The message is in the caller's MRs (MR0 the tag); the receive window in its acceptor. */
        readonly op: "ipc";
        readonly to: ThreadId;
        readonly from: ThreadId;
        readonly sendTimeout: Timeout;
        readonly recvTimeout: Timeout;
      }
    | { readonly op: "unmap"; readonly control: Word }
    | {
        readonly op: "spaceControl";
        readonly space: ThreadId;
        readonly control: Word;
        readonly kipArea?: Fpage;
        readonly utcbArea?: Fpage;
        readonly redirector?: ThreadId;
      }
    | { readonly op: "memoryControl"; readonly control: Word; readonly attributes: readonly Word[] }
    // What user code does without a system call: memory and port accesses through the thread's
    // address space (a missing mapping raises a page or I/O fault to its pager, and the access is
    // retried after the pager's reply), and a CPU exception (to the exception handler).
    | { readonly op: "read"; readonly addr: Word; readonly length: number }
    | { readonly op: "write"; readonly addr: Word; readonly data: Uint8Array }
    | { readonly op: "in"; readonly port: number; readonly size: 1 | 2 | 4 }
    | { readonly op: "out"; readonly port: number; readonly size: 1 | 2 | 4; readonly value: Word }
    | { readonly op: "raise"; readonly vector: number; readonly errorCode: Word }
  );

export interface MemoryDescriptor {
  readonly base: Word;
  readonly size: number;
  readonly type: "conventional" | "reserved" | "kernel";
}

/** What KernelInterface returns: the kernel interface page's contents, as data. */
export interface KernelInfo {
  readonly apiVersion: number;
  readonly apiSubversion: number;
  readonly kernelId: string;
  readonly irqLines: number;
  readonly systemBase: number;
  readonly userBase: number;
  readonly sigma0: ThreadId;
  readonly rootTask: ThreadId;
  /** Bit n set: pages of 2^n bytes can be mapped. */
  readonly pageSizeMask: number;
  readonly memory: readonly MemoryDescriptor[];
  readonly defaultTimeslice: number;
  readonly vmx: boolean;
}

export type SyscallResult =
  | { readonly op: "start" }
  | { readonly op: "kernelInterface"; readonly kip: KernelInfo }
  | {
      readonly op: "exchangeRegisters";
      /** The destination's global id, or NIL_THREAD on error (ErrorCode in the UTCB). */
      readonly result: ThreadId;
      /** Old state: HALT if halted, ABORT_RECV if it was receiving, ABORT_SEND if sending. */
      readonly control: number;
      readonly sp: Word;
      readonly ip: Word;
      readonly flags: Word;
      readonly userHandle: Word;
      readonly pager: ThreadId;
    }
  | { readonly op: "threadControl"; readonly result: 0 | 1 }
  | { readonly op: "systemClock"; readonly ns: number }
  | { readonly op: "threadSwitch" }
  | {
      readonly op: "schedule";
      readonly result: ThreadStateCode;
      readonly timeslice: number;
      readonly quantum: number;
    }
  | { readonly op: "ipc"; readonly tag: Word; readonly from: ThreadId }
  | { readonly op: "unmap" }
  | { readonly op: "spaceControl"; readonly result: 0 | 1; readonly control: Word }
  | { readonly op: "memoryControl"; readonly result: 0 | 1 }
  | { readonly op: "read"; readonly data: Uint8Array }
  | { readonly op: "write" }
  | { readonly op: "in"; readonly value: Word }
  | { readonly op: "out" }
  | { readonly op: "raise"; readonly ip: Word; readonly sp: Word; readonly flags: Word };

// ------------------------------------------------------------------------------------------------
// User threads.

/**
 * A thread's user-visible control block (X.2's UTCB): message registers, the acceptor (BR0),
 * and the thread control registers. The program reads and writes it in place between calls.
 */
export interface Utcb {
  /** MR0..MR63; MR0 is the message tag. */
  readonly mr: Uint32Array;
  /** BR0: which typed items the next receive accepts, and where mappings land. */
  acceptor: Acceptor;
  errorCode: Word;
  /** The sender of the last message received. */
  from: ThreadId;
  readonly myGlobalId: ThreadId;
  userHandle: Word;
  pager: ThreadId;
  exceptionHandler: ThreadId;
}

/**
 * The code of a TypeScript user thread. All of its state is the plain object `state` (the
 * kernel saves and restores it with the thread), so the program itself holds none: the kernel
 * calls step with the result of the previous system call ("start" the first time) and performs
 * the system call it returns. A server loop is `step` returning ReplyWait again and again.
 */
export interface UserProgram<S = any> {
  step(state: S, utcb: Utcb, result: SyscallResult): Syscall;
}

/** Programs by name; a thread's ProgramImage names one of them. */
export type ProgramTable = Readonly<Record<string, UserProgram>>;

// Convenience constructors for the common IPC forms (X.2 ipc.h's derived functions).

export function call(to: ThreadId, timeout: Timeout = NEVER): Syscall {
  return { op: "ipc", to, from: to, sendTimeout: timeout, recvTimeout: timeout };
}

export function send(to: ThreadId, timeout: Timeout = NEVER): Syscall {
  return { op: "ipc", to, from: NIL_THREAD, sendTimeout: timeout, recvTimeout: ZERO };
}

export function reply(to: ThreadId): Syscall {
  return { op: "ipc", to, from: NIL_THREAD, sendTimeout: ZERO, recvTimeout: ZERO };
}

export function receive(from: ThreadId, timeout: Timeout = NEVER): Syscall {
  return { op: "ipc", to: NIL_THREAD, from, sendTimeout: ZERO, recvTimeout: timeout };
}

export function wait(timeout: Timeout = NEVER): Syscall {
  return { op: "ipc", to: NIL_THREAD, from: ANY_THREAD, sendTimeout: ZERO, recvTimeout: timeout };
}

export function replyWait(to: ThreadId, timeout: Timeout = NEVER): Syscall {
  return { op: "ipc", to, from: ANY_THREAD, sendTimeout: ZERO, recvTimeout: timeout };
}

/** Sleep: receive from oneself, which never sends, until the timeout. */
export function sleep(self: ThreadId, ns: number): Syscall {
  return { op: "ipc", to: NIL_THREAD, from: self, sendTimeout: ZERO, recvTimeout: ns };
}
