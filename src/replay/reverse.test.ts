// Reverse execution on the built-in guest's recording under the stack (recordings/hello-vm.rec):
// every position reached backwards is checked against a fresh forward replay of the same
// recording, which knows nothing of checkpoints.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../../test/layers.js";
import { Debugger, ONE_INSTRUCTION, type DebugStop, type GuestRegisters } from "./debug.js";
import { readRecording, type ReadRecording } from "./recording.js";
import { Session } from "./session.js";
import { seeded } from "../../test/support/random.js";
import { comparePositions, targetOf, type Position } from "./timeline.js";

const REC: ReadRecording = readRecording(new Uint8Array(readFileSync(join(ROOT, "recordings", "hello-vm.rec"))), "hello-vm.rec");
/** guests/builtin/hello.asm: timer_handler (IRQ0, 1 kHz, also while the guest idles in HLT), its `inc dword [ticks]`, and ticks. */
const TIMER_HANDLER = 0x7f91;
const TICKS_INC = 0x7f92;
const TICKS = 0x8224;
/** hello.asm's putc, alone on its page (0x8000) with puts and the number printers: run only while printing. */
const PUTC = 0x8026;

function debuggerOn(interval = 20_000): Debugger {
  const d = new Debugger(Session.replay(REC, () => {}));
  expect(d.toFirstInstruction()).toEqual({ kind: "start" });
  d.startTimeTravel({ interval });
  return d;
}

function cont(d: Debugger): DebugStop {
  for (let first = true; ; first = false) {
    const s = d.run({ maxInsns: 5000, first });
    if (s.kind !== "budget") return s;
  }
}

function reverseCont(d: Debugger): DebugStop {
  d.reverse!.startContinue();
  for (;;) {
    const s = d.reverse!.continueSlice(5000);
    if (s !== null) return s;
  }
}

function stepi(d: Debugger): DebugStop {
  for (let first = true; ; first = false) {
    const s = d.run({ maxInsns: 5000, first, step: ONE_INSTRUCTION });
    if (s.kind !== "budget") return s;
  }
}

/**
 * The guest's registers in a fresh forward replay, once `icount` instructions retired, before the
 * next one: where a step ends.
 */
function registersBefore(icount: number): GuestRegisters {
  const d = new Debugger(Session.replay(REC, () => {}));
  d.toFirstInstruction();
  for (let first = true; d.position().icount < icount; first = false) d.run({ maxInsns: icount - d.position().icount, first });
  d.toFirstInstruction();
  return d.registers();
}

