// Scheduling (Pistachio's schedule.cc): the ready queues by priority, the thread state
// transitions (ready, blocked, halted, started), timeslices, IPC timeouts, and the Schedule and
// ThreadSwitch system calls.

import {
  L4Error, NIL_THREAD, ThreadStateCode, type Syscall, type SyscallResult, type ThreadId,
  type Timeout,
} from "./api.js";
import { COSTS } from "./costs.js";
import { MAX_PRIORITY, lookup, privileged, removeAt, type KernelContext, type Tcb, type ThreadState } from "./state.js";

const START: SyscallResult = { op: "start" };
const SWITCH_DONE: SyscallResult = { op: "threadSwitch" };

/**
 * The non-empty ready queues as bits (k.readyBits), rebuilt if the queues are not the ones they
 * were kept for (a restored state, a new context). Picking scanned 256 queues several times per
 * VM exit; the bits find the highest in a few words.
 */
function readyBits(k: KernelContext): Uint32Array {
  const bits = k.readyBits;
  const ready = k.s.ready;
  if (k.readyOf === ready) return bits;
  bits.fill(0);
  for (let p = 0; p <= MAX_PRIORITY; p++) if (ready[p].length > 0) bits[p >>> 5] |= 1 << (p & 31);
  k.readyOf = ready;
  return bits;
}

/** The thread to run: the head of the highest non-empty ready queue. */
export function pick(k: KernelContext): Tcb | null {
  const bits = readyBits(k);
  for (let w = bits.length - 1; w >= 0; w--) {
    if (bits[w] === 0) continue;
    const p = (w << 5) + 31 - Math.clz32(bits[w]);
    return k.s.threads[k.s.ready[p][0]];
  }
  return null;
}

export function enqueue(k: KernelContext, t: Tcb, head: boolean): void {
  if (t.halted) return;
  const q = k.s.ready[t.priority];
  if (q.includes(t.no)) return;
  const bits = readyBits(k);
  if (head) q.unshift(t.no);
  else q.push(t.no);
  bits[t.priority >>> 5] |= 1 << (t.priority & 31);
}

export function dequeue(k: KernelContext, t: Tcb): void {
  const q = k.s.ready[t.priority];
  const i = q.indexOf(t.no);
  if (i < 0) return;
  const bits = readyBits(k);
  removeAt(q, i);
  if (q.length === 0) bits[t.priority >>> 5] &= ~(1 << (t.priority & 31));
}

export function makeReady(k: KernelContext, t: Tcb, head = false): void {
  t.state = "ready";
  enqueue(k, t, head);
}

export function block(k: KernelContext, t: Tcb, state: ThreadState): void {
  t.state = state;
  dequeue(k, t);
}

export function halt(k: KernelContext, t: Tcb): void {
  t.halted = true;
  dequeue(k, t);
}

export function resume(k: KernelContext, t: Tcb): void {
  t.halted = false;
  if (t.state === "ready") enqueue(k, t, false);
}

/** A fault nobody will handle: the thread is halted (ExchangeRegisters can resume it). */
export function orphan(k: KernelContext, t: Tcb): void {
  k.s.stats.orphanFaults++;
  t.state = "ready";
  halt(k, t);
}

/** The thread got its start message (or L4_Start): it runs its program from the start. */
export function startThread(k: KernelContext, t: Tcb): void {
  t.started = true;
  t.kipc = "none";
  disarmTimeout(k, t);
  if (t.kind === "vcpu" && t.vcpu) t.vcpu.startup = true;
  t.restart = true;
  t.result = START;
  makeReady(k, t);
}

export function switchTo(k: KernelContext, t: Tcb): void {
  k.platform.charge(COSTS.CONTEXT_SWITCH + (t.space !== k.s.lastSpace ? COSTS.SPACE_SWITCH : 0));
  k.s.stats.contextSwitches++;
  const prev = k.s.threads[k.s.lastRun];
  k.observer?.switchTo?.(prev ? prev.id : NIL_THREAD, t.id);
  k.s.lastRun = t.no;
  k.s.lastSpace = t.space;
}

/** Charges `used` ns to t's timeslice; an exhausted one sends t to the back of its queue. */
export function account(k: KernelContext, t: Tcb, used: number): void {
  t.remaining -= used;
  if (t.quantum > 0) t.quantum = Math.max(0, t.quantum - used);
  if (t.remaining > 0) return;
  t.remaining = t.timeslice;
  if (t.state === "ready" && !t.halted) {
    dequeue(k, t);
    enqueue(k, t, false);
  }
}

