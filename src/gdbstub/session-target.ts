// The DebugTarget over a replay Session: the stub's target layer implemented with the Session's
// debugging API (src/replay/debug.ts). Registers, memory, breakpoints and watchpoints map one to
// one; a continue is a series of bounded runs of the Debugger; writes in a replay are refused by
// the Debugger. The monitor commands reach the layers gdb does not know: the position in history
// (`when`), the VMM's exits (`exits`, `break-exit`) and the L4 kernel's threads.

import { DEVICE_NAMES, deviceWrites, ONE_INSTRUCTION, parseExitReason, type DebugStop, type Debugger, type WritableRegister } from "../replay/debug.js";
import { describeExit } from "../replay/exit-log.js";
import { describeL4Event, describeVfaultReply, parseL4Filter } from "../replay/l4-events.js";
import { formatPosition } from "../replay/timeline.js";
import type { KernelPlacement } from "../replay/kaslr.js";
import { count, monitorDispatcher, parseNumberArg, type MonitorCommand } from "./monitor.js";
import { infoRegisters, parseXp, physicalDump, vmcsLines, XP_MAX } from "./qemu-monitor.js";
import { REG32_NAMES, ST_NAMES, type RegisterFile } from "./registers.js";
import {
  isTargetError,
  type Breakpoint, type DebugTarget, type ResumeRequest, type ResumeResult, type StopReason, type TargetCapabilities,
  type TargetError, type TargetResult,
} from "./target.js";

