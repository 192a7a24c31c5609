// The TUI in a real pseudo-terminal, driven as a person would: tmux runs `afterglow tui` in an
// 80x24 window, keys go in with send-keys, the screen comes back with capture-pane. The registers
// it shows are checked against real gdb's at the same position (`afterglow replay --gdb`).

import { execFile, execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { oracle } from "../support/oracle.js";
import { INTERACTIVE } from "./interactive.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CLI = join(ROOT, "bin", "afterglow.js");
const REC = join(ROOT, "recordings", "hello-vm.rec");
const GDB = process.env.GDB ?? "gdb";
const SOCKET = `afterglow-tui-${process.pid}`;
const HAVE_TMUX = oracle("tmux", spawnSync("tmux", ["-V"], { stdio: "ignore" }).status === 0, "apt-get install tmux");
const HAVE_GDB = oracle("gdb", spawnSync(GDB, ["--version"], { stdio: "ignore" }).status === 0, "apt-get install gdb");

const tmux = (...args: string[]): string => execFileSync("tmux", ["-L", SOCKET, ...args], { encoding: "utf8" });
/** The tmux session the helpers below talk to. */
let session = "tui";
const screen = (): string => tmux("capture-pane", "-p", "-t", session);
const keys = (...k: string[]): void => void tmux("send-keys", "-t", session, ...k);
const type = (text: string): void => void tmux("send-keys", "-t", session, "-l", text);

afterAll(() => {
  spawnSync("tmux", ["-L", SOCKET, "kill-server"], { stdio: "ignore" });
});

/** Waits until the screen satisfies `ok`; fails with the last screen. */
async function until(ok: (s: string) => boolean, what: string, ms = 30_000): Promise<string> {
  const end = Date.now() + ms;
  let s = "";
  while (Date.now() < end) {
    s = screen();
    if (ok(s)) return s;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`waited for ${what}; the screen:\n${s}`);
}

const header = (s: string): string => s.split("\n")[0];

/** The guest registers the Guest pane shows. */
function shownRegisters(s: string): { [name: string]: number } {
  const out: { [name: string]: number } = {};
  for (const line of s.split("\n")) {
    const left = line.split("|")[0];
    for (const m of left.matchAll(/\b(eax|ebx|ecx|edx|esi|edi|ebp|esp|eip|eflags|cs|ss|ds|es|fs|gs) ([0-9a-f]{4,8})\b/g)) out[m[1]] = Number.parseInt(m[2], 16);
  }
  return out;
}

/** Real gdb on a replay of the same recording: the output of `commands`. */
async function gdbAt(commands: string[]): Promise<string> {
  const proc: ChildProcess = spawn(process.execPath, [CLI, "replay", REC, "--gdb", "0"], { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, AFTERGLOW_CACHE: "off" } });
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
    const args = ["-batch", "-nx", "-ex", "set pagination off", "-ex", `target remote 127.0.0.1:${port}`];
    for (const c of [...commands, "kill"]) args.push("-ex", c);
    return await new Promise((resolve) => execFile(GDB, args, { timeout: 60_000 }, (_e, stdout, stderr) => resolve(stdout + stderr)));
  } finally {
    proc.kill();
  }
}

function gdbRegisters(out: string): { [name: string]: number } {
  const regs: { [name: string]: number } = {};
  for (const m of out.matchAll(/^(eax|ebx|ecx|edx|esi|edi|ebp|esp|eip|eflags|cs|ss|ds|es|fs|gs)\s+0x([0-9a-f]+)/gm)) regs[m[1]] = Number.parseInt(m[2], 16);
  return regs;
}

