// The VMM's virtual devices: the chip models of src/devices, unchanged, wired as src/machine wires
// the physical ones — but behind I/O exits instead of a port bus, on the VMM's notion of guest
// time instead of the CPU's clock, and with their interrupt lines going to a virtual 8259A pair
// whose highest request the VMM injects.
//
//   8259A pair      0x20-0x21, 0xa0-0xa1, ELCR 0x4d0-0x4d1    INTR polled by the VMM
//   8254 PIT        0x40-0x43, port B 0x61                      OUT0 -> IRQ0
//   16550A COM1     0x3f8-0x3ff                                 IRQ4; TX -> the physical console
//   MC146818 RTC    0x70-0x71                                   IRQ8
//   8042            0x60, 0x64                                  IRQ1, IRQ12; reset -> guest reset
//   PCI config      0xcf8-0xcff (440FX host bridge, PIIX3)      0xcf9 reset -> guest reset
//   POST            0x80
//   debug console   0xe9                                        -> the physical console
//
// Their state is plain data in the VMM's program state (`DeviceStates`, each chip's save()). The
// chip objects are a cache of it, kept per state object and written back after every message the
// VMM handles, so the kernel's save()/restore() of the program state is all there is: a restored
// (cloned) state object finds no cache and rebuilds its chips from the plain data.

import { restoreChips, saveChips, type ChipSetState } from "../devices/chipset.js";
import { DEBUGCON_PORT } from "../devices/debugcon.js";
import { I8042 } from "../devices/i8042.js";
import { pciHostBridges, type PciConfigBus } from "../devices/pci.js";
import { Pic8259 } from "../devices/pic8259.js";
import { Pit8254, nsOfPitTick, pitTickAt } from "../devices/pit8254.js";
import { PC_PORTS, type PortRange } from "../devices/pc-ports.js";
import type { AccessSize, PortHandler } from "../devices/port.js";
import { PostPort } from "../devices/post.js";
import { Rtc146818, nsToRtcTicks } from "../devices/rtc146818.js";
import { COM1_IRQ, Uart16550 } from "../devices/uart16550.js";
import type { VmmTiming } from "./config.js";

export interface DeviceStates extends ChipSetState {
  /** Bumped at every write-back; a cache built from another version is stale. */
  version: number;
}

/** Which chip answers a port (by the first port of an access, as the PC's bus does). */
export const enum Dev {
  NONE = 0,
  PIC,
  PIT,
  UART,
  RTC,
  KBC,
  PCI,
  POST,
  DEBUGCON,
}

export const DEV_NAMES = ["none", "pic", "pit", "uart", "rtc", "kbc", "pci", "post", "debugcon"] as const;

const PORT_MAP = new Uint8Array(0x10000);
function claim(first: number, count: number, d: Dev): void {
  for (let p = first; p < first + count; p++) PORT_MAP[p] = d;
}
const CLAIMS: [readonly PortRange[], Dev][] = [
  [PC_PORTS.pic, Dev.PIC], [PC_PORTS.pit, Dev.PIT], [PC_PORTS.uart, Dev.UART], [PC_PORTS.rtc, Dev.RTC],
  [PC_PORTS.kbc, Dev.KBC], [PC_PORTS.pci, Dev.PCI], [PC_PORTS.post, Dev.POST], [PC_PORTS.debugcon, Dev.DEBUGCON],
];
for (const [ranges, d] of CLAIMS) for (const [first, count] of ranges) claim(first, count, d);

export function deviceAt(port: number): Dev {
  return PORT_MAP[port & 0xffff] as Dev;
}

/**
 * The chips that run on guest time: an access first brings them up to the present. The UART is
 * one when its transmitter has a character time (VmmTiming.uartTxNs).
 */
export function isTimedDevice(d: Dev, uartTimed = false): boolean {
  return d === Dev.PIT || d === Dev.RTC || (uartTimed && d === Dev.UART);
}

/** What the chips need besides their registers: RAM size for the CMOS, the wall clock, their timing. */
export interface DeviceConfig {
  readonly ramSize: number;
  readonly rtcEpochSeconds: number;
  readonly timing?: VmmTiming;
}

