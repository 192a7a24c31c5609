// The VMM thread: an L4 user program (after the thesis's user-level VMM) that sets a VM up and
// then serves it.
//
// Setup, one system call at a time, each result checked (a failure is reported, not thrown):
//   KernelInterface                 sigma0's id, memory, VT-x
//   Schedule(self)                  the VMM's priority
//   sigma0 requests                 guest RAM: the VMM's own frames, mapped at its RAM window
//                                   the physical console's ports (0x3f8-0x3ff)
//   writes                          the guest image into guest RAM through that mapping
//   ThreadControl, Schedule, ExchangeRegisters   the IRQ thread (irq.ts), in the VMM's space
//   ThreadControl(IRQ line)         the IRQ thread handles the physical UART's interrupt
//   ThreadControl, SpaceControl(VM), ThreadControl, Schedule, ExchangeRegisters
//                                   the VCPU: a thread in a new VM space, with the VMM as its
//                                   pager and exception handler and the transfer masks below
// Serving: a ReplyWait loop. Each message from the VCPU (a vfault or an EPT violation) goes to the
// exit dispatch table (exits.ts); messages from the IRQ thread (TICK, INPUT) move the virtual
// chips and may wake a parked VCPU or recall a running one. A handler that needs the clock or
// guest memory gets them first (SystemClock, reads through the RAM window) and runs again. What
// a message leaves to do — console bytes to the physical UART, guest-memory writes, a deadline
// for the IRQ thread, the reply — is queued in the outbox and done in that order; the last reply
// becomes the ReplyWait.

import {
  ExregCtrl,
  ExitReason,
  L4Error,
  Label,
  MR_COUNT,
  NEVER,
  NIL_THREAD,
  Rights,
  SPACE_VM,
  ThreadStateCode,
  Xfer,
  ZERO,
  COMPLETE_FPAGE,
  acceptor,
  call,
  fpage,
  globalId,
  ioFpage,
  ipcFailed,
  msgTag,
  receive,
  reply,
  replyWait,
  send,
  tagLabel,
  tagT,
  tagU,
  threadNo,
  wait,
  type KernelInfo,
  type ProgramImage,
  type Syscall,
  type SyscallResult,
  type ThreadId,
  type UserProgram,
  type Utcb,
  type VcpuConfig,
} from "../l4/api.js";
import { processorControls, planGuest } from "./boot.js";
import {
  COM1,
  DEFAULT_MAP_LOG2,
  DEFAULT_PASS_THROUGH,
  DEFAULT_PRIORITIES,
  DEFAULT_RAM_WINDOW,
  DEFAULT_TSC_HZ,
  type VmmConfig,
} from "./config.js";
import { Outcome, Vm } from "./context.js";
import { CR0_OWNED, CR4_OWNED } from "./cr.js";
import { VirtualDevices } from "./devices.js";
import { needsClock, runExit } from "./exits.js";
import { IRQ_PROGRAM, VmmLabel, deadlineWords, irqImage } from "./irq.js";
import { mrWords, parseExit, type Exit, type Reply } from "./message.js";
import { newStats, type Job, type OutItem, type SetupStep, type VmmState } from "./state.js";

const MiB = 1 << 20;
/** Largest piece of guest RAM asked of sigma0 at once. */
const PIECE_LOG2 = 22;
/** Largest guest-memory write of the image per system call. */
const LOAD_CHUNK = MiB;
const L4_ERRORS = ["OK", "NO_PRIVILEGE", "INVALID_THREAD", "INVALID_SPACE", "INVALID_SCHEDULER", "INVALID_PARAM", "UTCB_AREA", "KIP_AREA", "NO_MEM"];
/** Console input the VMM holds for the virtual UART before it drops bytes. */
const INPUT_QUEUE = 4096;

// ------------------------------------------------------------------------------------------------
// The transfer masks the VMM registers: the guest state each exit brings along.

/** Every exit: EIP, EFLAGS, interruptibility and activity, exit and IDT-vectoring events. */
const BASE = Xfer.EIP | Xfer.EFLAGS | Xfer.STATE | Xfer.EVENT;
const GPRS = Xfer.GPR_ACDB | Xfer.GPR_BSD | Xfer.ESP;
/** What decoding a guest instruction and walking its page tables takes. */
const DECODE = Xfer.CS_SS | Xfer.CR | Xfer.QUAL;

