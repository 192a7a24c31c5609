// The full stack of the thesis on the emulated PC: the L4 kernel on the PC's Platform (VT-x,
// the PIC, RAM, ports), the VMM as its root task, and the guest in a VM. The guest's console is
// the VMM's virtual UART, forwarded to the PC's physical COM1 through ports L4 granted the VMM.
//
// Physical memory: [0, 2 MiB) sigma0's, [2, 4 MiB) the kernel's (EPT tables), [4 MiB, 4 MiB +
// guest RAM) the VMM's frames that back guest RAM, then the platform's area (VMXON, VMCSs).

import { ExitReason, exitName, GuestField, ioQualPort, ioQualSize, IoQualBit } from "../l4/api.js";
import { irqUnmasked } from "../devices/pic8259.js";
import { POST_PORT } from "../devices/post.js";
import { COM1_IRQ, receiveInterrupts } from "../devices/uart16550.js";
import { PC_PORTS } from "../devices/pc-ports.js";
import { Kernel, type KernelState } from "../l4/kernel.js";
import { Stop } from "../machine/cpu/arch.js";
import { Pc, type PcState } from "../machine/pc.js";
import { VMM_PROGRAMS, vmmImage, vmmStateOf, vmmSummary, type BootImage, type VmmState, type VmmSummary } from "../vmm/index.js";
import { BareMachine, digest, faultLoopDetail, type Machine, type MachineState, type RunOptions } from "./machine.js";
import type { MachineTiming } from "./machine-config.js";
import { PLATFORM_AREA, PcPlatform, type PcPlatformState } from "./pc-platform.js";

const MiB = 1 << 20;
/** The 16550's IER bit that enables the received-data interrupt. */
const IER_RDI = 0x01;
const KERNEL_MEMORY = { base: 2 * MiB, size: 2 * MiB };
/** Where the VMM's frames for guest RAM start (the VMM's first fit from 4 MiB up). */
const GUEST_RAM_PHYS = 4 * MiB;
/** Ports of the platform's own chips (the PIC pair, its ELCR, the PIT): no task may have them. */
const RESERVED_PORTS = [...PC_PORTS.pic, ...PC_PORTS.pit];

export interface StackConfig {
  /** Guest RAM in bytes (the PC has that much more for the kernel, the VMM's frames and the platform). */
  ramSize: number;
  boot: BootImage;
  console: (byte: number) => void;
  rtcEpochSeconds: number;
  /** The PC's and the VM's timing, and the kernel's timeslice (default: the default machine's). */
  timing?: MachineTiming;
  /** Compile hot code (the PC's PcConfig.jit). */
  jit?: boolean;
  /**
   * Whether the kernel's and the VMM's work costs guest time (src/l4/costs.ts), as it does by
   * default. Without (false), time runs only with the guest's instructions and its idling, as on
   * the bare PC: a guest then cannot tell the stack from the bare PC even by its clock, which is
   * how a test compares the two instruction for instruction.
   */
  chargeCosts?: boolean;
}

export interface StackState {
  pc: PcState;
  platform: PcPlatformState;
  kernel: KernelState;
}

/** What the run was, by layer: for `afterglow run`'s summary. */
export interface StackSummary {
  instructions: number;
  guestNs: number;
  /** VM exits as the kernel saw them (the external interrupts it keeps to itself included). */
  exits: { reason: number; name: string; count: number }[];
  totalExits: number;
  ipcs: number;
  contextSwitches: number;
  syscalls: number;
  irqs: number;
  vmm: VmmSummary;
}

export class Stack implements Machine {
  readonly pc: Pc;
  readonly platform: PcPlatform;
  readonly kernel: Kernel;
  /** Guest RAM in the PC's RAM: the VMM's frames, from `phys` on (guest-physical 0 is there). */
  readonly guestRam: { readonly phys: number; readonly size: number };
  private readonly bare: BareMachine;
  /** A run pauses (REQUEST) at the end of the first kernel step that brings the kernel's event count to this; host-side, not state. */
  pauseAtEvents = Infinity;
  /** The last run paused so. */
  pausedAtEvents = false;

