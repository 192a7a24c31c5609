// IPC (X.2 5; Pistachio's ipc.cc): a send phase, then a receive phase; a call receives from its
// destination. Messages are copied register to register, their map and grant items performed
// (space.ts). An interrupt line is a pseudo-thread that sends its handler an empty message and
// takes the handler's reply as the acknowledgement (interrupts.ts raises them).
//
// Kernel-generated IPC: a fault, an exception, a VM exit or a thread's start is a call from the
// thread to its pager or handler; the reply is interpreted by the kernel, not by the thread.

import {
  ANY_THREAD,
  COMPLETE_FPAGE,
  IpcError,
  ItemType,
  Label,
  MR_COUNT,
  NEVER,
  NIL_THREAD,
  TagFlag,
  ZERO,
  acceptor,
  globalId,
  ioFpage,
  ipcErrorCode,
  itemType,
  msgTag,
  tagT,
  tagU,
  threadNo,
  type Syscall,
  type ThreadId,
  type Timeout,
} from "./api.js";
import { COSTS } from "./costs.js";
import {
  armTimeout, block, dequeue, disarmTimeout, dueTimeouts, enqueue, makeReady, orphan, startThread,
} from "./sched.js";
import { mapItem } from "./space.js";
import { lookup, removeAt, type KernelContext, type KernelIpc, type Tcb } from "./state.js";
import { applyVreply } from "./vcpu-state.js";

const SEND_DONE = 0;
const SEND_BLOCKED = 1;
const SEND_FAILED = 2;

/** The Ipc system call, and the IPC of every kernel-generated message. */
export function doIpc(k: KernelContext, t: Tcb, to: ThreadId, from: ThreadId, sendTimeout: Timeout, recvTimeout: Timeout): void {
  k.s.ipcSeq++;
  k.s.stats.ipcs++;
  k.observer?.ipc?.(t.id, to, t.utcb.mr[0], t.utcb.mr);
  let woken: Tcb | null = null;
  if (to !== NIL_THREAD) {
    k.lastWoken = null;
    const r = sendPhase(k, t, to, sendTimeout, from, recvTimeout);
    if (r !== SEND_DONE) return;
    woken = k.lastWoken as Tcb | null;
  }
  if (from !== NIL_THREAD) {
    recvPhase(k, t, from, recvTimeout);
    // A thread that blocks after waking its partner hands it the CPU (a direct switch).
    if (t.state === "blockedRecv" && woken && woken.state === "ready") {
      dequeue(k, woken);
      enqueue(k, woken, true);
    }
  } else if (t.kipc === "none") {
    t.utcb.mr[0] = msgTag(0, 0, 0);
    t.result = { op: "ipc", tag: t.utcb.mr[0], from: NIL_THREAD };
  }
}

function sendPhase(k: KernelContext, t: Tcb, to: ThreadId, timeout: Timeout, from: ThreadId, recvTimeout: Timeout): number {
  const no = threadNo(to);
  if (no < k.irqLines && to !== ANY_THREAD) return irqAck(k, t, no, to);
  const d = lookup(k, to);
  if (!d) {
    ipcFail(k, t, IpcError.NOT_EXIST, false);
    return SEND_FAILED;
  }
  if (d.state === "blockedRecv" && (d.recvFrom === ANY_THREAD || d.recvFrom === t.id)) {
    const err = transfer(k, t, d);
    disarmTimeout(k, d);
    if (err !== 0) {
      ipcFail(k, d, IpcError.MSG_OVERFLOW, true, err);
      ipcFail(k, t, IpcError.MSG_OVERFLOW, false, err);
      return SEND_FAILED;
    }
    receiveDone(k, d, t.id);
    k.lastWoken = d;
    return SEND_DONE;
  }
  if (timeout === ZERO) {
    ipcFail(k, t, IpcError.TIMEOUT, false);
    return SEND_FAILED;
  }
  t.sendTo = to;
  t.recvFrom = from;
  t.recvTimeout = recvTimeout;
  block(k, t, "blockedSend");
  d.sendQueue.push(t.no);
  armTimeout(k, t, timeout);
  return SEND_BLOCKED;
}

function recvPhase(k: KernelContext, t: Tcb, from: ThreadId, timeout: Timeout): void {
  const q = t.sendQueue;
  for (let i = 0; i < q.length; i++) {
    const no = q[i];
    if (no < k.irqLines) {
      if (from === ANY_THREAD || from === globalId(no, 1)) {
        removeAt(q, i);
        deliverIrq(k, t, no);
        return;
      }
      continue;
    }
    const s = k.s.threads[no];
    if (!s || s.state !== "blockedSend") {
      removeAt(q, i--);
      continue;
    }
    if (from !== ANY_THREAD && from !== s.id) continue;
    removeAt(q, i);
    disarmTimeout(k, s);
    const err = transfer(k, s, t);
    if (err !== 0) {
      ipcFail(k, s, IpcError.MSG_OVERFLOW, false, err);
      ipcFail(k, t, IpcError.MSG_OVERFLOW, true, err);
      return;
    }
    receiveDone(k, t, s.id);
    senderDone(k, s);
    return;
  }
  if (timeout === ZERO) {
    ipcFail(k, t, IpcError.TIMEOUT, true);
    return;
  }
  t.recvFrom = from;
  block(k, t, "blockedRecv");
  armTimeout(k, t, timeout);
}

