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
import { HostDebug, type HostHit } from "../machine/cpu/debug.js";
import { Stop } from "../machine/cpu/arch.js";
import { toBytes as f80Bytes } from "../machine/cpu/fpu/float80.js";
import { HOST_WATCHES } from "../machine/cpu/mmu.js";
import { Seg } from "../x86/insn.js";
import { peekTranslate } from "../x86/paging.js";
import type { ExitEvent } from "./exit-log.js";
import type { Machine } from "./machine.js";
import { DivergenceError, type Session } from "./session.js";
import { Stack } from "./stack.js";

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

export type BreakKind = "sw" | "hw";
export type WatchKind = "write" | "read" | "access";

/** One VM exit as the debugger logs it: as replay checks it, and when in guest time. */
export interface ExitEntry extends ExitEvent {
  ns: number;
}

/** Which exits stop a run: a reason (or any), optionally one port, CR or qualification. */
export interface ExitFilter {
  reason: number | "any";
  /** For IO_INSTRUCTION the port, for CR_ACCESS the control register, else the qualification. */
  value?: number;
  /** For IO_INSTRUCTION: only reads (in) or only writes (out). */
  direction?: "in" | "out";
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
  | { kind: "exit"; exit: ExitEntry }
  /** The slice's budget is spent: nothing stopped it (a continue goes on). */
  | { kind: "budget" }
  /** The guest stopped for good (halt, reset, triple fault, exception) or idles with nothing to wake it. */
  | { kind: "halted"; stop: Stop; detail?: string }
  /** Replay reached the end of the recording (or of its readable part). */
  | { kind: "end" }
  /** The run reached a limit the host set (--max-insns, --max-time): it goes no further. */
  | { kind: "limit"; message: string }
  /** Replay departed from the recording: no further history. */
  | { kind: "diverged"; message: string };

export type DebugError = { error: "fault" | "refused" | "invalid"; message: string };
export type DebugResult = DebugError | undefined;

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

/** Short names a user types for exit reasons, besides the SDM's (IO_INSTRUCTION or io_instruction). */
const REASON_ALIASES: { [name: string]: number } = {
  io: ExitReason.IO_INSTRUCTION, cr: ExitReason.CR_ACCESS, ept: ExitReason.EPT_VIOLATION,
  extint: ExitReason.EXTERNAL_INTERRUPT, irq: ExitReason.EXTERNAL_INTERRUPT,
  intwin: ExitReason.INTERRUPT_WINDOW, window: ExitReason.INTERRUPT_WINDOW, exception: ExitReason.EXCEPTION_NMI,
  msr: ExitReason.RDMSR, rdmsr: ExitReason.RDMSR, wrmsr: ExitReason.WRMSR, hlt: ExitReason.HLT,
  cpuid: ExitReason.CPUID, invlpg: ExitReason.INVLPG, rdtsc: ExitReason.RDTSC, vmcall: ExitReason.VMCALL,
};

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
  private readonly watches: ({ addr: number; length: number; kind: WatchKind } | null)[] = new Array(HOST_WATCHES).fill(null);
  private readonly ring: ExitEntry[] = [];
  private exitFilters: ExitFilter[] = [];
  private exitHit: ExitEntry | null = null;
  private diverged: string | null = null;
  private closed = false;
  /** Live sessions: asked when the guest is about to idle, true if the host has just typed input (Session.run's onIdle). */
  onIdle?: () => boolean;
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
        if (!this.closed) this.exited(stack, { ...e, ns: stack.nowNs() });
      });
    }
  }

  /** Detaches: no breakpoints, no exit log. */
  close(): void {
    const cpu = this.m.pc.cpu;
    this.bps.clear();
    this.hd.exec.clear();
    this.hd.watchLen.fill(0);
    this.hd.stopNext = false;
    this.hd.changed();
    cpu.hostDebug = null;
    this.closed = true;
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
      }
      throw new Error(`debug: no CPU source for guest field ${f}`);
    }
    const id = this.vcpuNo();
    return id < 0 ? 0 : this.stack!.platform.peek(id, f);
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
    if (length < 1 || length > PAGE) return { error: "invalid", message: `a watchpoint of ${length} bytes` };
    const a = addr >>> 0;
    if (this.watches.some((w) => w !== null && w.addr === a && w.length === length && w.kind === kind)) return undefined;
    const k = this.watches.indexOf(null);
    if (k < 0) return { error: "refused", message: `at most ${HOST_WATCHES} watchpoints` };
    this.watches[k] = { addr: a, length, kind };
    this.hd.watchLin[k] = a | 0;
    this.hd.watchLen[k] = length;
    this.hd.watchRw[k] = kind === "write" ? 1 : kind === "read" ? 2 : 3;
    this.hd.changed();
    return undefined;
  }

  clearWatchpoint(kind: WatchKind, addr: GuestVirt, length: number): DebugResult {
    const a = addr >>> 0;
    const k = this.watches.findIndex((w) => w !== null && w.addr === a && w.length === length && w.kind === kind);
    if (k < 0) return undefined;
    this.watches[k] = null;
    this.hd.watchLen[k] = 0;
    this.hd.changed();
    return undefined;
  }

  // --- VM exits (the stack) ---------------------------------------------------------------------

  private exited(stack: Stack, e: ExitEntry): void {
    if (this.ring.length >= EXIT_RING) this.ring.shift();
    this.ring.push(e);
    if (this.exitFilters.length > 0 && this.exitHit === null && this.exitFilters.some((f) => matches(f, e))) {
      // Stop once the kernel has taken this exit (between its steps, as any host stop).
      this.exitHit = e;
      this.hd.hit = { kind: "exit" };
      stack.platform.host.stopped = Stop.REQUEST;
    }
  }

  /** The last `n` VM exits, oldest first (at most the last 1024 are kept). */
  exits(n: number): ExitEntry[] {
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

  /**
   * Executes one guest instruction (or stops before it at an exit that matches, or the end). A
   * repeated string instruction steps one iteration at a time, as gdb's stepi does on silicon
   * with TF: EIP stays at it until its count runs out, and the icount moves only then.
   */
  step(): DebugStop {
    this.hd.step = true;
    try {
      const s = this.run({ maxInsns: 1, first: true });
      return s.kind === "budget" ? { kind: "step" } : s;
    } finally {
      this.hd.step = false;
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
   * Runs at most `maxInsns` guest instructions; returns why it stopped ("budget" when nothing did).
   * With `first`, a breakpoint at the instruction it starts on does not stop it.
   */
  run(opts: { maxInsns: number; first: boolean }): DebugStop {
    if (this.diverged !== null) return { kind: "diverged", message: this.diverged };
    const cpu = this.m.pc.cpu;
    const hd = this.hd;
    hd.hit = null;
    this.exitHit = null;
    if (opts.first) {
      hd.skipIcount = cpu.icount;
      hd.skipLin = (this.reg32(GuestField.CS_BASE) + this.reg32(GuestField.EIP)) | 0;
    } else hd.skipIcount = -1;
    const start = cpu.icount;
    const limit = this.limitReached();
    if (limit !== null) return limit;
    let stop: Stop;
    try {
      const maxInsns = Math.min(start + Math.max(1, opts.maxInsns), this.limits.maxInsns ?? Infinity);
      stop = this.session.run({ maxInsns, maxNs: this.limits.maxNs, onIdle: this.onIdle });
    } catch (e) {
      if (!(e instanceof DivergenceError)) throw e;
      this.diverged = e.message;
      return { kind: "diverged", message: e.message };
    } finally {
      hd.skipIcount = -1;
    }
    const hit = hd.hit as HostHit | null; // set by the CPU during the run
    hd.hit = null;
    if (hit !== null) {
      if (hit.kind === "exit" && this.exitHit !== null) return { kind: "exit", exit: this.exitHit };
      if (hit.kind === "next") return { kind: "start" };
      if (hit.kind === "step") return { kind: "budget" };
      if (hit.kind === "exec") {
        const kinds = this.bps.get(hit.lin);
        // The address gdb set is the linear one; with a flat CS it is EIP.
        return { kind: "breakpoint", type: kinds?.has("sw") ? "sw" : "hw", addr: hit.lin >>> 0 };
      }
      if (hit.kind === "watch") {
        const w = this.watches[hit.slot];
        if (w !== null) return { kind: "watch", watch: w.kind, addr: w.addr };
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

function matches(f: ExitFilter, e: ExitEntry): boolean {
  if (f.reason !== "any" && f.reason !== e.reason) return false;
  const io = e.reason === ExitReason.IO_INSTRUCTION ? decodeIoQualification(e.qualification) : null;
  const dirOk = f.direction === undefined || (io !== null && (io.input ? "in" : "out") === f.direction);
  if (f.value === undefined) return dirOk;
  if (io !== null) return io.port === f.value && dirOk;
  if (e.reason === ExitReason.CR_ACCESS) return decodeCrQualification(e.qualification).cr === f.value;
  return e.qualification === f.value;
}
