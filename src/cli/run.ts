import { closeSync, existsSync, realpathSync } from "node:fs";
import { constants as osConstants } from "node:os";
import { basename, resolve } from "node:path";
import { Option, type Command } from "commander";
import { DEFAULT_HANG_NS, EndWatch, formatSeconds, type EndLimits, type RunEnd } from "../replay/ends.js";
import { RAM_MIB, ramSizeProblem } from "../replay/machine-config.js";
import type { EndReason } from "../replay/recording.js";
import { DEFAULT_HASH_EVERY, Session, Stop, type Guest, type MachineKind } from "../replay/session.js";
import { HostConsole } from "./console.js";
import { UsageError } from "./errors.js";
import { openUserFile, writeUserFd } from "./files.js";
import { checkBootImage, checkInitrd, checkKernel } from "./image-kind.js";
import { linuxRamNeeded } from "../x86/linux-boot.js";
import { builtinGuestPath, readImage } from "./images.js";
import { formatSummary } from "./summary.js";
import { runUnderGdb } from "./gdb-serve.js";
import { INTERPRET_HELP, jitOption, parsePositive, parseSeconds } from "./options.js";
import { Progress, speedText } from "./progress.js";
import { readSymbols } from "./symbols.js";

/** The summary line's name for each end. */
const END_NAMES: Record<EndReason, string> = {
  halt: "guest halted",
  reboot: "guest rebooted",
  "triple-fault": "triple fault (shutdown)",
  exception: "unhandled exception",
  panic: "kernel panic",
  hang: "guest hung",
  idle: "guest idle and console input ended",
  "user-stop": "stopped on request",
  limit: "limit reached",
  "host-error": "host error",
};

/** Ends that are not a failure of the guest or a limit: exit status 0. */
const CLEAN_ENDS: readonly EndReason[] = ["halt", "reboot", "idle", "user-stop"];

/** Instructions, and guest time for a guest that idles, between looks at the host (console input, Ctrl-A x, progress). */
const SLICE = 4_000_000;
const SLICE_NS = 100_000_000;
/**
 * State hashes per slice at most. A hash costs about half a millisecond (the machine's whole state,
 * RAM by its pages' digests), so with a small --hash-every a slice of SLICE instructions would keep
 * Ctrl-A keys, signals and the status line out for half an hour; this keeps a slice near half a second.
 */
const HASHES_PER_SLICE = 1000;

/**
 * Below this --hash-every the hashes cost more host time than the run itself: a hash costs as much
 * as running some 10,000 instructions (more in a guest that runs fast), and writes about 70 bytes
 * of recording that do not compress (a digest is random).
 */
export const CHEAP_HASH_EVERY = 100_000;
const HASH_BYTES = 70;
const HASH_COST_INSNS = 10_000;

/** The one line `record` (and `chaos`: `what` is "each run") prints up front for a --hash-every that makes recording slow and large, or undefined. */
export function hashCostWarning(hashEvery: number, what = "this record"): string | undefined {
  if (hashEvery >= CHEAP_HASH_EVERY) return undefined;
  const perMillion = (HASH_BYTES * 1e6) / hashEvery;
  const size = perMillion >= 1e6 ? `${(perMillion / 1e6).toFixed(0)} MB` : `${(perMillion / 1e3).toFixed(0)} KB`;
  const slower = 1 + HASH_COST_INSNS / hashEvery;
  return (
    `afterglow: --hash-every ${hashEvery.toLocaleString("en-US")}: each state hash costs about as much host time as ${HASH_COST_INSNS.toLocaleString("en-US")} instructions, ` +
    `so expect ${what} to run up to ${slower < 10 ? slower.toFixed(1) : Math.round(HASH_COST_INSNS / hashEvery).toLocaleString("en-US")}x slower and write ${size} per million instructions ` +
    `(from ${CHEAP_HASH_EVERY.toLocaleString("en-US")} up the cost is small)`
  );
}

export interface GuestOptions {
  bare?: boolean;
  image?: string;
  kernel?: string;
  initrd?: string;
  append: string;
  maxInsns?: number;
  maxTime?: number;
  hangTime: number;
  ram?: number;
  post?: boolean;
  interpret?: boolean;
}

