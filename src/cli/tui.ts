// `afterglow tui [FILE]`: the terminal UI (src/tui) on a recording; with no file it records the
// built-in guest in a VM first, in memory, and opens that.

import { basename } from "node:path";
import type { Command } from "commander";
import { Session, Stop, endReasonOf } from "../replay/session.js";
import type { OpenReplay, ReplayInfo } from "../replay/remote/protocol.js";
import { checkpointCacheDir } from "./checkpoints.js";
import { builtinGuestPath, readImage } from "./images.js";
import { loadRecording, recordingImages } from "./recordings.js";
import { exposureWarning, parseGdbAddress } from "./gdb-serve.js";
import { readSymbolsAndLines } from "./symbols.js";

/** The built-in guest's machine, as recordings/hello-vm.rec was made: the stack with 8 MiB. */
const BUILTIN_RAM = 8 * 2 ** 20;
const BUILTIN_HASH_EVERY = 50_000;

interface TuiOptions {
  symbols?: string;
  image?: string;
  kernel?: string;
  initrd?: string;
  gdb?: string;
}

export function registerTui(program: Command): void {
  program
    .command("tui")
    .argument("[file]", "a recording (default: record the built-in guest now and open that)")
    .description("look at a replay in one terminal view: guest, VMM, microkernel, console and a timeline to travel on")
    .option("--symbols <elf>", "an ELF whose symbol table names the guest's addresses")
    .option("--image <file>", "the boot image, when the recording does not carry it")
    .option("--kernel <file>", "the kernel, when the recording does not carry it")
    .option("--initrd <file>", "the initrd, when the recording does not carry it")
    .option("--gdb <[host:]port>", "serve gdb on the same replay (127.0.0.1 unless a host is given): the TUI and gdb move one position")
    .action(async (file: string | undefined, opts: TuiOptions) => {
      await runTuiOn(file, opts);
    });
}

/** `afterglow tui FILE` and `afterglow replay FILE --tui`: the TUI on FILE until the user quits. */
export async function runTuiOn(file: string | undefined, opts: TuiOptions): Promise<void> {
  const open = openFor(file, opts);
  // Loaded when asked for: ink and React are most of the CLI's start-up time.
  await (await import("../tui/main.js")).runTui(open, warnIfExposed);
}

/**
 * The warning for gdb served beyond this machine, once the worker listens there: an address it
 * cannot listen on (one not on this machine) fails alone, with no warning about a listener that
 * never was. On the shell's screen, which the TUI's alternate screen gives back at its end.
 */
function warnIfExposed(info: ReplayInfo): void {
  const warning = info.gdb === undefined ? undefined : exposureWarning(info.gdb, "replay");
  if (warning !== undefined) process.stderr.write(`${warning}\n`);
}

/** What the TUI's worker opens for FILE (or the built-in guest, recorded now). */
function openFor(file: string | undefined, opts: TuiOptions): OpenReplay {
  const { symbols, lines } = opts.symbols === undefined ? { symbols: undefined, lines: undefined } : readSymbolsAndLines(opts.symbols);
  const cache = checkpointCacheDir() ?? undefined;
  const gdb = opts.gdb === undefined ? undefined : parseGdbAddress(opts.gdb);
  if (file === undefined) return { recording: recordBuiltin(), name: "built-in guest", images: {}, symbols, lines, gdb };
  const rec = loadRecording(file);
  return { recording: readImage(file), name: basename(file), images: recordingImages(rec, file, opts), symbols, lines, checkpointCache: cache, gdb };
}

/** Records the built-in guest from power-on to its halt, in memory, with its image embedded. */
export function recordBuiltin(): Uint8Array {
  const chunks: Uint8Array[] = [];
  const session = new Session(
    { guest: { kind: "image", bytes: readImage(builtinGuestPath()), name: "hello.bin" }, machine: "stack", ramSize: BUILTIN_RAM, rtcEpochSeconds: Math.floor(Date.now() / 1000), console: () => {} },
    { sink: (b) => chunks.push(Uint8Array.from(b)), argv: ["tui"], tool: "afterglow tui", embedImages: true, hashEvery: BUILTIN_HASH_EVERY },
  );
  const stop: Stop = session.run();
  session.end(endReasonOf(stop));
  return Buffer.concat(chunks);
}
