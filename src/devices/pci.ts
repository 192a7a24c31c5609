// PCI configuration mechanism #1: the address register at 0xCF8 (dword accesses only) selects
// bus/device/function/register, and 0xCFC-0xCFF read or write that register with byte, word or
// dword accesses. Byte accesses in 0xCF8-0xCFB reach other things on a PIIX: 0xCF9 is its reset
// control register (Linux's reboot=pci writes 0x02 then 0x06 there), the rest read as 0xFF.
//
// Functions are registered by bus/device/function number; each is a 256-byte configuration
// space with a per-bit write mask, which is all BAR sizing needs (a BAR's size bits are
// read-only zeros). Absent functions read all ones and ignore writes. pciHostBridges() gives a
// 440FX-like host bridge at 00:00.0 and a PIIX3-like ISA bridge at 00:01.0.

import { type AccessSize, type PortHandler } from "./port.js";

export const PCI_ADDRESS_PORT = 0xcf8;
export const PCI_RESET_CONTROL_PORT = 0xcf9;
export const PCI_DATA_PORT = 0xcfc;

/** Register offsets of the type-0 header. */
export const PCI_VENDOR_ID = 0x00;
export const PCI_DEVICE_ID = 0x02;
export const PCI_COMMAND = 0x04;
export const PCI_STATUS = 0x06;
export const PCI_REVISION = 0x08;
export const PCI_CLASS_PROG = 0x09;
export const PCI_HEADER_TYPE = 0x0e;
export const PCI_BAR0 = 0x10;
export const PCI_INTERRUPT_LINE = 0x3c;
export const PCI_INTERRUPT_PIN = 0x3d;

export interface PciIdentity {
  vendor: number;
  device: number;
  /** Base class, subclass and programming interface as one 24-bit number (0x060000: host bridge). */
  classCode: number;
  revision?: number;
  /** 0x80 marks a multi-function device. */
  headerType?: number;
  subsystemVendor?: number;
  subsystem?: number;
}

/** One function's configuration space: its bytes and which bits of them the guest may change. */
export class PciConfigSpace {
  readonly bytes = new Uint8Array(256);
  readonly writeMask = new Uint8Array(256);

  constructor(id: PciIdentity) {
    this.set16(PCI_VENDOR_ID, id.vendor);
    this.set16(PCI_DEVICE_ID, id.device);
    this.bytes[PCI_REVISION] = id.revision ?? 0;
    this.set16(PCI_CLASS_PROG + 1, id.classCode >>> 8);
    this.bytes[PCI_CLASS_PROG] = id.classCode & 0xff;
    this.bytes[PCI_HEADER_TYPE] = id.headerType ?? 0;
    this.set16(0x2c, id.subsystemVendor ?? 0);
    this.set16(0x2e, id.subsystem ?? 0);
    // Command: I/O, memory, bus master, parity, SERR, interrupt disable.
    this.setMask(PCI_COMMAND, 2, 0x0547);
    this.writeMask[0x0d] = 0xff; // latency timer
    this.writeMask[0x0c] = 0xff; // cache line size
  }

  set8(offset: number, v: number): void {
    this.bytes[offset] = v & 0xff;
  }
  set16(offset: number, v: number): void {
    this.bytes[offset] = v & 0xff;
    this.bytes[offset + 1] = (v >>> 8) & 0xff;
  }
  set32(offset: number, v: number): void {
    this.set16(offset, v & 0xffff);
    this.set16(offset + 2, v >>> 16);
  }

  /** Makes `mask`'s bits of the `size`-byte register at `offset` writable by the guest. */
  setMask(offset: number, size: number, mask: number): void {
    for (let i = 0; i < size; i++) this.writeMask[offset + i] = (mask >>> (8 * i)) & 0xff;
  }

  /**
   * Declares a 32-bit BAR (index 0-5) of `size` bytes (a power of two): I/O (`io`) or memory.
   * The guest can write the address bits; the low bits read as the type and zeros.
   */
  defineBar(index: number, size: number, io: boolean, address = 0): void {
    const off = PCI_BAR0 + 4 * index;
    const low = io ? 0x1 : 0x0;
    this.set32(off, ((address & ~(size - 1)) | low) >>> 0);
    this.setMask(off, 4, ~(size - 1) & (io ? 0xfffffffc : 0xfffffff0));
  }

  read(offset: number, size: AccessSize): number {
    const b = this.bytes;
    if (size === 1) return b[offset];
    if (size === 2) return b[offset] | (b[offset + 1] << 8);
    return (b[offset] | (b[offset + 1] << 8) | (b[offset + 2] << 16) | (b[offset + 3] << 24)) >>> 0;
  }

  write(offset: number, size: AccessSize, value: number): void {
    const b = this.bytes;
    const m = this.writeMask;
    for (let i = 0; i < size; i++) {
      const o = offset + i;
      const v = (value >>> (8 * i)) & 0xff;
      b[o] = (b[o] & ~m[o]) | (v & m[o]);
    }
  }
}

export interface PciState {
  address: number;
  resetControl: number;
  /** Configuration bytes of each registered function, by bus/device/function number. */
  functions: { bdf: number; bytes: number[] }[];
}

export interface PciOptions {
  /** Reset control (0xCF9) bit 2 was written as 1: reset the machine. */
  reset?: () => void;
}

