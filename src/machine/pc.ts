// The PC: RAM, the CPU, the port bus and the chips of an AT-class machine (8259A pair, 8254 PIT,
// 16550A UART on COM1, MC146818 RTC, i8042, PCI configuration, POST and debug-console ports),
// all driven by one virtual clock. The machine runs the CPU in slices that end at the next chip
// event, brings the chips up to date at each, and skips idle time when the CPU halts.

import { restoreChips, saveChips, type ChipSetState } from "../devices/chipset.js";
import { DebugCon } from "../devices/debugcon.js";
import { I8042 } from "../devices/i8042.js";
import { pciHostBridges, type PciConfigBus } from "../devices/pci.js";
import { Pic8259 } from "../devices/pic8259.js";
import { nsOfPitTick, Pit8254, pitTickAt } from "../devices/pit8254.js";
import type { PortHandler } from "../devices/port.js";
import { PC_PORTS } from "../devices/pc-ports.js";
import { PostPort } from "../devices/post.js";
import { Rtc146818 } from "../devices/rtc146818.js";
import { Uart16550 } from "../devices/uart16550.js";
import { Flag } from "../x86/eflags.js";
import { Seg } from "../x86/insn.js";
import { NS_PER_INSN } from "./clock.js";
import { Cpu, type CpuState } from "./cpu/cpu.js";
import { Stop } from "./cpu/arch.js";
import type { TlbState } from "./cpu/mmu.js";
import { PortBus } from "./iobus.js";
import { PhysMem } from "./memory.js";

export interface PcConfig {
  /** RAM size in bytes. */
  ramSize: number;
  /** Where console bytes go: the COM1 UART's transmitter and the debug console. */
  console: (byte: number) => void;
  /** Wall-clock time at power-on, seconds since the Unix epoch: an input, never the host's clock. */
  rtcEpochSeconds: number;
  /**
   * Compile hot guest code (src/machine/cpu/jit; default: on). It changes nothing the guest or a
   * recording can see, only how fast the machine gets there.
   */
  jit?: boolean;
  /** Timing that real PCs leave open (default: all zero). */
  timing?: PcTiming;
}

/**
 * The PC's timing among those real hardware allows: fixed for a machine, chosen by its maker
 * (chaos runs perturb them), never by the host during a run.
 */
export interface PcTiming {
  /** The RTC's divider chain at power-on: ticks of its 32.768 kHz base into its first second. */
  rtcPhaseTicks: number;
  /** The PIT's input clock against the CPU's, in ns (below one tick): when a count written starts counting. */
  pitPhaseNs: number;
  /** Interrupt delivery latency in ns: from the 8259A raising INTR to the CPU seeing it. */
  irqLatencyNs: number;
  /** COM1's character time in ns: how long its THR takes to empty (0 or absent: at once). */
  uartTxNs?: number;
}

/** The whole machine's state as plain data: a snapshot. */
export interface PcState extends ChipSetState {
  cpu: CpuState;
  ram: Uint8Array;
  idleNs: number;
  /** With an interrupt latency: when INTR reaches the CPU (-1: not on its way). Absent without one. */
  intrAt?: number;
  /**
   * What the CPU's TLB held (Mmu.saveTlb). Absent from the state a hash is taken of: a cache,
   * which shapes only what the guest does next.
   */
  tlb?: TlbState;
}

/** Where a flat boot image is loaded and started, in real mode: like a boot sector. */
export const BOOT_ADDR = 0x7c00;

/** Longest slice the CPU runs without the machine looking at its chips. */
const MAX_SLICE = 1_000_000;

export class Pc {
  readonly mem: PhysMem;
  readonly io = new PortBus();
  readonly cpu: Cpu;
  readonly pic: Pic8259;
  readonly pit: Pit8254;
  readonly uart: Uart16550;
  readonly rtc: Rtc146818;
  readonly kbc: I8042;
  readonly pci: PciConfigBus;
  readonly post = new PostPort();
  /** Guest time the CPU spent halted, skipped rather than executed. */
  idleNs = 0;
  private readonly pitPhaseNs: number;
  private readonly irqLatencyNs: number;
  /** With an interrupt latency: the guest time INTR reaches the CPU, or -1. */
  private intrAt = -1;

