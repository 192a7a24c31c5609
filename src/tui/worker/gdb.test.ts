import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { ResumeRequest, ResumeResult, StopReason, TargetError } from "../../gdbstub/target.js";
import { ReplayDriver } from "../../replay/remote/driver.js";
import { SharedTarget } from "./gdb.js";
import type { Event } from "../../replay/remote/protocol.js";

const REC = fileURLToPath(new URL("../../../recordings/hello-vm.rec", import.meta.url));
const bytes = readFileSync(REC);

function open() {
  const driver = new ReplayDriver({ recording: bytes, name: "hello-vm.rec", images: {} });
  const told: Extract<Event, { event: "gdb" }>[] = [];
  const target = new SharedTarget(driver, (e) => told.push(e));
  return { driver, target, told };
}

/** Resumes as the stub does: slices until a stop; at most `slices` of them (then null). */
function resume(target: SharedTarget, req: Omit<ResumeRequest, "first" | "budget">, budget = 1_000_000, slices = 10_000): StopReason | TargetError | null {
  for (let k = 0; k < slices; k++) {
    const r: ResumeResult | TargetError = target.resume({ ...req, first: k === 0, budget });
    if ("error" in r) return r;
    if (r.state === "stopped") return r.stop;
  }
  return null;
}

describe("gdb beside the TUI, on one replay", () => {
  it("moves the TUI's replay: the panes get a snapshot where gdb's continue stopped", () => {
    const { driver, target, told } = open();
    target.insertBreakpoint({ type: "hw", addr: 0x802c, length: 1 });
    expect(resume(target, { action: "continue", direction: "forward" })).toEqual({ kind: "hwbreak" });
    expect(told.map((e) => e.what)).toEqual(["running", "stopped"]);
    const stop = told[1];
    expect(stop.text).toBe("gdb: at a breakpoint");
    expect(stop.snapshot?.pos.eip).toBe(0x802c);
    expect(stop.snapshot?.stop).toBe("gdb: at a breakpoint");
    expect(stop.snapshot?.marks.hits).toEqual([stop.snapshot?.pos.icount]);
    driver.close();
  });

  it("starts gdb's next move where the TUI left the replay", async () => {
    const { driver, target } = open();
    const r = await driver.handle({ id: 1, op: "go", to: { kind: "exit", n: 100 } });
    expect(resume(target, { action: "step", direction: "forward" })).toEqual({ kind: "signal", signal: 5 });
    expect(driver.debugger.where().icount).toBe(r.snapshot!.pos.icount + 1);
    expect(target.readRegisters().eip).toBe(0x802d);
    driver.close();
  });

  it("refuses the TUI's moves while gdb waits for its stop, and the TUI's Esc stops gdb's run with SIGINT", async () => {
    const { driver, target, told } = open();
    expect(resume(target, { action: "continue", direction: "forward" }, 1_000, 3)).toBeNull();
    const refused = await driver.handle({ id: 1, op: "step" });
    expect(!refused.ok && refused.error).toBe("gdb is continuing: wait for its stop, or Esc interrupts it");
    // Looking is fine: the state between two slices is a position like any other.
    expect((await driver.handle({ id: 2, op: "snapshot" })).ok).toBe(true);
    const at = driver.debugger.where().icount;
    target.interruptRun();
    expect(target.resume({ action: "continue", direction: "forward", first: false, budget: 1_000 })).toEqual({ state: "stopped", stop: { kind: "signal", signal: 2 } });
    expect(driver.debugger.where().icount).toBe(at);
    expect(told.at(-1)).toMatchObject({ what: "stopped", text: "gdb: interrupted" });
    expect((await driver.handle({ id: 3, op: "step" })).ok).toBe(true);
    driver.close();
  });

  it("holds gdb's continue while a TUI move runs, then runs it from where that move stopped", () => {
    const { driver, target } = open();
    target.insertBreakpoint({ type: "hw", addr: 0x7c00, length: 1 });
    driver.moving = true;
    const icount = driver.debugger.where().icount;
    expect(target.resume({ action: "continue", direction: "forward", first: true, budget: 1_000 })).toEqual({ state: "running" });
    expect(driver.debugger.where().icount).toBe(icount);
    driver.moving = false;
    // Its first slice, though the stub said first only once: the breakpoint at EIP does not stop it.
    expect(target.resume({ action: "continue", direction: "forward", first: false, budget: 10_000_000 })).toMatchObject({ state: "stopped", stop: { kind: "historyEdge" } });
    driver.close();
  });

  it("sends a snapshot after a monitor command: a seek moves the panes", () => {
    const { driver, target, told } = open();
    target.monitor("seek exit 100");
    expect(told.at(-1)?.snapshot?.pos).toMatchObject({ exits: 101, at: "exit" });
    driver.close();
  });
});
