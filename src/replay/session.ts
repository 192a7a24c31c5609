// The Session: the one API through which host-side tools (CLI, gdb stub, TUI) drive the emulated
// machine. For now it runs live; record and replay modes arrive with the recording format.

import { Stop } from "../machine/cpu/cpu.js";
import { Pc } from "../machine/pc.js";

export { Stop };

export interface SessionConfig {
  /** Flat boot image loaded at 0x7c00 in real mode. */
  bootImage: Uint8Array;
  ramSize: number;
  /** Guest console output, byte by byte. */
  console: (byte: number) => void;
  /** Wall-clock time at power-on (seconds since the epoch): a recorded input in record mode. */
  rtcEpochSeconds: number;
}

export interface Position {
  /** Retired guest instructions since reset. */
  icount: number;
  cs: number;
  eip: number;
}

export class Session {
  private readonly pc: Pc;

  constructor(cfg: SessionConfig) {
    this.pc = new Pc({ ramSize: cfg.ramSize, console: cfg.console, rtcEpochSeconds: cfg.rtcEpochSeconds });
    this.pc.loadBootImage(cfg.bootImage);
  }

  /** Runs until the guest stops or `maxInsns` instructions have retired in total. */
  run(opts: { maxInsns?: number; onProgress?: () => void } = {}): Stop {
    return this.pc.run({ maxInsns: opts.maxInsns, onSlice: opts.onProgress });
  }

  position(): Position {
    const cpu = this.pc.cpu;
    return { icount: cpu.icount, cs: cpu.segSel[1], eip: cpu.eip >>> 0 };
  }

  /** The exception that stopped the machine, when it stopped on one. */
  lastException(): { vector: number; errorCode: number } {
    return { vector: this.pc.cpu.excVector, errorCode: this.pc.cpu.excCode };
  }
}