/** A blocked sender's message went out: it goes on to its receive phase, or is done. */
function senderDone(k: KernelContext, s: Tcb): void {
  if (s.recvFrom !== NIL_THREAD) {
    recvPhase(k, s, s.recvFrom, s.kipc !== "none" ? NEVER : s.recvTimeout);
    return;
  }
  s.utcb.mr[0] = msgTag(0, 0, 0);
  s.result = { op: "ipc", tag: s.utcb.mr[0], from: NIL_THREAD };
  makeReady(k, s);
}

function receiveDone(k: KernelContext, t: Tcb, from: ThreadId): void {
  t.utcb.from = from;
  if (t.kipc !== "none") {
    kernelIpcDone(k, t);
    return;
  }
  t.result = { op: "ipc", tag: t.utcb.mr[0], from };
  makeReady(k, t);
}

/** t's IPC ends with an error (in its receive phase or its send phase). */
export function ipcFail(k: KernelContext, t: Tcb, err: IpcError, receivePhase: boolean, offset = 0): void {
  t.utcb.errorCode = ipcErrorCode(err, receivePhase, offset);
  t.utcb.mr[0] = msgTag(0, 0, 0, TagFlag.ERROR);
  if (t.kipc !== "none") {
    kernelIpcFailed(k, t);
    return;
  }
  t.result = { op: "ipc", tag: t.utcb.mr[0], from: NIL_THREAD };
  makeReady(k, t);
}

/** A blocked sender leaves its destination's send queue. */
export function leaveSendQueue(k: KernelContext, t: Tcb): void {
  const d = lookup(k, t.sendTo);
  if (!d) return;
  const i = d.sendQueue.indexOf(t.no);
  if (i >= 0) removeAt(d.sendQueue, i);
}

/** IPCs whose timeout has passed fail with TIMEOUT. */
export function expireTimeouts(k: KernelContext): void {
  for (const t of dueTimeouts(k)) {
    if (t.state === "blockedSend") {
      leaveSendQueue(k, t);
      ipcFail(k, t, IpcError.TIMEOUT, false);
    } else if (t.state === "blockedRecv") ipcFail(k, t, IpcError.TIMEOUT, true);
  }
}

/** Copies the message from src's MRs to dst's and performs its typed items. 0, or the failing word offset + 1. */
function transfer(k: KernelContext, src: Tcb, dst: Tcb): number {
  const sm = src.utcb.mr;
  const dm = dst.utcb.mr;
  const tag = sm[0];
  const u = tagU(tag);
  const t = tagT(tag);
  const n = 1 + u + t;
  if (n > MR_COUNT) return MR_COUNT;
  k.platform.charge(COSTS.IPC_WORD * n);
  for (let i = 1; i < n; i++) dm[i] = sm[i];
  dm[0] = (tag & ~0xf000) >>> 0;
  if (t === 0) return 0;
  return transferItems(k, src, dst, 1 + u, t);
}

function transferItems(k: KernelContext, src: Tcb, dst: Tcb, first: number, count: number): number {
  const sm = src.utcb.mr;
  const window = dst.kipc !== "none" ? acceptor(COMPLETE_FPAGE) : dst.utcb.acceptor & ~0xf;
  for (let i = first; i < first + count; i += 2) {
    k.platform.charge(COSTS.IPC_ITEM);
    const w0 = sm[i];
    const type = itemType(w0);
    if ((type !== ItemType.MAP && type !== ItemType.GRANT) || i + 1 >= first + count) return i;
    if (window === 0) return i;
    const f = sm[i + 1];
    if (f === 0) continue;
    mapItem(k, src, dst, w0, f, type === ItemType.GRANT, window);
  }
  return 0;
}

// ------------------------------------------------------------------------------------------------
// Interrupt threads as IPC partners.

/** Interrupt `line` reaches its handler h, which is waiting for it. */
export function deliverIrq(k: KernelContext, h: Tcb, line: number): void {
  k.s.irqs[line].state = "delivered";
  h.utcb.mr[0] = msgTag(Label.INTERRUPT, 0, 0);
  k.s.ipcSeq++;
  k.s.stats.ipcs++;
  k.observer?.ipc?.(globalId(line, 1), h.id, h.utcb.mr[0], h.utcb.mr);
  receiveDone(k, h, globalId(line, 1));
}

