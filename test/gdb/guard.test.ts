// The gdb stub's guards, with real gdb: one debugger at a time (a second is told why), a warning
// when it listens beyond this machine (saying whether writes are allowed), and the host's limits
// holding while gdb runs the guest.

import { execFile, spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { nasm } from "../support/cpu.js";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CLI = join(ROOT, "bin", "afterglow.js");
const GDB = process.env.GDB ?? "gdb";

/** Starts `afterglow ARGS --gdb …` and waits until gdb can attach; the port and stderr so far. */
function serve(args: string[]): Promise<{ port: number; proc: ChildProcess; stderr: () => string }> {
  const proc = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  return new Promise((resolve, reject) => {
    proc.stderr!.on("data", (d: Buffer) => {
      err += d.toString();
      const m = /attach with\n {2}gdb -ex 'target remote 127\.0\.0\.1:(\d+)'\n/.exec(err);
      if (m) resolve({ port: Number(m[1]), proc, stderr: () => err });
    });
    proc.on("exit", (code) => reject(new Error(`afterglow exited (${code}) before listening:\n${err}`)));
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

describe("the gdb stub's guards, with real gdb", () => {
  it("turns a second gdb away with the reason, and keeps serving the first", async () => {
    const s = await serve(["run", "--bare", "--gdb", "0"]);
    try {
      // The first gdb holds the connection while the second tries.
      const first = spawn(GDB, ["-nx", "-q", "-ex", "set confirm off", "-ex", `target remote 127.0.0.1:${s.port}`], { stdio: ["pipe", "pipe", "pipe"] });
      let firstOut = "";
      first.stdout!.on("data", (d: Buffer) => (firstOut += d.toString()));
      for (let i = 0; i < 200 && !/0x00007c00/.test(firstOut); i++) await new Promise((r) => setTimeout(r, 25));
      const second = await gdbBatch(s.port, ["info registers eip"]);
      expect(second).toMatch(/Remote failure reply: E\.afterglow: another gdb is already attached to this session; only one can be at a time/);
      expect(second).not.toMatch(/eip\s+0x7c00/);
      expect(s.stderr()).toMatch(/afterglow: gdb: refused 127\.0\.0\.1:\d+: a debugger is already attached/);
      first.stdin!.write("info registers eip\nkill\nquit\n");
      await new Promise((r) => first.on("exit", r));
      expect(firstOut).toMatch(/eip\s+0x7c00/);
    } finally {
      s.proc.kill();
    }
  });

  it("warns when gdb listens beyond this machine, saying whether writes are allowed", async () => {
    const live = await serve(["run", "--bare", "--gdb", "0.0.0.0:0"]);
    live.proc.kill();
    expect(live.stderr()).toMatch(/^afterglow: warning: gdb listens on 0\.0\.0\.0:\d+, beyond this machine, with no authentication: anyone who reaches it can read the guest's registers and memory; writes to registers and memory are allowed \(a live run\)\n/);
    const replay = await serve(["replay", join(ROOT, "recordings", "hello.rec"), "--gdb", "0.0.0.0:0"]);
    replay.proc.kill();
    expect(replay.stderr()).toMatch(/; writes are refused \(a replay cannot change history\)\n/);
    const local = await serve(["run", "--bare", "--gdb", "0"]);
    local.proc.kill();
    expect(local.stderr()).not.toMatch(/warning/);
  });

  it("says in one line that gdb's port is taken, and starts no machine, with or without --inspect", async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, "127.0.0.1", () => r()));
    const port = (taken.address() as { port: number }).port;
    try {
      const rec = join(ROOT, "recordings", "hello-vm.rec");
      for (const extra of [[], ["--inspect", "0"]]) {
        const r = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
          const p = spawn(process.execPath, [CLI, "replay", rec, "--gdb", String(port), ...extra], { stdio: ["ignore", "pipe", "pipe"] });
          let err = "";
          p.stderr!.on("data", (d: Buffer) => (err += d.toString()));
          p.on("exit", (status) => resolve({ status, stderr: err }));
        });
        expect(r.status).toBe(1);
        expect(r.stderr).toBe(`afterglow: cannot listen on 127.0.0.1:${port}: the address is in use (another afterglow or gdb server? choose another port, or 0 for any free one)\n`);
      }
    } finally {
      taken.close();
    }
  });

  it("gives no exposure warning for --inspect's gdb on this machine, and one beyond it", async () => {
    const rec = join(ROOT, "recordings", "hello.rec");
    // Until gdb's attach line; then the parent and its inspected child go, as a process group.
    const attachLine = (gdb: string) =>
      new Promise<string>((resolve, reject) => {
        const p = spawn(process.execPath, [CLI, "replay", rec, "--inspect", "0", "--gdb", gdb], { stdio: ["ignore", "ignore", "pipe"], detached: true });
        let err = "";
        p.stderr!.on("data", (d: Buffer) => {
          err += d.toString();
          if (/gdb attaches on .*\n {2}gdb /.test(err)) {
            process.kill(-p.pid!, "SIGKILL");
            resolve(err);
          }
        });
        p.on("exit", () => reject(new Error(`afterglow exited before gdb could attach:\n${err}`)));
      });
    const local = await attachLine("0");
    expect(local).toMatch(/gdb attaches on 127\.0\.0\.1:\d+/);
    expect(local).not.toMatch(/warning/);
    const wide = await attachLine("0.0.0.0:0");
    expect(wide).toMatch(/^afterglow: warning: gdb listens on 0\.0\.0\.0:\d+, beyond this machine/m);
    expect(wide.match(/warning/g)).toHaveLength(1);
  });

  it("has gdb find the guest after --at's instructions with --inspect too, where the child serves it", async () => {
    const rec = join(ROOT, "recordings", "hello-vm.rec");
    const p = spawn(process.execPath, [CLI, "replay", rec, "--inspect", "0", "--gdb", "0", "--at", "50"], { stdio: ["ignore", "ignore", "pipe"], detached: true });
    try {
      const port = await new Promise<number>((resolve, reject) => {
        let err = "";
        p.stderr!.on("data", (d: Buffer) => {
          err += d.toString();
          const m = /gdb attaches on 127\.0\.0\.1:(\d+):\n/.exec(err);
          if (m) resolve(Number(m[1]));
        });
        p.on("exit", () => reject(new Error(`afterglow exited before gdb could attach:\n${err}`)));
      });
      expect(await gdbBatch(port, ["monitor when", "kill"])).toMatch(/^icount 50 /m);
    } finally {
      process.kill(-p.pid!, "SIGKILL");
    }
  });

  it("holds --max-insns while gdb runs the guest: a continue stops there and goes no further", async () => {
    const dir = mkdtempSync(join(tmpdir(), "afterglow-guard-"));
    const image = join(dir, "loop.bin");
    writeFileSync(image, nasm("spin: inc ax\njmp spin", 16, 0x7c00));
    for (const args of [["run", "--image", image], ["run", "--bare", "--image", image]]) {
      const s = await serve([...args, "--max-insns", "5000", "--gdb", "0"]);
      try {
        const out = await gdbBatch(s.port, ["continue", "monitor when", "continue", "monitor when", "kill"]);
        expect(out).toMatch(/Program received signal SIGXCPU, CPU time limit exceeded\./);
        const when = [...out.matchAll(/^icount (\d+) /gm)].map((m) => Number(m[1]));
        expect(when).toEqual([5000, 5000]);
        expect(s.stderr()).toMatch(/afterglow: the run reached --max-insns \(5000 instructions\); it goes no further/);
      } finally {
        s.proc.kill();
      }
    }
  });
});
