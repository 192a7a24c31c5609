// The remote protocol server for one gdb connection: it turns decoded packets into calls on a
// DebugTarget and the results into replies. It knows nothing of sockets (server.ts feeds it bytes
// and hands it a send function) and nothing of the emulator (the target does).
//
// All-stop mode with one thread. While the target runs, packets are queued (gdb sends none in
// all-stop mode except Ctrl-C) and the run proceeds in slices from the event loop, so a Ctrl-C is
// seen between two slices.

import { fromHex, hexOfText, parseU32, textOfHex, toHex } from "./hex.js";
import {
  DEFAULT_MAX_PACKET,
  PacketDecoder,
  escapeBinary,
  frame,
  unescapeBinary,
  type PacketEvent,
} from "./packet.js";
import { REGISTER_BYTES, REGS, packRegister, packRegisters, targetXml, unpackRegister, unpackRegisters, type RegisterFile } from "./registers.js";
import {
  isTargetError,
  type Breakpoint,
  type DebugTarget,
  type Direction,
  type ResumeRequest,
  type ResumeResult,
  type StopReason,
  type TargetError,
} from "./target.js";

export interface StubOptions {
  /** Largest packet accepted, and the PacketSize offered to gdb. */
  maxPacket?: number;
  /** Instructions in the first resume slice; later slices adapt to take a few milliseconds each. */
  sliceBudget?: number;
  /** Run-length encode replies (gdb always decodes them). */
  runLength?: boolean;
  /** Protocol trace and internal errors, a line at a time. */
  log?: (line: string) => void;
}

export interface ConnectionHooks {
  /** Sends bytes to gdb. */
  send(bytes: Uint8Array): void;
  /** The connection should end (after `D` or `k`); bytes already sent must still be delivered. */
  close(): void;
  /** gdb sent `k`: the embedding program may end the session. */
  kill?(): void;
}

// errno values, as gdbserver uses them: gdb only shows that an error happened, but the numbers
// make a protocol trace readable.
const E_INVALID = "E16"; // EINVAL: malformed packet, bad hex, bad length
const E_FAULT = "E0e"; // EFAULT: unmapped address
const E_REFUSED = "E0d"; // EACCES: the target will not (replay cannot change history)
const E_TOO_BIG = "E07"; // E2BIG: packet over the size limit
const E_INTERNAL = "E01"; // the target threw

const SIGINT = 2;
const SIGTRAP = 5;
/** The one thread gdb sees: the guest CPU. */
const THREAD = "1";

/** Resume slices aim to take about this long, so Ctrl-C answers quickly and runs stay fast. */
const SLICE_MS = 10;
const MIN_BUDGET = 1_000;
const MAX_BUDGET = 50_000_000;

type Reply = string | undefined;

export class GdbConnection {
  private readonly decoder: PacketDecoder;
  private readonly maxPacket: number;
  private readonly runLength: boolean;
  private noAck = false;
  private lastSent: string | undefined;
  private queue: PacketEvent[] = [];
  private pumping = false;
  private running: { action: ResumeRequest["action"]; direction: Direction; range?: ResumeRequest["range"]; first: boolean } | undefined;
  private interruptPending = false;
  private budget: number;
  private closed = false;
  /** QEMU's physical memory mode (Qqemu.PhyMemMode:1): m, M and X address guest-physical memory. */
  private physical = false;
  /** Breakpoints this client inserted, removed again when it goes away. */
  private readonly inserted = new Map<string, Breakpoint>();

  constructor(
    private readonly target: DebugTarget,
    private readonly hooks: ConnectionHooks,
    private readonly options: StubOptions = {},
  ) {
    this.maxPacket = options.maxPacket ?? DEFAULT_MAX_PACKET;
    this.decoder = new PacketDecoder(this.maxPacket);
    this.runLength = options.runLength ?? false;
    this.budget = options.sliceBudget ?? 100_000;
  }

