// `afterglow replay | info | pack`: reading recordings back.

import { resolve } from "node:path";
import { Option, type Command } from "commander";
import { checkListenable, formatAddress } from "../gdbstub/listen.js";
import { replayInspected } from "../inspect/channel.js";
import { FORMAT_VERSION, MAGIC, RecordingWriter, type ReadRecording, type Record } from "../replay/recording.js";
import { Debugger, GPR_NAMES, SEG_NAMES, type DebugError } from "../replay/debug.js";
import { Session, Stop, exitHistogram } from "../replay/session.js";
import type { Position, Target } from "../replay/timeline.js";
import { exitTable } from "./summary.js";
import { HostConsole } from "./console.js";
import { exposureWarning, gdbCommandLine, listenGdbOnChannel, parseGdbAddress, parseInspectAddress, replayUnderGdb } from "./gdb-serve.js";
import { runTuiOn } from "./tui.js";
import { startTimeTravel, type TimeTravelOptions } from "./checkpoints.js";
import { UsageError } from "./errors.js";
import { writeUserFile } from "./files.js";
import { INTERPRET_HELP, jitOption, parseBudget, parseCount, parsePositive, parseTarget } from "./options.js";
import { Progress, speedText } from "./progress.js";
import { readImage } from "./images.js";
import { loadRecording, recordingImages } from "./recordings.js";
import { shellQuote } from "./shell.js";
import { readSymbols } from "./symbols.js";

/** `afterglow replay FILE --inspect [HOST:]PORT [--gdb [HOST:]PORT] …`: the replay in a child under the V8 inspector. */
async function inspected(file: string, inspect: string, opts: { image?: string; kernel?: string; initrd?: string; maxInsns?: number; gdb?: string; symbols?: string; at?: number; checkpointBudget?: number; interpret?: boolean }): Promise<void> {
  const at = parseInspectAddress(inspect);
  const gdb = opts.gdb === undefined ? undefined : parseGdbAddress(opts.gdb);
  // Both are opened by others (Node's inspector in the child, which on failure prints a line and
  // runs on without it; src/inspect): find out first whether they can be, to say why not in one line.
  await checkListenable(at);
  if (gdb !== undefined) await checkListenable(gdb);
  const args: string[] = [];
  const pass = (name: string, v: string | number | undefined): void => {
    if (v !== undefined) args.push(name, String(v));
  };
  pass("--image", opts.image);
  pass("--kernel", opts.kernel);
  pass("--initrd", opts.initrd);
  pass("--max-insns", opts.maxInsns);
  // Where gdb finds the guest is the child's to reach: it serves gdb.
  pass("--at", opts.at);
  pass("--checkpoint-budget", opts.checkpointBudget);
  if (opts.interpret === true) args.push("--interpret");
  const code = await replayInspected(file, at, {
    gdb,
    args,
    onGdbListening: (g) => {
      const warning = exposureWarning(g, "replay");
      if (warning !== undefined) process.stderr.write(`${warning}\n`);
      process.stderr.write(`afterglow: the machine runs in a child process under the V8 inspector; gdb attaches on ${formatAddress(g)}:\n  ${gdbCommandLine(g, opts.symbols)}\n`);
    },
  });
  process.exitCode = code;
}