export const VCPU_MASKS: VcpuConfig = {
  xferDefault: BASE,
  xfer: [
    [ExitReason.EXCEPTION_NMI, BASE | Xfer.CR],
    [ExitReason.CPUID, BASE | Xfer.GPR_ACDB],
    [ExitReason.RDTSC, BASE | Xfer.GPR_ACDB],
    [ExitReason.RDPMC, BASE | Xfer.GPR_ACDB],
    [ExitReason.VMCALL, BASE | Xfer.GPR_ACDB | Xfer.CS_SS],
    [ExitReason.CR_ACCESS, BASE | GPRS | Xfer.CR],
    [ExitReason.IO_INSTRUCTION, BASE | Xfer.GPR_ACDB | Xfer.GPR_BSD | DECODE],
    [ExitReason.RDMSR, BASE | Xfer.GPR_ACDB | Xfer.SYSENTER | Xfer.EFER | Xfer.CR],
    [ExitReason.WRMSR, BASE | Xfer.GPR_ACDB | Xfer.SYSENTER | Xfer.EFER | Xfer.CR],
    [ExitReason.EPT_VIOLATION, BASE | GPRS | DECODE],
    [ExitReason.TASK_SWITCH, BASE | GPRS | Xfer.DS_ES | Xfer.FS_GS | Xfer.CS_SS | Xfer.TR | Xfer.LDTR | Xfer.GDTR | Xfer.CR | Xfer.DR],
  ],
};

// ------------------------------------------------------------------------------------------------
// The program's first state.

export function vmmState(cfg: VmmConfig): VmmState {
  if (!Number.isSafeInteger(cfg.ramSize) || cfg.ramSize <= 0 || cfg.ramSize % 4096 !== 0 || cfg.ramSize > 0x80000000) {
    throw new Error(`vmm: guest RAM of ${cfg.ramSize} bytes is not a positive multiple of 4 KiB up to 2 GiB`);
  }
  const mapLog2 = cfg.mapLog2 ?? DEFAULT_MAP_LOG2;
  if (mapLog2 < 12 || mapLog2 > 22) throw new Error(`vmm: mapLog2 ${mapLog2} is not 12..22`);
  const exitsWanted = { rdtsc: cfg.exits?.rdtsc ?? false, invlpg: cfg.exits?.invlpg ?? false, cr3: cfg.exits?.cr3 ?? false };
  const [procCtls, procCtls2] = processorControls(exitsWanted);
  const dc = { ramSize: cfg.ramSize, rtcEpochSeconds: cfg.rtcEpochSeconds, timing: cfg.timing };
  return {
    ramSize: cfg.ramSize,
    ramPhys: cfg.ramPhys ?? -1,
    ramWindow: cfg.ramWindow ?? DEFAULT_RAM_WINDOW,
    mapLog2,
    rtcEpochSeconds: cfg.rtcEpochSeconds,
    tscHz: cfg.tscHz ?? DEFAULT_TSC_HZ,
    console: cfg.console === undefined ? COM1 : cfg.console,
    exitsWanted,
    priorities: { ...DEFAULT_PRIORITIES, ...cfg.priorities },
    boot: cfg.boot,
    ...(cfg.timing ? { timing: { ...cfg.timing } } : {}),
    self: NIL_THREAD,
    irq: cfg.irqThread !== undefined ? globalId(cfg.irqThread, 1) : NIL_THREAD,
    vcpu: cfg.vcpuThread !== undefined ? globalId(cfg.vcpuThread, 1) : NIL_THREAD,
    sigma0: NIL_THREAD,
    setup: [],
    setupAt: -1,
    consoleGranted: false,
    passThrough: [...(cfg.passThrough ?? DEFAULT_PASS_THROUGH)],
    passable: [],
    passed: [],
    initial: [],
    vcpuBook: {
      mode: "starting",
      cr0Shadow: 0,
      cr4Shadow: 0,
      cr0Mask: CR0_OWNED,
      cr4Mask: CR4_OWNED,
      procCtls,
      procCtls2,
      exceptionBitmap: 0,
      miscEnable: 1,
      patLo: 0x00070406,
      patHi: 0x00070406,
      tscOffset: 0,
    },
    devices: VirtualDevices.initialStates(dc),
    input: [],
    irqDeadline: -1,
    job: null,
    outbox: [],
    last: "setup",
    status: "starting",
    reason: null,
    exitCode: 0,
    stats: newStats(),
  };
}

