// The 8254 programmable interval timer at 0x40-0x43, and system control port B at 0x61, whose
// low bits drive channel 2's gate and the speaker and whose bit 5 reads channel 2's output.
//
// Time is never read from the host. The chip runs on a virtual clock counted in ticks of its
// 1.193182 MHz input: advanceTo(tick) moves it forward (emitting channel 0's output edges on the
// `out0` line, wired to IRQ0), and nextEventTick() tells a machine-level event queue when OUT0
// next changes, so HLT can jump straight there. Counters are not stepped tick by tick: each
// channel remembers when it was loaded and every count and output is computed from that.
//
// Channel 0 and 1 gates are tied high, as on the PC; channel 2's gate is port 0x61 bit 0.
// Simplifications: a count is loaded at the tick it is written (the real chip waits for the next
// input clock), and in mode 3 a new count takes effect at the end of the whole period rather
// than the half-period.

import type { AccessSize, Line, PortHandler } from "./port.js";

/** The 8254's input clock on the PC, in Hz (the 14.31818 MHz crystal divided by 12). */
export const PIT_HZ = 1_193_182;

/**
 * The PIT tick at guest time `ns` (the last whole tick), exactly for any safe-integer ns: whole
 * seconds and the rest are converted apart, so no product exceeds 2^53 (ns × PIT_HZ would past
 * about 7.5 s of guest time).
 */
export function pitTickAt(ns: number): number {
  const s = Math.floor(ns / 1e9);
  return s * PIT_HZ + Math.floor(((ns - s * 1e9) * PIT_HZ) / 1e9);
}

/** Guest time of PIT tick `tick`, rounded up to a whole nanosecond (exactly, as pitTickAt). */
export function nsOfPitTick(tick: number): number {
  const s = Math.floor(tick / PIT_HZ);
  return s * 1e9 + Math.ceil(((tick - s * PIT_HZ) * 1e9) / PIT_HZ);
}
export const PIT_PORT = 0x40;
export const PIT_CONTROL_PORT = 0x43;
export const SYSTEM_PORT_B = 0x61;

/** What a channel is doing. */
export const enum Phase {
  /** Programmed by a control word, no count written yet. */
  Unloaded = 0,
  /** Count written, waiting for a gate trigger (modes 1 and 5; modes 2 and 3 while the gate is low). */
  Armed = 1,
  Counting = 2,
  /** Modes 0 and 4 with the gate low: counting suspended. */
  Paused = 3,
}

export interface PitChannelState {
  /** Control-word bits 5:0 as written (RW, M2-M0, BCD): the status byte reports them. */
  control: number;
  /** Operating mode 0-5 (6 and 7 are read as 2 and 3). */
  mode: number;
  /** Access: 1 LSB only, 2 MSB only, 3 LSB then MSB. */
  rw: number;
  bcd: boolean;
  phase: Phase;
  /** The count register: the last count written, 1..65536 (1..10000 in BCD). */
  reg: number;
  /** The count of the current cycle. */
  n: number;
  /** Tick at which the counting element held `n`. */
  start: number;
  /** Ticks counted before a pause (Paused only). */
  frozen: number;
  /** Modes 2 and 3: the period boundary at which `reg` replaces `n`, or -1. */
  switchAt: number;
  gate: boolean;
  nullCount: boolean;
  /** Write flip-flop: in LSB-then-MSB access, the next write is the MSB. */
  writeHigh: boolean;
  writeLsb: number;
  /** Read flip-flop for unlatched LSB-then-MSB reads. */
  readHigh: boolean;
  /** Pending latched bytes: 0 none, else like `rw` (3: LSB then MSB, 2: MSB, 1: LSB). */
  latchPending: number;
  latch: number;
  statusLatched: boolean;
  status: number;
}

export interface PitState {
  now: number;
  channels: PitChannelState[];
  portB: number;
  out0: boolean;
}

export interface PitOptions {
  /** Channel 0's OUT pin, wired to IRQ0; called on each change. */
  out0?: Line;
  /**
   * The machine's virtual time in PIT ticks. With it, port accesses first bring the chip up to
   * date; without it the chip stays at the last advanceTo().
   */
  clock?: () => number;
}