  constructor(cfg: StackConfig) {
    if (cfg.ramSize % (4 * MiB) !== 0) throw new Error(`guest RAM must be a multiple of 4 MiB under the stack (got ${cfg.ramSize} bytes)`);
    const timing = cfg.timing;
    // The serial line's timing is the guest's UART's, the VMM's virtual one: the PC's COM1 carries
    // the VMM's console to the host, as a virtual UART would, at once.
    const pcTiming = timing && { rtcPhaseTicks: timing.rtcPhaseTicks, pitPhaseNs: timing.pitPhaseNs, irqLatencyNs: timing.irqLatencyNs };
    this.pc = new Pc({ ramSize: GUEST_RAM_PHYS + cfg.ramSize + PLATFORM_AREA, console: cfg.console, rtcEpochSeconds: cfg.rtcEpochSeconds, timing: pcTiming, jit: cfg.jit });
    this.guestRam = { phys: GUEST_RAM_PHYS, size: cfg.ramSize };
    this.bare = new BareMachine(this.pc);
    this.platform = new PcPlatform(this.pc, cfg.chargeCosts ?? true);
    this.kernel = new Kernel(this.platform, {
      programs: VMM_PROGRAMS,
      kernelMemory: KERNEL_MEMORY,
      reservedPorts: RESERVED_PORTS,
      timeslice: timing?.timesliceNs,
      root: vmmImage({
        ramSize: cfg.ramSize, ramPhys: GUEST_RAM_PHYS, boot: cfg.boot, rtcEpochSeconds: cfg.rtcEpochSeconds,
        ...(timing
          ? {
              timing: {
                rtcPhaseTicks: timing.rtcPhaseTicks, pitPhaseNs: timing.pitPhaseNs, irqLatencyNs: timing.irqLatencyNs,
                ...(timing.uartTxNs ? { uartTxNs: timing.uartTxNs } : {}),
              },
            }
          : {}),
      }),
    });
  }

  /** Where guest-physical `gpa` is in the PC's RAM, or -1 beyond guest RAM. */
  hostPhysOf(gpa: number): number {
    return gpa >= 0 && gpa < this.guestRam.size ? this.guestRam.phys + gpa : -1;
  }

  /** The VMM's state (a kernel restore replaces the object: ask again each time). */
  vmm(): VmmState {
    const s = vmmStateOf(this.kernel.thread(this.kernel.rootTask)?.progState);
    if (s === null) throw new Error("stack: the root task is not the VMM");
    return s;
  }

  run(opts: RunOptions): Stop {
    const host = this.platform.host;
    const timed = opts.untilNs !== undefined && opts.untilNs > -Infinity;
    // A position with a time is reached by time (the guest's instructions follow from it);
    // without one, by the instruction count.
    host.insnLimit = timed ? Infinity : (opts.maxInsns ?? Infinity);
    host.idleTo = timed ? opts.untilNs! : -Infinity;
    host.stopped = null;
    host.onSlice = opts.onSlice;
    host.onIdle = opts.onIdle;
    this.pausedAtEvents = false;
    const until = Math.min(timed ? opts.untilNs! : Infinity, opts.maxNs ?? Infinity);
    try {
      let stop = this.guestStop();
      if (stop !== null) return stop;
      if (!timed && this.pc.cpu.icount >= host.insnLimit) return Stop.BUDGET;
      // The count also reaches the limit in the VMM's reply that retires an instruction it
      // emulated: the run stops there, before the guest is entered again (an entry can exit at
      // once, and the VMM retire another, without the CPU running a single instruction).
      const limit = host.insnLimit;
      const r = this.kernel.run(until, () => this.eventsReached() || host.stopped !== null || this.pc.cpu.icount >= limit || this.guestStop() !== null);
      stop = this.guestStop();
      if (stop !== null) return stop;
      if (r === "idle") return Stop.IDLE;
      return host.stopped ?? Stop.BUDGET;
    } finally {
      host.onSlice = host.onIdle = undefined;
      host.idleTo = -Infinity;
    }
  }

  /** After a kernel step: whether the pause at an event count is due (one compare when none is armed). */
  private eventsReached(): boolean {
    if (this.pauseAtEvents === Infinity || this.kernel.events() < this.pauseAtEvents) return false;
    this.pausedAtEvents = true;
    this.platform.host.stopped = Stop.REQUEST;
    return true;
  }

  /** How the guest ended, once the VMM says it did and has done what it had left to do (its last reply). */
  private guestStop(): Stop | null {
    const s = this.vmm();
    if (s.outbox.length > 0) return null;
    switch (s.status) {
      case "starting":
      case "running":
        return null;
      case "halted":
      case "off":
        return Stop.HALT;
      case "reset":
        return Stop.RESET;
      case "failed":
        return /triple fault/.test(s.reason ?? "") ? Stop.SHUTDOWN : Stop.EXCEPTION;
    }
  }

  stopDetail(): string | undefined {
    return this.vmm().reason ?? faultLoopDetail(this.pc.cpu);
  }

