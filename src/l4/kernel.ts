// The L4 kernel: threads, address spaces, IPC, the scheduler, interrupts as IPC, faults as IPC,
// and the VT-x extension (a VCPU thread runs a VM; each exit is a virtualization-fault IPC).
// After the L4 X.2 manual and L4Ka::Pistachio; see README.md for the model and its limits.
//
// All state is in `Kernel.s` (KernelState): plain objects, arrays and typed arrays, including
// every user thread's program state, so save() is a deep copy and restore() puts it back. The
// code holds no state in closures; user programs are looked up by name in the ProgramTable.

import {
  ANY_THREAD,
  COMPLETE_FPAGE,
  ExitReason,
  ExregCtrl,
  GuestField,
  IpcError,
  ItemType,
  L4Error,
  Label,
  MR_COUNT,
  NEVER,
  NIL_THREAD,
  Rights,
  SPACE_VM,
  TagFlag,
  ThreadStateCode,
  UNMAP_FLUSH,
  XFER_GROUP_FIRST,
  XFER_GROUPS,
  XFER_READ_ONLY,
  ZERO,
  acceptor,
  fpageBase,
  fpageLog2,
  fpageRights,
  globalId,
  ioFpage,
  ioFpageLog2,
  ioFpagePort,
  ipcErrorCode,
  isIoFpage,
  itemSndBase,
  itemType,
  msgTag,
  tagT,
  tagU,
  threadNo,
  threadVersion,
  vfaultLabel,
  withRights,
  xferWords,
  type KernelInfo,
  type ProgramImage,
  type ProgramTable,
  type Syscall,
  type SyscallResult,
  type ThreadId,
  type Timeout,
  type Utcb,
  type VcpuConfig,
} from "./api.js";
import { COSTS, DEFAULT_PRIORITY, DEFAULT_TIMESLICE } from "./costs.js";
import type { EptFrames } from "../vmx/ept.js";
import {
  allocFrame,
  eptCreate,
  eptDestroy,
  eptEffectiveRights,
  eptMapRegion,
  eptUnmapRegion,
  freeFrame,
  type FramePool,
} from "./ept.js";
import { MapDb, newMapDbState, type MapDbState, type MapNode } from "./mapdb.js";
import type { Platform, VcpuExit } from "./platform.js";

/** The valid bit of the VM-entry interruption information. */
const ENTRY_VALID = 0x80000000;
import { SIGMA0, sigma0Image } from "./sigma0.js";

// ------------------------------------------------------------------------------------------------
// State.

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
  run: { id: number; eptRoot: number };
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

export interface KernelConfig {
  programs: ProgramTable;
  /** Physical memory the kernel keeps for itself (EPT tables): [base, base + size), 4 KiB aligned. */
  kernelMemory: { readonly base: number; readonly size: number };
  /** Port ranges no user task may have, as [first, count] (the platform's own devices). */
  reservedPorts?: readonly (readonly [number, number])[];
  /** sigma0's program (default: the built-in one, "sigma0"). */
  sigma0?: ProgramImage;
  /** The root task's program, started in its own privileged space with sigma0 as pager. */
  root?: ProgramImage;
  timeslice?: number;
}

/** Hooks for the debugger and the replay log; not emulated state (never saved). */
export interface KernelObserver {
  ipc?(from: ThreadId, to: ThreadId, tag: number): void;
  switchTo?(from: ThreadId, to: ThreadId): void;
  vmExit?(vcpu: ThreadId, reason: number, qualification: number): void;
  syscall?(thread: ThreadId, op: string): void;
}

/** Options of Kernel.spawn, the boot-time shortcut for ThreadControl + start. */
export interface SpawnOptions {
  program?: ProgramImage;
  /** "new" (default) for a new space, or a thread whose space it shares. */
  space?: "new" | ThreadId;
  privileged?: boolean;
  vm?: boolean;
  priority?: number;
  /** Default: the thread itself. */
  scheduler?: ThreadId;
  pager?: ThreadId;
  exceptionHandler?: ThreadId;
  vcpu?: VcpuConfig;
  ip?: number;
  sp?: number;
}

const START: SyscallResult = { op: "start" };
const WRITE_DONE: SyscallResult = { op: "write" };
const OUT_DONE: SyscallResult = { op: "out" };
const UNMAP_DONE: SyscallResult = { op: "unmap" };
const SWITCH_DONE: SyscallResult = { op: "threadSwitch" };

const SEND_DONE = 0;
const SEND_BLOCKED = 1;
const SEND_FAILED = 2;

const MAX_PRIORITY = 255;
const VFAULT_STATE_WORDS = MR_COUNT - 4;

export class Kernel {
  s: KernelState;
  observer: KernelObserver | null = null;
  readonly irqLines: number;
  readonly userBase: number;
  readonly sigma0: ThreadId;
  readonly rootTask: ThreadId;
  private readonly programs: ProgramTable;
  private readonly mapdb: MapDb;
  private readonly defaultTimeslice: number;
  private readonly kernelMemory: { readonly base: number; readonly size: number };
  private runUntil = Infinity;
  private lastWoken: Tcb | null = null;
  /** src/vmx's EPT builder takes its table frames from here (the pool itself is in `s`). */
  private readonly eptFrames: EptFrames = {
    alloc: () => {
      const f = allocFrame(this.platform, this.s.frames, false);
      if (f < 0) throw new Error("l4: out of kernel memory for EPT tables");
      return f;
    },
    free: (f) => freeFrame(this.s.frames, f),
  };

  constructor(
    readonly platform: Platform,
    config: KernelConfig,
  ) {
    this.programs = { sigma0: SIGMA0, ...config.programs };
    this.irqLines = platform.irqLines;
    this.userBase = Math.max(32, this.irqLines);
    this.sigma0 = globalId(this.userBase, 1);
    this.rootTask = globalId(this.userBase + 2, 1);
    this.defaultTimeslice = config.timeslice ?? DEFAULT_TIMESLICE;
    this.kernelMemory = config.kernelMemory;
    const km = config.kernelMemory;
    const rootMem: [number, number][] = [];
    if (km.base > 0) rootMem.push([0, km.base]);
    if (km.base + km.size < platform.memorySize) rootMem.push([km.base + km.size, platform.memorySize]);
    const rootIo: [number, number][] = [];
    let port = 0;
    const reserved = [...(config.reservedPorts ?? [])].sort((a, b) => a[0] - b[0]);
    for (const [first, count] of reserved) {
      if (first > port) rootIo.push([port, first]);
      port = Math.max(port, first + count);
    }
    if (port < 0x10000) rootIo.push([port, 0x10000]);
    const ROOT_SPACE = 1;
    this.s = {
      threads: {},
      spaces: {},
      nextSpace: ROOT_SPACE,
      ready: Array.from({ length: MAX_PRIORITY + 1 }, () => []),
      lastRun: -1,
      lastSpace: -1,
      timeouts: [],
      irqs: Array.from({ length: this.irqLines }, () => ({ handler: NIL_THREAD, state: "idle" as const })),
      frames: { next: km.base, end: km.base + km.size, free: [] },
      mapdb: newMapDbState(ROOT_SPACE, rootMem, rootIo),
      stats: {
        syscalls: 0, ipcs: 0, contextSwitches: 0, userSteps: 0, pageFaults: 0, ioFaults: 0, exceptions: 0,
        irqs: 0, spuriousIrqs: 0, timeouts: 0, vmExits: 0, exitsByReason: {}, vmPageFaults: 0,
        orphanFaults: 0,
      },
      ipcSeq: 0,
    };
    this.mapdb = new MapDb(this.s.mapdb, {
      mapped: (n) => this.eptMapped(n),
      unmapped: (n) => this.eptUnmapped(n),
      rightsChanged: (n) => this.eptMapped(n),
    });
    for (let line = 0; line < this.irqLines; line++) platform.maskIrq(line);
    // sigma0 owns all memory (the root space); the root task is privileged and paged by sigma0.
    this.spawnAt(this.sigma0, { program: config.sigma0 ?? sigma0Image(), privileged: true, priority: MAX_PRIORITY });
    if (config.root) {
      this.spawnAt(this.rootTask, { program: config.root, privileged: true, priority: MAX_PRIORITY - 1, pager: this.sigma0 });
    }
  }

