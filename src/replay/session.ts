// The Session: the one API through which host-side tools (CLI, gdb stub, TUI) drive the emulated
// machine, in one of three modes. Live runs the machine with input from the host. Record does the
// same and writes every input, at the position it was delivered, and state hashes at fixed
// instruction intervals to a recording. Replay runs the machine from a recording alone: it
// delivers each input at its position and stops at the first place the run departs from it.

import { createHash } from "node:crypto";
import { exitName, tagT, tagU, MR_COUNT } from "../l4/api.js";
import type { KernelObserver } from "../l4/kernel.js";
import { Stop } from "../machine/cpu/arch.js";
import { startLinux } from "../machine/linux-start.js";
import { Pc } from "../machine/pc.js";
import { planLinuxBoot, type BootPlan } from "../x86/linux-boot.js";
import { decodeExits, describeExit, ExitEncoder, type ExitEvent } from "./exit-log.js";
import { BareMachine, type Machine, type MachineState } from "./machine.js";
import type { MachineKind, MachineTiming } from "./machine-config.js";
import {
  FORMAT_VERSION,
  RecordingError,
  RecordingWriter,
  type EndReason,
  type EndRecord,
  type ExitsRecord,
  type HashRecord,
  type HeaderRecord,
  type ImageRef,
  type InputRecord,
  type PosRecord,
  type ReadRecording,
} from "./recording.js";
import type { L4Event } from "./l4-events.js";
import { Stack, type StackSummary } from "./stack.js";

export { Stop, type StackSummary };

export type { MachineKind, MachineTiming };

/**
 * What the machine boots: a flat image in real mode, or Linux by its 32-bit boot protocol. Names
 * are for messages; paths (absolute) go into a recording's header, so that a replay on the same
 * machine finds the images.
 */
export type Guest =
  | { kind: "image"; bytes: Uint8Array; name?: string; path?: string }
  | {
      kind: "linux"; kernel: Uint8Array; initrd?: Uint8Array; cmdline: string;
      kernelName?: string; initrdName?: string; kernelPath?: string; initrdPath?: string;
    };

export interface SessionConfig {
  guest: Guest;
  /** Default: the stack. */
  machine?: MachineKind;
  /** Guest RAM in bytes. */
  ramSize: number;
  /** Guest console output, byte by byte. */
  console: (byte: number) => void;
  /** Wall-clock time at power-on (seconds since the epoch): a recorded input in record mode. */
  rtcEpochSeconds: number;
  /** The machine's timing among those hardware allows (default: the default machine's). */
  timing?: MachineTiming;
  /** Compile hot guest code (PcConfig.jit): how fast, never what happens, so no recording notes it. */
  jit?: boolean;
}

export interface RecordOptions {
  /** Where the recording's bytes go, chunk by chunk (written synchronously: a crash loses only the current chunk). */
  sink: (bytes: Uint8Array) => void;
  /** The command line, for the header. */
  argv: string[];
  tool: string;
  /** Instructions between state hashes. */
  hashEvery?: number;
  /** Put the images' bytes into the recording, so it replays without them. */
  embedImages?: boolean;
  /** A chaos run's seed, for the header. */
  seed?: number;
}

export interface Position {
  /** Retired guest instructions since reset. */
  icount: number;
  /** Guest time since power-on, in nanoseconds (halted time passes without instructions). */
  ns: number;
  cs: number;
  eip: number;
}

/**
 * Where a replay is in its recording, beside the machine's state: the next record due, the VM
 * exits so far, the console bytes the guest has written so far. A checkpoint keeps it with the
 * machine, so that running forward from a restored checkpoint checks every later record and exit.
 */
export interface ReplayCursor {
  records: number;
  exits: number;
  consoleBytes: number;
  ended: boolean;
}

