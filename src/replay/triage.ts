// Triage of a recording: replay it to its end (or to where it departs from its recording) and
// gather what explains that end — its cause, the last console lines, the last VM exits, the
// guest's registers and the instruction it was at, the L4 threads, a kernel's panic text and call
// trace — and the position just before the failure, where a debugger should be opened. The
// report is data; the CLI (src/cli/triage.ts) prints it and names addresses after symbols.

import { decode, MAX_INSN_LEN } from "../x86/decoder.js";
import { formatInsn, BufferSource } from "../x86/disasm.js";
import { Debugger, type GuestRegisters, type ThreadInfo } from "./debug.js";
import type { ExitEvent } from "./exit-log.js";
import type { EndReason, ReadRecording } from "./recording.js";
import { DivergenceError, Session } from "./session.js";

/** How the recording's run ended, as the replay found it. */
export type TriageCause =
  /** The recording's own end, reached with every hash and exit matching. */
  | { kind: "end"; reason: EndReason; detail?: string }
  /** The replay departed from the recording there. */
  | { kind: "divergence"; message: string }
  /** The recording stops short of an end record (cut off); the replay played all it holds. */
  | { kind: "cut" };

export interface TriageReport {
  cause: TriageCause;
  /** Where the replay stopped. */
  at: { icount: number; ns: number; exits: number };
  /** The position just before the failure: where gdb should be opened (see `beforeWhy`). */
  before: number;
  beforeWhy: string;
  machine: "stack" | "bare";
  /** The guest's last console lines (without the CR of CR LF), and how many it printed in all. */
  console: string[];
  consoleLines: number;
  /** The last VM exits (null on the bare machine). */
  exits: ExitEvent[] | null;
  registers: GuestRegisters;
  /** The instruction at the guest's EIP: CS:EIP, its linear address, bytes and Intel-syntax text. */
  instruction: { cs: number; eip: number; linear: number; bits: 16 | 32; bytes: Uint8Array; text: string } | null;
  /** The L4 kernel's threads (null on the bare machine). */
  threads: ThreadInfo[] | null;
  /** A kernel panic: its line, what led to it (an oops line), its call trace, the icount its line began at. */
  panic: { line: string; cause: string | null; trace: string[]; icount: number } | null;
}

export interface TriageOptions {
  /** Console lines to show (default 20). */
  lines?: number;
  /** VM exits to show (default 10). */
  exits?: number;
  /** Called now and then while the replay runs (a Linux boot's is half a minute): a status line. */
  onProgress?: (session: Session) => void;
}

/** Linux's panic line (kernel/panic.c) and the lines that open an oops report before one. */
const PANIC_LINE = /Kernel panic - not syncing: ?.*$/;
const OOPS_LINE = /^(BUG: .*|Oops: .*|general protection fault.*|kernel BUG at .*|.*Unable to handle kernel .*)$/;
/** A call-trace entry: " func+0x12/0x40", "? func+...", "<IRQ>", the x86_32 " [<c1000000>]" form. */
const TRACE_ENTRY = /^\s+(\? )?([\w.$]+\+0x[0-9a-f]+\/0x[0-9a-f]+|<\/?(IRQ|TASK|NMI|EOI|SOFTIRQ)>|\[<[0-9a-f]+>\].*)/;
/** Lines of console history kept. */
const LINES_KEPT = 20_000;

/** Linux prefixes console lines with "[    1.234567] ": stripped, so patterns see the text. */
function stripTimestamp(line: string): string {
  return line.replace(/^\[\s*\d+\.\d+\] ?/, "");
}

/** The console as lines, each with the icount its first byte was printed at. */
class ConsoleLines {
  readonly lines: { text: string; icount: number }[] = [];
  total = 0;
  private current: number[] = [];
  private startedAt = -1;

  constructor(private readonly where: () => number) {}

  byte(b: number): void {
    if (this.startedAt < 0) this.startedAt = this.where();
    if (b === 0x0a) {
      this.push();
      return;
    }
    if (this.current.length < 4096) this.current.push(b);
  }

  /** The line not yet ended, if any, counts as a line. */
  finish(): void {
    if (this.current.length > 0) this.push();
  }

  private push(): void {
    const text = Buffer.from(this.current).toString("latin1").replace(/\r$/, "");
    this.lines.push({ text, icount: this.startedAt });
    if (this.lines.length > LINES_KEPT) this.lines.shift();
    this.total++;
    this.current = [];
    this.startedAt = -1;
  }
}

