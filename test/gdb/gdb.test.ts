// Debian's gdb, the real client, driving the stub over TCP against the toy target: the oracle for
// the target description, the packet dialect and the stop replies is gdb itself. CI installs gdb.

import { execFile } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listenGdb, type GdbServer } from "../../src/gdbstub/server.js";
import { DATA, FakeMachine, PROGRAM } from "./fake-machine.js";

const GDB = process.env.GDB ?? "gdb";

let server: GdbServer;
let target: FakeMachine;
const trace: string[] = [];

beforeAll(async () => {
  target = new FakeMachine();
  server = await listenGdb(target, { host: "127.0.0.1", port: 0 }, { log: (l) => trace.push(l) });
});

afterAll(async () => {
  await server.close();
});

/** Runs gdb like `gdb` does, and sends it SIGINT (Ctrl-C) once the target has run a few slices of a continue. */
function gdbInterrupted(...commands: string[]): Promise<string> {
  target.log.length = 0;
  return gdb(commands, { interruptWhen: () => target.log.filter((l) => l.startsWith("continue")).length > 3 });
}

interface GdbRun {
  /** Sends gdb SIGINT, as Ctrl-C does, once this holds. */
  interruptWhen?: () => boolean;
  /** Settings before attaching. */
  before?: string[];
  /** Another stub to attach to. */
  port?: number;
}

/** Runs gdb in batch mode with the given commands after attaching; returns its stdout and stderr. */
function gdb(commands: string[], { interruptWhen, before = [], port = server.address.port }: GdbRun = {}): Promise<string> {
  const args = ["-batch", "-nx", "-ex", "set pagination off", "-ex", "set width 0"];
  for (const c of before) args.push("-ex", c);
  args.push("-ex", `target remote 127.0.0.1:${port}`);
  for (const c of commands) args.push("-ex", c);
  // Asynchronous on purpose: the stub serves gdb from this same event loop.
  return new Promise((resolve, reject) => {
    const child = execFile(GDB, args, { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err && err.killed) reject(new Error(`gdb timed out:\n${stdout}\n${stderr}\n${trace.join("\n")}`));
      else resolve(stdout + stderr);
    });
    if (interruptWhen !== undefined) {
      const poll = setInterval(() => {
        if (!interruptWhen()) return;
        clearInterval(poll);
        child.kill("SIGINT");
      }, 20);
      child.on("exit", () => clearInterval(poll));
    }
  });
}

const hex = (n: number) => "0x" + n.toString(16);
/** How gdb prints a code address in a frame line: 0x00001009. */
const pc = (n: number) => "0x" + n.toString(16).padStart(8, "0");

