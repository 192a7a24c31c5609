// The VMM's IRQ thread: a second thread in the VMM's space that turns time and the physical
// console's interrupts into messages to the VMM thread, which owns the virtual chips.
//
//   - Time: it sleeps (an IPC receive with a timeout) until the deadline the VMM gave it — the
//     next event of the virtual PIT or RTC — then calls the VMM with TICK; the VMM brings the
//     chips up to the present, injects or wakes the VCPU, and answers with the next deadline.
//     The VMM also sends it a new deadline (DEADLINE, never blocking) when the guest reprograms
//     a timer. It outranks the VMM and the VCPU, so it runs as soon as its timeout expires and
//     is never caught between its system calls when the VMM sends.
//   - Input: it is the handler of the physical UART's interrupt line. On an interrupt it reads
//     what the UART received (at most one FIFO's worth), acknowledges the interrupt, and calls the
//     VMM with INPUT and the bytes, which the VMM feeds to the virtual UART.
//
// Protocol (labels are the VMM's own, positive):
//   IRQ -> VMM  TICK  (u = 0)            reply: MR1, MR2 the next deadline (lo, hi; all ones: none)
//   IRQ -> VMM  INPUT (u = n bytes)      reply: the same
//   VMM -> IRQ  DEADLINE (u = 2: lo, hi) a send with timeout zero; no reply

import {
  IpcError,
  Label,
  NEVER,
  call,
  globalId,
  ipcErrorInReceive,
  ipcErrorKind,
  ipcFailed,
  msgTag,
  reply,
  tagLabel,
  tagU,
  wait,
  type ProgramImage,
  type Syscall,
  type SyscallResult,
  type ThreadId,
  type UserProgram,
  type Utcb,
} from "../l4/api.js";

export const enum VmmLabel {
  TICK = 0x7601,
  INPUT = 0x7602,
  DEADLINE = 0x7603,
}

/** A deadline in ns (or -1: none) as two message words. */
export function deadlineWords(ns: number): [number, number] {
  if (ns < 0) return [0xffffffff, 0xffffffff];
  return [ns % 2 ** 32 >>> 0, Math.floor(ns / 2 ** 32) >>> 0];
}

export function deadlineOf(lo: number, hi: number): number {
  if (lo >>> 0 === 0xffffffff && hi >>> 0 === 0xffffffff) return -1;
  return (hi >>> 0) * 2 ** 32 + (lo >>> 0);
}

/** Most bytes taken from the physical UART per interrupt: one 16550 FIFO. */
export const INPUT_BURST = 16;

/** The physical UART's setup: 8N1, FIFO on (trigger 1), DTR RTS OUT2, receive interrupts only. */
const UART_INIT: readonly [number, number][] = [
  [3, 0x03],
  [2, 0x07],
  [4, 0x0b],
  [1, 0x01],
];

export interface IrqState {
  /** The VMM thread. */
  main: ThreadId;
  /** The physical console (first port, interrupt line), or null: timer duty only. */
  console: { port: number; line: number } | null;
  /** The VMM's next event, absolute ns (-1: none). */
  deadline: number;
  init: number;
  last: "init" | "clock" | "wait" | "lsr" | "rbr" | "ack" | "call";
  bytes: number[];
  stats: { ticks: number; interrupts: number; bytes: number; deadlines: number };
}

export function irqImage(main: ThreadId, console: { port: number; line: number } | null): ProgramImage {
  const state: IrqState = {
    main,
    console,
    deadline: -1,
    init: 0,
    last: "init",
    bytes: [],
    stats: { ticks: 0, interrupts: 0, bytes: 0, deadlines: 0 },
  };
  return { name: "vmm-irq", state };
}

/** Waits for the deadline (the clock first) or, with none, for a message. */
function loop(s: IrqState): Syscall {
  if (s.deadline < 0) {
    s.last = "wait";
    return wait(NEVER);
  }
  s.last = "clock";
  return { op: "systemClock" };
}

function tick(s: IrqState, u: Utcb): Syscall {
  s.stats.ticks++;
  u.mr[0] = msgTag(VmmLabel.TICK, 0, 0);
  s.last = "call";
  return call(s.main);
}

function readLsr(s: IrqState): Syscall {
  s.last = "lsr";
  return { op: "in", port: s.console!.port + 5, size: 1 };
}

function step(s: IrqState, u: Utcb, r: SyscallResult): Syscall {
  if (r.op === "start") {
    s.init = 0;
    s.last = "init";
  }
  switch (s.last) {
    case "init":
      if (s.console && s.init < UART_INIT.length) {
        const [off, v] = UART_INIT[s.init++];
        return { op: "out", port: s.console.port + off, size: 1, value: v };
      }
      return loop(s);
    case "clock": {
      if (r.op !== "systemClock") return loop(s);
      if (r.ns >= s.deadline) return tick(s, u);
      s.last = "wait";
      return wait(s.deadline - r.ns);
    }
    case "wait": {
      if (r.op !== "ipc") return loop(s);
      if (ipcFailed(r.tag)) {
        const e = u.errorCode;
        if (ipcErrorInReceive(e) && ipcErrorKind(e) === IpcError.TIMEOUT) return tick(s, u);
        return loop(s);
      }
      const label = tagLabel(r.tag);
      if (label === Label.INTERRUPT && s.console && r.from === globalId(s.console.line, 1)) {
        s.stats.interrupts++;
        s.bytes = [];
        return readLsr(s);
      }
      if (label === VmmLabel.DEADLINE && r.from === s.main && tagU(r.tag) >= 2) {
        s.deadline = deadlineOf(u.mr[1], u.mr[2]);
        s.stats.deadlines++;
      }
      return loop(s);
    }
    case "lsr": {
      const lsr = r.op === "in" ? r.value & 0xff : 0xff;
      // Data ready; 0xff is a bus with no UART on it.
      if (lsr !== 0xff && (lsr & 1) !== 0 && s.bytes.length < INPUT_BURST) {
        s.last = "rbr";
        return { op: "in", port: s.console!.port, size: 1 };
      }
      // All taken (the UART's line is low again): acknowledge the interrupt.
      s.last = "ack";
      u.mr[0] = msgTag(0, 0, 0);
      return reply(globalId(s.console!.line, 1));
    }
    case "rbr":
      if (r.op === "in") s.bytes.push(r.value & 0xff);
      return readLsr(s);
    case "ack": {
      if (s.bytes.length === 0) return loop(s);
      const n = s.bytes.length;
      s.stats.bytes += n;
      u.mr[0] = msgTag(VmmLabel.INPUT, n, 0);
      for (let i = 0; i < n; i++) u.mr[1 + i] = s.bytes[i];
      s.bytes = [];
      s.last = "call";
      return call(s.main);
    }
    case "call":
      if (r.op === "ipc" && !ipcFailed(r.tag) && tagU(r.tag) >= 2) s.deadline = deadlineOf(u.mr[1], u.mr[2]);
      return loop(s);
  }
}

export const IRQ_PROGRAM: UserProgram<IrqState> = { step };
