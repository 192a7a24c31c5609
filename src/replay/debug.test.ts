// The Session's debugging API on the built-in guest, under the stack and on the bare PC: stops land
// on the same instruction however the run is sliced, reading never perturbs a replay (its hashes
// and exits still match), writes are refused in replay, and the VM exit log and break-on-exit see
// what the kernel saw.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../../test/layers.js";
import { nasm } from "../../test/support/cpu.js";
import { Stop } from "../machine/cpu/arch.js";
import { Debugger, ONE_INSTRUCTION, parseExitReason, type DebugStop, type StepRange } from "./debug.js";
import { describeExit } from "./exit-log.js";
import { readRecording } from "./recording.js";
import { Session, type MachineKind } from "./session.js";

const HELLO = new Uint8Array(readFileSync(join(ROOT, "guests", "builtin", "hello.bin")));
const MiB = 1 << 20;
/** The built-in guest's `out dx, al` to COM1: the UART set-up's divisor write, and putc's (see guests/builtin/hello.asm). */
const UART_INIT_OUT = 0x8018;
const PUTC_OUT = 0x8036;
/** The user program's sieve (guests/builtin/hello.asm's SIEVE). */
const SIEVE = 0x100000;

function live(machine: MachineKind, out: number[] = []): Session {
  return new Session({ guest: { kind: "image", bytes: HELLO }, machine, ramSize: 8 * MiB, console: (b) => out.push(b), rtcEpochSeconds: 1_700_000_000 });
}

function recorded(machine: MachineKind): Uint8Array {
  const chunks: Uint8Array[] = [];
  const s = new Session(
    { guest: { kind: "image", bytes: HELLO }, machine, ramSize: 8 * MiB, console: () => {}, rtcEpochSeconds: 1_700_000_000 },
    { sink: (b) => chunks.push(Uint8Array.from(b)), argv: [], tool: "test", hashEvery: 50_000 },
  );
  const stop = s.run({});
  s.end(stop === Stop.HALT ? "halt" : "limit");
  return Buffer.concat(chunks);
}

/** Continues (or steps through `step`) in slices of `slice` instructions until something other than the budget stops it. */
function cont(d: Debugger, slice: number, step?: StepRange): DebugStop {
  let first = true;
  for (;;) {
    const s = d.run({ maxInsns: slice, first, step });
    first = false;
    if (s.kind !== "budget") return s;
  }
}

/** One instruction. */
function stepi(d: Debugger): DebugStop {
  return cont(d, 1000, ONE_INSTRUCTION);
}

describe.each(["stack", "bare"] as const)("the debugger on the %s machine", (machine) => {
  it("stops at the guest's first instruction with the boot image's registers", () => {
    const d = new Debugger(live(machine));
    expect(d.toFirstInstruction()).toEqual({ kind: "start" });
    const r = d.registers();
    expect(r.eip).toBe(0x7c00);
    expect(r.cs).toBe(0);
    expect(d.position().icount).toBe(0);
    expect(Array.from(d.readMemory(0x7c00, 1))).toEqual([HELLO[0]]);
    expect(r.ftag).toBe(0x5555); // the x87 after RESET: the full tag word, not FXSAVE's abridged byte
    expect(r.st).toHaveLength(8);
  });

  it("stops at a breakpoint on the same icount, with the same state, however the run is sliced", () => {
    const stops = [1_000_000, 7, 1].map((slice) => {
      const s = live(machine);
      const d = new Debugger(s);
      d.toFirstInstruction();
      d.setBreakpoint("hw", PUTC_OUT);
      const hits: number[] = [];
      for (let i = 0; i < 3; i++) {
        expect(cont(d, slice)).toEqual({ kind: "breakpoint", type: "hw", addr: PUTC_OUT });
        expect(d.registers().eip).toBe(PUTC_OUT);
        hits.push(d.position().icount);
      }
      return { hits, hash: s.stateHash(), exits: d.position().exits };
    });
    expect(stops[1]).toEqual(stops[0]);
    expect(stops[2]).toEqual(stops[0]);
    expect(new Set(stops[0].hits).size).toBe(3);
  });

  it("stops after the instruction that writes a watched stack slot, and single-steps one instruction", () => {
    const s = live(machine);
    const d = new Debugger(s);
    d.toFirstInstruction();
    d.setBreakpoint("sw", PUTC_OUT);
    expect(cont(d, 1000).kind).toBe("breakpoint");
    d.clearBreakpoint("sw", PUTC_OUT);
    const at = d.position().icount;
    expect(stepi(d)).toEqual({ kind: "step" });
    // One instruction: the `out dx, al`. Under the stack it exits and the VMM emulates it, and it
    // retires once, as on the bare PC.
    expect(d.registers().eip).toBe(PUTC_OUT + 1);
    expect(d.position().icount).toBe(at + 1);
    const esp = d.registers().esp;
    d.setWatchpoint("write", esp - 4, 4);
    const w = cont(d, 100);
    expect(w).toEqual({ kind: "watch", watch: "write", addr: esp - 4 });
    expect(d.registers().esp).toBe(esp - 4); // a push or call wrote it, and has completed
  });

  it("single-steps a REP string instruction one iteration at a time, each retired", () => {
    // gdb's stepi on silicon traps after each iteration (TF); EIP stays at the REP until CX is 0.
    const image = nasm("mov si, 0x9000\n mov di, 0x9100\n mov cx, 3\n rep movsb\n cli\n hlt", 16, 0x7c00);
    const d = new Debugger(new Session({ guest: { kind: "image", bytes: image }, machine, ramSize: 8 * MiB, console: () => {}, rtcEpochSeconds: 1_700_000_000 }));
    d.toFirstInstruction();
    for (let k = 0; k < 3; k++) expect(stepi(d)).toEqual({ kind: "step" });
    const rep = d.registers().eip;
    const at = d.position().icount;
    const seen: [number, number, number][] = [];
    for (let k = 0; k < 3; k++) {
      expect(stepi(d)).toEqual({ kind: "step" });
      const r = d.registers();
      seen.push([r.eip - rep, r.ecx & 0xffff, d.position().icount - at]);
    }
    expect(seen).toEqual([[0, 2, 1], [0, 1, 2], [2, 0, 3]]);
  });

  it("reports the watchpoints one instruction touched one at a time, running nothing in between", () => {
    const d = new Debugger(live(machine));
    d.toFirstInstruction();
    // The user program's sieve starts with a rep stosb over SIEVE: its iteration writing SIEVE+6
    // is the first to touch each of these.
    const watches = [[SIEVE + 6, 4], [SIEVE + 6, 1], [SIEVE + 6, 2]];
    for (const [a, len] of watches) d.setWatchpoint("write", a, len);
    const stops = watches.map(() => ({ stop: cont(d, 100_000), icount: d.position().icount }));
    expect(stops.map((s) => s.stop)).toEqual(watches.map(([addr]) => ({ kind: "watch", watch: "write", addr })));
    expect(new Set(stops.map((s) => s.icount)).size).toBe(1);
    // Right after that iteration: the byte after it is not written yet.
    expect(Array.from(d.readMemory(SIEVE + 4, 4))).toEqual([1, 1, 1, 0]);
  });

  it("runs the guest to its halt and reports it", () => {
    const d = new Debugger(live(machine));
    const stop = cont(d, 1_000_000);
    expect(stop.kind).toBe("halted");
  });
});