/** The VMM as a program image for ThreadControl, Kernel.spawn or the kernel's root task. */
export function vmmImage(cfg: VmmConfig): ProgramImage {
  return { name: "vmm", state: vmmState(cfg) };
}

// ------------------------------------------------------------------------------------------------
// Setup.

/** Pieces of [0, size) as naturally aligned powers of two of at most 2^maxLog2: [offset, log2]. */
export function pieces(size: number, maxLog2: number): [number, number][] {
  const out: [number, number][] = [];
  for (let off = 0; off < size; ) {
    let l = maxLog2;
    while (l > 12 && (off % 2 ** l !== 0 || off + 2 ** l > size)) l--;
    out.push([off, l]);
    off += 2 ** l;
  }
  return out;
}

/** Where sigma0's frames for guest RAM should come from, or -1 when no conventional memory fits. */
export function chooseRamPhys(kip: KernelInfo, size: number): number {
  const align = 2 ** Math.min(PIECE_LOG2, Math.floor(Math.log2(size)));
  const conv = kip.memory.filter((m) => m.type === "conventional");
  const kern = kip.memory.filter((m) => m.type !== "conventional");
  for (let base = Math.max(align, 4 * MiB); base + size <= 2 ** 32; base += align) {
    const end = base + size;
    if (!conv.some((m) => base >= m.base && end <= m.base + m.size)) continue;
    if (kern.some((m) => base < m.base + m.size && end > m.base)) continue;
    return base;
  }
  return -1;
}

function fail(s: VmmState, why: string): Syscall {
  s.status = "failed";
  s.reason = why;
  s.vcpuBook.mode = "stopped";
  s.setup = [];
  s.boot = null;
  // Nobody sends to a VMM that never started its threads: this waits forever.
  s.last = "recv";
  return receive(s.self, NEVER);
}

