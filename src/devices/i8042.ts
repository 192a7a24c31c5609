// The 8042 keyboard controller (data port 0x60, status/command port 0x64) with an AT keyboard
// behind its first port and nothing behind its auxiliary (mouse) port — enough for Linux's
// i8042 probe and atkbd to find a keyboard, or with `keyboard: false` to cleanly find none.
//
// The controller holds one output byte at a time; the keyboard and the aux port keep their own
// queues and the controller fetches from them (keyboard first) whenever its output buffer is
// empty and that interface is enabled — so disabling the keyboard interface (0xAD, CTR bit 4)
// holds keyboard bytes back, as on the chip. Input is processed at once: IBF never shows.
//
// Absent devices answer every byte they are sent with 0xFE and the status register's timeout
// bit, which makes Linux's libps2 give up at once instead of waiting out its timeouts.
// Output-port bit 0 is the CPU reset line: command 0xFE (pulse it) or 0xD1 writing bit 0 clear
// calls `reset` — how Linux reboots a PC with reboot=kbd. Bit 1 is the A20 gate.
//
// Not modelled: scancode translation (CTR bit 6; it starts clear, so Linux runs the keyboard
// untranslated in set 2), typematic repeat, a mouse, the password and multiplexer extensions.

import { type AccessSize, type Line, type PortHandler, readSplit, writeSplit } from "./port.js";

export const I8042_DATA_PORT = 0x60;
export const I8042_COMMAND_PORT = 0x64;
export const KEYBOARD_IRQ = 1;
export const AUX_IRQ = 12;

// Status register
const STR_OBF = 0x01;
const STR_SYS = 0x04;
const STR_CMD = 0x08;
const STR_KEYLOCK = 0x10; // 1: not inhibited
const STR_AUXDATA = 0x20;
const STR_TIMEOUT = 0x40;
// Controller command byte (CTR)
const CTR_KBDINT = 0x01;
const CTR_AUXINT = 0x02;
const CTR_SYS = 0x04;
const CTR_KBDDIS = 0x10;
const CTR_AUXDIS = 0x20;
// Output port
const OUT_RESET = 0x01; // high: CPU running
const OUT_A20 = 0x02;
// Output entries: byte | flags
const FROM_AUX = 0x100;
const TIMED_OUT = 0x200;

const QUEUE_MAX = 16;

export interface I8042State {
  /** Controller RAM; byte 0 is the command byte (CTR). */
  ram: number[];
  /** The output buffer: -1 empty, else byte | FROM_AUX | TIMED_OUT. */
  out: number;
  /** The last byte read from the data port. */
  latch: number;
  ctrlQueue: number[];
  kbdQueue: number[];
  auxQueue: number[];
  /** A controller command waiting for its data byte, or 0. */
  pending: number;
  outputPort: number;
  lastWasCommand: boolean;
  kbdScanning: boolean;
  kbdSet: number;
  kbdLeds: number;
  kbdTypematic: number;
  /** A keyboard command waiting for its parameter byte, or 0. */
  kbdParam: number;
  kbdLastSent: number;
  irq1: boolean;
  irq12: boolean;
}

export interface I8042Options {
  /** Whether a keyboard is plugged in (default true). */
  keyboard?: boolean;
  irq1?: Line;
  irq12?: Line;
  /** The CPU reset line was pulsed. */
  reset?: () => void;
  /** The A20 gate (output port bit 1) changed. */
  a20?: Line;
}

export class I8042 implements PortHandler {
  private readonly ram = new Uint8Array(32);
  private out = -1;
  private latch = 0;
  private ctrlQueue: number[] = [];
  private kbdQueue: number[] = [];
  private auxQueue: number[] = [];
  private pending = 0;
  private outputPort = OUT_RESET | OUT_A20;
  private lastWasCommand = false;
  private kbdScanning = true;
  private kbdSet = 2;
  private kbdLeds = 0;
  private kbdTypematic = 0x2b;
  private kbdParam = 0;
  private kbdLastSent = 0xfa;
  private irq1Level = false;
  private irq12Level = false;
  private readonly keyboardPresent: boolean;
  private readonly opts: I8042Options;

  constructor(opts: I8042Options = {}) {
    this.opts = opts;
    this.keyboardPresent = opts.keyboard ?? true;
    this.ram[0] = CTR_KBDINT | CTR_SYS;
  }

  /** The A20 gate as the output port drives it. */
  get a20(): boolean {
    return (this.outputPort & OUT_A20) !== 0;
  }

