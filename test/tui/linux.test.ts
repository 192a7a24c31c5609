// The TUI on a recorded Linux boot (Debian's kernel under L4 and the VMM: the shared recording of
// test/support/linux-recording.ts), in an 80x24 tmux window
// as a person would drive it: step, reverse step, go to an exit, go to the line the initramfs
// prints once it runs, reverse continue to a breakpoint. Registers and the breakpoint's hit are
// checked against real gdb on a replay of the same recording.

import { execFile, execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { haveLinux, linuxRecording, type LinuxRecording } from "../support/linux-recording.js";
import { oracle } from "../support/oracle.js";
import { INTERACTIVE } from "./interactive.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CLI = join(ROOT, "bin", "afterglow.js");
/** Debian's kernel with its DWARF: the Guest pane names EIP's source line from it. */
const SYMBOLS = join(ROOT, "guests", "cache", "vmlinux-dbg");
const GDB = process.env.GDB ?? "gdb";
const SOCKET = `afterglow-tui-linux-${process.pid}`;
/** An exit well into the boot (the recording has about 56 thousand). */
const EXIT = 20_000;

const haveGuest = oracle("Debian's i386 kernel, its vmlinux-dbg and busybox in guests/cache", haveLinux && existsSync(SYMBOLS), "bash scripts/fetch-debian.sh");
const haveTools =
  oracle("tmux", spawnSync("tmux", ["-V"], { stdio: "ignore" }).status === 0, "apt-get install tmux") &&
  oracle("gdb", spawnSync(GDB, ["--version"], { stdio: "ignore" }).status === 0, "apt-get install gdb") &&
  oracle("addr2line", spawnSync("addr2line", ["--version"], { stdio: "ignore" }).status === 0, "apt-get install binutils");

let boot: LinuxRecording;

const tmux = (...args: string[]): string => execFileSync("tmux", ["-L", SOCKET, ...args], { encoding: "utf8" });
const screen = (): string => tmux("capture-pane", "-p", "-t", "tui");
const keys = (...k: string[]): void => void tmux("send-keys", "-t", "tui", ...k);
const type = (text: string): void => void tmux("send-keys", "-t", "tui", "-l", text);
const header = (s: string): string => s.split("\n")[0];

async function until(ok: (s: string) => boolean, what: string, ms = 300_000): Promise<string> {
  const end = Date.now() + ms;
  let s = "";
  while (Date.now() < end) {
    s = screen();
    if (ok(s)) return s;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`waited for ${what}; the screen:\n${s}`);
}

function shownRegisters(s: string): { [name: string]: number } {
  const out: { [name: string]: number } = {};
  for (const line of s.split("\n")) {
    for (const m of line.split("|")[0].matchAll(/\b(eax|ebx|ecx|edx|esi|edi|ebp|esp|eip|eflags|cs|ss|ds|es|fs|gs) ([0-9a-f]{4,8})\b/g)) out[m[1]] = Number.parseInt(m[2], 16);
  }
  return out;
}

async function gdbAt(commands: string[]): Promise<string> {
  const proc: ChildProcess = spawn(process.execPath, [CLI, "replay", boot.rec, ...boot.images, "--gdb", "0"], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, AFTERGLOW_CACHE: "off" },
  });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let err = "";
      proc.stderr!.on("data", (d: Buffer) => {
        err += d.toString();
        const m = /waiting for gdb on 127\.0\.0\.1:(\d+)/.exec(err);
        if (m) resolve(Number(m[1]));
      });
      proc.on("exit", () => reject(new Error(`replay --gdb exited:\n${err}`)));
    });
    // A seek answers once it has landed: far into a boot that is longer than gdb's 2 s default.
    const args = ["-batch", "-nx", "-ex", "set pagination off", "-ex", "set remotetimeout 600", "-ex", `target remote 127.0.0.1:${port}`];
    for (const c of [...commands, "kill"]) args.push("-ex", c);
    return await new Promise((resolve) => execFile(GDB, args, { timeout: 600_000 }, (_e, stdout, stderr) => resolve(stdout + stderr)));
  } finally {
    proc.kill();
  }
}

function gdbRegisters(out: string): { [name: string]: number } {
  const regs: { [name: string]: number } = {};
  for (const m of out.matchAll(/^(eax|ebx|ecx|edx|esi|edi|ebp|esp|eip|eflags|cs|ss|ds|es|fs|gs)\s+0x([0-9a-f]+)/gm)) regs[m[1]] = Number.parseInt(m[2], 16);
  return regs;
}

