// What kernel and user work costs in virtual time. The kernel and the user tasks are TypeScript,
// so their work has no instruction count; instead every operation is charged to the virtual clock
// (Platform.charge) at the fixed price below. The prices are round numbers in the scale of the
// guest CPU (100 MHz, 10 ns per instruction, src/machine/clock.ts), picked so that the ratios
// look like a 2007 VT-x machine's: a VM exit round trip costs about as much as a few hundred
// guest instructions, a short IPC a hundred or so. Change them only with the recordings in mind:
// every value is part of the deterministic machine.

export const COSTS = {
  /** Kernel entry and exit of any system call. */
  SYSCALL: 500,
  /** The IPC path on top of SYSCALL: partner lookup, rendezvous, tag handling. */
  IPC: 1000,
  /** Per message register copied (MR0 included). */
  IPC_WORD: 10,
  /** Per map or grant item decoded. */
  IPC_ITEM: 500,
  /** Per mapping-database node created, moved, split or given more rights. */
  MAP_NODE: 200,
  /** Per mapping-database node removed or stripped of rights. */
  UNMAP_NODE: 200,
  /** Per EPT entry written or cleared. */
  EPT_ENTRY: 50,
  /** Switching from one thread to another. */
  CONTEXT_SWITCH: 500,
  /** On top of CONTEXT_SWITCH when the address space changes too. */
  SPACE_SWITCH: 1000,
  /** A VM exit into the kernel, up to the first word of the vfault message. */
  VM_EXIT: 2000,
  /** Per guest-state word read from or written to the VMCS. */
  VM_WORD: 20,
  /** Resuming the guest (VM entry) after the handler's reply or a preemption. */
  VM_ENTRY: 2000,
  /** An interrupt: entry, mask, acknowledge at the controller, building the IPC. */
  IRQ: 1000,
  /** Waking a thread whose timeout expired. */
  TIMEOUT: 200,
  /** User work between two system calls of a program that does not say what it did. */
  USER_STEP: 200,
  /** A user memory access (a load or store run through the thread's mappings). */
  MEM_ACCESS: 100,
  /** Per 64 bytes a user memory access copies. */
  MEM_LINE: 20,
  /** A user I/O port access (an ISA bus cycle is slow). */
  PORT_IO: 1000,
} as const;

/** Nanoseconds of timeslice a thread gets unless Schedule says otherwise (Pistachio's 10 ms). */
export const DEFAULT_TIMESLICE = 10_000_000;

/** Priority of threads ThreadControl creates (Pistachio's default). */
export const DEFAULT_PRIORITY = 100;
