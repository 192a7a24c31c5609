// The Session's debugging API: what a debugger (the gdb stub, a TUI) needs from the machine, in
// the guest's terms. Registers and memory of the guest, whichever machine runs it: on the bare PC
// the CPU is the guest's; under the stack the guest's state is in the CPU while its VCPU is live
// and in its VMCS otherwise, and guest RAM is the VMM's frames where the Stack says. Every read here
// is a peek: it never suspends the guest, walks page tables without setting accessed bits, and
// leaves the machine exactly as it was (a replay's state hashes still match).
//
// Breakpoints and watchpoints live in the emulator (the CPU's HostDebug, src/machine/cpu/debug.ts),
// never in guest memory; they are checked per instruction, so a stop lands on the same icount
// whatever the slices a debugger runs in. Running goes through Session.run, so a replay delivers
// its inputs and checks its hashes and exits on the way. For the stack the debugger also keeps the
// last VM exits (from the Session's exit hook: the kernel's observer, host-side and not state), can
// stop when an exit matches a filter, and lists the L4 threads.

import { decodeCrQualification, decodeIoQualification, ExitReason, exitReasonName, GuestField } from "../l4/api.js";
import { PC_PORTS, type PortRange } from "../devices/pc-ports.js";
import { DEV_NAMES, deviceAt } from "../vmm/index.js";
import { decode } from "../x86/decoder.js";
import { formatInsn } from "../x86/disasm.js";
import { HostDebug, type HostHit } from "../machine/cpu/debug.js";
import { SegAttr, Stop } from "../machine/cpu/arch.js";
import { toBytes as f80Bytes } from "../machine/cpu/fpu/float80.js";
import { Activity, FIELDS, guestTsc } from "../vmx/index.js";
import { Flag } from "../x86/eflags.js";
import { Seg } from "../x86/insn.js";
import { peekTranslate } from "../x86/paging.js";
import type { ExitEvent } from "./exit-log.js";
import { matchesL4, type L4Event, type L4Filter } from "./l4-events.js";
import type { Machine } from "./machine.js";
import { DivergenceError, type Session } from "./session.js";
import { Stack, type StackState } from "./stack.js";
import { Reverse } from "./reverse.js";
import { noSuchExit, targetOf, Timeline, TimelineError, type Checkpoint, type Moment, type Position, type StopSet, type Target, type TimelineOptions } from "./timeline.js";

/** A guest-virtual (linear) address, translated through the guest's current page tables. */
export type GuestVirt = number & { readonly __brand?: "GuestVirt" };

export const GPR_NAMES = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"] as const;
export const SEG_NAMES = ["es", "cs", "ss", "ds", "fs", "gs"] as const;

/** The guest's registers as gdb's i386 core feature has them. */
export interface GuestRegisters {
  eax: number; ecx: number; edx: number; ebx: number; esp: number; ebp: number; esi: number; edi: number;
  eip: number; eflags: number;
  cs: number; ss: number; ds: number; es: number; fs: number; gs: number;
  /** x87: control, status, full 16-bit tag word, last instruction and operand pointers, opcode. */
  fctrl: number; fstat: number; ftag: number; fiseg: number; fioff: number; foseg: number; fooff: number; fop: number;
  /** ST(0)..ST(7), 10 bytes each, little-endian as FSAVE stores them. */
  st: Uint8Array[];
}

export type WritableRegister = (typeof GPR_NAMES)[number] | "eip" | "eflags";

/**
 * A segment register with its descriptor cache. `attr` is in the VMX access-rights layout (type
 * 3:0, S 4, DPL 6:5, P 7, AVL 12, D/B 14, G 15), as the CPU and the VMCS keep it.
 */
export interface SegmentCache {
  sel: number;
  base: number;
  limit: number;
  attr: number;
}

/** The guest's system state: what QEMU shows beyond gdb's core registers. */
export interface SystemRegisters {
  /** CR0 and CR4 as the guest reads them: the VMM's read shadows for the bits it owns. */
  cr0: number;
  cr2: number;
  cr3: number;
  cr4: number;
  efer: number;
  /** DR0–DR3, DR6, DR7. */
  dr: number[];
  /** ES, CS, SS, DS, FS, GS (the SDM's segment numbering), then LDTR and TR. */
  segs: SegmentCache[];
  ldtr: SegmentCache;
  tr: SegmentCache;
  gdtr: { base: number; limit: number };
  idtr: { base: number; limit: number };
  cpl: number;
  halted: boolean;
  /** Interrupts held off for one instruction (after STI or MOV SS). */
  interruptShadow: boolean;
}

/** The VMCS of the guest's VCPU: every field, in encoding order, by its SDM name (64-bit fields as bigints). */
export interface VmcsDump {
  /** The guest is in the CPU: the guest-state area is as a VM exit now would leave it. */
  live: boolean;
  fields: { enc: number; name: string; value: number | bigint }[];
}

export type BreakKind = "sw" | "hw";
export type WatchKind = "write" | "read" | "access";

/** One VM exit as the debugger logs it: as replay checks it (a replay's come from its recording). */
export type ExitEntry = ExitEvent;

/** A watchpoint: the guest-virtual range and the accesses it stops at. */
interface Watch {
  addr: number;
  length: number;
  kind: WatchKind;
}

/** A step's range of EIPs to keep going through: [start, end); empty (start = end) for one instruction. */
export interface StepRange {
  start: number;
  end: number;
}

/** One instruction: the step ends before the next. */
export const ONE_INSTRUCTION: StepRange = { start: 0, end: 0 };

/** Which exits stop a run: a reason (or any), optionally one port, CR or qualification. */
export interface ExitFilter {
  reason: number | "any";
  /** For IO_INSTRUCTION the port, for CR_ACCESS the control register, else the qualification. */
  value?: number;
  /** For IO_INSTRUCTION: only reads (in) or only writes (out). */
  direction?: "in" | "out";
  /** For IO_INSTRUCTION: any port in these ranges (a virtual device's registers), instead of `value`. */
  ports?: readonly PortRange[];
  /** Stop before the VMM handles the exit (default), or once its reply entered the guest: before the guest's next instruction. */
  when?: "before" | "after";
  /** As the user wrote it. */
  text: string;
}

/** Why a run or step ended. */
export type DebugStop =
  | { kind: "step" }
  /** Stopped before the guest's next instruction when asked (attaching at the first instruction). */
  | { kind: "start" }
  | { kind: "breakpoint"; type: BreakKind; addr: GuestVirt }
  | { kind: "watch"; watch: WatchKind; addr: GuestVirt }
  | { kind: "exit"; exit: ExitEntry; when?: "after" }
  /** An L4 event breakpoint (./l4-events.ts). */
  | { kind: "l4"; event: L4Event }
  /** The slice's budget is spent: nothing stopped it (a continue goes on). */
  | { kind: "budget" }
  /** The guest stopped for good (halt, reset, triple fault, exception) or idles with nothing to wake it. */
  | { kind: "halted"; stop: Stop; detail?: string }
  /** Replay reached the end of the recording (or of its readable part). */
  | { kind: "end" }
  /** The run reached a limit the host set (--max-insns, --max-time): it goes no further. */
  | { kind: "limit"; message: string }
  /** Replay departed from the recording: no further history. */
  | { kind: "diverged"; message: string }
  /** Reverse execution reached the start of history. */
  | { kind: "begin" };