function newChannel(gate: boolean): PitChannelState {
  return {
    control: 0x30,
    mode: 0,
    rw: 3,
    bcd: false,
    phase: Phase.Unloaded,
    reg: 0x10000,
    n: 0x10000,
    start: 0,
    frozen: 0,
    switchAt: -1,
    gate,
    nullCount: true,
    writeHigh: false,
    writeLsb: 0,
    readHigh: false,
    latchPending: 0,
    latch: 0,
    statusLatched: false,
    status: 0,
  };
}

function fromBcd(v: number): number {
  return ((v >> 12) & 15) * 1000 + ((v >> 8) & 15) * 100 + ((v >> 4) & 15) * 10 + (v & 15);
}

function toBcd(v: number): number {
  return (Math.floor(v / 1000) % 10 << 12) | (Math.floor(v / 100) % 10 << 8) | (Math.floor(v / 10) % 10 << 4) | v % 10;
}

/** Applies a pending mode 2/3 count change once its period boundary has passed. */
function normalize(ch: PitChannelState, t: number): void {
  if (ch.switchAt >= 0 && t >= ch.switchAt) {
    ch.start = ch.switchAt;
    ch.n = ch.reg;
    ch.switchAt = -1;
    ch.nullCount = false;
  }
}

/** Ticks counted so far in this cycle (Counting or Paused). */
function elapsed(ch: PitChannelState, t: number): number {
  return ch.phase === Phase.Paused ? ch.frozen : t - ch.start;
}

/** The OUT pin at tick `t` (channel normalized to `t`). */
function outAt(ch: PitChannelState, t: number): boolean {
  if (ch.phase === Phase.Unloaded) return ch.mode !== 0;
  if (ch.phase === Phase.Armed) return true;
  const d = elapsed(ch, t);
  const n = ch.n;
  switch (ch.mode) {
    case 0:
    case 1:
      return d >= n;
    case 2:
      return n < 2 || d % n !== n - 1;
    case 3:
      return n < 2 || d % n < Math.ceil(n / 2);
    default:
      return d !== n;
  }
}

/** The counting element's value at tick `t`, 0..65535 (0..9999 in BCD), before BCD encoding. */
function countAt(ch: PitChannelState, t: number): number {
  const mod = ch.bcd ? 10000 : 0x10000;
  if (ch.phase === Phase.Unloaded || ch.phase === Phase.Armed) return ch.reg % mod;
  const d = elapsed(ch, t);
  const n = ch.n;
  switch (ch.mode) {
    case 2:
      return (n - (d % n)) % mod;
    case 3: {
      const half = Math.ceil(n / 2);
      const p = d % n;
      const inHalf = p < half ? p : p - half;
      return ((n - 2 * inHalf) & ~1) % mod;
    }
    default: {
      const v = (n - d) % mod;
      return v < 0 ? v + mod : v;
    }
  }
}

/** The next tick after `t` at which OUT changes, for a Counting channel normalized to `t`. */
function nextChange(ch: PitChannelState, t: number): number {
  if (ch.phase !== Phase.Counting) return Infinity;
  const d = t - ch.start;
  const n = ch.n;
  let next: number;
  switch (ch.mode) {
    case 0:
    case 1:
      next = d < n ? ch.start + n : Infinity;
      break;
    case 2: {
      if (n < 2) return Infinity;
      const p = d % n;
      next = t - p + (p < n - 1 ? n - 1 : n);
      break;
    }
    case 3: {
      if (n < 2) return Infinity;
      const p = d % n;
      const half = Math.ceil(n / 2);
      next = t - p + (p < half ? half : n);
      break;
    }
    default:
      next = d < n ? ch.start + n : d === n ? ch.start + n + 1 : Infinity;
  }
  if (ch.switchAt >= 0 && ch.switchAt < next) next = ch.switchAt;
  return next;
}

export class Pit8254 implements PortHandler {
  private now = 0;
  private readonly ch: PitChannelState[] = [newChannel(true), newChannel(true), newChannel(false)];
  /** Port 0x61 bits 3:0 as written: gate 2, speaker data, parity and I/O check enables. */
  private portB = 0;
  private out0Level = false;
  private readonly out0: Line | undefined;
  private readonly clock: (() => number) | undefined;

  constructor(opts: PitOptions = {}) {
    this.out0 = opts.out0;
    this.clock = opts.clock;
  }

  /** The chip's current time in ticks. */
  get tick(): number {
    return this.now;
  }

