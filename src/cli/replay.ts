// `afterglow replay | info | pack`: reading recordings back.

import { writeFileSync } from "node:fs";
import type { Command } from "commander";
import { FORMAT_VERSION, MAGIC, RecordingWriter, type ReadRecording, type Record } from "../replay/recording.js";
import { Session, Stop, exitHistogram } from "../replay/session.js";
import { exitTable } from "./summary.js";
import { HostConsole } from "./console.js";
import { replayUnderGdb } from "./gdb-serve.js";
import { INTERPRET_HELP, jitOption, parsePositive } from "./options.js";
import { Progress } from "./progress.js";
import { loadRecording, recordingImages } from "./recordings.js";

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
    .option("--symbols <elf>", "with --gdb: the guest's symbol file, for the gdb command line printed")
    .option("--interpret", INTERPRET_HELP)
    .action(async (file: string, opts: { image?: string; kernel?: string; initrd?: string; maxInsns?: number; gdb?: string; symbols?: string; interpret?: boolean }) => {
      if (opts.gdb !== undefined) return replayUnderGdb(file, opts.gdb, opts);
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
        const speed = `${(p.icount / Math.max(secs, 1e-9) / 1e6).toFixed(1)} MIPS`;
        const prefix = con.atLineStart() ? "" : "\n";
        if (session.replayDone() && rec.end) {
          process.stderr.write(
            `${prefix}afterglow: replayed to the recording's end (${rec.end.reason}) at icount ${p.icount.toLocaleString("en-US")}, ` +
              `guest ${(p.ns / 1e9).toFixed(2)} s; every state hash${session.exitCount() > 0 ? ` and all ${session.exitCount().toLocaleString("en-US")} VM exits` : ""} matched; ${secs.toFixed(2)} s host, ${speed}\n`,
          );
        } else if (stop === Stop.BUDGET && opts.maxInsns !== undefined && p.icount >= opts.maxInsns) {
          process.stderr.write(`${prefix}afterglow: stopped at --max-insns, icount ${p.icount.toLocaleString("en-US")}, ${speed}\n`);
        } else {
          const cut = rec.truncatedAt !== undefined ? `is truncated at byte ${rec.truncatedAt}` : "has no end record";
          process.stderr.write(`${prefix}afterglow: ${file} ${cut}: replayed its readable part, up to icount ${p.icount.toLocaleString("en-US")}\n`);
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
      const have = recordingImages(rec, file, opts);
      const header = { ...rec.header, images: rec.header.images.map((i) => ({ ...i, data: i.data ?? have[i.role] })) };
      // Verify before writing: Session.replay checks each image against its hash.
      Session.replay({ ...rec, header }, () => {});
      const chunks: Uint8Array[] = [];
      const w = new RecordingWriter((b) => chunks.push(Uint8Array.from(b)), header);
      for (const r of rec.records) w.add(r);
      w.flush();
      const out = opts.output ?? file;
      writeFileSync(out, Buffer.concat(chunks));
      process.stderr.write(`afterglow: packed ${header.images.map((i) => i.name).join(", ")} into ${out}\n`);
    });
}



function describe(rec: ReadRecording, file: string): string {
  const h = rec.header;
  const lines: string[] = [];
  lines.push(`${file}: afterglow recording, format ${h.format} (this afterglow reads ${FORMAT_VERSION}), ${MAGIC.toString("latin1")}`);
  lines.push(`made by    ${h.tool} on Node ${h.node}: afterglow ${h.argv.join(" ")}`);
  lines.push(`machine    ${h.machine.ramSize / 2 ** 20} MiB RAM; guest ${h.guest.kind === "linux" ? `Linux, command line "${h.guest.cmdline}"` : "flat boot image"}`);
  for (const i of h.images) lines.push(`image      ${i.role.padEnd(10)} ${i.name} ${i.size} bytes sha256 ${i.sha256.slice(0, 16)}…${i.data ? " (embedded)" : ""}`);
  const inputs = rec.records.filter((r): r is Extract<Record, { t: "input" }> => r.t === "input");
  const consoleBytes = inputs.reduce((n, r) => n + (r.kind === "console" ? r.data.length : 0), 0);
  const rtc = inputs.find((r) => r.kind === "rtc");
  if (rtc?.kind === "rtc") lines.push(`clock      RTC starts at ${new Date(rtc.epochSeconds * 1000).toISOString()}`);
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
