// The PC/AT pair of 8259A programmable interrupt controllers: the master at 0x20/0x21 takes
// IRQ0-7, the slave at 0xA0/0xA1 takes IRQ8-15 and drives the master's IR2, and the PIIX edge/level
// control registers (ELCR) at 0x4D0/0x4D1 choose edge or level sensing per line.
//
// Devices raise and lower their lines with setIrq(); the CPU side is the INTR output
// (hasInterrupt(), or the `intr` line) and the INTA cycle (acknowledge(), which answers a vector).
// Written from the Intel 8259A datasheet; where the datasheet and what PC software relies on part
// ways, this model follows the software (see "edge-triggered requests" below).
//
// Edge-triggered requests are latched in IRR on the rising edge and stay there until an INTA
// cycle (or a poll) takes them, even if the line falls first. The real chip drops such a request
// and answers a spurious IRQ7 instead; QEMU and most PC emulators latch, and Linux copes with
// both. Level-triggered requests follow the line. The slave's INT output reaches the master's IR2
// as a level, so a slave request that stays asserted across an EOI is never lost.

import { type AccessSize, type Line, type PortHandler, readSplit, writeSplit } from "./port.js";

export const PIC_MASTER_PORT = 0x20;
export const PIC_SLAVE_PORT = 0xa0;
export const PIC_ELCR_PORT = 0x4d0;
/** The master input the slave's INT output is wired to. */
export const PIC_CASCADE_IRQ = 2;

/** One chip's registers, as plain data. */
export interface PicChipState {
  irr: number;
  isr: number;
  imr: number;
  /** Current levels of the eight IR inputs. */
  lines: number;
  /** The IR level with the lowest priority (7 after init; rotation moves it). */
  lowest: number;
  /** 0: operating; 2, 3, 4: waiting for ICW2, ICW3, ICW4. */
  initStep: number;
  icw1: number;
  icw3: number;
  icw4: number;
  vectorBase: number;
  /** OCW3 RR/RIS: reads of the command port return ISR (true) or IRR (false). */
  readIsr: boolean;
  /** OCW3 P: the next command-port read is a poll. */
  poll: boolean;
  specialMask: boolean;
  rotateOnAutoEoi: boolean;
  elcr: number;
}

export interface PicState {
  master: PicChipState;
  slave: PicChipState;
  intr: boolean;
}

/**
 * Whether a request on ISA line `irq` could reach INTR: the chip is not waiting for its
 * initialization words and the line is unmasked there, and a slave's line also at the master's
 * cascade input.
 */
export function irqUnmasked(s: PicState, irq: number): boolean {
  const open = (c: PicChipState, line: number) => c.initStep === 0 && (c.imr & (1 << line)) === 0;
  if (irq === PIC_CASCADE_IRQ) irq = 9;
  return irq < 8 ? open(s.master, irq) : open(s.slave, irq & 7) && open(s.master, PIC_CASCADE_IRQ);
}

const ICW1_IC4 = 0x01;
const ICW1_SNGL = 0x02;
const ICW1_LTIM = 0x08;
const ICW4_AEOI = 0x02;
const ICW4_SFNM = 0x10;

class PicChip implements PicChipState {
  irr = 0;
  isr = 0;
  imr = 0;
  lines = 0;
  lowest = 7;
  initStep = 0;
  icw1 = 0;
  icw3 = 0;
  icw4 = 0;
  vectorBase = 0;
  readIsr = false;
  poll = false;
  specialMask = false;
  rotateOnAutoEoi = false;
  elcr = 0;

  constructor(
    readonly isMaster: boolean,
    /** ELCR bits that exist: on PIIX, IRQ0-2, IRQ8 and IRQ13 are always edge-triggered. */
    readonly elcrMask: number,
  ) {}

  /** Inputs sensed by level: all with ICW1.LTIM, else those set in the ELCR. */
  levelMask(): number {
    return this.icw1 & ICW1_LTIM ? 0xff : this.elcr;
  }

  /** Cascade inputs this chip is programmed for (master only, not in single mode). */
  cascadeMask(): number {
    return this.isMaster && !(this.icw1 & ICW1_SNGL) ? this.icw3 : 0;
  }

  setLine(irq: number, level: boolean): void {
    const bit = 1 << irq;
    if (level) {
      if (!(this.lines & bit)) {
        this.lines |= bit;
        this.irr |= bit;
      }
    } else if (this.lines & bit) {
      this.lines &= ~bit;
      if (this.levelMask() & bit) this.irr &= ~bit;
    }
  }

  /** The request the chip would present now, or -1: highest priority unmasked IRR bit above every in-service level. */
  resolve(): number {
    const pending = this.irr & ~this.imr;
    if (pending === 0) return -1;
    let inService = this.isr;
    if (this.specialMask) inService &= ~this.imr;
    if (this.icw4 & ICW4_SFNM) inService &= ~this.cascadeMask();
    for (let i = 1; i <= 8; i++) {
      const bit = 1 << ((this.lowest + i) & 7);
      if (inService & bit) return -1;
      if (pending & bit) return (this.lowest + i) & 7;
    }
    return -1;
  }

