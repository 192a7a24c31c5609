// The kernel's state as plain data (KernelState: what save() copies and the state hash covers)
// and the context every part of the kernel works on (KernelContext). Like Pistachio's tcb.h and
// space.h: the objects, with no behaviour of their own; ipc.ts, sched.ts, thread.ts, space.ts,
// interrupts.ts, vcpu.ts and syscalls.ts are the functions over them.

import {
  ANY_THREAD, NIL_THREAD, threadNo, type ProgramTable, type Syscall, type SyscallResult,
  type ThreadId, type Timeout, type Utcb,
} from "./api.js";
import type { EptFrames } from "../vmx/ept.js";
import type { FramePool } from "./ept.js";
import type { MapDb, MapDbState } from "./mapdb.js";
import type { Platform } from "./platform.js";

/** A thread's scheduling/IPC state. A "ready" thread at the head of the highest queue is running. */
export type ThreadState = "inactive" | "ready" | "blockedSend" | "blockedRecv";

/** Which kernel-generated IPC a thread is in, if any (its reply is the kernel's business). */
export type KernelIpc = "none" | "start" | "pagefault" | "iofault" | "exception" | "vfault" | "vmfault";

export interface VcpuState {
  /** The platform has a VMCS for it. */
  created: boolean;
  /** The STARTUP message is due before the guest first runs. */
  startup: boolean;
  /** ExchangeRegisters(RECALL): deliver a RECALL vfault instead of entering the guest. */
  recall: boolean;
  /**
   * The guest was stopped by a deadline, not by an exit: it is still loaded, and continuing it
   * costs no VM entry. Leaving it for anything else costs a VM exit then.
   */
  inGuest: boolean;
  xferDefault: number;
  xfer: Record<number, number>;
  run: { id: number; eptRoot: number; ioBitmaps: number[] };
  lastReason: number;
  lastQualification: number;
}

export interface Tcb {
  id: ThreadId;
  no: number;
  space: number;
  kind: "user" | "vcpu";
  state: ThreadState;
  halted: boolean;
  started: boolean;
  priority: number;
  timeslice: number;
  remaining: number;
  quantum: number;
  scheduler: ThreadId;
  utcb: Utcb;
  ip: number;
  sp: number;
  flags: number;
  program: string | null;
  progState: unknown;
  /** The result the program is resumed with; null while a system call is in progress. */
  result: SyscallResult | null;
  /** The program was (re)started and must see "start" next. */
  restart: boolean;
  /** A memory, port or exception operation to redo after the fault IPC's reply. */
  pendingOp: Syscall | null;
  // IPC in flight.
  sendTo: ThreadId;
  recvFrom: ThreadId;
  recvTimeout: Timeout;
  /** Absolute wake-up time of a blocked IPC, -1 for none. */
  wakeAt: number;
  /** Thread numbers (and interrupt lines) waiting to send to this thread, in arrival order. */
  sendQueue: number[];
  kipc: KernelIpc;
  savedMr: Uint32Array | null;
  vcpu: VcpuState | null;
}

export interface SpaceState {
  id: number;
  vm: boolean;
  privileged: boolean;
  initialized: boolean;
  eptRoot: number;
  /** A VM space's VMCS I/O bitmaps (A, B): the ports mapped into it do not exit. */
  ioBitmaps: number[];
  threads: number;
  kipArea: number;
  utcbArea: number;
  redirector: ThreadId;
}

export interface IrqState {
  /** The associated handler thread, or NIL_THREAD. */
  handler: ThreadId;
  /** idle: unmasked; pending: waiting in the handler's queue; delivered: waiting for the ack. */
  state: "idle" | "pending" | "delivered";
}

export interface KernelStats {
  syscalls: number;
  ipcs: number;
  contextSwitches: number;
  userSteps: number;
  pageFaults: number;
  ioFaults: number;
  exceptions: number;
  irqs: number;
  spuriousIrqs: number;
  timeouts: number;
  vmExits: number;
  exitsByReason: Record<number, number>;
  vmPageFaults: number;
  /** Faults of threads with no pager or handler: the thread is halted. */
  orphanFaults: number;
}

export interface KernelState {
  threads: Record<number, Tcb>;
  spaces: Record<number, SpaceState>;
  nextSpace: number;
  ready: number[][];
  /** The thread that ran last (-1 none) and its space. */
  lastRun: number;
  lastSpace: number;
  /** Thread numbers with a pending IPC timeout, in the order they were set. */
  timeouts: number[];
  irqs: IrqState[];
  frames: FramePool;
  mapdb: MapDbState;
  stats: KernelStats;
  /** Sequence number of the last IPC (a position in the kernel's history). */
  ipcSeq: number;
}