export function registerRun(program: Command): void {
  guestOptions(program.command("run").description("run a guest (default: the built-in guest) with its serial console on this terminal"))
    .option("--gdb <[host:]port>", "stop at the first instruction and wait for gdb on this port (127.0.0.1 unless a host is given)")
    .option("--symbols <elf>", "with --gdb: the guest's symbol file, for the gdb command line printed")
    .action(async (opts: GuestOptions & { gdb?: string; symbols?: string }) => {
      if (opts.symbols !== undefined) readSymbols(opts.symbols);
      const con = new HostConsole();
      try {
        const { guest, ramSize, machine } = loadGuest(opts);
        let watch: EndWatch | undefined;
        const session = new Session({
          guest, machine, ramSize, rtcEpochSeconds: Math.floor(Date.now() / 1000), jit: jitOption(opts),
          console: (b) => {
            watch?.output(b);
            con.output(b);
          },
        });
        if (opts.gdb !== undefined) return await runUnderGdb(session, con, opts.gdb, { symbols: opts.symbols, limits: limitsOf(opts) });
        watch = new EndWatch(session, limitsOf(opts));
        await runToEnd(session, con, watch, opts.post ? new PostLog(session, con) : undefined);
      } finally {
        con.close();
      }
    });

  guestOptions(
    program
      .command("record")
      .description("run a guest as `run` does and record every input and state hash, so that `afterglow replay` reproduces the run")
      .option("-o, --output <file>", "the recording to write", "afterglow.rec")
      .option("--embed", "put the guest images into the recording, so it replays anywhere (as `afterglow pack` does)")
      .option("--hash-every <n>", "instructions between state hashes", (v) => parsePositive(v, "--hash-every"), DEFAULT_HASH_EVERY),
  ).action(async (opts: GuestOptions & { output: string; embed?: boolean; hashEvery: number }) => {
    const con = new HostConsole();
    let fd: number | undefined;
    try {
      const { guest, ramSize, machine } = loadGuest(opts);
      refuseOverwritingInput(opts.output, guest);
      const warning = hashCostWarning(opts.hashEvery);
      if (warning !== undefined) process.stderr.write(`${warning}\n`);
      fd = openUserFile(opts.output);
      const out = fd;
      let watch: EndWatch | undefined;
      const session = new Session(
        {
          guest, machine, ramSize, rtcEpochSeconds: Math.floor(Date.now() / 1000), jit: jitOption(opts),
          console: (b) => {
            watch?.output(b);
            con.output(b);
          },
        },
        { sink: (bytes) => writeUserFd(out, opts.output, bytes), argv: process.argv.slice(2), tool: `afterglow ${program.version() ?? ""}`.trim(), embedImages: opts.embed === true, hashEvery: opts.hashEvery },
      );
      watch = new EndWatch(session, limitsOf(opts));
      let end: RunEnd;
      try {
        end = await runToEnd(session, con, watch, opts.post ? new PostLog(session, con) : undefined);
      } catch (err) {
        session.end("host-error", err instanceof Error ? err.message : String(err));
        throw err;
      }
      session.end(end.reason, end.detail);
      process.stderr.write(`afterglow: recorded to ${opts.output}\n`);
    } finally {
      if (fd !== undefined) closeSync(fd);
      con.close();
    }
  });
}

/** The options that say which guest to run and for how long, shared by run, record and chaos. */
export function guestOptions(cmd: Command): Command {
  return cmd
    .option("--bare", "run the guest straight on the emulated PC, without the L4 kernel and the VMM")
    .option("--image <file>", "flat boot image loaded at 0x7c00 in real mode (default: built-in guest)")
    .option("--kernel <bzImage>", "boot Linux by the 32-bit boot protocol from this bzImage or vmlinux")
    .option("--initrd <file>", "initial ramdisk for --kernel")
    .option("--append <cmdline>", "kernel command line for --kernel", "console=ttyS0")
    .option("--max-insns <n>", "stop after this many instructions", (v) => parsePositive(v, "--max-insns"))
    .option("--max-time <seconds>", "stop after this much guest time", (v) => parseSeconds(v, "--max-time"))
    .addOption(
      // The value is in ns, the option in seconds: help shows the default as the user writes it.
      new Option("--hang-time <seconds>", "a guest that retires no instruction and prints nothing for this much guest time has hung")
        .argParser((v) => parseSeconds(v, "--hang-time"))
        .default(DEFAULT_HANG_NS, formatSeconds(DEFAULT_HANG_NS)),
    )
    .option("--ram <MiB>", "RAM size in MiB (default: 32, or 256 for Linux)", (v) => parsePositive(v, "--ram"))
    .option("--post", "print each POST code the guest writes to port 0x80 on stderr (the summary shows the last one)")
    .option("--interpret", INTERPRET_HELP)
    .addHelpText(
      "after",
      "\nBy default the guest runs in a VM: the L4 microkernel and the user-level VMM run on the emulated PC\n" +
        "and the guest under them; a summary of the layers' work is printed at the end.\n" +
        "On a terminal the console is raw: Ctrl-A x quits, Ctrl-A s shows the summary, Ctrl-A Ctrl-A types Ctrl-A.\n" +
        "Piped input is typed a line at a time whenever the guest waits for it.\n" +
        "A run ends when the guest halts or reboots, fails (triple fault, an exception it cannot take, a kernel\n" +
        "panic, a hang), or reaches a limit; the exit status is 0 only for a halt, a reboot or a quit.",
    );
}