describe.skipIf(!HAVE_TMUX)("afterglow tui in an 80x24 terminal (tmux)", () => {
  beforeAll(() => {
    const cmd = `${INTERACTIVE} AFTERGLOW_CACHE=off ${process.execPath} ${CLI} tui ${REC}; echo "tui exited $?"; sleep 60`;
    tmux("new-session", "-d", "-x", "80", "-y", "24", "-s", "tui", "sh", "-c", cmd);
  });

  afterAll(() => {
    spawnSync("tmux", ["-L", SOCKET, "kill-session", "-t", "tui"], { stdio: "ignore" });
  });

  it("opens on the recording's first instruction, its frame within the terminal", async () => {
    const s = await until((s) => header(s).includes("icount 0 "), "the first frame");
    const lines = s.replace(/\n+$/, "").split("\n");
    expect(lines.length).toBeLessThanOrEqual(23);
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(80);
    expect(shownRegisters(s).eip).toBe(0x7c00);
  });

  it("steps one instruction forward with s and back with S", async () => {
    keys("s");
    let s = await until((s) => header(s).includes("icount 1 "), "icount 1");
    expect(shownRegisters(s).eip).toBe(0x7c01);
    keys("S");
    s = await until((s) => header(s).includes("icount 0 "), "icount 0 again");
    expect(shownRegisters(s).eip).toBe(0x7c00);
  });

  it.skipIf(!HAVE_GDB)("goes to exit N: the VMM pane shows it, the position reads it, the registers are gdb's there", async () => {
    keys("g");
    await until((s) => s.includes("go to"), "the go-to prompt");
    type("exit:100");
    keys("Enter");
    const s = await until((s) => header(s).includes("at exit 100"), "exit 100");
    expect(s).toContain("exit 100 IO_INSTRUCTION (here)");
    expect(s).toContain("in port 0x3fd (1 byte)");
    const gdb = gdbRegisters(await gdbAt(["monitor seek exit 100", "maint flush register-cache", "info registers"]));
    expect(Object.keys(gdb)).toHaveLength(16);
    expect(shownRegisters(s)).toEqual(gdb);
  });

  it("goes to a console line: the console pane ends with it", async () => {
    keys("g");
    await until((s) => s.includes("go to"), "the go-to prompt");
    type("fib(40)");
    keys("Enter");
    const s = await until((s) => s.includes('at the line "fib(40)" was printed'), "the console line");
    // The frame is 23 rows: the console pane's rows end above the timeline's two and the status line.
    const lines = s.split("\n").slice(0, 23);
    const consoleAt = lines.findIndex((l) => l.startsWith(" Console "));
    const printed = lines.slice(consoleAt + 1, 20).filter((l) => l.trim() !== "");
    expect(printed.at(-1)).toBe("fib(40): 102334155");
  });

  it.skipIf(!HAVE_GDB)("reverse continues to a breakpoint: the hit gdb's reverse-continue finds from there", async () => {
    // Here: the guest's next instruction after the VMM handled exit E. gdb seeks to exit E itself,
    // before the VMM handles it: no guest instruction runs between the two.
    const exit = /exit (\d+)/.exec(header(screen()))![1];
    keys("b");
    await until((s) => s.includes("breakpoint at:"), "the breakpoint prompt");
    type("0x8036");
    keys("Enter");
    await until((s) => s.includes("breakpoint set at 0x8036"), "the breakpoint set");
    keys("C");
    const s = await until((s) => /breakpoint at 0x8036\s+\?/.test(s), "the reverse continue's stop");
    const [, icount, last] = /icount (\d+) +(?:at|after) exit (\d+)/.exec(header(s))!;
    expect(shownRegisters(s).eip).toBe(0x8036);
    const out = await gdbAt([`monitor seek exit ${exit}`, "hbreak *0x8036", "reverse-continue", "monitor when"]);
    // gdb's when counts the exits taken; the TUI names the last one.
    expect(out).toMatch(new RegExp(`icount ${icount} exits ${Number(last) + 1} .*eip 0x0*8036`));
  });

  it("quits on q, leaving the terminal as it was", async () => {
    keys("q");
    const s = await until((s) => s.includes("tui exited 0"), "the exit");
    expect(s).not.toContain("Console");
  });
});