  /** The INTA (or poll) side effects for `irq`: IRR→ISR, or just rotation under auto-EOI. */
  take(irq: number): void {
    const bit = 1 << irq;
    if (!(this.levelMask() & bit)) this.irr &= ~bit;
    if (this.icw4 & ICW4_AEOI) {
      if (this.rotateOnAutoEoi) this.lowest = irq;
    } else {
      this.isr |= bit;
    }
  }

  /** The highest-priority in-service level, or -1. */
  highestInService(): number {
    if (this.isr === 0) return -1;
    for (let i = 1; i <= 8; i++) {
      const irq = (this.lowest + i) & 7;
      if (this.isr & (1 << irq)) return irq;
    }
    return -1;
  }

  readCommand(): number {
    if (this.poll) {
      this.poll = false;
      const irq = this.resolve();
      if (irq < 0) return 0;
      this.take(irq);
      return 0x80 | irq;
    }
    return this.readIsr ? this.isr : this.irr;
  }

  readData(): number {
    return this.imr;
  }

  writeCommand(v: number): void {
    if (v & 0x10) return this.icw1Write(v);
    if (v & 0x08) return this.ocw3(v);
    this.ocw2(v);
  }

  writeData(v: number): void {
    switch (this.initStep) {
      case 2:
        this.vectorBase = v & 0xf8;
        this.initStep = this.icw1 & ICW1_SNGL ? (this.icw1 & ICW1_IC4 ? 4 : 0) : 3;
        return;
      case 3:
        this.icw3 = v;
        this.initStep = this.icw1 & ICW1_IC4 ? 4 : 0;
        return;
      case 4:
        this.icw4 = v & 0x1f;
        this.initStep = 0;
        return;
      default:
        this.imr = v;
    }
  }

  private icw1Write(v: number): void {
    this.icw1 = v & 0x0f;
    this.initStep = 2;
    // Datasheet: the edge-sense circuit is reset, the IMR cleared, IR7 gets the lowest priority,
    // special mask mode is cleared and status reads select the IRR.
    this.irr = this.lines & this.levelMask();
    this.isr = 0;
    this.imr = 0;
    this.lowest = 7;
    this.readIsr = false;
    this.poll = false;
    this.specialMask = false;
    this.rotateOnAutoEoi = false;
    if (!(v & ICW1_IC4)) this.icw4 = 0;
  }

  private ocw2(v: number): void {
    const level = v & 7;
    switch (v >> 5) {
      case 0: // clear rotate in automatic EOI mode
        this.rotateOnAutoEoi = false;
        return;
      case 4: // set rotate in automatic EOI mode
        this.rotateOnAutoEoi = true;
        return;
      case 1: // non-specific EOI
      case 5: {
        // rotate on non-specific EOI
        const irq = this.highestInService();
        if (irq < 0) return;
        this.isr &= ~(1 << irq);
        if (v & 0x80) this.lowest = irq;
        return;
      }
      case 3: // specific EOI
      case 7: // rotate on specific EOI
        this.isr &= ~(1 << level);
        if (v & 0x80) this.lowest = level;
        return;
      case 6: // set priority
        this.lowest = level;
        return;
      default: // 2: no operation
        return;
    }
  }

  private ocw3(v: number): void {
    if (v & 0x04) this.poll = true;
    if (v & 0x02) this.readIsr = (v & 0x01) !== 0;
    if (v & 0x40) this.specialMask = (v & 0x20) !== 0;
  }

  writeElcr(v: number): void {
    this.elcr = v & this.elcrMask;
    const level = this.levelMask();
    this.irr = (this.irr & ~level) | (this.lines & level);
  }

  /** The state as plain data; into `into` in place when given (see Pic8259.save). */
  save(into?: PicChipState): PicChipState {
    const s = into ?? ({} as PicChipState);
    s.irr = this.irr;
    s.isr = this.isr;
    s.imr = this.imr;
    s.lines = this.lines;
    s.lowest = this.lowest;
    s.initStep = this.initStep;
    s.icw1 = this.icw1;
    s.icw3 = this.icw3;
    s.icw4 = this.icw4;
    s.vectorBase = this.vectorBase;
    s.readIsr = this.readIsr;
    s.poll = this.poll;
    s.specialMask = this.specialMask;
    s.rotateOnAutoEoi = this.rotateOnAutoEoi;
    s.elcr = this.elcr;
    return s;
  }