  nowNs(): number {
    return this.pc.nowNs();
  }

  consoleInput(bytes: Uint8Array): number {
    return this.bare.consoleInput(bytes);
  }

  /** The guest's own UART, the VMM's virtual one, is what must be listening. */
  consoleListening(): boolean {
    return (this.vmm().devices.uart.ier & IER_RDI) !== 0;
  }

  /** The VMM's virtual chips pass input on, and the guest waits for an interrupt (the VMM parks it only with IF set). */
  inputCanWake(): boolean {
    const v = this.vmm();
    return v.vcpuBook.mode === "parked" && receiveInterrupts(v.devices.uart) && irqUnmasked(v.devices.pic, COM1_IRQ);
  }

  /** The whole state; `{ ram: false }` leaves RAM out (see Machine.saveState). */
  save(opts: { ram?: boolean; tlb?: boolean } = {}): StackState {
    return { pc: this.pc.save(opts), platform: this.platform.save(), kernel: this.kernel.save() };
  }

  restore(s: StackState, opts: { ram?: boolean } = {}): void {
    this.pc.restore(s.pc, opts);
    this.platform.restore(s.platform);
    this.kernel.restore(s.kernel);
    // The VMX state's restore flushed the TLB the PC's put back.
    this.pc.restoreTlb(s.pc);
  }

  stateHash(): string {
    return digest(this.pc.mem, this.save({ ram: false, tlb: false }));
  }

  saveState(): MachineState {
    return this.save({ ram: false });
  }

  restoreState(s: MachineState): void {
    this.restore(s as StackState, { ram: false });
  }

  guestPc(): { cs: number; eip: number } {
    const id = this.vcpuNo();
    if (id < 0) return { cs: 0, eip: 0 };
    return { cs: this.platform.peek(id, GuestField.CS_SEL), eip: this.platform.peek(id, GuestField.EIP) };
  }

  /** The guest EIP of the VCPU thread `vcpu` (a global id) at its exit, read without disturbing it. */
  exitEip(vcpu: number): number {
    const t = this.kernel.thread(vcpu);
    return t ? this.platform.peek(t.no, GuestField.EIP) : 0;
  }

  /**
   * The guest's POST port latch: the last code it wrote to port 0x80, 0 after power-on. The VMM
   * passes the port through at the guest's first access (then the PC's own port holds the codes);
   * if sigma0 did not grant it, the VMM's virtual port does.
   */
  postCode(): number {
    const vmm = this.vmm();
    return vmm.passed.includes(POST_PORT) ? this.pc.post.latched() : vmm.devices.post.last;
  }

  /** Calls `fn` with each code the guest writes to the PC's port 0x80 itself (passed through). */
  onPost(fn: (code: number, icount: number) => void): void {
    const cpu = this.pc.cpu;
    this.pc.post.sink = (code) => fn(code, cpu.icount);
  }

  /**
   * The code an exit writes to the VMM's virtual POST port: AL at an OUT to port 0x80 that the
   * VMM emulates after the exit, else -1. Not the exit that passes the port through (the guest
   * runs the OUT again, on the PC's port: onPost sees it). A string OUTS there is not seen.
   */
  postWrite(vcpu: number, reason: number, qualification: number): number {
    if (reason !== ExitReason.IO_INSTRUCTION) return -1;
    const q = qualification;
    if (ioQualPort(q) !== POST_PORT || (q & (IoQualBit.INPUT | IoQualBit.STRING)) !== 0) return -1;
    if (ioQualSize(q) === 1 && this.vmm().passable.includes(POST_PORT)) return -1;
    const t = this.kernel.thread(vcpu);
    return t ? this.platform.peek(t.no, GuestField.EAX) & 0xff : -1;
  }

  /** The VCPU's thread number (the platform's name for it), or -1 before it exists. */
  private vcpuNo(): number {
    const t = this.kernel.thread(this.vmm().vcpu);
    return t?.vcpu?.created ? t.no : -1;
  }

  summary(): StackSummary {
    const st = this.kernel.s.stats;
    const exits = Object.entries(st.exitsByReason)
      .map(([r, count]) => ({ reason: Number(r), name: exitName(Number(r)), count }))
      .sort((a, b) => b.count - a.count || a.reason - b.reason);
    return {
      instructions: this.pc.cpu.icount,
      guestNs: this.pc.nowNs(),
      exits,
      totalExits: st.vmExits,
      ipcs: st.ipcs,
      contextSwitches: st.contextSwitches,
      syscalls: st.syscalls,
      irqs: st.irqs,
      vmm: vmmSummary(this.vmm()),
    };
  }
}
