// Real gdb on the built-in guest through the CLI, the way a user attaches: `afterglow replay FILE
// --gdb PORT` and `afterglow run --gdb PORT` print the gdb command line and wait at the first
// instruction; `afterglow gdb FILE` starts gdb attached. Fast (no Linux): the built-in guest runs
// under the stack in well under a second.

import { execFile, execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CLI = join(ROOT, "bin", "afterglow.js");
const HELLO = join(ROOT, "guests", "builtin", "hello.bin");
const GDB = process.env.GDB ?? "gdb";

let dir: string;
let rec: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "afterglow-gdb-cli-"));
  rec = join(dir, "hello.rec");
  execFileSync(process.execPath, [CLI, "record", "-o", rec, "--image", HELLO], { stdio: ["ignore", "ignore", "pipe"], timeout: 120_000 });
}, 120_000);

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Starts `afterglow ARGS` and waits for the line that says how to attach; returns the port. */
function server(args: string[]): Promise<{ port: number; proc: ChildProcess; stderr: () => string }> {
  const proc = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  return new Promise((resolve, reject) => {
    proc.stderr!.on("data", (d: Buffer) => {
      err += d.toString();
      const m = /waiting for gdb on 127\.0\.0\.1:(\d+); attach with\n {2}gdb -ex 'target remote 127\.0\.0\.1:(\d+)'\n/.exec(err);
      if (m && m[1] === m[2]) resolve({ port: Number(m[1]), proc, stderr: () => err });
    });
    proc.on("exit", (code) => reject(new Error(`afterglow ${args.join(" ")} exited (${code}) before listening:\n${err}`)));
  });
}

function gdbBatch(port: number, commands: string[]): Promise<string> {
  const args = ["-batch", "-nx", "-ex", "set pagination off", "-ex", "set confirm off", "-ex", `target remote 127.0.0.1:${port}`];
  for (const c of commands) args.push("-ex", c);
  return new Promise((resolve, reject) => {
    execFile(GDB, args, { timeout: 60_000 }, (err, stdout, stderr) => {
      if (err && err.killed) reject(new Error(`gdb timed out:\n${stdout}\n${stderr}`));
      else resolve(stdout + stderr);
    });
  });
}

function exited(proc: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => (proc.exitCode !== null ? resolve(proc.exitCode) : proc.on("exit", (c) => resolve(c))));
}

