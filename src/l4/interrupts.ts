// Interrupts (Pistachio's irq handling in thread.cc and the platform glue): a line is a
// pseudo-thread (number = line, version 1) that sends its handler an empty message labelled
// INTERRUPT. The kernel masks and acknowledges the line first; the handler's reply to the
// interrupt thread unmasks it (ipc.ts). ThreadControl on an interrupt thread associates a handler.

import { ANY_THREAD, L4Error, NIL_THREAD, globalId, threadNo, type ThreadId } from "./api.js";
import { COSTS } from "./costs.js";
import { deliverIrq } from "./ipc.js";
import { disarmTimeout } from "./sched.js";
import { lookup, type KernelContext, type Tcb } from "./state.js";

/** Takes every interrupt the platform has pending: to its waiting handler, or into its queue. */
export function pollIrqs(k: KernelContext): void {
  for (;;) {
    const line = k.platform.pendingIrq();
    if (line < 0) return;
    k.platform.charge(COSTS.IRQ);
    k.s.stats.irqs++;
    k.observer?.irq?.(line);
    k.platform.maskIrq(line);
    k.platform.ackIrq(line);
    const irq = k.s.irqs[line];
    const h = irq && irq.handler !== NIL_THREAD ? lookup(k, irq.handler) : null;
    if (!h || irq.state !== "idle") {
      k.s.stats.spuriousIrqs++;
      continue;
    }
    const irqId = globalId(line, 1);
    if (h.state === "blockedRecv" && h.kipc === "none" && (h.recvFrom === ANY_THREAD || h.recvFrom === irqId)) {
      disarmTimeout(k, h);
      deliverIrq(k, h, line);
    } else {
      irq.state = "pending";
      h.sendQueue.push(line);
    }
  }
}

/**
 * ThreadControl on interrupt thread `dest`: `pager` becomes its handler (the line is unmasked),
 * or with `pager` nil or the thread itself, it has none (masked). OK, or why not.
 */
export function associateIrq(k: KernelContext, dest: ThreadId, space: ThreadId, pager: ThreadId): L4Error {
  const line = threadNo(dest);
  const irq = k.s.irqs[line];
  if (dest !== globalId(line, 1) || space !== dest) return L4Error.INVALID_PARAM;
  const old = irq.handler !== NIL_THREAD ? lookup(k, irq.handler) : null;
  if (old) {
    const i = old.sendQueue.indexOf(line);
    if (i >= 0) old.sendQueue.splice(i, 1);
  }
  if (pager === dest || pager === NIL_THREAD) {
    irq.handler = NIL_THREAD;
    irq.state = "idle";
    k.platform.maskIrq(line);
  } else {
    if (!lookup(k, pager)) return L4Error.INVALID_PARAM;
    irq.handler = pager;
    irq.state = "idle";
    k.platform.unmaskIrq(line);
  }
  return L4Error.OK;
}

/** A deleted handler's lines have none any more, and are masked. */
export function releaseIrqs(k: KernelContext, d: Tcb): void {
  for (let line = 0; line < k.irqLines; line++) {
    const irq = k.s.irqs[line];
    if (irq.handler === d.id) {
      irq.handler = NIL_THREAD;
      irq.state = "idle";
      k.platform.maskIrq(line);
    }
  }
}
