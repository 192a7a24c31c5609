// Debian's unmodified i386 kernels boot to the initramfs's marker, on the bare emulated PC and in
// a VM under the L4 kernel and the VMM (the full stack, `afterglow run`'s default), and a workload
// of busybox programs, and a C program built with `gcc -m32 -static`, prints exactly what the same
// binaries print when the host CPU runs them natively (or, where the host's kernel runs no 32-bit
// programs, QEMU's user mode). Guest images come from
// scripts/fetch-debian.sh (CI fetches them first).

import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildInitramfs } from "../../src/cli/guest.js";
import { Session, Stop, type MachineKind } from "../../src/replay/session.js";
import { ROOT } from "../layers.js";
import { gccM32, oracle, QEMU_I386, QEMU_I386_INSTALL } from "../support/oracle.js";

const CACHE = join(ROOT, "guests", "cache");
const WORKLOAD = readFileSync(join(ROOT, "test", "linux", "workload.sh"), "utf8");
const MiB = 2 ** 20;
/** Crypto self-tests (2048- to 8192-bit DH among them) cost an interpreter billions of instructions. */
const CMDLINE = "console=ttyS0 panic=-1 cryptomgr.notests";
/** Far more than a boot takes (0.4 G instructions to the marker from the ELF kernel, 2.7 G from
 * the bzImage, whose decompressor runs in the guest): a hang fails rather than times out. */
const BUDGET = 6e9;

function cached(name: string): Uint8Array {
  const path = join(CACHE, name);
  if (!existsSync(path)) throw new Error(`${path} is missing: run bash scripts/fetch-debian.sh --pae`);
  return new Uint8Array(readFileSync(path));
}

/** Boots `kernel` with `initrd` and returns the console text (CR LF folded to LF) and how it stopped. */
function boot(machine: MachineKind, kernel: Uint8Array, initrd: Uint8Array, cmdline = CMDLINE): { text: string; stop: Stop; exits: { [reason: string]: number } } {
  const out: number[] = [];
  const session = new Session({
    guest: { kind: "linux", kernel, initrd, cmdline },
    machine,
    ramSize: 128 * MiB,
    rtcEpochSeconds: 1_790_000_000,
    console: (b) => out.push(b),
  });
  const stop = session.run({ maxInsns: BUDGET });
  const exits = Object.fromEntries((session.summary()?.exits ?? []).map((e) => [e.name, e.count]));
  return { text: Buffer.from(out).toString("latin1").replace(/\r\n/g, "\n"), stop, exits };
}

/** The workload's own lines: between the markers, without the kernel's interleaved log lines. */
function workloadOutput(console: string): string {
  const start = console.indexOf("\nBOOT-OK ");
  const end = console.indexOf("\nWORKLOAD-DONE\n");
  expect(start, console.slice(-2000)).toBeGreaterThanOrEqual(0);
  expect(end, console.slice(-2000)).toBeGreaterThan(start);
  const lines = console.slice(console.indexOf("\n", start + 1) + 1, end + 1).split("\n");
  return lines.filter((l) => !/^\[\s*\d+\.\d+\] /.test(l)).join("\n");
}

/**
 * test/linux/static-libc.c built as the user of a Debian host would, `gcc -m32 -static`, into
 * `scratch`. Debian's i386 glibc carries ENDBR32, which the guest must run as a NOP: the binary
 * must hold some, or the workload would not test it.
 */
function buildStaticLibc(scratch: string): Uint8Array {
  const exe = join(scratch, "static-libc");
  execFileSync("gcc", ["-m32", "-static", "-O2", "-o", exe, join(ROOT, "test", "linux", "static-libc.c")], { stdio: "pipe" });
  const data = new Uint8Array(readFileSync(exe));
  expect(Buffer.from(data).includes(Buffer.from([0xf3, 0x0f, 0x1e, 0xfb])), "the static binary holds no ENDBR32").toBe(true);
  return data;
}