  /** Bytes from gdb, in any chunking. */
  receive(chunk: Uint8Array): void {
    if (this.closed) return;
    for (const ev of this.decoder.feed(chunk)) {
      // A `D` or `k` earlier in this chunk ended the connection: the rest is not for us.
      if (this.closed) return;
      switch (ev.type) {
        case "ack":
          this.lastSent = undefined;
          break;
        case "nack":
          // gdb saw a bad checksum: send the last packet again.
          if (!this.noAck && this.lastSent !== undefined) this.write(this.lastSent);
          break;
        case "interrupt":
          if (this.running) this.interruptPending = true;
          break;
        case "badChecksum":
          if (!this.noAck) this.write("-");
          else this.log("dropped a packet with a bad checksum");
          break;
        default:
          // A whole packet (good, malformed or oversized) is acknowledged on receipt and answered
          // in order once the target is stopped.
          if (!this.noAck) this.write("+");
          this.queue.push(ev);
          // Handled before the next event, so a Ctrl-C right behind a `c` in the same chunk
          // finds the target running and stops it.
          this.pump();
      }
    }
  }

  /** The client went away: stop running, remove its breakpoints, tell the target. */
  dispose(): void {
    if (this.closed) return;
    this.closed = true;
    this.running = undefined;
    this.queue = [];
    for (const bp of this.inserted.values()) this.guard(() => this.target.removeBreakpoint(bp));
    this.inserted.clear();
    this.guard(() => this.target.detach?.());
  }