  constructor(cfg: PcConfig) {
    this.mem = new PhysMem(cfg.ramSize);
    const cpu = (this.cpu = new Cpu(this.mem, this.io));
    cpu.jit = cfg.jit ?? true;
    const reset = () => cpu.requestStop(Stop.RESET);
    const t = cfg.timing;
    this.pitPhaseNs = t?.pitPhaseNs ?? 0;
    this.irqLatencyNs = t?.irqLatencyNs ?? 0;
    this.pic = new Pic8259({ intr: this.irqLatencyNs === 0 ? (level) => (cpu.intr = level) : (level) => this.intrLater(level) });
    cpu.acknowledgeIntr = () => this.pic.acknowledge();
    this.pit = new Pit8254({ out0: (level) => this.pic.setIrq(0, level), clock: () => this.pitTick() });
    this.uart = new Uart16550({ tx: cfg.console, irq: (level) => this.pic.setIrq(4, level), txNs: t?.uartTxNs, clock: () => this.nowNs() });
    this.rtc = new Rtc146818({
      epochSeconds: cfg.rtcEpochSeconds,
      memoryBytes: cfg.ramSize,
      irq: (level) => this.pic.setIrq(8, level),
      clock: () => this.nowNs(),
      phaseTicks: t?.rtcPhaseTicks,
    });
    this.kbc = new I8042({ keyboard: false, irq1: (level) => this.pic.setIrq(1, level), irq12: (level) => this.pic.setIrq(12, level), reset });
    const io = this.io;
    for (const [first, count] of PC_PORTS.pic) io.attach(first, count, this.pic);
    // The timer chips: an access first brings them up to the present instruction, and a write,
    // which may move their next event closer, ends the CPU's slice so the new deadline counts.
    // Otherwise when an event was seen would depend on where slices happen to end.
    const timed = (chip: PortHandler): PortHandler => ({
      read: (port, size) => {
        this.advanceChips();
        return chip.read(port, size);
      },
      write: (port, size, value) => {
        this.advanceChips();
        chip.write(port, size, value);
        cpu.requestStop(Stop.BUDGET);
      },
    });
    const pit = timed(this.pit);
    for (const [first, count] of PC_PORTS.pit) io.attach(first, count, pit);
    // A UART with a character time is a timer chip too (its THR empties on time).
    const uart = (t?.uartTxNs ?? 0) > 0 ? timed(this.uart) : this.uart;
    for (const [first, count] of PC_PORTS.uart) io.attach(first, count, uart);
    const rtc = timed(this.rtc);
    for (const [first, count] of PC_PORTS.rtc) io.attach(first, count, rtc);
    for (const [first, count] of PC_PORTS.kbc) io.attach(first, count, this.kbc);
    this.pci = pciHostBridges({ reset });
    for (const [first, count] of PC_PORTS.pci) io.attach(first, count, this.pci);
    for (const [first, count] of PC_PORTS.post) io.attach(first, count, this.post);
    const debugcon = new DebugCon(cfg.console);
    for (const [first, count] of PC_PORTS.debugcon) io.attach(first, count, debugcon);
  }

  /** Guest time now, in nanoseconds since power-on. */
  nowNs(): number {
    return this.cpu.icount * NS_PER_INSN + this.idleNs;
  }

  /**
   * The whole state; `{ ram: false }` leaves RAM out (an empty array) for callers that read it in
   * place, `{ tlb: false }` the TLB (for a state hash).
   */
  save(opts: { ram?: boolean; tlb?: boolean } = {}): PcState {
    return {
      cpu: this.cpu.save(),
      ram: opts.ram === false ? new Uint8Array(0) : this.mem.u8.slice(),
      idleNs: this.idleNs,
      ...saveChips(this),
      ...(this.irqLatencyNs > 0 ? { intrAt: this.intrAt } : {}),
      ...(opts.tlb === false ? {} : { tlb: this.cpu.paging.saveTlb() }),
    };
  }

  /** Restores save()'s state; `{ ram: false }` leaves RAM as it is (a caller that restores it page by page). */
  restore(s: PcState, opts: { ram?: boolean } = {}): void {
    if (opts.ram !== false) this.mem.restore({ size: s.ram.length, bytes: s.ram });
    this.idleNs = s.idleNs;
    restoreChips(this, s);
    this.intrAt = s.intrAt ?? -1;
    // Last: the chips' restores may drive lines; the CPU's saved INTR is the truth.
    this.cpu.restore(s.cpu);
    this.restoreTlb(s);
  }

  /**
   * Puts back the TLB `s` holds, if it holds one (a state saved without it leaves the TLB empty):
   * Pc.restore does, and whoever restores more after it that flushes the TLB (VMX state) again.
   */
  restoreTlb(s: PcState): void {
    if (s.tlb !== undefined) this.cpu.paging.restoreTlb(s.tlb);
  }

