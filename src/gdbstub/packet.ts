// The remote serial protocol's framing, apart from any meaning: `$payload#xx` packets with a modulo
// 256 checksum, `+`/`-` acknowledgements, a bare 0x03 byte as the interrupt, run-length encoding and
// binary escaping. The decoder is an incremental state machine fed arbitrary chunks of a byte
// stream; it never throws, so random bytes from a fuzzer or a confused client can only produce
// events, never a crash.
//
// Payloads are "binary strings": one char per byte (latin1). Packets are mostly ASCII, and the few
// binary ones (`X`, qXfer replies) keep their bytes intact this way without a second buffer type.

/** A packet larger than this (after run-length expansion) is discarded with an error reply. */
export const DEFAULT_MAX_PACKET = 16 * 1024;

export type PacketEvent =
  /** A whole packet with a good checksum, run-length expanded; binary escapes are left in place. */
  | { type: "packet"; payload: string }
  /** Framing was complete but the checksum did not match (or was not hex): ask for a resend. */
  | { type: "badChecksum" }
  /** The checksum matched but the run-length encoding was broken. */
  | { type: "malformed"; reason: string }
  /** The packet exceeded the maximum size and was dropped. */
  | { type: "oversized"; size: number }
  | { type: "ack" }
  | { type: "nack" }
  /** Ctrl-C outside a packet: gdb asks a running target to stop. */
  | { type: "interrupt" };

const DOLLAR = 0x24;
const HASH = 0x23;
const STAR = 0x2a;
const ESCAPE = 0x7d;

/** The checksum: sum of the payload bytes modulo 256. */
export function checksum(payload: string): number {
  let sum = 0;
  for (let i = 0; i < payload.length; i++) sum = (sum + payload.charCodeAt(i)) & 0xff;
  return sum;
}

function hexDigit(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x61 && b <= 0x66) return b - 0x57;
  if (b >= 0x41 && b <= 0x46) return b - 0x37;
  return -1;
}

type State = "idle" | "body" | "sum1" | "sum2";

/** Turns a byte stream into packet events. Feed it chunks in order; it keeps partial packets. */
export class PacketDecoder {
  private state: State = "idle";
  private raw: number[] = [];
  private sum = 0;
  private size = 0;
  private overflow = false;
  private expected = 0;

  constructor(private readonly maxPacket = DEFAULT_MAX_PACKET) {}

  feed(chunk: Uint8Array): PacketEvent[] {
    const events: PacketEvent[] = [];
    for (const b of chunk) this.byte(b, events);
    return events;
  }

  private byte(b: number, out: PacketEvent[]): void {
    // A `$` can never occur inside a packet (binary data escapes it), so wherever it appears it
    // starts a new packet and whatever partial packet came before it is abandoned.
    if (b === DOLLAR) return this.start();
    switch (this.state) {
      case "idle":
        if (b === 0x2b) out.push({ type: "ack" });
        else if (b === 0x2d) out.push({ type: "nack" });
        else if (b === 0x03) out.push({ type: "interrupt" });
        // Anything else between packets is line noise, ignored as gdbserver does.
        return;
      case "body":
        if (b === HASH) {
          this.state = "sum1";
          return;
        }
        this.sum = (this.sum + b) & 0xff;
        this.size++;
        // Past the limit the bytes still count toward the checksum position but are not kept:
        // the packet ends at its `#xx` like any other and is answered with an error.
        if (this.size > this.maxPacket) this.overflow = true;
        else this.raw.push(b);
        return;
      case "sum1":
        this.expected = hexDigit(b);
        this.state = "sum2";
        if (this.expected < 0) this.expected = -256; // stays negative after the second digit
        return;
      case "sum2": {
        const d = hexDigit(b);
        const got = d < 0 ? -1 : this.expected * 16 + d;
        this.state = "idle";
        out.push(this.finish(got));
        return;
      }
    }
  }

  private start(): void {
    this.state = "body";
    this.raw = [];
    this.sum = 0;
    this.size = 0;
    this.overflow = false;
  }

  private finish(got: number): PacketEvent {
    const raw = this.raw;
    this.raw = [];
    if (this.overflow) return { type: "oversized", size: this.size };
    if (got !== this.sum) return { type: "badChecksum" };
    return expandRunLength(raw, this.maxPacket);
  }
}

/** Expands `x*n` (repeat x n-29 more times) as gdb's own reader does, before any unescaping. */
function expandRunLength(raw: number[], max: number): PacketEvent {
  if (!raw.includes(STAR)) return { type: "packet", payload: String.fromCharCode(...raw) };
  const out: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i];
    if (b !== STAR) {
      out.push(b);
      continue;
    }
    if (out.length === 0) return { type: "malformed", reason: "run-length count with nothing to repeat" };
    if (i + 1 >= raw.length) return { type: "malformed", reason: "run-length marker without a count" };
    const count = raw[++i] - 29;
    if (count < 3 || count > 97) return { type: "malformed", reason: "run-length count out of range" };
    if (out.length + count > max) return { type: "oversized", size: out.length + count };
    const prev = out[out.length - 1];
    for (let k = 0; k < count; k++) out.push(prev);
  }
  let s = "";
  for (let i = 0; i < out.length; i += 4096) s += String.fromCharCode(...out.slice(i, i + 4096));
  return { type: "packet", payload: s };
}

/** `$payload#xx`, optionally run-length encoded. The payload must already be escaped if binary. */
export function frame(payload: string, runLength = false): string {
  const body = runLength ? encodeRunLength(payload) : payload;
  return "$" + body + "#" + checksum(body).toString(16).padStart(2, "0");
}

// Characters never compressed: the framing and escape bytes, whose meaning a repeat would blur.
const NO_RUNS = new Set(["$", "#", "*", "}"]);

/**
 * Replaces runs of 4 or more equal characters with `c*n`. Each group restarts with a literal
 * character, and counts that would encode as `#` or `$` (6 and 7) are avoided, as the spec asks.
 */
export function encodeRunLength(payload: string): string {
  let out = "";
  let i = 0;
  while (i < payload.length) {
    const c = payload[i];
    let run = 1;
    while (i + run < payload.length && payload[i + run] === c) run++;
    i += run;
    if (NO_RUNS.has(c)) {
      out += c.repeat(run);
      continue;
    }
    while (run > 0) {
      out += c;
      run--;
      let n = Math.min(run, 97);
      if (n === 6 || n === 7) n = 5;
      if (n >= 3) {
        out += "*" + String.fromCharCode(n + 29);
        run -= n;
      } else {
        out += c.repeat(run);
        run = 0;
      }
    }
  }
  return out;
}

/** Binary data escaped for a packet: `#`, `$`, `}` and `*` become `}` followed by the byte xor 0x20. */
export function escapeBinary(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) {
    if (b === HASH || b === DOLLAR || b === ESCAPE || b === STAR) s += "}" + String.fromCharCode(b ^ 0x20);
    else s += String.fromCharCode(b);
  }
  return s;
}

/** The inverse of escapeBinary, or undefined if the data ends in the middle of an escape. */
export function unescapeBinary(data: string): Uint8Array | undefined {
  const out: number[] = [];
  for (let i = 0; i < data.length; i++) {
    const b = data.charCodeAt(i);
    if (b !== ESCAPE) out.push(b & 0xff);
    else if (i + 1 < data.length) out.push((data.charCodeAt(++i) ^ 0x20) & 0xff);
    else return undefined;
  }
  return Uint8Array.from(out);
}