export function registerReplay(program: Command): void {
  program
    .command("replay")
    .argument("<file>", "a recording made by `afterglow record`")
    .description("replay a recording: the same console output, no input needed; stops at the first divergence")
    .option("--image <file>", "the boot image, when the recording does not carry it")
    .option("--kernel <file>", "the kernel, when the recording does not carry it")
    .option("--initrd <file>", "the initrd, when the recording does not carry it")
    .option("--max-insns <n>", "stop after this many instructions", (v) => parsePositive(v, "--max-insns"))
    .option("--gdb <[host:]port>", "stop at the first instruction and wait for gdb on this port (127.0.0.1 unless a host is given)")
    .option("--symbols <elf>", "with --gdb: the guest's symbol file, for the gdb command line printed; with --tui: names guest addresses")
    .option("--at <icount>", "with --gdb: wait for gdb with the guest stopped after this many instructions", (v) => parseCount(v, "--at"))
    .option("--checkpoint-budget <MiB>", "with --gdb or --to: memory for time travel's checkpoints (default: twice the machine's RAM)", parseBudget)
    .option("--to <position>", "replay to icount:N (after instruction N) or exit:N (at VM exit N) and print where it is and the registers", parseTarget)
    .option("--tui", "open the replay in the terminal UI (as `afterglow tui FILE`); with --gdb, gdb attaches to the same replay and both views move together")
    .option("--inspect <[host:]port>", "run the machine in a child process with the V8 inspector open here (127.0.0.1 unless a host is given): breakpoints by TypeScript line in src/vmm and src/l4; with --gdb, gdb attaches through this process")
    .option("--interpret", INTERPRET_HELP)
    .addOption(new Option("--gdb-channel", "serve gdb over the parent's IPC channel (--inspect's child)").hideHelp())
    .action(async (file: string, opts: { image?: string; kernel?: string; initrd?: string; maxInsns?: number; gdb?: string; symbols?: string; at?: number; to?: Target; tui?: boolean; inspect?: string; gdbChannel?: boolean; interpret?: boolean } & TimeTravelOptions) => {
      if (opts.tui && opts.at !== undefined) throw new UsageError("--at does not go with --tui: g in the TUI goes to icount:N");
      if (opts.tui && opts.inspect !== undefined) throw new UsageError("--tui and --inspect together are not supported yet: use one of them");
      if (opts.at !== undefined && opts.gdb === undefined && !opts.gdbChannel) throw new UsageError("--at goes with --gdb (without it, --to or --max-insns stops the replay)");
      // --to is a replay of its own that prints and ends: beside a debugger it would be ignored.
      if (opts.to !== undefined && opts.maxInsns !== undefined) throw new UsageError("--to and --max-insns both say where the replay stops: give one of them");
      if (opts.to !== undefined && opts.tui) throw new UsageError("--to does not go with --tui: g in the TUI goes to icount:N or exit:N");
      if (opts.to !== undefined && (opts.gdb !== undefined || opts.inspect !== undefined)) throw new UsageError(`--to does not go with ${opts.gdb !== undefined ? "--gdb" : "--inspect"}: --at N has gdb attach after N instructions, and gdb's monitor seek goes to exit N`);
      // The TUI reads them itself; the others only print them in gdb's command line.
      if (opts.symbols !== undefined && !opts.tui) readSymbols(opts.symbols);
      // Loaded when asked for: ink and React are most of the CLI's start-up time.
      if (opts.tui) return runTuiOn(file, opts);
      if (opts.inspect !== undefined) return inspected(file, opts.inspect, opts);
      if (opts.gdbChannel) return replayUnderGdb(file, undefined, opts, (target, o) => listenGdbOnChannel(target, o));
      if (opts.gdb !== undefined) return replayUnderGdb(file, opts.gdb, opts);
      if (opts.to !== undefined) return replayTo(file, opts.to, opts);
      const rec = loadRecording(file);
      const con = new HostConsole(undefined, { input: false });
      try {
        const session = Session.replay(rec, (b) => con.output(b), recordingImages(rec, file, opts), { jit: jitOption(opts) });
        const t0 = process.hrtime.bigint();
        const progress = Progress.wanted() ? new Progress(session, t0) : undefined;
        const stop = session.run({ maxInsns: opts.maxInsns, onProgress: progress && (() => progress.show()) });
        progress?.clear();
        con.flush();
        const secs = Number(process.hrtime.bigint() - t0) / 1e9;
        const p = session.position();
        const speed = speedText(p.icount, secs);
        const prefix = con.atLineStart() ? "" : "\n";
        if (session.replayDone() && rec.end) {
          process.stderr.write(
            `${prefix}afterglow: replayed to the recording's end (${rec.end.reason}${rec.end.detail ? `: ${rec.end.detail}` : ""}) at icount ${p.icount.toLocaleString("en-US")}, ` +
              `guest ${(p.ns / 1e9).toFixed(2)} s; every state hash${session.exitCount() > 0 ? ` and all ${session.exitCount().toLocaleString("en-US")} VM exits` : ""} matched; ${secs.toFixed(2)} s host, ${speed}\n`,
          );
        } else if (stop === Stop.BUDGET && opts.maxInsns !== undefined && p.icount >= opts.maxInsns) {
          process.stderr.write(`${prefix}afterglow: stopped at --max-insns, icount ${p.icount.toLocaleString("en-US")}, ${speed}\n`);
        } else {
          const cut = rec.truncatedAt !== undefined ? `is truncated at byte ${rec.truncatedAt}` : "has no end record";
          const exits = session.exitCount() > 0 ? ` and all ${session.exitCount().toLocaleString("en-US")} VM exits` : "";
          process.stderr.write(
            `${prefix}afterglow: ${file} ${cut} (cut off while recording): replayed all it holds, to icount ${p.icount.toLocaleString("en-US")}, ` +
              `guest ${(p.ns / 1e9).toFixed(2)} s; every state hash${exits} matched\n`,
          );
          process.exitCode = 1;
        }
      } finally {
        con.close();
      }
    });

  program
    .command("info")
    .argument("<file>", "a recording")
    .description("describe a recording: header, images, duration, inputs, end")
    .action((file: string) => {
      process.stdout.write(describe(loadRecording(file), file));
    });

  program
    .command("pack")
    .argument("<file>", "a recording")
    .description("embed the guest images into a recording, so it replays on a machine that does not have them")
    .option("-o, --output <file>", "where to write the packed recording (default: FILE, rewritten)")
    .option("--image <file>", "the boot image, when not found beside the recording")
    .option("--kernel <file>", "the kernel, when not found beside the recording")
    .option("--initrd <file>", "the initrd, when not found beside the recording")
    .action((file: string, opts: { output?: string; image?: string; kernel?: string; initrd?: string }) => {
      const rec = loadRecording(file);
      if (rec.header.images.every((i) => i.data !== undefined)) {
        // Already self-contained: rewriting it would only re-chunk the same records.
        const names = rec.header.images.map((i) => i.name).join(", ");
        const copy = opts.output !== undefined && resolve(opts.output) !== resolve(file);
        if (copy) writeUserFile(opts.output!, readImage(file));
        process.stderr.write(`afterglow: ${file} already carries its images (${names}): ${copy ? `copied it to ${opts.output}` : "left it as it was"}\n`);
        return;
      }
      const have = recordingImages(rec, file, opts);
      const header = { ...rec.header, images: rec.header.images.map((i) => ({ ...i, data: i.data ?? have[i.role] })) };
      // Verify before writing: Session.replay checks each image against its hash.
      Session.replay({ ...rec, header }, () => {});
      const chunks: Uint8Array[] = [];
      const w = new RecordingWriter((b) => chunks.push(Uint8Array.from(b)), header);
      for (const r of rec.records) w.add(r);
      w.flush();
      const out = opts.output ?? file;
      writeUserFile(out, Buffer.concat(chunks));
      process.stderr.write(`afterglow: packed ${header.images.map((i) => i.name).join(", ")} into ${out}\n`);
    });
}