export type DebugError = { error: "fault" | "refused" | "invalid"; message: string };
export type DebugResult = DebugError | undefined;

/** `monitor vmm exit`: the exit being handled and the VMM's view of it. */
export interface VmmExitView {
  exit: ExitEntry;
  /** The guest instruction at the exit's EIP (objdump's spelling), when its bytes are readable. */
  insn: string | null;
  /** The VMM's virtual device at the port of an I/O exit. */
  device: string | null;
  /** The VMM's reply, the IPC to the VCPU thread (null: none before the next exit, or not a replay). */
  reply: Extract<L4Event, { kind: "ipc" }> | null;
}

/** Where the machine is: a position that can be typed back (icount, and the exit number under the stack). */
export interface DebugPosition {
  icount: number;
  ns: number;
  /** VM exits so far (the next exit's number); 0 on the bare machine. */
  exits: number;
  eip: number;
}

export interface ThreadInfo {
  no: number;
  id: number;
  kind: "user" | "vcpu";
  state: string;
  space: number;
  priority: number;
  program: string | null;
}

const PAGE = 4096;
const EXIT_RING = 1024;
/** The longest watchpoint: gdb watches a whole object with one (`watch some_struct`). */
const MAX_WATCH = 1 << 20;
/** An LDT descriptor's access rights: present, system type 2. */
const LDT_ATTR = 0x82;

/** Short names a user types for exit reasons, besides the SDM's (IO_INSTRUCTION or io_instruction). */
const REASON_ALIASES: { [name: string]: number } = {
  io: ExitReason.IO_INSTRUCTION, cr: ExitReason.CR_ACCESS, ept: ExitReason.EPT_VIOLATION,
  extint: ExitReason.EXTERNAL_INTERRUPT, irq: ExitReason.EXTERNAL_INTERRUPT,
  intwin: ExitReason.INTERRUPT_WINDOW, window: ExitReason.INTERRUPT_WINDOW, exception: ExitReason.EXCEPTION_NMI,
  msr: ExitReason.RDMSR, rdmsr: ExitReason.RDMSR, wrmsr: ExitReason.WRMSR, hlt: ExitReason.HLT,
  cpuid: ExitReason.CPUID, invlpg: ExitReason.INVLPG, rdtsc: ExitReason.RDTSC, vmcall: ExitReason.VMCALL,
};

/** The virtual devices `deviceWrites` knows, by the PC port map's names. */
export const DEVICE_NAMES = Object.keys(PC_PORTS);

/**
 * The exit filter for the guest's writes to a virtual device's registers: any of its ports, or the
 * one `reg` ports from its first; a message when there is no such device or register.
 */
export function deviceWrites(name: string, reg: number | undefined, when: ExitFilter["when"], text: string): ExitFilter | string {
  const ranges = PC_PORTS[name as keyof typeof PC_PORTS] as readonly PortRange[] | undefined;
  if (ranges === undefined) return `no virtual device ${name} (${DEVICE_NAMES.join(", ")})`;
  const size = ranges.reduce((n, [, count]) => n + count, 0);
  if (reg !== undefined && (reg < 0 || reg >= ranges[0][1])) return `${name} has registers 0 to ${ranges[0][1] - 1} at its first port 0x${ranges[0][0].toString(16)} (${size} ports in all)`;
  const ports: readonly PortRange[] = reg === undefined ? ranges : [[ranges[0][0] + reg, 1]];
  return { reason: ExitReason.IO_INSTRUCTION, direction: "out", ports, when, text };
}

/** The exit reason a name or number stands for, "any", or undefined. */
export function parseExitReason(text: string): number | "any" | undefined {
  const t = text.toLowerCase();
  if (t === "any" || t === "all" || t === "*") return "any";
  if (/^\d+$/.test(t)) return Number(t);
  if (REASON_ALIASES[t] !== undefined) return REASON_ALIASES[t];
  for (let r = 0; r < 80; r++) if (exitReasonName(r).toLowerCase() === t.replace(/-/g, "_")) return r;
  return undefined;
}

/**
 * The debugger of one Session. Creating it attaches to the machine (the CPU's breakpoint hooks,
 * the kernel's exit observer); `close` detaches.
 */
export class Debugger {
  readonly mode: Session["mode"];
  private readonly m: Machine;
  private readonly stack: Stack | null;
  private readonly hd: HostDebug;
  private readonly bps = new Map<number, Set<BreakKind>>();
  /** Watchpoints in the order the CPU reports them (HostHit's index): as many as the debugger sets. */
  private watches: Watch[] = [];
  /** Watchpoints the last stop's instruction touched that it did not report (see run). */
  private pendingWatches: Watch[] = [];
  private readonly ring: ExitEntry[] = [];
  private exitFilters: ExitFilter[] = [];
  private exitHit: ExitEntry | null = null;
  private diverged: string | null = null;
  private closed = false;
  /** Live sessions: asked when the guest is about to idle, true if the host has just typed input (Session.run's onIdle). */
  onIdle?: () => boolean;
  /** Time travel in a replay, once startTimeTravel was called. */
  private tl: Timeline | null = null;
  private rev: Reverse | null = null;
  /** Which moment the machine is at (./timeline.ts): how the last run or step stopped. */
  private at: Moment = "step";
  /** At an "event" moment: the event's count. */
  private atEvents = 0;
  private l4Filters: L4Filter[] = [];
  /** L4 event hits of the last kernel step not reported yet: each next run reports one, running nothing. */
  private l4Pending: L4Event[] = [];
  /** A stop due before the guest's next instruction (a VM entry, an exit's reply entered): the CPU's stopNext is armed for it. */
  private atNext: DebugStop | null = null;
  /** The L4 events a Timeline landing passed while the listener is on (for the hits of its last step, and the IPC log). */
  private landing: L4Event[] = [];
  /** The Session's restore count when `landing` began. */
  private landingFrom = -1;
  /** The IPC log is being gathered: the L4 listener stays on without breakpoints. */
  private gathering = false;
  /** Told every L4 event any run passes (landings included): see watchL4. */
  private l4Watcher: ((e: L4Event) => void) | null = null;
  /** The host's limits (--max-insns; --max-time, live): a run stops there and goes no further. */
  limits: { maxInsns?: number; maxNs?: number } = {};