const DIRTY_PIC = 1 << 0;
const DIRTY_PIT = 1 << 1;
const DIRTY_UART = 1 << 2;
const DIRTY_RTC = 1 << 3;
const DIRTY_KBC = 1 << 4;
const DIRTY_PCI = 1 << 5;
const DIRTY_POST = 1 << 6;

export class VirtualDevices {
  readonly pic: Pic8259;
  readonly pit: Pit8254;
  readonly uart: Uart16550;
  readonly rtc: Rtc146818;
  readonly kbc: I8042;
  readonly pci: PciConfigBus;
  readonly post: PostPort;
  /** Which state version the chips hold. */
  version = -1;
  // What the chips did during the current message (wiring, not state: drained by the VMM).
  /**
   * Bytes for the physical console (COM1's transmitter, the debug console): the first
   * `consoleLength` (a buffer kept, not an array emptied per message, whose storage V8 would drop).
   */
  consoleBytes = new Uint8Array(64);
  consoleLength = 0;
  /** The guest asked for a reset (the 8042's pulse, PCI 0xcf9): why. */
  reset: string | null = null;
  private dirty = 0;
  private readonly pitPhaseNs: number;
  /** The RTC tick the RTC was last run to (-1: unknown), so a run to the same tick is skipped. */
  private rtcTick = -1;
  /** Guest time the chips were last run to: a timed UART's clock (its accesses come after advanceTo). */
  private clockNs = 0;

  constructor(cfg: DeviceConfig) {
    this.pitPhaseNs = cfg.timing?.pitPhaseNs ?? 0;
    const pic = (this.pic = new Pic8259());
    // The PIC changes when a line into it does: only then is it written back with the chip.
    const line = (irq: number) => (l: boolean) => {
      this.dirty |= DIRTY_PIC;
      pic.setIrq(irq, l);
    };
    this.pit = new Pit8254({ out0: line(0) });
    this.uart = new Uart16550({
      tx: (b) => this.emit(b), irq: line(COM1_IRQ), txNs: cfg.timing?.uartTxNs, clock: () => this.clockNs,
    });
    this.rtc = new Rtc146818({ epochSeconds: cfg.rtcEpochSeconds, memoryBytes: cfg.ramSize, irq: line(8), phaseTicks: cfg.timing?.rtcPhaseTicks });
    this.kbc = new I8042({
      keyboard: false,
      irq1: line(1),
      irq12: line(12),
      reset: () => (this.reset ??= "the 8042 pulsed the reset line"),
    });
    this.pci = pciHostBridges({ reset: () => (this.reset ??= "reset control register 0xcf9") });
    this.post = new PostPort();
  }

  /** Fresh chips' state, as after power-on. */
  static initialStates(cfg: DeviceConfig): DeviceStates {
    const d = new VirtualDevices(cfg);
    return { version: 0, ...saveChips(d) };
  }

  load(s: DeviceStates): void {
    restoreChips(this, s);
    this.version = s.version;
    this.dirty = 0;
    this.rtcTick = -1;
  }

  /**
   * Writes the chips changed since the last write-back into `s` (the UART and the PIC, the chips
   * of most exits, in place: nothing allocated per exit).
   */
  /** A byte for the physical console. */
  emit(b: number): void {
    if (this.consoleLength === this.consoleBytes.length) {
      const more = new Uint8Array(this.consoleBytes.length * 2);
      more.set(this.consoleBytes);
      this.consoleBytes = more;
    }
    this.consoleBytes[this.consoleLength++] = b;
  }

  writeBack(s: DeviceStates): void {
    if (this.dirty === 0) return;
    const d = this.dirty;
    if (d & DIRTY_PIC) this.pic.save(s.pic);
    if (d & DIRTY_PIT) s.pit = this.pit.save();
    if (d & DIRTY_UART) this.uart.save(s.uart);
    if (d & DIRTY_RTC) s.rtc = this.rtc.save();
    if (d & DIRTY_KBC) s.kbc = this.kbc.save();
    if (d & DIRTY_PCI) s.pci = this.pci.save();
    if (d & DIRTY_POST) s.post = this.post.save();
    this.version = ++s.version;
    this.dirty = 0;
  }