/** bus:device.function as one number, the form the address register uses in bits 23:8. */
export function bdf(bus: number, dev: number, fn: number): number {
  return ((bus & 0xff) << 8) | ((dev & 0x1f) << 3) | (fn & 7);
}

export class PciConfigBus implements PortHandler {
  private address = 0;
  private resetControl = 0;
  private readonly functions = new Map<number, PciConfigSpace>();
  private readonly reset: (() => void) | undefined;

  constructor(opts: PciOptions = {}) {
    this.reset = opts.reset;
  }

  /** Registers a function; its config space is then guest-visible at bus:dev.fn. */
  addFunction(bus: number, dev: number, fn: number, space: PciConfigSpace): void {
    const key = bdf(bus, dev, fn);
    if (this.functions.has(key)) throw new Error(`PCI function ${bus}:${dev}.${fn} is registered twice`);
    this.functions.set(key, space);
  }

  lookup(bus: number, dev: number, fn: number): PciConfigSpace | undefined {
    return this.functions.get(bdf(bus, dev, fn));
  }

  /** A configuration read by function number and register offset (all ones if absent). */
  configRead(key: number, offset: number, size: AccessSize): number {
    const f = this.functions.get(key);
    if (f === undefined) return size === 4 ? 0xffffffff : (1 << (8 * size)) - 1;
    return f.read(offset, size);
  }

  configWrite(key: number, offset: number, size: AccessSize, value: number): void {
    this.functions.get(key)?.write(offset, size, value);
  }

  read(port: number, size: AccessSize): number {
    if (port >= PCI_DATA_PORT && port <= PCI_DATA_PORT + 3) {
      const ones = size === 4 ? 0xffffffff : (1 << (8 * size)) - 1;
      if (!(this.address & 0x80000000)) return ones;
      const off = (this.address & 0xfc) + (port & 3);
      // An access running past the dword reads the rest as all ones.
      if ((port & 3) + size > 4) return ones;
      return this.configRead((this.address >>> 8) & 0xffff, off, size);
    }
    if (port === PCI_ADDRESS_PORT && size === 4) return this.address;
    if (port === PCI_RESET_CONTROL_PORT && size === 1) return this.resetControl;
    return size === 4 ? 0xffffffff : (1 << (8 * size)) - 1;
  }

  write(port: number, size: AccessSize, value: number): void {
    if (port >= PCI_DATA_PORT && port <= PCI_DATA_PORT + 3) {
      if (!(this.address & 0x80000000) || (port & 3) + size > 4) return;
      this.configWrite((this.address >>> 8) & 0xffff, (this.address & 0xfc) + (port & 3), size, value);
      return;
    }
    if (port === PCI_ADDRESS_PORT && size === 4) {
      this.address = (value & 0x80fffffc) >>> 0;
      return;
    }
    if (port === PCI_RESET_CONTROL_PORT && size === 1) {
      this.resetControl = value & 0x0a; // SRST and FULL_RST are kept; RCPU (bit 2) self-clears
      if (value & 0x04) this.reset?.();
    }
  }

  save(): PciState {
    const functions = [...this.functions.entries()]
      .sort(([a], [b]) => a - b)
      .map(([key, f]) => ({ bdf: key, bytes: Array.from(f.bytes) }));
    return { address: this.address, resetControl: this.resetControl, functions };
  }

  /** Restores registers into the functions registered under the same numbers. */
  restore(s: PciState): void {
    this.address = s.address;
    this.resetControl = s.resetControl;
    for (const { bdf: key, bytes } of s.functions) {
      const f = this.functions.get(key);
      if (f === undefined) throw new Error(`snapshot has PCI function 0x${key.toString(16)}, which this machine lacks`);
      f.bytes.set(bytes);
    }
  }
}

/** Intel 82441FX (440FX) host bridge at 00:00.0, as QEMU's and the thesis's PCs have. */
export function i440fxHostBridge(): PciConfigSpace {
  const f = new PciConfigSpace({ vendor: 0x8086, device: 0x1237, classCode: 0x060000, revision: 0x02 });
  f.set16(PCI_COMMAND, 0x0006);
  f.set16(PCI_STATUS, 0x0280); // fast back-to-back, medium DEVSEL
  // Chipset registers (PMC configuration, PAM, DRB, SMRAM): stored, no effect here.
  for (let o = 0x50; o < 0x100; o++) f.writeMask[o] = 0xff;
  return f;
}

/** Intel 82371SB (PIIX3) PCI-to-ISA bridge at 00:01.0. */
export function piix3IsaBridge(): PciConfigSpace {
  const f = new PciConfigSpace({ vendor: 0x8086, device: 0x7000, classCode: 0x060100, headerType: 0x80 });
  f.set16(PCI_COMMAND, 0x0007);
  f.set16(PCI_STATUS, 0x0200);
  for (let o = 0x4c; o < 0x100; o++) f.writeMask[o] = 0xff;
  for (let o = 0x60; o <= 0x63; o++) f.set8(o, 0x80); // PIRQ routing: disabled
  return f;
}

/** A configuration bus with the host bridge at 00:00.0 and the ISA bridge at 00:01.0. */
export function pciHostBridges(opts: PciOptions = {}): PciConfigBus {
  const bus = new PciConfigBus(opts);
  bus.addFunction(0, 0, 0, i440fxHostBridge());
  bus.addFunction(0, 1, 0, piix3IsaBridge());
  return bus;
}