  constructor(private readonly session: Session) {
    this.mode = session.mode;
    this.m = session.machine;
    this.stack = this.m instanceof Stack ? this.m : null;
    const cpu = this.m.pc.cpu;
    if (cpu.hostDebug !== null) throw new Error("debug: a debugger is already attached to this session");
    this.hd = new HostDebug(cpu);
    cpu.hostDebug = this.hd;
    if (this.stack !== null) {
      const stack = this.stack;
      // The Session's exit hook (the kernel's observer, host-side): called once the exit was checked against a replay's recording.
      session.onExit((e) => {
        if (!this.closed) this.exited(stack, e);
      });
    }
  }

  /** Detaches: no breakpoints, no exit log. */
  close(): void {
    const cpu = this.m.pc.cpu;
    this.bps.clear();
    this.hd.exec.clear();
    this.watches = [];
    this.pendingWatches = [];
    this.hd.setWatches([]);
    this.hd.stopNext = false;
    this.hd.stepIcount = -1;
    this.hd.changed();
    cpu.hostDebug = null;
    this.closed = true;
    this.l4Filters = [];
    this.listen();
  }

  /** Whether the machine is the stack (VM exits and L4 threads exist). */
  get hasStack(): boolean {
    return this.stack !== null;
  }

  // --- where ----------------------------------------------------------------------------------

  position(): DebugPosition {
    return {
      icount: this.m.pc.cpu.icount,
      ns: this.m.nowNs(),
      exits: this.session.exitCount(),
      eip: this.reg32(GuestField.EIP),
    };
  }

  /** The current position in history, exactly (see ./timeline.ts). */
  where(): Position {
    const events = this.at === "event" ? this.atEvents : this.session.eventCount();
    return { icount: this.m.pc.cpu.icount, exits: this.session.exitCount(), ns: this.m.nowNs(), events, at: this.at };
  }

  /**
   * Starts time travel (replay only): the Timeline's first checkpoint, the start of history, is
   * the current position.
   */
  startTimeTravel(opts?: TimelineOptions): Timeline {
    if (this.tl === null) {
      this.tl = new Timeline(this.session, this.at, opts);
      this.rev = new Reverse(this, this.tl);
    }
    return this.tl;
  }

  get timeline(): Timeline | null {
    return this.tl;
  }

  /**
   * Moves to a position in history (time travel must have started). "After N instructions" where
   * history starts before instruction N + 1 (at the guest's first instruction: N is 0) is that
   * start: the user's icount 0 is where gdb attached, not a moment before it.
   */
  seek(target: Target): Position | DebugError {
    return this.travel((tl) => {
      const start = tl.start;
      const t = target.at === "step" && start.at === "insn" && target.icount === start.icount ? targetOf(start) : target;
      return tl.seek(t, this.where());
    });
  }

  /** Moves to where guest time reaches `ns` (time travel must have started). */
  seekTime(ns: number): Position | DebugError {
    return this.travel((tl) => tl.seekTime(ns));
  }

  private travel(move: (tl: Timeline) => Position): Position | DebugError {
    const tl = this.tl;
    if (tl === null) return { error: "refused", message: "time travel needs a replay" };
    const before = this.where();
    try {
      const p = move(tl);
      this.movedTo(p);
      return p;
    } catch (e) {
      if (e instanceof TimelineError) {
        // A position past the recording's end is found out only by running there: a refused
        // move goes back to where it started, so that it changes nothing, as one refused up front.
        const now = this.where();
        if (now.icount !== before.icount || now.exits !== before.exits || now.ns !== before.ns) tl.seek(targetOf(before));
        return { error: "invalid", message: e.message };
      }
      if (e instanceof DivergenceError) {
        this.diverged = e.message;
        return { error: "refused", message: e.message };
      }
      throw e;
    }
  }

  /** Reverse step and continue, once time travel started. */
  get reverse(): Reverse | null {
    return this.rev;
  }

  /** The machine was moved (by the Timeline): it is now at `p`. */
  movedTo(p: Position): void {
    this.at = p.at;
    this.atEvents = p.events;
    this.hd.hit = null;
    this.exitHit = null;
    this.l4Pending = [];
    if (this.atNext !== null) {
      this.atNext = null;
      this.hd.stopNext = false;
      this.hd.changed();
    }
    // At an event, the step's later hits are still to be reported, as after the forward stop.
    if (p.at === "event") for (const e of this.landing) if (e.n > p.events && this.l4Filters.some((f) => matchesL4(f, e))) this.l4Hit(e);
    this.landing = [];
    this.tl?.setFocus(p);
  }

  /** What would stop a forward run now: for skipping stretches of history that cannot. */
  stopSet(): StopSet {
    const exits = this.session.recordedExits();
    const filters = this.exitFilters;
    return {
      exec: this.hd.exec,
      watches: this.watches.some((w) => w !== null),
      exitStops: filters.length === 0 ? undefined : (n) => n >= 0 && n < exits.length && filters.some((f) => matches(f, exits[n])),
      events: this.l4Filters.length === 0 ? undefined : (a, b) => this.l4Filters.some((f) => mayHappen(f.kind, a, b)),
    };
  }

  // --- registers --------------------------------------------------------------------------------

  /** The VCPU's platform number, or -1 (the bare machine, or before the VMM made its VCPU). */
  private vcpuNo(): number {
    const s = this.stack;
    if (s === null) return -1;
    const t = s.kernel.thread(s.vmm().vcpu);
    return t?.vcpu?.created ? t.no : -1;
  }

  /** True when the guest's state is in the CPU: the bare machine, or the VCPU live. */
  private inCpu(): boolean {
    const s = this.stack;
    if (s === null) return true;
    const id = this.vcpuNo();
    return id >= 0 && s.platform.liveVcpu() === id;
  }

  /** A guest-state word from wherever it is now, without disturbing anything. */
  private reg32(f: GuestField): number {
    if (this.inCpu()) {
      const cpu = this.m.pc.cpu;
      switch (f) {
        case GuestField.EIP: return cpu.eip >>> 0;
        case GuestField.EFLAGS: return cpu.getEflags() >>> 0;
        case GuestField.CR0: return cpu.cr0 >>> 0;
        case GuestField.CR3: return cpu.cr3 >>> 0;
        case GuestField.CR4: return cpu.cr4 >>> 0;
        case GuestField.CS_BASE: return cpu.segBase[Seg.CS] >>> 0;
        case GuestField.CS_ATTR: return cpu.segAttr[Seg.CS];
      }
      throw new Error(`debug: no CPU source for guest field ${f}`);
    }
    const id = this.vcpuNo();
    return id < 0 ? 0 : this.stack!.platform.peek(id, f);
  }