/** A replay that departed from its recording: where, what was expected, what happened. */
export class DivergenceError extends Error {
  override name = "DivergenceError";
  constructor(
    readonly at: { icount: number; ns: number },
    readonly expected: string,
    readonly actual: string,
    /** The VM exit where it showed, when it showed at one. */
    readonly exit?: number,
  ) {
    super(`replay diverged at icount ${at.icount}${exit !== undefined ? `, exit #${exit}` : ""} (guest ${(at.ns / 1e9).toFixed(6)} s): expected ${expected}, got ${actual}`);
  }
}

export const DEFAULT_HASH_EVERY = 100_000_000;
/** Exits per batch in a recording (a batch also ends at every flush). */
const EXITS_PER_BATCH = 4096;

const STOP_OF_END: { [R in EndReason]?: Stop } = {
  halt: Stop.HALT,
  reboot: Stop.RESET,
  "triple-fault": Stop.SHUTDOWN,
  exception: Stop.EXCEPTION,
  idle: Stop.IDLE,
};

/** How a stop is written in an end record. */
export function endReasonOf(stop: Stop): EndReason {
  switch (stop) {
    case Stop.HALT: return "halt";
    case Stop.RESET: return "reboot";
    case Stop.SHUTDOWN: return "triple-fault";
    case Stop.EXCEPTION: return "exception";
    case Stop.IDLE: return "idle";
    case Stop.BUDGET: return "limit";
    case Stop.REQUEST: return "user-stop";
    case Stop.VMEXIT: return "exception"; // the bare machine has no VMX unit: never happens
  }
}

export class Session {
  readonly mode: "live" | "record" | "replay";
  readonly machineKind: MachineKind;
  private readonly m: Machine;
  /** How Linux was loaded, when the guest is Linux. */
  readonly bootPlan?: BootPlan;
  private writer?: RecordingWriter;
  private hashEvery = DEFAULT_HASH_EVERY;
  private nextHashAt = DEFAULT_HASH_EVERY;
  /** Replay: the recording's records after the header, and the next one due. */
  private script: (InputRecord | HashRecord | EndRecord | PosRecord)[] = [];
  private cursor = 0;
  private ended = false;
  /** VM exits so far (the stack's; the bare machine has none). */
  private exitsSeen = 0;
  /** Record: the exits not yet written. Replay: the recording's exits, checked one by one. */
  private exitLog?: ExitEncoder;
  private expectedExits: ExitEvent[] = [];
  private readonly exitListeners: ((e: ExitEvent) => void)[] = [];
  /** Guest console bytes written so far, and how many of them the host console has had (the most ever). */
  private consoleBytes = 0;
  private consoleShown = 0;
  /** Replay: pause once this many VM exits have been taken (a position at an exit), or -1. */
  private pauseAtExits = -1;
  private pausedAtExit = false;
  /** Exit listeners are not called (a Timeline landing on a known position: ./timeline.ts). */
  muted = false;
  /** How many times restoreState put back an earlier state (for tools that watch runs: history started again). */
  restores = 0;
  /** The kernel's observer: the exit hook, and the L4 event hooks while a listener wants them. */
  private observer: KernelObserver = {};
  /** Replay of a recording cut short, past its last record: stop once its last VM exit is taken. */
  private toLastExit = false;