  // ----------------------------------------------------------------------------------------------
  // Outside interface: running, inspecting, snapshots.

  /**
   * Runs until virtual time reaches untilNs ("deadline"), or until every thread is blocked with
   * no timeout pending and the platform says only outside input could wake it ("idle"), or
   * until `stop` (asked after each step: the host's own reasons) says so ("stopped").
   */
  run(untilNs: number, stop?: () => boolean): "deadline" | "idle" | "stopped" {
    this.runUntil = untilNs;
    try {
      while (this.platform.now() < untilNs) {
        if (this.step() === "stuck") return "idle";
        if (stop?.()) return "stopped";
      }
      return "deadline";
    } finally {
      this.runUntil = Infinity;
    }
  }

  /**
   * One scheduling decision: take interrupts and timeouts, then run the chosen thread for one
   * system call (a user program) or one guest entry (a VCPU), or idle the CPU.
   */
  step(): "ran" | "idled" | "stuck" {
    this.leaveGuestIfNeeded();
    this.pollIrqs();
    this.expireTimeouts();
    const t = this.pick();
    if (!t) return this.idle() ? "idled" : "stuck";
    if (t.no !== this.s.lastRun) this.switchTo(t);
    const start = this.platform.now();
    if (t.kind === "vcpu") this.runVcpuThread(t);
    else this.runUser(t);
    this.account(t, this.platform.now() - start);
    return "ran";
  }

  get stats(): KernelStats {
    return this.s.stats;
  }

  thread(id: ThreadId): Tcb | null {
    return this.lookup(id);
  }

  /** The thread with this id, as X.2 would report it ("running" for the one on the CPU). */
  threadState(id: ThreadId): ThreadState | "running" | "halted" | "dead" {
    const t = this.lookup(id);
    if (!t) return "dead";
    if (t.halted) return "halted";
    if (t.state === "ready" && this.pick() === t) return "running";
    return t.state;
  }

  /** The mapping of `addr` in the space of thread `id` (for debuggers and tests). */
  translate(id: ThreadId, addr: number, io = false): { paddr: number; rights: number } | null {
    const t = this.lookup(id);
    return t ? this.mapdb.translate(t.space, io, addr) : null;
  }

  /** Mapping-database nodes of the space of thread `id` in a region (for debuggers and tests). */
  mappings(id: ThreadId, base: number, log2: number, io = false): MapNode[] {
    const t = this.lookup(id);
    return t ? this.mapdb.nodesIn(t.space, io, base, log2) : [];
  }

  eptRootOf(id: ThreadId): number {
    const t = this.lookup(id);
    return t ? this.s.spaces[t.space].eptRoot : -1;
  }

  /** A deep copy of the whole kernel state (threads mid-IPC, mappings, queues, user states). */
  save(): KernelState {
    return structuredClone(this.s);
  }

  restore(state: KernelState): void {
    this.s = structuredClone(state);
    this.mapdb.state = this.s.mapdb;
    this.lastWoken = null;
  }

  /**
   * Boot-time shortcut for what a root task does with ThreadControl, SpaceControl and
   * ExchangeRegisters: creates an active, started thread. For the machine integration and tests.
   */
  spawn(threadNumber: number, opts: SpawnOptions): ThreadId {
    return this.spawnAt(globalId(threadNumber, 1), opts);
  }

  // ----------------------------------------------------------------------------------------------
  // Scheduling.

  private pick(): Tcb | null {
    const ready = this.s.ready;
    for (let p = MAX_PRIORITY; p >= 0; p--) if (ready[p].length > 0) return this.s.threads[ready[p][0]];
    return null;
  }

  private enqueue(t: Tcb, head: boolean): void {
    if (t.halted) return;
    const q = this.s.ready[t.priority];
    if (q.includes(t.no)) return;
    if (head) q.unshift(t.no);
    else q.push(t.no);
  }

  private dequeue(t: Tcb): void {
    const q = this.s.ready[t.priority];
    const i = q.indexOf(t.no);
    if (i >= 0) q.splice(i, 1);
  }

  private makeReady(t: Tcb, head = false): void {
    t.state = "ready";
    this.enqueue(t, head);
  }

  private block(t: Tcb, state: ThreadState): void {
    t.state = state;
    this.dequeue(t);
  }

  private switchTo(t: Tcb): void {
    this.platform.charge(COSTS.CONTEXT_SWITCH + (t.space !== this.s.lastSpace ? COSTS.SPACE_SWITCH : 0));
    this.s.stats.contextSwitches++;
    const prev = this.s.threads[this.s.lastRun];
    this.observer?.switchTo?.(prev ? prev.id : NIL_THREAD, t.id);
    this.s.lastRun = t.no;
    this.s.lastSpace = t.space;
  }

  /** Charges `used` ns to t's timeslice; an exhausted one sends t to the back of its queue. */
  private account(t: Tcb, used: number): void {
    t.remaining -= used;
    if (t.quantum > 0) t.quantum = Math.max(0, t.quantum - used);
    if (t.remaining > 0) return;
    t.remaining = t.timeslice;
    if (t.state === "ready" && !t.halted) {
      this.dequeue(t);
      this.enqueue(t, false);
    }
  }

  private idle(): boolean {
    this.platform.setTimer(this.nextWake());
    return this.platform.idle(this.runUntil);
  }

  // ----------------------------------------------------------------------------------------------
  // Timeouts.

  private armTimeout(t: Tcb, timeout: Timeout): void {
    if (timeout > 0) {
      t.wakeAt = this.platform.now() + timeout;
      this.s.timeouts.push(t.no);
    } else t.wakeAt = -1;
  }

  private disarmTimeout(t: Tcb): void {
    if (t.wakeAt < 0) return;
    t.wakeAt = -1;
    const i = this.s.timeouts.indexOf(t.no);
    if (i >= 0) this.s.timeouts.splice(i, 1);
  }

  /** The earliest pending IPC timeout, or -1. */
  nextWake(): number {
    let w = -1;
    for (const no of this.s.timeouts) {
      const t = this.s.threads[no];
      if (t && t.wakeAt >= 0 && (w < 0 || t.wakeAt < w)) w = t.wakeAt;
    }
    return w;
  }

  private expireTimeouts(): void {
    const w = this.nextWake();
    if (w < 0 || w > this.platform.now()) return;
    const now = this.platform.now();
    for (const no of this.s.timeouts.slice()) {
      const t = this.s.threads[no];
      if (!t || t.wakeAt < 0 || t.wakeAt > now) continue;
      this.platform.charge(COSTS.TIMEOUT);
      this.s.stats.timeouts++;
      this.disarmTimeout(t);
      if (t.state === "blockedSend") {
        this.leaveSendQueue(t);
        this.ipcFail(t, IpcError.TIMEOUT, false);
      } else if (t.state === "blockedRecv") this.ipcFail(t, IpcError.TIMEOUT, true);
    }
  }

  // ----------------------------------------------------------------------------------------------
  // Interrupts: a line is a pseudo-thread (number = line, version 1) that sends its handler an
  // empty message labelled INTERRUPT. The kernel masks and acknowledges the line first; the
  // handler's reply to the interrupt thread unmasks it.