  /** Where the guest's next instruction is: its linear address, and whether it runs 16- or 32-bit code. */
  codeAt(): { linear: GuestVirt; bits: 16 | 32 } {
    const linear = (this.reg32(GuestField.CS_BASE) + this.reg32(GuestField.EIP)) >>> 0;
    const pe = (this.reg32(GuestField.CR0) & 1) !== 0;
    const vm = (this.reg32(GuestField.EFLAGS) & Flag.VM) !== 0;
    return { linear, bits: pe && !vm && (this.reg32(GuestField.CS_ATTR) & SegAttr.DB) !== 0 ? 32 : 16 };
  }

  registers(): GuestRegisters {
    const cpu = this.m.pc.cpu;
    const fpu = cpu.fpu;
    const r = { st: [] as Uint8Array[] } as unknown as GuestRegisters;
    const w = r as unknown as { [k: string]: number };
    if (this.inCpu()) {
      GPR_NAMES.forEach((n, i) => (w[n] = cpu.r32[i] >>> 0));
      SEG_NAMES.forEach((n, i) => (w[n] = cpu.segSel[i]));
      r.eip = cpu.eip >>> 0;
      r.eflags = cpu.getEflags() >>> 0;
    } else {
      const id = this.vcpuNo();
      const p = this.stack!.platform;
      const peek = (f: GuestField) => (id < 0 ? 0 : p.peek(id, f));
      const gpr = [GuestField.EAX, GuestField.ECX, GuestField.EDX, GuestField.EBX, GuestField.ESP, GuestField.EBP, GuestField.ESI, GuestField.EDI];
      GPR_NAMES.forEach((n, i) => (w[n] = peek(gpr[i])));
      const seg = [GuestField.ES_SEL, GuestField.CS_SEL, GuestField.SS_SEL, GuestField.DS_SEL, GuestField.FS_SEL, GuestField.GS_SEL];
      SEG_NAMES.forEach((n, i) => (w[n] = peek(seg[i])));
      r.eip = peek(GuestField.EIP);
      r.eflags = peek(GuestField.EFLAGS);
    }
    // The kernel and the VMM are TypeScript: the CPU's x87 is only ever the guest's.
    r.fctrl = fpu.cw;
    r.fstat = fpu.sw;
    r.ftag = fpu.tagWord();
    r.fiseg = fpu.fcs;
    r.fioff = fpu.fip >>> 0;
    r.foseg = fpu.fds;
    r.fooff = fpu.fdp >>> 0;
    r.fop = fpu.fop;
    for (let i = 0; i < 8; i++) r.st.push(f80Bytes(fpu.st(i)));
    return r;
  }

  /** The guest's control, debug and descriptor-table registers, segment caches and EFER. */
  systemRegisters(): SystemRegisters {
    const cpu = this.m.pc.cpu;
    const id = this.vcpuNo();
    const p = this.stack?.platform;
    const peek = (f: GuestField) => (p === undefined || id < 0 ? 0 : p.peek(id, f));
    const dr = [cpu.dr[0], cpu.dr[1], cpu.dr[2], cpu.dr[3], cpu.dr[6]].map((v) => v >>> 0);
    let r: SystemRegisters;
    if (this.inCpu()) {
      const seg = (k: number): SegmentCache => ({ sel: cpu.segSel[k], base: cpu.segBase[k] >>> 0, limit: cpu.segLimit[k] >>> 0, attr: cpu.segAttr[k] });
      r = {
        cr0: cpu.cr0 >>> 0, cr2: cpu.cr2 >>> 0, cr3: cpu.cr3 >>> 0, cr4: cpu.cr4 >>> 0, efer: cpu.efer >>> 0,
        dr: [...dr, cpu.dr[7] >>> 0],
        segs: [0, 1, 2, 3, 4, 5].map(seg),
        // The CPU keeps no attributes for the LDTR: it can only be a present LDT descriptor.
        ldtr: { sel: cpu.ldtrSel, base: cpu.ldtrBase >>> 0, limit: cpu.ldtrLimit >>> 0, attr: LDT_ATTR },
        tr: { sel: cpu.trSel, base: cpu.trBase >>> 0, limit: cpu.trLimit >>> 0, attr: cpu.trAttr },
        gdtr: { base: cpu.gdtrBase >>> 0, limit: cpu.gdtrLimit }, idtr: { base: cpu.idtrBase >>> 0, limit: cpu.idtrLimit },
        cpl: cpu.cpl, halted: cpu.halted, interruptShadow: cpu.irqShadowAt === cpu.icount,
      };
    } else {
      const seg = (sel: GuestField): SegmentCache => ({ sel: peek(sel), base: peek(sel + 1), limit: peek(sel + 2), attr: peek(sel + 3) });
      const segs = [GuestField.ES_SEL, GuestField.CS_SEL, GuestField.SS_SEL, GuestField.DS_SEL, GuestField.FS_SEL, GuestField.GS_SEL].map(seg);
      r = {
        cr0: peek(GuestField.CR0), cr2: peek(GuestField.CR2), cr3: peek(GuestField.CR3), cr4: peek(GuestField.CR4), efer: peek(GuestField.EFER),
        dr: [...dr, peek(GuestField.DR7)],
        segs, ldtr: seg(GuestField.LDTR_SEL), tr: seg(GuestField.TR_SEL),
        gdtr: { base: peek(GuestField.GDTR_BASE), limit: peek(GuestField.GDTR_LIMIT) },
        idtr: { base: peek(GuestField.IDTR_BASE), limit: peek(GuestField.IDTR_LIMIT) },
        // In VMX guest state the CPL is SS's DPL.
        cpl: (segs[Seg.SS].attr >>> 5) & 3, halted: peek(GuestField.ACTIVITY) === Activity.HLT, interruptShadow: (peek(GuestField.INTERRUPTIBILITY) & 3) !== 0,
      };
    }
    if (p !== undefined && id >= 0) {
      const own = (real: number, mask: number, shadow: number) => ((real & ~mask) | (shadow & mask)) >>> 0;
      r.cr0 = own(r.cr0, peek(GuestField.CR0_MASK), peek(GuestField.CR0_SHADOW));
      r.cr4 = own(r.cr4, peek(GuestField.CR4_MASK), peek(GuestField.CR4_SHADOW));
    }
    return r;
  }

  /** The time-stamp counter as the guest's RDTSC reads it (its VMCS's TSC offset applied). */
  tsc(): bigint {
    const host = this.m.pc.cpu.tsc();
    const id = this.vcpuNo();
    return id < 0 ? host : guestTsc(this.stack!.platform.vmcsOf(id)!, host);
  }

  /** The VMCS of the guest's VCPU, or null (the bare machine, or before the VMM made its VCPU). */
  vmcs(): VmcsDump | null {
    const id = this.vcpuNo();
    const v = id < 0 ? undefined : this.stack!.platform.vmcsOf(id);
    if (v === undefined) return null;
    const values = v.dump();
    return { live: this.inCpu(), fields: FIELDS.map(([enc, name]) => ({ enc, name, value: values[name] })) };
  }

