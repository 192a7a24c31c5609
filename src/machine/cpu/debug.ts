// Debug exceptions (SDM vol. 3, chapter 17): TF single-step traps, DR0–DR3 instruction breakpoints
// (faults, suppressed for one instruction by RF) and data breakpoints (traps after the access), the
// task-switch trap (TSS T bit), and DR6 status. General detect (DR7.GD) lives with MOV DR in
// ./ops/sysreg.ts and INT1/ICEBP in ./ops/sysenter.ts.
//
// The run-loop contract — all of it costs one test per instruction while DR7 enables nothing and
// TF and RF are clear:
//
//   this.insnEip = this.eip;
//   if (((this.flags & (Flag.TF | Flag.RF)) | this.dbgArmed) !== 0) this.debugBefore();
//   ... fetch, execute, icount++ ...
//   if (this.dbgPending !== 0) this.debugAfter();
//
// `debugBefore` may raise #DB as a fault (an instruction breakpoint), which the loop's catch
// delivers like any fault, with EIP at the instruction. It latches TF (a trap is taken after the
// instruction only if TF was set before it: POPF/IRET that set TF do not trap, those that clear
// it do) and sets `dbgPending`. `debugAfter` delivers the #DB trap, with EIP after the
// instruction, when single-step, a data breakpoint or a task switch into a T-flagged task asked for
// it, and ends RF's one-instruction suppression. Any fault (Cpu.raise) clears `dbgPending`: a
// faulting instruction reports no trap.
//
// Data breakpoints are checked in the MMU's slow path: pages holding one never enter the TLB
// (see ./mmu.ts), so the hot memory path is untouched.

import { Dr6, DR7_GD } from "../../x86/debugregs.js";
import { Flag } from "../../x86/eflags.js";
import { Seg } from "../../x86/insn.js";
import { type Cpu } from "./cpu.js";
import { Armed, Stop } from "./arch.js";
import { Vec } from "../../x86/vectors.js";
import { HOST_WATCH_HIT } from "./mmu.js";


/** Byte length of a breakpoint by DR7's LEN field (2 = 8 bytes on later CPUs; undefined on P6). */
const LEN_BYTES = [1, 2, 8, 4];

// Scratch for setting the MMU's watches (no allocation).
const wLin = new Int32Array(4), wLen = new Int32Array(4), wRw = new Int32Array(4);

/** DR0–DR3 or DR7 changed (MOV DR, task switch, reset, restore): rebuild what the checks use. */
export function debugRegsChanged(cpu: Cpu): void {
  const dr7 = cpu.dr[7];
  let exec = 0;
  for (let k = 0; k < 4; k++) {
    wLen[k] = 0;
    if (((dr7 >>> (2 * k)) & 3) === 0) continue;
    const rw = (dr7 >>> (16 + 4 * k)) & 3;
    const len = LEN_BYTES[(dr7 >>> (18 + 4 * k)) & 3];
    if (rw === 0) {
      exec |= 1 << k;
    } else if (rw !== 2) {
      // R/W 2 is an I/O breakpoint (CR4.DE), which this CPU does not implement.
      wLin[k] = cpu.dr[k] & ~(len - 1);
      wLen[k] = len;
      wRw[k] = rw;
    }
  }
  const had = cpu.paging.watchCount;
  cpu.dbgExec = exec;
  cpu.paging.setWatches(wLin, wLen, wRw);
  const guest = exec !== 0 || wLen[0] + wLen[1] + wLen[2] + wLen[3] > 0;
  cpu.dbgArmed = (cpu.dbgArmed & ~Armed.GUEST) | (guest ? Armed.GUEST : 0);
  if (had !== cpu.paging.watchCount) cpu.paging.hits = 0;
}

