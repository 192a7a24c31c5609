// The replay a worker thread runs (./worker.ts), as requests in and replies out: a Session with its
// Debugger and Timeline, moved by the requests of ./protocol.ts and described by snapshots. Long
// moves (continue, reverse continue, a far seek) go in slices of about SLICE instructions; between
// slices the driver yields to the event loop, so that a cancel request can arrive and stop the move
// where its last slice stopped, and reports progress. It runs the same machine code as every other
// replay, through the Session and the Debugger: nothing of the tool reaches the emulated state.

import { exitHistogram, Session } from "../session.js";
import { cacheEntry, loadCheckpoints, saveCheckpoints } from "../checkpoint-cache.js";
import { Debugger, ONE_INSTRUCTION, parseExitReason, type DebugStop, type ExitFilter } from "../debug.js";
import { exitName } from "../../l4/api.js";
import { describeL4Event, describeVfaultReply, parseL4Filter, type L4Event } from "../l4-events.js";
import { describeExit, describeQualification, type ExitEvent } from "../exit-log.js";
import { findKernelPlacement, type KernelPlacement } from "../kaslr.js";
import { readRecording, type ReadRecording } from "../recording.js";
import { Stack } from "../stack.js";
import { comparePositions, noSuchExit, targetOf, type Position, type Target, type Timeline } from "../timeline.js";
import { decode, emptyInsn } from "../../x86/decoder.js";
import { BufferSource, formatInsn } from "../../x86/disasm.js";
import { DwarfError, LineTable, type LineSections } from "../../x86/dwarf-line.js";
import { Symbols } from "./symbols.js";
import { DENSITY_BUCKETS, type RegisterValue, type DisasmLine, type ExitView, type GoTo, type Move, type OpenReplay, type ReplayInfo, type Reply, type Request, type Snapshot } from "./protocol.js";

/** Instructions a slice of a long move runs before the driver looks for a cancel. */
export const SLICE = 2_000_000;
/** Disassembly lines a snapshot carries: a few before EIP, the rest from it. */
const DISASM_BEFORE = 4;
const DISASM_AFTER = 24;
/** Console bytes a snapshot carries (its end), and console lines marked on the timeline. */
const CONSOLE_TAIL = 16_384;
const LINE_MARKS = 4096;
const RECENT_EXITS = 16;
/** IPCs a snapshot carries (the last ones up to its position), and IPCs the driver remembers. */
const LAST_IPCS = 12;
const KNOWN_IPCS = 1 << 16;
/** How far back from the last IPC the driver looks for the VCPU's fault message to the VMM. */
const HANDLER_IPCS = 32;
const CS = 1;
const SS = 2;
/** The D/B bit of the code segment's access rights (VMX layout): 32-bit code. */
const SEG_DB = 1 << 14;

