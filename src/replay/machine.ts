// What a Session drives: the bare PC, or the full stack (the PC running the L4 kernel, the VMM
// and the guest in a VM). Both answer in the same terms — a position (icount, guest ns), a stop,
// console bytes in and out, a state digest — so recording and replay do not care which it is.

import { createHash } from "node:crypto";
import { Packr } from "msgpackr";
import { irqUnmasked } from "../devices/pic8259.js";
import { COM1_IRQ, receiveInterrupts } from "../devices/uart16550.js";
import { Stop } from "../machine/cpu/arch.js";
import { FAULT_LOOP, type Cpu } from "../machine/cpu/cpu.js";
import type { PhysMem } from "../machine/memory.js";
import type { Pc, PcState } from "../machine/pc.js";
import { Flag } from "../x86/eflags.js";
import { pageDigests } from "./ram-digest.js";

export interface RunOptions {
  /** Stop when this many instructions have retired in total (the guest's own instructions). */
  maxInsns?: number;
  /**
   * A position in history is (icount, guest time): with untilNs the run also goes on, without
   * retiring more than maxInsns, until guest time reaches it.
   */
  untilNs?: number;
  /** A pause for the host: stop (BUDGET) once guest time reaches this. */
  maxNs?: number;
  onSlice?: () => void;
  /** Asked when the machine is about to idle: true if the host has just given it input. */
  onIdle?: () => boolean;
}

/** A machine's whole state but RAM, as plain data (a checkpoint keeps RAM page by page). */
export type MachineState = { readonly __machineState?: never } & object;

export interface Machine {
  readonly pc: Pc;
  run(opts: RunOptions): Stop;
  nowNs(): number;
  /** Host console input into the physical UART; returns how many bytes it took. */
  consoleInput(bytes: Uint8Array): number;
  /** Whether the guest's serial driver listens (its UART's receive interrupt is enabled). */
  consoleListening(): boolean;
  /**
   * Whether console input could interrupt the guest now: its UART would raise its IRQ for a byte
   * received, the interrupt controller passes that line, and the guest takes interrupts.
   */
  inputCanWake(): boolean;
  /** The digest of the whole state (what recordings' hash records hold). */
  stateHash(): string;
  /** Where the guest is: its code segment selector and EIP. */
  guestPc(): { cs: number; eip: number };
  /** One line on why the guest stopped, when the machine knows more than the Stop says. */
  stopDetail(): string | undefined;
  /** Everything but RAM (whose pages the caller keeps and restores through PhysMem's barrier). */
  saveState(): MachineState;
  /**
   * Puts back saveState's state; RAM is left as it is. Copies what it keeps: `s` is the caller's
   * still (a checkpoint restores the same state many times), and no later run changes it.
   */
  restoreState(s: MachineState): void;
  /** The guest's POST port 0x80 latch: the last code it wrote there, 0 after power-on. */
  postCode(): number;
}

const packr = new Packr({ useRecords: false, moreTypes: false });

/**
 * SHA-256 of RAM, by its pages' digests (./ram-digest.ts: only pages written since the last hash are
 * read again), and the rest of the state as plain data, as 32 hex digits.
 */
export function digest(mem: PhysMem, rest: unknown): string {
  const h = createHash("sha256");
  h.update(pageDigests(mem));
  h.update(packr.pack(asBytes(rest)));
  return h.digest("hex").slice(0, 32);
}

/**
 * `v` with every typed array other than a Uint8Array seen as its bytes: msgpackr without its
 * extension types packs a Uint32Array's length in elements but copies bytes, so the rest of the
 * record is whatever memory follows (a different digest for the same state).
 */
function asBytes(v: unknown): unknown {
  if (v === null || typeof v !== "object") return v;
  if (ArrayBuffer.isView(v)) return v instanceof Uint8Array ? v : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  if (Array.isArray(v)) return v.some((x) => x !== null && typeof x === "object") ? v.map(asBytes) : v;
  const o = v as { [k: string]: unknown };
  const out: { [k: string]: unknown } = {};
  for (const k of Object.keys(o)) out[k] = asBytes(o[k]);
  return out;
}

/** Why a run stopped in a loop of faults (Cpu.faultLoop), for stopDetail; undefined if it did not. */
export function faultLoopDetail(cpu: Cpu): string | undefined {
  if (!cpu.faultLoop) return undefined;
  return `exception ${cpu.excVector} delivered ${FAULT_LOOP.toLocaleString("en-US")} times in a row: its handler faults before an instruction retires, for ever`;
}

/** The PC alone, its guest on the bare metal. */
export class BareMachine implements Machine {
  constructor(readonly pc: Pc) {}

  run(opts: RunOptions): Stop {
    return this.pc.run({ maxInsns: opts.maxInsns, untilNs: opts.untilNs, maxNs: opts.maxNs, onSlice: opts.onSlice, onIdle: opts.onIdle });
  }

  nowNs(): number {
    return this.pc.nowNs();
  }

  consoleInput(bytes: Uint8Array): number {
    return this.pc.consoleInput(bytes);
  }

  consoleListening(): boolean {
    return this.pc.uart.receiverListening();
  }

  inputCanWake(): boolean {
    const pc = this.pc;
    return (pc.cpu.flags & Flag.IF) !== 0 && receiveInterrupts(pc.uart.save()) && irqUnmasked(pc.pic.save(), COM1_IRQ);
  }

  stateHash(): string {
    return digest(this.pc.mem, this.pc.save({ ram: false, tlb: false }));
  }

  saveState(): MachineState {
    return this.pc.save({ ram: false });
  }

  restoreState(s: MachineState): void {
    this.pc.restore(s as PcState, { ram: false });
  }

  guestPc(): { cs: number; eip: number } {
    return { cs: this.pc.cpu.segSel[1], eip: this.pc.cpu.eip >>> 0 };
  }

  stopDetail(): string | undefined {
    const cpu = this.pc.cpu;
    if (cpu.stopReason === Stop.SHUTDOWN) return `triple fault at EIP 0x${(cpu.eip >>> 0).toString(16)}`;
    if (cpu.faultLoop) return faultLoopDetail(cpu);
    return cpu.stopReason === Stop.EXCEPTION ? `exception ${cpu.excVector} (error code ${cpu.excCode})` : undefined;
  }

  postCode(): number {
    return this.pc.post.latched();
  }

  /** Calls `fn` with each code the guest writes to port 0x80, and the icount of the OUT. */
  onPost(fn: (code: number, icount: number) => void): void {
    const cpu = this.pc.cpu;
    this.pc.post.sink = (code) => fn(code, cpu.icount);
  }
}
