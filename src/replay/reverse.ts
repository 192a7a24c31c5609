// Reverse execution for the Debugger, the rr way, on the Timeline (./timeline.ts).
//
// A reverse step goes to the instruction before: the check before the guest's next instruction
// once instruction icount-1 retired, where a forward step from the instruction before that ends,
// and from which a forward step comes back here. It restores the nearest checkpoint and runs
// forward; to keep that cheap it first leaves a checkpoint a little behind the user, so a run of
// reverse steps (gdb builds reverse-step, -next and -finish from them) each replays only a few
// hundred thousand instructions.
//
// A reverse continue scans the stretches between checkpoints backwards from where it starts. Each
// stretch is run forward with the debugger's breakpoints, watchpoints and exit breakpoints,
// remembering the last hit before the starting position (a hit exactly there does not count);
// the first stretch with one decides, and the replay lands exactly on that hit. A stretch whose
// code pages hold no breakpoint's page (and no watchpoint is set, and none of its recorded exits
// would stop) is skipped without running. No hit at all ends at the start of history. The scan
// goes in slices, like a forward continue, so gdb's Ctrl-C stops it at a consistent position: the
// one the last slice stopped at.

import type { DebugStop, Debugger } from "./debug.js";
import { comparePositions, targetOf, type Position, type Target, type Timeline } from "./timeline.js";

/** How far behind the user a reverse step wants a checkpoint: at most this many instructions. */
const NEAR = 400_000;

interface Scan {
  /** Where the reverse continue started: hits must be strictly before it. */
  readonly end: Position;
  /** The checkpoint the stretch being run starts at, and where it ends. */
  from: Position;
  bound: Position;
  /** The stretch is being run (else the next one back is chosen). */
  running: boolean;
  /** The last run stopped at a breakpoint hit: the next one must not stop there again. */
  afterHit: boolean;
  best: { pos: Position; stop: DebugStop } | null;
}

export class Reverse {
  private scan: Scan | null = null;

  constructor(private readonly dbg: Debugger, private readonly tl: Timeline) {}

  /** Back one instruction; the start of history when there is none before. */
  step(): DebugStop {
    const tl = this.tl;
    const here = this.dbg.where();
    const target: Target = { at: "step", icount: here.icount - 1 };
    if (here.icount === 0 || !tl.reaches(tl.start, target)) return this.toStart();
    const cps = tl.checkpoints();
    let i = cps.length - 1;
    while (i > 0 && !tl.reaches(cps[i].pos, target)) i--;
    let now = here;
    if (target.icount - cps[i].pos.icount > NEAR) {
      const back: Target = { at: "step", icount: target.icount - NEAR / 2 };
      now = tl.seek(back, here);
      tl.maybeCheckpoint(now, true);
    }
    tl.seek(target, now);
    this.dbg.movedTo(tl.nextInstruction());
    return { kind: "step" };
  }

  /** Starts a reverse continue from the current position. */
  startContinue(): void {
    const end = this.dbg.where();
    this.scan = { end, from: end, bound: end, running: false, afterHit: false, best: null };
  }

  /**
   * One slice of the reverse continue, about `budget` instructions of forward running: the stop,
   * or null while the scan goes on.
   */
  continueSlice(budget: number): DebugStop | null {
    const scan = this.scan;
    if (scan === null) return { kind: "step" };
    const tl = this.tl;
    const stops = this.dbg.stopSet();
    const execPages = [...stops.exec].map((a) => (a >>> 12) >>> 0);
    while (!scan.running) {
      const i = tl.indexBefore(scan.from, false);
      if (i < 0) {
        this.scan = null;
        return this.toStart();
      }
      const cps = tl.checkpoints();
      const next = cps[i + 1];
      scan.bound = next !== undefined && comparePositions(next.pos, scan.end) < 0 ? next.pos : scan.end;
      scan.from = cps[i].pos;
      // The stretch to the next checkpoint covers this one; exits are counted generously.
      if (next !== undefined && tl.stretchClear(i, stops, execPages, cps[i].pos.exits - 1, scan.bound.exits + 1)) continue;
      this.dbg.movedTo(tl.restore(i));
      scan.running = true;
      scan.afterHit = false;
    }
    const here = this.dbg.where();
    if (comparePositions(here, scan.bound) < 0) {
      const s = this.dbg.run({ maxInsns: Math.max(1, Math.min(budget, scan.bound.icount + 1 - here.icount)), first: scan.afterHit });
      const p = this.dbg.where();
      scan.afterHit = s.kind === "breakpoint";
      switch (s.kind) {
        case "breakpoint":
        case "watch":
        case "exit":
        case "l4":
          if (comparePositions(p, scan.bound) < 0) scan.best = { pos: p, stop: s };
          if (comparePositions(p, scan.bound) < 0) return null;
          break;
        case "diverged":
          this.scan = null;
          return s;
        case "budget":
        case "step":
        case "start":
          if (comparePositions(p, scan.bound) < 0) return null;
          break;
        default:
          // The end of the recording or a halt: nothing further in this stretch.
          break;
      }
    }
    // The stretch is done.
    scan.running = false;
    if (scan.best !== null) {
      const { pos, stop } = scan.best;
      this.scan = null;
      this.dbg.movedTo(this.tl.seek(targetOf(pos), this.dbg.where()));
      return stop;
    }
    return null;
  }

  /** Ctrl-C during a reverse continue: it stops where its last slice stopped. */
  interrupt(): void {
    this.scan = null;
  }

  private toStart(): DebugStop {
    this.dbg.movedTo(this.tl.seek(targetOf(this.tl.start), this.dbg.where()));
    return { kind: "begin" };
  }
}
