// The exit dispatch table: one handler per VM exit reason, each short and tested alone with a
// hand-built exit message (exits.test.ts). runExit() runs the handler of an exit and the event
// logic that ends every reply; the VMM program (vmm.ts) does the IPC around it.
//
// | reason                | handler                                                          |
// |-----------------------|------------------------------------------------------------------|
// | STARTUP (L4)          | load the guest's first state (boot.ts) and the VMM's controls    |
// | RECALL (L4)           | nothing: the reply carries the interrupt the VMM recalled for    |
// | EXCEPTION_NMI 0       | reflect the exception into the guest (CR2 for #PF)               |
// | TRIPLE_FAULT 2        | stop: a reported guest failure                                   |
// | INIT 3, SIPI 4        | stop                                                             |
// | INTERRUPT_WINDOW 7    | nothing: the reply injects                                       |
// | TASK_SWITCH 9         | task.ts: the switch, as the CPU makes it                         |
// | CPUID 10              | cpuid.ts: the i686 model without VMX                             |
// | GETSEC 11, VMX 19-27, INVEPT 50, INVVPID 53, XSETBV 55, MWAIT 36, MONITOR 39 | #UD      |
// | HLT 12                | park until an interrupt is due (or at once if one is)            |
// | INVD 13, PAUSE 40, WBINVD 54, INVLPG 14 | step over it                                   |
// | RDPMC 15              | counters read 0                                                  |
// | RDTSC 16              | guest time at the VMM's TSC rate                                 |
// | VMCALL 18             | hypercalls: info, putchar, power off                             |
// | CR_ACCESS 28          | cr.ts: owned bits, shadows, CR3, CLTS, LMSW                      |
// | IO 30                 | io.ts: the virtual chips, string I/O                             |
// | RDMSR 31, WRMSR 32    | msr.ts                                                           |
// | ENTRY_FAIL 33, 34     | stop                                                             |
// | EPT_VIOLATION 48      | ept.ts: map guest RAM, or emulate MMIO                           |
// | anything else         | stop, naming the exit                                            |

import { Activity, EventType, ExitReason, GuestField, IntType, VcpuReason, decodeIntInfo, exitReasonName } from "../l4/api.js";
import { Flag } from "../x86/eflags.js";
import { Reg } from "../x86/insn.js";
import { crExit, setControls } from "./cr.js";
import { ExitCtx, Outcome, type Vm } from "./context.js";
import { Vec } from "../x86/vectors.js";
import { cpuidExit } from "./cpuid.js";
import { eptExit } from "./ept.js";
import { finishReply } from "./events.js";
import { ioExit, ioNeedsClock } from "./io.js";
import type { Exit } from "./message.js";
import { guestTsc, msrNeedsClock, rdmsrExit, wrmsrExit } from "./msr.js";
import { taskSwitchExit } from "./task.js";

export type ExitHandler = (c: ExitCtx) => Outcome;

/** Hypercall numbers (EAX at VMCALL; the guest must run at CPL 0). */
export const enum Hypercall {
  /** EAX = "AGLW" (0x574c4741), EBX = interface version. */
  INFO = 0,
  /** Writes BL to the console. */
  PUTCHAR = 1,
  /** Powers the VM off; EBX is the guest's exit code. */
  POWEROFF = 2,
}

export const HYPERCALL_MAGIC = 0x574c4741;
export const HYPERCALL_VERSION = 1;

function startup(c: ExitCtx): Outcome {
  for (const [f, v] of c.s.initial) c.set(f, v);
  c.set(GuestField.INTERRUPTIBILITY, 0);
  c.set(GuestField.ACTIVITY, 0);
  c.set(GuestField.EFER, 0);
  setControls(c);
  return Outcome.REPLY;
}

function nothing(): Outcome {
  return Outcome.REPLY;
}

function stepOver(c: ExitCtx): Outcome {
  return c.advance();
}

function undefinedOpcode(c: ExitCtx): Outcome {
  return c.ud();
}

