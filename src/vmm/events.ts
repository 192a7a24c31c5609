// Interrupts into the guest, the thesis's way: the virtual PIC's highest request is injected when
// the guest can take it (EFLAGS.IF set, no STI or MOV SS shadow); otherwise the VMM asks the
// kernel for an interrupt-window exit and injects on that exit. An exit that interrupted the
// delivery of an event (IDT-vectoring information valid: say, an EPT violation on the guest's
// stack while it pushed an interrupt frame) delivers that event again first.

import { EventType, GuestField } from "../l4/api.js";
import { Flag } from "../x86/eflags.js";
import { BLOCKING_STI_MOVSS, type ExitCtx, type Vm } from "./context.js";

const VALID = 0x80000000;
/** IDT-vectoring information keeps valid, deliver-error-code, type and vector; bit 12 is undefined. */
const VECTORING_KEEP = 0x80000fff;

/** Whether the guest, as the reply leaves it, accepts an external interrupt. */
export function interruptible(c: ExitCtx): boolean {
  if (!c.has(GuestField.EFLAGS) || !c.has(GuestField.INTERRUPTIBILITY)) return false;
  return (c.get(GuestField.EFLAGS) & Flag.IF) !== 0 && (c.get(GuestField.INTERRUPTIBILITY) & BLOCKING_STI_MOVSS) === 0;
}

function counted(vm: Vm, vector: number): number {
  const st = vm.s.stats.injections;
  st[vector] = (st[vector] ?? 0) + 1;
  return vector;
}

/** The event logic that ends every reply to an exit. */
export function finishReply(c: ExitCtx): void {
  const st = c.s.stats;
  if (!c.reply.has(GuestField.ENTRY_INTR_INFO) && c.has(GuestField.IDT_VECTORING_INFO)) {
    const info = c.get(GuestField.IDT_VECTORING_INFO);
    if (info & VALID) {
      c.set(GuestField.ENTRY_INTR_INFO, (info & VECTORING_KEEP) >>> 0);
      c.set(GuestField.ENTRY_ERROR_CODE, c.get(GuestField.IDT_VECTORING_ERROR));
      c.set(GuestField.ENTRY_INSTR_LEN, c.eventLength);
      // A software interrupt or exception delivered again with its length completes its instruction.
      if (((info >>> 8) & 7) >= EventType.SOFTWARE_INTERRUPT && c.eventLength > 0) c.retire();
      st.reinjections++;
    }
  }
  const dev = c.dev;
  if (!dev.hasInterrupt()) return;
  if (!c.reply.has(GuestField.ENTRY_INTR_INFO) && interruptible(c)) {
    const vector = counted(c.vm, dev.acknowledge());
    c.inject(vector, EventType.EXTERNAL);
    if (!dev.hasInterrupt()) return;
  }
  c.set(GuestField.INTR_WINDOW, 1);
  st.windows++;
}
