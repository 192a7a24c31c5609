// Debian's gdb on a replayed Linux boot under the stack (L4, the VMM, the guest in a VM), with the
// kernel's own DWARF (Debian's linux-image-…-686-dbg, fetched by scripts/fetch-debian.sh --dbg):
// the oracle for symbols, frames, disassembly and stops is gdb reading Debian's vmlinux. Each test
// replays the recording afresh with `afterglow replay FILE --gdb 0` and drives gdb in batch mode.

import { execFile, execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { oracle } from "../support/oracle.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CLI = join(ROOT, "bin", "afterglow.js");
const CACHE = join(ROOT, "guests", "cache");
const KERNEL = join(CACHE, "vmlinux");
/** The bzImage Debian boots: a decompressor that moves the kernel (KASLR). */
const BZIMAGE = join(CACHE, "vmlinuz-686");
const BUSYBOX = join(CACHE, "busybox");
const SYMBOLS = join(CACHE, "vmlinux-dbg");
const GDB = process.env.GDB ?? "gdb";

// scripts/fetch-debian.sh fetches the kernel and busybox; the initramfs is built here (CI has none
// in guests/cache, and another test may be writing one there).
const haveGuest = oracle("Debian's i386 kernel and busybox in guests/cache", existsSync(KERNEL) && existsSync(BUSYBOX), "bash scripts/fetch-debian.sh");
const haveSymbols = haveGuest && oracle(`the kernel's DWARF symbols, ${SYMBOLS}`, existsSync(SYMBOLS), "bash scripts/fetch-debian.sh --dbg");

let dir: string;
let rec: string;
let INITRD: string;

beforeAll(() => {
  if (!haveGuest) return;
  dir = mkdtempSync(join(tmpdir(), "afterglow-gdb-linux-"));
  rec = join(dir, "boot.rec");
  INITRD = join(dir, "initramfs.cpio.gz");
  execFileSync(process.execPath, [CLI, "guest", "build-initramfs", "--busybox", BUSYBOX, "--out", INITRD], { stdio: ["ignore", "ignore", "pipe"] });
  execFileSync(
    process.execPath,
    [CLI, "record", "-o", rec, "--kernel", KERNEL, "--initrd", INITRD, "--append", "console=ttyS0 panic=-1 cryptomgr.notests", "--ram", "128"],
    { stdio: ["ignore", "ignore", "pipe"], timeout: 600_000 },
  );
}, 600_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A recording and the kernel it boots. */
interface Boot {
  rec: string;
  kernel: string;
}

/** A fresh replay of the recording under `--gdb 0`, stopped at the first instruction: its port. */
function replayServer(boot: Boot): Promise<{ port: number; proc: ChildProcess; stderr: () => string }> {
  const proc = spawn(process.execPath, [CLI, "replay", boot.rec, "--kernel", boot.kernel, "--initrd", INITRD, "--gdb", "0"], { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  return new Promise((resolve, reject) => {
    proc.stderr!.on("data", (d: Buffer) => {
      err += d.toString();
      const m = /waiting for gdb on [^\s]+:(\d+); attach with\n {2}gdb -ex 'target remote 127\.0\.0\.1:(\d+)'/.exec(err);
      if (m && m[1] === m[2]) resolve({ port: Number(m[1]), proc, stderr: () => err });
    });
    proc.on("exit", (code) => reject(new Error(`afterglow replay --gdb exited (${code}) before listening:\n${err}`)));
  });
}

/** Runs gdb in batch mode against a fresh replay: the commands, then `kill` (which ends the replay). */
async function gdb(commands: string[], { symbols = true, boot = { rec, kernel: KERNEL } } = {}): Promise<string> {
  return (await gdbSession(commands, { symbols, boot })).out;
}

/** gdb's transcript, and what the replay said on its stderr. */
async function gdbSession(commands: string[], { symbols, boot, timeout = 300_000 }: { symbols: boolean; boot: Boot; timeout?: number }): Promise<{ out: string; stderr: string }> {
  const server = await replayServer(boot);
  const args = ["-batch", "-nx", "-ex", "set pagination off", "-ex", "set width 0", "-ex", "set confirm off"];
  if (symbols) args.push(SYMBOLS);
  args.push("-ex", `target remote 127.0.0.1:${server.port}`);
  for (const c of commands) args.push("-ex", c);
  args.push("-ex", "kill");
  try {
    return await new Promise((resolve, reject) => {
      execFile(GDB, args, { timeout, maxBuffer: 1 << 24 }, (err, stdout, stderr) => {
        if (err && err.killed) reject(new Error(`gdb timed out:\n${stdout}\n${stderr}\n${server.stderr()}`));
        else resolve({ out: stdout + stderr, stderr: server.stderr() });
      });
    });
  } finally {
    server.proc.kill();
  }
}

/** The `monitor when` lines of a gdb transcript, as { icount, exit }. */
function whens(out: string): { icount: number; exit: number; line: string }[] {
  return [...out.matchAll(/^icount (\d+) exit (\d+) guest-ns \d+ eip 0x[0-9a-f]+$/gm)].map((m) => ({ icount: Number(m[1]), exit: Number(m[2]), line: m[0] }));
}

describe.skipIf(!haveGuest)("gdb on a replayed Linux boot under the stack", () => {
  it.skipIf(!haveSymbols)("stops at break start_kernel and shows the frames, registers, code and kernel data there", async () => {
    const out = await gdb(["break start_kernel", "continue", "bt", "info registers", "x/8i $pc", "print init_task.comm", "monitor when", "set var $eax = 1", "monitor kaslr"]);
    const at = /Breakpoint 1 at (0x[0-9a-f]+): file init\/main\.c/.exec(out);
    expect(at, out).not.toBeNull();
    expect(out).toMatch(/Breakpoint 1, start_kernel \(\) at init\/main\.c:\d+/);
    // The call chain head_32.S sets up: startup_32_smp -> i386_start_kernel -> start_kernel.
    expect(out).toMatch(/#0 {2}start_kernel \(\) at init\/main\.c/);
    expect(out).toMatch(/#1 {2}0x[0-9a-f]+ in i386_start_kernel \(\) at arch\/x86\/kernel\/head32\.c/);
    expect(out).toMatch(/#2 {2}0x[0-9a-f]+ in startup_32_smp \(\)/);
    expect(out).toMatch(new RegExp(`eip\\s+${at![1]}\\s+${at![1]} <start_kernel>`));
    // The kernel's flat segments (__KERNEL_CS 0x60, __KERNEL_DS 0x68, __USER_DS 0x7b) and a kernel stack.
    expect(out).toMatch(/cs\s+0x60\s+96/);
    expect(out).toMatch(/ss\s+0x68\s+104/);
    expect(out).toMatch(/esp\s+0xc[0-9a-f]{7}\s/);
    const insns = out.match(/^(=>| {2}) 0x[0-9a-f]+ <start_kernel(\+\d+)?>:\t\S+/gm) ?? [];
    expect(insns, out).toHaveLength(8);
    expect(insns[0]).toMatch(/^=> /);
    expect(out).toMatch(/\$1 = "swapper(\\000)+"/);
    expect(whens(out)[0].icount).toBeGreaterThan(0);
    // A replay cannot change history: the register write is refused and eax keeps its value.
    expect(out).toMatch(/Could not write register "eax"; remote failure reply 'E.a replay cannot change history: registers are read-only'/);
    // Loaded as an ELF, the kernel runs where it was linked: no offset for gdb. As QEMU shows them,
    // the system registers of a kernel with paging on (info registers above).
    expect(out).toMatch(/^offset 0x0 physical 0x1000000\nthe kernel was loaded as an ELF at its link address$/m);
    expect(out).toMatch(/^cr0 +0x80050033 +\[ PG AM WP NE ET MP PE \]$/m);
    expect(out).toMatch(/^idtr_base +0x[0-9a-f]+ +0x[0-9a-f]+ <idt_table>$/m);
  });

  it.skipIf(!haveSymbols)("steps over calibrate.c's report of the delay loop with next, in a few packets (range stepping)", async () => {
    // The kernel calibrated its TSC against the PIT, so calibrate_delay skips its loop and reports
    // the value: pr_cont("%lu.%02lu BogoMIPS (lpj=%lu)\n", ...) flushes the line to the serial
    // console, some 20,000 instructions and a VM exit per port access. gdb steps the line by range
    // stepping: the range up to the call, a continue to the return from it, the range again.
    const out = await gdb([
      "break calibrate_delay", "continue", "next 7", "monitor when",
      "set debug remote 1", "next", "set debug remote 0", "monitor when", "info line *$pc",
    ]);
    expect(out).toMatch(/Breakpoint 1, calibrate_delay \(\) at init\/calibrate\.c:\d+/);
    const [a, b] = whens(out);
    expect(b.icount - a.icount, out).toBeGreaterThan(10_000);
    expect(b.exit - a.exit, out).toBeGreaterThan(100);
    expect(out).toMatch(/^Line \d+ of "init\/calibrate\.c" starts at address/m);
    const resumes = out.match(/Sending packet: \$(vCont;[crsCS]|[cs][#0-9a-f])/g) ?? [];
    expect(resumes.length).toBeGreaterThan(0);
    expect(resumes.length).toBeLessThanOrEqual(10);
    expect(out).toMatch(/Sending packet: \$vCont;r[0-9a-f]+,[0-9a-f]+/);
  });

  it.skipIf(!haveSymbols)("stops at an hbreak and finishes the function back into its caller", async () => {
    const out = await gdb(["hbreak setup_arch", "continue", "monitor when", "finish", "info registers eip", "x/i $pc-5", "monitor when"]);
    expect(out).toMatch(/Hardware assisted breakpoint 1 at 0x[0-9a-f]+: file arch\/x86\/kernel\/setup\.c/);
    expect(out).toMatch(/Breakpoint 1, setup_arch \(cmdline_p=[^)]*\) at arch\/x86\/kernel\/setup\.c:\d+/);
    // Back in the caller, right after its call to setup_arch.
    expect(out).toMatch(/start_kernel \(\) at init\/main\.c:\d+/);
    expect(out).toMatch(/eip\s+0x[0-9a-f]+\s+0x[0-9a-f]+ <start_kernel\+\d+>/);
    expect(out).toMatch(/0x[0-9a-f]+ <start_kernel\+\d+>:\tcall\s+0x[0-9a-f]+ <setup_arch>/);
    const [a, b] = whens(out);
    expect(b.icount).toBeGreaterThan(a.icount + 1000); // setup_arch is a long function
  });

  it.skipIf(!haveSymbols)("steps with stepi and nexti as on a native target", async () => {
    // start_kernel begins with `call __fentry__` (ftrace), then `push %ebp`.
    const out = await gdb([
      "break start_kernel", "continue", "x/2i $pc", "monitor when",
      "nexti", "info registers eip", "monitor when",
      "stepi", "info registers eip", "monitor when",
      "stepi", "stepi", "stepi", "monitor when",
    ]);
    expect(out).toMatch(/=> 0x[0-9a-f]+ <start_kernel>:\tcall\s+0x[0-9a-f]+ <__fentry__>/);
    expect(out).toMatch(/eip\s+0x[0-9a-f]+\s+0x[0-9a-f]+ <start_kernel\+5>/);
    expect(out).toMatch(/eip\s+0x[0-9a-f]+\s+0x[0-9a-f]+ <start_kernel\+6>/);
    const [a, b, c, d] = whens(out);
    expect(b.icount - a.icount).toBeGreaterThanOrEqual(2); // the call and what it called
    expect(c.icount - b.icount).toBe(1);
    expect(d.icount - c.icount).toBe(3);
  });

  it.skipIf(!haveSymbols)("stops where the timer interrupt writes jiffies with watch jiffies", async () => {
    const out = await gdb(["break start_kernel", "continue", "delete", "watch jiffies", "continue", "bt 2", "monitor when"]);
    expect(out).toMatch(/Hardware watchpoint 2: jiffies/);
    const m = /Old value = (\d+)\nNew value = (\d+)/.exec(out);
    expect(m, out).not.toBeNull();
    expect(Number(m![2])).toBe(Number(m![1]) + 1);
    expect(out).toMatch(/#0 {2}0x[0-9a-f]+ in do_timer \(ticks=/);
  });

  it("stops at the guest's first serial write with monitor break-exit io 0x3f8 and lists the exits before it", async () => {
    const out = await gdb(["monitor break-exit io 0x3f8", "continue", "monitor exits 5", "x/i $pc", "monitor when"], { symbols: false });
    expect(out).toMatch(/will stop at VM exits matching: io 0x3f8/);
    expect(out).toMatch(/Program received signal SIGTRAP/);
    const exits = out.match(/^#\d+ icount \d+ [A-Z_]+ .* eip 0x[0-9a-f]{8}$/gm) ?? [];
    expect(exits, out).toHaveLength(5);
    const last = exits[4];
    expect(last).toMatch(/IO_INSTRUCTION out port 0x3f8 \(1 byte\) eip 0x[0-9a-f]{8}$/);
    // The first: none of the exits before it touched port 0x3f8.
    for (const e of exits.slice(0, 4)) expect(e).not.toMatch(/port 0x3f8 /);
    // Stopped at the exiting instruction, the exit's EIP, before the VMM emulated it.
    const eip = /eip (0x[0-9a-f]{8})$/.exec(last)![1];
    expect(out).toMatch(new RegExp(`=> ${"0x" + parseInt(eip, 16).toString(16)}:?(\\s<[^>]+>:)?\\s+out\\s+%al,\\(%dx\\)`));
    const w = whens(out)[0];
    expect(`#${w.exit - 1} icount ${w.icount} `).toBe(last.slice(0, last.indexOf("IO_INSTRUCTION")));
  });

  it("continues through every state hash and VM exit check to the end of the recording", async () => {
    // gdb runs the replay in its own slices, not the recording run's: the stack must not care.
    const server = await replayServer({ rec, kernel: KERNEL });
    try {
      const out = await new Promise<string>((resolve, reject) => {
        execFile(GDB, ["-batch", "-nx", "-ex", `target remote 127.0.0.1:${server.port}`, "-ex", "continue", "-ex", "monitor when", "-ex", "kill"], { timeout: 600_000 }, (err, stdout, stderr) => {
          if (err && err.killed) reject(new Error(`gdb timed out:\n${stdout}\n${stderr}\n${server.stderr()}`));
          else resolve(stdout + stderr);
        });
      });
      expect(out).toMatch(/No more reverse-execution history/);
      expect(server.stderr()).toMatch(/replay reached the end of the recording/);
      expect(server.stderr()).not.toMatch(/diverged/);
      expect(whens(out)[0].icount).toBeGreaterThan(300_000_000);
    } finally {
      server.proc.kill();
    }
  }, 600_000);

  it("gives the same stops, at the same icount and exit, on two replays", async () => {
    const commands = ["monitor break-exit io 0x3f8", "continue", "monitor when", "monitor break-exit clear", "stepi", "monitor when"];
    if (haveSymbols) commands.push("break start_kernel", "hbreak setup_arch", "watch jiffies", "continue", "monitor when", "continue", "monitor when");
    else commands.push("monitor break-exit io 0x3f9", "continue", "monitor when");
    const [one, two] = [await gdb(commands, { symbols: haveSymbols }), await gdb(commands, { symbols: haveSymbols })];
    const a = whens(one), b = whens(two);
    expect(a.length, one).toBe(haveSymbols ? 4 : 3);
    expect(b.map((x) => x.line)).toEqual(a.map((x) => x.line));
  });
});

describe.skipIf(!haveGuest || !haveSymbols || !existsSync(BZIMAGE))("gdb on Debian's kernel booted as Debian boots it: the bzImage, with KASLR", () => {
  // Debian's command line has no nokaslr: the decompressor puts the kernel at a random
  // kernel_alignment slot, and the replay tells gdb how far (qOffsets). The recording stops soon
  // after start_kernel: the decompression before it is most of the cost (2.3 billion instructions).
  const boot: Boot = { rec: "", kernel: BZIMAGE };
  beforeAll(() => {
    boot.rec = join(dir, "kaslr.rec");
    // Stopped by --max-insns, the recording run exits 1 (the guest did not end); the recording is whole.
    const r = spawnSync(
      process.execPath,
      [CLI, "record", "-o", boot.rec, "--kernel", BZIMAGE, "--initrd", INITRD, "--append", "console=ttyS0 panic=-1 quiet cryptomgr.notests", "--ram", "128", "--max-insns", "2500000000"],
      { stdio: ["ignore", "ignore", "pipe"], encoding: "utf8", timeout: 1_200_000 },
    );
    expect(r.stderr).toMatch(/instruction limit reached .*\n(.*\n)*afterglow: recorded to /);
  }, 1_200_000);

  it("moves gdb's symbols to where the decompressor put the kernel: break start_kernel stops there", async () => {
    const { out, stderr } = await gdbSession(
      ["monitor kaslr", "info address start_kernel", "break start_kernel", "continue", "bt 2", "print init_task.comm", "print/x &init_task", "monitor when"],
      { symbols: true, boot, timeout: 1_200_000 },
    );
    const m = /^afterglow: the decompressor put the kernel at physical 0x([0-9a-f]+), 0x([0-9a-f]+) above its link address \(KASLR\): seen in a replay of it to icount [\d,]+; gdb's symbols are moved by 0x\2 \(qOffsets\)$/m.exec(stderr);
    expect(m, stderr).not.toBeNull();
    const physical = parseInt(m![1], 16), offset = parseInt(m![2], 16);
    // Debian's 686 kernel: linked at 0xc1000000 for physical 0x1000000 (pref_address), moved by a
    // multiple of its 16 MiB kernel_alignment (with 128 MiB of RAM this boot lands 0x5000000 up; an
    // offset of 0 would prove nothing here).
    expect(offset).toBe(physical - 0x1000000);
    expect(offset % 0x1000000).toBe(0);
    expect(offset).toBeGreaterThan(0);
    expect(out).toContain(`offset 0x${offset.toString(16)} physical 0x${physical.toString(16)}`);
    const nm = execFileSync("nm", [SYMBOLS], { encoding: "utf8", maxBuffer: 1 << 28 });
    const symbol = (type: string, name: string) => parseInt(new RegExp(`^([0-9a-f]{8}) ${type} ${name}$`, "m").exec(nm)![1], 16);
    const linked = symbol("T", "start_kernel");
    const at = `0x${(linked + offset).toString(16)}`;
    expect(out).toContain(`Symbol "start_kernel" is a function at address ${at}.`);
    expect(out).toMatch(new RegExp(`Breakpoint 1, start_kernel \\(\\) at init/main\\.c:\\d+`));
    expect(out).toMatch(/#1 {2}0x[0-9a-f]+ in i386_start_kernel \(\) at arch\/x86\/kernel\/head32\.c/);
    // Data moved with the code: the first task's name, at its moved address.
    expect(out).toMatch(/\$1 = "swapper(\\000)+"/);
    expect(out).toContain(`$2 = 0x${(symbol("D", "init_task") + offset).toString(16)}`);
    expect(whens(out)[0].icount).toBeGreaterThan(2_000_000_000);
    expect(out).toMatch(new RegExp(`eip 0x${(linked + offset).toString(16)}$`, "m"));
  }, 1_200_000);
});