  private pollIrqs(): void {
    for (;;) {
      const line = this.platform.pendingIrq();
      if (line < 0) return;
      this.platform.charge(COSTS.IRQ);
      this.s.stats.irqs++;
      this.platform.maskIrq(line);
      this.platform.ackIrq(line);
      const irq = this.s.irqs[line];
      const h = irq && irq.handler !== NIL_THREAD ? this.lookup(irq.handler) : null;
      if (!h || irq.state !== "idle") {
        this.s.stats.spuriousIrqs++;
        continue;
      }
      const irqId = globalId(line, 1);
      if (h.state === "blockedRecv" && h.kipc === "none" && (h.recvFrom === ANY_THREAD || h.recvFrom === irqId)) {
        this.disarmTimeout(h);
        this.deliverIrq(h, line);
      } else {
        irq.state = "pending";
        h.sendQueue.push(line);
      }
    }
  }

  private deliverIrq(h: Tcb, line: number): void {
    this.s.irqs[line].state = "delivered";
    h.utcb.mr[0] = msgTag(Label.INTERRUPT, 0, 0);
    this.s.ipcSeq++;
    this.s.stats.ipcs++;
    this.observer?.ipc?.(globalId(line, 1), h.id, h.utcb.mr[0]);
    this.receiveDone(h, globalId(line, 1));
  }

  private irqAck(t: Tcb, line: number, to: ThreadId): number {
    const irq = this.s.irqs[line];
    if (to !== globalId(line, 1) || irq.handler !== t.id) {
      this.ipcFail(t, IpcError.NOT_EXIST, false);
      return SEND_FAILED;
    }
    if (irq.state !== "delivered") {
      this.ipcFail(t, IpcError.TIMEOUT, false);
      return SEND_FAILED;
    }
    irq.state = "idle";
    this.platform.unmaskIrq(line);
    this.lastWoken = null;
    return SEND_DONE;
  }

  private associateIrq(t: Tcb, dest: ThreadId, space: ThreadId, pager: ThreadId): void {
    const line = threadNo(dest);
    const irq = this.s.irqs[line];
    if (dest !== globalId(line, 1) || space !== dest) return this.tcFail(t, L4Error.INVALID_PARAM);
    const old = irq.handler !== NIL_THREAD ? this.lookup(irq.handler) : null;
    if (old) {
      const i = old.sendQueue.indexOf(line);
      if (i >= 0) old.sendQueue.splice(i, 1);
    }
    if (pager === dest || pager === NIL_THREAD) {
      irq.handler = NIL_THREAD;
      irq.state = "idle";
      this.platform.maskIrq(line);
    } else {
      if (!this.lookup(pager)) return this.tcFail(t, L4Error.INVALID_PARAM);
      irq.handler = pager;
      irq.state = "idle";
      this.platform.unmaskIrq(line);
    }
    t.result = { op: "threadControl", result: 1 };
  }

  // ----------------------------------------------------------------------------------------------
  // User programs.

  private runUser(t: Tcb): void {
    if (t.pendingOp) {
      const op = t.pendingOp;
      t.pendingOp = null;
      this.execute(t, op);
      return;
    }
    const prog = t.program !== null ? this.programs[t.program] : undefined;
    if (!prog) {
      this.halt(t);
      return;
    }
    const res = t.restart || t.result === null ? START : t.result;
    t.restart = false;
    t.result = null;
    const req = prog.step(t.progState, t.utcb, res);
    this.s.stats.userSteps++;
    this.platform.charge(req.work ?? COSTS.USER_STEP);
    this.execute(t, req);
  }

  private execute(t: Tcb, req: Syscall): void {
    const op = req.op;
    if (op !== "read" && op !== "write" && op !== "in" && op !== "out" && op !== "raise") {
      this.platform.charge(COSTS.SYSCALL);
      this.s.stats.syscalls++;
      this.observer?.syscall?.(t.id, op);
    }
    switch (req.op) {
      case "ipc":
        this.platform.charge(COSTS.IPC);
        this.doIpc(t, req.to, req.from, req.sendTimeout, req.recvTimeout);
        return;
      case "kernelInterface":
        t.result = { op: "kernelInterface", kip: this.kernelInfo() };
        return;
      case "systemClock":
        t.result = { op: "systemClock", ns: this.platform.now() };
        return;
      case "threadSwitch":
        this.threadSwitch(t, req.dest);
        return;
      case "schedule":
        this.schedule(t, req);
        return;
      case "exchangeRegisters":
        this.exchangeRegisters(t, req);
        return;
      case "threadControl":
        this.threadControl(t, req);
        return;
      case "spaceControl":
        this.spaceControl(t, req);
        return;
      case "memoryControl":
        if (!this.privileged(t)) {
          t.utcb.errorCode = L4Error.NO_PRIVILEGE;
          t.result = { op: "memoryControl", result: 0 };
        } else t.result = { op: "memoryControl", result: 1 };
        return;
      case "unmap":
        this.unmap(t, req.control);
        return;
      case "read":
      case "write":
        this.memAccess(t, req);
        return;
      case "in":
      case "out":
        this.portAccess(t, req);
        return;
      case "raise":
        this.raise(t, req.vector, req.errorCode);
        return;
      default: {
        // Not a system call: #UD to the exception handler, as an unknown trap would be.
        this.raise(t, 6, 0);
      }
    }
  }

  // ----------------------------------------------------------------------------------------------
  // IPC (X.2 5): a send phase, then a receive phase; a call receives from its destination.

  private doIpc(t: Tcb, to: ThreadId, from: ThreadId, sendTimeout: Timeout, recvTimeout: Timeout): void {
    this.s.ipcSeq++;
    this.s.stats.ipcs++;
    let woken: Tcb | null = null;
    if (to !== NIL_THREAD) {
      this.lastWoken = null;
      const r = this.sendPhase(t, to, sendTimeout, from, recvTimeout);
      if (r !== SEND_DONE) return;
      woken = this.lastWoken as Tcb | null;
    }
    if (from !== NIL_THREAD) {
      this.recvPhase(t, from, recvTimeout);
      // A thread that blocks after waking its partner hands it the CPU (a direct switch).
      if (t.state === "blockedRecv" && woken && woken.state === "ready") {
        this.dequeue(woken);
        this.enqueue(woken, true);
      }
    } else if (t.kipc === "none") {
      t.utcb.mr[0] = msgTag(0, 0, 0);
      t.result = { op: "ipc", tag: t.utcb.mr[0], from: NIL_THREAD };
    }
  }

  private sendPhase(t: Tcb, to: ThreadId, timeout: Timeout, from: ThreadId, recvTimeout: Timeout): number {
    const no = threadNo(to);
    if (no < this.irqLines && to !== ANY_THREAD) return this.irqAck(t, no, to);
    const d = this.lookup(to);
    if (!d) {
      this.ipcFail(t, IpcError.NOT_EXIST, false);
      return SEND_FAILED;
    }
    if (d.state === "blockedRecv" && (d.recvFrom === ANY_THREAD || d.recvFrom === t.id)) {
      const err = this.transfer(t, d);
      this.disarmTimeout(d);
      if (err !== 0) {
        this.ipcFail(d, IpcError.MSG_OVERFLOW, true, err);
        this.ipcFail(t, IpcError.MSG_OVERFLOW, false, err);
        return SEND_FAILED;
      }
      this.receiveDone(d, t.id);
      this.lastWoken = d;
      return SEND_DONE;
    }
    if (timeout === ZERO) {
      this.ipcFail(t, IpcError.TIMEOUT, false);
      return SEND_FAILED;
    }
    t.sendTo = to;
    t.recvFrom = from;
    t.recvTimeout = recvTimeout;
    this.block(t, "blockedSend");
    d.sendQueue.push(t.no);
    this.armTimeout(t, timeout);
    return SEND_BLOCKED;
  }