describe("the debugger on a replay", () => {
  it.each(["stack", "bare"] as const)("reads registers and memory at every step without disturbing the %s replay's hashes", (machine) => {
    const rec = readRecording(recorded(machine));
    const s = Session.replay(rec, () => {}, { "boot image": HELLO });
    const d = new Debugger(s);
    d.toFirstInstruction();
    for (let i = 0; i < 3000; i++) {
      d.registers();
      d.readMemory(d.registers().esp, 16);
      d.readMemory(0xc0000000, 4);
      expect(stepi(d).kind).toBe("step");
    }
    expect(d.writeMemory(0x7c00, new Uint8Array([0x90]))).toMatchObject({ error: "refused" });
    expect(d.writeRegisters({ eax: 1 })).toMatchObject({ error: "refused" });
    expect(cont(d, 100_000)).toEqual({ kind: "end" });
    expect(s.replayDone()).toBe(true);
  });

  it("stops at a matching VM exit, between the exit and the VMM's handling, and lists the exits before it", () => {
    const rec = readRecording(recorded("stack"));
    const s = Session.replay(rec, () => {}, { "boot image": HELLO });
    const d = new Debugger(s);
    d.toFirstInstruction();
    expect(d.addExitBreak({ reason: parseExitReason("io")!, value: 0x3f8, text: "io 0x3f8" })).toBeUndefined();
    const stop = cont(d, 50);
    expect(stop.kind).toBe("exit");
    if (stop.kind !== "exit") return;
    expect(describeExit(stop.exit)).toMatch(/^#\d+ icount \d+ IO_INSTRUCTION out port 0x3f8 \(1 byte\) eip 0x00008018$/);
    expect(d.registers().eip).toBe(UART_INIT_OUT);
    const last = d.exits(5);
    expect(last).toHaveLength(5);
    expect(last[4]).toEqual(stop.exit);
    expect(last.map((e) => e.n)).toEqual([0, 1, 2, 3, 4].map((k) => stop.exit.n - 4 + k));
    expect(d.position().exits).toBe(stop.exit.n + 1);
    // The next matching exit is a later one; then the replay goes on to its end with every exit checked.
    const again = cont(d, 50);
    expect(again.kind === "exit" && again.exit.n > stop.exit.n).toBe(true);
    d.clearExitBreaks();
    expect(cont(d, 100_000)).toEqual({ kind: "end" });
  });

  it("filters I/O exits by direction: a read of the line status register, not a write", () => {
    const d = new Debugger(live("stack"));
    d.toFirstInstruction();
    d.addExitBreak({ reason: parseExitReason("IO_INSTRUCTION")!, value: 0x3fd, direction: "in", text: "io 0x3fd in" });
    const stop = cont(d, 1000);
    expect(stop.kind === "exit" && describeExit(stop.exit)).toMatch(/IO_INSTRUCTION in port 0x3fd \(1 byte\)/);
    d.clearExitBreaks();
    d.addExitBreak({ reason: "any", value: 0x3fd, direction: "out", text: "any 0x3fd out" });
    expect(cont(d, 100_000).kind).toBe("halted"); // nothing writes the LSR
  });

  it("lists the L4 threads and their states", () => {
    const d = new Debugger(live("stack"));
    d.toFirstInstruction();
    const t = d.threads();
    expect(t.map((x) => x.program)).toEqual(expect.arrayContaining(["sigma0", "vmm"]));
    expect(t.find((x) => x.kind === "vcpu")?.state).toBe("running");
  });
});
