// gdb on the guest: `afterglow replay FILE --gdb [HOST:]PORT` and `afterglow run … --gdb …` stop
// at the guest's first instruction and wait for gdb, printing the command line that attaches (as
// rr does); `afterglow gdb FILE` (./gdb.ts) serves the same way to the gdb it starts.

import { formatAddress } from "../gdbstub/listen.js";
import { listenGdb, parseListenAddress, type GdbServer, type ListenAddress, type ServerOptions } from "../gdbstub/server.js";
import { SessionTarget } from "../gdbstub/session-target.js";
import { GdbConnection } from "../gdbstub/stub.js";
import type { DebugTarget } from "../gdbstub/target.js";
import type { FromMachine, ToMachine } from "../inspect/channel.js";
import { traceHandling } from "../inspect/self.js";
import { Debugger, type DebugStop } from "../replay/debug.js";
import { findKernelPlacement, type KernelPlacement } from "../replay/kaslr.js";
import type { ReadRecording } from "../replay/recording.js";
import { Session } from "../replay/session.js";
import type { HostConsole as Console } from "./console.js";
import { HostConsole } from "./console.js";
import { shellQuote } from "./shell.js";
import { rememberedPlacement, startTimeTravel, type TimeTravelOptions } from "./checkpoints.js";
import { loadRecording, recordingImages } from "./recordings.js";
import { UsageError } from "./errors.js";
import { jitOption } from "./options.js";
import { Progress } from "./progress.js";

export interface GdbServeOptions extends TimeTravelOptions {
  /** An ELF with the guest's symbols, for the printed gdb command line. */
  symbols?: string;
  /** The host's limits (--max-insns, --max-time): gdb's continue stops there. */
  limits?: { maxInsns?: number; maxNs?: number };
  /** Where a Linux guest's kernel runs: gdb's symbols are moved by its offset (qOffsets). */
  kernel?: KernelPlacement | { error: string };
  /** A replay's recording file: its checkpoints are kept between sessions. */
  recording?: string;
  /** Where gdb finds the guest: before the instruction after this many (default: the first). */
  at?: number;
  /**
   * Whether a gdb that detaches is told the stub waits for another (default true). Not for the
   * gdb `afterglow gdb` starts: it detaches as it quits, and the session ends with it.
   */
  waitsAgain?: boolean;
  /** Told the address once gdb can attach (default: print the gdb command line on stderr). */
  onListening?: (at: ListenAddress) => void;
  /** How gdb reaches the stub (default: a TCP server at the address; src/inspect: the parent's channel). */
  listen?: (target: SessionTarget, options: ServerOptions) => Promise<GdbServer> | GdbServer;
}

/** `--gdb`'s argument: [HOST:]PORT, 127.0.0.1 unless a host is given. */
export function parseGdbAddress(text: string): ListenAddress {
  const at = parseListenAddress(text);
  if (at === undefined) throw new UsageError(`--gdb wants [HOST:]PORT, not "${text}"`);
  return at;
}

/** Whether gdb listening on `host` is reachable only from this machine. */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * The warning for a stub that listens beyond this machine: whoever reaches the port can read
 * the guest, and in a live run change it.
 */
export function exposureWarning(at: ListenAddress, mode: Session["mode"]): string | undefined {
  if (isLoopback(at.host)) return undefined;
  const writes = mode === "replay" ? "writes are refused (a replay cannot change history)" : "writes to registers and memory are allowed (a live run)";
  return (
    `afterglow: warning: gdb listens on ${formatAddress(at)}, beyond this machine, with no authentication: ` +
    `anyone who reaches it can read the guest's registers and memory; ${writes}`
  );
}

/** The command that attaches gdb, quoted for a POSIX shell. */
export function gdbCommandLine(at: ListenAddress, symbols?: string): string {
  const host = at.host === "0.0.0.0" || at.host === "::" ? "127.0.0.1" : at.host.includes(":") ? `[${at.host}]` : at.host;
  return `gdb -ex ${shellQuote(`target remote ${host}:${at.port}`)}${symbols ? " " + shellQuote(symbols) : ""}`;
}

/**
 * Serves gdb on the session until gdb kills it (`kill`, or quitting from `afterglow gdb`): the
 * guest stops at its first instruction first. Resolves when the debug session is over.
 */