  /** A live session; with `record`, a recording one. Throws a LinuxBootError when Linux cannot be loaded. */
  constructor(cfg: SessionConfig, record?: RecordOptions) {
    const g = cfg.guest;
    // A replay that goes back in time writes the same bytes again: the host sees each once.
    const hostConsole = cfg.console;
    cfg = {
      ...cfg,
      console: (byte) => {
        if (this.consoleBytes++ < this.consoleShown) return;
        this.consoleShown++;
        hostConsole(byte);
      },
    };
    this.machineKind = cfg.machine ?? "stack";
    // Planned here for both machines, so a kernel that cannot boot is one clear error up front.
    if (g.kind === "linux") this.bootPlan = planLinuxBoot({ kernel: g.kernel, initrd: g.initrd, cmdline: g.cmdline, ramSize: cfg.ramSize });
    if (this.machineKind === "stack") {
      this.m = new Stack({
        ramSize: cfg.ramSize,
        boot: g.kind === "image" ? { kind: "flat", image: g.bytes } : { kind: "linux", kernel: g.kernel, initrd: g.initrd, cmdline: g.cmdline },
        console: cfg.console,
        rtcEpochSeconds: cfg.rtcEpochSeconds,
        timing: cfg.timing,
        jit: cfg.jit,
      });
    } else {
      const pc = new Pc({ ramSize: cfg.ramSize, console: cfg.console, rtcEpochSeconds: cfg.rtcEpochSeconds, timing: cfg.timing, jit: cfg.jit });
      if (g.kind === "image") pc.loadBootImage(g.bytes);
      else startLinux(pc.cpu, pc.mem, this.bootPlan!);
      this.m = new BareMachine(pc);
    }
    this.mode = record ? "record" : "live";
    if (this.m instanceof Stack) {
      const stack = this.m;
      this.observer = { vmExit: (vcpu, reason, qualification) => this.exited(stack, vcpu, reason, qualification) };
      stack.kernel.observer = this.observer;
    }
    if (record) {
      this.hashEvery = this.nextHashAt = record.hashEvery ?? DEFAULT_HASH_EVERY;
      const header: HeaderRecord = {
        t: "header",
        format: FORMAT_VERSION,
        tool: record.tool,
        node: process.version,
        argv: record.argv,
        machine: { ramSize: cfg.ramSize, kind: this.machineKind, ...(cfg.timing ? { timing: cfg.timing } : {}) },
        guest: g.kind === "image" ? { kind: "image" } : { kind: "linux", cmdline: g.cmdline },
        images: imageRefs(g, record.embedImages === true),
        hashEvery: this.hashEvery,
        ...(record.seed !== undefined ? { seed: record.seed } : {}),
      };
      this.writer = new RecordingWriter(record.sink, header);
      if (this.m instanceof Stack) this.exitLog = new ExitEncoder();
      this.writer.add({ t: "input", icount: 0, ns: 0, kind: "rtc", epochSeconds: cfg.rtcEpochSeconds });
    }
  }

  /**
   * A session that replays `rec`. `images` are the guest's images when the recording does not
   * carry them; each must have the content the recording was made with.
   */
  static replay(rec: ReadRecording, console: (byte: number) => void, images: { [role: string]: Uint8Array } = {}, opts: { jit?: boolean } = {}): Session {
    const h = rec.header;
    const bytes = (role: string): Uint8Array | undefined => {
      const ref = h.images.find((i) => i.role === role);
      if (ref === undefined) return undefined;
      const data = ref.data ?? images[role];
      if (data === undefined) throw new RecordingError(`the recording needs the ${role} ${ref.name} (sha256 ${ref.sha256.slice(0, 16)}…); pass it or replay a packed recording`);
      const sum = sha256(data);
      if (sum !== ref.sha256) {
        throw new RecordingError(`wrong ${role}: it has sha256 ${sum.slice(0, 16)}…, the recording was made with ${ref.name} (sha256 ${ref.sha256.slice(0, 16)}…)`);
      }
      return data;
    };
    const rtc = rec.records.find((r): r is Extract<InputRecord, { kind: "rtc" }> => r.t === "input" && r.kind === "rtc");
    const guest: Guest =
      h.guest.kind === "image"
        ? { kind: "image", bytes: bytes("boot image")! }
        : { kind: "linux", kernel: bytes("kernel")!, initrd: bytes("initrd"), cmdline: h.guest.cmdline };
    const s = new Session({ guest, machine: h.machine.kind ?? "bare", ramSize: h.machine.ramSize, console, rtcEpochSeconds: rtc?.epochSeconds ?? 0, timing: h.machine.timing, jit: opts.jit });
    (s as { mode: Session["mode"] }).mode = "replay";
    s.script = rec.records.filter(
      (r): r is InputRecord | HashRecord | EndRecord | PosRecord => (r.t === "input" && r.kind !== "rtc") || r.t === "hash" || r.t === "end" || r.t === "pos",
    );
    try {
      s.expectedExits = decodeExits(rec.records.filter((r) => r.t === "exits"));
    } catch (err) {
      throw new RecordingError(`the recording's VM exits are corrupt: ${(err as Error).message}`);
    }
    s.hashEvery = h.hashEvery;
    return s;
  }