  restore(s: PicChipState): void {
    this.irr = s.irr;
    this.isr = s.isr;
    this.imr = s.imr;
    this.lines = s.lines;
    this.lowest = s.lowest;
    this.initStep = s.initStep;
    this.icw1 = s.icw1;
    this.icw3 = s.icw3;
    this.icw4 = s.icw4;
    this.vectorBase = s.vectorBase;
    this.readIsr = s.readIsr;
    this.poll = s.poll;
    this.specialMask = s.specialMask;
    this.rotateOnAutoEoi = s.rotateOnAutoEoi;
    this.elcr = s.elcr;
  }
}

export interface PicOptions {
  /** The INTR pin to the CPU, called when it changes (the CPU may poll hasInterrupt() instead). */
  intr?: Line;
}

export class Pic8259 implements PortHandler {
  private readonly master = new PicChip(true, 0xf8);
  private readonly slave = new PicChip(false, 0xde);
  private intrLevel = false;
  private readonly intr: Line | undefined;

  constructor(opts: PicOptions = {}) {
    this.intr = opts.intr;
  }

  /**
   * Drives ISA interrupt line `irq` (0-15). IRQ2 is the cascade inside the pair; as on the AT
   * bus, a device on IRQ2 reaches the slave's IR1 (IRQ9).
   */
  setIrq(irq: number, level: boolean): void {
    if (irq === PIC_CASCADE_IRQ) irq = 9;
    if (irq < 8) this.master.setLine(irq, level);
    else this.slave.setLine(irq & 7, level);
    this.update();
  }

  /** The INTR output: an unmasked request outranks everything in service. */
  hasInterrupt(): boolean {
    return this.intrLevel;
  }

  /**
   * The two INTA cycles: answers the vector of the highest request and moves it from IRR to ISR
   * (or not, under auto-EOI). With no request the chip answers its IR7 vector and sets nothing in
   * service: the spurious IRQ7, or IRQ15 when the master saw the slave but the slave has nothing.
   */
  acknowledge(): number {
    const m = this.master;
    const irq = m.resolve();
    let vector: number;
    if (irq < 0) {
      vector = m.vectorBase | 7;
    } else {
      m.take(irq);
      if (m.cascadeMask() & (1 << irq)) {
        const s = this.slave;
        const sirq = s.resolve();
        if (sirq < 0) {
          vector = s.vectorBase | 7;
        } else {
          s.take(sirq);
          vector = s.vectorBase | sirq;
        }
      } else {
        vector = m.vectorBase | irq;
      }
    }
    this.update();
    return vector;
  }

  read(port: number, size: AccessSize): number {
    if (size !== 1) return readSplit(port, size, (p) => this.readByte(p));
    return this.readByte(port);
  }

  write(port: number, size: AccessSize, value: number): void {
    if (size !== 1) return writeSplit(port, size, value, (p, v) => this.writeByte(p, v));
    this.writeByte(port, value & 0xff);
  }

  private chipAt(port: number): PicChip | undefined {
    if ((port & ~1) === PIC_MASTER_PORT) return this.master;
    if ((port & ~1) === PIC_SLAVE_PORT) return this.slave;
    return undefined;
  }

  private readByte(port: number): number {
    if (port === PIC_ELCR_PORT) return this.master.elcr;
    if (port === PIC_ELCR_PORT + 1) return this.slave.elcr;
    const chip = this.chipAt(port);
    if (chip === undefined) return 0xff;
    const v = port & 1 ? chip.readData() : chip.readCommand();
    // A poll read acknowledges, which can change both chips' outputs.
    this.update();
    return v;
  }

  private writeByte(port: number, v: number): void {
    if (port === PIC_ELCR_PORT) this.master.writeElcr(v);
    else if (port === PIC_ELCR_PORT + 1) this.slave.writeElcr(v);
    else {
      const chip = this.chipAt(port);
      if (chip === undefined) return;
      if (port & 1) chip.writeData(v);
      else chip.writeCommand(v);
    }
    this.update();
  }

  /** Recomputes the slave's INT (into the master's IR2) and the master's INTR. */
  private update(): void {
    const m = this.master;
    const slaveOut = this.slave.resolve() >= 0;
    const bit = 1 << PIC_CASCADE_IRQ;
    if (slaveOut) {
      m.lines |= bit;
      m.irr |= bit;
    } else {
      m.lines &= ~bit;
      m.irr &= ~bit;
    }
    const out = m.resolve() >= 0;
    if (out !== this.intrLevel) {
      this.intrLevel = out;
      this.intr?.(out);
    }
  }

  /**
   * The state as plain data; with `into` (a state this pair's save() made, or its clone), written
   * into it in place, without allocating (a VMM writes its chips back after every exit).
   */
  save(into?: PicState): PicState {
    if (!into) return { master: this.master.save(), slave: this.slave.save(), intr: this.intrLevel };
    this.master.save(into.master);
    this.slave.save(into.slave);
    into.intr = this.intrLevel;
    return into;
  }

  restore(s: PicState): void {
    this.master.restore(s.master);
    this.slave.restore(s.slave);
    this.intrLevel = s.intr;
  }
}
