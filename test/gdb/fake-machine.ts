// A toy i386 machine behind the DebugTarget interface, for testing the gdb stub without the
// emulator: paged memory with holes (so unmapped reads fail), a dozen instructions (enough for
// steps, breakpoints, watchpoints, a halt, an endless loop and one x87 push), and breakpoints kept
// in tables, never in memory, as the real target must.

import type {
  Breakpoint,
  DebugTarget,
  RegisterFile,
  ResumeRequest,
  ResumeResult,
  StopReason,
  TargetError,
  TargetResult,
  WatchKind,
} from "../../src/gdbstub/target.js";
import { monitorDispatcher } from "../../src/gdbstub/monitor.js";

export const CODE = 0x1000;
export const DATA = 0x2000;
export const STACK_TOP = 0x8ff0;

/** Offsets into the program below. */
export const PROGRAM = {
  movEax: CODE, // mov eax, 0x12345678
  incEax: CODE + 5, // inc eax
  incEbx: CODE + 6, // inc ebx
  fld1: CODE + 7, // fld1
  store: CODE + 9, // mov [DATA], eax
  load: CODE + 0x0e, // mov eax, [DATA+4]
  nop: CODE + 0x13,
  hlt: CODE + 0x14,
  loop: CODE + 0x15, // jmp $
} as const;

// prettier-ignore
const CODE_BYTES = [
  0xb8, 0x78, 0x56, 0x34, 0x12,
  0x40,
  0x43,
  0xd9, 0xe8,
  0xa3, 0x00, 0x20, 0x00, 0x00,
  0xa1, 0x04, 0x20, 0x00, 0x00,
  0x90,
  0xf4,
  0xeb, 0xfe,
];

const PAGE = 4096;
const FLD1 = [0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0x3f]; // +1.0 as 80-bit extended, little-endian

type Hit = { watch: WatchKind; addr: number } | "fault" | "illegal" | "halt" | undefined;

export class FakeMachine implements DebugTarget {
  readonly capabilities = { reverse: false };
  readonly pages = new Map<number, Uint8Array>();
  regs: Record<string, number> = {};
  /** x87 physical registers R0-R7 (st(i) is R[(TOP+i)&7]). */
  phys: Uint8Array[] = [];
  icount = 0;
  readonly swBreaks = new Set<number>();
  readonly hwBreaks = new Set<number>();
  readonly watches: { type: WatchKind; addr: number; length: number }[] = [];
  last: StopReason = { kind: "signal", signal: 5 };
  log: string[] = [];
  /** Lets a test make the target throw, to check the stub survives it. */
  throwOn: string | undefined;

  constructor() {
    this.reset();
  }

  reset(): void {
    this.pages.clear();
    for (const p of [CODE, DATA, STACK_TOP & ~(PAGE - 1)]) this.pages.set(p / PAGE, new Uint8Array(PAGE));
    this.pages.get(CODE / PAGE)!.set(CODE_BYTES);
    const data = new DataView(this.pages.get(DATA / PAGE)!.buffer);
    [0xdeadbeef, 0xcafebabe, 1, 2].forEach((v, i) => data.setUint32(i * 4, v, true));
    this.regs = { eax: 0, ecx: 0, edx: 0, ebx: 0, esp: STACK_TOP, ebp: 0, esi: 0, edi: 0 };
    Object.assign(this.regs, { eip: CODE, eflags: 0x202, cs: 0x08, ss: 0x10, ds: 0x10, es: 0x10, fs: 0, gs: 0 });
    Object.assign(this.regs, { fctrl: 0x37f, fstat: 0, ftag: 0xffff, fiseg: 0, fioff: 0, foseg: 0, fooff: 0, fop: 0 });
    this.phys = Array.from({ length: 8 }, () => new Uint8Array(10));
    this.icount = 0;
    this.last = { kind: "signal", signal: 5 };
  }

