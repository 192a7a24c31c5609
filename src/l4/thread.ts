// Threads (Pistachio's thread.cc): creating, activating and deleting them (ThreadControl), reading
// and changing their registers and state from outside (ExchangeRegisters), and the boot-time
// shortcut that creates a started thread (Kernel.spawn).

import {
  ANY_THREAD,
  ExregCtrl,
  GuestField,
  IpcError,
  L4Error,
  MR_COUNT,
  NIL_THREAD,
  ZERO,
  threadNo,
  threadVersion,
  type ProgramImage,
  type Syscall,
  type SyscallResult,
  type ThreadId,
  type VcpuConfig,
} from "./api.js";
import { DEFAULT_PRIORITY } from "./costs.js";
import { associateIrq, releaseIrqs } from "./interrupts.js";
import { ipcFail, leaveSendQueue } from "./ipc.js";
import { dequeue, disarmTimeout, halt, resume, startThread } from "./sched.js";
import { makeVmSpace, newSpace, releaseSpace } from "./space.js";
import { lookup, privileged, type KernelContext, type Tcb } from "./state.js";
import { configureVcpu, vcpuState } from "./vcpu-state.js";

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

function tcFail(t: Tcb, err: L4Error): void {
  t.utcb.errorCode = err;
  t.result = { op: "threadControl", result: 0 };
}

export function threadControl(k: KernelContext, t: Tcb, req: Syscall & { op: "threadControl" }): void {
  if (!privileged(k, t)) return tcFail(t, L4Error.NO_PRIVILEGE);
  const no = threadNo(req.dest);
  if (req.dest === ANY_THREAD || req.dest === NIL_THREAD) return tcFail(t, L4Error.INVALID_THREAD);
  if (no < k.irqLines) {
    const err = associateIrq(k, req.dest, req.space, req.pager);
    if (err !== L4Error.OK) return tcFail(t, err);
    t.result = { op: "threadControl", result: 1 };
    return;
  }
  if (no < k.userBase || threadVersion(req.dest) === 0) return tcFail(t, L4Error.INVALID_THREAD);
  let d: Tcb | null = k.s.threads[no] ?? null;
  if (req.space === NIL_THREAD) {
    if (!d || d.id !== req.dest) return tcFail(t, L4Error.INVALID_THREAD);
    deleteThread(k, d);
    if (d !== t) t.result = { op: "threadControl", result: 1 };
    return;
  }
  if (d && d.id !== req.dest) return tcFail(t, L4Error.INVALID_THREAD);
  let shared: Tcb | null = null;
  if (req.space !== req.dest) {
    shared = lookup(k, req.space);
    if (!shared || (d && shared.space !== d.space)) return tcFail(t, L4Error.INVALID_SPACE);
  }
  if (req.scheduler !== NIL_THREAD && req.scheduler !== req.dest && !lookup(k, req.scheduler)) {
    return tcFail(t, L4Error.INVALID_SCHEDULER);
  }
  if (req.program && !k.programs[req.program.name]) return tcFail(t, L4Error.INVALID_PARAM);
  if (!d) {
    const space = shared ? shared.space : newSpace(k, false);
    d = newTcb(k, req.dest, space, req.scheduler !== NIL_THREAD ? req.scheduler : t.id);
  }
  if (req.scheduler !== NIL_THREAD) d.scheduler = req.scheduler;
  if (req.exceptionHandler !== undefined) d.utcb.exceptionHandler = req.exceptionHandler;
  if (req.program) {
    d.program = req.program.name;
    d.progState = structuredClone(req.program.state);
    d.restart = true;
  }
  if (req.vcpu) configureVcpu(d, req.vcpu);
  if (req.pager !== NIL_THREAD) {
    d.utcb.pager = req.pager;
    if (d.state === "inactive" && !d.started && d.kipc === "none") activate(k, d);
  }
  t.result = { op: "threadControl", result: 1 };
}