  /**
   * Runs until the guest stops, `maxInsns` instructions have retired in total, or (live and
   * record) guest time reaches `maxNs` — a pause for the host, not a stop. In replay the
   * recording's inputs are delivered on the way, every state hash is checked (a DivergenceError
   * on the first difference), and the run ends where the recording does.
   */
  run(opts: { maxInsns?: number; maxNs?: number; onProgress?: () => void; onIdle?: () => boolean } = {}): Stop {
    const max = opts.maxInsns ?? Number.MAX_SAFE_INTEGER;
    const maxNs = opts.maxNs;
    if (this.mode === "replay") return this.replayTo(max, maxNs, opts.onProgress);
    const m = this.m;
    if (this.mode === "live") return m.run({ maxInsns: max, maxNs, onSlice: opts.onProgress, onIdle: opts.onIdle });
    for (;;) {
      const target = Math.min(max, this.nextHashAt);
      const stop = m.run({ maxInsns: target, maxNs, onSlice: opts.onProgress, onIdle: opts.onIdle });
      if (stop === Stop.BUDGET && m.pc.cpu.icount === this.nextHashAt) {
        this.flushExits();
        this.writer!.add({ t: "hash", icount: m.pc.cpu.icount, ns: m.nowNs(), hash: m.stateHash() });
        this.nextHashAt += this.hashEvery;
      }
      // A VM exit the VMM answers by emulating many iterations (a string instruction's) can carry
      // the count past the next hash: that hash is skipped, or no later run could reach it.
      while (this.nextHashAt <= m.pc.cpu.icount) this.nextHashAt += this.hashEvery;
      if (stop !== Stop.BUDGET || m.pc.cpu.icount >= max || m.nowNs() >= (maxNs ?? Infinity)) {
        this.flushExits();
        // A pause: the position goes with the chunk, so a recording cut off later replays to here.
        if (stop === Stop.BUDGET) this.writer!.add({ t: "pos", icount: m.pc.cpu.icount, ns: m.nowNs() });
        this.writer!.flush();
        return stop;
      }
    }
  }

  /** Types `bytes` on the guest's serial console; returns how many it could take now (recorded in record mode). */
  consoleInput(bytes: Uint8Array): number {
    if (this.mode === "replay") return 0; // history cannot change
    const n = this.m.consoleInput(bytes);
    if (n > 0 && this.writer) {
      this.writer.add({ t: "input", icount: this.m.pc.cpu.icount, ns: this.m.nowNs(), kind: "console", data: bytes.slice(0, n) });
    }
    return n;
  }

  /** Record mode: writes the end record (how and where the run ended, the final state hash) and flushes. */
  end(reason: EndReason, detail?: string): void {
    if (!this.writer || this.ended) return;
    this.ended = true;
    this.flushExits();
    const r: EndRecord = { t: "end", icount: this.m.pc.cpu.icount, ns: this.m.nowNs(), reason, hash: this.m.stateHash() };
    if (detail !== undefined) r.detail = detail;
    this.writer.add(r);
    this.flushExits();
    this.writer.flush();
  }

  /** Whether the guest's serial driver listens for input (it has enabled the receive interrupt). */
  consoleListening(): boolean {
    return this.m.consoleListening();
  }

  /** Whether console input could interrupt the guest now (an idle guest that cannot be woken so has hung). */
  inputCanWake(): boolean {
    return this.m.inputCanWake();
  }

  /** Guest time since power-on, in nanoseconds. */
  guestTimeNs(): number {
    return this.m.nowNs();
  }

  /** Instructions between the state hashes a recording session writes (and a replay checks). */
  hashInterval(): number {
    return this.hashEvery;
  }

  /** The machine's state digest (what the recording's hash records hold). */
  stateHash(): string {
    return this.m.stateHash();
  }

  position(): Position {
    return { icount: this.m.pc.cpu.icount, ns: this.m.nowNs(), ...this.m.guestPc() };
  }

  /** One line on why the guest stopped, when there is more to say than the stop (a VMM's reason, an exception). */
  stopDetail(): string | undefined {
    return this.m.stopDetail();
  }

  /** VM exits so far: the next exit's sequence number. */
  exitCount(): number {
    return this.exitsSeen;
  }

  /** Calls `fn` at every VM exit, as the kernel takes it (for debuggers: exit logs, break-on-exit). */
  onExit(fn: (e: ExitEvent) => void): void {
    this.exitListeners.push(fn);
  }