  private check(op: string): void {
    if (this.throwOn === op) throw new Error(`fake target told to throw in ${op}`);
  }

  readRegisters(): RegisterFile {
    this.check("readRegisters");
    const top = (this.regs.fstat >> 11) & 7;
    const st = Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`st${i}`, this.phys[(top + i) & 7].slice()]));
    return { ...this.regs, ...st } as RegisterFile;
  }

  writeRegisters(values: Partial<RegisterFile>): TargetResult {
    this.check("writeRegisters");
    const top = (this.regs.fstat >> 11) & 7;
    for (const [k, v] of Object.entries(values)) {
      if (v instanceof Uint8Array) this.phys[(top + Number(k.slice(2))) & 7] = v.slice(0, 10);
      else if (typeof v === "number") this.regs[k] = v >>> 0;
    }
    return undefined;
  }

  private page(addr: number): Uint8Array | undefined {
    return this.pages.get(Math.floor((addr >>> 0) / PAGE));
  }

  readMemory(addr: number, length: number): Uint8Array {
    this.check("readMemory");
    const out: number[] = [];
    for (let i = 0; i < length; i++) {
      const a = addr + i;
      const p = a < 2 ** 32 ? this.page(a) : undefined;
      if (!p) break;
      out.push(p[a % PAGE]);
    }
    return Uint8Array.from(out);
  }

  writeMemory(addr: number, bytes: Uint8Array): TargetResult {
    this.check("writeMemory");
    for (let i = 0; i < bytes.length; i++) if (!this.page(addr + i)) return { error: "fault" };
    bytes.forEach((b, i) => (this.page(addr + i)![(addr + i) % PAGE] = b));
    return undefined;
  }

  insertBreakpoint(bp: Breakpoint): TargetResult {
    this.check("insertBreakpoint");
    if (bp.type === "sw") this.swBreaks.add(bp.addr);
    else if (bp.type === "hw") this.hwBreaks.add(bp.addr);
    else if (!this.watches.some((w) => w.type === bp.type && w.addr === bp.addr && w.length === bp.length))
      this.watches.push({ type: bp.type, addr: bp.addr, length: bp.length });
    return undefined;
  }

  removeBreakpoint(bp: Breakpoint): TargetResult {
    this.check("removeBreakpoint");
    if (bp.type === "sw") this.swBreaks.delete(bp.addr);
    else if (bp.type === "hw") this.hwBreaks.delete(bp.addr);
    else {
      const i = this.watches.findIndex((w) => w.type === bp.type && w.addr === bp.addr && w.length === bp.length);
      if (i >= 0) this.watches.splice(i, 1);
    }
    return undefined;
  }

  resume(req: ResumeRequest): ResumeResult | TargetError {
    this.check("resume");
    this.log.push(`${req.action}${req.range ? ` ${req.range.start.toString(16)}-${req.range.end.toString(16)}` : ""} ${req.direction}${req.first ? " first" : ""}`);
    if (req.direction === "reverse") return { error: "unsupported" };
    const range = req.action === "step" ? req.range : undefined;
    const n = req.action === "step" && range === undefined ? 1 : Math.max(1, req.budget);
    for (let i = 0; i < n; i++) {
      const eip = this.regs.eip;
      if ((req.action === "continue" || range !== undefined) && !(req.first && i === 0)) {
        if (this.swBreaks.has(eip)) return this.stop({ kind: "swbreak" });
        if (this.hwBreaks.has(eip)) return this.stop({ kind: "hwbreak" });
      }
      const hit = this.execute();
      if (hit === "fault") return this.stop({ kind: "signal", signal: 11 });
      if (hit === "illegal") return this.stop({ kind: "signal", signal: 4 });
      if (hit === "halt") return this.stop({ kind: "halted" });
      if (hit !== undefined) return this.stop({ kind: "watch", watch: hit.watch, addr: hit.addr });
      if (range !== undefined && (this.regs.eip < range.start || this.regs.eip >= range.end)) return this.stop({ kind: "signal", signal: 5 });
    }
    return req.action === "step" && range === undefined ? this.stop({ kind: "signal", signal: 5 }) : { state: "running" };
  }

  private stop(reason: StopReason): ResumeResult {
    this.last = reason;
    return { state: "stopped", stop: reason };
  }

  interrupt(): StopReason {
    this.last = { kind: "signal", signal: 2 };
    return this.last;
  }

  stopReason(): StopReason {
    return this.last;
  }

  private readonly commands = monitorDispatcher([
    { name: "when", help: "the instruction count", run: () => `icount ${this.icount}\n` },
  ]);

  monitor(command: string): string | TargetError {
    this.check("monitor");
    return this.commands(command);
  }

  private fetch(addr: number, n: number): number[] | undefined {
    const b = this.readMemory(addr, n);
    return b.length === n ? [...b] : undefined;
  }

  private u32(bytes: number[]): number {
    return (bytes[0] | (bytes[1] << 8) | (bytes[2] << 16) | (bytes[3] << 24)) >>> 0;
  }

  private watched(addr: number, write: boolean): Hit {
    for (const w of this.watches) {
      const overlaps = addr < w.addr + w.length && w.addr < addr + 4;
      if (!overlaps) continue;
      if (w.type === "access" || (w.type === "write") === write) return { watch: w.type, addr: w.addr };
    }
    return undefined;
  }

  /** One instruction. Faults and illegal opcodes leave eip on the instruction, as exceptions do. */
  private execute(): Hit {
    const eip = this.regs.eip;
    const op = this.fetch(eip, 1)?.[0];
    if (op === undefined) return "fault";
    const gprs = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"];
    let next = eip + 1;
    let hit: Hit;
    if (op === 0x90) {
      // nop
    } else if (op >= 0x40 && op <= 0x47) {
      const r = gprs[op - 0x40];
      this.regs[r] = (this.regs[r] + 1) >>> 0;
      this.regs.eflags = (this.regs.eflags & ~0x40) | (this.regs[r] === 0 ? 0x40 : 0);
    } else if (op >= 0xb8 && op <= 0xbf) {
      const imm = this.fetch(eip + 1, 4);
      if (!imm) return "fault";
      this.regs[gprs[op - 0xb8]] = this.u32(imm);
      next = eip + 5;
    } else if (op === 0xa1 || op === 0xa3) {
      const moffs = this.fetch(eip + 1, 4);
      if (!moffs) return "fault";
      const addr = this.u32(moffs);
      if (op === 0xa1) {
        const v = this.fetch(addr, 4);
        if (!v) return "fault";
        this.regs.eax = this.u32(v);
      } else {
        const b = new Uint8Array(4);
        new DataView(b.buffer).setUint32(0, this.regs.eax, true);
        if (this.writeMemory(addr, b)) return "fault";
      }
      hit = this.watched(addr, op === 0xa3);
      next = eip + 5;
    } else if (op === 0xeb) {
      const rel = this.fetch(eip + 1, 1);
      if (!rel) return "fault";
      next = eip + 2 + ((rel[0] << 24) >> 24);
    } else if (op === 0xf4) {
      this.regs.eip = eip + 1;
      this.icount++;
      return "halt";
    } else if (op === 0xd9 && this.fetch(eip + 1, 1)?.[0] === 0xe8) {
      const top = (((this.regs.fstat >> 11) & 7) - 1) & 7;
      this.phys[top] = Uint8Array.from(FLD1);
      this.regs.fstat = (this.regs.fstat & ~0x3800) | (top << 11);
      this.regs.ftag &= ~(3 << (top * 2));
      next = eip + 2;
    } else {
      return "illegal";
    }
    this.regs.eip = next >>> 0;
    this.icount++;
    return hit;
  }
}
