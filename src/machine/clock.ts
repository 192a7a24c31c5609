// The virtual clock. Guest time advances only with retired instructions, at a fixed documented
// rate, plus the idle time the machine skips when the CPU halts with nothing to do: never with
// host time. Everything time-dependent in the PC (PIT, RTC, TSC) reads it from here.

/**
 * Nanoseconds of guest time per retired instruction: the guest sees a 1 GHz CPU that retires
 * one instruction per cycle (its TSC ticks once per instruction). A clock of the era of the VT-x
 * machines the kernel's costs model (src/l4/costs.ts): at the 100 MHz this once was, a Linux boot
 * spent ten times the guest time, and so took ten times the timer ticks (and their exits), in
 * work a real PC does in a tenth of it.
 */
export const NS_PER_INSN = 1;