  /**
   * Runs the chip forward to tick `t`, emitting OUT0's edges in order. If OUT0 would cycle many
   * times (a periodic mode left unattended), only the last full period's edges are emitted:
   * the interrupt controller latches one request either way, and ticks the machine let pass
   * without scheduling them are lost as on a busy real machine.
   */
  advanceTo(t: number): void {
    if (t <= this.now) return;
    const ch = this.ch[0];
    for (;;) {
      normalize(ch, this.now);
      const next = nextChange(ch, this.now);
      if (next > t) break;
      if ((ch.mode === 2 || ch.mode === 3) && ch.switchAt < 0 && t - next > 2 * ch.n) {
        const k = Math.floor((t - ch.start) / ch.n) - 1;
        this.now = ch.start + k * ch.n;
      } else {
        this.now = next;
      }
      normalize(ch, this.now);
      this.setOut0(outAt(ch, this.now));
    }
    this.now = t;
    normalize(ch, t);
  }

  /** The next tick at which OUT0 changes, or Infinity if it will not change by itself. */
  nextEventTick(): number {
    const ch = this.ch[0];
    normalize(ch, this.now);
    return nextChange(ch, this.now);
  }

  /** Channel `c`'s OUT pin now (channel 2's is also port 0x61 bit 5). */
  out(c: number): boolean {
    const ch = this.ch[c];
    normalize(ch, this.now);
    return outAt(ch, this.now);
  }

  /** Drives channel `c`'s GATE input (channel 2's is normally port 0x61 bit 0). */
  setGate(c: number, level: boolean): void {
    this.sync();
    this.gate(c, level);
  }

  read(port: number, size: AccessSize): number {
    this.sync();
    let v = this.readByte(port);
    // Wider accesses reach the next ports, as the ISA bus splits them.
    for (let i = 1; i < size; i++) v |= this.readByte(port + i) << (8 * i);
    return v >>> 0;
  }

  write(port: number, size: AccessSize, value: number): void {
    this.sync();
    for (let i = 0; i < size; i++) this.writeByte(port + i, (value >>> (8 * i)) & 0xff);
  }

  private sync(): void {
    if (this.clock !== undefined) this.advanceTo(this.clock());
  }

  private readByte(port: number): number {
    if (port === SYSTEM_PORT_B) return this.readPortB();
    const c = port - PIT_PORT;
    if (c < 0 || c > 2) return 0xff;
    const ch = this.ch[c];
    if (ch.statusLatched) {
      ch.statusLatched = false;
      return ch.status;
    }
    if (ch.latchPending !== 0) {
      const p = ch.latchPending;
      ch.latchPending = p === 3 ? 2 : 0;
      return p === 2 ? ch.latch >>> 8 : ch.latch & 0xff;
    }
    normalize(ch, this.now);
    const v = this.encoded(ch);
    switch (ch.rw) {
      case 1:
        return v & 0xff;
      case 2:
        return v >>> 8;
      default:
        ch.readHigh = !ch.readHigh;
        return ch.readHigh ? v & 0xff : v >>> 8;
    }
  }

  private readPortB(): number {
    // Bit 4 is the DRAM refresh request, toggling every 15.085 us (18 input clocks).
    const refresh = Math.floor(this.now / 18) % 2 === 1 ? 0x10 : 0;
    return (this.portB & 0x0f) | refresh | (this.out(2) ? 0x20 : 0);
  }

  private encoded(ch: PitChannelState): number {
    const v = countAt(ch, this.now);
    return ch.bcd ? toBcd(v) : v;
  }

  private writeByte(port: number, v: number): void {
    if (port === SYSTEM_PORT_B) {
      this.portB = v & 0x0f;
      this.gate(2, (v & 1) !== 0);
      return;
    }
    if (port === PIT_CONTROL_PORT) return this.control(v);
    const c = port - PIT_PORT;
    if (c < 0 || c > 2) return;
    const ch = this.ch[c];
    switch (ch.rw) {
      case 1:
        this.load(c, v);
        break;
      case 2:
        this.load(c, v << 8);
        break;
      default:
        if (!ch.writeHigh) {
          ch.writeHigh = true;
          ch.writeLsb = v;
          // Mode 0: writing the first byte stops the count and drops OUT.
          if (ch.mode === 0) {
            ch.phase = Phase.Unloaded;
            ch.switchAt = -1;
            if (c === 0) this.setOut0(false);
          }
        } else {
          ch.writeHigh = false;
          this.load(c, ch.writeLsb | (v << 8));
        }
    }
  }

