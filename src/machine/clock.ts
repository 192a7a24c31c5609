// The virtual clock. Guest time advances only with retired instructions, at a fixed documented
// rate, plus the idle time the machine skips when the CPU halts with nothing to do: never with
// host time. Everything time-dependent in the PC (PIT, RTC, TSC) reads it from here.

/**
 * Nanoseconds of guest time per retired instruction: the guest sees a 100 MHz CPU that retires
 * one instruction per cycle (its TSC ticks once per instruction).
 */
export const NS_PER_INSN = 10;

/** The PIT's input clock, in Hz (the PC's 14.31818 MHz crystal divided by 12). */
export const PIT_HZ = 1_193_182;

/** The PIT tick at guest time `ns` (the last whole tick). */
export function pitTickAt(ns: number): number {
  return Math.floor((ns * PIT_HZ) / 1e9);
}

/** Guest time of PIT tick `tick`, rounded up to a whole nanosecond. */
export function nsOfPitTick(tick: number): number {
  return Math.ceil((tick * 1e9) / PIT_HZ);
}