function buildSetup(s: VmmState, kip: KernelInfo): string | null {
  if (!kip.vmx) return "the kernel offers no VT-x";
  s.sigma0 = kip.sigma0;
  const me = threadNo(s.self);
  if (s.irq === NIL_THREAD) s.irq = globalId(me + 1, 1);
  if (s.vcpu === NIL_THREAD) s.vcpu = globalId(me + 2, 1);
  if (s.ramPhys < 0) {
    s.ramPhys = chooseRamPhys(kip, s.ramSize);
    if (s.ramPhys < 0) return `no conventional memory holds ${s.ramSize} bytes of guest RAM`;
  }
  const boot = s.boot ?? { kind: "none" as const };
  const g = planGuest(boot, s.ramSize);
  if (typeof g === "string") return g;
  s.initial = g.fields;
  s.vcpuBook.cr0Shadow = g.cr0 >>> 0;
  s.vcpuBook.cr4Shadow = g.cr4 >>> 0;
  const p = s.priorities;
  const steps: SetupStep[] = [];
  const ok = (c: Syscall, what: string, extra: Partial<SetupStep> = {}) => steps.push({ call: c, check: "ok", what, ...extra });

  ok({ op: "schedule", dest: s.self, priority: p.vmm }, "the VMM's priority");
  for (const [off, log2] of pieces(s.ramSize, PIECE_LOG2)) {
    steps.push({
      call: call(s.sigma0),
      mr: [msgTag(Label.SIGMA0, 2, 0), fpage(s.ramPhys + off, log2, Rights.RWX), 0],
      acceptor: acceptor(fpage(s.ramWindow + off, log2)),
      check: "sigma0",
      what: `guest RAM at physical 0x${(s.ramPhys + off).toString(16)} (2^${log2} bytes) from sigma0`,
    });
  }
  if (s.console) {
    steps.push({
      call: call(s.sigma0),
      mr: [msgTag(Label.SIGMA0, 2, 0), ioFpage(s.console.port, 3, Rights.RWX), 0],
      acceptor: acceptor(COMPLETE_FPAGE),
      check: "console",
      what: `the console's ports 0x${s.console.port.toString(16)}-0x${(s.console.port + 7).toString(16)} from sigma0`,
    });
  }
  for (const port of s.passThrough) {
    steps.push({
      call: call(s.sigma0),
      mr: [msgTag(Label.SIGMA0, 2, 0), ioFpage(port, 0, Rights.RWX), 0],
      acceptor: acceptor(COMPLETE_FPAGE),
      check: "port",
      port,
      what: `port 0x${port.toString(16)} from sigma0, for the guest`,
    });
  }
  for (const w of g.writes) {
    for (let off = 0; off < w.bytes.length; off += LOAD_CHUNK) {
      const data = w.bytes.subarray(off, Math.min(w.bytes.length, off + LOAD_CHUNK));
      steps.push({ call: { op: "write", addr: s.ramWindow + w.addr + off, data }, check: "none", what: `the ${w.what}` });
    }
  }
  ok({ op: "threadControl", dest: s.irq, space: s.self, scheduler: s.self, pager: s.sigma0, program: irqImage(s.self, null) }, "the IRQ thread");
  ok({ op: "schedule", dest: s.irq, priority: p.irq }, "the IRQ thread's priority");
  ok({ op: "exchangeRegisters", dest: s.irq, control: ExregCtrl.ABORT_RECV | ExregCtrl.ABORT_SEND | ExregCtrl.SET_HALT }, "starting the IRQ thread");
  if (s.console) {
    const line = globalId(s.console.irq, 1);
    ok({ op: "threadControl", dest: line, space: line, scheduler: NIL_THREAD, pager: s.irq }, `interrupt ${s.console.irq} for the IRQ thread`, { onlyIfConsole: true });
  }
  ok({ op: "threadControl", dest: s.vcpu, space: s.vcpu, scheduler: s.self, pager: NIL_THREAD }, "the VCPU thread");
  ok({ op: "spaceControl", space: s.vcpu, control: SPACE_VM }, "the VM space");
  ok({ op: "threadControl", dest: s.vcpu, space: s.vcpu, scheduler: s.self, pager: s.self, exceptionHandler: s.self, vcpu: VCPU_MASKS }, "the VCPU's handler");
  ok({ op: "schedule", dest: s.vcpu, priority: p.vcpu }, "the VCPU's priority");
  ok({ op: "exchangeRegisters", dest: s.vcpu, control: ExregCtrl.ABORT_RECV | ExregCtrl.ABORT_SEND | ExregCtrl.SET_HALT }, "starting the VCPU");
  s.setup = steps;
  s.setupAt = 0;
  return null;
}

function setupPassed(st: SetupStep, u: Utcb, r: SyscallResult): boolean {
  switch (st.check) {
    case "none":
      return true;
    case "sigma0":
    case "console":
    case "port":
      return r.op === "ipc" && !ipcFailed(r.tag) && tagT(r.tag) >= 2 && u.mr[2 + tagU(r.tag)] !== 0;
    default:
      switch (r.op) {
        case "threadControl":
        case "spaceControl":
          return r.result === 1;
        case "exchangeRegisters":
          return r.result !== NIL_THREAD;
        case "schedule":
          return r.result !== ThreadStateCode.ERROR;
        default:
          return false;
      }
  }
}

function setupStep(s: VmmState, u: Utcb, r: SyscallResult): Syscall {
  if (r.op === "kernelInterface") {
    const why = buildSetup(s, r.kip);
    if (why) return fail(s, why);
  } else {
    const st = s.setup[s.setupAt];
    if (!setupPassed(st, u, r)) {
      // A port not granted for the guest stays emulated: its accesses exit as any other's.
      if (st.check === "console") s.consoleGranted = false;
      else if (st.check !== "port") {
        const e = u.errorCode;
        const code = r.op === "ipc" ? "IPC failed" : (L4_ERRORS[e] ?? `error ${e}`);
        const privilege = e === L4Error.NO_PRIVILEGE || (r.op === "schedule" && e === L4Error.INVALID_PARAM);
        return fail(s, `setup failed: ${st.what} (${code})${privilege ? ": the VMM needs a privileged space (run it as the root task)" : ""}`);
      }
    } else if (st.check === "console") s.consoleGranted = true;
    else if (st.check === "port") s.passable.push(st.port!);
    s.setupAt++;
  }
  while (s.setupAt < s.setup.length) {
    const st = s.setup[s.setupAt];
    if (st.onlyIfConsole && !s.consoleGranted) {
      s.setupAt++;
      continue;
    }
    let c = st.call;
    // The IRQ thread learns whether it has a console once sigma0 has answered.
    if (c.op === "threadControl" && c.dest === s.irq && c.program) {
      c = { ...c, program: irqImage(s.self, s.consoleGranted && s.console ? { port: s.console.port, line: s.console.irq } : null) };
    }
    if (st.mr) u.mr.set(st.mr);
    if (st.acceptor !== undefined) u.acceptor = st.acceptor;
    return c;
  }
  // The VM is set up; the VCPU's STARTUP message comes next.
  s.setup = [];
  s.boot = null;
  s.status = "running";
  s.last = "recv";
  u.acceptor = 0;
  return wait();
}

