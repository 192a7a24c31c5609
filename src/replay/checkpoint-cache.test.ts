import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ROOT } from "../../test/layers.js";
import { cacheEntry, loadCheckpoints, saveCheckpoints } from "./checkpoint-cache.js";
import { Debugger, type DebugStop } from "./debug.js";
import { readRecording } from "./recording.js";
import { Session } from "./session.js";

const BYTES = new Uint8Array(readFileSync(join(ROOT, "recordings", "hello-vm.rec")));
/** guests/builtin/hello.asm's timer_handler. */
const TIMER_HANDLER = 0x7f91;
const dir = mkdtempSync(join(tmpdir(), "afterglow-ckpt-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sessions = new WeakMap<Debugger, Session>();

function attach(): Debugger {
  const s = Session.replay(readRecording(BYTES), () => {});
  const d = new Debugger(s);
  sessions.set(d, s);
  d.toFirstInstruction();
  d.startTimeTravel({ interval: 20_000 });
  return d;
}

function cont(d: Debugger): DebugStop {
  for (let first = true; ; first = false) {
    const s = d.run({ maxInsns: 20_000, first });
    if (s.kind !== "budget") return s;
  }
}

describe("the checkpoint cache", () => {
  it("lets the next session on the recording start from the nearest checkpoint and skip what cannot stop it", () => {
    const entry = cacheEntry(dir, BYTES);
    const first = attach();
    expect(cont(first)).toEqual({ kind: "end" });
    const end = first.position().icount;
    const hash = sessions.get(first)!.stateHash();
    saveCheckpoints(entry, first.timeline!.checkpoints());
    const saved = first.timeline!.checkpoints().length;
    expect(saved).toBeGreaterThan(10);

    const second = attach();
    expect(second.timeline!.adopt(loadCheckpoints(entry))).toBe(saved - 1);
    const tl = second.timeline!;
    expect(second.seek({ at: "step", icount: end - 1000 })).toMatchObject({ icount: end - 1000 });
    // Only the instructions from the nearest checkpoint were run.
    expect(tl.work).toBeLessThan(20_000);
    second.run({ maxInsns: 1000, first: false });
    expect(sessions.get(second)!.stateHash()).toBe(hash);

    // A continue skips the stretches that cannot stop it: here, before the guest's first HLT exit
    // (the small guest's code is on two pages that every stretch runs).
    const third = attach();
    third.timeline!.adopt(loadCheckpoints(entry));
    third.addExitBreak({ reason: 12, text: "hlt" });
    expect(cont(third)).toMatchObject({ kind: "exit" });
    const at = third.where();
    expect(third.timeline!.work).toBeLessThan(at.icount / 2);
    // The same stop a plain forward run finds.
    const plain = new Debugger(Session.replay(readRecording(BYTES), () => {}));
    plain.toFirstInstruction();
    plain.addExitBreak({ reason: 12, text: "hlt" });
    cont(plain);
    expect(plain.where()).toEqual(at);
    // With a breakpoint on code every stretch ran, nothing is skipped, and the stop is the same.
    const fourth = attach();
    fourth.timeline!.adopt(loadCheckpoints(entry));
    fourth.setBreakpoint("hw", TIMER_HANDLER);
    expect(cont(fourth)).toMatchObject({ kind: "breakpoint", addr: TIMER_HANDLER });
    const plain2 = new Debugger(Session.replay(readRecording(BYTES), () => {}));
    plain2.toFirstInstruction();
    plain2.setBreakpoint("hw", TIMER_HANDLER);
    cont(plain2);
    expect(fourth.where()).toEqual(plain2.where());
  });

  it("is a cold start when the entry is missing or damaged, and a different recording has a different entry", () => {
    const entry = cacheEntry(dir, BYTES);
    expect(loadCheckpoints(join(dir, "nothing"))).toEqual([]);
    writeFileSync(join(entry, "meta"), "not a cache");
    expect(loadCheckpoints(entry)).toEqual([]);
    const other = Uint8Array.from(BYTES);
    other[other.length - 1] ^= 1;
    expect(cacheEntry(dir, other)).not.toBe(entry);
  });
});
