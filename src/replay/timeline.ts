// The Timeline: time travel in a replay. It keeps checkpoints of the whole machine — CPU, RAM, the
// chips, the L4 kernel, the VMM — with the replay's cursor (next record, exits so far, console
// bytes so far), and moves the replay to any position by restoring the nearest checkpoint before it
// and running forward, so every state hash and VM exit on the way is checked again.
//
// A position is exact, never estimated: the instructions retired (icount), the VM exits taken and
// guest time, plus which of three moments at that count it is (see Moment). Checkpoints share RAM
// page by page (./checkpoint.ts); they are placed as rr places them — about every half second of
// replay work, denser where the user has been, thinned with distance from there when their memory
// passes the budget (default twice the machine's RAM) — and each stretch between two of them
// remembers the code pages it executed, so a run looking for a breakpoint can skip a stretch that
// never ran the breakpoint's page (forward and in reverse).
//
// Every host-side tool moves through this API (the gdb stub through the Debugger, ./debug.ts;
// `afterglow replay --to`); nothing here knows gdb.

import { HostDebug } from "../machine/cpu/debug.js";
import { Stop } from "../machine/cpu/arch.js";
import { captureRam, PageCount, restoreRam, type RamImage } from "./checkpoint.js";
import type { MachineState } from "./machine.js";
import type { ReplayCursor, Session } from "./session.js";

/**
 * Which instant at a count of instructions and exits the machine is at:
 * - "step": right after instruction `icount` retired and the replay's records due at that count
 *   were played: where a watchpoint or a run of N instructions stops;
 * - "exit": right after the kernel took VM exit number `exits - 1`, before the VMM handles it;
 * - "insn": at the check before the guest's next instruction, where a breakpoint or a step stops;
 * - "event": at the end of the L4 kernel's scheduling step in which its event count reached
 *   `events` (an L4 event breakpoint's stop: ./l4-events.ts). The state is the step's end, so two
 *   events of one step are two positions at one state.
 * At one icount, exit count and kernel event count, "exit" comes before "event", before "step",
 * before "insn". Guest time follows from them (a halted guest's idle time passes between them).
 */
export type Moment = "step" | "exit" | "insn" | "event";

export interface Position {
  icount: number;
  /** VM exits taken so far (the next exit's number); 0 on the bare machine. */
  exits: number;
  /** Guest time, ns. */
  ns: number;
  /** The L4 kernel's event count (src/l4/state.ts's eventCount); at an "event" moment, the event's. */
  events: number;
  at: Moment;
}

/**
 * A position as a user or tool asks for it: after instruction N retired; at the Nth exit (as
 * `exits`: the count once it was taken); or before the next instruction at a count of
 * instructions and exits.
 */
export type Target =
  | { at: "step"; icount: number }
  | { at: "exit"; exits: number }
  | { at: "insn"; icount: number; exits: number }
  | { at: "event"; events: number };

const MOMENT_RANK: { [M in Moment]: number } = { exit: 0, event: 1, step: 2, insn: 3 };

/** Orders positions in history: negative when a comes first. */
export function comparePositions(a: Position, b: Position): number {
  // Every count only grows, so ordering by them in turn orders by time.
  return a.icount - b.icount || a.exits - b.exits || a.events - b.events || MOMENT_RANK[a.at] - MOMENT_RANK[b.at];
}

export function samePosition(a: Position, b: Position): boolean {
  return comparePositions(a, b) === 0;
}

/** The target that lands exactly on `p`. */
export function targetOf(p: Position): Target {
  switch (p.at) {
    case "step": return { at: "step", icount: p.icount };
    case "exit": return { at: "exit", exits: p.exits };
    case "insn": return { at: "insn", icount: p.icount, exits: p.exits };
    case "event": return { at: "event", events: p.events };
  }
}

/**
 * A position as `monitor when` says it, and which of the instants at those counts it is, in the
 * words `replay --to` and the errors use (formatTarget): not the Moment's internal name.
 */
export function formatPosition(p: Position): string {
  return `icount ${p.icount} exits ${p.exits} guest-ns ${p.ns} (${momentText(p)})`;
}

function momentText(p: Position): string {
  switch (p.at) {
    case "step": return p.icount === 0 ? "at the start, before any instruction" : `after instruction ${p.icount}`;
    case "exit": return `at VM exit ${p.exits - 1}, before the VMM handles it`;
    case "insn": return p.icount === 0 ? "before the first instruction" : "before the next instruction";
    case "event": return `at L4 event ${p.events}`;
  }
}