// ------------------------------------------------------------------------------------------------
// Serving.

function push(s: VmmState, item: OutItem): void {
  s.outbox.push(item);
}

/** Where a reply is encoded on its way into the UTCB or the outbox: overwritten by every use, never kept. */
const REPLY_MRS = new Uint32Array(MR_COUNT);

// The system calls and outbox items the VMM makes on every exit, made once: they are never
// changed (frozen: the kernel and the outbox only read them), and an object made per exit would
// be allocation on the exit path.
const SYSTEM_CLOCK: Syscall = Object.freeze({ op: "systemClock" });
const WAIT: Syscall = Object.freeze(wait());
const replies = new Map<ThreadId, Syscall>();
const replyWaits = new Map<ThreadId, Syscall>();
/** Console bytes to the physical UART: by port, then by byte. */
const consoleOuts = new Map<number, OutItem[]>();

function once<K, V>(m: Map<K, V>, key: K, make: (key: K) => V): V {
  let v = m.get(key);
  if (v === undefined) m.set(key, (v = make(key)));
  return v;
}

function consoleOut(port: number, b: number): OutItem {
  return once(consoleOuts, port, (p) => Array.from({ length: 256 }, (_, value) =>
    Object.freeze({ kind: "out" as const, call: Object.freeze({ op: "out" as const, port: p, size: 1, value }) })))[b];
}

function replyWaitTo(t: ThreadId): Syscall {
  return once(replyWaits, t, () => Object.freeze(replyWait(t)));
}

/**
 * The VCPU's reply (`x`: the exit it answers, which supplies the words the handler left): queued
 * after what is queued already, or, when nothing is, made at once the ReplyWait that nextOut
 * would make of it in this step (no outbox item then, nor a copy of the words).
 */
function answer(s: VmmState, u: Utcb, r: Reply, x: Exit | null): Syscall | null {
  const n = r.encode(REPLY_MRS, x);
  if (s.outbox.length === 0) {
    for (let i = 0; i < n; i++) u.mr[i] = REPLY_MRS[i];
    s.last = "recv";
    return replyWaitTo(s.vcpu);
  }
  push(s, { kind: "reply", call: once(replies, s.vcpu, (t) => Object.freeze(reply(t))), mr: mrWords(REPLY_MRS, 0, n) });
  return null;
}

/** Console bytes the chips produced go to the physical UART (or are counted as dropped). */
function queueConsole(vm: Vm): void {
  const s = vm.s;
  const dev = vm.dev;
  const n = dev.consoleLength;
  if (n === 0) return;
  for (let i = 0; i < n; i++) {
    if (s.console && s.consoleGranted) push(s, consoleOut(s.console.port, dev.consoleBytes[i]));
    else s.stats.consoleDropped++;
  }
  s.stats.consoleBytes += n;
  dev.consoleLength = 0;
}

/**
 * The IRQ thread's deadline, after the chips may have moved theirs (none once the guest is over):
 * the next chip event, plus the interrupt delivery latency.
 */
function nextDeadline(vm: Vm): number {
  const m = vm.s.vcpuBook.mode;
  const next = m === "stopped" || m === "halted" ? -1 : vm.dev.nextEventNs();
  return next < 0 ? next : next + (vm.s.timing?.irqLatencyNs ?? 0);
}

function syncDeadline(vm: Vm): void {
  const s = vm.s;
  const d = nextDeadline(vm);
  if (d === s.irqDeadline) return;
  s.irqDeadline = d;
  push(s, { kind: "send", call: send(s.irq, ZERO), mr: [msgTag(VmmLabel.DEADLINE, 2, 0), ...deadlineWords(d)] });
}

