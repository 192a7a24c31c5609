// What a VMM is started with: the guest's RAM, what to boot, the wall clock, and how it sits on
// the kernel (thread numbers, priorities, the physical console it was granted). Plain data: it is
// part of the VMM program's state.

/** What the VMM loads into the guest before its VCPU first runs. */
export type BootImage =
  /** Linux by the 32-bit boot protocol (src/x86/linux-boot.ts plans it; no BIOS runs). */
  | { readonly kind: "linux"; readonly kernel: Uint8Array; readonly initrd?: Uint8Array; readonly cmdline: string }
  /** A flat binary loaded at `addr` (default 0x7c00) and entered in real mode, like a boot sector. */
  | { readonly kind: "flat"; readonly image: Uint8Array; readonly addr?: number }
  /** Nothing: RAM stays zero and the VCPU starts in real mode at 0:0 (for tests). */
  | { readonly kind: "none" };

/** The physical UART the VMM's console goes to and its input comes from. */
export interface ConsoleConfig {
  /** First of its eight ports (COM1: 0x3f8). */
  readonly port: number;
  /** Its interrupt line (COM1: 4). */
  readonly irq: number;
}

export interface VmmConfig {
  /** Guest RAM in bytes, from guest-physical 0; a multiple of 4 KiB. */
  readonly ramSize: number;
  /**
   * Physical address of the frames the VMM asks sigma0 for (aligned to the largest power of two
   * up to 4 MiB that divides the RAM size). Default: the first such address from 4 MiB up that
   * the kernel interface page lists as conventional memory outside the kernel's.
   */
  readonly ramPhys?: number;
  /** Where guest RAM appears in the VMM's own address space (default 0x40000000). */
  readonly ramWindow?: number;
  readonly boot: BootImage;
  /** Wall-clock time at guest time zero, seconds since the Unix epoch (an input, never the host's). */
  readonly rtcEpochSeconds: number;
  /** Thread numbers of the VMM's IRQ thread and of the VCPU (default: the VMM's own + 1 and + 2). */
  readonly irqThread?: number;
  readonly vcpuThread?: number;
  /** Priorities (default: VMM 200, IRQ thread 210, VCPU 100; the IRQ thread must outrank both). */
  readonly priorities?: { readonly vmm?: number; readonly irq?: number; readonly vcpu?: number };
  /** The physical console (default COM1: 0x3f8, IRQ 4); null for none (guest output is dropped). */
  readonly console?: ConsoleConfig | null;
  /** log2 of the guest RAM mapped per EPT violation, 12..22 (default 22: 4 MiB, two 2 MiB EPT leaves). */
  readonly mapLog2?: number;
  /** Optional exits (the VMM handles them when enabled): RDTSC, INVLPG, CR3 loads and stores. */
  readonly exits?: { readonly rdtsc?: boolean; readonly invlpg?: boolean; readonly cr3?: boolean };
  /** Rate of the TSC the VMM reports (RDMSR 0x10, exiting RDTSC), in Hz (default 1 GHz: the machine's TSC, one tick per 1-ns instruction). */
  readonly tscHz?: number;
  /**
   * Ports the guest reaches directly, without exits (default: 0x80, as KVM does). Each is asked
   * of sigma0 and mapped into the VM; one not granted stays emulated.
   */
  readonly passThrough?: readonly number[];
  /** The virtual chips' timing among those real hardware allows (default: all zero). */
  readonly timing?: VmmTiming;
}

/** Timing real hardware leaves open, for the virtual chips: fixed for a VM, chosen by whoever starts it. */
export interface VmmTiming {
  /** The virtual RTC's divider chain at power-on: ticks of its 32.768 kHz base into its first second. */
  readonly rtcPhaseTicks: number;
  /** The virtual PIT's input clock against guest time, in ns (below one tick). */
  readonly pitPhaseNs: number;
  /** Interrupt delivery latency in ns: the IRQ thread's tick comes this long after a chip's event. */
  readonly irqLatencyNs: number;
  /** The virtual UART's character time in ns: how long THR takes to empty (0 or absent: at once). */
  readonly uartTxNs?: number;
}

export const DEFAULT_RAM_WINDOW = 0x40000000;
export const DEFAULT_MAP_LOG2 = 22;
export const DEFAULT_TSC_HZ = 1_000_000_000;
/**
 * The POST port, which Linux writes after slow port accesses as a delay (io_delay; the PIT's
 * programming every timer tick): an exit each, for nothing. KVM has passed it through since 2007.
 */
export const DEFAULT_PASS_THROUGH: readonly number[] = [0x80];
export const COM1: ConsoleConfig = { port: 0x3f8, irq: 4 };
export const DEFAULT_PRIORITIES = { vmm: 200, irq: 210, vcpu: 100 } as const;
