// A stand-in for the replay's worker in component tests: a snapshot like the driver's, and a Replay
// that logs each request and answers it with the snapshot the test chose.

import { DENSITY_BUCKETS, type Reply, type ReplayInfo, type Snapshot } from "../../replay/remote/protocol.js";
import type { Replay } from "../app.js";

export function snapshot(over: Partial<Snapshot> = {}): Snapshot {
  const names = ["eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "esp", "eip", "eflags", "cs", "ss", "ds", "es", "fs", "gs"];
  return {
    pos: { icount: 6262, exits: 101, ns: 1263650, at: "exit", eip: 0x802c },
    registers: names.map((name, i) => ({ name, value: name === "eip" ? 0x802c : i, digits: name.length === 2 ? 4 : 8 })),
    bits: 32,
    disasm: [
      { addr: 0x8028, bytes: "66bafd03", text: "mov    dx,0x3fd", current: false },
      { addr: 0x802c, bytes: "ec", text: "in     al,dx", current: true, symbol: "uart_wait+0x4" },
      { addr: 0x802d, bytes: "a820", text: "test   al,0x20", current: false },
    ],
    source: null,
    memory: { label: "esp", addr: 0x8ffe8, bytes: [0x61, 0, 1, 0xe0, 0x41, 0x42, 0, 0] },
    exit: { exit: { n: 100, icount: 6262, reason: 30, qualification: 0x3fd0008, eip: 0x802c }, reason: "IO_INSTRUCTION", qualification: "in port 0x3fd (1 byte)", insn: "in     al,dx" },
    atExit: true,
    reply: null,
    vmmReply: null,
    recentExits: [{ n: 100, icount: 6262, reason: "IO_INSTRUCTION", qualification: "in port 0x3fd (1 byte)" }],
    threads: [{ no: 36, id: 589825, kind: "vcpu", state: "blockedRecv", program: null }],
    kernel: { ipcs: 214, contextSwitches: 215, syscalls: 128, irqs: 0 },
    ipcs: ["#213: 35 receives", "#214: 36 -> 34 label 0xfff4 mr 0xfff41009 0x1e 0x3fd0008"],
    devices: ["uart: 29 in, 33 out"],
    console: "afterglow: real mode ok\nafterglow: protected mode ok\n",
    marks: { checkpoints: [0], hits: [], lines: [101, 533] },
    breakpoints: [],
    exitBreaks: [],
    ...over,
  };
}

export const INFO: ReplayInfo = {
  name: "hello-vm.rec",
  machine: "stack",
  endIcount: 643874,
  endNs: 24_000_000,
  exits: 792,
  density: Array.from({ length: DENSITY_BUCKETS }, (_, k) => (k < 8 || k > 500 ? 40 : k % 50 === 0 ? 2 : 0)),
};

export class FakeReplay implements Replay {
  readonly requests: unknown[] = [];
  cancels = 0;
  onProgress: Replay["onProgress"] = () => {};
  onGdb: Replay["onGdb"] = () => {};
  /** The next reply's snapshot, and whether the reply waits for release(). */
  next: Snapshot;
  hold = false;
  private held: (() => void)[] = [];

  constructor(
    readonly first: Snapshot = snapshot(),
    readonly info: ReplayInfo = INFO,
  ) {
    this.next = first;
  }

  request(r: Parameters<Replay["request"]>[0]): Promise<Reply> {
    this.requests.push(r);
    const reply: Reply = { id: this.requests.length, ok: true, snapshot: this.next, note: "done" };
    if (!this.hold) return Promise.resolve(reply);
    return new Promise((resolve) => this.held.push(() => resolve(reply)));
  }

  cancel(): void {
    this.cancels++;
  }

  release(): void {
    for (const r of this.held.splice(0)) r();
  }
}
