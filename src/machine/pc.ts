// The PC as it stands: RAM, the CPU and the port bus with a debug console. The chips (PIC, PIT,
// UART, RTC...) and the Linux loader attach here as they arrive.

import { DEBUGCON_PORT, DebugCon } from "../devices/debugcon.js";
import { Seg } from "../x86/insn.js";
import { Cpu, Stop } from "./cpu/cpu.js";
import { PortBus } from "./iobus.js";
import { PhysMem } from "./memory.js";

export interface PcConfig {
  /** RAM size in bytes. */
  ramSize: number;
  /** Where console bytes go. */
  console: (byte: number) => void;
}

/** Where a flat boot image is loaded and started, in real mode: like a boot sector. */
export const BOOT_ADDR = 0x7c00;

export class Pc {
  readonly mem: PhysMem;
  readonly io = new PortBus();
  readonly cpu: Cpu;

  constructor(cfg: PcConfig) {
    this.mem = new PhysMem(cfg.ramSize);
    this.cpu = new Cpu(this.mem, this.io);
    this.io.attach(DEBUGCON_PORT, 1, new DebugCon(cfg.console));
  }

  /** Loads a flat boot image at BOOT_ADDR and points CS:IP at it. */
  loadBootImage(image: Uint8Array): void {
    if (image.length === 0) throw new Error("boot image is empty");
    if (BOOT_ADDR + image.length > this.mem.size) throw new Error(`boot image of ${image.length} bytes does not fit in RAM`);
    this.mem.load(BOOT_ADDR, image);
    const cpu = this.cpu;
    cpu.setSegCache(Seg.CS, 0, 0, 0xffff, cpu.segAttr[Seg.CS]);
    cpu.eip = BOOT_ADDR;
  }

  /** Runs until the guest halts or the machine stops; `onSlice` sees progress between slices. */
  run(opts: { slice?: number; maxInsns?: number; onSlice?: () => void } = {}): Stop {
    const slice = opts.slice ?? 1_000_000;
    const max = opts.maxInsns ?? Number.MAX_SAFE_INTEGER;
    for (;;) {
      const left = max - this.cpu.icount;
      if (left <= 0) return Stop.BUDGET;
      const stop = this.cpu.run(Math.min(slice, left));
      opts.onSlice?.();
      if (stop !== Stop.BUDGET) return stop;
    }
  }
}
