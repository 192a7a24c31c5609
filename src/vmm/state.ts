// The VMM's state: everything it knows, as plain data inside its L4 program state, so the kernel's
// save()/restore() captures it whole — the virtual chips' registers, the VCPU's bookkeeping (where
// it is, the control-register shadows, the MSRs it emulates), the exit in progress and the
// counters of the summary.

import type { Syscall, ThreadId } from "../l4/api.js";
import type { BootImage, ConsoleConfig, VmmTiming } from "./config.js";
import type { DeviceStates } from "./devices.js";

/** Where the VCPU is, from the VMM's side. */
export type VcpuMode =
  /** Not started yet: its STARTUP message is due. */
  | "starting"
  /** In the guest, or ready to enter it: the VMM owes it nothing. */
  | "running"
  /** Its exit is being handled: a reply is due. */
  | "exit"
  /** Halted (HLT) with interrupts on: retired and answered, but held (L4-halted) until an interrupt is due. */
  | "parked"
  /** A RECALL was requested: its RECALL exit is coming. */
  | "recalled"
  /** Halted with interrupts off, its HLT retired: nothing will ever wake it (the guest's end). */
  | "halted"
  /** Stopped for good: a triple fault, an exit the VMM cannot handle, a reset. */
  | "stopped";

export interface VcpuBook {
  mode: VcpuMode;
  /** CR0 and CR4 as the guest believes them (the read shadows) and the bits the VMM owns. */
  cr0Shadow: number;
  cr4Shadow: number;
  cr0Mask: number;
  cr4Mask: number;
  /** Processor-based controls and exception bitmap the VMM set (VMX formats). */
  procCtls: number;
  procCtls2: number;
  exceptionBitmap: number;
  /** MSRs emulated in the VMM (the VMCS keeps SYSENTER_* and EFER). */
  miscEnable: number;
  patLo: number;
  patHi: number;
  /** TSC offset the guest set with WRMSR 0x10, in TSC ticks. */
  tscOffset: number;
}

/** A message being handled (one that had to wait for the clock or guest memory, between steps). */
export interface Job {
  /**
   * The message, MR0..MR(u+t); null in the step it arrived in, while the UTCB holds it (it is
   * copied here only if it must wait: most are handled in that step).
   */
  msg: number[] | null;
  from: ThreadId;
  /** SystemClock's answer, once asked (-1: not yet). */
  clock: number;
  /** Guest memory read so far: [guest-physical address, bytes]. */
  fetched: [number, Uint8Array][];
  /** Reads still to do: [guest-physical address, length]. */
  reads: [number, number][];
  /** The read in flight. */
  reading: [number, number] | null;
}

/** A system call queued to follow a handled message, with what to make of its result. */
export interface OutItem {
  call: Syscall;
  /** Loaded into MR0... first. */
  mr?: number[];
  /**
   * "reply": a send whose partner waits (may become a ReplyWait when it comes last); "park" and
   * "wake": ExchangeRegisters that halt the VCPU, and resume and recall it.
   */
  kind: "reply" | "send" | "out" | "write" | "recall" | "park" | "wake";
}

export interface VmmStats {
  /** VM exits handled, by basic reason (STARTUP and RECALL included). */
  exits: Record<number, number>;
  /** I/O exits by port: [ins, outs]. */
  io: Record<number, [number, number]>;
  /** String I/O instructions and the elements they moved. */
  stringIo: number;
  stringElements: number;
  /** Accesses to ports no virtual device claims (reads answered with all ones). */
  unknownPortReads: number;
  unknownPortWrites: number;
  /** Events injected, by vector. */
  injections: Record<number, number>;
  /** Events re-injected from IDT-vectoring information. */
  reinjections: number;
  /** Exceptions the VMM raised in the guest (#GP for an unknown MSR...), by vector. */
  exceptions: Record<number, number>;
  windows: number;
  recalls: number;
  parks: number;
  wakes: number;
  cpuid: number;
  /** MSR accesses by number: [reads, writes]; unknown ones got #GP. */
  msrs: Record<number, [number, number]>;
  unknownMsrs: number;
  crWrites: number;
  /** Guest RAM mapped on EPT violations (map items sent). */
  ramMaps: number;
  /** MMIO accesses emulated (no device claims any yet: reads all ones, writes dropped). */
  mmio: number;
  /** The first few guest-physical addresses of unassigned MMIO. */
  mmioAddresses: number[];
  hypercalls: number;
  /** Timer and input events from the IRQ thread. */
  ticks: number;
  inputEvents: number;
  inputBytes: number;
  /** Input bytes dropped because the VMM's queue was full. */
  inputDropped: number;
  consoleBytes: number;
  /** Bytes for the console with no physical console to take them. */
  consoleDropped: number;
  /** Guest memory reads and writes the VMM did (string I/O, MMIO decoding, PDPTE loads). */
  memReads: number;
  memWrites: number;
  /** Messages the VMM did not expect (from unknown threads, failed IPC). */
  unexpected: number;
  /** The last POST code the guest wrote (-1: none). */
  postCode: number;
}