function newTcb(k: KernelContext, id: ThreadId, space: number, scheduler: ThreadId): Tcb {
  const t: Tcb = {
    id,
    no: threadNo(id),
    space,
    kind: "user",
    state: "inactive",
    halted: false,
    started: false,
    priority: DEFAULT_PRIORITY,
    timeslice: k.defaultTimeslice,
    remaining: k.defaultTimeslice,
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
  for (const f of WIDE_TCB_FIELDS) {
    const v = t[f];
    t[f] = 2 ** 32;
    t[f] = v;
  }
  k.s.threads[t.no] = t;
  k.s.spaces[space].threads++;
  return t;
}

/**
 * Number fields of a thread that take values past 2^31 in the middle of a run: wake-up times in
 * nanoseconds, once 2^31 ns of guest time have passed, a time slice's remainder, a receive's
 * timeout, and a receive from any thread (ANY_THREAD is 0xffffffff). Were they small integers
 * until then, the first larger value would change every thread's hidden class at that moment,
 * and V8 would drop the optimized code of the kernel's functions that read threads, to optimize
 * them again: a double first keeps the class (as the Cpu's WIDE_FIELDS do).
 */
const WIDE_TCB_FIELDS = ["remaining", "recvFrom", "recvTimeout", "wakeAt"] as const;

/** An active thread waits for its start message from its pager (X.2 3.2). */
function activate(k: KernelContext, t: Tcb): void {
  const space = k.s.spaces[t.space];
  space.initialized = true;
  if (space.vm) {
    t.kind = "vcpu";
    const run = vcpuState(t).run;
    run.eptRoot = space.eptRoot;
    run.ioBitmaps = space.ioBitmaps;
  }
  t.kipc = "start";
  t.recvFrom = t.utcb.pager;
  t.state = "blockedRecv";
}

function deleteThread(k: KernelContext, d: Tcb): void {
  disarmTimeout(k, d);
  if (d.state === "blockedSend") leaveSendQueue(k, d);
  dequeue(k, d);
  const queue = d.sendQueue;
  d.sendQueue = [];
  delete k.s.threads[d.no];
  for (const no of queue) {
    if (no < k.irqLines) continue;
    const s = k.s.threads[no];
    if (s && s.state === "blockedSend") {
      disarmTimeout(k, s);
      ipcFail(k, s, IpcError.NOT_EXIST, false);
    }
  }
  for (const key in k.s.threads) {
    const r = k.s.threads[key];
    if (r.state === "blockedRecv" && r.recvFrom === d.id) {
      disarmTimeout(k, r);
      ipcFail(k, r, IpcError.NOT_EXIST, true);
    }
  }
  releaseIrqs(k, d);
  if (d.vcpu?.created) k.platform.vcpuDestroy(d.no);
  if (k.s.lastRun === d.no) k.s.lastRun = -1;
  releaseSpace(k, k.s.spaces[d.space]);
}

export function exchangeRegisters(k: KernelContext, t: Tcb, req: Syscall & { op: "exchangeRegisters" }): void {
  const d = lookup(k, req.dest);
  // X.2 limits ExchangeRegisters to the caller's own space; a privileged thread and the
  // destination's scheduler (a VMM kicking its VCPU) may reach across.
  if (!d || (d.space !== t.space && !privileged(k, t) && d.scheduler !== t.id)) {
    t.utcb.errorCode = L4Error.INVALID_THREAD;
    t.result = { op: "exchangeRegisters", result: NIL_THREAD, control: 0, sp: 0, ip: 0, flags: 0, userHandle: 0, pager: NIL_THREAD };
    return;
  }
  const p = k.platform;
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
    sp: guest >= 0 ? p.guestRead(guest, GuestField.ESP) : d.sp,
    ip: guest >= 0 ? p.guestRead(guest, GuestField.EIP) : d.ip,
    flags: guest >= 0 ? p.guestRead(guest, GuestField.EFLAGS) : d.flags,
    userHandle: d.utcb.userHandle,
    pager: d.utcb.pager,
  };
  if (c & ExregCtrl.SET_SP) {
    d.sp = (req.sp ?? 0) >>> 0;
    if (guest >= 0) p.guestWrite(guest, GuestField.ESP, d.sp);
  }
  if (c & ExregCtrl.SET_IP) {
    d.ip = (req.ip ?? 0) >>> 0;
    if (guest >= 0) p.guestWrite(guest, GuestField.EIP, d.ip);
    if (req.program && k.programs[req.program.name]) {
      d.program = req.program.name;
      d.progState = structuredClone(req.program.state);
      d.restart = true;
    }
  }
  if (c & ExregCtrl.SET_FLAGS) {
    d.flags = (req.flags ?? 0) >>> 0;
    if (guest >= 0) p.guestWrite(guest, GuestField.EFLAGS, d.flags);
  }
  if (c & ExregCtrl.SET_USER_HANDLE) d.utcb.userHandle = (req.userHandle ?? 0) >>> 0;
  if (c & ExregCtrl.SET_PAGER) d.utcb.pager = req.pager ?? NIL_THREAD;
  if ((c & ExregCtrl.ABORT_SEND) && d.state === "blockedSend" && d.kipc === "none") {
    disarmTimeout(k, d);
    leaveSendQueue(k, d);
    ipcFail(k, d, IpcError.CANCELED, false);
  }
  if ((c & ExregCtrl.ABORT_RECV) && d.state === "blockedRecv") {
    if (d.kipc === "start") startThread(k, d);
    else if (d.kipc === "none") {
      disarmTimeout(k, d);
      ipcFail(k, d, IpcError.CANCELED, true);
    }
  }
  if (c & ExregCtrl.SET_HALT) {
    if (c & ExregCtrl.HALT) halt(k, d);
    else resume(k, d);
  }
  if ((c & ExregCtrl.RECALL) && d.vcpu && d.state === "ready") d.vcpu.recall = true;
  t.result = result;
}