export function limitsOf(opts: GuestOptions): EndLimits {
  return { maxInsns: opts.maxInsns, maxNs: opts.maxTime, hangNs: opts.hangTime };
}

export function loadGuest(opts: GuestOptions): { guest: Guest; ramSize: number; machine: MachineKind } {
  if (opts.image !== undefined && opts.kernel !== undefined) throw new UsageError("--image and --kernel exclude each other");
  if (opts.initrd !== undefined && opts.kernel === undefined) throw new UsageError("--initrd needs --kernel");
  const image = opts.image ?? builtinGuestPath();
  const guest: Guest =
    opts.kernel !== undefined
      ? {
          kind: "linux",
          kernel: readImage(opts.kernel),
          kernelName: basename(opts.kernel),
          kernelPath: resolve(opts.kernel),
          initrd: opts.initrd === undefined ? undefined : readImage(opts.initrd),
          initrdName: opts.initrd === undefined ? undefined : basename(opts.initrd),
          initrdPath: opts.initrd === undefined ? undefined : resolve(opts.initrd),
          cmdline: opts.append,
        }
      : { kind: "image", bytes: readImage(image), name: basename(image), path: resolve(image) };
  // Caught here, not by the VMM's boot (which fails the run with a summary), nor by the bare PC
  // (which would run the zeroed memory it leaves).
  if (guest.kind === "image" && guest.bytes.length === 0) throw new UsageError(`the boot image ${image} is empty`);
  if (guest.kind === "image") checkBootImage(image, guest.bytes);
  else {
    // The initrd first: a kernel given as the initrd most likely means the two were swapped.
    if (guest.initrd !== undefined) checkInitrd(opts.initrd!, guest.initrd);
    checkKernel(opts.kernel!, guest.kernel);
  }
  const mib = opts.ram ?? (guest.kind === "linux" ? 256 : 32);
  const machine: MachineKind = opts.bare ? "bare" : "stack";
  const problem = ramSizeProblem(mib * 2 ** 20, machine);
  if (problem !== undefined) throw new UsageError(`--ram ${mib}: ${problem}${machine === "stack" ? " (or use --bare)" : ""}`);
  const need = ramNeeded(guest, opts.image === undefined);
  if (need !== undefined) {
    // In MiB, as --ram takes it, and in the machine's multiple (4 MiB pieces in a VM).
    const multiple = RAM_MIB[machine].multiple;
    const least = Math.max(RAM_MIB[machine].min, Math.ceil(need.bytes / 2 ** 20 / multiple) * multiple);
    if (mib < least) throw new UsageError(`--ram ${mib}: ${need.what} at least ${least} MiB${machine === "stack" ? " in a VM" : ""}: ${need.why}`);
  }
  return { guest, ramSize: mib * 2 ** 20, machine };
}

/** The built-in guest's user stack starts at 2 MiB (guests/builtin/hello.asm: USTACK). */
const BUILTIN_RAM = 2 * 2 ** 20;

/**
 * The least RAM the guest runs in, when it is known: with less, a guest does not fail cleanly but
 * faults on memory that is not there, over and over (the built-in guest in 1 MiB loops on page
 * faults forever). A flat image of the user's says nothing of its needs.
 */
function ramNeeded(guest: Guest, builtin: boolean): { bytes: number; /** Who needs it, with the verb. */ what: string; why: string } | undefined {
  if (guest.kind === "linux") return { ...linuxRamNeeded({ kernel: guest.kernel, initrd: guest.initrd, cmdline: guest.cmdline }), what: guest.initrd ? "this kernel and initrd need" : "this kernel needs" };
  if (builtin) return { bytes: BUILTIN_RAM, what: "the built-in guest needs", why: "its user program's stack is at 2 MiB" };
  return undefined;
}

/** `record -o FILE` must not write the recording over one of the images it records. */
function refuseOverwritingInput(output: string, guest: Guest): void {
  const real = (p: string) => (existsSync(p) ? realpathSync(p) : resolve(p));
  const out = real(output);
  const inputs = guest.kind === "image" ? [guest.path] : [guest.kernelPath, guest.initrdPath];
  for (const p of inputs) {
    if (p !== undefined && real(p) === out) throw new UsageError(`refusing to write the recording ${output} over its own input image ${p}: choose another -o`);
  }
}