const WRITABLE = new Set<string>(["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "eip", "eflags"]);
/** FS and GS in SystemRegisters.segs (the SDM's segment numbering). */
const FS = 4, GS = 5;

export interface SessionTargetOptions {
  /** A line for the user (a divergence, the end of a replay), e.g. to stderr. */
  onMessage?: (line: string) => void;
  /** Where a Linux guest's kernel runs (src/replay/kaslr.ts), or why that is not known. */
  kernel?: KernelPlacement | { error: string };
  /**
   * `monitor explain-exit`'s tracer (src/inspect/self.ts): the lines of the VMM's handling while
   * `run` runs it, `depth` calls below its dispatch; throws an Error with a one-line message.
   */
  traceHandling?: (depth: number, run: () => void) => string[];
}

export class SessionTarget implements DebugTarget {
  readonly capabilities: TargetCapabilities;
  private last: StopReason = { kind: "signal", signal: 5 };
  /** The session is over (a replay that diverged): there is nothing left to debug. */
  ended = false;
  readonly monitor: (command: string) => string | TargetError;

  constructor(private readonly dbg: Debugger, private readonly options: SessionTargetOptions = {}) {
    this.capabilities = { reverse: dbg.reverse !== null };
    this.monitor = monitorDispatcher([
      {
        name: "when",
        help: "where the machine is: icount, VM exits taken (at exit N: N + 1), guest time, EIP",
        run: () => `${formatWhen(dbg)}\n`,
      },
      {
        name: "exits",
        args: "[N]",
        help: "the last N VM exits (default 10), oldest first",
        run: (args) => {
          const n = args.length === 0 ? 10 : parseCountArg(args);
          if (n === undefined) return { error: "invalid", message: `exits: expected a number of exits from 1, not "${args.join(" ")}"` };
          if (!dbg.hasStack) return "the bare machine has no VM exits\n";
          const list = dbg.exits(n);
          return list.length === 0 ? "no VM exits yet\n" : list.map((e) => describeExit(e) + "\n").join("");
        },
      },
      {
        name: "break-exit",
        args: "[REASON [PORT|CR|QUAL] [in|out] [before|after]] | clear",
        help: "stop when a VM exit matches (e.g. io 0x3f8 out, cr 3, hlt, any): before the VMM handles it, or after (its reply entered the guest); no argument lists them",
        run: (args) => {
          if (args.length === 0) {
            const l = dbg.exitBreaks();
            return l.length === 0 ? "no exit breakpoints\n" : l.map((f, i) => `${i + 1}: ${f.text}\n`).join("");
          }
          if (args[0] === "clear" || args[0] === "delete") {
            if (args.length > 1) return { error: "invalid", message: `break-exit ${args[0]}: expected no arguments, not "${args.slice(1).join(" ")}"` };
            dbg.clearExitBreaks();
            return "exit breakpoints cleared\n";
          }
          const reason = parseExitReason(args[0]);
          if (reason === undefined) return { error: "invalid", message: `break-exit: unknown exit reason ${args[0]}` };
          const rest = args.slice(1);
          const when = rest.at(-1) === "before" || rest.at(-1) === "after" ? (rest.pop() as "before" | "after") : undefined;
          const direction = rest.at(-1) === "in" || rest.at(-1) === "out" ? (rest.pop() as "in" | "out") : undefined;
          const value = rest[0] === undefined ? undefined : parseNumberArg(rest[0]);
          if (rest.length > 1 || (rest[0] !== undefined && value === undefined)) return { error: "invalid", message: `break-exit: expected REASON [NUMBER] [in|out] [before|after], got ${args.length > 0 ? args.join(" ") : "nothing"}` };
          const err = dbg.addExitBreak({ reason, value, direction, when, text: args.join(" ") });
          if (err) return err;
          return `will stop at VM exits matching: ${args.join(" ")}\n`;
        },
      },
      {
        name: "break-dev",
        args: `${DEVICE_NAMES.join("|")} [REG] [before|after]`,
        help: "stop when the guest writes a register of the VMM's virtual device (REG: the port's offset from the device's first), an exit breakpoint (cleared by break-exit clear)",
        run: (args) => {
          const rest = [...args];
          const when = rest.at(-1) === "before" || rest.at(-1) === "after" ? (rest.pop() as "before" | "after") : undefined;
          const reg = rest[1] === undefined ? undefined : parseNumberArg(rest[1]);
          if (rest.length === 0 || rest.length > 2 || (rest[1] !== undefined && reg === undefined)) {
            return { error: "invalid", message: `break-dev: expected ${DEVICE_NAMES.join("|")} [REG] [before|after], got ${args.length > 0 ? args.join(" ") : "nothing"}` };
          }
          const f = deviceWrites(rest[0], reg, when, `dev ${args.join(" ")}`);
          if (typeof f === "string") return { error: "invalid", message: `break-dev: ${f}` };
          const err = dbg.addExitBreak(f);
          if (err) return err;
          const ports = f.ports!.map(([a, c]) => `0x${a.toString(16)}${c > 1 ? `-0x${(a + c - 1).toString(16)}` : ""}`).join(", ");
          return `will stop when the guest writes ${rest[0]}${reg === undefined ? "" : ` register ${reg}`} (port ${ports})\n`;
        },
      },
      {
        name: "break-l4",
        args: "[ipc|switch|fault|irq|entry|map|unmap [from T] [to T] [label L] [line N] [space S] [page|io|exception|vm]] | clear",
        help: "stop at L4 kernel events: IPC (by sender, receiver, label), thread switch, fault, interrupt, VM entry, map, unmap; no argument lists them",
        run: (args) => {
          if (args.length === 0) {
            const l = dbg.l4Breaks();
            return l.length === 0 ? "no L4 event breakpoints\n" : l.map((f, i) => `${i + 1}: ${f.text}\n`).join("");
          }
          if (args[0] === "clear" || args[0] === "delete") {
            if (args.length > 1) return { error: "invalid", message: `break-l4 ${args[0]}: expected no arguments, not "${args.slice(1).join(" ")}"` };
            dbg.clearL4Breaks();
            return "L4 event breakpoints cleared\n";
          }
          const f = parseL4Filter(args, parseNumberArg);
          if (typeof f === "string") return { error: "invalid", message: f };
          const err = dbg.addL4Break(f);
          if (err) return err;
          return `will stop at L4 events matching: ${f.text}\n`;
        },
      },
      {
        name: "l4 ipc",
        args: "[N]",
        help: "the last N IPCs (default 10) up to here, oldest first, with their message registers (a replay's)",
        run: (args) => {
          const n = args.length === 0 ? 10 : parseCountArg(args);
          if (n === undefined) return { error: "invalid", message: `l4 ipc: expected a number of IPCs from 1, not "${args.join(" ")}"` };
          const log = dbg.ipcLog(n);
          if ("error" in log) return log;
          return log.length === 0 ? "no IPCs yet\n" : log.map((e) => describeL4Event(e) + "\n").join("");
        },
      },
      {
        name: "vmm exit",
        help: "the VM exit being handled and the VMM's view of it: the guest instruction, the virtual device, the VMM's reply",
        run: () => {
          const v = dbg.vmmExit();
          if ("error" in v) return v;
          return [
            `exit ${describeExit(v.exit)}`,
            `instruction: ${v.insn ?? "(not readable)"}`,
            ...(v.device !== null ? [`device: ${v.device}`] : []),
            `reply: ${v.reply === null ? (dbg.timeline === null ? "(needs a replay)" : "none before the next exit") : describeVfaultReply(v.reply.mr)}`,
          ].join("\n") + "\n";
        },
      },
      {
        name: "explain-exit",
        args: "N [DEPTH]",
        help: "the VMM's handling of VM exit N as the V8 inspector stepped it: each TypeScript line, the arguments, the locals that changed, DEPTH calls deep (default 1); the machine comes back here",
        run: (args) => {
          const n = parseNumberArg(args[0]);
          const depth = args.length > 1 ? parseNumberArg(args[1]) : 1;
          if (n === undefined || depth === undefined || depth < 1 || args.length > 2) return { error: "invalid", message: "explain-exit: expected N [DEPTH]: an exit's number, and the calls to step into (1 or more)" };
          const trace = options.traceHandling;
          if (trace === undefined) return { error: "refused", message: "explain-exit needs the V8 inspector, which this session does not offer" };
          try {
            const r = dbg.rerunExit(n, (exit, run) => [`exit ${describeExit(exit)}`, ...trace(depth, run)]);
            return "error" in r ? r : r.join("\n") + "\n";
          } catch (e) {
            return { error: "refused", message: `explain-exit: ${(e as Error).message}` };
          }
        },
      },
      ...timeTravelCommands(dbg),
      {
        name: "info registers",
        help: "the CPU's registers as QEMU's monitor shows them: control, debug and descriptor-table registers, segment caches, EFER, the TSC, the x87",
        run: () => infoRegisters(dbg.registers(), dbg.systemRegisters(), dbg.tsc()),
      },
      {
        name: "xp",
        args: "/NFU ADDR | ADDR [LEN]",
        help: "guest-physical memory as QEMU's xp dumps it (N units of U = b h w g, as F = x d u o c; or LEN bytes)",
        run: (args) => {
          const xp = parseXp(args, parseNumberArg);
          if (isTargetError(xp)) return xp;
          const bytes = xp.fmt.count * xp.fmt.size;
          if (bytes > XP_MAX) return { error: "invalid", message: `xp: at most ${XP_MAX} bytes at a time` };
          return physicalDump(xp.addr, xp.fmt, dbg.readPhysical(xp.addr, bytes));
        },
      },
      {
        name: "vmcs",
        args: "[NAME-PART]",
        help: "the VMCS of the guest's VCPU, every field (or those whose name contains NAME-PART, e.g. guest_cr)",
        run: (args) => {
          if (args.length > 1) return { error: "invalid", message: `vmcs: expected one part of a field's name, not "${args.join(" ")}"` };
          if (!dbg.hasStack) return "the bare machine runs no VM: there is no VMCS\n";
          const v = dbg.vmcs();
          return v === null ? "the VMM has not made its VCPU yet\n" : vmcsLines(v, args[0]);
        },
      },
      {
        name: "kaslr",
        help: "where the Linux kernel runs against its link address: the offset gdb adds to its symbols",
        run: () => {
          const k = options.kernel;
          if (k === undefined) return "the guest is not a Linux kernel this replay placed\n";
          if ("error" in k) return `the kernel's placement is not known: ${k.error}\n`;
          return `offset 0x${k.offset.toString(16)} physical 0x${k.physical.toString(16)}\n${k.how}\n`;
        },
      },
      {
        name: "l4 threads",
        help: "the L4 kernel's threads and their states",
        run: () => {
          if (!dbg.hasStack) return "the bare machine runs no L4 kernel\n";
          const rows = dbg.threads().map((t) =>
            [String(t.no).padStart(4), `0x${(t.id >>> 0).toString(16).padStart(8, "0")}`, t.kind.padEnd(4), t.state.padEnd(11),
              `space ${t.space}`.padEnd(9), `prio ${t.priority}`.padEnd(8), t.program ?? ""].join("  ").trimEnd(),
          );
          return ["  no  id          kind  state        space     prio      program", ...rows].join("\n") + "\n";
        },
      },
    ]);
  }

  readRegisters(): RegisterFile {
    const r = this.dbg.registers();
    const sys = this.dbg.systemRegisters();
    const out = {
      fs_base: sys.segs[FS].base, gs_base: sys.segs[GS].base, k_gs_base: 0,
      cr0: sys.cr0, cr2: sys.cr2, cr3: sys.cr3, cr4: sys.cr4, cr8: 0, efer: sys.efer,
      gdtr_base: sys.gdtr.base, gdtr_limit: sys.gdtr.limit, idtr_base: sys.idtr.base, idtr_limit: sys.idtr.limit,
    } as RegisterFile;
    const src = r as unknown as { [k: string]: number };
    for (const n of REG32_NAMES) if (src[n] !== undefined) (out as unknown as { [k: string]: number })[n] = src[n] >>> 0;
    ST_NAMES.forEach((n, i) => (out[n] = r.st[i]));
    return out;
  }

  writeRegisters(values: Partial<RegisterFile>): TargetResult {
    // gdb's G packet sends every register: those it cannot change must keep their values.
    const now = this.readRegisters();
    const w: Partial<Record<WritableRegister, number>> = {};
    for (const [k, v] of Object.entries(values)) {
      if (v === undefined) continue;
      if (WRITABLE.has(k)) {
        if ((v as number) >>> 0 !== (now as unknown as { [k: string]: number })[k]) w[k as WritableRegister] = (v as number) >>> 0;
      } else if (typeof v === "number") {
        if (v >>> 0 !== (now as unknown as { [k: string]: number })[k]) return { error: "unsupported", message: `${k} cannot be written` };
      }
    }
    if (Object.keys(w).length === 0) return undefined;
    return this.refusal(this.dbg.writeRegisters(w));
  }

  readMemory(addr: number, length: number): Uint8Array {
    return this.dbg.readMemory(addr, length);
  }

  writeMemory(addr: number, bytes: Uint8Array): TargetResult {
    return this.refusal(this.dbg.writeMemory(addr, bytes));
  }

  readPhysical(addr: number, length: number): Uint8Array {
    return this.dbg.readPhysical(addr, length);
  }

  writePhysical(addr: number, bytes: Uint8Array): TargetResult {
    return this.refusal(this.dbg.writePhysical(addr, bytes));
  }

  /** A refused write, said on this side too: gdb 13 shows a refused memory write as "Cannot access memory". */
  private refusal(r: TargetResult): TargetResult {
    if (r?.error === "refused" && r.message !== undefined) this.options.onMessage?.(`afterglow: ${r.message}`);
    return r;
  }

  insertBreakpoint(bp: Breakpoint): TargetResult {
    if (bp.type === "sw" || bp.type === "hw") return this.dbg.setBreakpoint(bp.type, bp.addr);
    return this.dbg.setWatchpoint(bp.type, bp.addr, bp.length);
  }

  removeBreakpoint(bp: Breakpoint): TargetResult {
    if (bp.type === "sw" || bp.type === "hw") return this.dbg.clearBreakpoint(bp.type, bp.addr);
    return this.dbg.clearWatchpoint(bp.type, bp.addr, bp.length);
  }

  resume(req: ResumeRequest): ResumeResult | TargetError {
    let s: DebugStop | null;
    if (req.direction === "reverse") {
      const rev = this.dbg.reverse;
      if (rev === null) return { error: "unsupported", message: "reverse execution needs a replay" };
      if (req.action === "step") s = rev.step();
      else {
        if (req.first) rev.startContinue();
        s = rev.continueSlice(req.budget);
      }
    } else {
      const step = req.action === "step" ? (req.range ?? ONE_INSTRUCTION) : undefined;
      s = this.dbg.run({ maxInsns: req.budget, first: req.first, step });
    }
    if (s === null || s.kind === "budget") return { state: "running" };
    this.last = this.stopOf(s);
    return { state: "stopped", stop: this.last };
  }

  sectionOffsets(): number | undefined {
    const k = this.options.kernel;
    return k === undefined || "error" in k ? undefined : k.offset;
  }

  interrupt(): StopReason {
    // A reverse continue stops where its last slice did: a position like any other.
    this.dbg.reverse?.interrupt();
    this.dbg.endStep();
    this.last = { kind: "signal", signal: 2 };
    return this.last;
  }

  stopReason(): StopReason {
    return this.last;
  }

  private stopOf(s: DebugStop): StopReason {
    switch (s.kind) {
      case "step":
      case "start":
        return { kind: "signal", signal: 5 };
      case "breakpoint":
        return { kind: s.type === "sw" ? "swbreak" : "hwbreak" };
      case "watch":
        return { kind: "watch", watch: s.watch, addr: s.addr };
      case "exit":
        this.options.onMessage?.(`afterglow: stopped ${s.when === "after" ? "after" : "at"} VM exit ${describeExit(s.exit)}`);
        return { kind: "signal", signal: 5 };
      case "l4":
        this.options.onMessage?.(`afterglow: stopped at L4 ${describeL4Event(s.event)}`);
        return { kind: "signal", signal: 5 };
      case "halted":
        this.options.onMessage?.(`afterglow: the guest stopped${s.detail ? `: ${s.detail}` : ""}`);
        return { kind: "halted" };
      case "end":
        this.options.onMessage?.("afterglow: replay reached the end of the recording");
        return { kind: "historyEdge", edge: "end" };
      case "limit":
        // gdb's SIGXCPU, "CPU time limit exceeded": the state there can be looked at, not run on.
        this.options.onMessage?.(`afterglow: ${s.message}; it goes no further`);
        return { kind: "signal", signal: 24 };
      case "diverged":
        this.options.onMessage?.(`afterglow: ${s.message}`);
        this.ended = true;
        return { kind: "exited", code: 1 };
      case "budget":
        return { kind: "signal", signal: 5 };
      case "begin":
        return { kind: "historyEdge", edge: "begin" };
    }
  }
}

/** The monitor commands of time travel (a replay's): seek and checkpoints. */
function timeTravelCommands(dbg: Debugger): MonitorCommand[] {
  const none = (): TargetError => ({ error: "refused", message: "time travel needs a replay" });
  return [
    {
      name: "seek",
      args: "icount N | exit N | ns N",
      help: "move to a position in history: after instruction N, at VM exit N, or where guest time reaches N ns",
      run: (args) => {
        const tl = dbg.timeline;
        if (tl === null) return none();
        const n = args.length === 2 ? parseNumberArg(args[1]) : undefined;
        if (n === undefined || !["icount", "exit", "ns"].includes(args[0])) return { error: "invalid", message: "seek: expected icount N, exit N or ns N" };
        const r = args[0] === "ns" ? dbg.seekTime(n) : dbg.seek(args[0] === "icount" ? { at: "step", icount: n } : { at: "exit", exits: n + 1 });
        if ("error" in r) return r;
        return `${formatWhen(dbg)}\n(gdb still shows the old registers and frames: maint flush register-cache)\n`;
      },
    },
    {
      name: "checkpoints",
      help: "the checkpoints time travel keeps: where they are, and their memory",
      run: () => {
        const tl = dbg.timeline;
        if (tl === null) return none();
        const mib = (b: number) => `${(b / 1048576).toFixed(1)} MiB`;
        const rows = tl.checkpoints().map((c, i) => `${String(i).padStart(4)}  ${formatPosition(c.pos)}${c.codeToNext === null ? "" : `  ${count(c.codeToNext.length, "code page")} to the next`}`);
        const cpu = process.cpuUsage();
        return (
          `${count(rows.length, "checkpoint")}, ${mib(tl.memoryBytes)} of RAM pages (budget ${mib(tl.budgetBytes)})\n${rows.join("\n")}\n` +
          `this session ran ${count(tl.work, "instruction")} of history, ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s of CPU in all\n`
        );
      },
    },
  ];
}

/**
 * A list's length argument (exits N, l4 ipc N): one number from 1. Zero would list nothing and
 * say there was nothing yet, which is not so.
 */
function parseCountArg(args: string[]): number | undefined {
  const n = args.length === 1 ? parseNumberArg(args[0]) : undefined;
  return n !== undefined && n >= 1 ? n : undefined;
}

/** `monitor when`'s line. */
function formatWhen(dbg: Debugger): string {
  const p = dbg.position();
  return `icount ${p.icount} exits ${p.exits} guest-ns ${p.ns} eip 0x${p.eip.toString(16).padStart(8, "0")}`;
}
