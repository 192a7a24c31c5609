// The messages between a replay running in a worker thread (./worker.ts) and the tool that drives
// it (./client.ts): requests one way, answers and progress the other. Everything here is plain
// data that the structured clone of postMessage copies: numbers, strings, arrays, Uint8Arrays.
// Nothing of the machine crosses: the tool sees snapshots of it, and asks for moves.

import type { ExitEvent } from "../exit-log.js";
import type { Moment } from "../timeline.js";
import type { Elf32Symbol } from "../../x86/elf32.js";
import type { LineSections } from "../../x86/dwarf-line.js";

/** What the worker opens: a recording's bytes and what it needs besides them. */
export interface OpenReplay {
  /** The recording file's bytes, and its name for messages. */
  recording: Uint8Array;
  name: string;
  /** Images the recording does not carry, by role ("boot image", "kernel", "initrd"). */
  images: { [role: string]: Uint8Array };
  /** The functions and objects of an ELF's symbol table (../../x86/elf32.ts), to name guest addresses. */
  symbols?: Elf32Symbol[];
  /** That ELF's DWARF line sections (copies: the file is not sent), to name guest EIP's source line. */
  lines?: LineSections;
  /** Where checkpoints are kept between sessions (src/replay/checkpoint-cache.ts), or none. */
  checkpointCache?: string;
  /** Instructions a slice of a long move runs between looks for a cancel (default: the driver's SLICE). */
  slice?: number;
  /** Serve gdb on this replay too, at this address (./gdb.ts): both move one position. */
  gdb?: { host: string; port: number };
}

/** Where to go: after instruction N, at VM exit N, a guest time, a share of the recording, a console text. */
export type GoTo =
  | { kind: "icount"; n: number }
  | { kind: "exit"; n: number }
  | { kind: "ns"; n: number }
  | { kind: "percent"; p: number }
  | { kind: "console"; text: string };

export type Move =
  | { op: "step" }
  | { op: "reverse-step" }
  | { op: "next-exit" }
  | { op: "previous-exit" }
  | { op: "continue" }
  | { op: "reverse-continue" }
  | { op: "go"; to: GoTo };

/** What a tool asks; each but cancel is answered with a Reply of the same id. */
export type Request =
  | ({ id: number } & Move)
  | { id: number; op: "snapshot"; memory?: number }
  /** A breakpoint at an address or a symbol; toggled when one is there. */
  | { id: number; op: "break"; at: string }
  | { id: number; op: "watch"; at: string; length: number }
  /** Stop at VM exits of a reason (`io`, `hlt`, `IO_INSTRUCTION 0x3f8 out`, a number), `before` or `after` the VMM handles them; `clear` drops them. */
  | { id: number; op: "break-exit"; filter: string }
  /** Stop at L4 events (`ipc to 36`, `switch`, as gdb's `monitor break-l4`); `clear` drops them. */
  | { id: number; op: "break-l4"; filter: string }
  /** Where the memory view looks: an address, a symbol or a register name. */
  | { id: number; op: "memory"; at: string }
  | { id: number; op: "close" }
  /** Stops the move under way, at a consistent position (the last slice's). */
  | { op: "cancel" };

export type Reply =
  | { id: number; ok: true; snapshot: Snapshot; note?: string }
  | { id: number; ok: false; error: string; snapshot?: Snapshot };

/** Sent unasked. */
export type Event =
  | { event: "ready"; info: ReplayInfo; snapshot: Snapshot }
  /** The replay could not start; `kind` names an error that is the user's to fix (a port taken, a bad recording), not a bug. */
  | { event: "failed"; error: string; kind?: "listen" | "recording" }
  /** A long move goes on: where it is. */
  | { event: "progress"; what: string; icount: number; exits: number }
  /**
   * gdb beside the TUI (./gdb.ts): a client came or went, its run started, goes on (progress) or
   * stopped (with the snapshot there: after a monitor command too), or a line for the user.
   */
  | { event: "gdb"; what: "attached" | "detached" | "running" | "progress" | "stopped" | "message"; text: string; snapshot?: Snapshot; icount?: number; exits?: number };

export type FromWorker = Reply | Event;

/** What does not change while the replay moves: the recording's extent and its VM exits' density. */
export interface ReplayInfo {
  name: string;
  machine: "stack" | "bare";
  /** The recording's last position: its end record, or its last record when cut short. */
  endIcount: number;
  endNs: number;
  exits: number;
  /** VM exits in each of DENSITY_BUCKETS equal stretches of instructions from 0 to endIcount. */
  density: number[];
  /** Where gdb attaches, when it is served beside (OpenReplay's gdb; port 0 became a free one). */
  gdb?: { host: string; port: number };
}

export const DENSITY_BUCKETS = 512;

export interface RegisterValue {
  name: string;
  value: number;
  /** Hex digits it is shown in (4 for selectors, 8 else). */
  digits: number;
}

export interface DisasmLine {
  addr: number;
  bytes: string;
  text: string;
  /** Nearest symbol and offset, when symbols were given. */
  symbol?: string;
  current: boolean;
}

export interface ExitView {
  exit: ExitEvent;
  /** The reason's name, and what the qualification says (../exit-log.ts). */
  reason: string;
  qualification: string;
  /** The guest instruction at the exit's EIP, as disassembled now (under the guest's current paging). */
  insn?: string;
}

export interface ThreadView {
  no: number;
  id: number;
  kind: "user" | "vcpu";
  state: string;
  program: string | null;
}

/** What the panes show at one position: everything a view needs, nothing of the machine. */
export interface Snapshot {
  pos: { icount: number; exits: number; ns: number; at: Moment; eip: number };
  registers: RegisterValue[];
  /** 16- or 32-bit code (the code segment's D bit). */
  bits: 16 | 32;
  disasm: DisasmLine[];
  /** `file:line` of the instruction at EIP, from the symbol file's DWARF line table; null without one. */
  source: string | null;
  memory: { label: string; addr: number; bytes: number[] };
  /** The exit the replay is at (moment "exit"), else the last one taken; null before the first. */
  exit: ExitView | null;
  atExit: boolean;
  /**
   * The VMM's reply to the exit the last move (a step) left: the guest registers it changed and
   * the vectors it injected, as the replay stands before the guest's next instruction.
   */
  reply: { exit: number; registers: RegisterValue[]; injected: number[] } | null;
  /**
   * The VMM's reply to the last exit as its message to the VCPU says it (src/replay/l4-events.ts's
   * describeVfaultReply): `sent` once the handler has sent it; before that, known from a run that
   * passed it. Null when no run has passed it yet.
   */
  vmmReply: { exit: number; text: string; sent: boolean } | null;
  recentExits: { n: number; icount: number; reason: string; qualification: string }[];
  threads: ThreadView[];
  kernel: { ipcs: number; contextSwitches: number; syscalls: number; irqs: number } | null;
  /** The kernel's last IPCs up to this position, oldest first: `#N: FROM -> TO label L mr …`. */
  ipcs: string[];
  /** The VMM's virtual devices in brief: per device the port accesses, and the vectors injected. */
  devices: string[];
  /** The guest's console as it stood at this instant: its last bytes. */
  console: string;
  /** Marks along the timeline, as icounts. */
  marks: { checkpoints: number[]; hits: number[]; lines: number[] };
  breakpoints: string[];
  exitBreaks: string[];
  /** Why the last move stopped, in a few words. */
  stop?: string;
}
