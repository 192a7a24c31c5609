// A Platform without a CPU, for the kernel's tests and for testing user tasks (the VMM) on the
// kernel: a clock that only moves when charged or idled, interrupt lines raised at scripted
// times, RAM as a byte array, ports that log, and VCPUs whose exits are scripted. Deterministic,
// and save()/restore() capture all of it.

import { ExitReason, GuestField } from "../api.js";
import type { Platform, VcpuExit, VcpuRun } from "../platform.js";

/** A scripted exit: after `after` ns of guest time, exit with this reason (and these fields). */
export interface ScriptedExit {
  after: number;
  exit: VcpuExit;
  /** Guest fields the guest "changed" before exiting. */
  set?: [GuestField, number][];
}

export interface FakeVcpu {
  fields: number[];
  /** Guest instructions the VCPU's handler retired (GuestField.RETIRED writes). */
  retired: number;
  script: ScriptedExit[];
  /** Each entry into the guest (how often depends on how the host cut its runs). */
  runs: { eptRoot: number; ioBitmaps: readonly number[]; from: number }[];
}

export interface FakePlatformState {
  time: number;
  timer: number;
  pending: boolean[];
  masked: boolean[];
  acks: number[];
  irqEvents: { at: number; line: number }[];
  mem: Uint8Array;
  ports: Record<number, number>;
  portLog: [dir: "in" | "out", port: number, size: number, value: number][];
  vcpus: Record<number, FakeVcpu>;
  invalidations: number;
}

export class FakePlatform implements Platform {
  s: FakePlatformState;

  constructor(
    readonly memorySize = 16 << 20,
    readonly irqLines = 16,
  ) {
    this.s = {
      time: 0,
      timer: -1,
      pending: new Array(irqLines).fill(false),
      masked: new Array(irqLines).fill(true),
      acks: [],
      irqEvents: [],
      mem: new Uint8Array(memorySize),
      ports: {},
      portLog: [],
      vcpus: {},
      invalidations: 0,
    };
  }

  save(): FakePlatformState {
    return structuredClone(this.s);
  }

  restore(s: FakePlatformState): void {
    this.s = structuredClone(s);
  }

  // --- test controls -----------------------------------------------------------------------------

  /** Raises `line` at virtual time `at` (now if omitted). */
  raiseIrq(line: number, at = this.s.time): void {
    this.s.irqEvents.push({ at, line });
    this.s.irqEvents.sort((a, b) => a.at - b.at);
  }

  /** Queues exits for VCPU `id` (created on demand). */
  scriptExits(id: number, ...exits: ScriptedExit[]): void {
    this.vcpu(id).script.push(...exits);
  }

  vcpu(id: number): FakeVcpu {
    return (this.s.vcpus[id] ??= { fields: new Array(GuestField.COUNT).fill(0), retired: 0, script: [], runs: [] });
  }

  private fire(): void {
    const ev = this.s.irqEvents;
    while (ev.length > 0 && ev[0].at <= this.s.time) this.s.pending[ev.shift()!.line] = true;
  }

  // --- Platform ----------------------------------------------------------------------------------

  now(): number {
    return this.s.time;
  }

  charge(ns: number): void {
    this.s.time += ns;
  }

  setTimer(deadlineNs: number): void {
    this.s.timer = deadlineNs;
  }

  idle(limitNs: number): boolean {
    this.fire();
    if (this.pendingIrq() >= 0) return true;
    let next = this.s.timer;
    const ev = this.s.irqEvents;
    if (ev.length > 0 && (next < 0 || ev[0].at < next)) next = ev[0].at;
    if (limitNs !== Infinity && (next < 0 || limitNs < next)) next = limitNs;
    if (next < 0) return false;
    if (next > this.s.time) this.s.time = next;
    this.fire();
    return true;
  }

  pendingIrq(): number {
    this.fire();
    for (let l = 0; l < this.irqLines; l++) if (this.s.pending[l] && !this.s.masked[l]) return l;
    return -1;
  }

  maskIrq(line: number): void {
    this.s.masked[line] = true;
  }

  unmaskIrq(line: number): void {
    this.s.masked[line] = false;
  }

  ackIrq(line: number): void {
    this.s.pending[line] = false;
    this.s.acks.push(line);
  }

  read32(paddr: number): number {
    const m = this.s.mem;
    return (m[paddr] | (m[paddr + 1] << 8) | (m[paddr + 2] << 16) | (m[paddr + 3] << 24)) >>> 0;
  }

  write32(paddr: number, value: number): void {
    const m = this.s.mem;
    m[paddr] = value;
    m[paddr + 1] = value >>> 8;
    m[paddr + 2] = value >>> 16;
    m[paddr + 3] = value >>> 24;
  }

  readBytes(paddr: number, dst: Uint8Array): void {
    dst.set(this.s.mem.subarray(paddr, paddr + dst.length));
  }

  writeBytes(paddr: number, src: Uint8Array): void {
    this.s.mem.set(src, paddr);
  }

  ioRead(port: number, size: 1 | 2 | 4): number {
    const v = this.s.ports[port] ?? 0xffffffff >>> (32 - size * 8);
    this.s.portLog.push(["in", port, size, v]);
    return v;
  }

  ioWrite(port: number, size: 1 | 2 | 4, value: number): void {
    this.s.ports[port] = value;
    this.s.portLog.push(["out", port, size, value]);
  }

  vcpuCreate(id: number): void {
    this.vcpu(id);
  }

  vcpuDestroy(id: number): void {
    delete this.s.vcpus[id];
  }

  runVcpu(v: VcpuRun, untilNs: number): VcpuExit | null {
    const vc = this.vcpu(v.id);
    vc.runs.push({ eptRoot: v.eptRoot, ioBitmaps: v.ioBitmaps, from: this.s.time });
    const ev = this.s.irqEvents;
    const irqAt = ev.length > 0 ? ev[0].at : Infinity;
    const next = vc.script[0];
    const start = this.s.time;
    const exitAt = next ? start + next.after : Infinity;
    if (exitAt <= untilNs && exitAt <= irqAt) {
      vc.script.shift();
      this.s.time = exitAt;
      for (const [f, val] of next.set ?? []) vc.fields[f] = val >>> 0;
      return { ...next.exit };
    }
    let result: VcpuExit | null = null;
    if (irqAt <= untilNs) {
      this.s.time = Math.max(start, irqAt);
      this.fire();
      if (this.pendingIrq() >= 0) {
        result = { reason: ExitReason.EXTERNAL_INTERRUPT, qualification: 0, instructionLength: 0, guestLinear: 0, guestPhysical: 0 };
      }
    }
    if (!result) this.s.time = Math.max(this.s.time, untilNs);
    // The next scripted exit counts guest time, however the runs are cut.
    if (next) next.after -= this.s.time - start;
    return result;
  }

  guestRead(id: number, field: GuestField): number {
    return field === GuestField.RETIRED ? 0 : this.vcpu(id).fields[field];
  }

  guestWrite(id: number, field: GuestField, value: number): void {
    if (field === GuestField.RETIRED) this.vcpu(id).retired += value >>> 0;
    else this.vcpu(id).fields[field] = value >>> 0;
  }

  invalidateEpt(): void {
    this.s.invalidations++;
  }
}
