// The L4 kernel's events as a debugger sees them: plain copies of what the kernel's observer
// hooks report (src/l4/state.ts, KernelObserver), the filters `monitor break-l4` sets, and one
// line for each. An event carries where it is in the kernel's history: `n`, the kernel's event
// count right after it (its position, see ./timeline.ts's "event" moment), and `seq`, the kernel's
// own counter of that kind of event (stats.ipcs for an IPC, stats.contextSwitches for a switch,
// the fault's counter, stats.irqs, stats.vmExits for the entry after that exit; a map or unmap has
// none of its own: its `seq` is `n`).
//
// The map items of one IPC (and the mappings one Unmap call removes) share one position: `n` is
// the count after the IPC, and no counter moves between them, because the kernel counts no map
// item (an item is part of the IPC that carries it). A counter of its own would be kernel state,
// which every recording's state hashes cover: adding one would make every recording diverge. The
// items also share one state, the end of the kernel's scheduling step, where every event stop is.
// So `break-l4 map` reports them as it reports any events of one step: forward, one stop per item,
// in the kernel's order, all at the same `monitor when`; reverse-continue counts only hits strictly
// before where it starts, so from any item of an IPC it goes to the previous IPC (or Unmap) with a
// match and reports the last matching item of it.

import { NIL_THREAD, tagLabel, tagU, threadNo, Xfer, XFER_GROUP_FIRST, XFER_GROUP_NAMES, XFER_GROUPS, type ThreadId } from "../l4/api.js";
import type { FaultKind } from "../l4/kernel.js";

export type L4EventKind = "ipc" | "switch" | "fault" | "irq" | "entry" | "map" | "unmap";
export const L4_EVENT_KINDS: readonly L4EventKind[] = ["ipc", "switch", "fault", "irq", "entry", "map", "unmap"];

interface EventBase {
  /** The kernel's event count right after the event. */
  n: number;
  /** The kernel's own counter of this kind of event, the event included. */
  seq: number;
}

export type L4Event = EventBase &
  (
    /** `to` nil: a receive only. `mr` the message: MR0 (the tag) and its untyped and typed words. */
    | { kind: "ipc"; from: ThreadId; to: ThreadId; tag: number; mr: number[] }
    | { kind: "switch"; from: ThreadId; to: ThreadId }
    /** `what`: the address (page, guest-physical page), the port's I/O fpage, or the vector. */
    | { kind: "fault"; thread: ThreadId; fault: FaultKind; what: number; ip: number }
    | { kind: "irq"; line: number }
    /** The kernel entered the VM of VCPU thread `vcpu`: the guest's next instruction follows. */
    | { kind: "entry"; vcpu: ThreadId }
    /** A mapping of 2^log2 bytes (ports, with `io`) at `vaddr` in `space`, to `paddr`, entered (or its rights changed) or removed. */
    | { kind: "map" | "unmap"; space: number; io: boolean; vaddr: number; log2: number; paddr: number; rights: number }
  );

/**
 * Which events stop a run. Threads are matched by thread number (what `monitor l4 threads` lists)
 * or global id; for an IPC `from` is the sender (an interrupt's line number for its delivery),
 * `to` the receiver, `label` the tag's label; for a switch, `to` the thread switched to; for a
 * fault, `from` the faulting thread and `fault` its kind; for an interrupt, `line`; for a map or
 * unmap, `space` the address space.
 */
export interface L4Filter {
  kind: L4EventKind;
  from?: number;
  to?: number;
  label?: number;
  line?: number;
  fault?: FaultKind;
  space?: number;
  /** As the user wrote it. */
  text: string;
}

const FAULT_KINDS: readonly FaultKind[] = ["page", "io", "exception", "vm"];

/** Parses `KIND [from T] [to T] [label L] [line N] [page|io|exception|vm]`: a filter, or why not. */
export function parseL4Filter(words: readonly string[], number: (s: string | undefined) => number | undefined): L4Filter | string {
  const kind = words[0] as L4EventKind;
  if (!L4_EVENT_KINDS.includes(kind)) return `break-l4: expected one of ${L4_EVENT_KINDS.join(", ")}, got ${words[0] ?? "nothing"}`;
  const f: L4Filter = { kind, text: words.join(" ") };
  for (let i = 1; i < words.length; i++) {
    const w = words[i];
    if (kind === "fault" && FAULT_KINDS.includes(w as FaultKind)) {
      f.fault = w as FaultKind;
      continue;
    }
    const key = w as "from" | "to" | "label" | "line" | "space";
    const allowed = kind === "ipc" ? ["from", "to", "label"] : kind === "switch" ? ["to"] : kind === "fault" ? ["from"] : kind === "irq" ? ["line"] : kind === "map" || kind === "unmap" ? ["space"] : [];
    const v = number(words[i + 1]);
    if (!allowed.includes(key) || v === undefined) return `break-l4 ${kind}: expected ${allowed.map((a) => `[${a} N]`).join(" ") || "no filter"}${kind === "fault" ? " [page|io|exception|vm]" : ""}, got ${words.slice(1).join(" ")}`;
    f[key] = v;
    i++;
  }
  return f;
}

