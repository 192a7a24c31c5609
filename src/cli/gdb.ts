// gdb on the guest: `afterglow replay FILE --gdb [HOST:]PORT` and `afterglow run … --gdb …` stop
// at the guest's first instruction and wait for gdb, printing the command line that attaches (as
// rr does); `afterglow gdb FILE` starts gdb itself, attached to a replay of FILE.

import { spawn } from "node:child_process";
import type { Command } from "commander";
import { listenGdb, parseListenAddress, type GdbServer, type ListenAddress } from "../gdbstub/server.js";
import { SessionTarget } from "../gdbstub/session-target.js";
import { parseBudget, startTimeTravel, type TimeTravelOptions } from "./checkpoints.js";
import { Debugger } from "../replay/debug.js";
import { Session } from "../replay/session.js";
import type { HostConsole as Console } from "./console.js";
import { HostConsole } from "./console.js";
import { loadRecording, recordingImages } from "./replay.js";

export interface GdbServeOptions extends TimeTravelOptions {
  /** An ELF with the guest's symbols, for the printed gdb command line. */
  symbols?: string;
  /** A replay's recording file: its checkpoints are kept between sessions. */
  recording?: string;
  /** Told the address once gdb can attach (default: print the gdb command line on stderr). */
  onListening?: (at: ListenAddress) => void;
}

/** `--gdb`'s argument: [HOST:]PORT, 127.0.0.1 unless a host is given. */
export function parseGdbAddress(text: string): ListenAddress {
  const at = parseListenAddress(text);
  if (at === undefined) throw new Error(`--gdb wants [HOST:]PORT, not "${text}"`);
  return at;
}

/** The command that attaches gdb, quoted for a POSIX shell. */
export function gdbCommandLine(at: ListenAddress, symbols?: string): string {
  const host = at.host === "0.0.0.0" || at.host === "::" ? "127.0.0.1" : at.host.includes(":") ? `[${at.host}]` : at.host;
  const q = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  return `gdb -ex ${q(`target remote ${host}:${at.port}`)}${symbols ? " " + q(symbols) : ""}`;
}

/**
 * Serves gdb on the session until gdb kills it (`kill`, or quitting from `afterglow gdb`): the
 * guest stops at its first instruction first. Resolves when the debug session is over.
 */
export async function serveGdb(session: Session, at: ListenAddress, opts: GdbServeOptions & { onIdle?: () => boolean } = {}): Promise<{ server: GdbServer; done: Promise<void>; end: () => void }> {
  const dbg = new Debugger(session);
  dbg.onIdle = opts.onIdle;
  const first = dbg.toFirstInstruction();
  if (first.kind !== "start") process.stderr.write(`afterglow: the guest ended before its first instruction (${first.kind})\n`);
  // A replay can go back in time: its history starts here, with the checkpoints of the last session.
  const travel = session.mode === "replay" && opts.recording !== undefined ? startTimeTravel(dbg, opts.recording, opts) : undefined;
  const target = new SessionTarget(dbg, { onMessage: (l) => process.stderr.write(l + "\n") });
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const server = await listenGdb(target, at, {
    onKill: () => {
      void server.close().then(finish);
    },
    // A replay that diverged has no history left: once gdb has seen it exit, so does the stub.
    onClient: (event) => {
      if (event === "disconnect" && target.ended) {
        process.exitCode = 1;
        void server.close().then(finish);
      }
    },
  });
  if (opts.onListening) opts.onListening(server.address);
  else {
    process.stderr.write(
      `afterglow: the guest is stopped at its first instruction, waiting for gdb on ${server.address.host}:${server.address.port}; attach with\n` +
        `  ${gdbCommandLine(server.address, opts.symbols)}\n`,
    );
  }
  let ended = false;
  const end = (): void => {
    if (ended) return;
    ended = true;
    travel?.save();
    dbg.close();
  };
  return { server, done: done.then(end), end };
}

export function registerGdb(program: Command): void {
  program
    .command("gdb")
    .argument("<file>", "a recording made by `afterglow record`")
    .argument("[gdb-args...]", "more arguments for gdb, after --")
    .description("replay a recording under gdb: starts gdb attached to the guest at its first instruction")
    .option("--symbols <elf>", "the guest's symbols for gdb (for Linux: guests/cache/vmlinux-dbg from scripts/fetch-debian.sh --dbg)")
    .option("--image <file>", "the boot image, when the recording does not carry it")
    .option("--kernel <file>", "the kernel, when the recording does not carry it")
    .option("--initrd <file>", "the initrd, when the recording does not carry it")
    .option("--gdb-path <path>", "the gdb to run", "gdb")
    .option("-x, --command <file>", "a gdb command file to run after attaching")
    .option("--checkpoint-budget <MiB>", "memory for time travel's checkpoints (default: twice the machine's RAM)", parseBudget)
    .action(async (file: string, gdbArgs: string[], opts: { symbols?: string; image?: string; kernel?: string; initrd?: string; gdbPath: string; command?: string } & TimeTravelOptions) => {
      const rec = loadRecording(file);
      const con = new HostConsole(undefined, { input: false });
      try {
        const session = Session.replay(rec, (b) => con.output(b), recordingImages(rec, file, opts));
        let attach!: ListenAddress;
        const { server, end } = await serveGdb(session, { host: "127.0.0.1", port: 0 }, { onListening: (a) => (attach = a), recording: file, checkpointBudget: opts.checkpointBudget });
        const args = ["-q", "-ex", `target remote ${attach.host}:${attach.port}`];
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
          child.on("error", (e) => reject(new Error(`cannot start ${opts.gdbPath}: ${e.message}`)));
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

/** `afterglow replay FILE --gdb [HOST:]PORT`. */
export async function replayUnderGdb(file: string, listen: string, opts: { image?: string; kernel?: string; initrd?: string; symbols?: string } & TimeTravelOptions): Promise<void> {
  const at = parseGdbAddress(listen);
  const rec = loadRecording(file);
  const con = new HostConsole(undefined, { input: false });
  try {
    const session = Session.replay(rec, (b) => con.output(b), recordingImages(rec, file, opts));
    const { done } = await serveGdb(session, at, { symbols: opts.symbols, recording: file, checkpointBudget: opts.checkpointBudget });
    await done;
  } finally {
    con.close();
  }
}

/**
 * `afterglow run … --gdb [HOST:]PORT`: a live session under gdb. The guest's console stays on this
 * terminal (typed input reaches the guest while gdb lets it run; Ctrl-A x ends the session).
 */
export async function runUnderGdb(session: Session, con: Console, listen: string, symbols?: string): Promise<void> {
  const at = parseGdbAddress(listen);
  const { server, done } = await serveGdb(session, at, { symbols, onIdle: () => con.feedIdle(session) });
  const poll = setInterval(() => {
    con.flush();
    con.feedTyped(session);
    if (con.quit) void server.close().then(() => process.exit(0));
  }, 100);
  try {
    await done;
  } finally {
    clearInterval(poll);
  }
}
