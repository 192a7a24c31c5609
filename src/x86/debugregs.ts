// The debug registers' bits (SDM vol. 3, 17.2): what the CPU's debug exceptions set in DR6 and
// read in DR7, and what a task switch, the CPU's or the VMM's, does to them.

/** DR6 status bits: breakpoint hits B0-B3, general detect, single step, task switch (T bit). */
export const enum Dr6 { B0 = 1, B1 = 2, B2 = 4, B3 = 8, BD = 0x2000, BS = 0x4000, BT = 0x8000 }

/** DR7.GD: general detect. */
export const DR7_GD = 0x2000;
/** DR7 local enables (L0–L3 and LE), which a task switch clears. */
export const DR7_LOCAL = 0x155;