  /**
   * Calls `fn` at every L4 event (IPC, thread switch, fault, interrupt, VM entry) as the kernel
   * counts it, also while muted (the listener decides); null removes it. The kernel's hooks are
   * set only while there is a listener: without one an event costs one property check.
   */
  onL4(fn: ((e: L4Event) => void) | null): void {
    const m = this.m;
    if (!(m instanceof Stack)) return;
    const k = m.kernel;
    const { vmExit } = this.observer;
    this.observer =
      fn === null
        ? { vmExit }
        : {
            vmExit,
            ipc: (from, to, tag, mr) => fn({ kind: "ipc", n: k.events(), seq: k.stats.ipcs, from, to, tag, mr: Array.from(mr.subarray(0, Math.min(MR_COUNT, 1 + tagU(tag) + tagT(tag)))) }),
            switchTo: (from, to) => fn({ kind: "switch", n: k.events(), seq: k.stats.contextSwitches, from, to }),
            fault: (thread, fault, what, ip) => {
              const st = k.stats; // a restore replaces the kernel's state: read it each time
              const seq = fault === "page" ? st.pageFaults : fault === "io" ? st.ioFaults : fault === "exception" ? st.exceptions : st.vmPageFaults;
              fn({ kind: "fault", n: k.events(), seq, thread, fault, what, ip });
            },
            irq: (line) => fn({ kind: "irq", n: k.events(), seq: k.stats.irqs, line }),
            vmEntry: (vcpu) => fn({ kind: "entry", n: k.events(), seq: k.stats.vmExits, vcpu }),
            map: (space, io, vaddr, log2, paddr, rights) => fn({ kind: "map", n: k.events(), seq: k.events(), space, io, vaddr, log2, paddr, rights }),
            unmap: (space, io, vaddr, log2, paddr, rights) => fn({ kind: "unmap", n: k.events(), seq: k.events(), space, io, vaddr, log2, paddr, rights }),
          };
    k.observer = this.observer;
  }

  /** The L4 kernel's event count (src/l4/state.ts's eventCount): where it is in its own history; 0 on the bare machine. */
  eventCount(): number {
    return this.m instanceof Stack ? this.m.kernel.events() : 0;
  }

  /**
   * The next run also pauses (REQUEST) at the end of the kernel's scheduling step that brings its
   * event count to `n` (Infinity: none). `pausedAtEvents` says whether the last run did.
   */
  pauseAtEvents(n: number): void {
    if (this.m instanceof Stack) this.m.pauseAtEvents = n;
  }

  get pausedAtEvents(): boolean {
    return this.m instanceof Stack && this.m.pausedAtEvents;
  }

  /** The guest's POST port 0x80 latch (0 after power-on): the PC's port, or the VMM's virtual one. */
  postCode(): number {
    return this.m.postCode();
  }

  /**
   * Calls `fn` with each code the guest writes to the POST port 0x80 and the icount of the write
   * (on the stack: of the VM exit for the OUT). Until called, a write costs nothing more.
   */
  onPost(fn: (code: number, icount: number) => void): void {
    const m = this.m;
    if (m instanceof Stack) {
      m.onPost(fn);
      this.onExit((e) => {
        const code = m.postWrite(m.vmm().vcpu, e.reason, e.qualification);
        if (code >= 0) fn(code, e.icount);
      });
    } else if (m instanceof BareMachine) {
      m.onPost(fn);
    }
  }

  /** An exit at the L4 boundary: logged in record mode, checked against the recording in replay. */
  private exited(stack: Stack, vcpu: number, reason: number, qualification: number): void {
    const e: ExitEvent = { n: this.exitsSeen++, icount: stack.pc.cpu.icount, reason, qualification: qualification >>> 0, eip: stack.exitEip(vcpu) };
    if (this.exitLog) {
      this.exitLog.add(e.icount, e.reason, e.qualification, e.eip);
      if (this.exitLog.pending >= EXITS_PER_BATCH) this.writer!.add(this.exitLog.take()!);
    } else if (this.mode === "replay" && e.n < this.expectedExits.length) {
      const want = this.expectedExits[e.n];
      if (want.icount !== e.icount || want.reason !== e.reason || want.qualification !== e.qualification || want.eip !== e.eip) {
        throw new DivergenceError({ icount: e.icount, ns: stack.nowNs() }, describeExit(want), describeExit(e), e.n);
      }
      if (this.toLastExit && e.n + 1 === this.expectedExits.length) stack.platform.host.stopped = Stop.REQUEST;
    }
    if (!this.muted) for (const fn of this.exitListeners) fn(e);
    if (e.n + 1 === this.pauseAtExits) {
      this.pausedAtExit = true;
      stack.platform.host.stopped = Stop.REQUEST;
    }
  }

