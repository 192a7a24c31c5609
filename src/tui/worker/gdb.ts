// gdb on the replay the TUI looks at (`afterglow replay FILE --tui --gdb PORT`): the stub serves
// the worker's Debugger, the one the ReplayDriver moves, so both see one position. The worker's
// event loop runs both: the stub's resume slices and the driver's moves take turns between
// slices, and this target keeps them from moving the machine at once:
//
// - while gdb waits for a stop reply (its step or continue runs), the TUI's moves and breakpoint
//   changes are refused; its Esc interrupts gdb's run, which gdb sees as a SIGINT stop;
// - while a TUI move runs, gdb's resume waits for it to end (the stub's slices run nothing);
// - every gdb stop, and every monitor command (`seek` moves), sends the TUI a snapshot.

import { listenGdb, type GdbServer, type ListenAddress } from "../../gdbstub/server.js";
import { SessionTarget } from "../../gdbstub/session-target.js";
import type { Breakpoint, DebugTarget, RegisterFile, ResumeRequest, ResumeResult, StopReason, TargetError, TargetResult } from "../../gdbstub/target.js";
import type { ReplayDriver } from "../../replay/remote/driver.js";
import type { Event } from "../../replay/remote/protocol.js";

/** Instructions one resume slice runs at most: the TUI's Esc and its redraws wait no longer. */
const MAX_SLICE = 4_000_000;
/** How often a gdb run tells the TUI where it is. */
const PROGRESS_MS = 200;

type GdbEvent = Extract<Event, { event: "gdb" }>;

/** What a gdb stop is called on the TUI's status line. */
export function describeGdbStop(stop: StopReason, name: (addr: number) => string): string {
  switch (stop.kind) {
    case "signal":
      return stop.signal === 2 ? "interrupted" : stop.signal === 24 ? "at the host's limit" : "stopped";
    case "swbreak":
    case "hwbreak":
      return "at a breakpoint";
    case "watch":
      return `at a watchpoint (${stop.watch}) on ${name(stop.addr)}`;
    case "halted":
      return "the guest stopped";
    case "exited":
      return `the replay ended (status ${stop.code})`;
    case "historyEdge":
      return stop.edge === "begin" ? "at the start of history" : "at the end of the recording";
  }
}

export class SharedTarget implements DebugTarget {
  readonly capabilities;
  private readonly inner: SessionTarget;
  /** gdb's step or continue in progress: what it is. */
  private running: string | null = null;
  /** Its first slice has not run yet (it waited for a TUI move): the stub's `first` is kept for it. */
  private firstPending = false;
  private interruptAsked = false;
  private lastProgress = 0;

  constructor(
    private readonly driver: ReplayDriver,
    private readonly tell: (e: GdbEvent) => void,
  ) {
    this.inner = new SessionTarget(driver.debugger, { kernel: driver.kernel, onMessage: (line) => tell({ event: "gdb", what: "message", text: line.replace(/^afterglow: /, "") }) });
    this.capabilities = this.inner.capabilities;
  }

  /** gdb's run in progress, or null. */
  get run(): string | null {
    return this.running;
  }

  /** The TUI's Esc: gdb's run stops at its next slice, and gdb is told SIGINT. */
  interruptRun(): void {
    if (this.running !== null) this.interruptAsked = true;
  }

  resume(req: ResumeRequest): ResumeResult | TargetError {
    if (req.first) {
      this.firstPending = true;
      this.interruptAsked = false;
    }
    if (this.driver.moving) return { state: "running" };
    if (this.running === null) {
      const what = `${req.direction === "reverse" ? "reverse " : ""}${req.action === "step" ? (req.range ? "range stepping" : "stepping") : "continuing"}`;
      this.running = what;
      this.driver.gdbRun = what;
      this.tell({ event: "gdb", what: "running", text: what });
    }
    if (this.interruptAsked) return { state: "stopped", stop: this.interrupt() };
    const r = this.inner.resume({ ...req, first: this.firstPending, budget: Math.min(req.budget, MAX_SLICE) });
    this.firstPending = false;
    if ("error" in r) {
      this.settle(null);
      return r;
    }
    if (r.state === "stopped") this.settle(r.stop);
    else if (performance.now() - this.lastProgress > PROGRESS_MS) {
      this.lastProgress = performance.now();
      const p = this.driver.debugger.where();
      this.tell({ event: "gdb", what: "progress", text: this.running ?? "", icount: p.icount, exits: p.exits });
    }
    return r;
  }

  interrupt(): StopReason {
    const stop = this.inner.interrupt();
    this.settle(stop);
    return stop;
  }

  /** gdb's run ended (with `stop`, or an error): the TUI gets where it ended. */
  private settle(stop: StopReason | null): void {
    this.running = null;
    this.driver.gdbRun = null;
    this.interruptAsked = false;
    const text = stop === null ? "gdb's run failed" : `gdb: ${describeGdbStop(stop, (a) => this.driver.addressName(a))}`;
    this.tell({ event: "gdb", what: "stopped", text, snapshot: this.driver.movedBy(text, stop?.kind === "swbreak" || stop?.kind === "hwbreak" || stop?.kind === "watch") });
  }

  monitor(command: string): string | TargetError {
    const r = this.inner.monitor(command);
    // `seek` moves, `break-exit` and `break-l4` change what the panes list.
    this.tell({ event: "gdb", what: "stopped", text: `gdb: monitor ${command}`, snapshot: this.driver.movedBy(undefined, false) });
    return r;
  }

  detach(): void {
    // A client that goes while its run is under way leaves the machine where the run's last slice did.
    if (this.running !== null) this.interrupt();
  }

  kill(): void {
    // The TUI owns the session: gdb's kill ends gdb's connection, not the replay (q does).
    this.detach();
  }

  readRegisters(): RegisterFile {
    return this.inner.readRegisters();
  }
  writeRegisters(values: Partial<RegisterFile>): TargetResult {
    return this.inner.writeRegisters(values);
  }
  readMemory(addr: number, length: number): Uint8Array {
    return this.inner.readMemory(addr, length);
  }
  writeMemory(addr: number, bytes: Uint8Array): TargetResult {
    return this.inner.writeMemory(addr, bytes);
  }
  readPhysical(addr: number, length: number): Uint8Array {
    return this.inner.readPhysical(addr, length);
  }
  writePhysical(addr: number, bytes: Uint8Array): TargetResult {
    return this.inner.writePhysical(addr, bytes);
  }
  insertBreakpoint(bp: Breakpoint): TargetResult {
    return this.inner.insertBreakpoint(bp);
  }
  removeBreakpoint(bp: Breakpoint): TargetResult {
    return this.inner.removeBreakpoint(bp);
  }
  stopReason(): StopReason {
    return this.inner.stopReason();
  }
  sectionOffsets(): number | undefined {
    return this.inner.sectionOffsets();
  }
}

/** Serves gdb at `at` on the driver's replay; `tell` gets what the TUI shows of it. */
export async function serveGdbBeside(driver: ReplayDriver, at: ListenAddress, tell: (e: GdbEvent) => void): Promise<{ target: SharedTarget; server: GdbServer }> {
  const target = new SharedTarget(driver, tell);
  const server = await listenGdb(target, at, {
    log: (line) => tell({ event: "gdb", what: "message", text: `gdb: ${line}` }),
    onClient: (event, remote) => tell({ event: "gdb", what: event === "connect" ? "attached" : "detached", text: event === "connect" ? `gdb attached from ${remote}` : "gdb detached" }),
  });
  return { target, server };
}
