// A VCPU's guest state in messages: the transfer masks its handler registered, the guest-state
// words a vfault carries (read from the VMCS through the Platform), and the words a reply writes
// back. vcpu.ts runs VCPUs and sends the messages; ipc.ts applies the replies.

import { GuestField, XFER_GROUP_FIRST, XFER_GROUPS, XFER_READ_ONLY, tagU, xferWords, type VcpuConfig } from "./api.js";
import { COSTS } from "./costs.js";
import type { VcpuExit } from "./platform.js";
import type { KernelContext, Tcb, VcpuState } from "./state.js";

/** t's VCPU state, created on first use. */
export function vcpuState(t: Tcb): VcpuState {
  t.vcpu ??= {
    created: false, startup: false, recall: false, inGuest: false, xferDefault: 0, xfer: {},
    run: { id: t.no, eptRoot: -1, ioBitmaps: [] }, lastReason: -1, lastQualification: 0,
  };
  return t.vcpu;
}

/** ThreadControl's VCPU part: the default and per-reason transfer masks. */
export function configureVcpu(t: Tcb, cfg: VcpuConfig): void {
  const v = vcpuState(t);
  v.xferDefault = cfg.xferDefault >>> 0;
  v.xfer = {};
  for (const [reason, mask] of cfg.xfer ?? []) v.xfer[reason] = mask >>> 0;
}

/** Drops the highest groups until the mask's words fit in `room` registers. */
export function fitMask(mask: number, room: number): number {
  mask &= (1 << XFER_GROUPS) - 1;
  for (let g = XFER_GROUPS - 1; g >= 0 && xferWords(mask) > room; g--) mask &= ~(1 << g);
  return mask >>> 0;
}

/** Writes the guest-state words of `mask` from MR[i] on; returns the next free index. */
export function readState(k: KernelContext, t: Tcb, mask: number, exit: VcpuExit | null, i: number): number {
  const mr = t.utcb.mr;
  const p = k.platform;
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

/** The reply to a vfault or VM page fault: write back the state words its mask names. */
export function applyVreply(k: KernelContext, t: Tcb): void {
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
      k.platform.guestWrite(t.no, f, mr[i]);
      words++;
    }
  }
  k.platform.charge(COSTS.VM_WORD * words);
}
