// The L4 kernel: threads, address spaces, IPC, the scheduler, interrupts as IPC, faults as IPC,
// and the VT-x extension (a VCPU thread runs a VM; each exit is a virtualization-fault IPC).
// After the L4 X.2 manual and L4Ka::Pistachio; see README.md for the model and its limits.
//
// As Pistachio splits its kernel, each concern is a module of functions over the kernel's plain
// data (state.ts): ipc.ts, sched.ts, thread.ts, space.ts, interrupts.ts, vcpu.ts (with
// vcpu-state.ts) and syscalls.ts. This class composes them: it owns the state and the context
// they work on, and is the kernel's face to the machine integration, the debugger and the tests.
//
// All state is in `Kernel.s` (KernelState): plain objects, arrays and typed arrays, including
// every user thread's program state, so save() is a deep copy and restore() puts it back. The
// code holds no state in closures; user programs are looked up by name in the ProgramTable.

import { NIL_THREAD, globalId, type ProgramImage, type ProgramTable, type ThreadId } from "./api.js";
import { DEFAULT_TIMESLICE } from "./costs.js";
import { allocFrame, freeFrame } from "./ept.js";
import { pollIrqs } from "./interrupts.js";
import { expireTimeouts } from "./ipc.js";
import { MapDb, newMapDbState, type MapNode } from "./mapdb.js";
import type { Platform } from "./platform.js";
import { account, idle, nextWake, pick, switchTo } from "./sched.js";
import { SIGMA0, sigma0Image } from "./sigma0.js";
import { eptMapped, eptUnmapped } from "./space.js";
import {
  MAX_PRIORITY, eventCount, lookup, type KernelContext, type KernelObserver, type KernelState,
  type KernelStats, type Tcb, type ThreadState,
} from "./state.js";
import { runUser } from "./syscalls.js";
import { spawnAt, type SpawnOptions } from "./thread.js";
import { leaveGuestIfNeeded, runVcpuThread } from "./vcpu.js";

export { eventCount } from "./state.js";
export type {
  FaultKind,
  IrqState,
  KernelIpc,
  KernelObserver,
  KernelState,
  KernelStats,
  SpaceState,
  Tcb,
  ThreadState,
  VcpuState,
} from "./state.js";
export type { SpawnOptions } from "./thread.js";

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

export class Kernel {
  readonly irqLines: number;
  readonly userBase: number;
  readonly sigma0: ThreadId;
  readonly rootTask: ThreadId;
  private readonly k: KernelContext;

  constructor(
    readonly platform: Platform,
    config: KernelConfig,
  ) {
    const irqLines = platform.irqLines;
    const userBase = Math.max(32, irqLines);
    this.irqLines = irqLines;
    this.userBase = userBase;
    this.sigma0 = globalId(userBase, 1);
    this.rootTask = globalId(userBase + 2, 1);
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
    const s: KernelState = {
      threads: {},
      spaces: {},
      nextSpace: ROOT_SPACE,
      ready: Array.from({ length: MAX_PRIORITY + 1 }, () => []),
      lastRun: -1,
      lastSpace: -1,
      timeouts: [],
      irqs: Array.from({ length: irqLines }, () => ({ handler: NIL_THREAD, state: "idle" as const })),
      frames: { next: km.base, end: km.base + km.size, free: [] },
      mapdb: newMapDbState(ROOT_SPACE, rootMem, rootIo),
      stats: {
        syscalls: 0, ipcs: 0, contextSwitches: 0, userSteps: 0, pageFaults: 0, ioFaults: 0, exceptions: 0,
        irqs: 0, spuriousIrqs: 0, timeouts: 0, vmExits: 0, exitsByReason: {}, vmPageFaults: 0,
        orphanFaults: 0,
      },
      ipcSeq: 0,
    };
    const k: KernelContext = {
      s,
      platform,
      mapdb: new MapDb(s.mapdb, {
        mapped: (n: MapNode) => {
          eptMapped(k, n);
          k.observer?.map?.(n.space, n.io, n.vaddr, n.log2, n.paddr, n.rights);
        },
        unmapped: (n: MapNode) => {
          eptUnmapped(k, n);
          k.observer?.unmap?.(n.space, n.io, n.vaddr, n.log2, n.paddr, n.rights);
        },
        rightsChanged: (n: MapNode) => {
          eptMapped(k, n);
          k.observer?.map?.(n.space, n.io, n.vaddr, n.log2, n.paddr, n.rights);
        },
      }),
      observer: null,
      programs: { sigma0: SIGMA0, ...config.programs },
      irqLines,
      userBase,
      sigma0: this.sigma0,
      rootTask: this.rootTask,
      defaultTimeslice: config.timeslice ?? DEFAULT_TIMESLICE,
      kernelMemory: km,
      eptFrames: {
        alloc: () => {
          const f = allocFrame(platform, k.s.frames, false);
          if (f < 0) throw new Error("l4: out of kernel memory for EPT tables");
          return f;
        },
        free: (f) => freeFrame(k.s.frames, f),
      },
      runUntil: Infinity,
      lastWoken: null,
      readyBits: new Uint32Array((MAX_PRIORITY + 32) >>> 5),
      readyOf: null,
    };
    this.k = k;
    for (let line = 0; line < irqLines; line++) platform.maskIrq(line);
    // sigma0 owns all memory (the root space); the root task is privileged and paged by sigma0.
    spawnAt(k, this.sigma0, { program: config.sigma0 ?? sigma0Image(), privileged: true, priority: MAX_PRIORITY });
    if (config.root) {
      spawnAt(k, this.rootTask, { program: config.root, privileged: true, priority: MAX_PRIORITY - 1, pager: this.sigma0 });
    }
  }

