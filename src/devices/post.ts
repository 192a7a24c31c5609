// The POST diagnostic port 0x80: firmware writes progress codes there, and Linux writes to it
// as an I/O delay (outb_p). Every write goes to a sink (a host-side log or a two-digit display);
// reads return the last value written, as on the common POST cards' latches.

import type { AccessSize, PortHandler } from "./port.js";

export const POST_PORT = 0x80;

export interface PostState {
  last: number;
}

export class PostPort implements PortHandler {
  private last = 0;

  /** `sink` sees every write (a host-side log such as `afterglow run --post`): wiring, not state. */
  constructor(public sink?: (code: number) => void) {}

  /** The latch: the last code written, 0 after power-on (as a POST card's display shows). */
  latched(): number {
    return this.last;
  }

  read(_port: number, size: AccessSize): number {
    return size === 1 ? this.last : size === 2 ? this.last | 0xff00 : (this.last | 0xffffff00) >>> 0;
  }

  write(_port: number, _size: AccessSize, value: number): void {
    this.last = value & 0xff;
    this.sink?.(this.last);
  }

  save(): PostState {
    return { last: this.last };
  }

  restore(s: PostState): void {
    this.last = s.last;
  }
}