  /** INTR with a latency: it reaches the CPU irqLatencyNs after the 8259A raised it (a drop is at once). */
  private intrLater(level: boolean): void {
    if (!level) {
      this.cpu.intr = false;
      this.intrAt = -1;
    } else if (!this.cpu.intr && this.intrAt < 0) {
      this.intrAt = this.nowNs() + this.irqLatencyNs;
    }
  }

  /** The PIT's input clock now, in its ticks. */
  private pitTick(): number {
    return pitTickAt(this.nowNs() + this.pitPhaseNs);
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

  /** Host console input for the guest's serial port; returns how many bytes it took. */
  consoleInput(bytes: Uint8Array): number {
    let n = 0;
    while (n < bytes.length && this.uart.rxFree() > 0) this.uart.receive(bytes[n++]);
    return n;
  }

  /**
   * Runs until the guest stops: halts with interrupts off, reboots, triple faults — or reaches
   * the position (`maxInsns` instructions retired in total, and at least `untilNs` of guest time
   * when it sits halted there: idle time passes without instructions, so a position in history
   * is both), or `maxNs` of guest time has passed (a host that wants to look in now and then
   * while the guest idles cheaply). `onSlice` sees progress between slices; `onIdle` is asked, whenever the CPU halts
   * waiting for an interrupt, whether it has just given the machine something to do (console
   * input) before idle time is skipped.
   */
  run(opts: { maxInsns?: number; untilNs?: number; maxNs?: number; onSlice?: () => void; onIdle?: () => boolean } = {}): Stop {
    const cpu = this.cpu;
    const max = opts.maxInsns ?? Number.MAX_SAFE_INTEGER;
    const untilNs = opts.untilNs ?? -Infinity;
    const maxNs = opts.maxNs ?? Infinity;
    for (;;) {
      if (this.nowNs() >= maxNs) return Stop.BUDGET;
      if (cpu.icount < max) {
        // A slice ends at the next chip event, and at the host's pause (which cuts it, changing nothing).
        const deadline = Math.min(this.nextEventNs(), maxNs);
        const toEvent = Math.ceil((deadline - this.nowNs()) / NS_PER_INSN);
        const stop = cpu.run(Math.max(1, Math.min(MAX_SLICE, max - cpu.icount, toEvent)));
        this.advanceChips();
        opts.onSlice?.();
        if (stop === Stop.BUDGET) continue;
        if (stop !== Stop.HALT) return stop;
      } else if (!cpu.halted || this.nowNs() >= untilNs) {
        return Stop.BUDGET;
      }
      // Halted. With interrupts off nothing can wake the CPU; otherwise skip to the next event
      // (but, at the position asked for, not past its time: waking would retire instructions).
      const atMax = cpu.icount >= max;
      if ((cpu.flags & Flag.IF) === 0) return Stop.HALT;
      if (cpu.intr) {
        if (atMax) return Stop.BUDGET;
        continue;
      }
      if (opts.onIdle?.()) continue;
      // No event will ever come: only input can wake the CPU, however long the host waits (at
      // the position asked for, its time is what counts).
      const next = this.nextEventNs();
      if (next === Infinity && !atMax) return Stop.IDLE;
      const wake = Math.min(atMax ? Math.min(next, untilNs) : next, maxNs);
      if (wake === Infinity) return Stop.IDLE;
      if (atMax && wake <= this.nowNs()) return Stop.BUDGET;
      this.passTime(wake - this.nowNs());
    }
  }

  /** The next moment a chip changes by itself (a timer edge, an RTC interrupt), or Infinity. */
  nextEventNs(): number {
    const pit = this.pit.nextEventTick();
    const next = Math.min(pit === Infinity ? Infinity : nsOfPitTick(pit) - this.pitPhaseNs, this.rtc.nextEventNs(), this.uart.nextEventNs());
    return this.intrAt >= 0 ? Math.min(next, this.intrAt) : next;
  }

  /** Brings the timer chips up to the present (and an interrupt on its way, when it arrives). */
  advanceChips(): void {
    const now = this.nowNs();
    this.pit.advanceTo(this.pitTick());
    this.rtc.advanceTo(now);
    this.uart.advanceTo(now);
    if (this.intrAt >= 0 && now >= this.intrAt) {
      this.intrAt = -1;
      this.cpu.intr = true;
    }
  }

  /**
   * Lets `ns` of time pass without instructions (the CPU halted, or a host kernel at work), in
   * whole instruction times; the TSC keeps counting.
   */
  passTime(ns: number): void {
    const insns = Math.ceil(ns / NS_PER_INSN);
    this.idleNs += insns * NS_PER_INSN;
    this.cpu.passTsc(insns * this.cpu.tscPerInsn);
    this.advanceChips();
  }
}