describe.skipIf(!HAVE_TMUX || !HAVE_GDB)("the TUI and gdb on one replay (replay --tui --gdb)", () => {
  const REGS = "eax ebx ecx edx esi edi ebp esp eip eflags cs ss ds es fs gs";
  /** gdb's window, its scrollback included. */
  const gdbScreen = (): string => tmux("capture-pane", "-p", "-S", "-200", "-t", "both:gdb");
  const gdbDo = (line: string): void => {
    tmux("send-keys", "-t", "both:gdb", "-l", line);
    tmux("send-keys", "-t", "both:gdb", "Enter");
  };
  async function gdbUntil(ok: (s: string) => boolean, what: string): Promise<string> {
    const end = Date.now() + 30_000;
    let s = "";
    while (Date.now() < end) {
      s = gdbScreen();
      if (ok(s)) return s;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`waited for gdb's ${what}; its window:\n${s}`);
  }

  beforeAll(() => {
    session = "both:tui";
    const cmd = `${INTERACTIVE} AFTERGLOW_CACHE=off ${process.execPath} ${CLI} replay ${REC} --tui --gdb 0; echo "tui exited $?"; sleep 60`;
    tmux("new-session", "-d", "-x", "80", "-y", "24", "-s", "both", "-n", "tui", "sh", "-c", cmd);
  });

  afterAll(() => {
    session = "tui";
    spawnSync("tmux", ["-L", SOCKET, "kill-session", "-t", "both"], { stdio: "ignore" });
  });

  it("follows gdb: its continue to a breakpoint and its stepi move the panes", async () => {
    const s = await until((s) => /gdb 127\.0\.0\.1:\d+/.test(s), "the address gdb attaches at");
    const port = /gdb 127\.0\.0\.1:(\d+)/.exec(s)![1];
    tmux("new-window", "-d", "-t", "both", "-n", "gdb", GDB, "-nx", "-q", "-ex", "set pagination off", "-ex", "set confirm off", "-ex", `target remote 127.0.0.1:${port}`);
    await until((s) => s.includes("gdb attached"), "gdb attached");
    await gdbUntil((s) => s.includes("0x00007c00 in ?? ()"), "attach");
    gdbDo("hbreak *0x802c");
    gdbDo("continue");
    let tui = await until((s) => s.includes("gdb: at a breakpoint"), "gdb's stop");
    expect(shownRegisters(tui).eip).toBe(0x802c);
    const icount = Number(/icount (\d+)/.exec(header(tui))![1]);
    gdbDo("stepi");
    tui = await until((s) => header(s).includes(`icount ${icount + 1} `), "gdb's stepi");
    expect(shownRegisters(tui).eip).toBe(0x802d);
  });

  it("moves gdb's replay with the TUI's keys: gdb reads the registers the TUI shows", async () => {
    keys("g");
    await until((s) => s.includes("go to"), "the go-to prompt");
    type("exit:100");
    keys("Enter");
    const tui = await until((s) => header(s).includes("at exit 100"), "exit 100");
    gdbDo("maint flush register-cache");
    gdbDo(`info registers ${REGS}`);
    const out = await gdbUntil((s) => /^gs\s+0x/m.test(s), "registers");
    const regs = gdbRegisters(out.slice(out.lastIndexOf("info registers")));
    expect(Object.keys(regs)).toHaveLength(16);
    expect(shownRegisters(tui)).toEqual(regs);
  });

  it("goes on when gdb goes: q still quits", async () => {
    gdbDo("detach");
    gdbDo("quit");
    await until((s) => s.includes("gdb detached"), "gdb detached");
    keys("q");
    await until((s) => s.includes("tui exited 0"), "the exit");
  });
});

describe.skipIf(!HAVE_TMUX)("the other ways in", () => {
  it.each([
    ["afterglow tui with no file records the built-in guest and opens it", ["tui"], "built-in guest"],
    ["afterglow replay FILE --tui opens FILE", ["replay", REC, "--tui"], "hello-vm.rec"],
  ])("%s", async (_what, args, name) => {
    const cmd = `${INTERACTIVE} AFTERGLOW_CACHE=off ${process.execPath} ${CLI} ${args.join(" ")}; echo "tui exited $?"; sleep 60`;
    session = `ways-${args[0]}`;
    tmux("new-session", "-d", "-x", "100", "-y", "30", "-s", session, "sh", "-c", cmd);
    try {
      const s = await until((s) => header(s).includes(name) && header(s).includes("icount 0 "), "the first frame");
      expect(s).toContain(" VMM ");
      keys("q");
      await until((s) => s.includes("tui exited 0"), "the exit");
    } finally {
      tmux("kill-session", "-t", session);
    }
  });
});

describe("afterglow tui on bad input", () => {
  it.each([
    [["tui", "no-such.rec"], "afterglow: cannot read no-such.rec: no such file"],
    [["tui", join(ROOT, "README.md")], `afterglow: ${join(ROOT, "README.md")} is not an afterglow recording (no AGLOWREC signature)`],
    [["tui", REC, "--symbols", join(ROOT, "README.md")], `afterglow: --symbols ${join(ROOT, "README.md")}: not an ELF file`],
    [["tui", REC], "afterglow: the TUI needs a terminal: its input and output must be a TTY"],
    [["replay", REC, "--tui", "--gdb", "nowhere"], 'afterglow: --gdb wants [HOST:]PORT, not "nowhere"'],
  ])("afterglow %j says so in one line and exits 1", (args, line) => {
    const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    expect(r.stderr).toBe(line + "\n");
    expect(r.status).toBe(1);
  });
});
