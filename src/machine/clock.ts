// The virtual clock. Guest time advances only with retired instructions, at a fixed documented
// rate, plus the idle time the machine skips when the CPU halts with nothing to do: never with
// host time. Everything time-dependent in the PC (PIT, RTC, TSC) reads it from here.

/**
 * Nanoseconds of guest time per retired instruction: the guest sees a 100 MHz CPU that retires
 * one instruction per cycle (its TSC ticks once per instruction).
 */
export const NS_PER_INSN = 10;