/**
 * `--post`: each code the guest writes to port 0x80, one line on stderr ("POST 0x1a at icount
 * 12345"). Linux writes the port as an I/O delay thousands of times, so lines are gathered and
 * written per slice, not per write.
 */
export class PostLog {
  private readonly lines: string[] = [];

  constructor(
    session: Session,
    private readonly con: HostConsole,
  ) {
    session.onPost((code, icount) => {
      this.lines.push(`POST 0x${hex2(code)} at icount ${icount}`);
      if (this.lines.length >= 4096) this.flush();
    });
  }

  flush(): void {
    if (this.lines.length === 0) return;
    this.con.flush();
    const eol = this.con.lineEnd();
    process.stderr.write(`${this.lines.join(eol)}${eol}`);
    this.lines.length = 0;
  }
}

const hex2 = (v: number): string => v.toString(16).padStart(2, "0");

/** Runs the session to its end, feeding it console input, and prints the summary line. */
export async function runToEnd(session: Session, con: HostConsole, watch: EndWatch, post?: PostLog): Promise<RunEnd> {
  const t0 = process.hrtime.bigint();
  const progress = Progress.wanted() ? new Progress(session, t0) : undefined;
  const keepSignals = con.quitOnSignals();
  let end: RunEnd;
  try {
    end = await runSlices(session, con, watch, t0, post, progress);
  } finally {
    keepSignals();
  }
  progress?.clear();
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const pos = session.position();
  const where = `${pos.cs.toString(16).padStart(4, "0")}:${pos.eip.toString(16).padStart(8, "0")}`;
  let line = `afterglow: ${END_NAMES[end.reason]} at ${where} after ${pos.icount.toLocaleString("en-US")} instructions`;
  if (end.detail !== undefined && end.reason !== "idle") line += ` (${end.detail})`;
  line += `, ${(session.guestTimeNs() / 1e9).toFixed(2)} s guest, ${secs.toFixed(2)} s host, ${speedText(pos.icount, secs)}`;
  process.stderr.write(`${con.atLineStart() ? "" : "\n"}${line}\n`);
  const summary = session.summary();
  if (summary) process.stderr.write(`${formatSummary(summary, secs)}\n`);
  process.stderr.write(`POST      0x${hex2(session.postCode())} (port 0x80's latch: the last code written, 00 after power-on)\n`);
  if (!CLEAN_ENDS.includes(end.reason)) process.exitCode = 2;
  // As a shell reports a command a signal ended: 128 + its number (130 for SIGINT).
  else if (con.signal !== undefined) process.exitCode = 128 + osConstants.signals[con.signal];
  return end;
}

/** The guest's end, reached slice by slice, with the host's events (input, Ctrl-A keys, signals) let in between. */
async function runSlices(session: Session, con: HostConsole, watch: EndWatch, t0: bigint, post: PostLog | undefined, progress: Progress | undefined): Promise<RunEnd> {
  const slice = Math.min(SLICE, session.hashInterval() * HASHES_PER_SLICE);
  for (;;) {
    let stop = session.run({ ...watch.bounds(slice, SLICE_NS), onIdle: () => con.feedIdle(session) });
    con.flush();
    post?.flush();
    progress?.show();
    if (stop === Stop.IDLE) {
      // Nothing but input can wake the guest: type what is pending, or wait for the user when
      // input could wake it at all.
      if (con.feedIdle(session, true)) continue;
      if (session.inputCanWake() && (await con.waitForInput()) && con.feedIdle(session, true)) continue;
      if (con.quit) stop = Stop.REQUEST;
    }
    const end = watch.check(stop, con.inputOpen());
    if (end !== null) return stop === Stop.REQUEST ? { ...end, detail: con.signal } : end;
    // Let the host's events in (typed bytes, Ctrl-A x, a signal) between slices.
    await new Promise((resolve) => setImmediate(resolve));
    if (con.quit) return { reason: "user-stop", stop: Stop.REQUEST, detail: con.signal };
    if (con.summaryWanted) {
      con.summaryWanted = false;
      const summary = session.summary();
      if (summary) process.stderr.write(`${con.atLineStart() ? "" : "\n"}${formatSummary(summary, Number(process.hrtime.bigint() - t0) / 1e9).replace(/\n/g, "\r\n")}\r\n`);
    }
    con.feedTyped(session);
  }
}
