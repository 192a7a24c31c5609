// The Session: the one API through which host-side tools (CLI, gdb stub, TUI) drive the emulated
// machine. For now it runs live; record and replay modes arrive with the recording format.

import { Stop } from "../machine/cpu/cpu.js";
import { startLinux } from "../machine/linux-start.js";
import { Pc } from "../machine/pc.js";
import { planLinuxBoot, type BootPlan } from "../x86/linux-boot.js";

export { Stop };

/** What the machine boots: a flat image in real mode, or Linux by its 32-bit boot protocol. */
export type Guest =
  | { kind: "image"; bytes: Uint8Array }
  | { kind: "linux"; kernel: Uint8Array; initrd?: Uint8Array; cmdline: string };

export interface SessionConfig {
  guest: Guest;
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
  /** How Linux was loaded, when the guest is Linux. */
  readonly bootPlan?: BootPlan;

  /** Throws a LinuxBootError (one line, fit for a user) when a Linux guest cannot be loaded. */
  constructor(cfg: SessionConfig) {
    this.pc = new Pc({ ramSize: cfg.ramSize, console: cfg.console, rtcEpochSeconds: cfg.rtcEpochSeconds });
    const g = cfg.guest;
    if (g.kind === "image") {
      this.pc.loadBootImage(g.bytes);
    } else {
      this.bootPlan = planLinuxBoot({ kernel: g.kernel, initrd: g.initrd, cmdline: g.cmdline, ramSize: cfg.ramSize });
      startLinux(this.pc.cpu, this.pc.mem, this.bootPlan);
    }
  }

  /** Types `bytes` on the guest's serial console; returns how many it could take now. */
  consoleInput(bytes: Uint8Array): number {
    return this.pc.consoleInput(bytes);
  }

  /** Runs until the guest stops or `maxInsns` instructions have retired in total. */
  run(opts: { maxInsns?: number; onProgress?: () => void; onIdle?: () => boolean } = {}): Stop {
    return this.pc.run({ maxInsns: opts.maxInsns, onSlice: opts.onProgress, onIdle: opts.onIdle });
  }

  /** Whether the guest's serial driver listens for input (it has enabled the receive interrupt). */
  consoleListening(): boolean {
    return this.pc.uart.receiverListening();
  }

  /** Guest time since power-on, in nanoseconds. */
  guestTimeNs(): number {
    return this.pc.nowNs();
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
