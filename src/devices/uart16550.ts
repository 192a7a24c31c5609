// The 16550A UART (COM1 at 0x3F8 by default): eight registers, a 16-byte receive FIFO fed by the
// host through receive(), and a transmitter. By default the transmitter hands every byte to a
// sink the moment it is written, so THR and the transmitter are always empty again by the time
// the guest looks (LSR.THRE and LSR.TEMT stay set). With a character time (UartOptions.txNs, a
// machine whose serial line is slower: chaos mode picks one) a byte takes that long to shift
// out, the bytes written meanwhile wait in THR (the 16-byte FIFO when enabled), THRE rises, with
// its interrupt, when the last of them moves to the shift register, and the sink gets each byte
// when it has been sent; the machine runs the chip to the present through advanceTo().
//
// Interrupts follow the datasheet's four sources in priority order (line status, received data
// or character timeout, THR empty, modem status) and what Linux's 8250 driver checks:
//  - autoconfig: IER keeps bits 3:0 only; in loopback (MCR bit 4) the MSR reflects MCR
//    (RTS|OUT2 -> CTS|DCD = 0x90); enabling the FIFO shows IIR bits 7:6 = 11; no EFR, no
//    64-byte FIFO bit, no IER.UUE: a plain 16550A.
//  - serial8250_startup's THRE tests: setting IER.ETBEI while THR is empty raises the THRE
//    interrupt; reading IIR while it is the reported source clears it; clearing and setting
//    ETBEI again raises it again.
//  - As on PCs, the IRQ output only reaches the bus while MCR.OUT2 is set and loopback is off.
// Received data below the FIFO trigger level reports a character timeout (IIR 0xCC) at once
// instead of after four character times: there are no character times here.

import { type AccessSize, type Line, type PortHandler, readSplit, writeSplit } from "./port.js";

export const COM1_PORT = 0x3f8;
export const COM2_PORT = 0x2f8;
export const COM1_IRQ = 4;
export const COM2_IRQ = 3;

const FIFO_SIZE = 16;

// IER
const IER_RDI = 0x01;
const IER_THRI = 0x02;
const IER_RLSI = 0x04;
const IER_MSI = 0x08;
// LCR
const LCR_DLAB = 0x80;
// MCR
const MCR_DTR = 0x01;
const MCR_RTS = 0x02;
const MCR_OUT1 = 0x04;
const MCR_OUT2 = 0x08;
const MCR_LOOP = 0x10;
// LSR
const LSR_DR = 0x01;
const LSR_OE = 0x02;
const LSR_ERRORS = 0x1e; // OE, PE, FE, BI
const LSR_THRE = 0x20;
const LSR_TEMT = 0x40;
// MSR
export const MSR_CTS = 0x10;
export const MSR_DSR = 0x20;
export const MSR_RI = 0x40;
export const MSR_DCD = 0x80;
// IIR
const IIR_NONE = 0x01;
const IIR_MSI = 0x00;
const IIR_THRI = 0x02;
const IIR_RDI = 0x04;
const IIR_RLSI = 0x06;
const IIR_TIMEOUT = 0x0c;
const IIR_FIFO = 0xc0;

const TRIGGER_LEVELS = [1, 4, 8, 14];

export interface UartState {
  ier: number;
  lcr: number;
  mcr: number;
  scr: number;
  dll: number;
  dlm: number;
  /** LSR error bits (OE, PE, FE, BI) waiting to be read. */
  lsrErrors: number;
  /** MSR bits 7:4 (the modem inputs as the chip sees them) and 3:0 (deltas). */
  msr: number;
  /** The host side's CTS/DSR/RI/DCD, in MSR bit positions. */
  modemInputs: number;
  fifoEnabled: boolean;
  /** FCR bits 7:6. */
  trigger: number;
  rx: number[];
  rxHead: number;
  rxCount: number;
  thrInterrupt: boolean;
  irq: boolean;
  /** With a character time only: the bytes waiting in THR (or the transmit FIFO). */
  txQueue?: number[];
  /** The byte in the shift register, or -1 when the transmitter is idle. */
  txShift?: number;
  /** When the byte in the shift register has been sent (guest ns). */
  txDoneNs?: number;
}

/**
 * Whether a byte received would raise the chip's interrupt on the bus: the received-data
 * interrupt enabled, OUT2 set (a PC's gate of the line) and loopback off.
 */