describe("gdb through the CLI on the built-in guest", () => {
  it("replay --gdb waits at the first instruction; gdb breaks, steps, reads the layers through monitor, and kill ends the replay", async () => {
    const s = await server(["replay", rec, "--gdb", "0"]);
    try {
      const out = await gdbBatch(s.port, [
        "info registers eip", "monitor when",
        "hbreak *0x8036", "continue", "x/i $pc", "monitor when", "stepi", "monitor when", "info registers eip",
        "monitor exits 3", "monitor l4 threads", "monitor help",
        "set var $eax = 1", "set var *(char *)0x7c00 = 1", "monitor break-exit hlt", "delete", "continue", "monitor when",
        "kill",
      ]);
      expect(out).toMatch(/eip\s+0x7c00\s+0x7c00/);
      expect(out).toMatch(/^icount 0 exits \d+ guest-ns \d+ eip 0x00007c00$/m);
      expect(out).toMatch(/Hardware assisted breakpoint 1 at 0x8036/);
      expect(out).toMatch(/=> 0x8036:\s+out\s+%al,\(%dx\)/);
      const when = [...out.matchAll(/^icount (\d+) exits (\d+)/gm)].map((m) => Number(m[1]));
      // stepi: one instruction, the out. Its VM exit makes the VMM emulate it, and it retires once.
      expect(when[2] - when[1]).toBe(1);
      expect(out).toMatch(/eip\s+0x8037\s+0x8037/);
      expect(out).toMatch(/IO_INSTRUCTION out port 0x3f8 \(1 byte\) eip 0x00008036/);
      expect(out).toMatch(/^ +\d+ +0x[0-9a-f]{8} +vcpu +running /m);
      expect(out).toMatch(/^ +\d+ +0x[0-9a-f]{8} +user +\w+ +space \d+ +prio \d+ +vmm$/m);
      expect(out).toMatch(/^break-exit .*\n +stop when a VM exit matches/m);
      expect(out).toMatch(/Could not write register "eax"; remote failure reply 'E.a replay cannot change history: registers are read-only'/);
      // gdb 13 words any failed memory write so; the replay says why on its side.
      expect(out).toMatch(/Cannot access memory at address 0x7c00/);
      expect(s.stderr()).toMatch(/^afterglow: a replay cannot change history: memory is read-only$/m);
      expect(out).toMatch(/will stop at VM exits matching: hlt/);
      expect(when[3]).toBeGreaterThan(when[2]);
      expect(await exited(s.proc)).toBe(0);
      expect(s.stderr()).toMatch(/stopped at VM exit #\d+ icount \d+ HLT/);
    } finally {
      s.proc.kill();
    }
  });

  it("stops at each of six watchpoints right after the iteration of a rep stosb that wrote it", async () => {
    const s = await server(["replay", rec, "--gdb", "0"]);
    try {
      // The user program's sieve (hello.asm's SIEVE, 0x100000) begins with a rep stosb (at
      // 0x7dfd) that sets its 50,000 bytes to 1; gdb has no cap on hardware watchpoints.
      const addrs = [0x100004, 0x100006, 0x10000a, 0x100010, 0x100017, 0x101000];
      const out = await gdbBatch(s.port, [
        ...addrs.map((a) => `watch *(char *)0x${a.toString(16)}`),
        ...addrs.flatMap(() => ["continue", "monitor when", "p/x $edi"]),
        "kill",
      ]);
      const hits = [...out.matchAll(/^Hardware watchpoint (\d): \*\(char \*\)0x([0-9a-f]+)\n\nOld value = 0 '\\000'\nNew value = 1 '\\001'$/gm)];
      expect(hits.map((m) => Number(m[1])), out).toEqual([1, 2, 3, 4, 5, 6]);
      expect(hits.map((m) => parseInt(m[2], 16))).toEqual(addrs);
      // Each iteration retires: the stops are as many instructions apart as the bytes, at the
      // rep stosb with EDI just past the byte written.
      const when = [...out.matchAll(/^icount (\d+) exits \d+ guest-ns \d+ eip (0x[0-9a-f]+)$/gm)];
      expect(when).toHaveLength(6);
      expect(when.map((m) => m[2])).toEqual(addrs.map(() => "0x00007dfd"));
      expect(when.slice(0, 5).map((m) => Number(m[1]) - Number(when[0][1]))).toEqual(addrs.slice(0, 5).map((a) => a - addrs[0]));
      const edi = [...out.matchAll(/^\$\d+ = (0x[0-9a-f]+)$/gm)].map((m) => parseInt(m[1], 16));
      expect(edi).toEqual(addrs.map((a) => a + 1));
    } finally {
      s.proc.kill();
    }
  });

  it("reverse-continue to a watchpoint a rep stosb wrote stops right after the writing iteration, as forward", async () => {
    const s = await server(["replay", rec, "--gdb", "0"]);
    try {
      // 0x100010 is the sieve's byte for 16: the rep stosb sets it to 1, striking 2's multiples
      // sets it to 0. From the end, gdb passes over the strike (the value after it is the value
      // now: gdb's write watchpoints stop only on a change) to the rep stosb's iteration.
      const out = await gdbBatch(s.port, [
        "watch *(char *)0x100010", "continue", "monitor when", "p/x $edi", "p/x $ecx",
        "continue", "continue", "reverse-continue", "monitor when", "p/x $edi", "p/x $ecx", "kill",
      ]);
      const when = out.match(/^icount \d+ exits \d+ guest-ns \d+ eip 0x[0-9a-f]+$/gm) ?? [];
      expect(when, out).toHaveLength(2);
      expect(when[1]).toBe(when[0]);
      expect(when[0]).toMatch(/eip 0x00007dfd$/);
      expect(out).toMatch(/Old value = 0 '\\000'\nNew value = 1 '\\001'\n[^]*Old value = 1 '\\001'\nNew value = 0 '\\000'\n[^]*No more reverse-execution history\.\n[^]*Old value = 0 '\\000'\nNew value = 1 '\\001'\n/);
      const regs = [...out.matchAll(/^\$\d+ = (0x[0-9a-f]+)$/gm)].map((m) => parseInt(m[1], 16));
      expect(regs).toEqual([0x100011, 50000 - 0x11, 0x100011, 50000 - 0x11]);
    } finally {
      s.proc.kill();
    }
  });

  it("reverse-stepi inside a rep movsd lands one iteration back, where a forward stepi leaves the registers", async () => {
    const s = await server(["replay", rec, "--gdb", "0"]);
    try {
      // hello.asm's rep movsd at 0x7c75 copies its 6-dword GDT.
      const regs = ["p/x $ecx", "p/x $esi", "p/x $edi"];
      const out = await gdbBatch(s.port, [
        "hbreak *0x7c75", "continue", "stepi", "stepi", "stepi", "monitor when", ...regs,
        "reverse-stepi", "monitor when", ...regs, "stepi", "monitor when", ...regs, "kill",
      ]);
      const when = [...out.matchAll(/^icount (\d+) exits \d+ guest-ns \d+ eip (0x[0-9a-f]+)$/gm)];
      expect(when, out).toHaveLength(3);
      expect(when.map((m) => m[2])).toEqual(["0x00007c75", "0x00007c75", "0x00007c75"]);
      expect(Number(when[1][1])).toBe(Number(when[0][1]) - 1);
      expect(when[2][0]).toBe(when[0][0]);
      const v = [...out.matchAll(/^\$\d+ = (0x[0-9a-f]+)$/gm)].map((m) => parseInt(m[1], 16));
      // Three iterations done (ECX 3 of 6 left), then two, then three again with the same registers.
      expect(v).toHaveLength(9);
      expect(v.slice(3, 6)).toEqual([4, v[1] - 4, v[2] - 4]);
      expect(v[0]).toBe(3);
      expect(v.slice(6)).toEqual(v.slice(0, 3));
    } finally {
      s.proc.kill();
    }
  });

  it("replays to the recording's end under gdb and reports the edge of history", async () => {
    const s = await server(["replay", rec, "--gdb", "127.0.0.1:0"]);
    try {
      const out = await gdbBatch(s.port, ["continue", "monitor when", "kill"]);
      // gdb words replaylog:end so; the guest ends past its final HLT, as on the bare PC.
      expect(out).toMatch(/No more reverse-execution history\.\n0x00007f8f in \?\? \(\)/);
      expect(s.stderr()).toMatch(/replay reached the end of the recording/);
    } finally {
      s.proc.kill();
    }
  });

  it("replay --gdb runs backwards: reverse-continue to the breakpoint hits before, reverse-stepi, seek, and the start of history", async () => {
    const s = await server(["replay", rec, "--gdb", "0"]);
    try {
      const out = await gdbBatch(s.port, [
        "hbreak *0x8036", "continue", "monitor when", "continue", "monitor when", "continue", "monitor when",
        "reverse-continue", "monitor when", "reverse-continue", "monitor when",
        "reverse-stepi", "monitor when", "stepi", "monitor when",
        "delete", "reverse-continue", "monitor when",
        "monitor seek exit 100", "monitor seek icount 5000", "monitor checkpoints", "monitor seek icount 99999999999", "kill",
      ]);
      const w = [...out.matchAll(/^icount (\d+) exits (\d+) guest-ns \d+ eip (0x[0-9a-f]+)$/gm)].map((m) => m[0]);
      expect(w[3]).toBe(w[1]);
      expect(w[4]).toBe(w[0]);
      expect(w[5]).toMatch(new RegExp(`^icount ${Number(/^icount (\d+)/.exec(w[0])![1]) - 1} `));
      expect(w[6]).toBe(w[0]);
      expect(out).toMatch(/No more reverse-execution history\.\n0x00007c00 in \?\? \(\)/);
      expect(w[7]).toMatch(/^icount 0 exits 0 .* eip 0x00007c00$/);
      expect(w[8]).toMatch(/^icount \d+ exits 101 /);
      expect(w[9]).toMatch(/^icount 5000 exits \d+ /);
      expect(out).toMatch(/^\d+ checkpoints?, [\d.]+ MiB of RAM pages \(budget [\d.]+ MiB\)$/m);
      expect(out).toMatch(/^ +0 +icount 0 exits 0 guest-ns \d+ \(before the first instruction\)/m);
      expect(out).toMatch(/cannot reach icount 99999999999/);
    } finally {
      s.proc.kill();
    }
  });

  it("run --gdb debugs a live guest: registers and memory can be written", async () => {
    const s = await server(["run", "--gdb", "0"]);
    try {
      const out = await gdbBatch(s.port, ["set var $ecx = 0x1234", "info registers ecx", "x/2xb 0x7c00", "set {char}0x9000 = 0x5a", "x/1xb 0x9000", "kill"]);
      expect(out).toMatch(/ecx\s+0x1234\s+4660/);
      expect(out).toMatch(/0x7c00:\s+0xfa\s+0x/); // cli: the boot image's first byte
      expect(out).toMatch(/0x9000:\s+0x5a/);
    } finally {
      s.proc.kill();
    }
  });

  it("after gdb detaches, says it waits for gdb again, and a second gdb attaches where the first left", async () => {
    const s = await server(["run", "--gdb", "0"]);
    try {
      const first = await gdbBatch(s.port, ["stepi 3", "monitor when", "detach"]);
      const at = /^icount (\d+) /m.exec(first)![1];
      await expect.poll(s.stderr).toMatch(new RegExp(`gdb detached; waiting for gdb again on 127\\.0\\.0\\.1:${s.port}`));
      const second = await gdbBatch(s.port, ["monitor when", "kill"]);
      expect(second).toMatch(new RegExp(`^icount ${at} `, "m"));
      expect(await exited(s.proc)).toBe(0);
      expect(s.stderr().match(/waiting for gdb again/g)).toHaveLength(1);
    } finally {
      s.proc.kill();
    }
  });

  it("afterglow gdb --at past the recording's end says in words that the recording ends first, and gdb finds the guest there", async () => {
    const out = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, [CLI, "gdb", rec, "--at", "99999999", "--", "-batch", "-nx", "-ex", "monitor when"], { timeout: 60_000 }, (err, stdout, stderr) => {
        if (err && err.killed) reject(new Error(`afterglow gdb timed out:\n${stdout}\n${stderr}`));
        else resolve(stdout + stderr);
      });
    });
    const end = /^afterglow: the recording ends at icount (\d+), before --at 99999999: gdb finds the guest there$/m.exec(out);
    expect(end, out).not.toBeNull();
    expect(out).toMatch(new RegExp(`^icount ${end![1]} `, "m"));
  });

  it("afterglow gdb FILE starts gdb attached to the replay, and ends when that gdb quits, without waiting for another", async () => {
    const out = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, [CLI, "gdb", rec, "--", "-batch", "-nx", "-ex", "monitor when", "-ex", "hbreak *0x8036", "-ex", "continue", "-ex", "monitor when"], { timeout: 60_000 }, (err, stdout, stderr) => {
        if (err && err.killed) reject(new Error(`afterglow gdb timed out:\n${stdout}\n${stderr}`));
        else resolve(stdout + stderr);
      });
    });
    expect(out).toMatch(/^icount 0 exit/m);
    expect(out).toMatch(/Breakpoint 1, 0x00008036 in \?\? \(\)/);
    // Its gdb's leaving ends the session: nothing waits for another.
    expect(out).not.toMatch(/waiting for gdb again/);
  });
});
