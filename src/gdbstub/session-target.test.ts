// The gdb target over a real replay: what its time-travel monitor commands leave behind.

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { Debugger } from "../replay/debug.js";
import { readRecording } from "../replay/recording.js";
import { Session } from "../replay/session.js";
import { SessionTarget } from "./session-target.js";

const REC = fileURLToPath(new URL("../../recordings/hello-vm.rec", import.meta.url));

function open() {
  const dbg = new Debugger(Session.replay(readRecording(readFileSync(REC), "hello-vm.rec"), () => {}));
  dbg.startTimeTravel();
  return { dbg, target: new SessionTarget(dbg) };
}

describe("gdb's monitor seek on a replay", () => {
  it("leaves the machine where it was when the icount it asks for lies past the recording's end", () => {
    const { dbg, target } = open();
    for (let k = 0; k < 5; k++) target.resume({ action: "step", direction: "forward", first: true, budget: 1_000_000 });
    const before = target.monitor("when");
    expect(before).toMatch(/^icount [1-9]/);
    const refused = target.monitor("seek icount 99999999");
    expect(refused).toMatchObject({ error: "invalid", message: expect.stringMatching(/^cannot reach icount 99999999: the replay came to icount \d+ exits \d+ guest-ns \d+$/) });
    expect(target.monitor("when")).toBe(before);
    expect(target.readRegisters().eip).toBe(Number(/eip (0x[0-9a-f]+)/.exec(before as string)![1]));
    // And it still moves: the failed seek left nothing half done.
    expect(target.monitor("seek icount 3")).toMatch(/^icount 3 /);
    dbg.close();
  });

  it("refuses a guest time past the recording's end, as an icount past it, and stays where it was", () => {
    const { dbg, target } = open();
    expect(target.monitor("seek exit 5")).toMatch(/^icount \d+ exits 6 /);
    const before = target.monitor("when");
    const refused = target.monitor("seek ns 99999999999999");
    expect(refused).toMatchObject({ error: "invalid", message: expect.stringMatching(/^cannot reach guest time 99999999999999 ns: the replay came to icount \d+ exits \d+ guest-ns \d+$/) });
    expect(target.monitor("when")).toBe(before);
    dbg.close();
  });
});

describe("gdb's monitor seek icount 0", () => {
  it("goes back to where gdb attached, the guest's first instruction, rather than calling it before history", () => {
    const dbg = new Debugger(Session.replay(readRecording(readFileSync(REC), "hello-vm.rec"), () => {}));
    dbg.toFirstInstruction();
    dbg.startTimeTravel();
    const target = new SessionTarget(dbg);
    const attached = target.monitor("when");
    expect(target.monitor("seek icount 50")).toMatch(/^icount 50 /);
    expect(target.monitor("seek icount 0")).toMatch(/^icount 0 exits 0 /);
    expect(target.monitor("when")).toBe(attached);
    dbg.close();
  });
});

describe("gdb's monitor break-dev", () => {
  it("says what it wants when given nothing, and that it got nothing", () => {
    const { dbg, target } = open();
    expect(target.monitor("break-dev")).toMatchObject({ error: "invalid", message: expect.stringMatching(/^break-dev: expected \S+ \[REG\] \[before\|after\], got nothing$/) });
    dbg.close();
  });
});

describe("gdb's monitor exits and l4 ipc", () => {
  it("want a count from 1: zero, a negative or a word is refused in one line, not answered with 'none yet'", () => {
    const { dbg, target } = open();
    expect(target.monitor("seek exit 5")).toMatch(/^icount \d+ exits 6 /);
    for (const bad of ["0", "-1", "abc", "3 4"]) {
      expect(target.monitor(`exits ${bad}`)).toEqual({ error: "invalid", message: `exits: expected a number of exits from 1, not "${bad}"` });
      expect(target.monitor(`l4 ipc ${bad}`)).toEqual({ error: "invalid", message: `l4 ipc: expected a number of IPCs from 1, not "${bad}"` });
    }
    expect((target.monitor("exits 2") as string).trimEnd().split("\n")).toHaveLength(2);
    dbg.close();
  });
});

describe("gdb's monitor vmcs", () => {
  it("says when no field's name contains the part asked for, rather than listing nothing", () => {
    const { dbg, target } = open();
    expect(target.monitor("seek exit 5")).toMatch(/^icount \d+ exits 6 /);
    expect(target.monitor("vmcs guest_cr0")).toMatch(/\n6800 GUEST_CR0 +0x[0-9a-f]{8}\n$/);
    expect(target.monitor("vmcs nonexist")).toMatch(/\nno field's name contains "nonexist" \(monitor vmcs with no argument lists them all\)\n$/);
    dbg.close();
  });
});

describe("gdb's monitor commands that take no arguments", () => {
  it("refuse extra words in one line naming them, rather than ignore them, and leave the machine where it was", () => {
    const { dbg, target } = open();
    const before = target.monitor("when");
    for (const name of ["when", "kaslr", "checkpoints", "vmm exit", "info registers", "l4 threads", "help"]) {
      expect(target.monitor(`${name} extra words`), name).toEqual({ error: "invalid", message: `${name}: expected no arguments, not "extra words"` });
    }
    expect(target.monitor("break-exit clear foo")).toEqual({ error: "invalid", message: 'break-exit clear: expected no arguments, not "foo"' });
    expect(target.monitor("break-l4 delete foo")).toEqual({ error: "invalid", message: 'break-l4 delete: expected no arguments, not "foo"' });
    expect(target.monitor("vmcs guest_cr0 extra")).toEqual({ error: "invalid", message: 'vmcs: expected one part of a field\'s name, not "guest_cr0 extra"' });
    expect(target.monitor("when")).toBe(before);
    dbg.close();
  });
});

describe("gdb's monitor checkpoints", () => {
  it("says where each checkpoint is in the words of monitor when and replay --to, not by internal moment names", () => {
    // Checkpoints every 2,000 instructions, and where the moves stop.
    const dbg = new Debugger(Session.replay(readRecording(readFileSync(REC), "hello-vm.rec"), () => {}));
    dbg.startTimeTravel({ interval: 2000 });
    const target = new SessionTarget(dbg);
    expect(target.monitor("seek exit 30")).toMatch(/^icount \d+ exits 31 /);
    target.resume({ action: "step", direction: "forward", first: true, budget: 1_000_000 });
    expect(target.monitor("seek icount 5000")).toMatch(/^icount 5000 /);
    const rows = (target.monitor("checkpoints") as string).split("\n").filter((l) => /^ +\d+  icount/.test(l));
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.length).toBeGreaterThan(2);
    for (const row of rows) expect(row).toMatch(/^ +\d+  icount \d+ exits \d+ guest-ns \d+ \((at the start, before any instruction|before the first instruction|after instruction \d+|at VM exit \d+, before the VMM handles it|before the next instruction|at L4 event \d+)\)/);
    expect(target.monitor("checkpoints")).not.toMatch(/\((insn|step|exit|event)\)/);
    dbg.close();
  });
});