/** Before an instruction (see the contract above). */
export function debugBefore(cpu: Cpu): void {
  cpu.paging.hits = 0;
  const fl = cpu.flags;
  if ((fl & Flag.RF) !== 0) {
    cpu.dbgRf = 1;
  } else if (cpu.dbgExec !== 0) {
    const lin = (cpu.segBase[Seg.CS] + cpu.eip) | 0;
    let hit = 0;
    for (let k = 0; k < 4; k++) if (((cpu.dbgExec >>> k) & 1) !== 0 && cpu.dr[k] === lin) hit |= 1 << k;
    if (hit !== 0) {
      cpu.dr[6] = (cpu.dr[6] & ~0xf) | hit;
      cpu.raise(Vec.DB);
    }
  }
  cpu.dbgTrap = (fl & Flag.TF) !== 0 ? Dr6.BS : 0;
  cpu.dbgPending = 1;
}

/** After an instruction completed (see the contract above). */
export function debugAfter(cpu: Cpu): void {
  cpu.dbgPending = 0;
  if (cpu.dbgRf !== 0) {
    cpu.dbgRf = 0;
    cpu.flags &= ~Flag.RF;
  }
  const hits = cpu.paging.hits;
  const bits = cpu.dbgTrap | (hits & 0xf);
  cpu.dbgTrap = 0;
  cpu.paging.hits = 0;
  if ((hits & HOST_WATCH_HIT) !== 0) hostWatchHit(cpu, cpu.paging.hostHits);
  if (bits === 0) return;
  cpu.dr[6] = (cpu.dr[6] & ~0xf) | bits;
  deliverDebugTrap(cpu);
}

/** Delivers #DB as a trap (EIP is the next instruction's), or stops for a test harness. */
export function deliverDebugTrap(cpu: Cpu): void {
  if (cpu.trapExceptions) {
    cpu.excVector = Vec.DB;
    cpu.excCode = -1;
    cpu.requestStop(Stop.EXCEPTION);
    return;
  }
  if (!cpu.interrupts.deliver(cpu, Vec.DB, -1, false)) cpu.requestStop(cpu.stopReason);
}

/** A task switch into a task whose TSS has the T bit: #DB with DR6.BT after the switch. */
export function taskSwitchTrap(cpu: Cpu): void {
  cpu.dbgTrap |= Dr6.BT;
  cpu.dbgPending = 1;
}

// ------------------------------------------------------------------------------------------------
// The host debugger's breakpoints, watchpoints and steps (src/replay/debug.ts). They live here, in
// the emulator, and never in guest memory or the guest's debug registers; they are not guest state
// (never saved). Armed, they make the run loop call debugBefore/debugAfter (`Armed.HOST` in
// `dbgArmed`, as DR7 does for the guest with `Armed.GUEST`); unarmed they cost nothing. An
// instruction breakpoint stops the CPU before the instruction (run returns REQUEST with EIP at
// it); a watchpoint after the accessing instruction; a step before the first instruction of the
// guest's next one. The checks are per instruction, so a stop lands on the same icount however the
// run is sliced.

/** Thrown by the before-instruction check to leave the run loop with nothing executed. */
export const HOST_BREAK: { readonly hostBreak: true } = Object.freeze({ hostBreak: true });

/** What stopped the CPU for the host debugger. */
export type HostHit =
  | { kind: "exec"; lin: number }
  /** The watchpoints one instruction touched, by their index in HostDebug.setWatches' list, in order. */
  | { kind: "watch"; indexes: number[] }
  | { kind: "step" }
  | { kind: "next" }
  | { kind: "exit" }
  /** The debugger stopped the run at an event of the kernel above (not the CPU's). */
  | { kind: "event" };

/** A host watchpoint: linear start, length in bytes (at least 1), and what it watches. */
export interface HostWatch {
  lin: number;
  len: number;
  /** 1 writes, 2 reads, 3 both. */
  rw: number;
}