/**
 * Replays `rec` to its end and reports on it. `images` are the guest's images when the recording
 * does not carry them. Throws a RecordingError for a recording that cannot be replayed at all.
 */
export function triage(rec: ReadRecording, images: { [role: string]: Uint8Array }, opts: TriageOptions = {}): TriageReport {
  let session: Session | undefined;
  const con = new ConsoleLines(() => session?.position().icount ?? 0);
  session = Session.replay(rec, (b) => con.byte(b), images);
  const ring: ExitEvent[] = [];
  const keepExits = opts.exits ?? 10;
  session.onExit((e) => {
    ring.push(e);
    if (ring.length > keepExits) ring.shift();
  });
  let cause: TriageCause;
  try {
    const s = session;
    session.run({ onProgress: opts.onProgress && (() => opts.onProgress!(s)) });
    cause = rec.end && session.replayDone() ? { kind: "end", reason: rec.end.reason, detail: rec.end.detail } : { kind: "cut" };
  } catch (err) {
    if (!(err instanceof DivergenceError)) throw err;
    cause = { kind: "divergence", message: err.message };
  }
  con.finish();
  const p = session.position();
  const dbg = new Debugger(session);
  try {
    const panic = findPanic(con.lines);
    let before = p.icount;
    let beforeWhy = "where the run ended";
    if (panic !== null && panic.icount >= 0) {
      before = panic.icount;
      beforeWhy = "as the kernel began to print its panic line";
    } else if (cause.kind === "divergence") {
      beforeWhy = "where the replay departed from the recording";
    } else if (cause.kind === "end" && (cause.reason === "triple-fault" || cause.reason === "exception")) {
      beforeWhy = "before the instruction that faulted";
    } else if (cause.kind === "end" && cause.reason === "hang") {
      beforeWhy = "after the last instruction retired";
    }
    const lines = opts.lines ?? 20;
    return {
      cause,
      at: { icount: p.icount, ns: p.ns, exits: session.exitCount() },
      before,
      beforeWhy,
      machine: session.machineKind,
      console: con.lines.slice(-lines).map((l) => l.text),
      consoleLines: con.total,
      exits: session.machineKind === "stack" ? ring.slice(-keepExits) : null,
      registers: dbg.registers(),
      instruction: instructionAt(dbg),
      threads: dbg.hasStack ? dbg.threads() : null,
      panic,
    };
  } finally {
    dbg.close();
  }
}

function instructionAt(dbg: Debugger): TriageReport["instruction"] {
  const r = dbg.registers();
  const { linear, bits } = dbg.codeAt();
  const bytes = dbg.readMemory(linear, MAX_INSN_LEN);
  if (bytes.length === 0) return null;
  const src = new BufferSource(bytes, linear);
  const insn = decode(src, linear, bits === 32);
  const len = Math.min(insn.len, bytes.length);
  return { cs: r.cs, eip: r.eip, linear, bits, bytes: bytes.slice(0, len), text: insn.len > bytes.length ? "(cut off by an unmapped page)" : formatInsn(insn, linear, src) };
}

/** The first panic line on the console, the oops line before it, and the call trace that goes with it. */
function findPanic(lines: readonly { text: string; icount: number }[]): TriageReport["panic"] {
  const texts = lines.map((l) => stripTimestamp(l.text));
  const at = texts.findIndex((t) => PANIC_LINE.test(t));
  if (at < 0) return null;
  const line = PANIC_LINE.exec(texts[at])![0];
  let cause: string | null = null;
  for (let k = at - 1; k >= Math.max(0, at - 200); k--) {
    if (OOPS_LINE.test(texts[k])) {
      cause = texts[k];
      break;
    }
  }
  // The trace panic() prints after its line, else the oops report's before it.
  const traceAt = (from: number, to: number, step: number): number => {
    for (let k = from; step > 0 ? k < to : k > to; k += step) if (/^Call Trace:/.test(texts[k].trim())) return k;
    return -1;
  };
  let t = traceAt(at + 1, Math.min(texts.length, at + 80), 1);
  if (t < 0) t = traceAt(at - 1, Math.max(-1, at - 200), -1);
  const trace: string[] = [];
  if (t >= 0) for (let k = t + 1; k < texts.length && TRACE_ENTRY.test(texts[k]); k++) trace.push(texts[k].trim());
  return { line, cause, trace, icount: lines[at].icount };
}