/**
 * The workload's output from the same busybox (and C program) run on the host, on PATH, in
 * `scratch`: natively, or through `via` (QEMU's user mode, where the host's kernel runs no 32-bit
 * programs). Through `via`, each program on PATH is a script whose `#!` line hands the real
 * binary to the emulator, so that the shell's own exec of an applet goes through it too.
 */
function hostWorkload(scratch: string, staticLibc: Uint8Array, via?: string): string {
  const bin = join(scratch, "bin"), real = join(scratch, "i386");
  mkdirSync(bin);
  mkdirSync(real);
  const install = (name: string, data: Uint8Array): string => {
    if (via === undefined) {
      writeFileSync(join(bin, name), data, { mode: 0o755 });
    } else {
      writeFileSync(join(real, name), data, { mode: 0o755 });
      writeFileSync(join(bin, name), `#!${via} ${join(real, name)}\n`, { mode: 0o755 });
    }
    return join(via === undefined ? bin : real, name);
  };
  install("static-libc", staticLibc);
  const bb = install("busybox", cached("busybox"));
  const run = (args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) =>
    spawnSync(via ?? bb, via === undefined ? args : [bb, ...args], { ...opts, encoding: "utf8" });
  for (const applet of run(["--list"]).stdout.trim().split("\n")) {
    if (applet === "busybox") continue;
    if (via === undefined) symlinkSync("busybox", join(bin, applet));
    else writeFileSync(join(bin, applet), `#!${via} ${bb}\n`, { mode: 0o755 });
  }
  const work = join(scratch, "work");
  mkdirSync(work);
  const host = run(["sh", "-c", WORKLOAD], { cwd: work, env: { PATH: bin, LC_ALL: "C" } });
  if (host.stderr !== "" || host.status !== 0) throw new Error(`the workload failed on the host${via === undefined ? "" : ` in ${via}`}: ${host.stderr}`);
  return host.stdout;
}