describe("reverse execution", () => {
  it("reverse-continue stops at the breakpoint hits a forward continue saw, in reverse order, and continue reproduces them", () => {
    const d = debuggerOn();
    d.setBreakpoint("hw", TIMER_HANDLER);
    const forward: string[] = [];
    for (let k = 0; k < 10; k++) {
      expect(cont(d)).toMatchObject({ kind: "breakpoint", addr: TIMER_HANDLER });
      forward.push(JSON.stringify(d.where()));
    }
    const backward: string[] = [];
    for (let k = 0; k < 9; k++) {
      expect(reverseCont(d)).toMatchObject({ kind: "breakpoint", addr: TIMER_HANDLER });
      expect(d.registers().eip).toBe(TIMER_HANDLER);
      backward.push(JSON.stringify(d.where()));
    }
    expect(backward).toEqual(forward.slice(0, 9).reverse());
    const again: string[] = [];
    for (let k = 0; k < 9; k++) {
      cont(d);
      again.push(JSON.stringify(d.where()));
    }
    expect(again).toEqual(forward.slice(1));
  });

  it("reverse-stepi at seeded random positions lands before the instruction before, with a forward replay's registers, and stepi comes back", () => {
    const d = debuggerOn();
    const end = REC.end!.icount;
    const rnd = seeded(7);
    for (let k = 0; k < 20; k++) {
      const n = 2 + Math.floor(rnd() * (end - 2));
      expect(d.seek({ at: "step", icount: n })).toMatchObject({ icount: n });
      expect(d.reverse!.step()).toEqual({ kind: "step" });
      expect(d.where()).toMatchObject({ icount: n - 1, at: "insn" });
      expect(d.registers()).toEqual(registersBefore(n - 1));
      expect(stepi(d)).toEqual({ kind: "step" });
      expect(d.position().icount).toBe(n);
      expect(d.registers()).toEqual(registersBefore(n));
    }
  });

  it("reverse-continue to a watchpoint stops right after the write before, with the value it wrote", () => {
    const d = debuggerOn();
    d.setWatchpoint("write", TICKS, 4);
    for (let k = 0; k < 5; k++) expect(cont(d)).toMatchObject({ kind: "watch", addr: TICKS });
    const ticks = () => new DataView(d.readMemory(TICKS, 4).buffer).getUint32(0, true);
    const at5 = d.position().icount;
    expect(ticks()).toBe(5);
    expect(reverseCont(d)).toMatchObject({ kind: "watch", watch: "write", addr: TICKS });
    expect(ticks()).toBe(4);
    // Right after the writing instruction: the one before it is the increment.
    expect(d.position().icount).toBeLessThan(at5);
    d.reverse!.step();
    expect(d.registers().eip).toBe(TICKS_INC);
    expect(ticks()).toBe(3);
  });

  it("reverse-continue stops at the exit breakpoint before, and with nothing to stop it at the start of history", () => {
    const d = debuggerOn();
    d.addExitBreak({ reason: 12, text: "hlt" });
    const hlts: number[] = [];
    for (let k = 0; k < 3; k++) {
      expect(cont(d)).toMatchObject({ kind: "exit" });
      hlts.push(d.position().exits);
    }
    expect(reverseCont(d)).toMatchObject({ kind: "exit" });
    expect(d.position().exits).toBe(hlts[1]);
    d.clearExitBreaks();
    expect(reverseCont(d)).toEqual({ kind: "begin" });
    expect(d.position()).toMatchObject({ icount: 0 });
    expect(d.registers().eip).toBe(0x7c00);
  });

  it("an interrupted reverse-continue stops at a position the replay can leave, come back to, and run on from", () => {
    const session = Session.replay(REC, () => {});
    const d = new Debugger(session);
    d.toFirstInstruction();
    d.startTimeTravel({ interval: 20_000 });
    expect(cont(d)).toEqual({ kind: "end" });
    const end = d.where();
    // A watchpoint that never hits: the scan would run every stretch, all the way back.
    d.setWatchpoint("write", 0x1234, 4);
    d.reverse!.startContinue();
    // A few slices, and interrupted inside a stretch (not where one ended).
    for (let k = 0; k < 3 || comparePositions(d.where(), end) >= 0; k++) expect(d.reverse!.continueSlice(2000)).toBeNull();
    d.reverse!.interrupt();
    const here = d.where();
    expect(comparePositions(here, end)).toBeLessThan(0);
    const hash = session.stateHash();
    d.seek({ at: "step", icount: 100 });
    expect(comparePositions(d.seek(targetOf(here)) as Position, here)).toBe(0);
    expect(session.stateHash()).toBe(hash);
    expect(cont(d)).toEqual({ kind: "end" });
  });

  it("finds a breakpoint on a page only compiled code ran, backwards and forwards, through the stretches its code trace skips", () => {
    // The oracle: every hit of putc in a forward continue on the interpreter, with no time travel.
    const ref = new Debugger(Session.replay(REC, () => {}, {}, { jit: false }));
    ref.toFirstInstruction();
    ref.setBreakpoint("hw", PUTC);
    const hits: string[] = [];
    for (let s = cont(ref); s.kind === "breakpoint"; s = cont(ref)) hits.push(JSON.stringify(ref.where()));
    expect(hits.length).toBeGreaterThan(100);

    // Every block compiled the first time it is reached, so putc's page is entered by compiled
    // code, which is what marks it in the code trace of the stretches the run with no breakpoint
    // checkpoints.
    const session = Session.replay(REC, () => {}, {}, { jit: true });
    const cpu = session.machine.pc.cpu;
    cpu.jitThreshold = 1;
    let ranOnPage = 0;
    cpu.jitOnCompile = (b) => ({
      ...b,
      run: (c, end) => {
        if (c.eip >>> 12 === PUTC >>> 12) ranOnPage++;
        return b.run(c, end);
      },
    });
    const d = new Debugger(session);
    d.toFirstInstruction();
    const timeline = d.startTimeTravel({ interval: 20_000 });
    expect(cont(d)).toEqual({ kind: "end" });
    expect(ranOnPage).toBeGreaterThan(0);
    const stretches = timeline.checkpoints().map((c) => c.codeToNext).filter((pages) => pages !== null);
    expect(stretches.some((pages) => !pages.includes(PUTC >>> 12))).toBe(true);
    expect(stretches.some((pages) => pages.includes(PUTC >>> 12))).toBe(true);

    // Around the longest stretch without a hit (a computation between two lines of output).
    const at = hits.map((h) => (JSON.parse(h) as Position).icount);
    let gap = 0;
    for (let k = 1; k < at.length; k++) if (at[k] - at[k - 1] > at[gap + 1] - at[gap]) gap = k - 1;
    expect(at[gap + 1] - at[gap]).toBeGreaterThan(100_000);
    d.setBreakpoint("hw", PUTC);
    d.seek({ at: "step", icount: at[gap + 1] - 10 });
    const backward: string[] = [];
    for (let k = gap; k > gap - 12 && k >= 0; k--) {
      expect(reverseCont(d)).toMatchObject({ kind: "breakpoint", addr: PUTC });
      backward.push(JSON.stringify(d.where()));
    }
    expect(backward).toEqual(hits.slice(Math.max(0, gap - 11), gap + 1).reverse());
    d.seek({ at: "step", icount: at[gap] + 10 });
    const forward: string[] = [];
    for (let k = gap + 1; k < gap + 13 && k < hits.length; k++) {
      expect(cont(d)).toMatchObject({ kind: "breakpoint", addr: PUTC });
      forward.push(JSON.stringify(d.where()));
    }
    expect(forward).toEqual(hits.slice(gap + 1, gap + 13));
  });

  it("after seeded random seeks and reverse moves, running forward still matches every state hash and VM exit", () => {
    const session = Session.replay(REC, () => {});
    const d = new Debugger(session);
    d.toFirstInstruction();
    d.startTimeTravel({ interval: 30_000 });
    d.setBreakpoint("sw", TIMER_HANDLER);
    const rnd = seeded(99);
    for (let k = 0; k < 12; k++) {
      const r = rnd();
      if (r < 0.3) d.seek({ at: "step", icount: Math.floor(rnd() * REC.end!.icount) });
      else if (r < 0.5) d.seek({ at: "exit", exits: 1 + Math.floor(rnd() * 700) });
      else if (r < 0.7) d.reverse!.step();
      else if (r < 0.85) reverseCont(d);
      else cont(d);
    }
    d.clearBreakpoint("sw", TIMER_HANDLER);
    // The Session's own run, which jumps over nothing: every record and exit to the end is checked.
    session.run();
    expect(session.replayDone()).toBe(true);
    expect(d.position().icount).toBe(REC.end!.icount);
  });
});