  private recvPhase(t: Tcb, from: ThreadId, timeout: Timeout): void {
    const q = t.sendQueue;
    for (let i = 0; i < q.length; i++) {
      const no = q[i];
      if (no < this.irqLines) {
        if (from === ANY_THREAD || from === globalId(no, 1)) {
          q.splice(i, 1);
          this.deliverIrq(t, no);
          return;
        }
        continue;
      }
      const s = this.s.threads[no];
      if (!s || s.state !== "blockedSend") {
        q.splice(i--, 1);
        continue;
      }
      if (from !== ANY_THREAD && from !== s.id) continue;
      q.splice(i, 1);
      this.disarmTimeout(s);
      const err = this.transfer(s, t);
      if (err !== 0) {
        this.ipcFail(s, IpcError.MSG_OVERFLOW, false, err);
        this.ipcFail(t, IpcError.MSG_OVERFLOW, true, err);
        return;
      }
      this.receiveDone(t, s.id);
      this.senderDone(s);
      return;
    }
    if (timeout === ZERO) {
      this.ipcFail(t, IpcError.TIMEOUT, true);
      return;
    }
    t.recvFrom = from;
    this.block(t, "blockedRecv");
    this.armTimeout(t, timeout);
  }

  /** A blocked sender's message went out: it goes on to its receive phase, or is done. */
  private senderDone(s: Tcb): void {
    if (s.recvFrom !== NIL_THREAD) {
      this.recvPhase(s, s.recvFrom, s.kipc !== "none" ? NEVER : s.recvTimeout);
      return;
    }
    s.utcb.mr[0] = msgTag(0, 0, 0);
    s.result = { op: "ipc", tag: s.utcb.mr[0], from: NIL_THREAD };
    this.makeReady(s);
  }

  private receiveDone(t: Tcb, from: ThreadId): void {
    t.utcb.from = from;
    if (t.kipc !== "none") {
      this.kernelIpcDone(t);
      return;
    }
    t.result = { op: "ipc", tag: t.utcb.mr[0], from };
    this.makeReady(t);
  }

  private ipcFail(t: Tcb, err: IpcError, receivePhase: boolean, offset = 0): void {
    t.utcb.errorCode = ipcErrorCode(err, receivePhase, offset);
    t.utcb.mr[0] = msgTag(0, 0, 0, TagFlag.ERROR);
    if (t.kipc !== "none") {
      this.kernelIpcFailed(t);
      return;
    }
    t.result = { op: "ipc", tag: t.utcb.mr[0], from: NIL_THREAD };
    this.makeReady(t);
  }

  private leaveSendQueue(t: Tcb): void {
    const d = this.lookup(t.sendTo);
    if (!d) return;
    const i = d.sendQueue.indexOf(t.no);
    if (i >= 0) d.sendQueue.splice(i, 1);
  }

  /** Copies the message from src's MRs to dst's and performs its typed items. 0, or the failing word offset + 1. */
  private transfer(src: Tcb, dst: Tcb): number {
    const sm = src.utcb.mr;
    const dm = dst.utcb.mr;
    const tag = sm[0];
    const u = tagU(tag);
    const t = tagT(tag);
    const n = 1 + u + t;
    if (n > MR_COUNT) return MR_COUNT;
    this.platform.charge(COSTS.IPC_WORD * n);
    for (let i = 1; i < n; i++) dm[i] = sm[i];
    dm[0] = (tag & ~0xf000) >>> 0;
    this.observer?.ipc?.(src.id, dst.id, tag);
    if (t === 0) return 0;
    return this.transferItems(src, dst, 1 + u, t);
  }

  private transferItems(src: Tcb, dst: Tcb, first: number, count: number): number {
    const sm = src.utcb.mr;
    const window = dst.kipc !== "none" ? acceptor(COMPLETE_FPAGE) : dst.utcb.acceptor & ~0xf;
    for (let i = first; i < first + count; i += 2) {
      this.platform.charge(COSTS.IPC_ITEM);
      const w0 = sm[i];
      const type = itemType(w0);
      if ((type !== ItemType.MAP && type !== ItemType.GRANT) || i + 1 >= first + count) return i;
      if (window === 0) return i;
      const f = sm[i + 1];
      if (f === 0) continue;
      const grant = type === ItemType.GRANT;
      if (isIoFpage(f)) {
        // Ports keep their numbers: I/O fpages need the complete address space as window.
        if (fpageLog2(window) !== 32) continue;
        const port = ioFpagePort(f);
        const log2 = ioFpageLog2(f);
        this.mapdb.map(src.space, dst.space, true, port - (port % 2 ** log2), log2, Rights.RWX, port - (port % 2 ** log2), grant);
      } else {
        const s = fpageLog2(f);
        const b = fpageBase(f);
        const sb = itemSndBase(w0);
        const wl = fpageLog2(window);
        const wb = fpageBase(window);
        if (s < 12) continue;
        if (s <= wl) {
          const dstBase = wb + Math.floor((sb % 2 ** wl) / 2 ** s) * 2 ** s;
          this.mapdb.map(src.space, dst.space, false, b, s, fpageRights(f), dstBase, grant);
        } else {
          const off = Math.floor((sb % 2 ** s) / 2 ** wl) * 2 ** wl;
          this.mapdb.map(src.space, dst.space, false, b + off, wl, fpageRights(f), wb, grant);
        }
      }
      this.chargeMapOps();
    }
    return 0;
  }

  private chargeMapOps(): void {
    const db = this.mapdb;
    if (db.created || db.removed) {
      this.platform.charge(COSTS.MAP_NODE * db.created + COSTS.UNMAP_NODE * db.removed);
      db.created = 0;
      db.removed = 0;
    }
  }

  // ----------------------------------------------------------------------------------------------
  // Kernel-generated IPC: a fault, an exception, a VM exit or a thread's start is a call from the
  // thread to its pager or handler; the reply is interpreted by the kernel, not by the thread.

  private saveMrs(t: Tcb): void {
    t.savedMr ??= new Uint32Array(MR_COUNT);
    t.savedMr.set(t.utcb.mr);
  }

  private restoreMrs(t: Tcb): void {
    if (t.savedMr) (t.utcb.mr as Uint32Array).set(t.savedMr);
  }

  private kernelCall(t: Tcb, kind: KernelIpc, to: ThreadId): void {
    if (to === NIL_THREAD || !this.lookup(to)) {
      this.orphan(t);
      return;
    }
    t.kipc = kind;
    this.platform.charge(COSTS.IPC);
    this.doIpc(t, to, to, NEVER, NEVER);
  }

  private kernelIpcDone(t: Tcb): void {
    const kind = t.kipc;
    t.kipc = "none";
    const mr = t.utcb.mr;
    switch (kind) {
      case "start":
        t.ip = mr[1];
        t.sp = mr[2];
        this.startThread(t);
        return;
      case "pagefault":
      case "iofault":
        this.restoreMrs(t);
        this.makeReady(t);
        return;
      case "exception": {
        const u = tagU(mr[0]);
        if (u >= 1) t.ip = mr[1];
        if (u >= 2) t.flags = mr[2];
        if (u >= 8) t.sp = mr[8];
        this.restoreMrs(t);
        t.result = { op: "raise", ip: t.ip, sp: t.sp, flags: t.flags };
        this.makeReady(t);
        return;
      }
      case "vfault":
      case "vmfault":
        this.applyVreply(t);
        this.makeReady(t);
        return;
      default:
        this.makeReady(t);
    }
  }

  private kernelIpcFailed(t: Tcb): void {
    t.kipc = "none";
    this.restoreMrs(t);
    this.orphan(t);
  }

  /** A fault nobody will handle: the thread is halted (ExchangeRegisters can resume it). */
  private orphan(t: Tcb): void {
    this.s.stats.orphanFaults++;
    t.state = "ready";
    this.halt(t);
  }

