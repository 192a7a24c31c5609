// What an exit handler works with: the VMM (its state and virtual chips) and the exit being
// handled, with the reply under construction, guest memory as read so far, and the clock.

import { EventType, GuestField, injectionInfo } from "../l4/api.js";
import { decode, MAX_INSN_LEN } from "../x86/decoder.js";
import { Reg, type Insn } from "../x86/insn.js";
import { Vec } from "../x86/vectors.js";
import { devicesOf, type VirtualDevices } from "./devices.js";
import { GuestMemory, isFault, readLinear, type PageFault } from "./memory.js";
import type { Paging } from "../x86/paging.js";
import { emptyExit, fieldOf, hasField, Reply, type Exit } from "./message.js";
import type { Job, VmmState, VmmStatus } from "./state.js";

const vms = new WeakMap<VmmState, Vm>();

/** The VMM's machine: its state and the virtual chips that state holds. */
export class Vm {
  dev: VirtualDevices;
  /** The exit being handled and its handling, filled in again for each exit (see ExitCtx). */
  readonly exit = emptyExit();
  readonly ctx = new ExitCtx();
  /**
   * A job no longer the state's, whose object the next message's job takes (wiring, not state:
   * the state's job is made afresh when there is none, as after a restore).
   */
  spareJob: Job | null = null;

  constructor(readonly s: VmmState) {
    // The state is the chips' configuration too (RAM size, wall clock, timing): no object per message.
    this.dev = devicesOf(s.devices, s);
  }

  /**
   * The Vm of state `s`, made once per state object: a restored VMM has a state object of its
   * own, and the chips are looked up again each time (they follow the state's version).
   */
  static of(s: VmmState): Vm {
    let vm = vms.get(s);
    if (vm === undefined) vms.set(s, (vm = new Vm(s)));
    else vm.dev = devicesOf(s.devices, s);
    return vm;
  }

  /** Writes the chips back into the plain state: the end of every message handled. */
  commit(): void {
    this.dev.writeBack(this.s.devices);
  }

  /** The guest is over (or cannot go on): the VCPU is never answered again. */
  stop(status: VmmStatus, reason: string): void {
    const s = this.s;
    s.vcpuBook.mode = status === "halted" ? "halted" : "stopped";
    if (s.status === "running" || s.status === "starting") {
      s.status = status;
      s.reason = reason;
    }
  }

  /** Gives queued console input to the virtual UART, as much as its FIFO takes. */
  feedInput(): void {
    const q = this.s.input;
    if (q.length === 0) return;
    const n = this.dev.receive(q);
    if (n > 0) q.splice(0, n);
  }
}

/** How a handler ended. */
export const enum Outcome {
  /** Answer the VCPU with `ctx.reply` (after the event logic adds injections). */
  REPLY,
  /** Answer with `ctx.reply`, the VCPU halted first: parked on HLT until an interrupt is due (or for good). */
  PARK,
  /** Do not answer ever: the guest stopped (see the VMM's status). */
  STOP,
  /** Guest memory or the clock is needed first: the VMM gets it and runs the handler again. */
  NEED,
}

/** src/x86 register numbers to the guest-state words that hold them. */
export const REG_FIELD: readonly GuestField[] = [
  GuestField.EAX, GuestField.ECX, GuestField.EDX, GuestField.EBX,
  GuestField.ESP, GuestField.EBP, GuestField.ESI, GuestField.EDI,
];

const CR0_PE = 1;

/** Segment access rights (VMX format): the D/B bit. */
export const AR_DB = 1 << 14;

function decodeBytes(bytes: Uint8Array, lin: number, default32: boolean): Insn {
  return decode({ byte: (a) => bytes[(a - lin) >>> 0] ?? 0 }, lin, default32);
}

/** Interruptibility-state bits (blocking by STI, by MOV SS). */
export const BLOCKING_STI_MOVSS = 3;

/**
 * One exit's handling. The VMM has one, begun again for every exit (an object per exit would be
 * allocation on the exit path): nothing keeps it, or anything in it, past the exit's handling.
 */
export class ExitCtx {
  readonly reply = new Reply();
  readonly mem = new GuestMemory();
  // Set by begin(), for the exit being handled.
  vm!: Vm;
  x!: Exit;
  /** Guest time now (SystemClock), or -1 when the VMM did not ask (see needsClock). */
  now = -1;
  /**
   * The length of the instruction a software event in the IDT-vectoring information comes from
   * (INT n, INT3, INTO), for delivering it again: the exit's instruction length, or, for a VM page
   * fault, which carries none, the length of the instruction at EIP (see `vectoredInstruction`).
   */
  eventLength = 0;

  /** Starts on exit `x`, with the guest memory `fetched` so far: an empty reply, nothing read. */
  begin(vm: Vm, x: Exit, now: number, fetched: readonly (readonly [number, Uint8Array])[]): this {
    this.vm = vm;
    this.x = x;
    this.now = now;
    this.eventLength = x.length;
    this.reply.clear();
    this.mem.begin(vm.s.ramSize, fetched);
    return this;
  }

  /**
   * For an exit during the delivery of a software interrupt or exception that brings no
   * instruction length (a VM page fault): decodes the instruction at EIP, the one the event came
   * from, for `eventLength`. False while its bytes are being read (the handler must wait).
   */
  vectoredInstruction(): boolean {
    if (this.x.length !== 0 || !this.has(GuestField.IDT_VECTORING_INFO) || !this.has(GuestField.CS_BASE)) return true;
    const info = this.get(GuestField.IDT_VECTORING_INFO);
    if ((info & 0x80000000) === 0 || ((info >>> 8) & 7) < EventType.SOFTWARE_INTERRUPT) return true;
    const insn = this.instruction();
    if (insn === null) return false;
    if (!isFault(insn)) this.eventLength = insn.len;
    return true;
  }