describe.skipIf(!haveGuest || !haveTools)("afterglow tui on a recorded Linux boot (tmux, 80x24)", () => {
  beforeAll(() => {
    boot = linuxRecording();
    const cmd = `${INTERACTIVE} AFTERGLOW_CACHE=off ${process.execPath} ${CLI} tui ${boot.rec} ${boot.images.join(" ")} --symbols ${SYMBOLS}; echo "tui exited $?"; sleep 600`;
    tmux("new-session", "-d", "-x", "80", "-y", "24", "-s", "tui", "sh", "-c", cmd);
  }, 900_000);

  afterAll(() => {
    spawnSync("tmux", ["-L", SOCKET, "kill-server"], { stdio: "ignore" });
  });

  it("steps and steps back at the kernel's first instruction", async () => {
    await until((s) => header(s).includes("icount 0 "), "the first frame");
    keys("s");
    await until((s) => header(s).includes("icount 1 "), "icount 1");
    keys("S");
    await until((s) => header(s).includes("icount 0 "), "icount 0 again");
  }, 600_000);

  it(`goes to exit ${EXIT}: the VMM pane and the position read it, the registers are gdb's`, async () => {
    keys("g");
    await until((s) => s.includes("go to"), "the go-to prompt");
    type(`exit:${EXIT}`);
    keys("Enter");
    const s = await until((s) => header(s).includes(`at exit ${EXIT}`), `exit ${EXIT}`);
    expect(s).toMatch(new RegExp(`exit ${EXIT} \\w+ \\(here\\)`));
    const out = await gdbAt([`monitor seek exit ${EXIT}`, "maint flush register-cache", "info registers", "monitor kaslr"]);
    const gdb = gdbRegisters(out);
    expect(Object.keys(gdb)).toHaveLength(16);
    expect(shownRegisters(s)).toEqual(gdb);
    // EIP's source line, as addr2line names the address gdb's symbols are moved back from (KASLR).
    const offset = Number.parseInt(/^offset 0x([0-9a-f]+)/m.exec(out)![1], 16);
    const want = execFileSync("addr2line", ["-e", SYMBOLS, ((gdb.eip - offset) >>> 0).toString(16)], { encoding: "utf8" }).trim().replace(/ \(discriminator \d+\)$/, "");
    const shown = /^at (?:…)?(\S+)/m.exec(s)![1];
    expect(want.endsWith(shown)).toBe(true);
    // The L4 pane's last IPC is the kernel's latest.
    const ipcs = /ipc (\d+) switch/.exec(s)![1];
    expect(s).toMatch(new RegExp(`\\|#${ipcs}: `));
  }, 900_000);

  it("goes to the line the initramfs prints: the console pane ends with it", async () => {
    keys("g");
    await until((s) => s.includes("go to"), "the go-to prompt");
    type("BOOT-OK");
    keys("Enter");
    const s = await until((s) => s.includes('at the line "BOOT-OK" was printed'), "the console line", 900_000);
    const lines = s.split("\n").slice(0, 23);
    const consoleAt = lines.findIndex((l) => l.startsWith(" Console "));
    const printed = lines.slice(consoleAt + 1, 20).filter((l) => l.trim() !== "");
    expect(printed.at(-1)).toMatch(/^BOOT-OK \d+\.\d+\.\d+-\d+-686$/);
  }, 900_000);

  it("reverse continues to a breakpoint at the OUT that wrote the line's end: where gdb's reverse-continue stops", async () => {
    const here = screen();
    const exit = /exit (\d+)/.exec(header(here))![1];
    // The VMM pane's last exit is the OUT of the line's newline; its EIP is the breakpoint.
    const eip = /\| eip ([0-9a-f]{8}) icount/.exec(here)![1];
    keys("b");
    await until((s) => s.includes("breakpoint at:"), "the breakpoint prompt");
    type(`0x${eip}`);
    keys("Enter");
    await until((s) => s.includes(`breakpoint set at 0x${Number.parseInt(eip, 16).toString(16)}`), "the breakpoint set");
    keys("C");
    const s = await until((s) => /breakpoint at 0x[0-9a-f]+( <[^>]+>)?\s+\?/.test(s), "the reverse continue's stop", 900_000);
    const [, icount, last] = /icount (\d+) +(?:at|after) exit (\d+)/.exec(header(s))!;
    expect(shownRegisters(s).eip).toBe(Number.parseInt(eip, 16));
    const out = await gdbAt([`monitor seek exit ${exit}`, `hbreak *0x${eip}`, "reverse-continue", "monitor when"]);
    expect(out).toMatch(new RegExp(`icount ${icount} exits ${Number(last) + 1} `));
  }, 900_000);

  it("quits on q", async () => {
    keys("q");
    await until((s) => s.includes("tui exited 0"), "the exit");
  });
});
