// The CPU's architectural vocabulary, which the interpreter (cpu.ts), its instruction families
// (ops/), its units (interrupts, segments, tasks, VMX, debug) and the machine around it all use:
// a leaf module, so that none of them imports cpu.ts for more than the Cpu type. (Exception
// vectors are src/x86/vectors.ts, the CPU model src/x86/cpuid.ts.)

/** Descriptor-cache attribute bits, in the layout of descriptor bytes 5–6 (type..G): src/x86's. */
export { DescAttr as SegAttr } from "../../x86/descriptor.js";

/** Port I/O as the CPU sees it; the machine decides what answers. */
export interface IoBus {
  in8(port: number): number;
  in16(port: number): number;
  in32(port: number): number;
  out8(port: number, v: number): void;
  out16(port: number, v: number): void;
  out32(port: number, v: number): void;
}

/** Why `run` returned. */
export const enum Stop {
  BUDGET = 0, // the instruction budget is spent
  HALT = 1, // HLT with interrupts masked or nothing to wake it (the machine decides)
  EXCEPTION = 2, // an exception with `trapExceptions` set, or one that could not be delivered
  SHUTDOWN = 3, // triple fault
  REQUEST = 4, // requestStop() from a device or the host
  RESET = 5, // the guest pulsed the reset line (how a PC reboots)
  IDLE = 6, // halted with interrupts on and no event due: only input from outside can wake it
  VMEXIT = 7, // a VM exit ended VMX non-root operation (./vmx.ts); the exit is in the current VMCS
}

/** The sentinel thrown by `raise`; the vector and error code are on the CPU. */
export const FAULT: { readonly fault: true } = Object.freeze({ fault: true });

/**
 * Why the run loop calls Cpu.debugBefore before each instruction (`Cpu.dbgArmed`, besides TF and
 * RF): a bit for each reason, so that with none of them an instruction pays one test.
 */
export const enum Armed {
  /** DR7 enables a breakpoint or watchpoint of the guest's (./debug.ts). */
  GUEST = 1,
  /** Interrupt-window exiting is on in VMX non-root operation: the window is checked (./vmx.ts). */
  INTR_WINDOW = 2,
  /** The host debugger has breakpoints, watchpoints, a step or a stop before the next instruction (./debug.ts). */
  HOST = 4,
}

/**
 * What compiled blocks depend on besides the code bytes (Cpu.jitMode): a block runs only in the
 * mode it was compiled for, on the bits its code relies on (see ./jit/README.md).
 */
export const enum JitMode {
  /** The compiler is on and CS is a flat 32-bit code segment: blocks may run. */
  OK = 1,
  /** ES, SS, DS: readable and writable with no checks, base 0. */
  FLAT_ES = 4, FLAT_SS = 8, FLAT_DS = 16,
  /** FS, GS: readable and writable with no checks (any base). */
  FAST_FS = 32, FAST_GS = 64,
  /** SS.B: the stack pointer is ESP. */
  STACK32 = 128,
}