  get s(): VmmState {
    return this.vm.s;
  }

  get dev(): VirtualDevices {
    return this.vm.dev;
  }

  has(f: GuestField): boolean {
    return this.reply.has(f) || hasField(this.x, f);
  }

  /** A guest-state word as the reply leaves it: what the handler set, else what the exit carried. */
  get(f: GuestField): number {
    return this.reply.has(f) ? this.reply.get(f) : fieldOf(this.x, f);
  }

  set(f: GuestField, value: number): void {
    this.reply.set(f, value);
  }

  gpr(r: Reg): number {
    return this.get(REG_FIELD[r]);
  }

  setGpr(r: Reg, value: number): void {
    this.set(REG_FIELD[r], value);
  }

  /** The clock; handlers that call it are listed in needsClock, so it is always there. */
  clock(): number {
    if (this.now < 0) throw new Error(`vmm: the handler of exit ${this.x.reason} reads the clock it did not ask for`);
    return this.now;
  }

  paging(): Paging {
    return { cr0: this.get(GuestField.CR0), cr3: this.get(GuestField.CR3), cr4: this.get(GuestField.CR4) };
  }

  /**
   * The instruction is done: retired, EIP past it, and the one-instruction interrupt shadow of a
   * preceding STI or MOV SS is over. `retired` is more than one for the last chunk of a repeated
   * string instruction, each of whose iterations retires.
   */
  advance(length = this.x.length, retired = 1): Outcome {
    this.retire(retired);
    this.set(GuestField.EIP, (this.get(GuestField.EIP) + length) >>> 0);
    if (this.has(GuestField.INTERRUPTIBILITY)) {
      const blocking = this.get(GuestField.INTERRUPTIBILITY);
      if (blocking & BLOCKING_STI_MOVSS) this.set(GuestField.INTERRUPTIBILITY, blocking & ~BLOCKING_STI_MOVSS);
    }
    return Outcome.REPLY;
  }

  /**
   * The exiting instruction is complete, or `n` iterations of a repeated string instruction are:
   * the platform counts them as retired (see the README, "Retired instructions"). Once per reply.
   */
  retire(n = 1): void {
    this.set(GuestField.RETIRED, n);
  }

  /** Injects an event at the next VM entry. */
  inject(vector: number, type: EventType, errorCode?: number): void {
    this.set(GuestField.ENTRY_INTR_INFO, injectionInfo(vector, type, errorCode !== undefined));
    this.set(GuestField.ENTRY_ERROR_CODE, errorCode ?? 0);
    this.set(GuestField.ENTRY_INSTR_LEN, type >= EventType.SOFTWARE_INTERRUPT ? this.x.length : 0);
  }

  /**
   * Raises a hardware exception in the guest instead of completing the instruction. In real mode
   * no exception pushes an error code (and VM entry refuses to deliver one there): the handlers
   * that may fault have CR0 in their exit's transfer mask.
   */
  fault(vector: Vec, errorCode?: number): Outcome {
    const st = this.s.stats.exceptions;
    st[vector] = (st[vector] ?? 0) + 1;
    const real = this.has(GuestField.CR0) && (this.get(GuestField.CR0) & CR0_PE) === 0;
    this.inject(vector, EventType.HARDWARE_EXCEPTION, real ? undefined : errorCode);
    return Outcome.REPLY;
  }

  gp(): Outcome {
    return this.fault(Vec.GP, 0);
  }

  ud(): Outcome {
    return this.fault(Vec.UD);
  }

  /** #PF for a linear address the guest's tables do not map (CR2 set, error code: not present). */
  pageFault(linear: number, write: boolean): Outcome {
    this.set(GuestField.CR2, linear);
    const user = ((this.has(GuestField.SS_ATTR) ? this.get(GuestField.SS_ATTR) : 0) >>> 5) & 3;
    return this.fault(Vec.PF, (write ? 2 : 0) | (user === 3 ? 4 : 0));
  }

  /**
   * The instruction at CS:EIP, decoded with src/x86 for the code segment's default size: the
   * Insn, null while its bytes are being read, or the page fault fetching it would raise.
   */
  instruction(): Insn | null | PageFault {
    const lin = (this.get(GuestField.CS_BASE) + this.get(GuestField.EIP)) >>> 0;
    const default32 = (this.get(GuestField.CS_ATTR) & AR_DB) !== 0;
    const p = this.paging();
    // The bytes up to the page's end first; the next page only if the instruction runs into it.
    let bytes = readLinear(this.mem, p, lin, Math.min(MAX_INSN_LEN, 0x1000 - (lin & 0xfff)));
    if (bytes === null || isFault(bytes)) return bytes;
    let insn = decodeBytes(bytes, lin, default32);
    if (insn.len > bytes.length) {
      bytes = readLinear(this.mem, p, lin, MAX_INSN_LEN);
      if (bytes === null || isFault(bytes)) return bytes;
      insn = decodeBytes(bytes, lin, default32);
    }
    return insn;
  }

  /** Stops the guest for good (no reply). */
  stop(reason: string): Outcome {
    this.vm.stop("failed", reason);
    return Outcome.STOP;
  }
}
