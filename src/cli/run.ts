import { closeSync, openSync, writeSync } from "node:fs";
import { basename } from "node:path";
import type { Command } from "commander";
import { DEFAULT_HASH_EVERY, Session, Stop, endReasonOf, type Guest, type MachineKind } from "../replay/session.js";
import { HostConsole } from "./console.js";
import { builtinGuestPath, readImage } from "./images.js";
import { formatSummary } from "./summary.js";
import { runUnderGdb } from "./gdb-serve.js";
import { INTERPRET_HELP, jitOption, parsePositive } from "./options.js";
import { Progress } from "./progress.js";

const STOP_NAMES: Record<Stop, string> = {
  [Stop.BUDGET]: "instruction limit reached",
  [Stop.HALT]: "guest halted",
  [Stop.EXCEPTION]: "unhandled exception",
  [Stop.SHUTDOWN]: "triple fault (shutdown)",
  [Stop.REQUEST]: "stopped on request",
  [Stop.RESET]: "guest rebooted",
  [Stop.IDLE]: "guest idle and console input ended",
  [Stop.VMEXIT]: "VM exit",
};

/** Instructions, and guest time for a guest that idles, between looks at the host (console input, Ctrl-A x, progress). */
const SLICE = 4_000_000;
const SLICE_NS = 100_000_000;

export interface RunOptions {
  bare?: boolean;
  image?: string;
  kernel?: string;
  initrd?: string;
  append: string;
  maxInsns?: number;
  ram?: number;
  post?: boolean;
  interpret?: boolean;
}