  /** Runs the timed chips forward to guest time `ns` (their edges reach the PIC). */
  advanceTo(ns: number): void {
    this.pit.advanceTo(pitTickAt(ns + this.pitPhaseNs));
    this.dirty |= DIRTY_PIT;
    this.clockNs = ns;
    if (this.uart.nextEventNs() <= ns) {
      this.uart.advanceTo(ns);
      this.dirty |= DIRTY_UART;
    }
    // The RTC counts at 32,768 Hz: most exits come within one of its ticks, and running it then
    // changes nothing that needs writing back (its state is 128 bytes of CMOS).
    const t = nsToRtcTicks(ns);
    if (t === this.rtcTick) return;
    this.rtc.advanceTo(ns);
    this.rtcTick = t;
    this.dirty |= DIRTY_RTC;
  }

  /** The next guest time at which a chip changes by itself (a PIT edge, an RTC interrupt), or -1. */
  nextEventNs(): number {
    const t = this.pit.nextEventTick();
    const next = Math.min(t === Infinity ? Infinity : nsOfPitTick(t) - this.pitPhaseNs, this.rtc.nextEventNs(), this.uart.nextEventNs());
    return next === Infinity ? -1 : next;
  }

  /** The virtual PIC's INTR output. */
  hasInterrupt(): boolean {
    return this.pic.hasInterrupt();
  }

  /** The INTA cycle: the vector to inject (the request moves to in-service). */
  acknowledge(): number {
    this.dirty |= DIRTY_PIC;
    return this.pic.acknowledge();
  }

  /** Console input: gives the virtual UART what fits in its FIFO; returns how many were taken. */
  receive(bytes: number[]): number {
    const u = this.uart;
    let n = 0;
    while (n < bytes.length && u.rxFree() > 0 && !u.inLoopback()) u.receive(bytes[n++]);
    if (n > 0) this.dirty |= DIRTY_UART;
    return n;
  }

  /** An IN from the guest; undefined when no chip claims the port. */
  read(port: number, size: AccessSize): number | undefined {
    const d = deviceAt(port);
    if (d === Dev.NONE) return undefined;
    if (d === Dev.DEBUGCON) return DEBUGCON_PORT;
    return this.chip(d).read(port & 0xffff, size);
  }

  /** An OUT from the guest; false when no chip claims the port. */
  write(port: number, size: AccessSize, value: number): boolean {
    const d = deviceAt(port);
    if (d === Dev.NONE) return false;
    if (d === Dev.DEBUGCON) {
      this.emit(value);
      return true;
    }
    this.chip(d).write(port & 0xffff, size, value);
    return true;
  }

  private chip(d: Dev): PortHandler {
    // The chip accessed may change (a PIC line it moves marks the PIC itself).
    switch (d) {
      case Dev.PIC:
        this.dirty |= DIRTY_PIC;
        return this.pic;
      case Dev.PIT:
        this.dirty |= DIRTY_PIT;
        return this.pit;
      case Dev.UART:
        this.dirty |= DIRTY_UART;
        return this.uart;
      case Dev.RTC:
        this.dirty |= DIRTY_RTC;
        return this.rtc;
      case Dev.KBC:
        this.dirty |= DIRTY_KBC;
        return this.kbc;
      case Dev.PCI:
        this.dirty |= DIRTY_PCI;
        return this.pci;
      default:
        this.dirty |= DIRTY_POST;
        return this.post;
    }
  }
}

const live = new WeakMap<DeviceStates, VirtualDevices>();

/**
 * The chips for a device state: the cached ones if they hold exactly this version, else new
 * ones loaded from it. Callers write back before they return to the kernel.
 */
export function devicesOf(s: DeviceStates, cfg: DeviceConfig): VirtualDevices {
  let d = live.get(s);
  if (!d || d.version !== s.version) {
    d = new VirtualDevices(cfg);
    d.load(s);
    live.set(s, d);
  }
  return d;
}