/** Kernel.spawn: a thread created active and started, as a root task would make it. */
export function spawnAt(k: KernelContext, id: ThreadId, opts: SpawnOptions): ThreadId {
  const no = threadNo(id);
  if (no < k.userBase || k.s.threads[no]) throw new Error(`l4: cannot spawn thread ${no}`);
  let space: number;
  if (opts.space === undefined || opts.space === "new") {
    space = newSpace(k, opts.privileged ?? false);
    if (opts.vm && !makeVmSpace(k, k.s.spaces[space])) throw new Error("l4: out of kernel memory for an EPT");
  } else {
    const other = lookup(k, opts.space);
    if (!other) throw new Error(`l4: no thread ${opts.space} to share a space with`);
    space = other.space;
  }
  const t = newTcb(k, id, space, opts.scheduler ?? id);
  if (opts.priority !== undefined) t.priority = opts.priority;
  t.utcb.pager = opts.pager ?? NIL_THREAD;
  t.utcb.exceptionHandler = opts.exceptionHandler ?? NIL_THREAD;
  t.ip = opts.ip ?? 0;
  t.sp = opts.sp ?? 0;
  if (opts.program) {
    if (!k.programs[opts.program.name]) throw new Error(`l4: no program ${opts.program.name}`);
    t.program = opts.program.name;
    t.progState = structuredClone(opts.program.state);
  }
  if (opts.vcpu) configureVcpu(t, opts.vcpu);
  const sp = k.s.spaces[space];
  sp.initialized = true;
  if (sp.vm) {
    t.kind = "vcpu";
    const run = vcpuState(t).run;
    run.eptRoot = sp.eptRoot;
    run.ioBitmaps = sp.ioBitmaps;
  }
  startThread(k, t);
  return id;
}