  private halt(t: Tcb): void {
    t.halted = true;
    this.dequeue(t);
  }

  private resume(t: Tcb): void {
    t.halted = false;
    if (t.state === "ready") this.enqueue(t, false);
  }

  private startThread(t: Tcb): void {
    t.started = true;
    t.kipc = "none";
    this.disarmTimeout(t);
    if (t.kind === "vcpu" && t.vcpu) t.vcpu.startup = true;
    t.restart = true;
    t.result = START;
    this.makeReady(t);
  }

  private pageFault(t: Tcb, addr: number, rwx: number, op: Syscall): void {
    this.s.stats.pageFaults++;
    this.saveMrs(t);
    t.pendingOp = op;
    const mr = t.utcb.mr;
    mr[0] = msgTag(Label.PAGE_FAULT | rwx, 2, 0);
    mr[1] = addr >>> 0;
    mr[2] = t.ip >>> 0;
    this.kernelCall(t, "pagefault", t.utcb.pager);
  }

  private ioFault(t: Tcb, port: number, rwx: number, op: Syscall): void {
    this.s.stats.ioFaults++;
    this.saveMrs(t);
    t.pendingOp = op;
    const mr = t.utcb.mr;
    mr[0] = msgTag(Label.IO_FAULT | rwx, 2, 0);
    mr[1] = ioFpage(port, 0, rwx);
    mr[2] = t.ip >>> 0;
    this.kernelCall(t, "iofault", t.utcb.pager);
  }

  private raise(t: Tcb, vector: number, errorCode: number): void {
    this.s.stats.exceptions++;
    this.saveMrs(t);
    const mr = t.utcb.mr;
    mr.fill(0, 0, 13);
    mr[0] = msgTag(Label.EXCEPTION, 12, 0);
    mr[1] = t.ip >>> 0;
    mr[2] = t.flags >>> 0;
    mr[3] = vector >>> 0;
    mr[4] = errorCode >>> 0;
    mr[8] = t.sp >>> 0;
    this.kernelCall(t, "exception", t.utcb.exceptionHandler);
  }

  // ----------------------------------------------------------------------------------------------
  // User memory and port accesses.

  private memAccess(t: Tcb, req: Syscall & { op: "read" | "write" }): void {
    const write = req.op === "write";
    const len = write ? req.data.length : req.length;
    const need = write ? Rights.W : Rights.R;
    this.platform.charge(COSTS.MEM_ACCESS + COSTS.MEM_LINE * Math.ceil(len / 64));
    const addr = req.addr >>> 0;
    for (let a = addr; a < addr + len; a = (Math.floor(a / 4096) + 1) * 4096) {
      const tr = this.mapdb.translate(t.space, false, a);
      if (!tr || (tr.rights & need) !== need) {
        this.pageFault(t, a, need, req);
        return;
      }
    }
    const out = write ? null : new Uint8Array(len);
    let done = 0;
    while (done < len) {
      const a = addr + done;
      const chunk = Math.min(len - done, 4096 - (a % 4096));
      const pa = this.mapdb.translate(t.space, false, a)!.paddr;
      if (write) this.platform.writeBytes(pa, req.data.subarray(done, done + chunk));
      else this.platform.readBytes(pa, out!.subarray(done, done + chunk));
      done += chunk;
    }
    t.result = out ? { op: "read", data: out } : WRITE_DONE;
  }

  private portAccess(t: Tcb, req: Syscall & { op: "in" | "out" }): void {
    this.platform.charge(COSTS.PORT_IO);
    const need = req.op === "in" ? Rights.R : Rights.W;
    for (let p = req.port; p < req.port + req.size; p++) {
      if (!this.mapdb.translate(t.space, true, p)) {
        this.ioFault(t, p, need, req);
        return;
      }
    }
    if (req.op === "in") t.result = { op: "in", value: this.platform.ioRead(req.port, req.size) };
    else {
      this.platform.ioWrite(req.port, req.size, req.value);
      t.result = OUT_DONE;
    }
  }

  // ----------------------------------------------------------------------------------------------
  // System calls other than Ipc.

  private kernelInfo(): KernelInfo {
    const km = this.kernelMemory;
    return {
      apiVersion: 0x84,
      apiSubversion: 0x80,
      kernelId: "Afterglow L4 (after L4Ka::Pistachio, X.2 + VT-x)",
      irqLines: this.irqLines,
      systemBase: this.irqLines,
      userBase: this.userBase,
      sigma0: this.sigma0,
      rootTask: this.rootTask,
      pageSizeMask: 0xfffff000,
      memory: [
        { base: 0, size: this.platform.memorySize, type: "conventional" },
        { base: km.base, size: km.size, type: "kernel" },
      ],
      defaultTimeslice: this.defaultTimeslice,
      vmx: true,
    };
  }

  private privileged(t: Tcb): boolean {
    return this.s.spaces[t.space].privileged;
  }

  private tcFail(t: Tcb, err: L4Error): void {
    t.utcb.errorCode = err;
    t.result = { op: "threadControl", result: 0 };
  }

  private threadControl(t: Tcb, req: Syscall & { op: "threadControl" }): void {
    if (!this.privileged(t)) return this.tcFail(t, L4Error.NO_PRIVILEGE);
    const no = threadNo(req.dest);
    if (req.dest === ANY_THREAD || req.dest === NIL_THREAD) return this.tcFail(t, L4Error.INVALID_THREAD);
    if (no < this.irqLines) return this.associateIrq(t, req.dest, req.space, req.pager);
    if (no < this.userBase || threadVersion(req.dest) === 0) return this.tcFail(t, L4Error.INVALID_THREAD);
    let d: Tcb | null = this.s.threads[no] ?? null;
    if (req.space === NIL_THREAD) {
      if (!d || d.id !== req.dest) return this.tcFail(t, L4Error.INVALID_THREAD);
      this.deleteThread(d);
      if (d !== t) t.result = { op: "threadControl", result: 1 };
      return;
    }
    if (d && d.id !== req.dest) return this.tcFail(t, L4Error.INVALID_THREAD);
    let shared: Tcb | null = null;
    if (req.space !== req.dest) {
      shared = this.lookup(req.space);
      if (!shared || (d && shared.space !== d.space)) return this.tcFail(t, L4Error.INVALID_SPACE);
    }
    if (req.scheduler !== NIL_THREAD && req.scheduler !== req.dest && !this.lookup(req.scheduler)) {
      return this.tcFail(t, L4Error.INVALID_SCHEDULER);
    }
    if (req.program && !this.programs[req.program.name]) return this.tcFail(t, L4Error.INVALID_PARAM);
    if (!d) {
      const space = shared ? shared.space : this.newSpace(false);
      d = this.newTcb(req.dest, space, req.scheduler !== NIL_THREAD ? req.scheduler : t.id);
    }
    if (req.scheduler !== NIL_THREAD) d.scheduler = req.scheduler;
    if (req.exceptionHandler !== undefined) d.utcb.exceptionHandler = req.exceptionHandler;
    if (req.program) {
      d.program = req.program.name;
      d.progState = structuredClone(req.program.state);
      d.restart = true;
    }
    if (req.vcpu) this.configureVcpu(d, req.vcpu);
    if (req.pager !== NIL_THREAD) {
      d.utcb.pager = req.pager;
      if (d.state === "inactive" && !d.started && d.kipc === "none") this.activate(d);
    }
    t.result = { op: "threadControl", result: 1 };
  }

  private newSpace(privileged: boolean): number {
    const id = this.s.nextSpace++;
    this.s.spaces[id] = {
      id, vm: false, privileged, initialized: false, eptRoot: -1, threads: 0, kipArea: 0, utcbArea: 0, redirector: ANY_THREAD,
    };
    this.mapdb.addSpace(id);
    return id;
  }

