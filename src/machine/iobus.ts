// The PC's I/O port space: devices claim port ranges; unclaimed ports read as all-ones and
// ignore writes, like an ISA bus with nothing on it.

import type { PortHandler } from "../devices/port.js";
import type { IoBus } from "./cpu/arch.js";

export class PortBus implements IoBus {
  private readonly devices: (PortHandler | undefined)[] = new Array(0x10000);

  attach(first: number, count: number, dev: PortHandler): void {
    for (let p = first; p < first + count; p++) {
      if (this.devices[p] !== undefined) throw new Error(`I/O port 0x${p.toString(16)} is claimed twice`);
      this.devices[p] = dev;
    }
  }

  in8(port: number): number {
    const d = this.devices[port & 0xffff];
    return d === undefined ? 0xff : d.read(port & 0xffff, 1) & 0xff;
  }
  in16(port: number): number {
    const d = this.devices[port & 0xffff];
    return d === undefined ? 0xffff : d.read(port & 0xffff, 2) & 0xffff;
  }
  in32(port: number): number {
    const d = this.devices[port & 0xffff];
    return d === undefined ? -1 : d.read(port & 0xffff, 4) | 0;
  }
  out8(port: number, v: number): void {
    this.devices[port & 0xffff]?.write(port & 0xffff, 1, v & 0xff);
  }
  out16(port: number, v: number): void {
    this.devices[port & 0xffff]?.write(port & 0xffff, 2, v & 0xffff);
  }
  out32(port: number, v: number): void {
    this.devices[port & 0xffff]?.write(port & 0xffff, 4, v);
  }
}