  /**
   * Bytes the keyboard sends by itself (scancodes, already in the keyboard's current set);
   * dropped while scanning is disabled, when no keyboard is present, or when its queue is full.
   */
  keyboardInput(bytes: readonly number[]): void {
    if (!this.keyboardPresent || !this.kbdScanning) return;
    for (const b of bytes) this.kbdSend(b);
    this.refill();
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
    if (port === I8042_COMMAND_PORT) return this.status();
    if (port !== I8042_DATA_PORT) return 0xff;
    if (this.out < 0) return this.latch; // nothing new: the port repeats the last byte
    const v = this.out & 0xff;
    this.latch = v;
    this.out = -1;
    this.updateLines(); // the line falls, so the next byte makes a fresh edge
    this.refill();
    return v;
  }

  private status(): number {
    const o = this.out;
    let s = STR_KEYLOCK | (this.ram[0] & CTR_SYS ? STR_SYS : 0) | (this.lastWasCommand ? STR_CMD : 0);
    if (o >= 0) s |= STR_OBF | (o & FROM_AUX ? STR_AUXDATA : 0) | (o & TIMED_OUT ? STR_TIMEOUT : 0);
    return s;
  }

  private writeByte(port: number, v: number): void {
    if (port === I8042_COMMAND_PORT) {
      this.lastWasCommand = true;
      this.command(v);
    } else if (port === I8042_DATA_PORT) {
      this.lastWasCommand = false;
      this.data(v);
    } else {
      return;
    }
    this.refill();
  }

  private command(cmd: number): void {
    this.pending = 0;
    if (cmd >= 0x20 && cmd <= 0x3f) return this.reply(this.ram[cmd & 0x1f]);
    if ((cmd >= 0x60 && cmd <= 0x7f) || (cmd >= 0xd1 && cmd <= 0xd4)) {
      this.pending = cmd;
      return;
    }
    if (cmd >= 0xf0) {
      // Pulse the output-port bits whose command bits are 0; bit 0 is the reset line.
      if (!(cmd & 1)) this.opts.reset?.();
      return;
    }
    switch (cmd) {
      case 0xa4: // password installed?
        return this.reply(0xf1);
      case 0xa7:
        this.ram[0] |= CTR_AUXDIS;
        return;
      case 0xa8:
        this.ram[0] &= ~CTR_AUXDIS;
        return;
      case 0xa9: // aux interface test
      case 0xab: // keyboard interface test
        return this.reply(0x00);
      case 0xaa: // self-test
        return this.reply(0x55);
      case 0xad:
        this.ram[0] |= CTR_KBDDIS;
        return;
      case 0xae:
        this.ram[0] &= ~CTR_KBDDIS;
        return;
      case 0xc0: // input port: keyboard not inhibited
        return this.reply(0x80);
      case 0xd0:
        return this.reply(this.outputPort);
      case 0xdd:
        return this.setOutputPort(this.outputPort & ~OUT_A20);
      case 0xdf:
        return this.setOutputPort(this.outputPort | OUT_A20);
      case 0xe0: // test inputs
        return this.reply(0x00);
      default:
        return; // unknown commands are ignored
    }
  }

  private data(v: number): void {
    const cmd = this.pending;
    this.pending = 0;
    if (cmd >= 0x60 && cmd <= 0x7f) {
      this.ram[cmd & 0x1f] = v;
      this.updateLines();
      return;
    }
    switch (cmd) {
      case 0xd1:
        if (!(v & OUT_RESET)) this.opts.reset?.();
        return this.setOutputPort(v | OUT_RESET);
      case 0xd2:
        return this.pushCtrl(v);
      case 0xd3:
        return this.pushCtrl(v | FROM_AUX);
      case 0xd4:
        // Sending to the mouse re-enables its interface; no mouse answers.
        this.ram[0] &= ~CTR_AUXDIS;
        return this.auxNoDevice();
      default:
        // Plain data goes to the keyboard, which re-enables its interface.
        this.ram[0] &= ~CTR_KBDDIS;
        return this.keyboardCommand(v);
    }
  }

  private setOutputPort(v: number): void {
    const was = this.outputPort;
    this.outputPort = v & 0xff;
    if ((was ^ v) & OUT_A20) this.opts.a20?.((v & OUT_A20) !== 0);
  }

