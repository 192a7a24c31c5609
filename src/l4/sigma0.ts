// sigma0, the root pager (X.2 appendix "sigma0 RPC protocol"): it runs in the root space, which
// owns all physical memory and ports outside the kernel's, and hands them out idempotently
// (virtual = physical) to whoever asks first:
//   - a sigma0 request (label SIGMA0, MR1 the fpage wanted, its rights) is answered with a map
//     item of that fpage, or a nil fpage when any of it belongs to another thread;
//   - a page fault of a thread sigma0 pages is answered with the 4 KiB page of the fault address;
//   - an I/O fault with the faulting port.
// It is an ordinary user program over the API, like any other.

import {
  Label,
  NIL_FPAGE,
  Rights,
  fpage,
  fpageBase,
  fpageLog2,
  fpageRights,
  ioFpage,
  ioFpageLog2,
  ioFpagePort,
  ipcFailed,
  isIoFaultLabel,
  isIoFpage,
  isPageFaultLabel,
  msgTag,
  putMapItem,
  replyWait,
  tagLabel,
  wait,
  type ProgramImage,
  type Syscall,
  type SyscallResult,
  type ThreadId,
  type UserProgram,
  type Utcb,
} from "./api.js";

export interface Sigma0State {
  /** Conventional memory not kept by the kernel, as [base, end). */
  memory: [number, number][];
  /** Who got what: [base, end, thread] for memory and for ports. */
  owners: [number, number, ThreadId][];
  ioOwners: [number, number, ThreadId][];
}

export function sigma0Image(): ProgramImage {
  const state: Sigma0State = { memory: [], owners: [], ioOwners: [] };
  return { name: "sigma0", state };
}

/** Gives [base, end) to `owner` unless someone else has part of it; merges with its neighbours. */
function claim(list: [number, number, ThreadId][], base: number, end: number, owner: ThreadId): boolean {
  for (const [b, e, o] of list) if (o !== owner && b < end && e > base) return false;
  list.push([base, end, owner]);
  list.sort((x, y) => x[0] - y[0]);
  for (let i = 0; i + 1 < list.length; ) {
    const a = list[i];
    const b = list[i + 1];
    if (a[2] === b[2] && b[0] <= a[1]) {
      a[1] = Math.max(a[1], b[1]);
      list.splice(i + 1, 1);
    } else i++;
  }
  return true;
}

function inMemory(s: Sigma0State, base: number, end: number): boolean {
  return s.memory.some(([b, e]) => base >= b && end <= e);
}

export const SIGMA0: UserProgram<Sigma0State> = {
  step(s: Sigma0State, utcb: Utcb, r: SyscallResult): Syscall {
    if (r.op === "start") return { op: "kernelInterface" };
    if (r.op === "kernelInterface") {
      const km = r.kip.memory.filter((m) => m.type === "kernel");
      for (const m of r.kip.memory) {
        if (m.type !== "conventional") continue;
        let pieces: [number, number][] = [[m.base, m.base + m.size]];
        for (const k of km) {
          pieces = pieces.flatMap(([b, e]): [number, number][] => {
            const kb = k.base;
            const ke = k.base + k.size;
            if (ke <= b || kb >= e) return [[b, e]];
            const out: [number, number][] = [];
            if (kb > b) out.push([b, kb]);
            if (ke < e) out.push([ke, e]);
            return out;
          });
        }
        s.memory.push(...pieces);
      }
      return wait();
    }
    if (r.op !== "ipc" || ipcFailed(r.tag)) return wait();
    const mr = utcb.mr;
    const label = tagLabel(r.tag);
    const from = r.from;
    let give = NIL_FPAGE;
    if (isPageFaultLabel(label)) {
      const page = Math.floor(mr[1] / 4096) * 4096;
      if (inMemory(s, page, page + 4096) && claim(s.owners, page, page + 4096, from)) give = fpage(page, 12, Rights.RWX);
    } else if (label === Label.SIGMA0) {
      const want = mr[1];
      if (isIoFpage(want)) {
        const log2 = ioFpageLog2(want);
        const port = ioFpagePort(want) - (ioFpagePort(want) % 2 ** log2);
        if (claim(s.ioOwners, port, port + 2 ** log2, from)) give = ioFpage(port, log2, Rights.RWX);
      } else {
        const log2 = fpageLog2(want);
        const base = fpageBase(want);
        const end = base + 2 ** log2;
        if (log2 >= 12 && log2 < 32 && inMemory(s, base, end) && claim(s.owners, base, end, from)) {
          give = fpage(base, log2, fpageRights(want) || Rights.RWX);
        }
      }
    } else if (isIoFaultLabel(label)) {
      const port = ioFpagePort(mr[1]);
      if (claim(s.ioOwners, port, port + 1, from)) give = ioFpage(port, 0, Rights.RWX);
    } else {
      mr[0] = msgTag(0, 0, 0);
      return replyWait(from);
    }
    mr[0] = msgTag(0, 0, 2);
    putMapItem(mr, 1, give, isIoFpage(give) ? 0 : fpageBase(give));
    return replyWait(from);
  },
};
