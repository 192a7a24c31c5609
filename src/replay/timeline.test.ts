import { readFileSync } from "node:fs";
import { join } from "node:path";
import { serialize } from "node:v8";
import { describe, expect, it } from "vitest";
import { PageFlag } from "../machine/memory.js";
import { ExitReason } from "../vmx/exits.js";
import { ROOT } from "../../test/layers.js";
import { seeded } from "../../test/support/random.js";
import { readRecording } from "./recording.js";
import { Session } from "./session.js";
import { comparePositions, formatPosition, targetOf, Timeline, type Position } from "./timeline.js";

function replay(file: string): { session: Session; out: number[] } {
  const rec = readRecording(new Uint8Array(readFileSync(join(ROOT, "recordings", file))), file);
  const out: number[] = [];
  return { session: Session.replay(rec, (b) => out.push(b)), out };
}

/** Runs the whole replay forward once, noting the full state hash at every `every` instructions and at every VM exit. */
function referenceRun(file: string, every: number, interval: number): { session: Session; timeline: Timeline; marks: { pos: Position; hash: string }[]; out: number[] } {
  const { session, out } = replay(file);
  const timeline = new Timeline(session, "step", { interval });
  const marks: { pos: Position; hash: string }[] = [];
  // Positions at exits: pause at each one the recording has.
  const exits = session.recordedExits();
  let nextExit = 0;
  for (let icount = every; !session.replayDone(); ) {
    const exitAt = nextExit < exits.length ? exits[nextExit].icount : Infinity;
    if (exitAt < icount) {
      session.pauseAtExit(nextExit + 1);
      session.run({ maxInsns: exitAt + 1 });
      session.pauseAtExit(-1);
      nextExit++;
      // Every eighth exit, and each interrupt window (which retires no guest instruction).
      const noted = nextExit % 8 === 0 || exits[nextExit - 1].reason === ExitReason.INTERRUPT_WINDOW;
      if (session.exitCount() === nextExit && noted) {
        marks.push({ pos: timeline.here("exit"), hash: session.stateHash() });
        timeline.maybeCheckpoint(timeline.here("exit"));
      }
      continue;
    }
    session.run({ maxInsns: icount });
    const pos = timeline.here("step");
    marks.push({ pos, hash: session.stateHash() });
    timeline.maybeCheckpoint(pos);
    icount += every;
  }
  return { session, timeline, marks, out };
}

