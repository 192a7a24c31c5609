// What a machine can be configured with, in one place: the guest RAM each machine takes, and the
// timing parameters real hardware leaves open (MachineTiming). The CLI checks a user's --ram
// against these limits, a recording's header is checked against them when it is read
// (./recording.ts), and chaos mode (./chaos.ts) picks timings within their ranges.

import { int, object, type Schema } from "./schema.js";

/** What runs the guest: the full stack (L4, the VMM, the guest in a VM) or the bare PC. */
export type MachineKind = "stack" | "bare";

const MiB = 2 ** 20;

/**
 * Guest RAM in MiB: the bare PC is a 32-bit PC whose top GiB is left to devices; in a VM the VMM
 * maps guest RAM in 4 MiB pieces, up to 2 GiB.
 */
export const RAM_MIB: { readonly [K in MachineKind]: { readonly min: number; readonly max: number; readonly multiple: number } } = {
  bare: { min: 1, max: 3072, multiple: 1 },
  stack: { min: 4, max: 2048, multiple: 4 },
};

/** Why `bytes` of guest RAM cannot be, on `kind` (one line naming the limits), or undefined. */
export function ramSizeProblem(bytes: number, kind: MachineKind): string | undefined {
  const r = RAM_MIB[kind];
  const mib = bytes / MiB;
  if (Number.isInteger(mib) && mib >= r.min && mib <= r.max && mib % r.multiple === 0) return undefined;
  const where = kind === "bare" ? "on the bare PC" : "in a VM";
  return `guest RAM ${where} is ${r.min} to ${r.max} MiB${r.multiple > 1 ? ` in multiples of ${r.multiple}` : ""}`;
}

/**
 * The timing of one machine among those real hardware allows: the parameters a chaos run
 * perturbs (./chaos.ts), all zero but the timeslice in the default machine. Plain data, chosen by
 * the host before the run and kept in the recording's header, so a replay builds the same machine.
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
  /**
   * The guest's serial line: its UART's character time in ns, how long THR takes to empty (the
   * PC's COM1 bare, the VMM's virtual UART in a VM). Absent or 0: at once, as a virtual UART.
   */
  uartTxNs?: number;
}

/** The ranges chaos picks from and a recording's timing must be in. */
export const TIMING_LIMITS: { readonly [K in keyof MachineTiming]-?: { readonly min: number; readonly max: number } } = {
  rtcPhaseTicks: { min: 0, max: 32767 },
  pitPhaseNs: { min: 0, max: 838 },
  // Up to 20 µs: an interrupt held off by a long instruction, a busy bus, an SMI.
  irqLatencyNs: { min: 0, max: 20_000 },
  // Pistachio's default timeslice is 10 ms; 1 to 20 ms.
  timesliceNs: { min: 1_000_000, max: 20_000_000 },
  // From a virtual UART's none to 10 µs, a 16550 sending at 1 Mbaud (its datasheet's rates reach
  // 1.5 Mbaud): slower lines would leave a guest polling LSR for most of its run.
  uartTxNs: { min: 0, max: 10_000 },
};

/** Timing fields recordings made before they existed may lack. */
const OPTIONAL_TIMING: readonly string[] = ["uartTxNs"];

export const timingSchema: Schema = object(
  Object.fromEntries(Object.entries(TIMING_LIMITS).filter(([k]) => !OPTIONAL_TIMING.includes(k)).map(([k, r]) => [k, int(r.min, r.max)])),
  Object.fromEntries(Object.entries(TIMING_LIMITS).filter(([k]) => OPTIONAL_TIMING.includes(k)).map(([k, r]) => [k, int(r.min, r.max)])),
);
