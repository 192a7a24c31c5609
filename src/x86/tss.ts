// The task-state segment (SDM vol. 3, 7.2): its descriptor types and the fields a task switch
// saves and loads, in both formats. The CPU switches tasks with them (src/machine/cpu/task.ts);
// the VMM does the same for a guest, whose task switches exit (src/vmm/task.ts).

/** System descriptor types of TSSs (SDM vol. 3, table 3-2). */
export const enum TssType { AVAIL16 = 1, BUSY16 = 3, AVAIL32 = 9, BUSY32 = 11 }

/** 32-bit TSS field offsets (SDM figure 7-2). */
export const enum T32 { LINK = 0, CR3 = 0x1c, EIP = 0x20, EFLAGS = 0x24, REGS = 0x28, SEGS = 0x48, LDT = 0x60, TRAP = 0x64 }
/** 16-bit TSS field offsets (SDM figure 7-11). */
export const enum T16 { LINK = 0, IP = 0x0e, FLAGS = 0x10, REGS = 0x12, SEGS = 0x22, LDT = 0x2a }

/** The smallest limit of a TSS descriptor: the dynamic fields and the LDT selector must fit. */
export const TSS32_MIN_LIMIT = 0x67;
export const TSS16_MIN_LIMIT = 0x2b;