  /** The whole kernel state (what save() copies). */
  get s(): KernelState {
    return this.k.s;
  }

  /** Hooks for the debugger and the replay log (not state). */
  get observer(): KernelObserver | null {
    return this.k.observer;
  }

  set observer(o: KernelObserver | null) {
    this.k.observer = o;
  }

  /**
   * Runs until virtual time reaches untilNs ("deadline"), or until every thread is blocked with
   * no timeout pending and the platform says only outside input could wake it ("idle"), or
   * until `stop` (asked after each step: the host's own reasons) says so ("stopped").
   */
  run(untilNs: number, stop?: () => boolean): "deadline" | "idle" | "stopped" {
    this.k.runUntil = untilNs;
    try {
      while (this.platform.now() < untilNs) {
        if (this.step() === "stuck") return "idle";
        if (stop?.()) return "stopped";
      }
      return "deadline";
    } finally {
      this.k.runUntil = Infinity;
    }
  }

  /**
   * One scheduling decision: take interrupts and timeouts, then run the chosen thread for one
   * system call (a user program) or one guest entry (a VCPU), or idle the CPU.
   */
  step(): "ran" | "idled" | "stuck" {
    const k = this.k;
    leaveGuestIfNeeded(k);
    pollIrqs(k);
    expireTimeouts(k);
    const t = pick(k);
    if (!t) return idle(k) ? "idled" : "stuck";
    if (t.no !== k.s.lastRun) switchTo(k, t);
    const start = this.platform.now();
    if (t.kind === "vcpu") runVcpuThread(k, t);
    else runUser(k, t);
    account(k, t, this.platform.now() - start);
    return "ran";
  }

  get stats(): KernelStats {
    return this.k.s.stats;
  }

  /** Where the kernel is in its own history (state.ts's eventCount of its statistics). */
  events(): number {
    return eventCount(this.k.s.stats);
  }

  thread(id: ThreadId): Tcb | null {
    return lookup(this.k, id);
  }

  /** The thread with this id, as X.2 would report it ("running" for the one on the CPU). */
  threadState(id: ThreadId): ThreadState | "running" | "halted" | "dead" {
    const t = lookup(this.k, id);
    if (!t) return "dead";
    if (t.halted) return "halted";
    if (t.state === "ready" && pick(this.k) === t) return "running";
    return t.state;
  }

  /** The mapping of `addr` in the space of thread `id` (for debuggers and tests). */
  translate(id: ThreadId, addr: number, io = false): { paddr: number; rights: number } | null {
    const t = lookup(this.k, id);
    return t ? this.k.mapdb.translate(t.space, io, addr) : null;
  }

  /** Mapping-database nodes of the space of thread `id` in a region (for debuggers and tests). */
  mappings(id: ThreadId, base: number, log2: number, io = false): MapNode[] {
    const t = lookup(this.k, id);
    return t ? this.k.mapdb.nodesIn(t.space, io, base, log2) : [];
  }

  eptRootOf(id: ThreadId): number {
    const t = lookup(this.k, id);
    return t ? this.k.s.spaces[t.space].eptRoot : -1;
  }

  /** The earliest pending IPC timeout, or -1. */
  nextWake(): number {
    return nextWake(this.k);
  }

  /** A deep copy of the whole kernel state (threads mid-IPC, mappings, queues, user states). */
  save(): KernelState {
    return structuredClone(this.k.s);
  }

  restore(state: KernelState): void {
    this.k.s = structuredClone(state);
    this.k.mapdb.state = this.k.s.mapdb;
    this.k.lastWoken = null;
  }

  /**
   * Boot-time shortcut for what a root task does with ThreadControl, SpaceControl and
   * ExchangeRegisters: creates an active, started thread. For the machine integration and tests.
   */
  spawn(threadNumber: number, opts: SpawnOptions): ThreadId {
    return spawnAt(this.k, globalId(threadNumber, 1), opts);
  }
}