/** Where a run that fell short came to, as `monitor when` says it: no moment name, which no command takes. */
function formatReached(p: Position): string {
  return `icount ${p.icount} exits ${p.exits} guest-ns ${p.ns}`;
}

/**
 * Why a recording has no VM exit `what` ("exit 5"): it has fewer, or it ran on the bare PC, where
 * there are none to count.
 */
export function noSuchExit(session: Pick<Session, "machineKind" | "recordedExits">, what: string): string {
  if (session.machineKind === "bare") return `the recording ran on the bare PC, which has no VM exits: there is no ${what}`;
  const n = session.recordedExits().length;
  return `the recording has ${n} VM exits${n > 0 ? ` (0 to ${n - 1})` : ""}: there is no ${what}`;
}

function formatTarget(t: Target): string {
  switch (t.at) {
    case "step": return `icount ${t.icount}`;
    case "exit": return `exit ${t.exits - 1}`;
    case "insn": return `icount ${t.icount} exits ${t.exits} (before the next instruction)`;
    case "event": return `L4 event ${t.events}`;
  }
}

/** The linear code pages a stretch of history ran, sorted; null when not known. */
export type CodePages = Uint32Array | null;

export interface Checkpoint {
  readonly pos: Position;
  readonly ram: RamImage;
  readonly state: { machine: MachineState; cursor: ReplayCursor };
  /** The code pages run between this checkpoint and the next one; null when unknown. */
  codeToNext: CodePages;
}

export interface TimelineOptions {
  /** Bytes of distinct RAM pages the checkpoints may hold (default: twice the machine's RAM). */
  budgetBytes?: number;
  /** Instructions between automatic checkpoints (about half a second of replay work). */
  interval?: number;
  /** At most this many checkpoints (each costs its page table and state besides RAM). */
  maxCheckpoints?: number;
}

/** What a run looking for stops would stop at, to decide whether a stretch can be skipped. */
export interface StopSet {
  /** Linear addresses of instruction breakpoints. */
  exec: Iterable<number>;
  /** Any watchpoint (a write can hit anywhere: such a run is never skipped). */
  watches: boolean;
  /** Whether a VM exit (by its number in the recording) would stop the run. */
  exitStops?: (n: number) => boolean;
  /**
   * With L4 event breakpoints: whether one could stop between two checkpoints (the recording does
   * not know the kernel's events, but the checkpoints hold its counters).
   */
  events?: (from: Checkpoint, to: Checkpoint) => boolean;
}

export const DEFAULT_INTERVAL = 10_000_000;
const DEFAULT_MAX_CHECKPOINTS = 256;
/** Pages of the 4 GiB linear space: the CPU's code trace has a byte for each. */
const LINEAR_PAGES = 1 << 20;

export class TimelineError extends Error {
  override name = "TimelineError";
}

export class Timeline {
  private readonly cps: Checkpoint[] = [];
  private readonly pages = new PageCount();
  /** The image RAM was last in step with (the last capture or restore). */
  private base: RamImage;
  /** The checkpoint the machine has run forward from, without a break, since its restore or capture. */
  private from: Checkpoint;
  private readonly trace = new Uint8Array(LINEAR_PAGES);
  /** The Timeline's own breakpoint-free debug hooks, for landing runs. */
  private readonly landingDebug: HostDebug;
  private readonly budget: number;
  private readonly interval: number;
  private readonly maxCheckpoints: number;
  /** Where the user last stopped: checkpoints are kept densest there. */
  private focus = 0;
  /** Checkpoints added or dropped since the start (or since adopting a previous session's). */
  private changes = 0;
  /** Instructions run before the last restore, and the icount the machine has run on from since. */
  private workBefore = 0;
  private runFrom = 0;

  /**
   * A timeline over a replay Session, its first checkpoint (the start of history) at the current
   * state, which is at moment `at`.
   */
  constructor(private readonly session: Session, at: Moment, opts: TimelineOptions = {}) {
    if (session.mode !== "replay") throw new TimelineError("time travel needs a replay");
    const cpu = session.machine.pc.cpu;
    this.landingDebug = new HostDebug(cpu);
    this.budget = opts.budgetBytes ?? 2 * session.machine.pc.mem.size;
    this.interval = opts.interval ?? DEFAULT_INTERVAL;
    this.maxCheckpoints = opts.maxCheckpoints ?? DEFAULT_MAX_CHECKPOINTS;
    this.base = captureRam(session.machine.pc.mem, null);
    const first: Checkpoint = { pos: this.here(at), ram: this.base, state: session.saveState(), codeToNext: null };
    this.cps.push(first);
    this.pages.add(first.ram);
    this.from = first;
    this.runFrom = first.pos.icount;
    cpu.traceCode(this.trace);
  }