/** Whether thread `id` is the one a filter names by number or by global id. */
function sameThread(id: ThreadId, want: number): boolean {
  return id !== NIL_THREAD && (id >>> 0 === want >>> 0 || threadNo(id) === want);
}

export function matchesL4(f: L4Filter, e: L4Event): boolean {
  if (f.kind !== e.kind) return false;
  switch (e.kind) {
    case "ipc":
      return (f.from === undefined || sameThread(e.from, f.from)) && (f.to === undefined || sameThread(e.to, f.to)) && (f.label === undefined || tagLabel(e.tag) === f.label);
    case "switch":
      return f.to === undefined || sameThread(e.to, f.to);
    case "fault":
      return (f.from === undefined || sameThread(e.thread, f.from)) && (f.fault === undefined || f.fault === e.fault);
    case "irq":
      return f.line === undefined || e.line === f.line;
    case "entry":
      return true;
    case "map":
    case "unmap":
      return f.space === undefined || e.space === f.space;
  }
}

const hex = (v: number): string => `0x${(v >>> 0).toString(16)}`;
const thread = (id: ThreadId): string => (id === NIL_THREAD ? "nil" : `${threadNo(id)}`);

/** One line: the kernel's counter of the kind, what happened, and (for an IPC) its message. */
export function describeL4Event(e: L4Event): string {
  switch (e.kind) {
    case "ipc":
      return e.to === NIL_THREAD
        ? `ipc #${e.seq}: ${thread(e.from)} receives`
        : `ipc #${e.seq}: ${thread(e.from)} -> ${thread(e.to)} label ${hex(tagLabel(e.tag))} mr ${e.mr.map(hex).join(" ")}`;
    case "switch":
      return `switch #${e.seq}: ${thread(e.from)} -> ${thread(e.to)}`;
    case "fault":
      return `fault #${e.seq}: ${e.fault} fault of ${thread(e.thread)} at ${hex(e.what)} ip ${hex(e.ip)}`;
    case "irq":
      return `irq #${e.seq}: line ${e.line}`;
    case "entry":
      return `entry after exit #${e.seq - 1}: VCPU ${thread(e.vcpu)} enters the guest`;
    case "map":
    case "unmap":
      return `${e.kind} in space ${e.space}: ${e.io ? "ports" : "pages"} ${hex(e.vaddr)}+2^${e.log2} ${e.kind === "map" ? `-> ${hex(e.paddr)} rights ${e.rights}` : ""}`.trimEnd();
  }
}

const EVENT_TYPES = ["external interrupt", "reserved", "NMI", "hardware exception", "software interrupt", "privileged software exception", "software exception", "other"];

/**
 * A VMM's reply to a virtualization fault, as the kernel reads it (MR1 the mask of the groups
 * written back, MR2... their words): each group by name with its words, an injection decoded.
 */
export function describeVfaultReply(mr: readonly number[]): string {
  if (tagU(mr[0] ?? 0) === 0) return "resume unchanged";
  const mask = mr[1] ?? 0;
  const parts: string[] = [];
  let w = 2;
  for (let g = 0; g < XFER_GROUPS; g++) {
    if ((mask & (1 << g)) === 0) continue;
    const words = mr.slice(w, w + XFER_GROUP_FIRST[g + 1] - XFER_GROUP_FIRST[g]);
    w += words.length;
    if (1 << g === Xfer.INJ && ((words[0] ?? 0) & 0x80000000) !== 0) {
      const info = words[0];
      parts.push(`inject vector ${info & 0xff} (${EVENT_TYPES[(info >>> 8) & 7]})${info & (1 << 11) ? ` error ${hex(words[1] ?? 0)}` : ""}`);
    } else parts.push(`${XFER_GROUP_NAMES[g]}=${words.length === 1 ? hex(words[0]) : `[${words.map(hex).join(" ")}]`}`);
  }
  return `${parts.join(" ")} (mask ${hex(mask)})`;
}