  /** Writes general registers, EIP or EFLAGS (live and record sessions only). */
  writeRegisters(values: Partial<Record<WritableRegister, number>>): DebugResult {
    if (this.mode === "replay") return { error: "refused", message: "a replay cannot change history: registers are read-only" };
    const cpu = this.m.pc.cpu;
    if (this.inCpu()) {
      GPR_NAMES.forEach((n, i) => {
        if (values[n] !== undefined) cpu.r32[i] = values[n]! | 0;
      });
      if (values.eip !== undefined) cpu.eip = values.eip | 0;
      if (values.eflags !== undefined) {
        cpu.flags = values.eflags | 0;
        cpu.lzMask = 0;
      }
      return undefined;
    }
    const id = this.vcpuNo();
    if (id < 0) return { error: "refused", message: "the guest's VCPU does not exist yet" };
    const p = this.stack!.platform;
    const gpr = [GuestField.EAX, GuestField.ECX, GuestField.EDX, GuestField.EBX, GuestField.ESP, GuestField.EBP, GuestField.ESI, GuestField.EDI];
    GPR_NAMES.forEach((n, i) => {
      if (values[n] !== undefined) p.guestWrite(id, gpr[i], values[n]!);
    });
    if (values.eip !== undefined) p.guestWrite(id, GuestField.EIP, values.eip);
    if (values.eflags !== undefined) p.guestWrite(id, GuestField.EFLAGS, values.eflags);
    return undefined;
  }

  // --- memory -----------------------------------------------------------------------------------

  /** Guest-physical to where the bytes are in the PC's RAM, or -1 beyond guest RAM. */
  private hostPhys(gpa: number): number {
    if (this.stack === null) return gpa < this.m.pc.mem.size ? gpa : -1;
    return this.stack.hostPhysOf(gpa);
  }

  private phys32(gpa: number): number {
    const h = this.hostPhys(gpa);
    return h < 0 || h + 4 > this.m.pc.mem.size ? 0 : this.m.pc.mem.read32(h) >>> 0;
  }

  /**
   * The guest-physical address of a guest-virtual one through the guest's page tables (CR0, CR3,
   * CR4 from wherever the guest's state is), or -1 when unmapped. No accessed bits are set.
   */
  translate(addr: GuestVirt): number {
    const lin = addr >>> 0;
    if (this.stack !== null && this.vcpuNo() < 0) return lin; // before the VM: guest-physical is all there is
    const paging = { cr0: this.reg32(GuestField.CR0), cr3: this.reg32(GuestField.CR3), cr4: this.reg32(GuestField.CR4) };
    const gpa = peekTranslate({ read32: (pa) => this.phys32(pa) }, paging, lin);
    return gpa < 0 ? -1 : gpa;
  }

  /** Reads guest-virtual memory: the readable prefix (empty when the first byte is unmapped). */
  readMemory(addr: GuestVirt, length: number): Uint8Array {
    const out = new Uint8Array(length);
    const u8 = this.m.pc.mem.u8;
    let done = 0;
    while (done < length) {
      const lin = (addr + done) >>> 0;
      const gpa = this.translate(lin);
      const h = gpa < 0 ? -1 : this.hostPhys(gpa);
      if (h < 0) break;
      const n = Math.min(length - done, PAGE - (lin & (PAGE - 1)), u8.length - h);
      if (n <= 0) break;
      out.set(u8.subarray(h, h + n), done);
      done += n;
    }
    return out.subarray(0, done);
  }

  /** Reads guest-physical memory: the part within guest RAM (empty from its end on). */
  readPhysical(gpa: number, length: number): Uint8Array {
    const h = this.hostPhys(gpa >>> 0);
    if (h < 0) return new Uint8Array(0);
    const n = Math.min(length, this.hostPhys(0) + this.ramSize() - h);
    return this.m.pc.mem.u8.slice(h, h + n);
  }

  /** Writes guest-physical memory, all or nothing (live and record sessions only). */
  writePhysical(gpa: number, bytes: Uint8Array): DebugResult {
    if (this.mode === "replay") return { error: "refused", message: "a replay cannot change history: memory is read-only" };
    const h = this.hostPhys(gpa >>> 0);
    if (h < 0 || (gpa >>> 0) + bytes.length > this.ramSize()) return { error: "fault", message: `0x${(gpa >>> 0).toString(16)}+${bytes.length} is beyond guest RAM` };
    // Through PhysMem, so decoded instructions on the pages are dropped.
    bytes.forEach((b, i) => this.m.pc.mem.write8(h + i, b));
    return undefined;
  }

  /** Bytes of guest RAM. */
  private ramSize(): number {
    return this.stack === null ? this.m.pc.mem.size : this.stack.guestRam.size;
  }

  /** Writes guest-virtual memory, all or nothing (live and record sessions only). */
  writeMemory(addr: GuestVirt, bytes: Uint8Array): DebugResult {
    if (this.mode === "replay") return { error: "refused", message: "a replay cannot change history: memory is read-only" };
    const hs: number[] = [];
    for (let i = 0; i < bytes.length; i++) {
      const gpa = this.translate((addr + i) >>> 0);
      const h = gpa < 0 ? -1 : this.hostPhys(gpa);
      if (h < 0) return { error: "fault", message: `0x${((addr + i) >>> 0).toString(16)} is not mapped` };
      hs.push(h);
    }
    // Through PhysMem, so decoded instructions on the page are dropped.
    hs.forEach((h, i) => this.m.pc.mem.write8(h, bytes[i]));
    return undefined;
  }

  // --- breakpoints and watchpoints ----------------------------------------------------------------

  setBreakpoint(type: BreakKind, addr: GuestVirt): DebugResult {
    const a = addr | 0;
    let kinds = this.bps.get(a);
    if (kinds === undefined) this.bps.set(a, (kinds = new Set()));
    kinds.add(type);
    this.hd.exec.add(a);
    this.hd.changed();
    return undefined;
  }

  clearBreakpoint(type: BreakKind, addr: GuestVirt): DebugResult {
    const a = addr | 0;
    const kinds = this.bps.get(a);
    if (kinds === undefined) return undefined;
    kinds.delete(type);
    if (kinds.size === 0) {
      this.bps.delete(a);
      this.hd.exec.delete(a);
      this.hd.changed();
    }
    return undefined;
  }

  setWatchpoint(kind: WatchKind, addr: GuestVirt, length: number): DebugResult {
    if (length < 1 || length > MAX_WATCH) return { error: "invalid", message: `a watchpoint of ${length} bytes (at most ${MAX_WATCH})` };
    const a = addr >>> 0;
    if (this.watches.some((w) => w.addr === a && w.length === length && w.kind === kind)) return undefined;
    this.watches.push({ addr: a, length, kind });
    this.watchesChanged();
    return undefined;
  }

