// What kernel and user work costs in virtual time. The kernel and the user tasks are TypeScript,
// so their work has no instruction count; instead every operation is charged to the virtual clock
// (Platform.charge) at the fixed price below. Every value is part of the deterministic machine:
// change them only with the recordings in mind.
//
// The prices are wall-clock nanoseconds on a VT-x machine of the kind the CPU models (EPT and
// unrestricted guest: Westmere, 2010, or later, at about 2.5 GHz), not multiples of the guest's
// 1-ns instruction: the guest measures time against clocks that run in real time whatever the
// CPU (the PIT at 1.193182 MHz). Linux calibrates its TSC by reading PIT channel 2 through I/O
// exits, and its fast calibration (quick_pit_calibrate) needs four reads to take less than 1/2048
// of at most 50 ms: an I/O exit's round trip through the VMM must stay under about 3 µs, as it
// does on hardware. Here it comes to about 1.7 µs (exit, 40 state words, IPC, switch, the VMM's
// step and SystemClock, reply, switch, entry). The scale: a VM exit and VMRESUME take about 750
// cycles on Westmere (Agesen et al., "Software techniques for avoiding hardware virtualization
// exits", USENIX ATC 2012); an L4 IPC between address spaces a few hundred cycles (L4Ka::
// Pistachio's measurements). Port accesses cross the ISA/LPC bus: about 1 µs on any CPU.

export const COSTS = {
  /** Kernel entry and exit of any system call (SYSENTER/SYSEXIT and the dispatch). */
  SYSCALL: 50,
  /** The IPC path on top of SYSCALL: partner lookup, rendezvous, tag handling. */
  IPC: 100,
  /** Per message register copied (MR0 included). */
  IPC_WORD: 1,
  /** Per map or grant item decoded. */
  IPC_ITEM: 100,
  /** Per mapping-database node created, moved, split or given more rights. */
  MAP_NODE: 100,
  /** Per mapping-database node removed or stripped of rights. */
  UNMAP_NODE: 100,
  /** Per EPT entry written or cleared. */
  EPT_ENTRY: 20,
  /** Switching from one thread to another. */
  CONTEXT_SWITCH: 50,
  /** On top of CONTEXT_SWITCH when the address space changes too (CR3, the TLB refilled). */
  SPACE_SWITCH: 150,
  /** A VM exit into the kernel, up to the first word of the vfault message. */
  VM_EXIT: 250,
  /** Per guest-state word read from or written to the VMCS (VMREAD, VMWRITE). */
  VM_WORD: 10,
  /** Resuming the guest (VM entry) after the handler's reply or a preemption. */
  VM_ENTRY: 150,
  /** An interrupt: entry, mask, acknowledge at the controller (port accesses), building the IPC. */
  IRQ: 1000,
  /** Waking a thread whose timeout expired. */
  TIMEOUT: 50,
  /** User work between two system calls of a program that does not say what it did. */
  USER_STEP: 100,
  /** A user memory access (a load or store run through the thread's mappings). */
  MEM_ACCESS: 50,
  /** Per 64 bytes a user memory access copies. */
  MEM_LINE: 10,
  /** A user I/O port access (an ISA bus cycle is slow). */
  PORT_IO: 1000,
} as const;

/** Nanoseconds of timeslice a thread gets unless Schedule says otherwise (Pistachio's 10 ms). */
export const DEFAULT_TIMESLICE = 10_000_000;

/** Priority of threads ThreadControl creates (Pistachio's default). */
export const DEFAULT_PRIORITY = 100;