/**
 * After a timer or input event, if an interrupt is due: resume a parked VCPU and recall it (its
 * RECALL exit's reply injects, waking the guest from HLT), or recall a running one.
 */
function wake(vm: Vm): void {
  const s = vm.s;
  const b = s.vcpuBook;
  if (!vm.dev.hasInterrupt()) return;
  if (b.mode === "parked") {
    push(s, { kind: "wake", call: { op: "exchangeRegisters", dest: s.vcpu, control: ExregCtrl.SET_HALT | ExregCtrl.RECALL } });
    s.stats.wakes++;
    b.mode = "recalled";
  } else if (b.mode === "running") {
    push(s, { kind: "recall", call: { op: "exchangeRegisters", dest: s.vcpu, control: ExregCtrl.RECALL } });
    b.mode = "recalled";
  }
}

function vcpuMessage(vm: Vm, u: Utcb, msg: ArrayLike<number>): Syscall | null {
  const s = vm.s;
  const j = s.job!;
  const x = parseExit(msg, vm.exit);
  if (!x) {
    s.stats.unexpected++;
    endJob(vm);
    return null;
  }
  if (j.clock < 0 && needsClock(x, (s.timing?.uartTxNs ?? 0) > 0)) {
    s.last = "clock";
    return SYSTEM_CLOCK;
  }
  s.vcpuBook.mode = "exit";
  const ctx = vm.ctx;
  const outcome = runExit(vm, x, j.clock, j.fetched, ctx);
  if (outcome === Outcome.NEED) {
    if (ctx.mem.missing.length === 0) throw new Error(`vmm: the handler of exit ${x.reason} needs memory it did not name`);
    j.reads.push(...ctx.mem.missing);
    return nextRead(s);
  }
  endJob(vm);
  queueConsole(vm);
  for (const [gpa, bytes] of ctx.mem.writes) {
    s.stats.memWrites++;
    push(s, { kind: "write", call: { op: "write", addr: s.ramWindow + gpa, data: bytes } });
  }
  syncDeadline(vm);
  // A parked VCPU gets its reply (its HLT retired, the guest in the HLT state) but is halted
  // first, so that it stays out of the guest until wake() resumes it.
  if (outcome === Outcome.PARK) push(s, { kind: "park", call: { op: "exchangeRegisters", dest: s.vcpu, control: ExregCtrl.SET_HALT | ExregCtrl.HALT } });
  return outcome === Outcome.REPLY || outcome === Outcome.PARK ? answer(s, u, ctx.reply, x) : null;
}

function irqMessage(vm: Vm, msg: ArrayLike<number>): Syscall | null {
  const s = vm.s;
  const j = s.job!;
  const label = tagLabel(msg[0]);
  if (label === VmmLabel.TICK) {
    if (j.clock < 0) {
      s.last = "clock";
      return SYSTEM_CLOCK;
    }
    s.stats.ticks++;
    vm.dev.advanceTo(j.clock);
    // A timed UART's transmitter may have sent bytes by now.
    queueConsole(vm);
  } else if (label === VmmLabel.INPUT) {
    const n = tagU(msg[0]);
    s.stats.inputEvents++;
    s.stats.inputBytes += n;
    for (let i = 1; i <= n; i++) {
      if (s.input.length < INPUT_QUEUE) s.input.push(msg[i] & 0xff);
      else s.stats.inputDropped++;
    }
    vm.feedInput();
  } else s.stats.unexpected++;
  endJob(vm);
  const d = nextDeadline(vm);
  s.irqDeadline = d;
  push(s, { kind: "reply", call: reply(s.irq), mr: [msgTag(0, 2, 0), ...deadlineWords(d)] });
  wake(vm);
  return null;
}

function nextRead(s: VmmState): Syscall {
  const j = s.job!;
  const [gpa, len] = j.reads.shift()!;
  j.reading = [gpa, len];
  s.last = "read";
  return { op: "read", addr: s.ramWindow + gpa, length: len };
}