  clearWatchpoint(kind: WatchKind, addr: GuestVirt, length: number): DebugResult {
    const a = addr >>> 0;
    const k = this.watches.findIndex((w) => w.addr === a && w.length === length && w.kind === kind);
    if (k < 0) return undefined;
    this.watches.splice(k, 1);
    this.watchesChanged();
    return undefined;
  }

  private watchesChanged(): void {
    this.hd.setWatches(this.watches.map((w) => ({ lin: w.addr | 0, len: w.length, rw: w.kind === "write" ? 1 : w.kind === "read" ? 2 : 3 })));
  }

  // --- VM exits (the stack) ---------------------------------------------------------------------

  private exited(stack: Stack, e: ExitEntry): void {
    if (this.ring.length >= EXIT_RING) this.ring.shift();
    this.ring.push(e);
    if (this.exitFilters.length === 0) return;
    if (this.exitHit === null && this.exitFilters.some((f) => f.when !== "after" && matches(f, e))) {
      // Stop once the kernel has taken this exit (between its steps, as any host stop).
      this.exitHit = e;
      this.hd.hit = { kind: "exit" };
      stack.platform.host.stopped = Stop.REQUEST;
    }
    if (this.exitFilters.some((f) => f.when === "after" && matches(f, e))) this.stopBeforeNext({ kind: "exit", exit: e, when: "after" });
  }

  /** Stops before the guest's next instruction, reporting `s` (unless such a stop is due already). */
  private stopBeforeNext(s: DebugStop): void {
    if (this.atNext !== null) return;
    this.atNext = s;
    this.hd.stopNext = true;
    this.hd.changed();
  }

  /** The last `n` VM exits, oldest first (at most the last 1024 are kept; a replay has them all). */
  exits(n: number): ExitEntry[] {
    if (this.mode === "replay") {
      // The recording's: right wherever time travel has taken the replay.
      const to = this.session.exitCount();
      return this.session.recordedExits().slice(Math.max(0, to - Math.min(n, EXIT_RING)), to).map((e) => ({ ...e }));
    }
    return this.ring.slice(Math.max(0, this.ring.length - n));
  }

  /** Stop when a VM exit matches (the stack only). */
  addExitBreak(f: ExitFilter): DebugResult {
    if (this.stack === null) return { error: "refused", message: "the bare machine has no VM exits" };
    this.exitFilters.push(f);
    return undefined;
  }

  exitBreaks(): readonly ExitFilter[] {
    return this.exitFilters;
  }

  clearExitBreaks(): void {
    this.exitFilters = [];
  }

  // --- L4 -----------------------------------------------------------------------------------------

  /** Stop at L4 events that match (the stack only; see ./l4-events.ts). */
  addL4Break(f: L4Filter): DebugResult {
    if (this.stack === null) return { error: "refused", message: "the bare machine runs no L4 kernel" };
    this.l4Filters.push(f);
    this.listen();
    return undefined;
  }

  l4Breaks(): readonly L4Filter[] {
    return this.l4Filters;
  }

  clearL4Breaks(): void {
    this.l4Filters = [];
    this.l4Pending = [];
    this.listen();
  }

  /**
   * Calls `fn` with every L4 event any run passes, a Timeline's landings and the IPC log's
   * gathering included (null: no more). An event's numbers (`n`, `seq`) name it in history, so a
   * tool can keep what it was told and ask again only for what it never saw (the TUI's last IPCs).
   */
  watchL4(fn: ((e: L4Event) => void) | null): void {
    this.l4Watcher = fn;
    this.listen();
  }

  /** The kernel's event hooks are on only while something wants them. */
  private listen(): void {
    const on = !this.closed && (this.l4Filters.length > 0 || this.gathering || this.l4Watcher !== null);
    this.session.onL4(on ? (e) => this.l4Event(e) : null);
  }

  private l4Event(e: L4Event): void {
    this.l4Watcher?.(e);
    if (this.session.muted) {
      // A Timeline landing: its last run from a restored checkpoint is what counts.
      if (this.landingFrom !== this.session.restores) {
        this.landing = [];
        this.landingFrom = this.session.restores;
      }
      this.landing.push(e);
      return;
    }
    if (this.l4Filters.some((f) => matchesL4(f, e))) this.l4Hit(e);
  }

  /** A matching event: the run stops at the end of the kernel's step (an entry: before the guest's next instruction). */
  private l4Hit(e: L4Event): void {
    if (e.kind === "entry") {
      this.stopBeforeNext({ kind: "l4", event: e });
      return;
    }
    this.l4Pending.push(e);
    if (this.l4Pending.length === 1 && this.hd.hit === null) {
      this.hd.hit = { kind: "event" };
      this.stack!.platform.host.stopped = Stop.REQUEST;
    }
  }

  /**
   * The last `n` IPCs up to the current position, oldest first, with their message registers:
   * gathered by replaying from a checkpoint far enough back (replay only), which changes nothing.
   */
  ipcLog(n: number): L4Event[] | DebugError {
    const tl = this.tl;
    const stack = this.stack;
    if (stack === null) return { error: "refused", message: "the bare machine runs no L4 kernel" };
    if (tl === null) return { error: "refused", message: "the IPC log replays history: it needs a replay" };
    const here = this.where();
    const ipcs = stack.kernel.stats.ipcs;
    const cps = tl.checkpoints();
    let i = tl.indexBefore(here, false);
    const ipcsAt = (k: number): number => (cps[k].state.machine as StackState).kernel.stats.ipcs;
    while (i > 0 && ipcs - ipcsAt(i) < n) i--;
    if (i < 0) return [];
    const log = this.gather(() => {
      tl.seekFrom(i, targetOf(here));
      return this.landing.filter((e) => e.kind === "ipc" && e.n <= here.events);
    });
    return "error" in log ? log : log.slice(Math.max(0, log.length - n));
  }

  /**
   * Runs `fn`, which moves the machine with the Timeline and reads the L4 events its landings
   * passed (this.landing), then comes back where the machine was, with the stops it still had to
   * report: history is only read.
   */
  private gather<T>(fn: () => T): T | DebugError {
    const tl = this.tl!;
    const here = this.where();
    const pending = this.l4Pending;
    const next = this.atNext;
    this.gathering = true;
    this.listen();
    this.landing = [];
    this.landingFrom = -1;
    try {
      return fn();
    } catch (e) {
      if (e instanceof TimelineError) return { error: "invalid", message: e.message };
      throw e;
    } finally {
      this.gathering = false;
      this.listen();
      this.landing = [];
      // From wherever fn left the machine (this.where() does not know: fn moved it underneath).
      this.movedTo(tl.seek(targetOf(here)));
      this.l4Pending = pending;
      if (next !== null) this.stopBeforeNext(next);
    }
  }