  /** True while a step or continue is in progress. */
  get isRunning(): boolean {
    return this.running !== undefined;
  }

  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (!this.running && !this.closed && this.queue.length > 0) {
        const ev = this.queue.shift()!;
        if (ev.type === "oversized") this.reply(E_TOO_BIG);
        else if (ev.type === "malformed") this.reply(E_INVALID);
        else if (ev.type === "packet") this.dispatchSafely(ev.payload);
      }
    } finally {
      this.pumping = false;
    }
  }

  private dispatchSafely(payload: string): void {
    let reply: Reply;
    try {
      reply = this.dispatch(payload);
    } catch (e) {
      // A throwing target must not take the server down: gdb gets an error and can go on.
      this.log(`error handling ${JSON.stringify(payload.slice(0, 40))}: ${(e as Error)?.stack ?? e}`);
      this.running = undefined;
      reply = E_INTERNAL;
    }
    if (reply !== undefined) this.reply(reply);
  }

  /** The reply to one packet, or undefined when the reply comes later (resume) or never (`k`). */
  private dispatch(p: string): Reply {
    switch (p[0]) {
      case "?":
        return stopReply(this.target.stopReason(), this.expedited());
      case "g":
        return toHex(packRegisters(this.target.readRegisters()));
      case "G":
        return this.writeAllRegisters(p.slice(1));
      case "p":
        return this.readRegister(p.slice(1));
      case "P":
        return this.writeRegister(p.slice(1));
      case "m":
        return this.readMemory(p.slice(1));
      case "M":
        return this.writeMemory(p.slice(1), "hex");
      case "X":
        return this.writeMemory(p.slice(1), "binary");
      case "Z":
      case "z":
        return this.breakpoint(p);
      case "s":
      case "c":
        return this.resumeAt(p[0] === "s" ? "step" : "continue", p.slice(1));
      case "S":
      case "C": {
        // Continue "with a signal": a whole machine has no pending signal to deliver, so the
        // signal is dropped and only the optional address is honoured.
        const semi = p.indexOf(";");
        const sig = semi < 0 ? p.slice(1) : p.slice(1, semi);
        if (parseU32(sig) === undefined) return E_INVALID;
        return this.resumeAt(p[0] === "S" ? "step" : "continue", semi < 0 ? "" : p.slice(semi + 1));
      }
      case "b":
        if (p === "bs" || p === "bc") return this.reverse(p === "bs" ? "step" : "continue");
        return "";
      case "H":
        return /^H[gcs](?:-1|[0-9a-fA-F]+)$/.test(p) ? "OK" : E_INVALID;
      case "T":
        return p.slice(1) === THREAD || p.slice(1) === "01" ? "OK" : E_INVALID;
      case "D":
        this.reply("OK");
        this.dispose();
        this.hooks.close();
        return undefined;
      case "k":
        this.end();
        return undefined;
      case "q":
      case "Q":
        return this.query(p);
      case "v":
        return this.vPacket(p);
      default:
        return "";
    }
  }

  private query(p: string): Reply {
    if (p.startsWith("qSupported")) {
      const features = [
        `PacketSize=${this.maxPacket.toString(16)}`,
        "qXfer:features:read+",
        "swbreak+",
        "hwbreak+",
        "vContSupported+",
        "QStartNoAckMode+",
      ];
      if (this.target.capabilities.reverse) features.push("ReverseStep+", "ReverseContinue+");
      return features.join(";");
    }
    if (p === "QStartNoAckMode") {
      // The OK still travels under acknowledgement; from the next packet on there are none.
      this.reply("OK");
      this.noAck = true;
      return undefined;
    }
    if (p.startsWith("qXfer:features:read:")) return this.features(p.slice("qXfer:features:read:".length));
    if (p.startsWith("qRcmd,")) return this.monitor(p.slice("qRcmd,".length));
    if (p.startsWith("Qqemu.PhyMemMode:") || p === "qqemu.PhyMemMode") {
      // As QEMU answers it (gdb sends it with `maint packet`): "OK" to set, "0"/"1" to ask.
      if (this.target.readPhysical === undefined) return "";
      if (p[0] === "q") return this.physical ? "1" : "0";
      const mode = p.slice("Qqemu.PhyMemMode:".length);
      if (mode !== "0" && mode !== "1") return E_INVALID;
      this.physical = mode === "1";
      return "OK";
    }
    switch (p) {
      case "qAttached":
        // "Attached to an existing process": on quit gdb detaches instead of killing the session.
        return "1";
      case "qC":
        return "QC" + THREAD;
      case "qfThreadInfo":
        return "m" + THREAD;
      case "qsThreadInfo":
        return "l";
      case "qSymbol::":
        return "OK";
      case "qOffsets": {
        // gdb asks once, as it attaches, and relocates the symbol file's sections by it.
        const offset = this.target.sectionOffsets?.();
        if (offset === undefined) return "";
        const hex = (offset >>> 0).toString(16);
        return `Text=${hex};Data=${hex};Bss=${hex}`;
      }
      default:
        return "";
    }
  }

  private vPacket(p: string): Reply {
    if (p === "vCont?") return "vCont;c;C;s;S;r";
    if (p.startsWith("vCont;")) return this.vCont(p.slice("vCont;".length));
    if (p.startsWith("vKill")) {
      this.reply("OK");
      this.end();
      return undefined;
    }
    return "";
  }

  // vCont;action[:thread];... - with one thread the first action applies to it. `rSTART,END` is a
  // range step: step, and keep stepping while the eip stays in [START, END).
  private vCont(actions: string): Reply {
    const first = actions.split(";")[0];
    const range = /^r([0-9a-fA-F]+),([0-9a-fA-F]+)(?::(-1|p?[0-9a-fA-F.-]+))?$/.exec(first);
    if (range) {
      const start = parseU32(range[1]), end = parseU32(range[2]);
      if (start === undefined || end === undefined) return E_INVALID;
      return this.startResume("step", "forward", { start, end });
    }
    const m = /^([cCsS])([0-9a-fA-F]{1,2})?(?::(-1|p?[0-9a-fA-F.-]+))?$/.exec(first);
    if (!m) return E_INVALID;
    const signalled = m[1] === "C" || m[1] === "S";
    if (signalled !== (m[2] !== undefined)) return E_INVALID;
    return this.startResume(m[1].toLowerCase() === "s" ? "step" : "continue", "forward");
  }

  private resumeAt(action: ResumeRequest["action"], addrText: string): Reply {
    if (addrText !== "") {
      const addr = parseU32(addrText);
      if (addr === undefined) return E_INVALID;
      const err = this.target.writeRegisters({ eip: addr });
      if (err) return errorReply(err);
    }
    return this.startResume(action, "forward");
  }

  private reverse(action: ResumeRequest["action"]): Reply {
    if (!this.target.capabilities.reverse) return "";
    return this.startResume(action, "reverse");
  }

  private startResume(action: ResumeRequest["action"], direction: Direction, range?: ResumeRequest["range"]): Reply {
    this.running = { action, direction, range, first: true };
    this.interruptPending = false;
    this.slice();
    return undefined;
  }

  // One bounded slice of a resume, then back to the event loop so sockets (and Ctrl-C) are served.
  private readonly slice = (): void => {
    const run = this.running;
    if (run === undefined || this.closed) return;
    if (this.interruptPending) {
      this.interruptPending = false;
      this.finishResume(this.guardStop(() => this.target.interrupt(), { kind: "signal", signal: SIGINT }));
      return;
    }
    const started = performance.now();
    let result: ResumeResult | TargetError;
    try {
      result = this.target.resume({ action: run.action, direction: run.direction, range: run.range, first: run.first, budget: this.budget });
      run.first = false;
    } catch (e) {
      this.log(`target.resume threw: ${(e as Error)?.stack ?? e}`);
      result = { error: "invalid" } as TargetError;
    }
    if (isTargetError(result)) {
      this.running = undefined;
      this.reply(result.error === "unsupported" ? "" : errorReply(result));
      this.pump();
      return;
    }
    if (result.state === "stopped") {
      this.finishResume(result.stop);
      return;
    }
    this.adaptBudget(performance.now() - started);
    setImmediate(this.slice);
  };

  private adaptBudget(ms: number): void {
    if (ms < SLICE_MS / 2) this.budget = Math.min(MAX_BUDGET, this.budget * 2);
    else if (ms > SLICE_MS * 2) this.budget = Math.max(MIN_BUDGET, Math.floor(this.budget / 2));
  }

  private finishResume(stop: StopReason): void {
    this.running = undefined;
    this.reply(stopReply(stop, this.expedited()));
    this.pump();
  }

  /** The registers a stop reply carries, so gdb need not ask for them all after each step. */
  private expedited(): RegisterFile | undefined {
    try {
      return this.target.readRegisters();
    } catch (e) {
      this.log(`target.readRegisters threw: ${(e as Error)?.message ?? e}`);
      return undefined;
    }
  }

  private writeAllRegisters(hex: string): Reply {
    const bytes = fromHex(hex);
    if (bytes === undefined || bytes.length === 0 || bytes.length > REGISTER_BYTES) return E_INVALID;
    return okOrError(this.target.writeRegisters(unpackRegisters(bytes)));
  }

  private readRegister(arg: string): Reply {
    const n = parseU32(arg);
    if (n === undefined || n >= REGS.length) return E_INVALID;
    return toHex(packRegister(this.target.readRegisters(), n));
  }

  private writeRegister(arg: string): Reply {
    const eq = arg.indexOf("=");
    const n = parseU32(arg.slice(0, eq < 0 ? arg.length : eq));
    const bytes = eq < 0 ? undefined : fromHex(arg.slice(eq + 1));
    if (n === undefined || bytes === undefined) return E_INVALID;
    const values = unpackRegister(n, bytes);
    if (values === undefined) return E_INVALID;
    return okOrError(this.target.writeRegisters(values));
  }

  private readMemory(arg: string): Reply {
    const m = /^([0-9a-fA-F]+),([0-9a-fA-F]+)$/.exec(arg);
    const addr = m ? parseU32(m[1]) : undefined;
    const len = m ? parseU32(m[2]) : undefined;
    if (addr === undefined || len === undefined) return E_INVALID;
    // A reply carries two hex digits a byte; gdb accepts a short read and asks for the rest.
    const want = Math.min(len, Math.floor(this.maxPacket / 2), 2 ** 32 - addr);
    if (want === 0) return len === 0 ? "" : E_FAULT;
    const bytes = this.physical ? this.target.readPhysical!(addr, want) : this.target.readMemory(addr, want);
    return bytes.length === 0 ? E_FAULT : toHex(bytes.subarray(0, want));
  }

  private writeMemory(arg: string, encoding: "hex" | "binary"): Reply {
    const colon = arg.indexOf(":");
    const m = /^([0-9a-fA-F]+),([0-9a-fA-F]+)$/.exec(colon < 0 ? "" : arg.slice(0, colon));
    const addr = m ? parseU32(m[1]) : undefined;
    const len = m ? parseU32(m[2]) : undefined;
    if (addr === undefined || len === undefined) return E_INVALID;
    const data = arg.slice(colon + 1);
    const bytes = encoding === "hex" ? fromHex(data) : unescapeBinary(data);
    if (bytes === undefined || bytes.length !== len) return E_INVALID;
    // gdb probes for X support with a zero-length write.
    if (len === 0) return "OK";
    if (addr + len > 2 ** 32) return E_FAULT;
    if (this.physical) return okOrError(this.target.writePhysical?.(addr, bytes) ?? { error: "refused", message: "physical memory is read-only here" });
    return okOrError(this.target.writeMemory(addr, bytes));
  }

  private breakpoint(p: string): Reply {
    // Z type,addr,kind[;cond...]: conditions are never offered, so anything after ';' is ignored.
    const m = /^([Zz])([0-4]),([0-9a-fA-F]+),([0-9a-fA-F]+)(?:;.*)?$/s.exec(p);
    const addr = m ? parseU32(m[3]) : undefined;
    const length = m ? parseU32(m[4]) : undefined;
    if (!m || addr === undefined || length === undefined) return E_INVALID;
    const type = (["sw", "hw", "write", "read", "access"] as const)[Number(m[2])];
    const bp = { type, addr, length } as Breakpoint;
    const key = `${type}:${addr}:${length}`;
    if (m[1] === "Z") {
      const err = this.target.insertBreakpoint(bp);
      if (err) return err.error === "unsupported" ? "" : errorReply(err);
      this.inserted.set(key, bp);
    } else {
      const err = this.target.removeBreakpoint(bp);
      if (err) return err.error === "unsupported" ? "" : errorReply(err);
      this.inserted.delete(key);
    }
    return "OK";
  }

  private features(args: string): Reply {
    const m = /^([^:]+):([0-9a-fA-F]+),([0-9a-fA-F]+)$/.exec(args);
    const offset = m ? parseU32(m[2]) : undefined;
    const length = m ? parseU32(m[3]) : undefined;
    if (!m || offset === undefined || length === undefined) return E_INVALID;
    if (m[1] !== "target.xml") return "E00";
    const xml = Buffer.from(targetXml(), "utf8");
    // Escaping can double a byte, so half a packet of data always fits.
    const take = Math.min(length, Math.floor((this.maxPacket - 1) / 2));
    const chunk = xml.subarray(offset, offset + take);
    const more = offset + chunk.length < xml.length;
    return (more ? "m" : "l") + escapeBinary(chunk);
  }

  // qRcmd: the command comes hex-encoded; its output goes back as `O` console packets, then OK.
  private monitor(hex: string): Reply {
    const command = textOfHex(hex);
    if (command === undefined) return E_INVALID;
    let out: string | TargetError;
    try {
      out = this.target.monitor(command.trim());
    } catch (e) {
      out = `error: ${(e as Error)?.message ?? e}\n`;
    }
    const text = isTargetError(out) ? `error: ${out.message ?? out.error}\n` : out;
    const per = Math.max(1, Math.floor((this.maxPacket - 1) / 2));
    for (let i = 0; i < text.length; i += per) this.reply("O" + hexOfText(text.slice(i, i + per)));
    return "OK";
  }

  private end(): void {
    this.dispose();
    this.guard(() => this.target.kill?.());
    this.hooks.kill?.();
    this.hooks.close();
  }

  private reply(payload: string): void {
    const framed = frame(payload, this.runLength);
    this.lastSent = this.noAck ? undefined : framed;
    this.write(framed);
  }

  private write(text: string): void {
    // After a detach or kill the transport is closing; a late reply would be written after its end.
    if (this.closed) return;
    this.hooks.send(Buffer.from(text, "latin1"));
  }

  private guard(f: () => unknown): void {
    try {
      f();
    } catch (e) {
      this.log(`target threw: ${(e as Error)?.message ?? e}`);
    }
  }

  private guardStop(f: () => StopReason, fallback: StopReason): StopReason {
    try {
      return f();
    } catch (e) {
      this.log(`target threw: ${(e as Error)?.message ?? e}`);
      return fallback;
    }
  }

  private log(line: string): void {
    this.options.log?.(line);
  }
}

