// `afterglow gdb FILE`: starts gdb itself, attached to a replay of FILE.

import { spawn } from "node:child_process";
import { formatAddress } from "../gdbstub/listen.js";
import type { Command } from "commander";
import type { ListenAddress } from "../gdbstub/server.js";
import { Session } from "../replay/session.js";
import type { TimeTravelOptions } from "./checkpoints.js";
import { parseBudget } from "./options.js";
import { HostConsole } from "./console.js";
import { placeKernel, serveGdb } from "./gdb-serve.js";
import { parseCount } from "./options.js";
import { readImage } from "./images.js";
import { loadRecording, recordingImages } from "./recordings.js";
import { UsageError } from "./errors.js";
import { readSymbols } from "./symbols.js";

export function registerGdb(program: Command): void {
  program
    .command("gdb")
    .argument("<file>", "a recording made by `afterglow record`")
    .argument("[gdb-args...]", "more arguments for gdb, after --")
    .description("replay a recording under gdb: starts gdb attached to the guest at its first instruction")
    // A gdb user types gdb's options (-ex, -batch) where afterglow reads its own: the hint, not the usage, says where they go.
    .showHelpAfterError("usage: afterglow gdb [options] FILE [-- GDB-ARGS] (gdb's own options, as -ex and -batch, go after --; --help lists afterglow's)")
    .option("--symbols <elf>", "the guest's symbols for gdb (for Linux: guests/cache/vmlinux-dbg from scripts/fetch-debian.sh --dbg)")
    .option("--image <file>", "the boot image, when the recording does not carry it")
    .option("--kernel <file>", "the kernel, when the recording does not carry it")
    .option("--initrd <file>", "the initrd, when the recording does not carry it")
    .option("--gdb-path <path>", "the gdb to run", "gdb")
    .option("-x, --command <file>", "a gdb command file to run after attaching")
    .option("--checkpoint-budget <MiB>", "memory for time travel's checkpoints (default: twice the machine's RAM)", parseBudget)
    .option("--at <icount>", "attach with the guest stopped after this many instructions (as `afterglow triage` prints)", (v) => parseCount(v, "--at"))
    .action(async (file: string, gdbArgs: string[], opts: { symbols?: string; image?: string; kernel?: string; initrd?: string; gdbPath: string; command?: string; at?: number } & TimeTravelOptions) => {
      const rec = loadRecording(file);
      if (opts.symbols !== undefined) readSymbols(opts.symbols);
      // gdb would only warn of a missing command file and attach without running it.
      if (opts.command !== undefined) {
        try {
          readImage(opts.command);
        } catch (e) {
          throw new UsageError(`-x ${opts.command}: ${(e as Error).message}`);
        }
      }
      const con = new HostConsole(undefined, { input: false });
      try {
        const images = recordingImages(rec, file, opts);
        const session = Session.replay(rec, (b) => con.output(b), images);
        let attach!: ListenAddress;
        const kernel = placeKernel(file, rec, images);
        const { server, end } = await serveGdb(session, { host: "127.0.0.1", port: 0 }, { onListening: (a) => (attach = a), waitsAgain: false, kernel, recording: file, checkpointBudget: opts.checkpointBudget, at: opts.at });
        const args = ["-q", "-ex", `target remote ${formatAddress(attach)}`];
        if (opts.command) args.push("-x", opts.command);
        if (opts.symbols) args.unshift(opts.symbols);
        // Options gdb must see before it attaches (-batch, -nx) go first.
        args.unshift(...gdbArgs.filter((a) => a === "-batch" || a === "-nx" || a === "-n"));
        args.push(...gdbArgs.filter((a) => a !== "-batch" && a !== "-nx" && a !== "-n"));
        const child = spawn(opts.gdbPath, args, { stdio: "inherit" });
        // gdb owns the terminal: Ctrl-C interrupts the guest through it, not this process.
        const ignore = () => {};
        process.on("SIGINT", ignore);
        const code = await new Promise<number>((resolve, reject) => {
          child.on("error", (e) => reject(new UsageError(`cannot start ${opts.gdbPath}: ${e.message}`)));
          child.on("exit", (c) => resolve(c ?? 1));
        });
        process.off("SIGINT", ignore);
        await server.close();
        end();
        process.exitCode = code;
      } finally {
        con.close();
      }
    });
}