  /**
   * Takes over the checkpoints a previous session of the same recording kept
   * (./checkpoint-cache.ts), in order, when this timeline has only its start: those after the
   * start, and the code pages of their stretches (the start's too, when it is the same position).
   * Thins to the budget; returns how many it took.
   */
  adopt(saved: readonly Checkpoint[]): number {
    if (this.cps.length !== 1) return 0;
    const start = this.cps[0];
    let added = 0;
    for (const cp of saved) {
      const c = comparePositions(cp.pos, start.pos);
      if (c === 0) start.codeToNext = cp.codeToNext;
      if (c <= 0) continue;
      // Taken as they are: a cached checkpoint reads its state and its pages when first asked.
      this.cps.push(cp);
      this.pages.add(cp.ram);
      added++;
    }
    if (added === 0) start.codeToNext = null;
    this.thin();
    this.changes = 0;
    return added;
  }

  /** Detaches from the CPU (the checkpoints stay readable). */
  close(): void {
    this.session.machine.pc.cpu.traceCode(null);
  }

  // --- where --------------------------------------------------------------------------------------

  /** The current position, at moment `at` (the caller knows how the last run stopped). */
  here(at: Moment): Position {
    const m = this.session.machine;
    return { icount: m.pc.cpu.icount, exits: this.session.exitCount(), ns: m.nowNs(), events: this.session.eventCount(), at };
  }

  /** The start of history: the first checkpoint. */
  get start(): Position {
    return this.cps[0].pos;
  }

  checkpoints(): readonly Checkpoint[] {
    return this.cps;
  }

  /** Instructions this timeline has run (what moving around has cost, restores aside). */
  get work(): number {
    return this.workBefore + this.session.machine.pc.cpu.icount - this.runFrom;
  }

  /** Whether checkpoints were added or dropped since the start, or since adopting saved ones. */
  get changed(): boolean {
    return this.changes > 0;
  }

  /** Bytes of distinct RAM pages the checkpoints hold. */
  get memoryBytes(): number {
    return this.pages.bytes;
  }

  get budgetBytes(): number {
    return this.budget;
  }

  // --- checkpoints --------------------------------------------------------------------------------

  /**
   * Called at every stop of a forward run, at position `pos` (the current state): takes a
   * checkpoint when the last one before is an interval of work behind, or when `force` (a place
   * the user will come back to).
   */
  maybeCheckpoint(pos: Position, force = false): void {
    // The state at an event moment may be past the event's count: not a place to start from.
    if (pos.at === "event") return;
    const i = this.indexBefore(pos, true);
    const prev = this.cps[i];
    if (samePosition(prev.pos, pos)) return;
    if (!force && pos.icount - prev.pos.icount < this.interval) return;
    this.capture(pos);
  }

  /** Marks where the user is: checkpoints near it are the last to be thinned. */
  setFocus(pos: Position): void {
    this.focus = pos.icount;
  }

  private capture(pos: Position): void {
    const mem = this.session.machine.pc.mem;
    const cp: Checkpoint = { pos, ram: captureRam(mem, this.base), state: this.session.saveState(), codeToNext: null };
    const at = this.indexBefore(pos, true) + 1;
    const prev = this.cps[at - 1];
    // The machine ran forward without a break from `from`, which is at or before `prev`: the
    // pages traced since cover the stretch from `prev` to here. The stretch from here to the next
    // checkpoint is part of the one `prev` had.
    const before = prev.codeToNext;
    prev.codeToNext = this.takeTrace();
    cp.codeToNext = at < this.cps.length ? before : null;
    this.cps.splice(at, 0, cp);
    this.pages.add(cp.ram);
    this.base = cp.ram;
    this.from = cp;
    this.changes++;
    this.thin();
  }

