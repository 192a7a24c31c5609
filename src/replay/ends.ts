// How a run ends, as the host sees it between the slices it runs: the guest's own ends (a halt,
// a reboot), its failures (a triple fault, an exception it could not take, a kernel panic, a
// hang), and the host's limits. The machine reports stops; the EndWatch turns them, the console
// text and the passing of guest time into the end a recording ends with and its cause in one line.
//
// - A kernel panic is Linux's "Kernel panic - not syncing: …" line on the console. The run goes
//   on to what the kernel does next: a reboot (panic=N), or, when it will never reboot, its
//   "---[ end Kernel panic" line, after which it spins forever; a halt or a triple fault end it
//   too, and so does the silence limit below.
// - A hang: nothing retired and nothing printed for `hangNs` of guest time (a halted CPU whose
//   interrupts never come while time passes), or a CPU halted where nothing can ever wake it: no
//   timer event due, and console input could not interrupt it (or no more will come).
//
// All of it is host-side: it reads what the Session shows and decides where the run ends. The
// recording keeps the end it decided (its position and cause), so a replay needs none of this.
// ScriptedInput and runScripted are the host's loop without a terminal (tests, chaos runs).

import { Stop } from "../machine/cpu/arch.js";
import type { EndReason } from "./recording.js";
import { endReasonOf, type Session } from "./session.js";

/** Default hang limit: 10 s of guest time without an instruction retired or a byte printed. */
export const DEFAULT_HANG_NS = 10_000_000_000;

/** What the host allows a run: instructions and guest time in total, and silence. */
export interface EndLimits {
  /** Stop once this many instructions have retired (--max-insns). */
  maxInsns?: number;
  /** Stop once guest time reaches this many ns (--max-time). */
  maxNs?: number;
  /** A hang: nothing retired and nothing printed for this long, in guest ns (0: never). */
  hangNs: number;
}

/** How a run ended: what the recording's end record says, and the machine's stop behind it. */
export interface RunEnd {
  reason: EndReason;
  /** One line on the cause (the panic line, what hung, which limit). */
  detail?: string;
  stop: Stop;
}

