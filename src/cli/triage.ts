// `afterglow triage FILE [--symbols ELF]`: what a recording's end was and why, in one screen —
// the end and its cause, the last console lines and VM exits, the instruction the guest was at
// with its registers and symbol, the L4 threads, a kernel's panic and call trace — and the
// commands that open gdb (or a gdb stub for another front end) or a replay at the instant before
// the failure.

import type { Command } from "commander";
import { describeExit } from "../replay/exit-log.js";
import { GPR_NAMES, SEG_NAMES } from "../replay/debug.js";
import { FAILURE_ENDS } from "../replay/recording.js";
import { Symbols } from "../replay/remote/symbols.js";
import { triage, type TriageReport } from "../replay/triage.js";
import { Progress } from "./progress.js";
import { placeKernel } from "./gdb-serve.js";
import { parsePositive } from "./options.js";
import { loadRecording, recordingImages } from "./recordings.js";
import { shellQuote } from "./shell.js";
import { readSymbols } from "./symbols.js";

interface TriageOptions {
  symbols?: string;
  image?: string;
  kernel?: string;
  initrd?: string;
  lines: number;
  exits: number;
}

export function registerTriage(program: Command): void {
  program
    .command("triage")
    .argument("<file>", "a recording")
    .description("replay a recording to its end and explain it: the cause, console, VM exits, instruction, registers, threads, panic; and where to debug it")
    .option("--symbols <elf>", "the guest's symbol file (an ELF with a symbol table): names addresses, and goes into the gdb command")
    .option("--image <file>", "the boot image, when the recording does not carry it")
    .option("--kernel <file>", "the kernel, when the recording does not carry it")
    .option("--initrd <file>", "the initrd, when the recording does not carry it")
    .option("--lines <n>", "console lines to show", (v) => parsePositive(v, "--lines"), 20)
    .option("--exits <n>", "VM exits to show", (v) => parsePositive(v, "--exits"), 10)
    .action((file: string, opts: TriageOptions) => {
      const rec = loadRecording(file);
      const images = recordingImages(rec, file, opts);
      const symbols = opts.symbols === undefined ? null : new Symbols(readSymbols(opts.symbols), kernelOffset(placeKernel(file, rec, images, "triage")));
      let progress: Progress | undefined;
      const t0 = process.hrtime.bigint();
      const report = triage(rec, images, {
        lines: opts.lines,
        exits: opts.exits,
        onProgress: Progress.wanted() ? (session) => (progress ??= new Progress(session, t0)).show() : undefined,
      });
      progress?.clear();
      process.stdout.write(formatTriage(report, file, opts, symbols));
      if (isFailure(report)) process.exitCode = 2;
    });
}

/** A failure end, a replay divergence, or a recording cut off (its run died before it could end it): triage's exit status 2. */
function isFailure(r: TriageReport): boolean {
  return r.cause.kind !== "end" || FAILURE_ENDS.includes(r.cause.reason);
}

/** A KASLR-moved kernel's symbols are named where it runs, as gdb and the TUI name them. */
function kernelOffset(k: ReturnType<typeof placeKernel>): number {
  return k === undefined || "error" in k ? 0 : k.offset;
}

const n = (v: number): string => v.toLocaleString("en-US");
const hex = (v: number, digits = 8): string => `0x${(v >>> 0).toString(16).padStart(digits, "0")}`;

/** The report as the command prints it: a heading per section, sections that do not apply left out. */
export function formatTriage(r: TriageReport, file: string, opts: Omit<TriageOptions, "lines" | "exits">, symbols: Symbols | null): string {
  const out: string[] = [];
  const section = (title: string, lines: string[]) => {
    out.push(title, ...lines.map((l) => `  ${l}`), "");
  };
  const where = `icount ${n(r.at.icount)}, guest ${(r.at.ns / 1e9).toFixed(6)} s${r.machine === "stack" ? `, after ${n(r.at.exits)} VM exits` : ""}`;
  const c = r.cause;
  const cause =
    c.kind === "end"
      ? `${c.reason}${FAILURE_ENDS.includes(c.reason) ? " (a failure)" : ""}${c.detail ? `: ${c.detail}` : ""}`
      : c.kind === "divergence"
        ? `replay divergence: ${c.message}`
        : "none recorded: the recording was cut off (a failure); it replayed all it holds";
  section("end", [cause, `at ${where} (${r.machine === "stack" ? "the guest in a VM under L4 and the VMM" : "the bare PC"})`]);

  if (r.panic !== null) {
    const lines = [r.panic.line];
    if (r.panic.cause !== null) lines.push(`after: ${r.panic.cause}`);
    if (r.panic.trace.length > 0) lines.push("call trace:", ...r.panic.trace.map((t) => `  ${t}`));
    else lines.push("(no call trace on the console)");
    section("panic", lines);
  }

  section(`console (the last ${r.console.length} of ${n(r.consoleLines)} lines)`, r.console.length > 0 ? r.console : ["(the guest printed nothing)"]);

  if (r.exits !== null) section(`VM exits (the last ${r.exits.length} of ${n(r.at.exits)})`, r.exits.length > 0 ? r.exits.map(describeExit) : ["(none)"]);

  const i = r.instruction;
  if (i !== null) {
    const sym = symbols?.name(i.linear);
    const bytes = Array.from(i.bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
    section("instruction (where the guest is: the next it would run)", [
      `${i.cs.toString(16).padStart(4, "0")}:${hex(i.eip)}  linear ${hex(i.linear)}${sym ? ` <${sym}>` : ""}  ${i.bits}-bit`,
      `${bytes.padEnd(24)}  ${i.text}`,
    ]);
  } else {
    section("instruction", ["(EIP is not in guest memory)"]);
  }

  const g = r.registers as unknown as { [k: string]: number };
  section("registers", [
    GPR_NAMES.slice(0, 4).map((k) => `${k} ${hex(g[k])}`).join("  "),
    GPR_NAMES.slice(4).map((k) => `${k} ${hex(g[k])}`).join("  "),
    `eip ${hex(g.eip)}${symbols?.name(g.eip) ? ` <${symbols.name(g.eip)}>` : ""}  eflags ${hex(g.eflags)}`,
    SEG_NAMES.map((k) => `${k} ${hex(g[k], 4)}`).join("  "),
  ]);

  if (r.threads !== null) {
    section(
      "L4 threads",
      [
        "  no  id          kind  state        space  prio  program",
        ...r.threads.map((t) =>
          [String(t.no).padStart(4), hex(t.id), t.kind.padEnd(4), t.state.padEnd(11), String(t.space).padStart(5), String(t.priority).padStart(5), t.program ?? ""].join("  ").trimEnd(),
        ),
      ],
    );
  }

  const imageArgs = (["image", "kernel", "initrd"] as const).flatMap((k) => (opts[k] !== undefined ? [`--${k}`, shellQuote(opts[k]!)] : []));
  const sym = opts.symbols !== undefined ? ["--symbols", shellQuote(opts.symbols)] : [];
  const f = shellQuote(file);
  section(`debug it (at icount ${n(r.before)}, ${r.beforeWhy})`, [
    `gdb     afterglow gdb ${[f, ...sym, ...imageArgs, "--at", String(r.before)].join(" ")}`,
    `stub    afterglow replay ${[f, ...imageArgs, "--gdb", "1234", "--at", String(r.before)].join(" ")}`,
    `replay  afterglow replay ${[f, ...imageArgs, "--max-insns", String(Math.max(1, r.before))].join(" ")}`,
  ]);
  return out.join("\n");
}