  /**
   * Replay: the next run also pauses (REQUEST) once `exits` VM exits have been taken, right after
   * the kernel took the last of them and before the VMM handles it; -1 for none.
   */
  pauseAtExit(exits: number): void {
    this.pauseAtExits = exits;
  }

  /** The replay's cursor (see ReplayCursor). */
  cursorState(): ReplayCursor {
    return { records: this.cursor, exits: this.exitsSeen, consoleBytes: this.consoleBytes, ended: this.ended };
  }

  /** The machine's state but RAM, and the replay's cursor: what a checkpoint keeps besides RAM pages. */
  saveState(): { machine: MachineState; cursor: ReplayCursor } {
    return { machine: this.m.saveState(), cursor: this.cursorState() };
  }

  /**
   * Puts back saveState's state (RAM is the caller's: see ./checkpoint.ts). `s` stays the
   * caller's: each part of the machine copies what it keeps of it (Machine.restoreState).
   */
  restoreState(s: { machine: MachineState; cursor: ReplayCursor }): void {
    this.restores++;
    this.m.restoreState(s.machine);
    this.cursor = s.cursor.records;
    this.exitsSeen = s.cursor.exits;
    this.consoleBytes = s.cursor.consoleBytes;
    this.ended = s.cursor.ended;
  }

  /** The recording's VM exits (replay), for tools that look ahead or back in history. */
  recordedExits(): readonly ExitEvent[] {
    return this.expectedExits;
  }

  private flushExits(): void {
    const r = this.exitLog?.take();
    if (r) this.writer!.add(r);
  }

  /** The stack's account of the run by layer (null on the bare machine). */
  summary(): StackSummary | null {
    return this.m instanceof Stack ? this.m.summary() : null;
  }

  /** The machine, for the debugger (./debug.ts): host-side tools use the Session's API. */
  get machine(): Machine {
    return this.m;
  }

  /** Replay: whether every record and VM exit has been played (the run reached the recording's end). */
  replayDone(): boolean {
    return this.cursor >= this.script.length && this.exitsSeen >= this.expectedExits.length;
  }

