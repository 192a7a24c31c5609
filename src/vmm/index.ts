// src/vmm: the user-level VMM as L4 programs (see README.md). What the rest of Afterglow uses:
// the programs for the kernel's ProgramTable, the image that starts a VMM, and its summary.

export { VMM_PROGRAM, VMM_PROGRAMS, VCPU_MASKS, vmmImage, vmmState, vmmStateOf } from "./vmm.js";
export { IRQ_PROGRAM, irqImage, type IrqState } from "./irq.js";
export type { BootImage, ConsoleConfig, VmmConfig } from "./config.js";
export type { VmmState, VmmStats, VmmStatus, VcpuMode } from "./state.js";
export { formatVmmSummary, vmmSummary, type VmmSummary } from "./summary.js";
export { Hypercall, HYPERCALL_MAGIC, EXIT_HANDLERS } from "./exits.js";
export { DEV_NAMES, deviceAt } from "./devices.js";