/** A guest exception the exception bitmap made exit: deliver it to the guest as it was. */
function exception(c: ExitCtx): Outcome {
  const info = decodeIntInfo(c.get(GuestField.EXIT_INTR_INFO));
  if (!info.valid) return Outcome.REPLY;
  if (info.type === IntType.NMI) {
    c.inject(info.vector, EventType.NMI);
    return Outcome.REPLY;
  }
  if (info.vector === Vec.PF) c.set(GuestField.CR2, c.x.qualification);
  const type = info.type === IntType.SOFTWARE_EXCEPTION ? EventType.SOFTWARE_EXCEPTION : EventType.HARDWARE_EXCEPTION;
  c.inject(info.vector, type, info.errorCode ? c.get(GuestField.EXIT_INTR_ERROR) : undefined);
  return Outcome.REPLY;
}

/**
 * HLT retires at once, as on the CPU, and leaves the guest in the HLT activity state: with an
 * interrupt due the event logic injects it (which wakes the guest); else the VCPU is parked
 * until one is, or for good with interrupts off (the guest's end).
 */
function hlt(c: ExitCtx): Outcome {
  c.advance();
  if (c.dev.hasInterrupt() && (c.get(GuestField.EFLAGS) & Flag.IF) !== 0) return Outcome.REPLY;
  c.set(GuestField.ACTIVITY, Activity.HLT);
  if ((c.get(GuestField.EFLAGS) & Flag.IF) === 0) c.vm.stop("halted", "the guest halted with interrupts off");
  else c.s.stats.parks++;
  return Outcome.PARK;
}

function rdtsc(c: ExitCtx): Outcome {
  const t = guestTsc(c.clock(), c.s.tscHz, c.s.vcpuBook.tscOffset);
  c.setGpr(Reg.EAX, Number(BigInt.asUintN(32, t)));
  c.setGpr(Reg.EDX, Number(BigInt.asUintN(32, t >> 32n)));
  return c.advance();
}

function rdpmc(c: ExitCtx): Outcome {
  c.setGpr(Reg.EAX, 0);
  c.setGpr(Reg.EDX, 0);
  return c.advance();
}

function vmcall(c: ExitCtx): Outcome {
  // Only the guest kernel may call: at CPL 3 VMCALL is #UD, as on a CPU without hypercalls.
  if (((c.get(GuestField.SS_ATTR) >>> 5) & 3) !== 0) return c.ud();
  const s = c.s;
  s.stats.hypercalls++;
  switch (c.gpr(Reg.EAX)) {
    case Hypercall.INFO:
      c.setGpr(Reg.EAX, HYPERCALL_MAGIC);
      c.setGpr(Reg.EBX, HYPERCALL_VERSION);
      break;
    case Hypercall.PUTCHAR:
      c.dev.emit(c.gpr(Reg.EBX));
      break;
    case Hypercall.POWEROFF:
      s.exitCode = c.gpr(Reg.EBX) | 0;
      c.vm.stop("off", `the guest powered off (exit code ${s.exitCode})`);
      return Outcome.STOP;
    default:
      c.setGpr(Reg.EAX, 0xffffffff);
  }
  return c.advance();
}

function tripleFault(c: ExitCtx): Outcome {
  return c.stop(`triple fault at EIP 0x${c.get(GuestField.EIP).toString(16)}`);
}

function entryFailure(c: ExitCtx): Outcome {
  return c.stop(`VM entry failed (${exitReasonName(c.x.reason)}, qualification ${c.x.qualification})`);
}

function unhandled(c: ExitCtx): Outcome {
  return c.stop(`exit ${exitReasonName(c.x.reason)} (${c.x.reason}) is not handled by the VMM, at EIP 0x${c.get(GuestField.EIP).toString(16)}`);
}