/** Linux's panic line (kernel/panic.c), and the line it prints before it spins forever. */
const PANIC_LINE = /Kernel panic - not syncing: ?(.*)$/;
const PANIC_END = /---\[ end Kernel panic - not syncing/;
/** Console lines kept (for a panic found only once its line ends). */
const LINE_MAX = 4096;

export class EndWatch {
  /** The panic line, once one was printed. */
  panic: string | null = null;
  /** The kernel printed its last panic line: it will spin from here on. */
  private panicOver = false;
  private line: number[] = [];
  private printed = 0;
  private lastIcount = -1;
  private lastPrinted = -1;
  /** Guest time since which nothing retired and nothing was printed. */
  private quietSince = 0;

  constructor(
    private readonly session: Session,
    private readonly limits: EndLimits,
  ) {
    this.lastIcount = session.position().icount;
    this.quietSince = session.guestTimeNs();
  }

  /** A byte the guest printed on its console. */
  output(byte: number): void {
    this.printed++;
    if (byte === 0x0a) {
      const text = Buffer.from(this.line).toString("latin1").replace(/\r$/, "");
      this.line = [];
      if (this.panic === null) {
        const m = PANIC_LINE.exec(text);
        if (m) this.panic = m[0];
      } else if (PANIC_END.test(text)) this.panicOver = true;
    } else if (this.line.length < LINE_MAX) this.line.push(byte);
  }

  /**
   * Bounds for the next run slice: at most `insns` more instructions and `ns` more guest time,
   * and never past a limit or the moment the guest would have been quiet for the hang limit.
   */
  bounds(insns: number, ns: number): { maxInsns: number; maxNs: number } {
    const p = this.session.position();
    let maxNs = p.ns + ns;
    if (this.limits.maxNs !== undefined) maxNs = Math.min(maxNs, this.limits.maxNs);
    if (this.limits.hangNs > 0) maxNs = Math.min(maxNs, Math.max(p.ns, this.quietSince) + this.limits.hangNs);
    const maxInsns = Math.min(p.icount + insns, this.limits.maxInsns ?? Number.MAX_SAFE_INTEGER);
    return { maxInsns, maxNs: Math.max(maxNs, p.ns) };
  }

  /**
   * After a slice that stopped with `stop`: the end of the run, or null to go on. `inputOpen`:
   * more console input may still come (a terminal, a pipe not yet closed).
   */
  check(stop: Stop, inputOpen: boolean): RunEnd | null {
    const s = this.session;
    const p = s.position();
    if (p.icount !== this.lastIcount || this.printed !== this.lastPrinted) {
      this.lastIcount = p.icount;
      this.lastPrinted = this.printed;
      this.quietSince = p.ns;
    }
    const quiet = p.ns - this.quietSince;
    const hangNs = this.limits.hangNs;
    if (this.panic !== null) {
      // The guest's own end after its panic, its last panic line, or silence.
      if (stop !== Stop.BUDGET && stop !== Stop.IDLE) return { reason: "panic", detail: `${this.panic} (then ${endReasonOf(stop)})`, stop };
      if (this.panicOver) return { reason: "panic", detail: this.panic, stop };
      if (hangNs > 0 && quiet >= hangNs) return { reason: "panic", detail: `${this.panic} (then silence)`, stop };
    }
    switch (stop) {
      case Stop.BUDGET:
      case Stop.REQUEST:
        break;
      case Stop.IDLE:
        // Halted with nothing due: only console input can wake it.
        if (!s.inputCanWake()) {
          return { reason: "hang", detail: "halted with interrupts enabled, and nothing can interrupt it: no timer is due and console input is not enabled", stop };
        }
        if (!inputOpen) return { reason: "idle", detail: "waiting for console input, and no more will come", stop };
        return null;
      default:
        return { reason: endReasonOf(stop), detail: s.stopDetail(), stop };
    }
    if (stop === Stop.REQUEST) return { reason: "user-stop", stop };
    if (this.limits.maxInsns !== undefined && p.icount >= this.limits.maxInsns) {
      return { reason: "limit", detail: `--max-insns: ${this.limits.maxInsns.toLocaleString("en-US")} instructions`, stop };
    }
    if (this.limits.maxNs !== undefined && p.ns >= this.limits.maxNs) {
      return { reason: "limit", detail: `--max-time: ${formatSeconds(this.limits.maxNs)} of guest time`, stop };
    }
    if (hangNs > 0 && quiet >= hangNs && !(inputOpen && s.consoleListening())) {
      return { reason: "hang", detail: `no instruction retired and nothing printed for ${formatSeconds(hangNs)} of guest time`, stop };
    }
    return null;
  }
}

/** Guest ns as seconds, without trailing zeros: "10 s", "0.25 s". */
export function formatSeconds(ns: number): string {
  return `${Number((ns / 1e9).toFixed(9))} s`;
}

/**
 * Console input as a script: typed a line at a time when the guest sits idle listening for it
 * (as piped input is), each line after its delay of guest time; when nothing else can wake the
 * guest, at once.
 */
export class ScriptedInput {
  private readonly lines: Uint8Array[];
  private next = 0;
  private pending: Uint8Array | null = null;
  /** Guest time the guest began to wait for the next line, or -1. */
  private waitingSince = -1;

  constructor(
    bytes: Uint8Array,
    private readonly delaysNs: readonly number[],
  ) {
    this.lines = [];
    let start = 0;
    for (let i = 0; i < bytes.length; i++) {
      if (bytes[i] === 0x0a) {
        this.lines.push(bytes.subarray(start, i + 1));
        start = i + 1;
      }
    }
    if (start < bytes.length) this.lines.push(bytes.subarray(start));
  }

  /** More input to type. */
  open(): boolean {
    return this.pending !== null || this.next < this.lines.length;
  }

  /** The guest is about to idle (`stuck`: nothing but input can wake it): types what is due; true if it did. */
  feed(session: Session, stuck: boolean): boolean {
    if (this.pending === null) {
      if (this.next >= this.lines.length) return false;
      this.pending = this.lines[this.next];
    }
    if (!stuck) {
      if (!session.consoleListening()) return false;
      const now = session.guestTimeNs();
      if (this.waitingSince < 0) this.waitingSince = now;
      const delay = this.delaysNs[Math.min(this.next, this.delaysNs.length - 1)] ?? 0;
      if (now < this.waitingSince + delay) return false;
    }
    const took = session.consoleInput(this.pending);
    if (took === 0) return false;
    this.pending = took < this.pending.length ? this.pending.subarray(took) : null;
    if (this.pending === null) {
      this.next++;
      this.waitingSince = -1;
    }
    return true;
  }
}

/** Instructions and guest time per slice between the host's looks at the run. */
const SLICE = 4_000_000;
const SLICE_NS = 100_000_000;

/**
 * Runs a session to its end without a terminal: input from a script, the end found by an
 * EndWatch (which must see the console). Returns the end.
 */
export function runScripted(session: Session, watch: EndWatch, input: ScriptedInput): RunEnd {
  for (;;) {
    const stop = session.run({ ...watch.bounds(SLICE, SLICE_NS), onIdle: () => input.feed(session, false) });
    if (stop === Stop.IDLE && input.feed(session, true)) continue;
    const end = watch.check(stop, input.open());
    if (end !== null) return end;
  }
}