  private control(v: number): void {
    const sc = v >> 6;
    if (sc === 3) return this.readBack(v);
    const ch = this.ch[sc];
    const rw = (v >> 4) & 3;
    if (rw === 0) {
      this.latchCount(ch);
      return;
    }
    let mode = (v >> 1) & 7;
    if (mode > 5) mode -= 4;
    ch.control = v & 0x3f;
    ch.mode = mode;
    ch.rw = rw;
    ch.bcd = (v & 1) !== 0;
    ch.phase = Phase.Unloaded;
    ch.switchAt = -1;
    ch.nullCount = true;
    ch.writeHigh = false;
    ch.readHigh = false;
    ch.latchPending = 0;
    ch.statusLatched = false;
    if (sc === 0) this.setOut0(outAt(ch, this.now));
  }

  private latchCount(ch: PitChannelState): void {
    if (ch.latchPending !== 0) return;
    normalize(ch, this.now);
    ch.latch = this.encoded(ch);
    ch.latchPending = ch.rw;
  }

  private readBack(v: number): void {
    for (let c = 0; c < 3; c++) {
      if (!(v & (2 << c))) continue;
      const ch = this.ch[c];
      if (!(v & 0x20)) this.latchCount(ch);
      if (!(v & 0x10) && !ch.statusLatched) {
        normalize(ch, this.now);
        ch.status = (outAt(ch, this.now) ? 0x80 : 0) | (ch.nullCount ? 0x40 : 0) | ch.control;
        ch.statusLatched = true;
      }
    }
  }

  /** A complete count write. */
  private load(c: number, raw: number): void {
    const ch = this.ch[c];
    normalize(ch, this.now);
    let n = ch.bcd ? fromBcd(raw) : raw;
    if (n === 0) n = ch.bcd ? 10000 : 0x10000;
    ch.reg = n;
    ch.nullCount = true;
    switch (ch.mode) {
      case 0:
      case 4:
        ch.n = n;
        ch.nullCount = false;
        if (ch.gate) {
          ch.phase = Phase.Counting;
          ch.start = this.now;
        } else {
          ch.phase = Phase.Paused;
          ch.frozen = 0;
        }
        break;
      case 1:
      case 5:
        if (ch.phase === Phase.Unloaded) ch.phase = Phase.Armed;
        break;
      default:
        if (ch.phase === Phase.Counting) {
          ch.switchAt = ch.start + (Math.floor((this.now - ch.start) / ch.n) + 1) * ch.n;
        } else if (ch.gate) {
          this.begin(ch);
        } else {
          ch.phase = Phase.Armed;
        }
    }
    if (c === 0) this.setOut0(outAt(ch, this.now));
  }

  /** Loads the count register into the counting element and starts counting now. */
  private begin(ch: PitChannelState): void {
    ch.n = ch.reg;
    ch.start = this.now;
    ch.phase = Phase.Counting;
    ch.switchAt = -1;
    ch.nullCount = false;
  }

  private gate(c: number, level: boolean): void {
    const ch = this.ch[c];
    if (ch.gate === level) return;
    normalize(ch, this.now);
    ch.gate = level;
    if (level) {
      switch (ch.mode) {
        case 0:
        case 4:
          if (ch.phase === Phase.Paused) {
            ch.start = this.now - ch.frozen;
            ch.phase = Phase.Counting;
          }
          break;
        default:
          // Modes 1 and 5 trigger, modes 2 and 3 restart: both reload the count.
          if (ch.phase !== Phase.Unloaded) this.begin(ch);
      }
    } else if (ch.phase === Phase.Counting) {
      if (ch.mode === 0 || ch.mode === 4) {
        ch.frozen = this.now - ch.start;
        ch.phase = Phase.Paused;
      } else if (ch.mode === 2 || ch.mode === 3) {
        ch.phase = Phase.Armed;
        ch.switchAt = -1;
      }
    }
    if (c === 0) this.setOut0(outAt(ch, this.now));
  }

  private setOut0(level: boolean): void {
    if (level === this.out0Level) return;
    this.out0Level = level;
    this.out0?.(level);
  }

  save(): PitState {
    return { now: this.now, channels: this.ch.map((c) => ({ ...c })), portB: this.portB, out0: this.out0Level };
  }

  restore(s: PitState): void {
    this.now = s.now;
    for (let i = 0; i < 3; i++) Object.assign(this.ch[i], s.channels[i]);
    this.portB = s.portB;
    this.out0Level = s.out0;
  }
}
