// What a machine can be configured with, in one place: which machine runs the guest, and the
// timing parameters real hardware leaves open (MachineTiming).

/** What runs the guest: the full stack (L4, the VMM, the guest in a VM) or the bare PC. */
export type MachineKind = "stack" | "bare";

/**
 * The timing of one machine among those real hardware allows, all zero but the timeslice in the
 * default machine. Plain data, chosen by the host before the run, never during it.
 */
export interface MachineTiming {
  /** Where the RTC's divider chain is at power-on, in ticks of its 32.768 kHz time base into its first second. */
  rtcPhaseTicks: number;
  /** The PIT's input clock against the CPU's, in ns (less than one 838-ns tick): when a count written starts. */
  pitPhaseNs: number;
  /** Interrupt delivery latency in ns: from a chip's request to the CPU (bare) or the VMM's timer tick (stack). */
  irqLatencyNs: number;
  /** The L4 kernel's timeslice in ns (the stack; the bare PC has no kernel). */
  timesliceNs: number;
}