export function receiveInterrupts(s: UartState): boolean {
  return (s.ier & IER_RDI) !== 0 && (s.mcr & MCR_OUT2) !== 0 && (s.mcr & MCR_LOOP) === 0;
}

export interface UartOptions {
  /** First of the eight ports (default COM1, 0x3F8). */
  base?: number;
  /** Where transmitted bytes go (not in loopback mode). */
  tx?: (byte: number) => void;
  /** The interrupt output (already gated by OUT2), called on each change. */
  irq?: Line;
  /** The modem inputs a terminal presents: default carrier, data set ready and clear to send. */
  modemInputs?: number;
  /** How long the transmitter takes to send one byte, in guest ns (default 0: at once). */
  txNs?: number;
  /** Guest time now, in ns: needed with a character time (when a byte written starts to shift out). */
  clock?: () => number;
}

export class Uart16550 implements PortHandler {
  readonly base: number;
  private ier = 0;
  private lcr = 0;
  private mcr = 0;
  private scr = 0;
  private dll = 0x0c; // 9600 baud
  private dlm = 0;
  private lsrErrors = 0;
  private msr = 0;
  private modemInputs: number;
  private fifoEnabled = false;
  private trigger = 0;
  private readonly rx = new Uint8Array(FIFO_SIZE);
  private rxHead = 0;
  private rxCount = 0;
  private thrInterrupt = false;
  private irqLevel = false;
  private readonly tx: ((byte: number) => void) | undefined;
  private readonly irq: Line | undefined;
  private readonly txNs: number;
  private readonly clock: () => number;
  private txQueue: number[] = [];
  private txShift = -1;
  private txDoneNs = 0;

  constructor(opts: UartOptions = {}) {
    this.base = opts.base ?? COM1_PORT;
    this.tx = opts.tx;
    this.irq = opts.irq;
    this.txNs = opts.txNs ?? 0;
    if (!Number.isInteger(this.txNs) || this.txNs < 0) throw new Error(`uart: a character time of ${this.txNs} ns is not a whole number of ns`);
    if (this.txNs > 0 && opts.clock === undefined) throw new Error("uart: a character time needs a clock");
    this.clock = opts.clock ?? (() => 0);
    this.modemInputs = (opts.modemInputs ?? MSR_DCD | MSR_DSR | MSR_CTS) & 0xf0;
    this.msr = this.modemInputs;
  }

  /** Free room in the receive FIFO (one holding register with the FIFO off). */
  rxFree(): number {
    return (this.fifoEnabled ? FIFO_SIZE : 1) - this.rxCount;
  }

  /**
   * A byte arrives on the serial line. With no room it is an overrun: LSR.OE is set and the
   * byte is lost (with the FIFO off, it replaces the unread one, as on the 16450). In loopback
   * mode the line input is disconnected and the byte is lost too: check rxFree() and
   * inLoopback() to hold input back.
   */
  receive(byte: number): void {
    if (this.mcr & MCR_LOOP) return;
    this.push(byte & 0xff);
  }

  /** Whether the guest has asked to hear of received data (IER.RDI): its driver is listening. */
  receiverListening(): boolean {
    return (this.ier & IER_RDI) !== 0;
  }

  inLoopback(): boolean {
    return (this.mcr & MCR_LOOP) !== 0;
  }

  private push(byte: number): void {
    if (this.rxFree() > 0) {
      this.rx[(this.rxHead + this.rxCount) % FIFO_SIZE] = byte;
      this.rxCount++;
    } else {
      this.lsrErrors |= LSR_OE;
      if (!this.fifoEnabled) this.rx[this.rxHead] = byte;
    }
    this.update();
  }

  /** The host changes CTS/DSR/RI/DCD (MSR bit positions). */
  setModemInputs(bits: number): void {
    this.modemInputs = bits & 0xf0;
    this.refreshModemStatus();
    this.update();
  }

  read(port: number, size: AccessSize): number {
    if (size !== 1) return readSplit(port, size, (p) => this.readByte(p));
    return this.readByte(port);
  }

  write(port: number, size: AccessSize, value: number): void {
    if (size !== 1) return writeSplit(port, size, value, (p, v) => this.writeByte(p, v));
    this.writeByte(port, value & 0xff);
  }