/** What faulted, for KernelObserver.fault: a user page or port, a CPU exception, a VM's guest-physical page. */
export type FaultKind = "page" | "io" | "exception" | "vm";

/**
 * Hooks for the debugger and the replay log; not emulated state (never saved). Each is called
 * right after the kernel counted the event in its statistics (see eventCount), so a hook that is
 * not set costs one property check; the arguments are the kernel's own words, to be copied.
 */
export interface KernelObserver {
  /** An IPC (stats.ipcs): the Ipc call or kernel message of `from` to `to` (nil: a receive only) with its MRs (MR0 the tag); an interrupt's delivery too. */
  ipc?(from: ThreadId, to: ThreadId, tag: number, mr: Uint32Array): void;
  switchTo?(from: ThreadId, to: ThreadId): void;
  vmExit?(vcpu: ThreadId, reason: number, qualification: number): void;
  /** The kernel entered a VM (a VCPU thread's guest runs after an exit or its start). */
  vmEntry?(vcpu: ThreadId): void;
  /** A fault IPC is about to go to the pager or handler: the address (port fpage, vector) and the IP. */
  fault?(thread: ThreadId, kind: FaultKind, what: number, ip: number): void;
  /**
   * A mapping entered into a space (or its rights changed), or removed: `io` for ports. No counter
   * of its own: it happens within an IPC (map items) or an Unmap call, which the kernel counts.
   */
  map?(space: number, io: boolean, vaddr: number, log2: number, paddr: number, rights: number): void;
  unmap?(space: number, io: boolean, vaddr: number, log2: number, paddr: number, rights: number): void;
  /** An interrupt taken from the platform (stats.irqs). */
  irq?(line: number): void;
  syscall?(thread: ThreadId, op: string): void;
}

/**
 * The kernel's position in its own history: the sum of its event counters, which grows by at
 * least one at every IPC, thread switch, fault, interrupt, VM exit, timeout and user step. Any two
 * scheduling steps that did something the debugger can stop at end at different counts.
 */
export function eventCount(st: KernelStats): number {
  return st.syscalls + st.ipcs + st.contextSwitches + st.userSteps + st.pageFaults + st.ioFaults + st.exceptions +
    st.irqs + st.timeouts + st.vmExits + st.vmPageFaults + st.orphanFaults;
}


/** The highest priority (X.2: 255); the ready queues are indexed by priority. */
export const MAX_PRIORITY = 255;

/**
 * What the kernel's functions work on: the state (saved), the hardware, the mapping database
 * over the state, and the configuration and host-side hooks (never saved). The Kernel object
 * owns the one instance.
 */
export interface KernelContext {
  s: KernelState;
  readonly platform: Platform;
  readonly mapdb: MapDb;
  observer: KernelObserver | null;
  readonly programs: ProgramTable;
  readonly irqLines: number;
  readonly userBase: number;
  readonly sigma0: ThreadId;
  readonly rootTask: ThreadId;
  readonly defaultTimeslice: number;
  readonly kernelMemory: { readonly base: number; readonly size: number };
  /** src/vmx's EPT builder takes its table frames from here (the pool itself is in `s`). */
  readonly eptFrames: EptFrames;
  /** The host's limit of the current run (Infinity outside `run`): how it cuts runs, not state. */
  runUntil: number;
  /** The receiver the last send phase woke, for the direct switch (not state: set and used in one IPC). */
  lastWoken: Tcb | null;
  /**
   * Which ready queues are non-empty, a bit per priority, for `readyOf` (not state: sched.ts
   * rebuilds it from the queues when `s` was replaced, and keeps it as it changes them).
   */
  readonly readyBits: Uint32Array;
  readyOf: number[][] | null;
}

/**
 * Removes q[i], shifting the rest down: Array.prototype.splice would allocate the array of what it
 * removed, on every IPC that blocks or wakes a thread.
 */
export function removeAt(q: number[], i: number): void {
  for (let j = i + 1; j < q.length; j++) q[j - 1] = q[j];
  q.pop();
}

/** The thread with this global id, or null (nil, any, a dead thread or an old version). */
export function lookup(k: KernelContext, id: ThreadId): Tcb | null {
  if (id === NIL_THREAD || id === ANY_THREAD) return null;
  const t = k.s.threads[threadNo(id)];
  return t && t.id === id ? t : null;
}

/** Whether t's space may call the privileged system calls. */
export function privileged(k: KernelContext, t: Tcb): boolean {
  return k.s.spaces[t.space].privileged;
}