  private newTcb(id: ThreadId, space: number, scheduler: ThreadId): Tcb {
    const t: Tcb = {
      id,
      no: threadNo(id),
      space,
      kind: "user",
      state: "inactive",
      halted: false,
      started: false,
      priority: DEFAULT_PRIORITY,
      timeslice: this.defaultTimeslice,
      remaining: this.defaultTimeslice,
      quantum: 0,
      scheduler,
      utcb: {
        mr: new Uint32Array(MR_COUNT),
        acceptor: 0,
        errorCode: 0,
        from: NIL_THREAD,
        myGlobalId: id,
        userHandle: 0,
        pager: NIL_THREAD,
        exceptionHandler: NIL_THREAD,
      },
      ip: 0,
      sp: 0,
      flags: 0,
      program: null,
      progState: null,
      result: null,
      restart: false,
      pendingOp: null,
      sendTo: NIL_THREAD,
      recvFrom: NIL_THREAD,
      recvTimeout: ZERO,
      wakeAt: -1,
      sendQueue: [],
      kipc: "none",
      savedMr: null,
      vcpu: null,
    };
    this.s.threads[t.no] = t;
    this.s.spaces[space].threads++;
    return t;
  }

  private configureVcpu(t: Tcb, cfg: VcpuConfig): void {
    const v = this.vcpuState(t);
    v.xferDefault = cfg.xferDefault >>> 0;
    v.xfer = {};
    for (const [reason, mask] of cfg.xfer ?? []) v.xfer[reason] = mask >>> 0;
  }

  private vcpuState(t: Tcb): VcpuState {
    t.vcpu ??= {
      created: false, startup: false, recall: false, inGuest: false, xferDefault: 0, xfer: {},
      run: { id: t.no, eptRoot: -1 }, lastReason: -1, lastQualification: 0,
    };
    return t.vcpu;
  }

  /** An active thread waits for its start message from its pager (X.2 3.2). */
  private activate(t: Tcb): void {
    const space = this.s.spaces[t.space];
    space.initialized = true;
    if (space.vm) {
      t.kind = "vcpu";
      this.vcpuState(t).run.eptRoot = space.eptRoot;
    }
    t.kipc = "start";
    t.recvFrom = t.utcb.pager;
    t.state = "blockedRecv";
  }

  private deleteThread(d: Tcb): void {
    this.disarmTimeout(d);
    if (d.state === "blockedSend") this.leaveSendQueue(d);
    this.dequeue(d);
    const queue = d.sendQueue;
    d.sendQueue = [];
    delete this.s.threads[d.no];
    for (const no of queue) {
      if (no < this.irqLines) continue;
      const s = this.s.threads[no];
      if (s && s.state === "blockedSend") {
        this.disarmTimeout(s);
        this.ipcFail(s, IpcError.NOT_EXIST, false);
      }
    }
    for (const key in this.s.threads) {
      const r = this.s.threads[key];
      if (r.state === "blockedRecv" && r.recvFrom === d.id) {
        this.disarmTimeout(r);
        this.ipcFail(r, IpcError.NOT_EXIST, true);
      }
    }
    for (let line = 0; line < this.irqLines; line++) {
      const irq = this.s.irqs[line];
      if (irq.handler === d.id) {
        irq.handler = NIL_THREAD;
        irq.state = "idle";
        this.platform.maskIrq(line);
      }
    }
    if (d.vcpu?.created) this.platform.vcpuDestroy(d.no);
    if (this.s.lastRun === d.no) this.s.lastRun = -1;
    const space = this.s.spaces[d.space];
    if (--space.threads === 0 && space.id !== this.s.mapdb.rootSpace) {
      this.mapdb.deleteSpace(space.id);
      this.chargeMapOps();
      if (space.eptRoot >= 0) eptDestroy(this.platform, this.s.frames, space.eptRoot);
      delete this.s.spaces[space.id];
    }
  }

  private spaceControl(t: Tcb, req: Syscall & { op: "spaceControl" }): void {
    const fail = (err: L4Error): void => {
      t.utcb.errorCode = err;
      t.result = { op: "spaceControl", result: 0, control: 0 };
    };
    if (!this.privileged(t)) return fail(L4Error.NO_PRIVILEGE);
    const d = this.lookup(req.space);
    if (!d) return fail(L4Error.INVALID_SPACE);
    const space = this.s.spaces[d.space];
    const old = space.vm ? SPACE_VM : 0;
    if ((req.control & SPACE_VM) && !space.vm) {
      const maps = this.s.mapdb.spaces[space.id];
      const empty = Object.keys(maps.mem.count).length === 0;
      if (space.initialized || space.privileged || !empty) return fail(L4Error.INVALID_SPACE);
      const root = eptCreate(this.platform, this.s.frames);
      if (root < 0) return fail(L4Error.NO_MEM);
      space.vm = true;
      space.eptRoot = root;
    }
    if (req.kipArea !== undefined) space.kipArea = req.kipArea;
    if (req.utcbArea !== undefined) space.utcbArea = req.utcbArea;
    if (req.redirector !== undefined) space.redirector = req.redirector;
    space.initialized = true;
    t.result = { op: "spaceControl", result: 1, control: old };
  }

  private exchangeRegisters(t: Tcb, req: Syscall & { op: "exchangeRegisters" }): void {
    const d = this.lookup(req.dest);
    // X.2 limits ExchangeRegisters to the caller's own space; a privileged thread and the
    // destination's scheduler (a VMM kicking its VCPU) may reach across.
    if (!d || (d.space !== t.space && !this.privileged(t) && d.scheduler !== t.id)) {
      t.utcb.errorCode = L4Error.INVALID_THREAD;
      t.result = { op: "exchangeRegisters", result: NIL_THREAD, control: 0, sp: 0, ip: 0, flags: 0, userHandle: 0, pager: NIL_THREAD };
      return;
    }
    const c = req.control;
    const guest = d.kind === "vcpu" && d.vcpu?.created ? d.no : -1;
    const oldControl =
      (d.halted ? ExregCtrl.HALT : 0) |
      (d.state === "blockedRecv" ? ExregCtrl.ABORT_RECV : 0) |
      (d.state === "blockedSend" ? ExregCtrl.ABORT_SEND : 0);
    const result: SyscallResult = {
      op: "exchangeRegisters",
      result: d.id,
      control: oldControl,
      sp: guest >= 0 ? this.platform.guestRead(guest, GuestField.ESP) : d.sp,
      ip: guest >= 0 ? this.platform.guestRead(guest, GuestField.EIP) : d.ip,
      flags: guest >= 0 ? this.platform.guestRead(guest, GuestField.EFLAGS) : d.flags,
      userHandle: d.utcb.userHandle,
      pager: d.utcb.pager,
    };
    if (c & ExregCtrl.SET_SP) {
      d.sp = (req.sp ?? 0) >>> 0;
      if (guest >= 0) this.platform.guestWrite(guest, GuestField.ESP, d.sp);
    }
    if (c & ExregCtrl.SET_IP) {
      d.ip = (req.ip ?? 0) >>> 0;
      if (guest >= 0) this.platform.guestWrite(guest, GuestField.EIP, d.ip);
      if (req.program && this.programs[req.program.name]) {
        d.program = req.program.name;
        d.progState = structuredClone(req.program.state);
        d.restart = true;
      }
    }
    if (c & ExregCtrl.SET_FLAGS) {
      d.flags = (req.flags ?? 0) >>> 0;
      if (guest >= 0) this.platform.guestWrite(guest, GuestField.EFLAGS, d.flags);
    }
    if (c & ExregCtrl.SET_USER_HANDLE) d.utcb.userHandle = (req.userHandle ?? 0) >>> 0;
    if (c & ExregCtrl.SET_PAGER) d.utcb.pager = req.pager ?? NIL_THREAD;
    if ((c & ExregCtrl.ABORT_SEND) && d.state === "blockedSend" && d.kipc === "none") {
      this.disarmTimeout(d);
      this.leaveSendQueue(d);
      this.ipcFail(d, IpcError.CANCELED, false);
    }
    if ((c & ExregCtrl.ABORT_RECV) && d.state === "blockedRecv") {
      if (d.kipc === "start") this.startThread(d);
      else if (d.kipc === "none") {
        this.disarmTimeout(d);
        this.ipcFail(d, IpcError.CANCELED, true);
      }
    }
    if (c & ExregCtrl.SET_HALT) {
      if (c & ExregCtrl.HALT) this.halt(d);
      else this.resume(d);
    }
    if ((c & ExregCtrl.RECALL) && d.vcpu && d.state === "ready") d.vcpu.recall = true;
    t.result = result;
  }