/** Nothing is ready: the platform idles until the next timeout or interrupt (false: nothing will come). */
export function idle(k: KernelContext): boolean {
  k.platform.setTimer(nextWake(k));
  return k.platform.idle(k.runUntil);
}

// ------------------------------------------------------------------------------------------------
// Timeouts.

export function armTimeout(k: KernelContext, t: Tcb, timeout: Timeout): void {
  if (timeout > 0) {
    t.wakeAt = k.platform.now() + timeout;
    k.s.timeouts.push(t.no);
  } else t.wakeAt = -1;
}

export function disarmTimeout(k: KernelContext, t: Tcb): void {
  if (t.wakeAt < 0) return;
  t.wakeAt = -1;
  const i = k.s.timeouts.indexOf(t.no);
  if (i >= 0) removeAt(k.s.timeouts, i);
}

/** The earliest pending IPC timeout, or -1. */
export function nextWake(k: KernelContext): number {
  let w = -1;
  for (const no of k.s.timeouts) {
    const t = k.s.threads[no];
    if (t && t.wakeAt >= 0 && (w < 0 || t.wakeAt < w)) w = t.wakeAt;
  }
  return w;
}

const NONE_DUE: readonly Tcb[] = [];

/** Disarms and returns the threads whose timeout has passed, charging each wake-up. */
export function dueTimeouts(k: KernelContext): readonly Tcb[] {
  const w = nextWake(k);
  // Asked before every scheduling decision: none due is the rule, and costs no array.
  if (w < 0 || w > k.platform.now()) return NONE_DUE;
  const now = k.platform.now();
  const due: Tcb[] = [];
  for (const no of k.s.timeouts.slice()) {
    const t = k.s.threads[no];
    if (!t || t.wakeAt < 0 || t.wakeAt > now) continue;
    k.platform.charge(COSTS.TIMEOUT);
    k.s.stats.timeouts++;
    disarmTimeout(k, t);
    due.push(t);
  }
  return due;
}

// ------------------------------------------------------------------------------------------------
// System calls: Schedule, ThreadSwitch.

function stateCode(d: Tcb): ThreadStateCode {
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

export function schedule(k: KernelContext, t: Tcb, req: Syscall & { op: "schedule" }): void {
  const d = lookup(k, req.dest);
  const fail = (err: L4Error): void => {
    t.utcb.errorCode = err;
    t.result = { op: "schedule", result: ThreadStateCode.ERROR, timeslice: 0, quantum: 0 };
  };
  if (!d) return fail(L4Error.INVALID_THREAD);
  if (!privileged(k, t) && d.scheduler !== t.id) return fail(L4Error.NO_PRIVILEGE);
  if (req.priority !== undefined) {
    if (req.priority < 0 || req.priority > MAX_PRIORITY || (req.priority > t.priority && !privileged(k, t))) {
      return fail(L4Error.INVALID_PARAM);
    }
    if (req.priority !== d.priority) {
      const queued = k.s.ready[d.priority].includes(d.no);
      dequeue(k, d);
      d.priority = req.priority;
      if (queued) enqueue(k, d, false);
    }
  }
  if (req.timeslice !== undefined) {
    if (req.timeslice <= 0) return fail(L4Error.INVALID_PARAM);
    d.timeslice = req.timeslice;
    d.remaining = Math.min(d.remaining, req.timeslice);
  }
  if (req.quantum !== undefined) d.quantum = Math.max(0, req.quantum);
  t.result = { op: "schedule", result: stateCode(d), timeslice: d.remaining, quantum: d.quantum };
}

export function threadSwitch(k: KernelContext, t: Tcb, dest: ThreadId): void {
  t.result = SWITCH_DONE;
  if (dest !== NIL_THREAD) {
    const d = lookup(k, dest);
    if (d && d !== t && d.state === "ready" && !d.halted) {
      dequeue(k, d);
      enqueue(k, d, true);
    }
  }
  // The caller gives up the rest of its timeslice and goes to the back of its queue.
  t.remaining = t.timeslice;
  dequeue(k, t);
  enqueue(k, t, false);
}
