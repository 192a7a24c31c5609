// The Bochs/QEMU debug console: every byte written to its port is console output. Output leaves
// through a sink the host supplies; the device itself holds no state worth saving.

import type { PortHandler } from "./port.js";

export const DEBUGCON_PORT = 0xe9;

export class DebugCon implements PortHandler {
  constructor(private readonly sink: (byte: number) => void) {}

  read(): number {
    // Reading the port answers 0xe9, which is how guests detect the device.
    return DEBUGCON_PORT;
  }

  write(_port: number, _size: number, value: number): void {
    this.sink(value & 0xff);
  }
}