const REGISTER_ORDER = ["eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "esp", "eip", "eflags", "cs", "ss", "ds", "es", "fs", "gs"] as const;

/** The guest's registers and the VMM's injections so far at an exit. */
interface ExitState {
  exits: number;
  registers: RegisterValue[];
  injections: Map<number, number>;
}

export class ReplayDriver {
  readonly info: ReplayInfo;
  private readonly rec: ReadRecording;
  private readonly session: Session;
  private readonly dbg: Debugger;
  private readonly tl: Timeline;
  private readonly symbols: Symbols | null;
  private readonly cacheEntry: string | null;
  /** Every console byte the replay has shown so far (the furthest it has run), and where each was written. */
  private console = new Uint8Array(4096);
  private consoleLength = 0;
  private byteIcount: number[] = [];
  private lines: number[] = [];
  private hits: number[] = [];
  private breaks: string[] = [];
  private memoryAt = "esp";
  private cancelled = false;
  private lastStop: string | undefined;
  private readonly slice: number;
  /** The guest's registers and the VMM's injections when the replay was last at an exit. */
  private atExit: ExitState | null = null;
  /** The exit the last move stepped from, whose reply the snapshots show until the next move. */
  private replyTo: ExitState | null = null;
  /** IPCs any run passed, by the kernel's IPC number: history, the same whichever run saw them. */
  private readonly knownIpcs = new Map<number, Extract<L4Event, { kind: "ipc" }>>();

  /** Where a Linux guest's kernel runs (KASLR), or why that is not known; undefined for other guests. */
  readonly kernel: KernelPlacement | { error: string } | undefined;
  /** A move of this driver's is under way (gdb's resume waits for it: ./gdb.ts). */
  moving = false;
  /** gdb's step or continue under way, or null: the driver's moves wait for its stop (./gdb.ts). */
  gdbRun: string | null = null;

  /** Throws a RecordingError (or an Error for a bad symbol file) when the replay cannot start. */
  constructor(open: OpenReplay, private readonly progress: (what: string, p: Position) => void = () => {}) {
    this.rec = readRecording(open.recording, open.name);
    this.slice = open.slice ?? SLICE;
    this.kernel = this.rec.header.guest.kind === "linux" ? findKernelPlacement(this.rec, open.images) : undefined;
    const offset = this.kernel === undefined || "error" in this.kernel ? 0 : this.kernel.offset;
    this.symbols = open.symbols === undefined ? null : new Symbols(open.symbols, offset, open.lines === undefined ? null : readLines(open.lines));
    this.session = Session.replay(this.rec, (b) => this.consoleByte(b), open.images);
    this.dbg = new Debugger(this.session);
    this.dbg.toFirstInstruction();
    this.tl = this.dbg.startTimeTravel();
    if (this.dbg.hasStack) this.dbg.watchL4((e) => this.knowIpc(e));
    this.cacheEntry = open.checkpointCache === undefined ? null : cacheEntry(open.checkpointCache, open.recording);
    if (this.cacheEntry !== null) this.tl.adopt(loadCheckpoints(this.cacheEntry));
    this.info = this.describe(open.name);
  }

  /** The Debugger the driver moves, which gdb's stub shares (./gdb.ts). */
  get debugger(): Debugger {
    return this.dbg;
  }

  private describe(name: string): ReplayInfo {
    const rec = this.rec;
    const last = rec.end ?? [...rec.records].reverse().find((r) => r.t === "hash" || r.t === "input");
    const exits = this.session.recordedExits();
    const endIcount = Math.max(last && "icount" in last ? last.icount : 0, exits.at(-1)?.icount ?? 0, 1);
    const density = new Array<number>(DENSITY_BUCKETS).fill(0);
    for (const e of exits) density[Math.min(DENSITY_BUCKETS - 1, Math.floor((e.icount / endIcount) * DENSITY_BUCKETS))]++;
    return {
      name,
      machine: exitHistogram(rec) === null ? "bare" : "stack",
      endIcount,
      endNs: last && "ns" in last ? last.ns : 0,
      exits: exits.length,
      density,
    };
  }

  private consoleByte(b: number): void {
    if (this.consoleLength === this.console.length) {
      const more = new Uint8Array(this.console.length * 2);
      more.set(this.console);
      this.console = more;
    }
    this.console[this.consoleLength++] = b;
    // The byte is written now: by the guest's instruction (the bare machine) or by the VMM handling an exit.
    const icount = this.session.position().icount;
    this.byteIcount.push(icount);
    if (b === 0x0a) {
      this.lines.push(icount);
      if (this.lines.length > 2 * LINE_MARKS) this.lines = this.lines.filter((_, i) => i % 2 === 0);
    }
  }

  private knowIpc(e: L4Event): void {
    if (e.kind !== "ipc") return;
    this.knownIpcs.set(e.seq, e);
    // Map keeps insertion order: forget the longest known first.
    if (this.knownIpcs.size > KNOWN_IPCS) this.knownIpcs.delete(this.knownIpcs.keys().next().value!);
  }

  /**
   * The last IPCs up to here, oldest first: from those runs passed, else from the Debugger's IPC
   * log (a replay from a checkpoint further back, whose events come through knowIpc too).
   */
  private lastIpcs(ipcs: number, events: number): string[] {
    const want = Array.from({ length: Math.min(LAST_IPCS, ipcs) }, (_, i) => ipcs - Math.min(LAST_IPCS, ipcs) + 1 + i);
    if (want.some((seq) => !this.knownIpcs.has(seq))) {
      const log = this.dbg.ipcLog(LAST_IPCS);
      if ("error" in log) return [];
      for (const e of log) this.knowIpc(e);
    }
    return want.flatMap((seq) => {
      const e = this.knownIpcs.get(seq);
      return e === undefined || e.n > events ? [] : [describeL4Event(e).replace(/^ipc /, "")];
    });
  }

  /** Stops the move under way at its next slice. */
  cancel(): void {
    this.cancelled = true;
  }

  /** Saves the checkpoints for the next session and detaches. */
  close(): void {
    if (this.cacheEntry !== null && this.tl.changed) {
      try {
        saveCheckpoints(this.cacheEntry, this.tl.checkpoints());
      } catch {
        // A cache that cannot be written costs the next session time, nothing more.
      }
    }
    this.dbg.close();
  }

  /**
   * Someone else moved the machine (gdb): the timeline's focus follows, and `stop` says why it
   * stopped (a hit is marked on the timeline). The snapshot there.
   */
  movedBy(stop: string | undefined, hit: boolean): Snapshot {
    const here = this.dbg.where();
    this.tl.setFocus(here);
    this.replyTo = null;
    if (stop !== undefined) this.lastStop = stop;
    if (hit) this.hits.push(here.icount);
    return this.snapshot();
  }

  /** An address as the panes name it: hex, and the symbol it is in. */
  addressName(addr: number): string {
    return `0x${addr.toString(16)}${this.symbolSuffix(addr)}`;
  }

  async handle(req: Exclude<Request, { op: "cancel" }>): Promise<Reply> {
    this.cancelled = false;
    if (this.gdbRun !== null && !["snapshot", "memory", "close"].includes(req.op)) {
      return { id: req.id, ok: false, error: `gdb is ${this.gdbRun}: wait for its stop, or Esc interrupts it`, snapshot: this.snapshot() };
    }
    try {
      switch (req.op) {
        case "snapshot":
          return { id: req.id, ok: true, snapshot: this.snapshot() };
        case "close":
          this.close();
          return { id: req.id, ok: true, snapshot: this.snapshot() };
        case "break":
          return this.answer(req.id, this.toggleBreak(req.at));
        case "watch":
          return this.answer(req.id, this.watch(req.at, req.length));
        case "break-exit":
          return this.answer(req.id, this.breakExit(req.filter));
        case "break-l4":
          return this.answer(req.id, this.breakL4(req.filter));
        case "memory": {
          const a = this.address(req.at);
          if (typeof a !== "number") return this.answer(req.id, a);
          this.memoryAt = req.at;
          return this.answer(req.id, undefined);
        }
        default:
          this.moving = true;
          try {
            return this.answer(req.id, await this.move(req));
          } finally {
            this.moving = false;
          }
      }
    } catch (e) {
      return { id: req.id, ok: false, error: (e as Error).message, snapshot: this.snapshot() };
    }
  }

  private answer(id: number, r: { error: string } | string | undefined): Reply {
    if (typeof r === "object") return { id, ok: false, error: r.error, snapshot: this.snapshot() };
    return { id, ok: true, snapshot: this.snapshot(), note: r };
  }

  // --- moves ----------------------------------------------------------------------------------------

  /** Makes a move; returns why it stopped, or an error. */
  private async move(m: Move): Promise<string | { error: string }> {
    const dbg = this.dbg;
    const before = dbg.where();
    // A step from an exit runs the VMM's handling of it and stops before the guest's next instruction.
    this.replyTo = m.op === "step" && before.at === "exit" && this.atExit?.exits === before.exits ? this.atExit : null;
    const r = await this.moveOnly(m);
    if (typeof r === "string") this.lastStop = r;
    this.tl.setFocus(dbg.where());
    return r;
  }

  private async moveOnly(m: Move): Promise<string | { error: string }> {
    const dbg = this.dbg;
    switch (m.op) {
      case "step": {
        let s = dbg.run({ maxInsns: this.slice, first: true, step: ONE_INSTRUCTION });
        while (s.kind === "budget" && !(await this.yieldOrCancel("stepping"))) s = dbg.run({ maxInsns: this.slice, first: false });
        if (s.kind === "budget") dbg.endStep();
        return this.stopText(s);
      }
      case "reverse-step":
        return this.stopText(dbg.reverse!.step());
      case "continue": {
        let s = dbg.run({ maxInsns: this.slice, first: true });
        while (s.kind === "budget" && !(await this.yieldOrCancel("continuing"))) s = dbg.run({ maxInsns: this.slice, first: false });
        return this.stopText(s);
      }
      case "reverse-continue": {
        const rev = dbg.reverse!;
        rev.startContinue();
        let s = rev.continueSlice(this.slice);
        while (s === null) {
          if (await this.yieldOrCancel("reverse continuing")) {
            rev.interrupt();
            return "cancelled";
          }
          s = rev.continueSlice(this.slice);
        }
        return this.stopText(s);
      }
      case "next-exit": {
        // As previous-exit says there is none before: past the last, not "there is no exit N".
        const n = dbg.where().exits;
        if (n >= this.session.recordedExits().length) return { error: "no VM exit after this position" };
        return this.go({ kind: "exit", n });
      }
      case "previous-exit": {
        const here = dbg.where();
        const n = here.at === "exit" ? here.exits - 2 : here.exits - 1;
        if (n < 0) return { error: "no VM exit before this position" };
        return this.go({ kind: "exit", n });
      }
      case "go":
        return this.go(m.to);
    }
  }

  /** Lets messages in and reports progress; true when the move was cancelled. */
  private async yieldOrCancel(what: string): Promise<boolean> {
    this.progress(what, this.dbg.where());
    await new Promise((resolve) => setImmediate(resolve));
    return this.cancelled;
  }

  /**
   * Moves to `to`; a refused move comes back to where it started (from the slices it ran on the
   * way), so that it changes nothing, as gdb's monitor seek.
   */
  private async go(to: GoTo): Promise<string | { error: string }> {
    const from = this.dbg.where();
    const r = await this.goTo(to);
    if (typeof r !== "string" && comparePositions(this.dbg.where(), from) !== 0) this.dbg.seek(targetOf(from));
    return r;
  }

  private async goTo(to: GoTo): Promise<string | { error: string }> {
    const exits = this.session.recordedExits();
    switch (to.kind) {
      case "icount":
        return this.seek({ at: "step", icount: to.n }, to.n, `icount ${to.n}`);
      case "percent": {
        const n = Math.round((Math.min(100, Math.max(0, to.p)) / 100) * this.info.endIcount);
        // The timeline's arrows ask for shares such as 1.2500494159928124: said to two decimals.
        return this.seek({ at: "step", icount: n }, n, `${Number(to.p.toFixed(2))}%`);
      }
      case "exit": {
        if (to.n < 0 || to.n >= exits.length) return { error: noSuchExit(this.session, `exit ${to.n}`) };
        return this.seek({ at: "exit", exits: to.n + 1 }, exits[to.n].icount - 1, `exit ${to.n}`);
      }
      case "ns": {
        // The recording's records pair counts with guest times: go near in slices, then exactly.
        let near = 0;
        for (const r of this.rec.records) if ((r.t === "hash" || r.t === "input") && r.ns <= to.n) near = r.icount;
        const r = await this.seek({ at: "step", icount: near }, near, `guest time ${to.n} ns`);
        if (typeof r !== "string" || r === "cancelled") return r;
        const p = this.dbg.seekTime(to.n);
        return "error" in p ? { error: p.message } : `at guest time ${p.ns} ns`;
      }
      case "console":
        return this.goConsole(to.text);
    }
  }

  /** Moves to `target`, whose instruction count is about `goal`, in slices from wherever it restarts. */
  private async seek(target: Target, goal: number, what: string): Promise<string | { error: string }> {
    const dbg = this.dbg;
    const tl = this.tl;
    for (;;) {
      const here = dbg.where();
      const cps = tl.checkpoints();
      let i = cps.length - 1;
      while (i >= 0 && !tl.reaches(cps[i].pos, target)) i--;
      if (i < 0) break; // the seek says why
      const start = tl.reaches(here, target) && comparePositions(here, cps[i].pos) >= 0 ? here.icount : cps[i].pos.icount;
      if (goal - start <= this.slice) break;
      // A slice that cannot be reached (past the recording's end) is no answer: the seek to the
      // target itself says what cannot be reached, and where the replay came to.
      if ("error" in dbg.seek({ at: "step", icount: start + this.slice })) break;
      if (await this.yieldOrCancel(`going to ${what}`)) return "cancelled";
    }
    const p = dbg.seek(target);
    return "error" in p ? { error: p.message } : `at ${what}`;
  }

  /** Moves to the instant the line holding `text` was printed (its newline written). */
  private async goConsole(text: string): Promise<string | { error: string }> {
    const want = Buffer.from(text, "latin1");
    const dbg = this.dbg;
    let k = Buffer.from(this.console.buffer, 0, this.consoleLength).indexOf(want);
    // Not printed yet as far as the replay has run: run on (the furthest known point first).
    while (k < 0) {
      const from = Math.max(dbg.where().icount, this.byteIcount.at(-1) ?? 0);
      if (from >= this.info.endIcount) return { error: `the guest never prints "${text}"` };
      const p = dbg.seek({ at: "step", icount: Math.min(this.info.endIcount, from + this.slice) });
      if ("error" in p) return { error: p.message };
      k = Buffer.from(this.console.buffer, 0, this.consoleLength).indexOf(want);
      if (k < 0 && (await this.yieldOrCancel(`looking for "${text}"`))) return "cancelled";
    }
    const shown = Buffer.from(this.console.buffer, 0, this.consoleLength);
    const nl = shown.indexOf(0x0a, k + Math.max(0, want.length - 1));
    const last = nl < 0 ? k + want.length - 1 : nl;
    // The byte was written by the instruction that retires next: the guest's OUT on the bare
    // machine, or the VMM emulating it at its exit (the OUT retires once the VMM has handled it).
    const p = dbg.seek({ at: "step", icount: this.byteIcount[last] + 1 });
    if ("error" in p) return { error: p.message };
    return `at the line "${text}" was printed`;
  }

  private stopText(s: DebugStop): string {
    const hit = () => this.hits.push(this.dbg.where().icount);
    switch (s.kind) {
      case "step":
      case "start":
        return "stepped";
      case "budget":
        return "cancelled";
      case "breakpoint":
        hit();
        return `breakpoint at 0x${s.addr.toString(16)}${this.symbolSuffix(s.addr)}`;
      case "watch":
        hit();
        return `watchpoint (${s.watch}) at 0x${s.addr.toString(16)}${this.symbolSuffix(s.addr)}`;
      case "exit":
        hit();
        return `exit ${describeExit(s.exit)}`;
      case "l4":
        hit();
        return `L4 ${describeL4Event(s.event)}`;
      case "halted":
        return `the guest stopped${s.detail ? `: ${s.detail}` : ""}`;
      case "end":
        return "the end of the recording";
      case "limit":
        return s.message;
      case "diverged":
        return `diverged: ${s.message}`;
      case "begin":
        return "the start of history";
    }
  }

  // --- breakpoints ----------------------------------------------------------------------------------

  /** An address typed by the user: 0x-hex, a symbol, a register, or bare hex. */
  private address(text: string): number | { error: string } {
    const t = text.trim();
    if (/^0x[0-9a-f]+$/i.test(t)) return Number.parseInt(t.slice(2), 16) >>> 0;
    const sym = this.symbols?.address(t);
    if (sym !== undefined) return sym;
    const regs = this.dbg.registers() as unknown as { [k: string]: number };
    const r = t.replace(/^\$/, "").toLowerCase();
    if (typeof regs[r] === "number") {
      const sys = this.dbg.systemRegisters();
      const base = r === "esp" || r === "ebp" ? sys.segs[SS].base : r === "eip" ? sys.segs[CS].base : 0;
      return (base + regs[r]) >>> 0;
    }
    if (/^[0-9a-f]+$/i.test(t)) return Number.parseInt(t, 16) >>> 0;
    return { error: `"${t}" is not an address, a register${this.symbols ? " or a symbol" : " (no symbols were given)"}` };
  }

  private toggleBreak(text: string): string | { error: string } {
    const a = this.address(text);
    if (typeof a !== "number") return a;
    const label = `0x${a.toString(16)}${this.symbolSuffix(a)}`;
    const k = this.breaks.indexOf(label);
    if (k >= 0) {
      this.dbg.clearBreakpoint("hw", a);
      this.breaks.splice(k, 1);
      return `breakpoint at ${label} removed`;
    }
    this.dbg.setBreakpoint("hw", a);
    this.breaks.push(label);
    return `breakpoint set at ${label}`;
  }

  private watch(text: string, length: number): string | { error: string } {
    const a = this.address(text);
    if (typeof a !== "number") return a;
    const r = this.dbg.setWatchpoint("write", a, length);
    if (r !== undefined) return { error: r.message };
    const label = `watch 0x${a.toString(16)}${this.symbolSuffix(a)}`;
    this.breaks.push(label);
    return label;
  }

  /** `ipc|switch|fault|irq|entry|map|unmap [from T] [to T] …`, as gdb's `monitor break-l4`; `clear` drops them all. */
  private breakL4(text: string): string | { error: string } {
    const words = text.trim().split(/\s+/).filter((w) => w !== "");
    if (words[0] === "clear") {
      this.dbg.clearL4Breaks();
      return "L4 event breakpoints cleared";
    }
    const f = parseL4Filter(words, (w) => (w !== undefined && /^(0x[0-9a-f]+|\d+)$/i.test(w) ? Number(w) : undefined));
    if (typeof f === "string") return { error: f.replace(/^break-l4: /, "") };
    const r = this.dbg.addL4Break(f);
    return r === undefined ? `break on L4 ${f.text}` : { error: r.message };
  }

  /** `REASON [PORT|CR|QUAL] [in|out] [before|after]`, as gdb's `monitor break-exit`; `clear` drops them all. */
  private breakExit(text: string): string | { error: string } {
    const words = text.trim().split(/\s+/).filter((w) => w !== "");
    if (words[0] === "clear") {
      this.dbg.clearExitBreaks();
      return "exit breakpoints cleared";
    }
    const reason = words[0] === undefined ? undefined : parseExitReason(words[0]);
    if (reason === undefined) return { error: `"${text}" names no exit reason (io, hlt, cr, ept, cpuid, msr, a number…)` };
    const f: ExitFilter = { reason, text: text.trim() };
    for (const w of words.slice(1)) {
      if (w === "in" || w === "out") f.direction = w;
      else if (w === "before" || w === "after") f.when = w;
      else if (/^(0x[0-9a-f]+|\d+)$/i.test(w)) f.value = Number(w);
      else return { error: `"${w}" is neither a port, CR or qualification nor in/out` };
    }
    const r = this.dbg.addExitBreak(f);
    return r === undefined ? `break on exit ${f.text}` : { error: r.message };
  }

  private symbolSuffix(addr: number): string {
    const s = this.symbols?.name(addr);
    return s === undefined ? "" : ` <${s}>`;
  }

  // --- snapshots ------------------------------------------------------------------------------------

  snapshot(): Snapshot {
    const dbg = this.dbg;
    const where = dbg.where();
    const regs = dbg.registers() as unknown as { [k: string]: number };
    const sys = dbg.systemRegisters();
    const bits = sys.segs[CS].attr & SEG_DB ? 32 : 16;
    const eipLin = (sys.segs[CS].base + regs.eip) >>> 0;
    const recent = dbg.hasStack ? dbg.exits(RECENT_EXITS) : [];
    const last = recent.at(-1);
    const summary = this.session.summary();
    const consoleEnd = this.session.cursorState().consoleBytes;
    const memAddr = this.address(this.memoryAt);
    const mem = typeof memAddr === "number" ? memAddr : (sys.segs[SS].base + regs.esp) >>> 0;
    const registers = REGISTER_ORDER.map((name) => ({ name, value: regs[name] >>> 0, digits: name.length === 2 ? 4 : 8 }));
    const injections = new Map((summary?.vmm.injections ?? []).map((v) => [v.vector, v.count]));
    if (where.at === "exit") this.atExit = { exits: where.exits, registers, injections };
    return {
      pos: { icount: where.icount, exits: where.exits, ns: where.ns, at: where.at, eip: regs.eip },
      registers,
      bits,
      disasm: this.disassemble(eipLin, bits),
      source: this.symbols?.source(eipLin) ?? null,
      memory: { label: typeof memAddr === "number" ? this.memoryAt : "esp", addr: mem, bytes: [...dbg.readMemory(mem, 128)] },
      exit: last === undefined ? null : this.exitView(last, where.at === "exit" && last.n === where.exits - 1, bits),
      atExit: where.at === "exit",
      reply: this.reply(registers, injections),
      vmmReply: this.vmmReply(where.events, last?.n),
      recentExits: recent.map((e) => ({ n: e.n, icount: e.icount, reason: exitName(e.reason), qualification: describeQualification(e) })),
      threads: dbg.threads().map((t) => ({ no: t.no, id: t.id, kind: t.kind, state: t.state, program: t.program })),
      kernel: summary === null ? null : { ipcs: summary.ipcs, contextSwitches: summary.contextSwitches, syscalls: summary.syscalls, irqs: summary.irqs },
      ipcs: summary === null ? [] : this.lastIpcs(summary.ipcs, where.events),
      devices: summary === null ? [] : [...this.chips(), ...this.devices(summary.vmm)],
      console: Buffer.from(this.console.buffer, Math.max(0, consoleEnd - CONSOLE_TAIL), Math.min(consoleEnd, CONSOLE_TAIL)).toString("latin1"),
      marks: {
        checkpoints: this.tl.checkpoints().map((c) => c.pos.icount),
        hits: this.hits.slice(-LINE_MARKS),
        lines: this.lines.slice(-LINE_MARKS),
      },
      breakpoints: [...this.breaks],
      exitBreaks: [...dbg.exitBreaks().map((f) => f.text), ...dbg.l4Breaks().map((f) => `l4 ${f.text}`)],
      stop: this.lastStop,
    };
  }

  /**
   * The VMM's reply to the last exit, as its message to the VCPU thread says it: once the
   * handler has sent it (a stop inside the handling, or back in the guest), or, at the exit or
   * before the reply, when a run has passed it before (history is the same each time). Found
   * among the IPCs runs passed: the VCPU's fault message for the exit, then the first IPC back.
   */
  private vmmReply(events: number, exit: number | undefined): Snapshot["vmmReply"] {
    const m = this.session.machine;
    if (!(m instanceof Stack) || exit === undefined) return null;
    const vcpu = m.vmm().vcpu;
    const last = this.session.summary()?.ipcs ?? 0;
    let fault: Extract<L4Event, { kind: "ipc" }> | undefined;
    for (let seq = last; seq > last - HANDLER_IPCS && fault === undefined; seq--) {
      const e = this.knownIpcs.get(seq);
      if (e !== undefined && e.from === vcpu && e.n <= events) fault = e;
    }
    if (fault === undefined) return null;
    for (let seq = fault.seq + 1; seq <= fault.seq + HANDLER_IPCS; seq++) {
      const e = this.knownIpcs.get(seq);
      if (e === undefined) return null;
      if (e.to === vcpu && e.from !== vcpu) return { exit, text: describeVfaultReply(e.mr), sent: e.n <= events };
    }
    return null;
  }

  /** The VMM's reply to the exit the last move stepped from: what changed since. */
  private reply(registers: RegisterValue[], injections: Map<number, number>): Snapshot["reply"] {
    const a = this.replyTo;
    if (a === null) return null;
    return {
      exit: a.exits - 1,
      registers: registers.filter((r, i) => r.value !== a.registers[i].value),
      injected: [...injections].filter(([v, n]) => n > (a.injections.get(v) ?? 0)).map(([v]) => v),
    };
  }

  private exitView(e: ExitEvent, here: boolean, bits: 16 | 32): ExitView {
    const view: ExitView = { exit: e, reason: exitName(e.reason), qualification: describeQualification(e) };
    if (here) {
      const lines = this.disassemble((this.dbg.systemRegisters().segs[CS].base + e.eip) >>> 0, bits, 0, 1);
      if (lines.length > 0) view.insn = lines[0].text;
    }
    return view;
  }

  /** The VMM's virtual chips in brief: the PIC's masks and requests, the PIT's channel 0, the UART's registers. */
  private chips(): string[] {
    const m = this.session.machine;
    if (!(m instanceof Stack)) return [];
    const d = m.vmm().devices;
    const h2 = (v: number) => v.toString(16).padStart(2, "0");
    const pic = [d.pic.master, d.pic.slave];
    const ch0 = d.pit.channels[0];
    return [
      `pic imr ${pic.map((c) => h2(c.imr)).join("/")} irr ${pic.map((c) => h2(c.irr)).join("/")} isr ${pic.map((c) => h2(c.isr)).join("/")}`,
      `pit0 mode ${ch0.mode} count ${ch0.reg}`,
      `uart ier ${h2(d.uart.ier)} lcr ${h2(d.uart.lcr)} mcr ${h2(d.uart.mcr)}`,
    ];
  }

  private devices(vmm: NonNullable<ReturnType<Session["summary"]>>["vmm"]): string[] {
    const byDevice = new Map<string, { ins: number; outs: number }>();
    for (const p of vmm.io) {
      const d = byDevice.get(p.device) ?? { ins: 0, outs: 0 };
      d.ins += p.ins;
      d.outs += p.outs;
      byDevice.set(p.device, d);
    }
    const out = [...byDevice].map(([name, d]) => `${name}: ${d.ins} in, ${d.outs} out`);
    if (vmm.injections.length > 0) out.push(`injected ${vmm.injections.map((v) => `0x${v.vector.toString(16)} (${v.count})`).join(" ")}`);
    return out;
  }

  /**
   * Instructions around `lin`: up to `before` ahead of it (decoded from a few bytes back, when a
   * decoding from there falls on `lin` exactly), then `after` from it.
   */
  private disassemble(lin: number, bits: 16 | 32, before = DISASM_BEFORE, after = DISASM_AFTER): DisasmLine[] {
    const back = 48;
    const start = (lin - back) >>> 0;
    const code = this.dbg.readMemory(start, back + after * 15);
    const ahead = this.dbg.readMemory(lin, after * 15);
    const insn = emptyInsn();
    const lineAt = (src: BufferSource, a: number, end: number): DisasmLine | null => {
      decode(src, a, bits === 32, insn);
      if (a + insn.len > end) return null;
      const bytes = [...src.buf.subarray(a - src.base, a - src.base + insn.len)].map((b) => b.toString(16).padStart(2, "0")).join("");
      return { addr: a >>> 0, bytes, text: formatInsn(insn, a, src), symbol: this.symbols?.name(a), current: a === lin };
    };
    const out: DisasmLine[] = [];
    if (before > 0 && code.length >= back) {
      const src = new BufferSource(code, start);
      for (let from = start; from < lin; from++) {
        const chain: DisasmLine[] = [];
        let a = from;
        while (a < lin) {
          const l = lineAt(src, a, lin);
          if (l === null) break;
          chain.push(l);
          a += insn.len;
        }
        if (a === lin && chain.length > 0) {
          out.push(...chain.slice(-before));
          break;
        }
      }
    }
    const src = new BufferSource(ahead, lin);
    let a = lin;
    for (let k = 0; k < after && a - lin < ahead.length; k++) {
      const l = lineAt(src, a, lin + ahead.length);
      if (l === null) break;
      out.push(l);
      a += insn.len;
    }
    return out;
  }
}

/** The symbol file's line table; a bad one is said in one line. */
function readLines(s: LineSections): LineTable {
  try {
    return LineTable.read(s);
  } catch (e) {
    if (e instanceof DwarfError) throw new Error(`the symbol file's DWARF line table: ${e.message}`);
    throw e;
  }
}