  private readByte(port: number): number {
    const reg = port - this.base;
    switch (reg) {
      case 0:
        return this.lcr & LCR_DLAB ? this.dll : this.readRbr();
      case 1:
        return this.lcr & LCR_DLAB ? this.dlm : this.ier;
      case 2: {
        const iir = this.iir();
        if ((iir & 0x0f) === IIR_THRI) {
          this.thrInterrupt = false;
          this.update();
        }
        return iir;
      }
      case 3:
        return this.lcr;
      case 4:
        return this.mcr;
      case 5: {
        const lsr = this.lsr();
        this.lsrErrors = 0;
        this.update();
        return lsr;
      }
      case 6: {
        const msr = this.msr;
        this.msr &= 0xf0;
        this.update();
        return msr;
      }
      case 7:
        return this.scr;
      default:
        return 0xff;
    }
  }

  private writeByte(port: number, v: number): void {
    const reg = port - this.base;
    switch (reg) {
      case 0:
        if (this.lcr & LCR_DLAB) this.dll = v;
        else this.transmit(v);
        break;
      case 1:
        if (this.lcr & LCR_DLAB) {
          this.dlm = v;
        } else {
          const was = this.ier;
          this.ier = v & 0x0f;
          // Turning ETBEI on with THR empty raises the THRE interrupt (on the rising edge only).
          if (this.ier & IER_THRI && !(was & IER_THRI)) this.thrInterrupt = true;
        }
        break;
      case 2:
        this.writeFcr(v);
        break;
      case 3:
        this.lcr = v;
        break;
      case 4:
        this.mcr = v & 0x1f;
        this.refreshModemStatus();
        break;
      case 7:
        this.scr = v;
        break;
      default: // LSR and MSR are read-only
        return;
    }
    this.update();
  }

  private readRbr(): number {
    if (this.rxCount === 0) return 0;
    const b = this.rx[this.rxHead];
    this.rxHead = (this.rxHead + 1) % FIFO_SIZE;
    this.rxCount--;
    this.update();
    return b;
  }

  private transmit(byte: number): void {
    if (this.mcr & MCR_LOOP) this.push(byte);
    else if (this.txNs > 0) return this.enqueue(byte);
    else this.tx?.(byte);
    // The byte left THR (and the shift register) at once: THR is empty again.
    this.thrInterrupt = true;
  }

  /** A byte written with a character time: to the idle shift register, else to wait in THR. */
  private enqueue(byte: number): void {
    if (this.txShift < 0) {
      this.txShift = byte;
      this.txDoneNs = this.clock() + this.txNs;
      // It moved on at once: THR is empty again.
      this.thrInterrupt = true;
      return;
    }
    // THR is full: a write the driver should not have made replaces the byte (the FIFO's is lost).
    if (this.txQueue.length < (this.fifoEnabled ? FIFO_SIZE : 1)) this.txQueue.push(byte);
    else if (!this.fifoEnabled) this.txQueue[0] = byte;
    this.thrInterrupt = false;
  }

  /** When the transmitter next finishes a byte (guest ns), or Infinity. */
  nextEventNs(): number {
    return this.txShift < 0 ? Infinity : this.txDoneNs;
  }

  /** Runs the transmitter to guest time `ns`: the bytes sent by then go to the sink. */
  advanceTo(ns: number): void {
    if (this.txShift < 0 || ns < this.txDoneNs) return;
    while (this.txShift >= 0 && ns >= this.txDoneNs) {
      this.tx?.(this.txShift);
      if (this.txQueue.length === 0) {
        this.txShift = -1;
        break;
      }
      this.txShift = this.txQueue.shift()!;
      this.txDoneNs += this.txNs;
      if (this.txQueue.length === 0) this.thrInterrupt = true;
    }
    this.update();
  }

  private writeFcr(v: number): void {
    const enable = (v & 1) !== 0;
    if (enable !== this.fifoEnabled || v & 0x02) {
      this.rxHead = 0;
      this.rxCount = 0;
    }
    if (enable !== this.fifoEnabled || v & 0x04) this.txQueue = [];
    this.fifoEnabled = enable;
    if (enable) this.trigger = v >> 6;
  }

  private lsr(): number {
    const thre = this.txQueue.length === 0;
    return (this.rxCount > 0 ? LSR_DR : 0) | this.lsrErrors | (thre ? LSR_THRE : 0) | (thre && this.txShift < 0 ? LSR_TEMT : 0);
  }