  private replayTo(max: number, maxNs: number | undefined, onProgress?: () => void): Stop {
    const m = this.m;
    this.pausedAtExit = false;
    for (;;) {
      const next = this.script[this.cursor];
      if (next === undefined) {
        // Past the last record of a recording cut short. Its VM exits may reach further (they
        // are written in batches of their own): run on through the last one, checking each.
        // Beyond that nothing more is known to be true.
        if (this.exitsSeen >= this.expectedExits.length) return Stop.REQUEST;
        this.toLastExit = true;
        try {
          const stop = m.run({ maxInsns: max, untilNs: -Infinity, maxNs, onSlice: onProgress });
          return stop === Stop.BUDGET ? stop : Stop.REQUEST;
        } finally {
          this.toLastExit = false;
        }
      }
      if (next.icount > max) return m.run({ maxInsns: max, untilNs: -Infinity, maxNs, onSlice: onProgress });
      let stop = m.run({ maxInsns: next.icount, untilNs: next.ns, maxNs, onSlice: onProgress });
      // A fault the run ended with may come after the last instruction retired (a fault while
      // delivering a fault, from virtual-8086 mode to its handler): run on to it, by count alone,
      // so that no further instruction may retire.
      if (next.t === "end" && stop === Stop.BUDGET && m.pc.cpu.icount === next.icount && (STOP_OF_END[next.reason] === Stop.SHUTDOWN || STOP_OF_END[next.reason] === Stop.EXCEPTION)) {
        stop = m.run({ maxInsns: next.icount + 1, untilNs: -Infinity, maxNs, onSlice: onProgress });
      }
      // A debugger's breakpoint (./debug.ts) or a pause at an exit stopped the run short of the
      // record: a pause, not a divergence.
      if (stop === Stop.REQUEST && (m.pc.cpu.hostDebug?.hit != null || this.pausedAtExit || this.pausedAtEvents)) return stop;
      const here = { icount: m.pc.cpu.icount, ns: m.nowNs() };
      // The host's pause in guest time came first.
      if (stop === Stop.BUDGET && maxNs !== undefined && here.ns >= maxNs && (here.icount !== next.icount || here.ns !== next.ns)) return stop;
      if (next.t === "end") {
        // A stop the recording did not end with, or the end's position missed: diverged. (At
        // the position itself, an idle guest may report BUDGET: its idle time was cut there.
        // The ends the host decided — a panic, a hang, a limit — are positions: the final hash
        // says whether the machine is there as it was.)
        const want = STOP_OF_END[next.reason];
        if ((want !== undefined && stop !== Stop.BUDGET && stop !== want) || here.icount !== next.icount || here.ns !== next.ns) {
          throw new DivergenceError(here, `the run to end (${next.reason}) at icount ${next.icount}, guest ${next.ns} ns`, `${endReasonOf(stop)} at icount ${here.icount}, guest ${here.ns} ns`);
        }
        if (this.exitsSeen !== this.expectedExits.length) {
          throw new DivergenceError(here, `${this.expectedExits.length} VM exits by the end`, `${this.exitsSeen}`, this.exitsSeen);
        }
        this.check(next.hash, here, "final state");
        this.cursor++;
        return want ?? Stop.REQUEST;
      }
      if (stop !== Stop.BUDGET || here.icount !== next.icount || here.ns !== next.ns) {
        throw new DivergenceError(
          here,
          `to reach icount ${next.icount} at guest ${next.ns} ns (${next.t === "hash" ? "a state hash" : next.t === "pos" ? "a position the recording reached" : `${next.kind} input`})`,
          `${endReasonOf(stop)} at icount ${here.icount}, guest ${here.ns} ns`,
        );
      }
      if (next.t === "hash") this.check(next.hash, here, "state hash");
      else if (next.t === "input" && next.kind === "console") {
        const n = m.consoleInput(next.data);
        if (n !== next.data.length) throw new DivergenceError(here, `the UART to take ${next.data.length} input bytes`, `room for ${n}`);
      }
      this.cursor++;
    }
  }

  private check(expected: string, at: { icount: number; ns: number }, what: string): void {
    const got = this.m.stateHash();
    if (got !== expected) throw new DivergenceError(at, `${what} ${expected}`, got);
  }
}

/**
 * The recording's VM exits by reason, most frequent first; null for a recording of the bare
 * machine (it has none). Throws a RecordingError when the exits do not decode.
 */
export function exitHistogram(rec: ReadRecording): { reason: number; name: string; count: number }[] | null {
  if ((rec.header.machine.kind ?? "bare") === "bare") return null;
  let exits: ExitEvent[];
  try {
    exits = decodeExits(rec.records.filter((r): r is ExitsRecord => r.t === "exits"));
  } catch (err) {
    throw new RecordingError(`the recording's VM exits are corrupt: ${(err as Error).message}`);
  }
  const counts = new Map<number, number>();
  for (const e of exits) counts.set(e.reason, (counts.get(e.reason) ?? 0) + 1);
  return [...counts].map(([reason, count]) => ({ reason, name: exitName(reason), count })).sort((a, b) => b.count - a.count || a.reason - b.reason);
}

/** An image's content hash, as recordings name it. */
export function sha256(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}

function imageRefs(g: Guest, embed: boolean): ImageRef[] {
  const ref = (role: string, name: string, data: Uint8Array, path: string | undefined): ImageRef => ({
    role,
    name,
    size: data.length,
    sha256: sha256(data),
    // Embedded, the bytes are all a replay needs; else where they were, for a replay on this machine.
    ...(embed ? { data } : path !== undefined ? { path } : {}),
  });
  if (g.kind === "image") return [ref("boot image", g.name ?? "boot image", g.bytes, g.path)];
  const refs = [ref("kernel", g.kernelName ?? "kernel", g.kernel, g.kernelPath)];
  if (g.initrd) refs.push(ref("initrd", g.initrdName ?? "initrd", g.initrd, g.initrdPath));
  return refs;
}