export const EXIT_HANDLERS: Readonly<Record<number, ExitHandler>> = {
  [VcpuReason.STARTUP]: startup,
  [VcpuReason.RECALL]: nothing,
  [ExitReason.EXCEPTION_NMI]: exception,
  [ExitReason.TRIPLE_FAULT]: tripleFault,
  [ExitReason.INIT]: (c) => c.stop("INIT signal"),
  [ExitReason.SIPI]: (c) => c.stop("start-up IPI"),
  [ExitReason.INTERRUPT_WINDOW]: nothing,
  [ExitReason.TASK_SWITCH]: taskSwitchExit,
  [ExitReason.CPUID]: cpuidExit,
  11: undefinedOpcode, // GETSEC
  [ExitReason.HLT]: hlt,
  [ExitReason.INVD]: stepOver,
  // Without VPID every VM entry starts with an empty TLB, so skipping INVLPG loses nothing.
  [ExitReason.INVLPG]: stepOver,
  [ExitReason.RDPMC]: rdpmc,
  [ExitReason.RDTSC]: rdtsc,
  [ExitReason.VMCALL]: vmcall,
  19: undefinedOpcode, // VMCLEAR
  20: undefinedOpcode, // VMLAUNCH
  21: undefinedOpcode, // VMPTRLD
  22: undefinedOpcode, // VMPTRST
  23: undefinedOpcode, // VMREAD
  24: undefinedOpcode, // VMRESUME
  25: undefinedOpcode, // VMWRITE
  26: undefinedOpcode, // VMXOFF
  27: undefinedOpcode, // VMXON
  [ExitReason.CR_ACCESS]: crExit,
  [ExitReason.IO_INSTRUCTION]: ioExit,
  [ExitReason.RDMSR]: rdmsrExit,
  [ExitReason.WRMSR]: wrmsrExit,
  [ExitReason.INVALID_GUEST_STATE]: entryFailure,
  [ExitReason.MSR_LOADING]: entryFailure,
  [ExitReason.MWAIT]: undefinedOpcode,
  [ExitReason.MONITOR]: undefinedOpcode,
  [ExitReason.PAUSE]: stepOver,
  [ExitReason.EPT_VIOLATION]: eptExit,
  [ExitReason.EPT_MISCONFIG]: (c) => c.stop(`EPT misconfiguration at guest-physical 0x${c.x.gpa.toString(16)}`),
  50: undefinedOpcode, // INVEPT
  53: undefinedOpcode, // INVVPID
  [ExitReason.WBINVD]: stepOver,
  55: undefinedOpcode, // XSETBV
};

/** Whether handling `x` reads guest time: the VMM asks SystemClock first. */
export function needsClock(x: Exit, uartTimed: boolean): boolean {
  switch (x.reason) {
    case ExitReason.IO_INSTRUCTION:
      return ioNeedsClock(x, uartTimed);
    case ExitReason.RDTSC:
      return true;
    case ExitReason.RDMSR:
    case ExitReason.WRMSR:
      return msrNeedsClock(x);
    default:
      return false;
  }
}

const NOTHING_FETCHED: readonly (readonly [number, Uint8Array])[] = [];

/**
 * Handles exit `x` in `c` (begun afresh): the chips brought up to `now` (if the clock was read:
 * -1 if not), the handler run against the guest memory `fetched` so far, then the event logic.
 * NEED leaves every state as it was (the handler reads before it writes) except that the chips
 * are up to date. The reply, the reads missing and the writes made are left in `c`.
 */
export function runExit(vm: Vm, x: Exit, now: number, fetched = NOTHING_FETCHED, c = new ExitCtx()): Outcome {
  if (now >= 0) vm.dev.advanceTo(now);
  c.begin(vm, x, now, fetched);
  if (!c.vectoredInstruction()) return Outcome.NEED;
  const handler = EXIT_HANDLERS[x.reason] ?? unhandled;
  let outcome = handler(c);
  if (outcome === Outcome.NEED) return outcome;
  const s = vm.s;
  s.stats.exits[x.reason] = (s.stats.exits[x.reason] ?? 0) + 1;
  if (vm.dev.reset !== null && outcome !== Outcome.STOP) {
    vm.stop("reset", `the guest reset the machine (${vm.dev.reset})`);
    vm.dev.reset = null;
    outcome = Outcome.STOP;
  }
  const book = s.vcpuBook;
  if (outcome === Outcome.REPLY) {
    finishReply(c);
    book.mode = "running";
  } else if (outcome === Outcome.PARK && book.mode !== "halted") book.mode = "parked";
  return outcome;
}