export type VmmStatus = "starting" | "running" | "halted" | "off" | "reset" | "failed";

export interface VmmState {
  // Configuration (what the VMM was started with, resolved).
  ramSize: number;
  ramPhys: number;
  ramWindow: number;
  mapLog2: number;
  rtcEpochSeconds: number;
  tscHz: number;
  console: ConsoleConfig | null;
  exitsWanted: { rdtsc: boolean; invlpg: boolean; cr3: boolean };
  priorities: { vmm: number; irq: number; vcpu: number };
  /** The guest to load; dropped (null) once it is in guest RAM. */
  boot: BootImage | null;
  /** The virtual chips' timing; absent for the default (all zero). */
  timing?: VmmTiming;

  // Who is who.
  self: ThreadId;
  irq: ThreadId;
  vcpu: ThreadId;
  sigma0: ThreadId;

  // Startup: the list of system calls that sets the VM up, and where it is.
  setup: SetupStep[];
  setupAt: number;
  /** Whether the physical console's ports were granted. */
  consoleGranted: boolean;
  /** Ports to pass through to the guest (the configuration's). */
  passThrough: number[];
  /** Those sigma0 granted, until the guest's first access maps them into the VM. */
  passable: number[];
  /** Those mapped into the VM: the guest reaches them without exits. */
  passed: number[];
  /** The initial guest state the STARTUP reply loads: [GuestField, value]. */
  initial: [number, number][];

  // Serving.
  vcpuBook: VcpuBook;
  devices: DeviceStates;
  /** Console input not yet taken by the virtual UART. */
  input: number[];
  /** The deadline the IRQ thread was last told (-1: none). */
  irqDeadline: number;
  job: Job | null;
  outbox: OutItem[];
  /** What the last system call was, to read its result. */
  last: "setup" | "recv" | "clock" | "read" | OutItem["kind"];

  status: VmmStatus;
  /** One line on why the guest stopped (a failure, a reset, the guest's own halt). */
  reason: string | null;
  /** The guest's exit code when it powered off by hypercall. */
  exitCode: number;
  stats: VmmStats;
}

/** One step of the startup: a system call and how to check its result. */
export interface SetupStep {
  call: Syscall;
  mr?: number[];
  acceptor?: number;
  /** "sigma0": the reply must carry a map item; "ok": the result must report success. */
  check: "sigma0" | "ok" | "none" | "console" | "port";
  /** The port a "port" step asks for. */
  port?: number;
  /** Skipped when the console's ports were not granted. */
  onlyIfConsole?: boolean;
  what: string;
}

export function newStats(): VmmStats {
  return {
    exits: {}, io: {}, stringIo: 0, stringElements: 0, unknownPortReads: 0, unknownPortWrites: 0,
    injections: {}, reinjections: 0, exceptions: {}, windows: 0, recalls: 0, parks: 0, wakes: 0, cpuid: 0,
    msrs: {}, unknownMsrs: 0, crWrites: 0, ramMaps: 0, mmio: 0, mmioAddresses: [], hypercalls: 0, ticks: 0,
    inputEvents: 0, inputBytes: 0, inputDropped: 0, consoleBytes: 0, consoleDropped: 0, memReads: 0, memWrites: 0,
    unexpected: 0, postCode: -1,
  };
}