/**
 * The registers a stop reply expedites, by gdb number: those gdb needs to find the frame it
 * stopped in (gdbserver's i386 set: ebp, esp, eip).
 */
const EXPEDITED = ["esp", "ebp", "eip"].map((name) => REGS.findIndex((r) => r.name === name));

/** The stop reply for a stop reason: `T05swbreak:;04:…;05:…;08:…;thread:1;`, `W00`, ... */
export function stopReply(stop: StopReason, regs?: RegisterFile): string {
  const expedite = regs === undefined ? "" : EXPEDITED.map((n) => `${n.toString(16).padStart(2, "0")}:${toHex(packRegister(regs, n))};`).join("");
  const t = (sig: number, extra = "") => `T${sig.toString(16).padStart(2, "0")}${extra}${expedite}thread:${THREAD};`;
  switch (stop.kind) {
    case "signal":
      return t(stop.signal & 0xff);
    case "swbreak":
      return t(SIGTRAP, "swbreak:;");
    case "hwbreak":
      return t(SIGTRAP, "hwbreak:;");
    case "watch": {
      const name = stop.watch === "write" ? "watch" : stop.watch === "read" ? "rwatch" : "awatch";
      return t(SIGTRAP, `${name}:${(stop.addr >>> 0).toString(16)};`);
    }
    case "halted":
      // Signal 0: gdb says "Program stopped." and the user can still look at everything.
      return t(0);
    case "exited":
      return "W" + (stop.code & 0xff).toString(16).padStart(2, "0");
    case "historyEdge":
      return t(SIGTRAP, `replaylog:${stop.edge};`);
  }
}

/**
 * The error reply for a target error. A refusal with a reason is `E.reason`, which gdb prints
 * ("Could not write register "eax"; remote failure reply 'E.a replay cannot change history: …'");
 * the rest are errno codes. (gdb 13 words every failed memory write "Cannot access memory at
 * address …" whatever the reply: the target says why on its own side too.)
 */
function errorReply(err: TargetError): string {
  switch (err.error) {
    case "fault":
      return E_FAULT;
    case "refused":
    case "unsupported":
      return err.message !== undefined ? "E." + errorText(err.message) : err.error === "refused" ? E_REFUSED : E_INVALID;
    default:
      return E_INVALID;
  }
}

/** A message as an `E.` reply carries it: printable ASCII, without the framing characters. */
function errorText(message: string): string {
  return message.replace(/[^\x20-\x7e]|[$#*}]/g, "?");
}

function okOrError(err: TargetError | undefined): string {
  return err ? errorReply(err) : "OK";
}
