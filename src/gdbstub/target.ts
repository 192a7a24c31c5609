// The target layer: what the stub needs from whatever it debugs. The protocol server (stub.ts)
// knows packets and nothing of the emulator; the replay Session implements this interface over the
// machine. Everything here is synchronous and returns errors as values: the stub turns them into
// `E` replies, and a target exception is caught and answered the same way.
//
// A target is stopped whenever the stub is not inside `resume`. There is no asynchronous "running"
// state: running is a series of bounded resume slices the stub drives from the event loop, and
// between slices it can answer Ctrl-C. That keeps the event loop (and so the socket) alive while
// the guest runs for minutes, and it is the shape reverse execution needs too: a reverse-continue
// is a scan over snapshot intervals that can stop between any two of them.

import type { RegisterFile } from "./registers.js";

export type { RegisterFile, Reg32, StReg } from "./registers.js";

/** A guest-virtual address, translated by the target through the guest's current page tables. */
export type GuestVirt = number & { readonly __brand?: "GuestVirt" };

export type Direction = "forward" | "reverse";

export type BreakpointKind = "sw" | "hw";
export type WatchKind = "write" | "read" | "access";

/**
 * A breakpoint (`Z0`/`Z1`: stop before executing the instruction at addr) or a watchpoint
 * (`Z2`/`Z3`/`Z4`: stop after an instruction that accessed [addr, addr+length)). Both are kept by
 * the target and checked by the emulator; guest memory is never patched.
 */
export type Breakpoint =
  | { type: BreakpointKind; addr: GuestVirt; /** gdb's "kind": the breakpoint length, 1 on x86 */ length: number }
  | { type: WatchKind; addr: GuestVirt; length: number };

/** Why the target stopped; the stub turns it into a stop reply. */
export type StopReason =
  /** A signal: 5 (SIGTRAP) after a single step, 2 (SIGINT) after an interrupt, 4 (SIGILL)... */
  | { kind: "signal"; signal: number }
  /** A software (`Z0`) breakpoint at the current eip: the instruction there has not run. */
  | { kind: "swbreak" }
  /** A hardware (`Z1`) breakpoint at the current eip. */
  | { kind: "hwbreak" }
  /** A watchpoint hit by the instruction just completed; addr is the accessed address. */
  | { kind: "watch"; watch: WatchKind; addr: GuestVirt }
  /** The machine halted for good (HLT with interrupts off, triple fault, end of a live run): nothing left to run. */
  | { kind: "halted" }
  /** The machine is gone: the session ended with this status. gdb sees the process exit. */
  | { kind: "exited"; code: number }
  /** Reverse execution reached the start of history, or forward replay its end (rr's replaylog). */
  | { kind: "historyEdge"; edge: "begin" | "end" };

export interface ResumeRequest {
  action: "step" | "continue";
  direction: Direction;
  /**
   * With a step: gdb's range stepping (`vCont;r`): after the first instruction, go on stepping while
   * the eip stays in [start, end), and stop before the first instruction outside it (or for
   * anything else that stops a continue).
   */
  range?: { start: GuestVirt; end: GuestVirt };
  /**
   * How much to do before returning: roughly this many instructions. A step or continue that has
   * not stopped after its budget returns "running" and the stub calls resume again from the event
   * loop (a step normally stops within its first slice; a range step, or a step over a long halt,
   * may not).
   */
  budget: number;
  /**
   * True on the first slice of a step or continue. A breakpoint at the eip a continue starts from
   * does not stop it (the instruction there runs first, as after resuming from a reported
   * breakpoint); on later slices the target is mid-run and every breakpoint counts.
   */
  first: boolean;
}

export type ResumeResult = { state: "stopped"; stop: StopReason } | { state: "running" };

/**
 * A failure the stub reports as `Exx`. "fault": an address with no mapping. "refused": the target
 * will not do it now (writing registers or memory during replay: history cannot change).
 * "unsupported": the target lacks the feature (the stub answers with the empty reply, which tells
 * gdb to stop asking). "invalid": arguments the target cannot accept.
 */
export interface TargetError {
  error: "fault" | "refused" | "unsupported" | "invalid";
  message?: string;
}

export type TargetResult = TargetError | undefined;

export interface TargetCapabilities {
  /** Offers `bs`/`bc` (reverse step and continue) and reports ReverseStep+/ReverseContinue+. */
  reverse: boolean;
}

export interface DebugTarget {
  readonly capabilities: TargetCapabilities;

  readRegisters(): RegisterFile;
  /** Writes the given registers (any subset); during replay a target refuses. */
  writeRegisters(values: Partial<RegisterFile>): TargetResult;

  /**
   * Reads guest-virtual memory. Returns the readable prefix: fewer bytes than asked when the range
   * runs into an unmapped page, none when its first byte is unmapped.
   */
  readMemory(addr: GuestVirt, length: number): Uint8Array;
  /** Writes guest-virtual memory, all or nothing. */
  writeMemory(addr: GuestVirt, bytes: Uint8Array): TargetResult;

  /**
   * Guest-physical memory, for QEMU's physical memory mode (`maint packet Qqemu.PhyMemMode:1`, then
   * `m`/`M`/`X` address it): the readable prefix, as readMemory.
   */
  readPhysical?(addr: number, length: number): Uint8Array;
  /** Writes guest-physical memory, all or nothing. */
  writePhysical?(addr: number, bytes: Uint8Array): TargetResult;

  /** Inserting the same breakpoint twice is one breakpoint; removing one never inserted is fine. */
  insertBreakpoint(bp: Breakpoint): TargetResult;
  removeBreakpoint(bp: Breakpoint): TargetResult;

  /** Runs one bounded slice; see ResumeRequest. A reverse request on a target without the capability may return unsupported. */
  resume(request: ResumeRequest): ResumeResult | TargetError;
  /**
   * Ctrl-C arrived while a continue was in progress: the stub will not call resume again for it.
   * The target settles at an instruction boundary (a reverse scan picks where to stop) and says
   * what to report, normally `{ kind: "signal", signal: 2 }`.
   */
  interrupt(): StopReason;

  /** Why the target is stopped now, for `?` (the last stop reason, or SIGTRAP at the start). */
  stopReason(): StopReason;

  /**
   * What to add to the addresses of the guest's symbol file (gdb's qOffsets): a kernel that runs
   * away from its link address (KASLR). Undefined: gdb keeps the symbols where they were linked.
   */
  sectionOffsets?(): number | undefined;

  /** Runs a `monitor` command and returns its output (newline-terminated lines), or an error. */
  monitor(command: string): string | TargetError;

  /** gdb detached or the client went away: the target may forget per-client state. */
  detach?(): void;
  /** gdb sent `k`: the user asked to end the debug session. */
  kill?(): void;
}

export function isTargetError(x: unknown): x is TargetError {
  return typeof x === "object" && x !== null && !(x instanceof Uint8Array) && "error" in x;
}