/** Instructions between the chances --to's status line has to change. */
const TO_SLICE = 20_000_000;

/**
 * Seeks to `to`, whose instruction count is about `goal`, in slices of instructions from where the
 * machine is, calling `onSlice` after each. A slice the replay cannot reach ends them: the seek to
 * `to` itself then says why.
 */
export function seekInSlices(dbg: Debugger, to: Target, goal: number, onSlice: () => void, slice = TO_SLICE): Position | DebugError {
  for (let at = dbg.position().icount + slice; at < goal; at += slice) {
    if ("error" in dbg.seek({ at: "step", icount: at })) break;
    onSlice();
  }
  return dbg.seek(to);
}

/** `afterglow replay FILE --to POSITION`: the `when` line and the registers there, on stdout. */
function replayTo(file: string, to: Target, opts: { image?: string; kernel?: string; initrd?: string; interpret?: boolean } & TimeTravelOptions): void {
  const rec = loadRecording(file);
  // For scripts: stdout has the position and registers only, not the guest's console.
  const session = Session.replay(rec, () => {}, recordingImages(rec, file, opts), { jit: jitOption(opts) });
  const dbg = new Debugger(session);
  // History starts where gdb's does, at the guest's first instruction: icount:0 is there, as
  // gdb's monitor seek icount 0, not at the reset before the VM had its registers.
  dbg.toFirstInstruction();
  const travel = startTimeTravel(dbg, file, opts);
  // Far into a Linux boot the seek takes a minute: a status line says it is under way (stdout
  // holds only the answer, so the line goes to a terminal's stderr whatever stdout is).
  const progress = process.stderr.isTTY === true ? new Progress(session, process.hrtime.bigint()) : undefined;
  const goal = to.at === "exit" ? (session.recordedExits()[to.exits - 1]?.icount ?? 0) : to.at === "step" || to.at === "insn" ? to.icount : 0;
  const r = progress === undefined ? dbg.seek(to) : seekInSlices(dbg, to, goal, () => progress.show());
  progress?.clear();
  travel.save();
  if ("error" in r) {
    process.stderr.write(`afterglow: ${r.message}\n`);
    process.exitCode = 1;
    return;
  }
  const p = dbg.position();
  const regs = dbg.registers() as unknown as { [k: string]: number };
  const hex = (v: number, digits = 8) => `0x${(v >>> 0).toString(16).padStart(digits, "0")}`;
  const line = (names: readonly string[], digits = 8) => names.map((n) => `${n} ${hex(regs[n], digits)}`).join(" ");
  process.stdout.write(
    `icount ${p.icount} exits ${p.exits} guest-ns ${p.ns} eip ${hex(p.eip)}\n${line(GPR_NAMES)}\n${line(["eip", "eflags"])} ${line(SEG_NAMES, 4)}\n`,
  );
}