describe("the Timeline", () => {
  for (const file of ["hello-vm.rec", "echo-vm.rec", "hello.rec", "echo.rec"]) {
    it(`moves ${file} to seeded random positions with the full state hash a forward run had there, and still replays to the end`, () => {
      const every = file.startsWith("echo") ? 37 : 7919;
      const { session, timeline, marks, out } = referenceRun(file, every, every * 5);
      const end = session.stateHash();
      const output = Buffer.from(out).toString("latin1");
      expect(timeline.checkpoints().length).toBeGreaterThan(3);
      expect(marks.some((m) => m.pos.at === "exit") || !file.includes("vm")).toBe(true);
      const rnd = seeded(12);
      let current: Position = timeline.here("step");
      for (let k = 0; k < 60; k++) {
        const m = marks[Math.floor(rnd() * marks.length)];
        current = timeline.seek(targetOf(m.pos), rnd() < 0.5 ? current : undefined);
        expect(comparePositions(current, m.pos)).toBe(0);
        expect(session.stateHash(), `at ${JSON.stringify(m.pos)}`).toBe(m.hash);
      }
      // Forward from there, every record and exit is checked again; the host console saw each byte once.
      session.run();
      expect(session.replayDone()).toBe(true);
      expect(session.stateHash()).toBe(end);
      expect(Buffer.from(out).toString("latin1")).toBe(output);
    });
  }

  it("tells apart the step before an exit that retires nothing, the exit, and the check before the next instruction", () => {
    const { session, timeline, marks } = referenceRun("hello-vm.rec", 7919, 40_000);
    const exits = session.recordedExits();
    // An interrupt window exit retires no guest instruction: the instruction before it, the exit
    // and the guest's next instruction (the interrupt's handler) share one icount.
    const k = exits.findIndex((e, i) => i > 0 && e.reason === ExitReason.INTERRUPT_WINDOW);
    expect(k).toBeGreaterThan(0);
    const exit = marks.find((m) => m.pos.at === "exit" && m.pos.exits === k + 1)!;
    expect(exit.pos.icount).toBe(exits[k].icount);
    const before = timeline.seek({ at: "step", icount: exit.pos.icount });
    const beforeHash = session.stateHash();
    expect(before.exits).toBe(k);
    timeline.seek(targetOf(exit.pos));
    expect(session.stateHash()).toBe(exit.hash);
    expect(exit.hash).not.toBe(beforeHash);
    const insn = timeline.seek({ at: "insn", icount: exit.pos.icount, exits: exit.pos.exits });
    expect(insn).toMatchObject({ icount: exit.pos.icount, exits: k + 1 });
    expect(comparePositions(before, exit.pos)).toBeLessThan(0);
    expect(comparePositions(insn, exit.pos)).toBeGreaterThan(0);
    timeline.seek({ at: "step", icount: exit.pos.icount });
    expect(session.stateHash()).toBe(beforeHash);
  });

  it("restores only the pages that differ, and keeps the decoded code of the others", () => {
    const { session, timeline } = referenceRun("hello-vm.rec", 7919, 40_000);
    const mem = session.machine.pc.mem;
    const cps = timeline.checkpoints();
    timeline.restore(cps.length - 2);
    const code = [...mem.pageFlags.keys()].filter((p) => (mem.pageFlags[p] & PageFlag.CODE) !== 0);
    expect(code.length).toBeGreaterThan(0);
    timeline.restore(cps.length - 1);
    timeline.restore(cps.length - 2);
    // The guest's code pages were not written between the two: their decoded instructions stay.
    const still = code.filter((p) => (mem.pageFlags[p] & PageFlag.CODE) !== 0);
    expect(still.length).toBeGreaterThan(0);
  });

  it("thins checkpoints to stay within its memory budget instead of failing", () => {
    const { session } = replay("hello-vm.rec");
    const timeline = new Timeline(session, "step", { interval: 10_000, budgetBytes: 64 * 4096 });
    for (let i = 10_000; !session.replayDone(); i += 10_000) {
      session.run({ maxInsns: i });
      timeline.maybeCheckpoint(timeline.here("step"));
    }
    expect(timeline.memoryBytes).toBeLessThanOrEqual(64 * 4096 + 8 * 1024 * 1024);
    expect(timeline.checkpoints().length).toBeGreaterThan(2);
  });

  it("restores a checkpoint's state without sharing it with the machine: running on changes none of it", () => {
    // A restore copies the state once (each part of the machine its own); a part that kept the
    // checkpoint's objects would change them as the machine runs on, and the next restore of the
    // checkpoint would put back a later state.
    const { session } = replay("hello-vm.rec");
    session.run({ maxInsns: 30_000 });
    const saved = session.saveState();
    const bytes = serialize(saved);
    session.restoreState(saved);
    session.run({ maxInsns: 1_000_000 });
    expect(session.exitCount()).toBeGreaterThan(saved.cursor.exits);
    expect(Buffer.compare(serialize(saved), bytes)).toBe(0);
  });
});

describe("a position as the user reads it", () => {
  it("names the instant at its counts in words, never by the moment's internal name", () => {
    const at = { icount: 170, exits: 31, ns: 4000, events: 9 };
    expect(formatPosition({ ...at, at: "step" })).toBe("icount 170 exits 31 guest-ns 4000 (after instruction 170)");
    expect(formatPosition({ ...at, at: "exit" })).toBe("icount 170 exits 31 guest-ns 4000 (at VM exit 30, before the VMM handles it)");
    expect(formatPosition({ ...at, at: "insn" })).toBe("icount 170 exits 31 guest-ns 4000 (before the next instruction)");
    expect(formatPosition({ ...at, at: "event" })).toBe("icount 170 exits 31 guest-ns 4000 (at L4 event 9)");
    expect(formatPosition({ icount: 0, exits: 0, ns: 0, events: 0, at: "insn" })).toBe("icount 0 exits 0 guest-ns 0 (before the first instruction)");
    expect(formatPosition({ icount: 0, exits: 0, ns: 0, events: 0, at: "step" })).toBe("icount 0 exits 0 guest-ns 0 (at the start, before any instruction)");
  });
});