describe("real gdb against the stub", () => {
  it("attaches and shows the i386 registers with info registers", async () => {
    target.reset();
    const out = await gdb(["info registers"]);
    expect(out).toMatch(/eax\s+0x0\s+0/);
    expect(out).toMatch(new RegExp(`eip\\s+${hex(PROGRAM.movEax)}`));
    expect(out).toMatch(/eflags\s+0x202\s+\[ IF \]/);
    expect(out).toMatch(/cs\s+0x8\s+8/);
    expect(out).toMatch(/gs\s+0x0\s+0/);
    // Without an executable gdb warns that it has none; anything else would be a protocol problem.
    expect(out.replace(/warning: No executable has been specified[^\n]*\n[^\n]*\n/, "")).not.toMatch(/warning|error/i);
  });

  it("examines guest memory with x/4xw and reports unmapped memory as inaccessible", async () => {
    target.reset();
    const out = await gdb([`x/4xw ${hex(DATA)}`, "x/1xw 0x5000"]);
    expect(out).toMatch(/0x2000:\s+0xdeadbeef\s+0xcafebabe\s+0x00000001\s+0x00000002/);
    expect(out).toContain("Cannot access memory at address 0x5000");
  });

  it("writes memory and registers from gdb's set command", async () => {
    target.reset();
    const out = await gdb([`set {int}${hex(DATA)} = 0x2a`, `x/1xw ${hex(DATA)}`, "set $eax = 7", "set $ebx = $eax + 1", "p $ebx"]);
    expect(out).toMatch(/0x2000:\s+0x0000002a/);
    expect(out).toMatch(/\$1 = 8/);
    expect(target.regs.eax).toBe(7);
    expect(target.readMemory(DATA, 4)).toEqual(Uint8Array.of(0x2a, 0, 0, 0));
  });

  it("stops at break *ADDR after continue, then steps one instruction with stepi", async () => {
    target.reset();
    const out = await gdb([`break *${hex(PROGRAM.store)}`, "continue", "info registers eip", "x/2i $pc", "stepi", "info registers eip eax"]);
    expect(out).toContain(`Breakpoint 1 at ${hex(PROGRAM.store)}`);
    expect(out).toMatch(new RegExp(`Breakpoint 1, ${pc(PROGRAM.store)} in \\?\\? \\(\\)`));
    expect(out).toMatch(new RegExp(`eip\\s+${hex(PROGRAM.store)}`));
    expect(out).toMatch(/=> 0x1009:\s+mov\s+%eax,0x2000\s+0x100e:\s+mov\s+0x2004,%eax/);
    expect(out).toMatch(new RegExp(`eip\\s+${hex(PROGRAM.load)}`));
    expect(out).toMatch(/eax\s+0x12345679/);
    // The breakpoint lived in the target, never in guest memory.
    expect(target.readMemory(PROGRAM.store, 1)[0]).toBe(0xa3);
  });

  it("stops at a hardware breakpoint and a write watchpoint", async () => {
    target.reset();
    const out = await gdb([`hbreak *${hex(PROGRAM.incEbx)}`, "continue", `watch *(int *)${hex(DATA)}`, "continue"]);
    expect(out).toMatch(new RegExp(`Hardware assisted breakpoint 1 at ${hex(PROGRAM.incEbx)}\\s+Breakpoint 1, ${pc(PROGRAM.incEbx)}`));
    expect(out).toMatch(/Hardware watchpoint 2: \*\(int \*\)0x2000\s+Old value = -559038737\s+New value = 305419897/);
  });

  it("shows the x87 state with info float", async () => {
    target.reset();
    const out = await gdb([`break *${hex(PROGRAM.store)}`, "continue", "info float", "print $st0"]);
    expect(out).toMatch(/=>R7: Valid\s+0x3fff8000000000000000 \+1/);
    expect(out).toMatch(/R6: Empty\s+0x00000000000000000000/);
    expect(out).toMatch(/Status Word:\s+0x3800/);
    expect(out).toMatch(/TOP: 7/);
    expect(out).toMatch(/Control Word:\s+0x037f/);
    expect(out).toMatch(/Tag Word:\s+0x3fff/);
    expect(out).toMatch(/\$1 = 1\b/);
  });

  it("runs monitor help through qRcmd", async () => {
    target.reset();
    const out = await gdb(["monitor help", "monitor when", "monitor frob"]);
    expect(out).toMatch(/help\s+list the monitor commands\nwhen\s+the instruction count\n/);
    expect(out).toContain("icount 0");
    expect(out).toContain('error: unknown monitor command "frob"; try "monitor help"');
  });

  it("reports a halted machine as a stop gdb can still inspect", async () => {
    target.reset();
    const halted = await gdb(["continue", "info registers eip"]);
    expect(halted).toContain("Program stopped.");
    expect(halted).toMatch(new RegExp(`eip\\s+${hex(PROGRAM.hlt + 1)}`));
  });

  it("interrupts an endless loop on Ctrl-C", async () => {
    target.reset();
    const looped = await gdbInterrupted(`set $eip = ${hex(PROGRAM.loop)}`, "continue", "info registers eip");
    expect(looped).toContain("Program received signal SIGINT, Interrupt.");
    expect(looped).toMatch(new RegExp(`eip\\s+${hex(PROGRAM.loop)}`));
  });

  it("works with acknowledgements on and run-length encoded replies", async () => {
    const t = new FakeMachine();
    const rle = await listenGdb(t, { host: "127.0.0.1", port: 0 }, { runLength: true });
    try {
      const out = await gdb([`break *${hex(PROGRAM.store)}`, "continue", "info registers", `x/4xw ${hex(DATA)}`, "info float"], {
        before: ["set remote noack-packet off", "set debug remote 1"],
        port: rle.address.port,
      });
      expect(out).toMatch(/eax\s+0x12345679/);
      expect(out).toMatch(/esp\s+0x8ff0/);
      expect(out).toMatch(/0x2000:\s+0xdeadbeef\s+0xcafebabe\s+0x00000001\s+0x00000002/);
      expect(out).toMatch(/=>R7: Valid\s+0x3fff8000000000000000 \+1/);
      // gdb's remote debug log shows it got acks; it logs packets after expanding them, so the
      // run-length encoding shows only in the values above coming out right.
      expect(out).toContain("[remote] Received Ack");
    } finally {
      await rle.close();
    }
  });
});