function runJob(vm: Vm, u: Utcb): Syscall | null {
  const s = vm.s;
  const j = s.job!;
  if (j.reads.length > 0) return nextRead(s);
  let c: Syscall | null;
  if (j.from === s.vcpu) c = vcpuMessage(vm, u, j.msg ?? u.mr);
  else if (j.from === s.irq) c = irqMessage(vm, j.msg ?? u.mr);
  else {
    // Someone else: not the VMM's business (it never answers them).
    s.stats.unexpected++;
    endJob(vm);
    return null;
  }
  // It waits for the clock or memory: the UTCB will hold their answers, the state the message.
  if (s.job && s.job.msg === null) s.job.msg = mrWords(u.mr, 0, 1 + tagU(u.mr[0]) + tagT(u.mr[0]));
  return c;
}

/** A job for the message from `from`, in the object of a job ended before when there is one. */
function newJob(vm: Vm, from: ThreadId): Job {
  const j = vm.spareJob;
  if (j === null) return { msg: null, from, clock: -1, fetched: [], reads: [], reading: null };
  vm.spareJob = null;
  j.msg = null;
  j.from = from;
  j.clock = -1;
  if (j.fetched.length !== 0) j.fetched.length = 0;
  if (j.reads.length !== 0) j.reads.length = 0;
  j.reading = null;
  return j;
}

/** The message is handled: its job object is kept for the next message's (see Vm.spareJob). */
function endJob(vm: Vm): void {
  if (vm.s.job !== null) vm.spareJob = vm.s.job;
  vm.s.job = null;
}

function takeResult(vm: Vm, u: Utcb, r: SyscallResult): void {
  const s = vm.s;
  switch (s.last) {
    case "recv": {
      if (r.op !== "ipc" || ipcFailed(r.tag)) {
        s.stats.unexpected++;
        return;
      }
      s.job = newJob(vm, r.from);
      return;
    }
    case "clock":
      if (r.op === "systemClock" && s.job) s.job.clock = r.ns;
      return;
    case "read":
      if (r.op === "read" && s.job?.reading) {
        s.job.fetched.push([s.job.reading[0], r.data]);
        s.job.reading = null;
        s.stats.memReads++;
      }
      return;
    case "recall":
      if (r.op === "exchangeRegisters") {
        // A VCPU blocked sending an exit gets its interrupt in that exit's reply; only one
        // that was ready (in the guest) was recalled.
        if (r.result === NIL_THREAD || (r.control & (ExregCtrl.ABORT_SEND | ExregCtrl.ABORT_RECV | ExregCtrl.HALT)) !== 0) {
          if (s.vcpuBook.mode === "recalled") s.vcpuBook.mode = "running";
        } else s.stats.recalls++;
      }
      return;
    default:
      return;
  }
}

function nextOut(s: VmmState, u: Utcb): Syscall {
  const item = s.outbox.shift();
  if (!item) {
    s.last = "recv";
    return WAIT;
  }
  if (item.mr) u.mr.set(item.mr);
  if (item.kind === "reply" && s.outbox.length === 0 && item.call.op === "ipc") {
    s.last = "recv";
    return replyWaitTo(item.call.to);
  }
  s.last = item.kind;
  return item.call;
}

function serve(s: VmmState, u: Utcb, r: SyscallResult): Syscall {
  const vm = Vm.of(s);
  try {
    takeResult(vm, u, r);
    if (s.job) {
      const c = runJob(vm, u);
      if (c) return c;
    }
    return nextOut(s, u);
  } finally {
    vm.commit();
  }
}

function step(s: VmmState, u: Utcb, r: SyscallResult): Syscall {
  if (r.op === "start") {
    s.self = u.myGlobalId;
    s.last = "setup";
    s.setupAt = -1;
    return { op: "kernelInterface" };
  }
  if (s.last === "setup") return setupStep(s, u, r);
  return serve(s, u, r);
}

export const VMM_PROGRAM: UserProgram<VmmState> = { step };

/** The VMM's programs, for the kernel's ProgramTable. */
export const VMM_PROGRAMS = { vmm: VMM_PROGRAM, "vmm-irq": IRQ_PROGRAM } as const;

/** A thread's program state if it is a VMM's (for the CLI and the debugger), else null. */
export function vmmStateOf(progState: unknown): VmmState | null {
  if (typeof progState !== "object" || progState === null) return null;
  const s = progState as Partial<VmmState>;
  return s.vcpuBook !== undefined && s.devices !== undefined && s.stats !== undefined && typeof s.ramWindow === "number" ? (s as VmmState) : null;
}