  private stateCode(d: Tcb): ThreadStateCode {
    switch (d.state) {
      case "inactive":
        return ThreadStateCode.INACTIVE;
      case "blockedSend":
        return ThreadStateCode.PENDING_SEND;
      case "blockedRecv":
        return ThreadStateCode.WAITING_RECEIVE;
      default:
        return d.halted ? ThreadStateCode.INACTIVE : ThreadStateCode.RUNNING;
    }
  }

  private schedule(t: Tcb, req: Syscall & { op: "schedule" }): void {
    const d = this.lookup(req.dest);
    const fail = (err: L4Error): void => {
      t.utcb.errorCode = err;
      t.result = { op: "schedule", result: ThreadStateCode.ERROR, timeslice: 0, quantum: 0 };
    };
    if (!d) return fail(L4Error.INVALID_THREAD);
    if (!this.privileged(t) && d.scheduler !== t.id) return fail(L4Error.NO_PRIVILEGE);
    if (req.priority !== undefined) {
      if (req.priority < 0 || req.priority > MAX_PRIORITY || (req.priority > t.priority && !this.privileged(t))) {
        return fail(L4Error.INVALID_PARAM);
      }
      if (req.priority !== d.priority) {
        const queued = this.s.ready[d.priority].includes(d.no);
        this.dequeue(d);
        d.priority = req.priority;
        if (queued) this.enqueue(d, false);
      }
    }
    if (req.timeslice !== undefined) {
      if (req.timeslice <= 0) return fail(L4Error.INVALID_PARAM);
      d.timeslice = req.timeslice;
      d.remaining = Math.min(d.remaining, req.timeslice);
    }
    if (req.quantum !== undefined) d.quantum = Math.max(0, req.quantum);
    t.result = { op: "schedule", result: this.stateCode(d), timeslice: d.remaining, quantum: d.quantum };
  }

  private threadSwitch(t: Tcb, dest: ThreadId): void {
    t.result = SWITCH_DONE;
    if (dest !== NIL_THREAD) {
      const d = this.lookup(dest);
      if (d && d !== t && d.state === "ready" && !d.halted) {
        this.dequeue(d);
        this.enqueue(d, true);
      }
    }
    // The caller gives up the rest of its timeslice and goes to the back of its queue.
    t.remaining = t.timeslice;
    this.dequeue(t);
    this.enqueue(t, false);
  }

  private unmap(t: Tcb, control: number): void {
    const k = (control & 0x3f) + 1;
    const flush = (control & UNMAP_FLUSH) !== 0;
    const mr = t.utcb.mr;
    for (let i = 0; i < k; i++) {
      const f = mr[i];
      if (f === 0) continue;
      if (isIoFpage(f)) {
        const log2 = ioFpageLog2(f);
        const port = ioFpagePort(f);
        this.mapdb.unmap(t.space, true, port - (port % 2 ** log2), log2, Rights.RWX, flush);
      } else {
        const log2 = fpageLog2(f);
        if (log2 >= 12) this.mapdb.unmap(t.space, false, fpageBase(f), log2, fpageRights(f), flush);
      }
      this.chargeMapOps();
      // No reference/dirty bits are kept: the returned fpage reports none.
      mr[i] = withRights(f, 0);
    }
    t.result = UNMAP_DONE;
  }

  // ----------------------------------------------------------------------------------------------
  // VCPUs.

  private runVcpuThread(t: Tcb): void {
    const v = t.vcpu!;
    const p = this.platform;
    if (!v.created) {
      p.vcpuCreate(t.no);
      v.created = true;
      p.guestWrite(t.no, GuestField.EIP, t.ip);
      p.guestWrite(t.no, GuestField.ESP, t.sp);
      if (t.flags) p.guestWrite(t.no, GuestField.EFLAGS, t.flags);
    }
    if (v.startup) {
      v.startup = false;
      this.sendVfault(t, ExitReason.STARTUP, 0, 0, null);
      return;
    }
    if (v.recall) {
      v.recall = false;
      // An event the last reply injected that no VM entry has delivered yet goes in first: on
      // hardware the recalling IPI's exit comes after the entry that delivers it. Otherwise the
      // handler, answering the recall with an injection of its own, would overwrite it (an
      // interrupt acknowledged at the virtual PIC and never delivered).
      if (!v.inGuest && (p.guestRead(t.no, GuestField.ENTRY_INTR_INFO) & ENTRY_VALID) !== 0) {
        p.charge(COSTS.VM_ENTRY);
        const exit = p.runVcpu(v.run, p.now());
        if (exit) {
          this.vcpuExited(t, exit);
          return;
        }
        v.inGuest = true;
      }
      if (v.inGuest) {
        v.inGuest = false;
        p.charge(COSTS.VM_EXIT);
      }
      this.sendVfault(t, ExitReason.RECALL, 0, 0, null);
      return;
    }
    // The entry is part of the timeslice: a slice ends at the same moment whether or not the host
    // cut the guest's run in two (a cut run resumes without another entry).
    const start = p.now();
    if (!v.inGuest) p.charge(COSTS.VM_ENTRY);
    v.inGuest = false;
    let until = Math.max(p.now() + 1, start + t.remaining);
    const wake = this.nextWake();
    if (wake >= 0 && wake < until) until = wake;
    if (this.runUntil < until) until = this.runUntil;
    const exit = p.runVcpu(v.run, until);
    if (!exit) {
      v.inGuest = true;
      return;
    }
    this.vcpuExited(t, exit);
  }

  /** A VM exit of VCPU thread t: the kernel's own, or a message to the handler or pager. */
  private vcpuExited(t: Tcb, exit: VcpuExit): void {
    const p = this.platform;
    this.countExit(t, exit.reason, exit.qualification);
    switch (exit.reason) {
      case ExitReason.EXTERNAL_INTERRUPT:
        return; // the kernel's own business: the interrupt is taken before the next decision
      case ExitReason.EPT_VIOLATION:
        this.vmPageFault(t, exit);
        return;
      case ExitReason.INTERRUPT_WINDOW:
        p.guestWrite(t.no, GuestField.INTR_WINDOW, 0);
        this.sendVfault(t, exit.reason, exit.qualification, exit.instructionLength, exit);
        return;
      default:
        this.sendVfault(t, exit.reason, exit.qualification, exit.instructionLength, exit);
    }
  }

  private countExit(t: Tcb, reason: number, qualification: number): void {
    this.platform.charge(COSTS.VM_EXIT);
    const st = this.s.stats;
    st.vmExits++;
    st.exitsByReason[reason] = (st.exitsByReason[reason] ?? 0) + 1;
    this.observer?.vmExit?.(t.id, reason, qualification);
  }