  /** The interrupt identification: the highest-priority enabled source. */
  private iir(): number {
    const fifo = this.fifoEnabled ? IIR_FIFO : 0;
    const ier = this.ier;
    if (ier & IER_RLSI && this.lsrErrors & LSR_ERRORS) return fifo | IIR_RLSI;
    if (ier & IER_RDI && this.rxCount > 0) {
      if (this.fifoEnabled && this.rxCount < TRIGGER_LEVELS[this.trigger]) return fifo | IIR_TIMEOUT;
      return fifo | IIR_RDI;
    }
    if (ier & IER_THRI && this.thrInterrupt) return fifo | IIR_THRI;
    if (ier & IER_MSI && this.msr & 0x0f) return fifo | IIR_MSI;
    return fifo | IIR_NONE;
  }

  /** Recomputes MSR bits 7:4 from the host inputs, or from MCR in loopback, setting deltas. */
  private refreshModemStatus(): void {
    let now: number;
    if (this.mcr & MCR_LOOP) {
      const m = this.mcr;
      now = (m & MCR_DTR ? MSR_DSR : 0) | (m & MCR_RTS ? MSR_CTS : 0) | (m & MCR_OUT1 ? MSR_RI : 0) | (m & MCR_OUT2 ? MSR_DCD : 0);
    } else {
      now = this.modemInputs;
    }
    const was = this.msr & 0xf0;
    const changed = was ^ now;
    let delta = this.msr & 0x0f;
    if (changed & MSR_CTS) delta |= 0x01;
    if (changed & MSR_DSR) delta |= 0x02;
    if (was & MSR_RI && !(now & MSR_RI)) delta |= 0x04; // trailing edge of ring indicator
    if (changed & MSR_DCD) delta |= 0x08;
    this.msr = now | delta;
  }

  private update(): void {
    const line = (this.iir() & IIR_NONE) === 0 && (this.mcr & (MCR_OUT2 | MCR_LOOP)) === MCR_OUT2;
    if (line !== this.irqLevel) {
      this.irqLevel = line;
      this.irq?.(line);
    }
  }

  /**
   * The state as plain data; with `into` (a state this chip's save() made, or its clone), written
   * into it in place: a VMM writes its chips back after every exit, and a new object per exit is
   * garbage. The keys come in one order either way, so hashes of the two agree.
   */
  save(into?: UartState): UartState {
    const s = into ?? ({} as UartState);
    s.ier = this.ier;
    s.lcr = this.lcr;
    s.mcr = this.mcr;
    s.scr = this.scr;
    s.dll = this.dll;
    s.dlm = this.dlm;
    s.lsrErrors = this.lsrErrors;
    s.msr = this.msr;
    s.modemInputs = this.modemInputs;
    s.fifoEnabled = this.fifoEnabled;
    s.trigger = this.trigger;
    s.rx ??= [];
    for (let i = 0; i < FIFO_SIZE; i++) s.rx[i] = this.rx[i];
    s.rxHead = this.rxHead;
    s.rxCount = this.rxCount;
    s.thrInterrupt = this.thrInterrupt;
    s.irq = this.irqLevel;
    // Only a timed transmitter has more (the state, and so its hash, is as it was without).
    if (this.txNs > 0) {
      s.txQueue ??= [];
      s.txQueue.length = 0;
      for (const b of this.txQueue) s.txQueue.push(b);
      s.txShift = this.txShift;
      s.txDoneNs = this.txDoneNs;
    }
    return s;
  }

  restore(s: UartState): void {
    this.ier = s.ier;
    this.lcr = s.lcr;
    this.mcr = s.mcr;
    this.scr = s.scr;
    this.dll = s.dll;
    this.dlm = s.dlm;
    this.lsrErrors = s.lsrErrors;
    this.msr = s.msr;
    this.modemInputs = s.modemInputs;
    this.fifoEnabled = s.fifoEnabled;
    this.trigger = s.trigger;
    this.rx.set(s.rx);
    this.rxHead = s.rxHead;
    this.rxCount = s.rxCount;
    this.thrInterrupt = s.thrInterrupt;
    this.irqLevel = s.irq;
    this.txQueue = [...(s.txQueue ?? [])];
    this.txShift = s.txShift ?? -1;
    this.txDoneNs = s.txDoneNs ?? 0;
  }
}