export async function serveGdb(session: Session, at: ListenAddress, opts: GdbServeOptions & { onIdle?: () => boolean } = {}): Promise<{ server: GdbServer; done: Promise<void>; end: () => void }> {
  const dbg = new Debugger(session);
  dbg.onIdle = opts.onIdle;
  dbg.limits = opts.limits ?? {};
  const first = dbg.toFirstInstruction();
  if (first.kind !== "start") process.stderr.write(`afterglow: the guest ended before its first instruction (${first.kind})\n`);
  // A replay can go back in time: its history starts here, with the checkpoints of the last session.
  const travel = session.mode === "replay" && opts.recording !== undefined ? startTimeTravel(dbg, opts.recording, opts) : undefined;
  if (first.kind === "start" && opts.at !== undefined) {
    // --at far into a Linux boot takes a minute before gdb can attach: a status line says so.
    const progress = process.stderr.isTTY === true ? new Progress(session, process.hrtime.bigint()) : undefined;
    const reached = runTo(dbg, opts.at, progress && (() => progress.show()));
    progress?.clear();
    if (reached.icount !== opts.at) process.stderr.write(`afterglow: ${reached.stop} at icount ${reached.icount}, before --at ${opts.at}: gdb finds the guest there\n`);
  }
  const target = new SessionTarget(dbg, { onMessage: (l) => process.stderr.write(l + "\n"), kernel: opts.kernel, traceHandling });
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const listen = opts.listen ?? ((t: SessionTarget, o: ServerOptions) => listenGdb(t, at, o));
  let killed = false;
  const server: GdbServer = await listen(target, {
    log: (line) => process.stderr.write(`afterglow: gdb: ${line}\n`),
    onKill: () => {
      killed = true;
      void server.close().then(finish);
    },
    onClient: (event) => {
      if (event !== "disconnect" || killed) return;
      // A replay that diverged has no history left: once gdb has seen it exit, so does the stub.
      if (target.ended) {
        process.exitCode = 1;
        void server.close().then(finish);
      } else if (opts.listen === undefined && opts.waitsAgain !== false) {
        // Otherwise it waits for the next gdb, which a silent process would not say.
        process.stderr.write(`afterglow: gdb detached; waiting for gdb again on ${formatAddress(server.address)} (gdb's kill, or Ctrl-C, ends the session)\n`);
      }
    },
  });
  // A listener of the caller's (the --inspect child's channel) is not on the network: its parent
  // holds the socket and warns.
  const warning = opts.listen === undefined ? exposureWarning(server.address, session.mode) : undefined;
  if (warning !== undefined) process.stderr.write(`${warning}\n`);
  if (opts.onListening) opts.onListening(server.address);
  else {
    process.stderr.write(
      `afterglow: the guest is stopped at ${opts.at === undefined ? "its first instruction" : `icount ${dbg.position().icount}`}, waiting for gdb on ${formatAddress(server.address)}; attach with\n` +
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

/** Instructions between the chances --at's status line has to change. */
const AT_SLICE = 20_000_000;

/**
 * Runs the debugger forward until `icount` instructions have retired, or the guest stops first;
 * `stop` says why it stopped, as a sentence's start ("the recording ends").
 */
export function runTo(dbg: Debugger, icount: number, onSlice?: () => void, slice = AT_SLICE): { icount: number; stop: string } {
  for (;;) {
    const now = dbg.position().icount;
    if (now >= icount) return { icount: now, stop: "at" };
    // In slices when someone watches, so that the status line moves.
    const s = dbg.run({ maxInsns: onSlice === undefined ? icount - now : Math.min(icount - now, slice), first: false });
    onSlice?.();
    if (s.kind !== "budget") return { icount: dbg.position().icount, stop: stopReason(s) };
  }
}

/** Why a run stopped short, in the user's words rather than the stop's kind ("end"). */
function stopReason(s: DebugStop): string {
  switch (s.kind) {
    case "end": return "the recording ends";
    case "halted": return `the guest stopped${s.detail ? ` (${s.detail})` : ""}`;
    case "limit":
    case "diverged": return s.message;
    default: return `the run stopped (${s.kind})`;
  }
}

/**
 * Where the recording's (`file`'s) Linux kernel runs, said in one line when KASLR moved it (or when
 * that cannot be known), of gdb's symbols or of the symbols another command (`user`) names things
 * by: a short replay of its decompressor (src/replay/kaslr.ts), or what the checkpoint cache
 * remembers of one. Undefined for a guest that is not Linux.
 */
export function placeKernel(file: string, rec: ReadRecording, images: { [role: string]: Uint8Array }, user: "gdb" | "triage" = "gdb"): KernelPlacement | { error: string } | undefined {
  if (rec.header.guest.kind !== "linux") return undefined;
  const k = rememberedPlacement(file, () => findKernelPlacement(rec, images));
  const whose = `${user}'s symbols`;
  if ("error" in k) process.stderr.write(`afterglow: where the kernel runs is not known (${k.error}): ${whose} stay at their link addresses\n`);
  else if (k.offset !== 0) process.stderr.write(`afterglow: ${k.how}; ${whose} are moved by 0x${k.offset.toString(16)}${user === "gdb" ? " (qOffsets)" : ""}\n`);
  return k;
}

/**
 * `afterglow replay FILE --gdb [HOST:]PORT`; with `channel`, gdb's connection is the parent's
 * IPC channel (`--inspect`, src/inspect/channel.ts) and the parent says where to attach.
 */
export async function replayUnderGdb(
  file: string,
  listen: string | undefined,
  opts: { image?: string; kernel?: string; initrd?: string; symbols?: string; maxInsns?: number; at?: number; interpret?: boolean } & TimeTravelOptions,
  channel?: GdbServeOptions["listen"],
): Promise<void> {
  const at = listen === undefined ? { host: "channel", port: 0 } : parseGdbAddress(listen);
  const rec = loadRecording(file);
  const con = new HostConsole(undefined, { input: false });
  try {
    const images = recordingImages(rec, file, opts);
    const session = Session.replay(rec, (b) => con.output(b), images, { jit: jitOption(opts) });
    const { done } = await serveGdb(session, at, {
      symbols: opts.symbols, kernel: placeKernel(file, rec, images), recording: file, checkpointBudget: opts.checkpointBudget,
      limits: { maxInsns: opts.maxInsns }, at: opts.at,
      ...(channel ? { listen: channel, onListening: () => {} } : {}),
    });
    await done;
  } finally {
    con.close();
  }
}

/**
 * `afterglow run … --gdb [HOST:]PORT`: a live session under gdb. The guest's console stays on this
 * terminal (typed input reaches the guest while gdb lets it run; Ctrl-A x ends the session).
 */
export async function runUnderGdb(session: Session, con: Console, listen: string, opts: GdbServeOptions = {}): Promise<void> {
  const at = parseGdbAddress(listen);
  const { server, done } = await serveGdb(session, at, { ...opts, onIdle: () => con.feedIdle(session) });
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

/** `--inspect`'s argument: [HOST:]PORT, 127.0.0.1 unless a host is given (port 0: any free one). */
export function parseInspectAddress(text: string): ListenAddress {
  const at = parseListenAddress(text);
  if (at === undefined) throw new UsageError(`--inspect wants [HOST:]PORT, not "${text}"`);
  return at;
}

/**
 * The child's side: a gdb server whose one connection is made of the parent's messages. The
 * address is the parent's business.
 */
export function listenGdbOnChannel(target: DebugTarget, options: ServerOptions = {}): GdbServer {
  const send = (m: FromMachine): void => {
    if (process.connected) process.send!(m);
  };
  let conn: GdbConnection | undefined;
  const onMessage = (m: ToMachine): void => {
    switch (m.t) {
      case "connect":
        conn?.dispose();
        conn = new GdbConnection(target, { send: (bytes) => send({ t: "data", b: Buffer.from(bytes).toString("latin1") }), close: () => send({ t: "close" }), kill: options.onKill }, options);
        options.onClient?.("connect", m.remote);
        return;
      case "data":
        conn?.receive(Buffer.from(m.b, "latin1"));
        return;
      case "disconnect":
        conn?.dispose();
        conn = undefined;
        options.onClient?.("disconnect", m.remote);
        return;
    }
  };
  process.on("message", onMessage);
  send({ t: "ready" });
  return {
    address: { host: "channel", port: 0 },
    get attached() {
      return conn !== undefined;
    },
    close: async () => {
      process.off("message", onMessage);
      conn?.dispose();
      conn = undefined;
      if (process.connected) process.disconnect();
    },
  };
}