function describe(rec: ReadRecording, file: string): string {
  const h = rec.header;
  const lines: string[] = [];
  lines.push(`${file}: afterglow recording, format ${h.format} (this afterglow reads ${FORMAT_VERSION}), ${MAGIC.toString("latin1")}`);
  lines.push(`made by    ${h.tool} on Node ${h.node}: afterglow ${h.argv.map(shellQuote).join(" ")}`);
  const kind = (h.machine.kind ?? "bare") === "stack" ? "in a VM under L4 and the VMM" : "on the bare PC";
  lines.push(`machine    ${h.machine.ramSize / 2 ** 20} MiB RAM, ${kind}; guest ${h.guest.kind === "linux" ? `Linux, command line "${h.guest.cmdline}"` : "flat boot image"}`);
  const t = h.machine.timing;
  if (t) {
    lines.push(
      `timing     ${h.seed !== undefined ? `chaos seed ${h.seed}: ` : ""}RTC phase ${t.rtcPhaseTicks}/32768 s, PIT phase ${t.pitPhaseNs} ns, ` +
        `interrupt latency ${t.irqLatencyNs} ns, L4 timeslice ${t.timesliceNs / 1e6} ms` +
        (t.uartTxNs ? `, serial character time ${t.uartTxNs} ns` : ""),
    );
  }
  for (const i of h.images) {
    const where = i.data ? " (embedded)" : i.path ? ` at ${i.path}` : "";
    lines.push(`image      ${i.role.padEnd(10)} ${i.name} ${i.size} bytes sha256 ${i.sha256.slice(0, 16)}…${where}`);
  }
  const inputs = rec.records.filter((r): r is Extract<Record, { t: "input" }> => r.t === "input");
  const consoleBytes = inputs.reduce((n, r) => n + (r.kind === "console" ? r.data.length : 0), 0);
  const rtc = inputs.find((r) => r.kind === "rtc");
  if (rtc?.kind === "rtc") lines.push(`clock      RTC starts at ${new Date(rtc.epochSeconds * 1000).toISOString()}`);
  // Its record may be in the part a cut-off recording lost: said, rather than a line gone missing.
  else if (!rec.end) lines.push("clock      not known: the RTC's start is not in what is left of the recording");
  lines.push(`inputs     ${inputs.length - (rtc ? 1 : 0)} console deliveries, ${consoleBytes} bytes`);
  lines.push(`hashes     ${rec.records.filter((r) => r.t === "hash").length} state hashes, one every ${h.hashEvery.toLocaleString("en-US")} instructions`);
  const last = [...rec.records].reverse().find((r) => r.t !== "exits");
  if (rec.end) {
    lines.push(`end        ${rec.end.reason}${rec.end.detail ? ` (${rec.end.detail})` : ""} at icount ${rec.end.icount.toLocaleString("en-US")}, guest ${(rec.end.ns / 1e9).toFixed(3)} s`);
  } else {
    const where = last && last.t !== "header" ? `; last record at icount ${last.icount.toLocaleString("en-US")}` : "";
    lines.push(`end        none: ${rec.truncatedAt !== undefined ? `truncated at byte ${rec.truncatedAt}` : "the recording stops without an end record"}${where}`);
  }
  const hist = exitHistogram(rec);
  if (hist === null) lines.push(`exits      none (the guest ran on the bare machine: no VMM, no VM exits)`);
  else {
    lines.push(`exits      ${hist.reduce((a, e) => a + e.count, 0).toLocaleString("en-US")} VM exits`);
    lines.push(...exitTable(hist));
  }
  return lines.join("\n") + "\n";
}