  /**
   * A VCPU left in the guest by a deadline exits now if anything else is to happen: an
   * interrupt (as the exit the platform would have reported), a timeout, another thread's turn.
   */
  private leaveGuestIfNeeded(): void {
    const g = this.s.threads[this.s.lastRun];
    if (!g || !g.vcpu?.inGuest) return;
    const irq = this.platform.pendingIrq() >= 0;
    const wake = this.nextWake();
    if (!irq && !(wake >= 0 && wake <= this.platform.now()) && this.pick() === g) return;
    g.vcpu.inGuest = false;
    if (irq) {
      // The exit the platform would have reported had the guest run on: its cost is the VCPU's
      // time, as there, or how the host cut its runs would show in the timeslice.
      this.countExit(g, ExitReason.EXTERNAL_INTERRUPT, 0);
      this.account(g, COSTS.VM_EXIT);
    } else this.platform.charge(COSTS.VM_EXIT);
  }

  /** Drops the highest groups until the mask's words fit in `room` registers. */
  private fitMask(mask: number, room: number): number {
    mask &= (1 << XFER_GROUPS) - 1;
    for (let g = XFER_GROUPS - 1; g >= 0 && xferWords(mask) > room; g--) mask &= ~(1 << g);
    return mask >>> 0;
  }

  /** Writes the guest-state words of `mask` from MR[i] on; returns the next free index. */
  private readState(t: Tcb, mask: number, exit: VcpuExit | null, i: number): number {
    const mr = t.utcb.mr;
    const p = this.platform;
    for (let g = 0; g < XFER_GROUPS; g++) {
      if ((mask & (1 << g)) === 0) continue;
      for (let f = XFER_GROUP_FIRST[g]; f < XFER_GROUP_FIRST[g + 1]; f++) {
        let w: number;
        if (f === GuestField.GUEST_LINEAR) w = exit ? exit.guestLinear : 0;
        else if (f === GuestField.GUEST_PHYSICAL) w = exit ? exit.guestPhysical : 0;
        else w = p.guestRead(t.no, f);
        mr[i++] = w >>> 0;
      }
    }
    p.charge(COSTS.VM_WORD * xferWords(mask));
    return i;
  }

  private sendVfault(t: Tcb, reason: number, qualification: number, length: number, exit: VcpuExit | null): void {
    const v = t.vcpu!;
    const mask = this.fitMask(v.xfer[reason] ?? v.xferDefault, VFAULT_STATE_WORDS);
    const mr = t.utcb.mr;
    mr[1] = qualification >>> 0;
    mr[2] = length >>> 0;
    mr[3] = mask;
    const end = this.readState(t, mask, exit, 4);
    mr[0] = msgTag(vfaultLabel(reason), end - 1, 0);
    v.lastReason = reason;
    v.lastQualification = qualification >>> 0;
    this.kernelCall(t, "vfault", t.utcb.exceptionHandler);
  }

  /** An EPT violation: a page fault to the VM's pager, unless the mapping is there already. */
  private vmPageFault(t: Tcb, exit: VcpuExit): void {
    const gpa = exit.guestPhysical >>> 0;
    const q = exit.qualification;
    const need = (q & 1 ? Rights.R : 0) | (q & 2 ? Rights.W : 0) | (q & 4 ? Rights.X : 0);
    const node = this.mapdb.lookup(t.space, false, gpa);
    if (node && (eptEffectiveRights(node.rights) & need) === need) {
      this.eptMapped(node);
      return;
    }
    this.s.stats.vmPageFaults++;
    const v = t.vcpu!;
    const mr = t.utcb.mr;
    mr[1] = gpa;
    mr[2] = this.platform.guestRead(t.no, GuestField.EIP) >>> 0;
    const mask = this.fitMask(v.xfer[ExitReason.EPT_VIOLATION] ?? 0, VFAULT_STATE_WORDS);
    let u = 2;
    if (mask !== 0) {
      mr[3] = mask;
      u = this.readState(t, mask, exit, 4) - 1;
    }
    mr[0] = msgTag(Label.PAGE_FAULT | need, u, 0);
    v.lastReason = ExitReason.EPT_VIOLATION;
    v.lastQualification = q >>> 0;
    this.kernelCall(t, "vmfault", t.utcb.pager);
  }

  /** The reply to a vfault or VM page fault: write back the state words its mask names. */
  private applyVreply(t: Tcb): void {
    const mr = t.utcb.mr;
    const u = tagU(mr[0]);
    if (u < 1) return;
    const mask = mr[1] & ((1 << XFER_GROUPS) - 1);
    const end = 1 + u;
    let i = 2;
    let words = 0;
    for (let g = 0; g < XFER_GROUPS && i < end; g++) {
      if ((mask & (1 << g)) === 0) continue;
      const writable = (XFER_READ_ONLY & (1 << g)) === 0;
      for (let f = XFER_GROUP_FIRST[g]; f < XFER_GROUP_FIRST[g + 1] && i < end; f++, i++) {
        if (!writable) continue;
        this.platform.guestWrite(t.no, f, mr[i]);
        words++;
      }
    }
    this.platform.charge(COSTS.VM_WORD * words);
  }

  // EPT upkeep for nodes of VM spaces.

  private eptMapped(n: MapNode): void {
    const space = this.s.spaces[n.space];
    if (!space || !space.vm || n.io) return;
    const written = eptMapRegion(this.platform, this.eptFrames, space.eptRoot, n.vaddr, n.paddr, n.log2, n.rights);
    this.platform.charge(COSTS.EPT_ENTRY * written);
    this.platform.invalidateEpt(space.eptRoot);
  }

  private eptUnmapped(n: MapNode): void {
    const space = this.s.spaces[n.space];
    if (!space || !space.vm || n.io) return;
    const cleared = eptUnmapRegion(this.platform, this.eptFrames, space.eptRoot, n.vaddr, n.log2);
    this.platform.charge(COSTS.EPT_ENTRY * cleared);
    this.platform.invalidateEpt(space.eptRoot);
  }

  // ----------------------------------------------------------------------------------------------

  private lookup(id: ThreadId): Tcb | null {
    if (id === NIL_THREAD || id === ANY_THREAD) return null;
    const t = this.s.threads[threadNo(id)];
    return t && t.id === id ? t : null;
  }

  private spawnAt(id: ThreadId, opts: SpawnOptions): ThreadId {
    const no = threadNo(id);
    if (no < this.userBase || this.s.threads[no]) throw new Error(`l4: cannot spawn thread ${no}`);
    let space: number;
    if (opts.space === undefined || opts.space === "new") {
      space = this.newSpace(opts.privileged ?? false);
      if (opts.vm) {
        const root = eptCreate(this.platform, this.s.frames);
        if (root < 0) throw new Error("l4: out of kernel memory for an EPT");
        this.s.spaces[space].vm = true;
        this.s.spaces[space].eptRoot = root;
      }
    } else {
      const other = this.lookup(opts.space);
      if (!other) throw new Error(`l4: no thread ${opts.space} to share a space with`);
      space = other.space;
    }
    const t = this.newTcb(id, space, opts.scheduler ?? id);
    if (opts.priority !== undefined) t.priority = opts.priority;
    t.utcb.pager = opts.pager ?? NIL_THREAD;
    t.utcb.exceptionHandler = opts.exceptionHandler ?? NIL_THREAD;
    t.ip = opts.ip ?? 0;
    t.sp = opts.sp ?? 0;
    if (opts.program) {
      if (!this.programs[opts.program.name]) throw new Error(`l4: no program ${opts.program.name}`);
      t.program = opts.program.name;
      t.progState = structuredClone(opts.program.state);
    }
    if (opts.vcpu) this.configureVcpu(t, opts.vcpu);
    const sp = this.s.spaces[space];
    sp.initialized = true;
    if (sp.vm) {
      t.kind = "vcpu";
      this.vcpuState(t).run.eptRoot = sp.eptRoot;
    }
    this.startThread(t);
    return id;
  }
}