export function registerRun(program: Command): void {
  guestOptions(program.command("run").description("run a guest (default: the built-in guest) with its serial console on this terminal"))
    .option("--gdb <[host:]port>", "stop at the first instruction and wait for gdb on this port (127.0.0.1 unless a host is given)")
    .option("--symbols <elf>", "with --gdb: the guest's symbol file, for the gdb command line printed")
    .action(async (opts: RunOptions & { gdb?: string; symbols?: string }) => {
      const con = new HostConsole();
      try {
        const { guest, ramSize, machine } = loadGuest(opts);
        const session = new Session({ guest, machine, ramSize, rtcEpochSeconds: Math.floor(Date.now() / 1000), console: (b) => con.output(b), jit: jitOption(opts) });
        if (opts.gdb !== undefined) return await runUnderGdb(session, con, opts.gdb, opts.symbols);
        await runToStop(session, con, opts.maxInsns ?? Number.MAX_SAFE_INTEGER, opts.post ? new PostLog(session, con) : undefined);
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
  ).action(async (opts: RunOptions & { output: string; embed?: boolean; hashEvery: number }) => {
    const con = new HostConsole();
    let fd: number | undefined;
    try {
      const { guest, ramSize, machine } = loadGuest(opts);
      try {
        fd = openSync(opts.output, "w");
      } catch (err) {
        throw new Error(`cannot write ${opts.output}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      }
      const out = fd;
      const session = new Session(
        { guest, machine, ramSize, rtcEpochSeconds: Math.floor(Date.now() / 1000), console: (b) => con.output(b), jit: jitOption(opts) },
        { sink: (bytes) => writeSync(out, bytes), argv: process.argv.slice(2), tool: `afterglow ${program.version() ?? ""}`.trim(), embedImages: opts.embed === true, hashEvery: opts.hashEvery },
      );
      let stop: Stop;
      try {
        stop = await runToStop(session, con, opts.maxInsns ?? Number.MAX_SAFE_INTEGER, opts.post ? new PostLog(session, con) : undefined);
      } catch (err) {
        session.end("host-error", err instanceof Error ? err.message : String(err));
        throw err;
      }
      session.end(endReasonOf(stop));
      process.stderr.write(`afterglow: recorded to ${opts.output}\n`);
    } finally {
      if (fd !== undefined) closeSync(fd);
      con.close();
    }
  });
}

/** The options that say which guest to run, shared by run and record. */
function guestOptions(cmd: Command): Command {
  return cmd
    .option("--bare", "run the guest straight on the emulated PC, without the L4 kernel and the VMM")
    .option("--image <file>", "flat boot image loaded at 0x7c00 in real mode (default: built-in guest)")
    .option("--kernel <bzImage>", "boot Linux by the 32-bit boot protocol from this bzImage or vmlinux")
    .option("--initrd <file>", "initial ramdisk for --kernel")
    .option("--append <cmdline>", "kernel command line for --kernel", "console=ttyS0")
    .option("--max-insns <n>", "stop after this many instructions", (v) => parsePositive(v, "--max-insns"))
    .option("--ram <MiB>", "RAM size in MiB (default: 32, or 256 for Linux)", (v) => parsePositive(v, "--ram"))
    .option("--post", "print each POST code the guest writes to port 0x80 on stderr (the summary shows the last one)")
    .option("--interpret", INTERPRET_HELP)
    .addHelpText(
      "after",
      "\nBy default the guest runs in a VM: the L4 microkernel and the user-level VMM run on the emulated PC\n" +
        "and the guest under them; a summary of the layers' work is printed at the end.\n" +
        "On a terminal the console is raw: Ctrl-A x quits, Ctrl-A s shows the summary, Ctrl-A Ctrl-A types Ctrl-A.\n" +
        "Piped input is typed a line at a time whenever the guest waits for it.",
    );
}

function loadGuest(opts: RunOptions): { guest: Guest; ramSize: number; machine: MachineKind } {
  if (opts.image !== undefined && opts.kernel !== undefined) throw new Error("--image and --kernel exclude each other");
  if (opts.initrd !== undefined && opts.kernel === undefined) throw new Error("--initrd needs --kernel");
  const guest: Guest =
    opts.kernel !== undefined
      ? {
          kind: "linux",
          kernel: readImage(opts.kernel),
          kernelName: basename(opts.kernel),
          initrd: opts.initrd === undefined ? undefined : readImage(opts.initrd),
          initrdName: opts.initrd === undefined ? undefined : basename(opts.initrd),
          cmdline: opts.append,
        }
      : { kind: "image", bytes: readImage(opts.image ?? builtinGuestPath()), name: basename(opts.image ?? builtinGuestPath()) };
  const mib = opts.ram ?? (guest.kind === "linux" ? 256 : 32);
  const machine: MachineKind = opts.bare ? "bare" : "stack";
  // The VMM maps guest RAM in 4 MiB pieces.
  if (machine === "stack" && mib % 4 !== 0) throw new Error(`--ram must be a multiple of 4 MiB for a guest in a VM (got ${mib}); or use --bare`);
  return { guest, ramSize: mib * 2 ** 20, machine };
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

/** Runs the session to its stop, feeding it console input, and prints the summary line. */
export async function runToStop(session: Session, con: HostConsole, maxInsns: number, post?: PostLog): Promise<Stop> {
  const t0 = process.hrtime.bigint();
  const progress = Progress.wanted() ? new Progress(session, t0) : undefined;
  let stop: Stop;
  for (;;) {
    const target = Math.min(maxInsns, session.position().icount + SLICE);
    const maxNs = session.guestTimeNs() + SLICE_NS;
    stop = session.run({ maxInsns: target, maxNs, onIdle: () => con.feedIdle(session) });
    con.flush();
    post?.flush();
    progress?.show();
    if (stop === Stop.IDLE) {
      // Nothing but input can wake the guest: type what is pending, or wait for the user.
      if (con.feedIdle(session, true) || ((await con.waitForInput()) && con.feedIdle(session, true))) continue;
      if (con.quit) stop = Stop.REQUEST;
      break;
    }
    if (stop !== Stop.BUDGET || session.position().icount >= maxInsns) break;
    // Let the host's events in (typed bytes, Ctrl-A x) between slices.
    await new Promise((resolve) => setImmediate(resolve));
    if (con.quit) {
      stop = Stop.REQUEST;
      break;
    }
    if (con.summaryWanted) {
      con.summaryWanted = false;
      const summary = session.summary();
      if (summary) process.stderr.write(`${con.atLineStart() ? "" : "\n"}${formatSummary(summary, Number(process.hrtime.bigint() - t0) / 1e9).replace(/\n/g, "\r\n")}\r\n`);
    }
    con.feedTyped(session);
  }
  progress?.clear();
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const pos = session.position();
  const where = `${pos.cs.toString(16).padStart(4, "0")}:${pos.eip.toString(16).padStart(8, "0")}`;
  let line = `afterglow: ${STOP_NAMES[stop]} at ${where} after ${pos.icount.toLocaleString("en-US")} instructions`;
  const detail = session.stopDetail();
  if (detail !== undefined && stop !== Stop.BUDGET && stop !== Stop.REQUEST && stop !== Stop.IDLE) line += ` (${detail})`;
  line += `, ${(session.guestTimeNs() / 1e9).toFixed(2)} s guest, ${secs.toFixed(2)} s host, ${(pos.icount / Math.max(secs, 1e-9) / 1e6).toFixed(1)} MIPS`;
  process.stderr.write(`${con.atLineStart() ? "" : "\n"}${line}\n`);
  const summary = session.summary();
  if (summary) process.stderr.write(`${formatSummary(summary, secs)}\n`);
  process.stderr.write(`POST      0x${hex2(session.postCode())} (port 0x80's latch: the last code written, 00 after power-on)\n`);
  if (stop !== Stop.HALT && stop !== Stop.RESET && stop !== Stop.IDLE && stop !== Stop.REQUEST) process.exitCode = 2;
  return stop;
}