/** A send to interrupt thread `to`: its handler acknowledges the interrupt, which unmasks the line. */
function irqAck(k: KernelContext, t: Tcb, line: number, to: ThreadId): number {
  const irq = k.s.irqs[line];
  if (to !== globalId(line, 1) || irq.handler !== t.id) {
    ipcFail(k, t, IpcError.NOT_EXIST, false);
    return SEND_FAILED;
  }
  if (irq.state !== "delivered") {
    ipcFail(k, t, IpcError.TIMEOUT, false);
    return SEND_FAILED;
  }
  irq.state = "idle";
  k.platform.unmaskIrq(line);
  k.lastWoken = null;
  return SEND_DONE;
}

// ------------------------------------------------------------------------------------------------
// Kernel-generated IPC.

function saveMrs(t: Tcb): void {
  t.savedMr ??= new Uint32Array(MR_COUNT);
  t.savedMr.set(t.utcb.mr);
}

function restoreMrs(t: Tcb): void {
  if (t.savedMr) (t.utcb.mr as Uint32Array).set(t.savedMr);
}

/** t calls `to` with the kernel message in its MRs; with nobody to call, t is halted. */
export function kernelCall(k: KernelContext, t: Tcb, kind: KernelIpc, to: ThreadId): void {
  if (to === NIL_THREAD || !lookup(k, to)) {
    orphan(k, t);
    return;
  }
  t.kipc = kind;
  k.platform.charge(COSTS.IPC);
  doIpc(k, t, to, to, NEVER, NEVER);
}

function kernelIpcDone(k: KernelContext, t: Tcb): void {
  const kind = t.kipc;
  t.kipc = "none";
  const mr = t.utcb.mr;
  switch (kind) {
    case "start":
      t.ip = mr[1];
      t.sp = mr[2];
      startThread(k, t);
      return;
    case "pagefault":
    case "iofault":
      restoreMrs(t);
      makeReady(k, t);
      return;
    case "exception": {
      const u = tagU(mr[0]);
      if (u >= 1) t.ip = mr[1];
      if (u >= 2) t.flags = mr[2];
      if (u >= 8) t.sp = mr[8];
      restoreMrs(t);
      t.result = { op: "raise", ip: t.ip, sp: t.sp, flags: t.flags };
      makeReady(k, t);
      return;
    }
    case "vfault":
    case "vmfault":
      applyVreply(k, t);
      makeReady(k, t);
      return;
    default:
      makeReady(k, t);
  }
}

function kernelIpcFailed(k: KernelContext, t: Tcb): void {
  t.kipc = "none";
  restoreMrs(t);
  orphan(k, t);
}

/** A user access to `addr` found no mapping with the rights it needs: a page-fault IPC to the pager, `op` redone after it. */
export function pageFault(k: KernelContext, t: Tcb, addr: number, rwx: number, op: Syscall): void {
  k.s.stats.pageFaults++;
  k.observer?.fault?.(t.id, "page", addr, t.ip);
  pagerCall(k, t, "pagefault", Label.PAGE_FAULT | rwx, addr, op);
}

/** A user port access found no mapping of the port: an I/O-fault IPC to the pager, `op` redone after it. */
export function ioFault(k: KernelContext, t: Tcb, port: number, rwx: number, op: Syscall): void {
  k.s.stats.ioFaults++;
  k.observer?.fault?.(t.id, "io", port, t.ip);
  pagerCall(k, t, "iofault", Label.IO_FAULT | rwx, ioFpage(port, 0, rwx), op);
}

/** A fault message to t's pager (MR1 what faulted, MR2 the IP); `op` is redone after the reply. */
function pagerCall(k: KernelContext, t: Tcb, kind: KernelIpc, label: number, what: number, op: Syscall): void {
  saveMrs(t);
  t.pendingOp = op;
  const mr = t.utcb.mr;
  mr[0] = msgTag(label, 2, 0);
  mr[1] = what >>> 0;
  mr[2] = t.ip >>> 0;
  kernelCall(k, t, kind, t.utcb.pager);
}

/** A CPU exception of a user thread: an exception IPC to its handler. */
export function raise(k: KernelContext, t: Tcb, vector: number, errorCode: number): void {
  k.s.stats.exceptions++;
  k.observer?.fault?.(t.id, "exception", vector, t.ip);
  saveMrs(t);
  const mr = t.utcb.mr;
  mr.fill(0, 0, 13);
  mr[0] = msgTag(Label.EXCEPTION, 12, 0);
  mr[1] = t.ip >>> 0;
  mr[2] = t.flags >>> 0;
  mr[3] = vector >>> 0;
  mr[4] = errorCode >>> 0;
  mr[8] = t.sp >>> 0;
  kernelCall(k, t, "exception", t.utcb.exceptionHandler);
}
