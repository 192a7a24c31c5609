// What every chip model here offers the bus that attaches it: src/machine's port bus and src/vmm's
// I/O exit handlers both drive devices through this one shape.

export type AccessSize = 1 | 2 | 4;

export interface PortHandler {
  /** Reads `size` bytes (1, 2 or 4) at `port`. */
  read(port: number, size: AccessSize): number;
  write(port: number, size: AccessSize, value: number): void;
}

/**
 * An output line of a chip (an IRQ pin, the reset line, A20). Devices call it only when the
 * level changes; the line is wiring, never state, and is left out of save().
 */
export type Line = (level: boolean) => void;

/**
 * A 16- or 32-bit access to an 8-bit ISA chip: the bus splits it into byte accesses at
 * consecutive ports, lowest first. `readByte` answers 0xff for ports the chip does not own.
 */
export function readSplit(port: number, size: AccessSize, readByte: (port: number) => number): number {
  let v = 0;
  for (let i = 0; i < size; i++) v |= (readByte((port + i) & 0xffff) & 0xff) << (8 * i);
  return v >>> 0;
}

export function writeSplit(port: number, size: AccessSize, value: number, writeByte: (port: number, value: number) => void): void {
  for (let i = 0; i < size; i++) writeByte((port + i) & 0xffff, (value >>> (8 * i)) & 0xff);
}