  /**
   * The VM exit being handled (the last one taken), as the VMM sees it: the guest instruction
   * that caused it, the virtual device it reaches, and the VMM's reply to it (replay only: found
   * by running on to the reply and coming back).
   */
  vmmExit(): VmmExitView | DebugError {
    const stack = this.stack;
    if (stack === null) return { error: "refused", message: "the bare machine runs no VMM" };
    const n = this.session.exitCount();
    const exit = this.mode === "replay" ? this.session.recordedExits()[n - 1] : this.ring.at(-1);
    if (n === 0 || exit === undefined) return { error: "invalid", message: "no VM exit yet" };
    const cs = this.systemRegisters().segs[Seg.CS];
    const lin = (cs.base + exit.eip) >>> 0;
    const bytes = this.readMemory(lin, 15);
    let insn: string | null = null;
    if (bytes.length > 0) {
      const i = decode({ byte: (a) => bytes[(a - lin) >>> 0] ?? 0 }, lin, (cs.attr & (1 << 14)) !== 0);
      if (i.len <= bytes.length) insn = formatInsn(i, lin);
    }
    const io = exit.reason === ExitReason.IO_INSTRUCTION ? decodeIoQualification(exit.qualification) : null;
    const device = io === null ? null : DEV_NAMES[deviceAt(io.port)];
    const tl = this.tl;
    if (tl === null) return { exit, insn, device, reply: null };
    const vcpu = stack.vmm().vcpu;
    const reply = this.gather(() => {
      // From the exit, as far as the reply: the handler's IPC to the VCPU thread, before the next exit.
      let at = tl.seek({ at: "exit", exits: n }, this.where());
      const from = this.session.eventCount();
      for (let ahead = 16; ahead <= 4096; ahead *= 2) {
        this.landing = [];
        this.landingFrom = -1;
        at = tl.seek({ at: "event", events: from + ahead }, at);
        const r = this.landing.find((e) => e.n > from && e.kind === "ipc" && e.to === vcpu && e.from !== vcpu);
        if (r !== undefined && r.kind === "ipc") return r;
        if (this.session.exitCount() > n) return null;
      }
      return null;
    });
    if (reply !== null && "error" in reply) return reply;
    return { exit, insn, device, reply };
  }

  /**
   * Runs the VMM's handling of VM exit `n` again (replay only): seeks to the exit, before the VMM
   * handles it, and gives `watch` the exit and the run from there to the next exit (or the
   * recording's end), then comes back where the machine was, with the stops it still had to
   * report. For a tool that watches the VMM's own code run (src/inspect): history is only read.
   */
  rerunExit<T>(n: number, watch: (exit: ExitEntry, run: () => void) => T): T | DebugError {
    if (this.stack === null) return { error: "refused", message: "the bare machine runs no VMM" };
    const tl = this.tl;
    if (tl === null) return { error: "refused", message: "running an exit again needs a replay" };
    const exits = this.session.recordedExits();
    if (!Number.isInteger(n) || n < 0 || n >= exits.length) return { error: "invalid", message: noSuchExit(this.session, `exit ${n}`) };
    return this.gather(() => {
      const at = tl.seek({ at: "exit", exits: n + 1 }, this.where());
      return watch({ ...exits[n] }, () => void tl.runOnToExit(n + 2, at));
    });
  }

  /** The L4 threads and their states (empty on the bare machine). */
  threads(): ThreadInfo[] {
    const s = this.stack;
    if (s === null) return [];
    const k = s.kernel;
    return Object.values(k.s.threads)
      .sort((a, b) => a.no - b.no)
      .map((t) => ({ no: t.no, id: t.id, kind: t.kind, state: k.threadState(t.id), space: t.space, priority: t.priority, program: t.program }));
  }

  // --- running ------------------------------------------------------------------------------------

  /** Stop before the guest's next instruction, whatever it is (the CLI attaches gdb there). */
  toFirstInstruction(): DebugStop {
    this.hd.stopNext = true;
    this.hd.changed();
    try {
      return this.run({ maxInsns: 1, first: false });
    } finally {
      this.hd.stopNext = false;
      this.hd.changed();
    }
  }

  /** The limit stop, once the run is at one of the host's limits; else null. */
  private limitReached(): DebugStop | null {
    const p = this.position();
    const { maxInsns, maxNs } = this.limits;
    if (maxInsns !== undefined && p.icount >= maxInsns) return { kind: "limit", message: `the run reached --max-insns (${maxInsns} instructions)` };
    if (maxNs !== undefined && this.mode !== "replay" && p.ns >= maxNs) return { kind: "limit", message: `the run reached --max-time (guest time ${p.ns} ns)` };
    return null;
  }

  /**
   * Runs at most `maxInsns` guest instructions; returns why it stopped ("budget" when nothing did:
   * call again without `first` to go on). With `first`, a breakpoint at the instruction it starts on
   * does not stop it, and `step` starts a step: it ends before the guest's next instruction (an
   * empty range), or, as gdb's range stepping, before the first one after it whose EIP is outside
   * [start, end); the step goes on over later calls until it ends or something else stops it. A
   * one-instruction step runs a repeated string instruction one iteration at a time, as gdb's
   * stepi does on silicon with TF: EIP stays at it until its count runs out, and the icount moves
   * only then (a range step runs it whole). With time travel, a run that is not a step first jumps
   * over the stretches of history known not to stop it, at no cost to its budget.
   */
  run(opts: { maxInsns: number; first: boolean; step?: StepRange }): DebugStop {
    const tl = this.tl;
    let first = opts.first;
    const hd = this.hd;
    if (tl !== null && this.diverged === null && opts.step === undefined && hd.stepIcount < 0 && !hd.stopNext && this.pendingWatches.length === 0 && this.l4Pending.length === 0) {
      // Stretches of history already run that cannot stop this run are skipped: the machine jumps
      // to the checkpoint at their end (the replay checked them when they were first run).
      const j = tl.skipTarget(this.where(), this.stopSet(), Infinity);
      if (j >= 0) {
        this.movedTo(tl.restore(j));
        first = false;
      }
    }
    // At an exit, before the VMM handles it: an exit breakpoint for after it applies to it too.
    if (this.at === "exit" && this.atNext === null && this.exitFilters.some((f) => f.when === "after")) {
      const n = this.session.exitCount() - 1;
      const e = this.mode === "replay" ? this.session.recordedExits()[n] : this.ring.at(-1);
      if (e !== undefined && e.n === n && this.exitFilters.some((f) => f.when === "after" && matches(f, e))) this.stopBeforeNext({ kind: "exit", exit: e, when: "after" });
    }
    // The last kernel step had more hits than its stop reported: each run reports the next.
    const pending = opts.step === undefined ? this.l4Pending.shift() : undefined;
    const s: DebugStop = pending !== undefined ? { kind: "l4", event: pending } : this.runSlice({ maxInsns: opts.maxInsns, first, step: opts.step });
    this.at = momentOf(s);
    if (s.kind === "l4") this.atEvents = s.event.n;
    if (tl !== null && s.kind !== "diverged") tl.maybeCheckpoint(this.where());
    return s;
  }