export class HostDebug {
  /** Linear addresses of instruction breakpoints (as int32). */
  readonly exec = new Set<number>();
  /** Stop before the next instruction, whatever it is (a debugger attaching at the first one). */
  stopNext = false;
  /**
   * A single step is under way: a repeated string instruction runs one iteration and stops with
   * EIP still at it (hit "step"), as TF single-stepping traps after each iteration (./ops/string.ts).
   */
  step = false;
  /**
   * A step in progress (-1: none): it began at the instruction at (stepIcount, stepEip) and ends
   * before the first instruction after it whose EIP is outside [rangeStart, rangeEnd) — an empty
   * range for one instruction, a source line's for gdb's range stepping. "After it" is told by the
   * icount or the EIP moving: an instruction the VMM emulates retires when its reply steps past
   * it (both move), one that exits to be restarted (an EPT violation) moves neither, and a REP
   * iteration moves the icount only (each retires; the step flag above ends the step after one).
   */
  stepIcount = -1;
  stepEip = 0;
  rangeStart = 0;
  rangeEnd = 0;
  /** A resumed run does not stop at the breakpoint it starts on: the instruction at (icount, lin). */
  skipIcount = -1;
  skipLin = 0;
  /** Why the CPU stopped for the debugger; cleared by the debugger before each run. */
  hit: HostHit | null = null;
  private watchCount = 0;

  /** `exec` as an array (for clearOf, which must not allocate), refreshed by changed(). */
  private execList = new Int32Array(0);

  constructor(private readonly cpu: Cpu) {}

  /**
   * Whether a compiled block of `bytes` bytes at linear `lin` may run while armed: no stop before
   * the next instruction is asked for, no step is under way and no breakpoint lies in the block, so
   * the per-instruction check would find nothing in it (a watchpoint ends the block after the
   * access that hits it).
   */
  clearOf(lin: number, bytes: number): boolean {
    if (this.stopNext || this.stepIcount >= 0 || this.step) return false;
    const list = this.execList;
    for (let k = 0; k < list.length; k++) if ((list[k] - lin) >>> 0 < bytes) return false;
    return true;
  }

  /** Sets the watchpoints (any number) in the MMU, which checks them on the accesses to their pages. */
  setWatches(watches: readonly HostWatch[]): void {
    const lin = new Int32Array(watches.length), len = new Int32Array(watches.length), rw = new Int32Array(watches.length);
    watches.forEach((w, k) => {
      lin[k] = w.lin;
      len[k] = w.len;
      rw[k] = w.rw;
    });
    this.cpu.paging.setHostWatches(lin, len, rw);
    this.watchCount = watches.length;
    this.changed();
  }

  /** Breakpoints, watchpoints, the step or stopNext changed: arm or disarm the run loop's checks. */
  changed(): void {
    const cpu = this.cpu;
    this.execList = Int32Array.from(this.exec);
    const armed = this.exec.size > 0 || this.watchCount > 0 || this.stopNext || this.stepIcount >= 0;
    cpu.dbgArmed = armed ? cpu.dbgArmed | Armed.HOST : cpu.dbgArmed & ~Armed.HOST;
  }
}

/** Before an instruction, with Armed.HOST: throws HOST_BREAK where a step ends or at a breakpoint. */
export function hostDebugBefore(cpu: Cpu): void {
  const h = cpu.hostDebug;
  if (h === null) return;
  if (h.stopNext) {
    h.stopNext = false;
    h.changed();
    h.hit = { kind: "next" };
    throw HOST_BREAK;
  }
  if (h.stepIcount >= 0 && (cpu.icount !== h.stepIcount || cpu.eip !== h.stepEip)) {
    const eip = cpu.eip >>> 0;
    if (eip < h.rangeStart || eip >= h.rangeEnd) {
      h.hit = { kind: "step" };
      throw HOST_BREAK;
    }
  }
  if (h.exec.size === 0) return;
  const lin = (cpu.segBase[Seg.CS] + cpu.eip) | 0;
  if (!h.exec.has(lin) || (cpu.icount === h.skipIcount && lin === h.skipLin)) return;
  h.hit = { kind: "exec", lin };
  throw HOST_BREAK;
}

/** The instruction just completed touched these host watchpoints. */
function hostWatchHit(cpu: Cpu, indexes: readonly number[]): void {
  const h = cpu.hostDebug;
  if (h === null) return;
  h.hit = { kind: "watch", indexes: [...indexes].sort((a, b) => a - b) };
  // A HLT that asked to stop still halts: the CPU resumes halted.
  if (!cpu.stopRequested || cpu.stopReason === Stop.HALT) cpu.requestStop(Stop.REQUEST);
}
