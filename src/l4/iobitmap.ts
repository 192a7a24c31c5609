// The kernel's side of the VMCS I/O bitmaps: the ports of a VM space. An I/O fpage mapped into a
// VM space is a port the guest reaches without an exit (its bit is clear); every other port exits
// to the VCPU's handler, as with unconditional I/O exiting, when the handler chooses "use I/O
// bitmaps" (SDM 25.1.3). A VMM passes through a port as KVM passes through the io_delay port 0x80,
// by mapping it into the VM. Bitmap A covers ports 0-0x7fff, B 0x8000-0xffff, one bit a port;
// both live in frames of the kernel's memory, written through the Platform like EPT tables.

import { allocFrame, freeFrame, type FramePool } from "./ept.js";
import type { Platform } from "./platform.js";

const PAGE = 4096;
const ALL_EXIT = new Uint8Array(PAGE).fill(0xff);

/** A VM space's two bitmap frames (A, B), all ports exiting; null when the pool is exhausted. */
export function ioBitmapsCreate(p: Platform, pool: FramePool): [number, number] | null {
  const a = allocFrame(p, pool, false);
  if (a < 0) return null;
  const b = allocFrame(p, pool, false);
  if (b < 0) {
    freeFrame(pool, a);
    return null;
  }
  p.writeBytes(a, ALL_EXIT);
  p.writeBytes(b, ALL_EXIT);
  return [a, b];
}

export function ioBitmapsDestroy(pool: FramePool, bitmaps: readonly number[]): void {
  for (const f of bitmaps) freeFrame(pool, f);
}

/**
 * Ports [first, first + count) exit (`exit` true) or reach the hardware. Returns the bitmap bytes
 * written (the kernel charges for them).
 */
export function ioBitmapsSet(p: Platform, bitmaps: readonly number[], first: number, count: number, exit: boolean): number {
  let written = 0;
  const byte = new Uint8Array(1);
  for (let port = first; port < first + count && port <= 0xffff; ) {
    const frame = bitmaps[port >>> 15];
    const bit = port & 0x7fff;
    const at = frame + (bit >>> 3);
    p.readBytes(at, byte);
    let v = byte[0];
    // The ports of this byte that are in the range.
    for (let b = bit & 7; b < 8 && port < first + count && port <= 0xffff; b++, port++) {
      v = exit ? v | (1 << b) : v & ~(1 << b);
    }
    byte[0] = v;
    p.writeBytes(at, byte);
    written++;
  }
  return written;
}