  private runSlice(opts: { maxInsns: number; first: boolean; step?: StepRange }): DebugStop {
    if (this.diverged !== null) return { kind: "diverged", message: this.diverged };
    // The instruction that stopped the last run touched more watchpoints than its stop reported:
    // gdb hears of one watchpoint a stop, so each next run reports one more, running nothing.
    // (gdb removes its watchpoints at each stop and inserts them again to resume: a watchpoint
    // still set is one with the same range and kind.)
    while (opts.first && this.pendingWatches.length > 0) {
      const w = this.pendingWatches.shift()!;
      if (this.watches.some((x) => x.addr === w.addr && x.length === w.length && x.kind === w.kind)) return { kind: "watch", watch: w.kind, addr: w.addr };
    }
    const limit = this.limitReached();
    if (limit !== null) return limit;
    const cpu = this.m.pc.cpu;
    const hd = this.hd;
    hd.hit = null;
    this.exitHit = null;
    if (opts.first) {
      const eip = this.reg32(GuestField.EIP);
      hd.skipIcount = cpu.icount;
      hd.skipLin = (this.reg32(GuestField.CS_BASE) + eip) | 0;
      hd.stepIcount = opts.step === undefined ? -1 : cpu.icount;
      hd.stepEip = eip | 0;
      hd.rangeStart = opts.step?.start ?? 0;
      hd.rangeEnd = opts.step?.end ?? 0;
      hd.step = opts.step !== undefined && hd.rangeStart === hd.rangeEnd;
      hd.changed();
    } else hd.skipIcount = -1;
    const start = cpu.icount;
    let stop: Stop;
    try {
      const maxInsns = Math.min(start + Math.max(1, opts.maxInsns), this.limits.maxInsns ?? Infinity);
      stop = this.session.run({ maxInsns, maxNs: this.limits.maxNs, onIdle: this.onIdle });
    } catch (e) {
      if (!(e instanceof DivergenceError)) throw e;
      this.diverged = e.message;
      this.endStep();
      return { kind: "diverged", message: e.message };
    } finally {
      hd.skipIcount = -1;
    }
    const s = this.stopOf(stop);
    if (s.kind !== "budget") this.endStep();
    return s;
  }

  /** A step interrupted (or ended): the CPU stops checking for its end. */
  endStep(): void {
    if (this.hd.stepIcount < 0) return;
    this.hd.stepIcount = -1;
    this.hd.step = false;
    this.hd.changed();
  }

  private stopOf(stop: Stop): DebugStop {
    const hd = this.hd;
    const hit = hd.hit as HostHit | null; // set by the CPU during the run
    hd.hit = null;
    if (hit !== null) {
      if (hit.kind === "exit" && this.exitHit !== null) return { kind: "exit", exit: this.exitHit };
      if (hit.kind === "event" && this.l4Pending.length > 0) return { kind: "l4", event: this.l4Pending.shift()! };
      if (hit.kind === "next") {
        const s = this.atNext ?? { kind: "start" };
        this.atNext = null;
        return s;
      }
      if (hit.kind === "step") return { kind: "step" };
      if (hit.kind === "exec") {
        const kinds = this.bps.get(hit.lin);
        // The address gdb set is the linear one; with a flat CS it is EIP.
        return { kind: "breakpoint", type: kinds?.has("sw") ? "sw" : "hw", addr: hit.lin >>> 0 };
      }
      if (hit.kind === "watch") {
        const [w, ...more] = hit.indexes.map((k) => this.watches[k]).filter((x) => x !== undefined);
        this.pendingWatches = more;
        if (w !== undefined) return { kind: "watch", watch: w.kind, addr: w.addr };
      }
    }
    if (this.mode === "replay" && this.session.replayDone()) return { kind: "end" };
    switch (stop) {
      case Stop.BUDGET:
        return this.limitReached() ?? { kind: "budget" };
      case Stop.IDLE:
        // Live: only input can wake it, if anything can. Replay: the recording's next input comes at a later time.
        if (this.mode === "replay") return { kind: "end" };
        return this.session.inputCanWake() ? { kind: "budget" } : { kind: "halted", stop, detail: "hung: halted, and nothing can interrupt it" };
      case Stop.REQUEST:
        return this.mode === "replay" ? { kind: "end" } : { kind: "budget" };
      default:
        return { kind: "halted", stop, detail: this.session.stopDetail() };
    }
  }
}

/** The moment a run that stopped so is at (./timeline.ts). */
function momentOf(s: DebugStop): Moment {
  switch (s.kind) {
    case "breakpoint":
    case "start":
    case "step":
      // A step ends at the check before the guest's next instruction, as a breakpoint stops.
      return "insn";
    case "exit":
      return s.when === "after" ? "insn" : "exit";
    case "l4":
      return s.event.kind === "entry" ? "insn" : "event";
    default:
      return "step";
  }
}

/** Whether an L4 event of `kind` may happen between two checkpoints: its kernel counter moved (a map has none). */
function mayHappen(kind: L4Filter["kind"], a: Checkpoint, b: Checkpoint): boolean {
  const x = (a.state.machine as StackState).kernel.stats;
  const y = (b.state.machine as StackState).kernel.stats;
  switch (kind) {
    case "ipc": return x.ipcs !== y.ipcs;
    case "switch": return x.contextSwitches !== y.contextSwitches;
    case "irq": return x.irqs !== y.irqs;
    case "fault": return x.pageFaults !== y.pageFaults || x.ioFaults !== y.ioFaults || x.exceptions !== y.exceptions || x.vmPageFaults !== y.vmPageFaults;
    // An entry has no counter (a checkpoint may fall between an exit and its entry), a map neither.
    case "entry":
    case "map":
    case "unmap": return true;
  }
}

function matches(f: ExitFilter, e: ExitEntry): boolean {
  if (f.reason !== "any" && f.reason !== e.reason) return false;
  const io = e.reason === ExitReason.IO_INSTRUCTION ? decodeIoQualification(e.qualification) : null;
  const dirOk = f.direction === undefined || (io !== null && (io.input ? "in" : "out") === f.direction);
  if (f.ports !== undefined) return io !== null && dirOk && f.ports.some(([first, count]) => io.port >= first && io.port < first + count);
  if (f.value === undefined) return dirOk;
  if (io !== null) return io.port === f.value && dirOk;
  if (e.reason === ExitReason.CR_ACCESS) return decodeCrQualification(e.qualification).cr === f.value;
  return e.qualification === f.value;
}