describe("Debian's 686 kernel", () => {
  let busybox: Uint8Array;
  let scratch: string;
  /** The workload's output run on the host (natively, else in QEMU's user mode), and how. */
  let host: { output: string; how: string } | undefined;
  let staticLibc: Uint8Array;
  beforeAll(() => {
    busybox = cached("busybox");
    scratch = mkdtempSync(join(tmpdir(), "afterglow-linux-"));
    staticLibc = buildStaticLibc(scratch);
    if (gccM32(true)) host = { output: hostWorkload(scratch, staticLibc), how: "the host CPU's" };
    else if (existsSync(QEMU_I386)) host = { output: hostWorkload(scratch, staticLibc, QEMU_I386), how: "qemu-i386's" };
  });
  afterAll(() => {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  // The ELF vmlinux inside Debian's bzImage (scripts/extract-vmlinux.sh): the same kernel without
  // its in-guest xz decompressor, which the 686-pae test runs. 1.6 G instructions with the workload.
  it.each(["stack", "bare"] as const)("boots the kernel (%s) to the marker and runs a workload whose output equals the host's", (machine) => {
    const initrd = buildInitramfs({ busybox, workload: WORKLOAD, programs: [{ name: "static-libc", data: staticLibc }] });
    const r = boot(machine, cached("vmlinux"), initrd);
    expect(r.text).toMatch(/\nBOOT-OK 6\.\d+\.\d+-\d+-686\n/);
    expect(r.text).toContain("Kernel command line: " + CMDLINE);
    expect(r.text).not.toMatch(/Oops|BUG:|WARNING:|Call Trace|unchecked MSR/);
    expect(r.stop).toBe(Stop.RESET);
    const output = workloadOutput(r.text);
    expect(output.split("\n").length).toBeGreaterThan(25);
    expect(output).toContain("libc setjmp 21\n");
    // The kernel keeps time as on hardware: it calibrates its TSC against PIT channel 2 (in the
    // VM, the VMM's PIT read through I/O exits) to within its 500 ppm of the TSC's 1 GHz, and
    // reads the clock from the TSC (in the VM without exits).
    expect(r.text).toContain("tsc: Fast TSC calibration using PIT\n");
    const mhz = Number(/tsc: Detected (\d+\.\d+) MHz processor\n/.exec(r.text)?.[1]);
    expect(Math.abs(mhz - 1000)).toBeLessThanOrEqual(0.5);
    expect(r.text).toContain("clocksource: Switched to clocksource tsc\n");
    expect(r.text).not.toMatch(/TSC unstable|Unable to calibrate/);
    expect(r.exits.RDTSC).toBeUndefined();
    // Last, and asked here rather than for the file: the other boots need no 32-bit host
    // programs. Where the host cannot run them, the checks above still hold (under CI the test
    // fails here).
    if (oracle("the workload run on the host as oracle (a kernel that runs 32-bit programs, or qemu-i386)", host !== undefined, QEMU_I386_INSTALL)) {
      expect(output, `the guest's output is not ${host!.how}`).toBe(host!.output);
    }
  }, 1_800_000);

  // The bzImage as Debian ships it: the decompressor runs in the guest (about 2.3 G instructions).
  it("boots the 686-pae bzImage (PAE paging, NX) to the marker", () => {
    const r = boot("bare", cached("vmlinuz-686-pae"), buildInitramfs({ busybox }));
    expect(r.text).toMatch(/\nBOOT-OK 6\.\d+\.\d+-\d+-686-pae\n/);
    expect(r.text).not.toMatch(/NX \(Execute Disable\) protection cannot be enabled/);
    expect(r.text).toMatch(/NX \(Execute Disable\) protection: active/);
    expect(r.text).not.toMatch(/Oops|BUG:|WARNING:|Call Trace|unchecked MSR/);
    expect(r.stop).toBe(Stop.RESET);
  }, 1_800_000);

  // Through the CLI (dist/, which the global setup has just built), as a user types; recorded,
  // then replayed by another process with no input: the same console, byte for byte. One way
  // round the recording is made with the compiler and replayed on the interpreter alone
  // (--interpret), the other way round the other: compiled code must be invisible to both.
  it.each([
    ["stack", "compiled, replayed interpreted", [], ["--interpret"]],
    ["bare", "interpreted, replayed compiled", ["--interpret"], []],
  ] as const)("answers typed commands in an interactive shell (%s), recorded %s, and the recording replays identically", (machine, _how, recordFlags, replayFlags) => {
    const cli = (args: string[], input?: string) =>
      spawnSync(process.execPath, [join(ROOT, "bin", "afterglow.js"), ...args], { input, encoding: "utf8", timeout: 900_000 });
    const initrd = join(scratch, `shell-${machine}.cpio.gz`);
    const b = cli(["guest", "build-initramfs", "--busybox", join(CACHE, "busybox"), "--out", initrd]);
    expect(b.status, b.stderr).toBe(0);
    const rec = join(scratch, `shell-${machine}.rec`);
    const kernel = join(CACHE, "vmlinux");
    const r = cli(
      ["record", "-o", rec, ...recordFlags, ...(machine === "bare" ? ["--bare"] : []), "--kernel", kernel, "--initrd", initrd, "--ram", "128", "--append", `${CMDLINE} shell`],
      "echo answer=$((6*7))\nuname -m\ncd /proc && cat cmdline\nsleep 1; echo slept\nexit\n",
    );
    const text = r.stdout.replace(/\r\n/g, "\n");
    expect(r.status, r.stderr).toBe(0);
    expect(text).toContain("\nanswer=42\n");
    expect(text).toContain("\ni686\n");
    expect(text).toContain(`\n${CMDLINE} shell\n`);
    expect(text).toContain("\nslept\n");
    expect(r.stderr).toMatch(/afterglow: guest rebooted at /);

    const p = cli(["replay", rec, ...replayFlags, "--kernel", kernel, "--initrd", initrd], "");
    const checks = machine === "stack" ? "every state hash and all [\\d,]+ VM exits matched" : "every state hash matched";
    expect(p.stderr).toMatch(new RegExp(`^afterglow: replayed to the recording's end \\(reboot(: the guest reset the machine \\(.*\\))?\\) at icount [\\d,]+, guest [\\d.]+ s; ${checks};`));
    expect(p.status).toBe(0);
    expect(p.stdout).toBe(r.stdout);
  }, 1_800_000);
});