  private keyboardCommand(b: number): void {
    if (!this.keyboardPresent) {
      this.kbdQueue.push(0xfe | TIMED_OUT);
      return;
    }
    const param = this.kbdParam;
    if (param !== 0 && b < 0x80) {
      this.kbdParam = 0;
      if (param === 0xed) this.kbdLeds = b & 7;
      else if (param === 0xf3) this.kbdTypematic = b;
      else if (param === 0xf0) {
        this.kbdSend(0xfa);
        if (b === 0) this.kbdSend(this.kbdSet);
        else if (b <= 3) this.kbdSet = b;
        return;
      }
      this.kbdSend(0xfa);
      return;
    }
    this.kbdParam = 0;
    switch (b) {
      case 0xff: // reset and self-test
        this.kbdQueue = [];
        this.kbdScanning = true;
        this.kbdSet = 2;
        this.kbdLeds = 0;
        this.kbdSend(0xfa);
        this.kbdSend(0xaa);
        return;
      case 0xfe: // resend
        this.kbdSend(this.kbdLastSent);
        return;
      case 0xf6: // set defaults
        this.kbdSet = 2;
        this.kbdTypematic = 0x2b;
        this.kbdSend(0xfa);
        return;
      case 0xf5: // disable scanning (and set defaults)
        this.kbdScanning = false;
        this.kbdSet = 2;
        this.kbdTypematic = 0x2b;
        this.kbdSend(0xfa);
        return;
      case 0xf4:
        this.kbdScanning = true;
        this.kbdSend(0xfa);
        return;
      case 0xf2: // identify: an MF2 keyboard
        this.kbdSend(0xfa);
        this.kbdSend(0xab);
        this.kbdSend(0x83);
        return;
      case 0xee: // echo
        this.kbdSend(0xee);
        return;
      case 0xed:
      case 0xf0:
      case 0xf3:
        this.kbdParam = b;
        this.kbdSend(0xfa);
        return;
      default:
        this.kbdSend(b >= 0xf7 ? 0xfa : 0xfe); // set-3 key-type commands are acknowledged
    }
  }

  private kbdSend(b: number): void {
    if (this.kbdQueue.length >= QUEUE_MAX) return;
    this.kbdQueue.push(b);
    this.kbdLastSent = b;
  }

  private auxNoDevice(): void {
    if (this.auxQueue.length < QUEUE_MAX) this.auxQueue.push(0xfe | FROM_AUX | TIMED_OUT);
  }

  private reply(b: number): void {
    this.pushCtrl(b);
  }

  private pushCtrl(entry: number): void {
    if (this.ctrlQueue.length < QUEUE_MAX) this.ctrlQueue.push(entry);
  }

  /** Moves the next byte into an empty output buffer: controller replies, keyboard, then aux. */
  private refill(): void {
    if (this.out < 0) {
      const ctr = this.ram[0];
      if (this.ctrlQueue.length > 0) this.out = this.ctrlQueue.shift()!;
      else if (this.kbdQueue.length > 0 && !(ctr & CTR_KBDDIS)) this.out = this.kbdQueue.shift()!;
      else if (this.auxQueue.length > 0 && !(ctr & CTR_AUXDIS)) this.out = this.auxQueue.shift()! | FROM_AUX;
    }
    this.updateLines();
  }

  private updateLines(): void {
    const o = this.out;
    const ctr = this.ram[0];
    const kbd = o >= 0 && !(o & FROM_AUX) && (ctr & CTR_KBDINT) !== 0;
    const aux = o >= 0 && (o & FROM_AUX) !== 0 && (ctr & CTR_AUXINT) !== 0;
    if (kbd !== this.irq1Level) {
      this.irq1Level = kbd;
      this.opts.irq1?.(kbd);
    }
    if (aux !== this.irq12Level) {
      this.irq12Level = aux;
      this.opts.irq12?.(aux);
    }
  }

  save(): I8042State {
    return {
      ram: Array.from(this.ram),
      out: this.out,
      latch: this.latch,
      ctrlQueue: [...this.ctrlQueue],
      kbdQueue: [...this.kbdQueue],
      auxQueue: [...this.auxQueue],
      pending: this.pending,
      outputPort: this.outputPort,
      lastWasCommand: this.lastWasCommand,
      kbdScanning: this.kbdScanning,
      kbdSet: this.kbdSet,
      kbdLeds: this.kbdLeds,
      kbdTypematic: this.kbdTypematic,
      kbdParam: this.kbdParam,
      kbdLastSent: this.kbdLastSent,
      irq1: this.irq1Level,
      irq12: this.irq12Level,
    };
  }

  restore(s: I8042State): void {
    this.ram.set(s.ram);
    this.out = s.out;
    this.latch = s.latch;
    this.ctrlQueue = [...s.ctrlQueue];
    this.kbdQueue = [...s.kbdQueue];
    this.auxQueue = [...s.auxQueue];
    this.pending = s.pending;
    this.outputPort = s.outputPort;
    this.lastWasCommand = s.lastWasCommand;
    this.kbdScanning = s.kbdScanning;
    this.kbdSet = s.kbdSet;
    this.kbdLeds = s.kbdLeds;
    this.kbdTypematic = s.kbdTypematic;
    this.kbdParam = s.kbdParam;
    this.kbdLastSent = s.kbdLastSent;
    this.irq1Level = s.irq1;
    this.irq12Level = s.irq12;
  }
}