  /** Drops checkpoints, farthest from the focus and closest together first, until within budget. */
  private thin(): void {
    while (this.cps.length > 2 && (this.pages.bytes > this.budget || this.cps.length > this.maxCheckpoints)) {
      let worst = -1;
      let worstScore = Infinity;
      for (let i = 1; i < this.cps.length - 1; i++) {
        const c = this.cps[i];
        // Never the one RAM is in step with (it is the base of the next capture).
        if (c.ram === this.base) continue;
        const gap = this.cps[i + 1].pos.icount - this.cps[i - 1].pos.icount;
        const score = gap / (1 + Math.abs(c.pos.icount - this.focus));
        if (score < worstScore) {
          worstScore = score;
          worst = i;
        }
      }
      if (worst < 0) return;
      this.remove(worst);
    }
  }

  private remove(i: number): void {
    const [c] = this.cps.splice(i, 1);
    const prev = this.cps[i - 1];
    prev.codeToNext = unionPages(prev.codeToNext, c.codeToNext);
    this.pages.remove(c.ram);
    if (this.from === c) this.from = prev;
    this.changes++;
  }

  /** The index of the last checkpoint at or before `pos` (strictly before, unless `orAt`). */
  indexBefore(pos: Position, orAt: boolean): number {
    let lo = 0;
    let hi = this.cps.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const c = comparePositions(this.cps[mid].pos, pos);
      if (c < 0 || (orAt && c === 0)) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  /** The linear code pages seen since the last restore or capture, and a fresh trace. */
  private takeTrace(): Uint32Array {
    const t = this.trace;
    const out: number[] = [];
    for (let p = 0; p < LINEAR_PAGES; p++) {
      if (t[p] !== 0) {
        out.push(p);
        t[p] = 0;
      }
    }
    this.session.machine.pc.cpu.traceCode(t);
    return Uint32Array.from(out);
  }

  // --- moving -------------------------------------------------------------------------------------

  /** Puts the machine in checkpoint `i`'s state. */
  restore(i: number): Position {
    const cp = this.cps[i];
    this.workBefore = this.work;
    this.runFrom = cp.pos.icount;
    const mem = this.session.machine.pc.mem;
    restoreRam(mem, this.base, cp.ram);
    this.base = cp.ram;
    this.session.restoreState(cp.state);
    this.takeTrace();
    this.from = cp;
    return cp.pos;
  }

  /** Whether the machine, at `p`, reaches `t` by running forward (or is there). */
  reaches(p: Position, t: Target): boolean {
    switch (t.at) {
      case "step":
        // Every exit at a smaller count came before; at the count itself only the moment is known.
        return p.icount < t.icount || (p.icount === t.icount && p.at === "step");
      case "exit":
        return p.exits < t.exits || (p.exits === t.exits && p.at === "exit");
      case "insn":
        return p.exits < t.exits || (p.exits === t.exits && p.icount <= t.icount);
      case "event":
        // At an event moment the state's own count may be past the position's.
        return p.at !== "event" && p.events < t.events;
    }
  }

  /** Whether `p` is the position `t` names. */
  private isAt(p: Position, t: Target): boolean {
    switch (t.at) {
      case "step": return p.at === "step" && p.icount === t.icount;
      case "exit": return p.at === "exit" && p.exits === t.exits;
      case "insn": return p.at === "insn" && p.icount === t.icount && p.exits === t.exits;
      case "event": return p.at === "event" && p.events === t.events;
    }
  }

  /**
   * Moves to `target` exactly: restores the last checkpoint that reaches it, unless the machine
   * (at `current`) already does from no further away, then runs forward. Throws a DivergenceError
   * when the replay departs from the recording on the way, a TimelineError when the position does
   * not exist (before the start or past the recording, or a moment that never happens there).
   */
  seek(target: Target, current?: Position): Position {
    let i = this.cps.length - 1;
    while (i >= 0 && !this.reaches(this.cps[i].pos, target)) i--;
    if (i < 0) throw new TimelineError(`${formatTarget(target)} is before the start of history (${formatPosition(this.start)})`);
    if (target.at === "exit" && (target.exits < 1 || target.exits > this.session.recordedExits().length)) {
      throw new TimelineError(noSuchExit(this.session, formatTarget(target)));
    }
    const cp = this.cps[i];
    if (current !== undefined && this.isAt(current, target)) return current;
    // Running on from where the machine is beats a restore when it is no further from the target.
    const fromHere = current !== undefined && this.reaches(current, target) && comparePositions(current, cp.pos) >= 0;
    if (!fromHere) this.restore(i);
    return this.advanceTo(target);
  }

  /**
   * Restores checkpoint `i` and runs forward to `target` from there, whatever checkpoints lie
   * between: for a tool that watches the way (the last IPCs before a position).
   */
  seekFrom(i: number, target: Target): Position {
    if (!this.reaches(this.cps[i].pos, target)) throw new TimelineError(`checkpoint ${i} does not reach ${formatTarget(target)}`);
    this.restore(i);
    return this.advanceTo(target);
  }

  /**
   * Runs on from the current state, at `current`, to VM exit `exits` (the count once taken), or
   * to the recording's end when it has fewer: never through a restore, which would skip the
   * machine's own code between here and there (a tool watches it run: src/inspect).
   */
  runOnToExit(exits: number, current: Position): Position {
    if (exits <= this.session.recordedExits().length) {
      if (!this.reaches(current, { at: "exit", exits })) throw new TimelineError(`${formatPosition(current)} is past ${formatTarget({ at: "exit", exits })}`);
      return this.advanceTo({ at: "exit", exits });
    }
    return this.quietly(() => {
      const cpu = this.session.machine.pc.cpu;
      for (;;) {
        const to = cpu.icount + this.interval;
        if (this.runQuietly(to) !== Stop.BUDGET || cpu.icount !== to) return this.here("step");
      }
    });
  }

  /**
   * Moves to the instruction boundary where guest time reaches `ns`: the position after the
   * instruction retired at which the time passed, reached as seek reaches it. Throws a
   * TimelineError when the recording ends first, as seek does for an icount past its end.
   */
  seekTime(ns: number): Position {
    let i = this.cps.length - 1;
    while (i > 0 && this.cps[i].pos.ns > ns) i--;
    this.restore(i);
    const icount = this.quietly(() => {
      this.session.run({ maxNs: ns });
      return this.session.machine.pc.cpu.icount;
    });
    // The run may have paused inside a halted guest's idle time: the boundary is reached afresh,
    // and when it came before `ns` (the idle spans it), the check before the next instruction, as
    // the guest wakes, is the first boundary past it.
    const p = this.seek({ at: "step", icount });
    if (p.ns >= ns) return p;
    try {
      return this.nextInstruction();
    } catch (e) {
      if (e instanceof TimelineError) throw new TimelineError(`cannot reach guest time ${ns} ns: the replay came to ${formatReached(p)}`);
      throw e;
    }
  }

  /** Runs `fn` with the Timeline's own breakpoint-free debug hooks and no exit listener. */
  private quietly<T>(fn: () => T): T {
    const s = this.session;
    const cpu = s.machine.pc.cpu;
    const theirs = cpu.hostDebug;
    cpu.hostDebug = this.landingDebug;
    this.landingDebug.changed();
    s.muted = true;
    try {
      return fn();
    } finally {
      s.muted = false;
      cpu.hostDebug = theirs;
      if (theirs !== null) theirs.changed();
    }
  }

  /** Runs forward, with no debugger stop and no exit listener, to `target`, which the machine reaches. */
  private advanceTo(target: Target): Position {
    return this.quietly(() => {
      const s = this.session;
      const mine = this.landingDebug;
      if (target.at === "step") {
        this.approach(target.icount);
        return this.landed(target, this.here("step"));
      }
      if (target.at === "event") return this.landed(target, this.toEvents(target.events));
      const exits = s.recordedExits();
      const lastExit = target.exits > 0 ? exits[target.exits - 1] : undefined;
      if (target.at === "exit" || (lastExit !== undefined && lastExit.icount === target.icount && s.exitCount() < target.exits)) {
        // Every state before the instruction the exit's count ends with comes before the exit.
        if (lastExit !== undefined && s.exitCount() < target.exits) this.approach(lastExit.icount - 1);
        // At the exit: the pause is armed from the start, since the exit may come while the
        // replay plays its records at that count.
        s.pauseAtExit(target.exits);
        try {
          this.runQuietly((lastExit?.icount ?? 0) + 1);
        } finally {
          s.pauseAtExit(-1);
        }
        if (target.at === "exit") return this.landed(target, this.here("exit"));
      } else {
        this.approach(target.icount);
      }
      return this.landed(target, this.toCheck());
    });
  }

  /**
   * From right after an instruction retired (a "step" moment, the current state), moves to the
   * check before the guest's next instruction: the "insn" moment a forward step from the
   * instruction before ends at. Throws a TimelineError when the recording ends first.
   */
  nextInstruction(): Position {
    const now = this.quietly(() => this.toCheck());
    if (now.at !== "insn") throw new TimelineError(`no instruction follows: the replay came to ${formatReached(now)}`);
    return now;
  }

  /** Runs to the check before the next instruction; a "step" position when none came. */
  private toCheck(): Position {
    const mine = this.landingDebug;
    mine.stopNext = true;
    mine.changed();
    try {
      this.runQuietly(this.session.machine.pc.cpu.icount + 1);
      // The check clears stopNext when it stops the run there.
      return this.here(mine.stopNext ? "step" : "insn");
    } finally {
      mine.stopNext = false;
      mine.changed();
    }
  }

  /**
   * Runs to right after instruction `icount` (when the machine is before it), leaving checkpoints
   * on the way as a forward run does: a far seek is replay work the next one need not repeat.
   */
  private approach(icount: number): void {
    const cpu = this.session.machine.pc.cpu;
    while (cpu.icount < icount) {
      const to = Math.min(icount, cpu.icount + this.interval);
      this.runQuietly(to);
      if (cpu.icount !== to) return; // the recording ended, or the guest stopped
      if (to < icount) this.maybeCheckpoint(this.here("step"));
    }
    if (cpu.icount === icount) this.runQuietly(icount); // the records due at the count itself
  }

  /**
   * Runs to the end of the kernel step that brings its event count to `n` (from before it),
   * leaving checkpoints on the way: the "event" position of count `n`, or where the run ended.
   */
  private toEvents(n: number): Position {
    const s = this.session;
    const cpu = s.machine.pc.cpu;
    s.pauseAtEvents(n);
    try {
      for (;;) {
        const to = cpu.icount + this.interval;
        const stop = this.runQuietly(to);
        if (s.pausedAtEvents) return { ...this.here("event"), events: n };
        if (cpu.icount !== to || stop !== Stop.BUDGET) return this.here("step");
        this.maybeCheckpoint(this.here("step"));
      }
    } finally {
      s.pauseAtEvents(Infinity);
    }
  }

  private runQuietly(maxInsns: number): Stop {
    this.landingDebug.hit = null;
    try {
      return this.session.run({ maxInsns });
    } finally {
      this.landingDebug.hit = null;
    }
  }

  private landed(target: Target, now: Position): Position {
    if (!this.isAt(now, target)) throw new TimelineError(`cannot reach ${formatTarget(target)}: the replay came to ${formatReached(now)}`);
    return now;
  }

  /**
   * Forward skipping: from `pos` (the current state), the furthest checkpoint the machine can jump
   * to without missing a stop of `stops` or passing `limitIcount`, or -1. A stretch can be skipped
   * when its code pages are known and hold no breakpoint, no watchpoint is set, and none of its
   * recorded exits would stop the run.
   */
  skipTarget(pos: Position, stops: StopSet, limitIcount: number): number {
    if (stops.watches) return -1;
    const exec = [...stops.exec].map((a) => (a >>> 12) >>> 0);
    let i = this.indexBefore(pos, true);
    if (i < 0) return -1;
    let best = -1;
    while (i + 1 < this.cps.length) {
      const next = this.cps[i + 1];
      if (next.pos.icount > limitIcount || !this.stretchClear(i, stops, exec, pos.exits, next.pos.exits)) break;
      best = i + 1;
      i++;
    }
    return best;
  }

  /**
   * Whether checkpoint `i`'s stretch to the next ran no breakpoint's page and took no stopping
   * exit numbered in [fromExit, toExit).
   */
  stretchClear(i: number, stops: StopSet, execPages: number[], fromExit: number, toExit: number): boolean {
    const pages = this.cps[i].codeToNext;
    if (pages === null || stops.watches) return false;
    if (stops.events !== undefined && (i + 1 >= this.cps.length || stops.events(this.cps[i], this.cps[i + 1]))) return false;
    for (const p of execPages) if (hasPage(pages, p)) return false;
    if (stops.exitStops) for (let n = fromExit; n < toExit; n++) if (stops.exitStops(n)) return false;
    return true;
  }
}

/** Whether a sorted page list holds `p`. */
function hasPage(pages: Uint32Array, p: number): boolean {
  let lo = 0;
  let hi = pages.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (pages[mid] === p) return true;
    if (pages[mid] < p) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}

function unionPages(a: CodePages, b: CodePages): CodePages {
  if (a === null || b === null) return null;
  return Uint32Array.from(new Set([...a, ...b])).sort();
}
