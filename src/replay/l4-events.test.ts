// L4 event breakpoints on the recordings of the built-in guests under the stack, and on a Linux
// boot's (test/support/linux-recording.ts, from deep in the boot): every stop is where the
// kernel's own statistics say the event happened (its counter of that kind is the event's number
// once the stop's scheduling step ends), forward and backward, and the replay still matches every
// state hash and exit after all the travelling.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../../test/layers.js";
import { decodeIoQualification, ExitReason } from "../l4/api.js";
import { Debugger, deviceWrites, type DebugStop } from "./debug.js";
import { describeL4Event, describeVfaultReply, parseL4Filter, type L4Event, type L4EventKind } from "./l4-events.js";
import { parseNumberArg } from "../gdbstub/monitor.js";
import { readRecording, type ReadRecording } from "./recording.js";
import { Session } from "./session.js";
import { Stack } from "./stack.js";
import type { Kernel, KernelStats } from "../l4/kernel.js";
import { haveLinux, linuxRecording } from "../../test/support/linux-recording.js";

const read = (name: string): ReadRecording => readRecording(new Uint8Array(readFileSync(join(ROOT, "recordings", name))), name);
const HELLO = read("hello-vm.rec");
const ECHO = read("echo-vm.rec");

/**
 * A Linux boot's recording and its images, when the guest images are there, and where its tests
 * start: a thousand guest instructions before its 5000th VM exit, deep in the boot, with the guest
 * running in its VM (no exit or entry half done).
 */
function linux(): { rec: ReadRecording; images: { [role: string]: Uint8Array }; start: number } | null {
  if (!haveLinux) return null;
  const boot = linuxRecording();
  const images = { kernel: new Uint8Array(readFileSync(boot.kernel)), initrd: new Uint8Array(readFileSync(boot.initrd)) };
  const rec = readRecording(new Uint8Array(readFileSync(boot.rec)), boot.rec);
  return { rec, images, start: Session.replay(rec, () => {}, images).recordedExits()[5000].icount - 1000 };
}
const LINUX = linux();

/** A debugger on a replay of `rec`, after instruction `start` when given (else at the first instruction). */
function debuggerOn(rec: ReadRecording, images?: { [role: string]: Uint8Array }, start?: number): { d: Debugger; stats: () => KernelStats; kernel: () => Kernel } {
  const s = Session.replay(rec, () => {}, images);
  const d = new Debugger(s);
  expect(d.toFirstInstruction()).toEqual({ kind: "start" });
  d.startTimeTravel({ interval: start === undefined ? 20_000 : 2_000_000 });
  if (start !== undefined) expect(d.seek({ at: "step", icount: start })).toMatchObject({ icount: start });
  return { d, stats: () => (s.machine as Stack).kernel.stats, kernel: () => (s.machine as Stack).kernel };
}

function cont(d: Debugger): DebugStop {
  for (let first = true; ; first = false) {
    const s = d.run({ maxInsns: 5000, first });
    if (s.kind !== "budget") return s;
  }
}

function reverseCont(d: Debugger): DebugStop {
  d.reverse!.startContinue();
  for (;;) {
    const s = d.reverse!.continueSlice(5000);
    if (s !== null) return s;
  }
}

/** The kernel's own counter of an event's kind. */
function counter(st: KernelStats, e: L4Event): number {
  switch (e.kind) {
    case "ipc": return st.ipcs;
    case "switch": return st.contextSwitches;
    case "irq": return st.irqs;
    case "entry": return st.vmExits;
    case "fault": return e.fault === "vm" ? st.vmPageFaults : e.fault === "page" ? st.pageFaults : e.fault === "io" ? st.ioFaults : st.exceptions;
    case "map":
    case "unmap": throw new Error("maps have no counter of their own");
  }
}

function filter(text: string) {
  const f = parseL4Filter(text.split(" "), parseNumberArg);
  if (typeof f === "string") throw new Error(f);
  return f;
}

/** Runs to `count` stops of an L4 breakpoint; each stop's event and position, and the kernel's counter there. */
function forward(d: Debugger, stats: () => KernelStats, count: number): { e: L4Event; where: string; counter: number }[] {
  const out = [];
  for (let k = 0; k < count; k++) {
    const s = cont(d);
    if (s.kind === "end" || s.kind === "halted") break;
    if (s.kind !== "l4") throw new Error(`expected an L4 stop, got ${JSON.stringify(s)}`);
    out.push({ e: s.event, where: JSON.stringify(d.where()), counter: counter(stats(), s.event) });
  }
  return out;
}

/**
 * The events each recording has: hello's guest takes no physical interrupt; past its start, the
 * Linux boot takes none either (its timer is the VMM's virtual PIT), and only four EPT violations,
 * tens of thousands of exits apart (stopping at each, forward and back, replays the whole boot
 * several times: the built-in guests test those faults).
 */
const KINDS = { "hello-vm.rec": ["ipc", "switch", "fault vm", "entry"], "echo-vm.rec": ["ipc", "switch", "irq", "fault vm", "entry"], "a Linux boot": ["ipc", "switch", "entry"] };

describe.each([
  ["hello-vm.rec", HELLO, undefined, undefined],
  ["echo-vm.rec", ECHO, undefined, undefined],
  ...(LINUX === null ? [] : [["a Linux boot", LINUX.rec, LINUX.images, LINUX.start] as const]),
] as const)("L4 event breakpoints on %s", (name, rec, images, start) => {
  it.each(KINDS[name])("break-l4 %s stops at every such event in turn, where the kernel counted it, forward and in reverse", (text) => {
    const { d, stats, kernel } = debuggerOn(rec, images, start);
    const kind = text.split(" ")[0] as L4EventKind;
    d.addL4Break(filter(text));
    const event = { kind, fault: "vm" } as L4Event;
    // An exit the kernel counted at the start whose VM entry is still to come (the VMM handling it,
    // or a timeout that took the VCPU out): that entry is the first one after the start.
    const halfDone = kind === "entry" && Object.values(kernel().s.threads).some((t) => t.vcpu?.created && !t.vcpu.inGuest);
    const first = counter(stats(), event) - (halfDone ? 1 : 0);
    const hits = forward(d, stats, 12);
    expect(hits.length).toBeGreaterThan(0);
    // Fewer: the run reached the end of the recording, with no more such events.
    const atEnd = hits.length < 12;
    if (atEnd) expect(counter(stats(), event)).toBe(first + hits.length);
    // The Nth stop is the kernel's Nth such event since the start, with none skipped.
    expect(hits.map((h) => h.e.seq)).toEqual(hits.map((_, i) => first + i + 1));
    for (const [i, h] of hits.entries()) {
      if (kind === "entry") {
        // Before the guest's first instruction after the VM entry that followed exit seq - 1.
        expect(h.counter).toBe(h.e.seq);
        continue;
      }
      // Every stop is at the end of the kernel's step: its counter is this event's number, or a
      // later one of the same step, which the next stop (at the same state) reports.
      const last = hits.filter((x) => x.counter === h.counter).at(-1)!;
      expect(h.counter).toBeGreaterThanOrEqual(h.e.seq);
      if (last === h && i < hits.length - 1) expect(h.counter).toBe(h.e.seq);
    }
    // Backward: the same events, the same positions, the same counters, in reverse.
    const before = atEnd ? hits : hits.slice(0, -1);
    const back: typeof hits = [];
    for (let k = 0; k < before.length; k++) {
      const s = reverseCont(d);
      if (s.kind !== "l4") throw new Error(`expected an L4 stop, got ${JSON.stringify(s)}`);
      back.push({ e: s.event, where: JSON.stringify(d.where()), counter: counter(stats(), s.event) });
    }
    expect(back).toEqual([...before].reverse());
    // Forward again from there: the same execution.
    expect(forward(d, stats, 3)).toEqual(hits.slice(1, 4));
  });

  it("an IPC breakpoint by receiver and label stops only at those IPCs, and monitor l4 ipc lists the last ones with their registers", () => {
    const { d, stats } = debuggerOn(rec, images, start);
    d.addL4Break(filter("ipc"));
    const all = forward(d, stats, 40).map((h) => h.e);
    // The VCPU's virtualization faults to the VMM: the label is 0xf800 | the exit reason.
    const vfault = all.find((e) => e.kind === "ipc" && e.tag >>> 16 === (0xf800 | ExitReason.IO_INSTRUCTION));
    expect(vfault).toBeDefined();
    const log = d.ipcLog(10);
    if ("error" in log) throw new Error(log.message);
    expect(log.map(describeL4Event)).toEqual(all.slice(-10).map(describeL4Event));
    const here = JSON.stringify(d.where());
    expect(JSON.stringify(d.where())).toBe(here);

    const { d: d2, stats: stats2 } = debuggerOn(rec, images, start);
    const to = vfault!.kind === "ipc" ? vfault!.to : 0;
    d2.addL4Break(filter(`ipc to ${to} label ${0xf800 | ExitReason.IO_INSTRUCTION}`));
    const some = forward(d2, stats2, 3).map((h) => h.e);
    expect(some.map(describeL4Event)).toEqual(all.filter((e) => e.kind === "ipc" && e.to === to && e.tag >>> 16 === (0xf800 | ExitReason.IO_INSTRUCTION)).slice(0, 3).map(describeL4Event));
  });
});

describe("break-exit after", () => {
  it("stops once the VMM's reply entered the guest, before its next instruction, forward and in reverse", () => {
    const { d } = debuggerOn(HELLO);
    d.addExitBreak({ reason: ExitReason.IO_INSTRUCTION, value: 0x3f8, direction: "out", when: "after", text: "io 0x3f8 out after" });
    const stops: string[] = [];
    for (let k = 0; k < 4; k++) {
      const s = cont(d);
      expect(s).toMatchObject({ kind: "exit", when: "after", exit: { reason: ExitReason.IO_INSTRUCTION } });
      const w = d.where();
      // The OUT was emulated and retired: the guest is past it, at the exit's count.
      expect(w.at).toBe("insn");
      expect(w.exits).toBe((s as { exit: { n: number } }).exit.n + 1);
      expect(d.registers().eip).not.toBe((s as { exit: { eip: number } }).exit.eip);
      stops.push(JSON.stringify(w));
    }
    const back: string[] = [];
    for (let k = 0; k < 3; k++) {
      expect(reverseCont(d)).toMatchObject({ kind: "exit", when: "after" });
      back.push(JSON.stringify(d.where()));
    }
    expect(back).toEqual(stops.slice(0, 3).reverse());
  });
});

describe("after L4 event breakpoints and their travels", () => {
  it("the replay runs to the end of the recording matching every state hash and exit", () => {
    const { d } = debuggerOn(HELLO);
    d.addL4Break(filter("switch"));
    forward(d, () => (d as unknown as { m: Stack }).m.kernel.stats, 5);
    reverseCont(d);
    d.clearL4Breaks();
    expect(cont(d).kind).toMatch(/^(end|halted)$/);
  });
});

describe("monitor vmm exit", () => {
  it("shows the exit's instruction, device and the reply the guest then resumes with, and leaves the machine where it was", () => {
    const { d } = debuggerOn(HELLO);
    d.addExitBreak({ reason: ExitReason.IO_INSTRUCTION, value: 0x3f8, direction: "out", text: "io 0x3f8 out" });
    for (let k = 0; k < 3; k++) expect(cont(d)).toMatchObject({ kind: "exit" });
    const here = JSON.stringify(d.where());
    const v = d.vmmExit();
    if ("error" in v) throw new Error(v.message);
    expect(JSON.stringify(d.where())).toBe(here);
    expect(v.insn).toBe("out    dx,al");
    expect(v.device).toBe("uart");
    expect(v.reply).not.toBeNull();
    const reply = describeVfaultReply(v.reply!.mr);
    expect(reply).toMatch(/retire=0x1/);
    // The reply's EIP is where the guest goes on: the stop once the reply entered the guest.
    const eip = /eip=0x([0-9a-f]+)/.exec(reply)![1];
    d.clearExitBreaks();
    d.addExitBreak({ reason: ExitReason.IO_INSTRUCTION, value: 0x3f8, direction: "out", when: "after", text: "io 0x3f8 out after" });
    expect(cont(d)).toMatchObject({ kind: "exit", when: "after", exit: { n: v.exit.n } });
    expect(d.registers().eip.toString(16)).toBe(eip);
  });
});

describe("reading history at an L4 event stop", () => {
  it("monitor vmm exit and l4 ipc leave the machine at the event: the next reverse-continue finds the one before", () => {
    const { d, stats } = debuggerOn(HELLO);
    d.addL4Break(filter(`ipc label ${0xf800 | ExitReason.IO_INSTRUCTION}`));
    const hits = forward(d, stats, 3);
    const regs = JSON.stringify(d.registers());
    expect("error" in d.vmmExit()).toBe(false);
    expect("error" in d.ipcLog(4)).toBe(false);
    expect(JSON.stringify(d.where())).toBe(hits[2].where);
    expect(JSON.stringify(d.registers())).toBe(regs);
    expect(stats().ipcs).toBe(hits[2].counter);
    const s = reverseCont(d);
    expect(s).toMatchObject({ kind: "l4", event: { seq: hits[1].e.seq } });
    expect(JSON.stringify(d.where())).toBe(hits[1].where);
  });
});

describe("map breakpoints", () => {
  it("stop at each mapping the kernel enters, which its mapping database then holds", () => {
    const s = Session.replay(HELLO, () => {});
    const d = new Debugger(s);
    d.toFirstInstruction();
    d.startTimeTravel({ interval: 20_000 });
    const kernel = (s.machine as Stack).kernel;
    d.addL4Break(filter("map"));
    let maps = 0;
    for (;;) {
      const st = cont(d);
      if (st.kind !== "l4") break;
      const e = st.event;
      if (e.kind !== "map") throw new Error(`expected a map, got ${describeL4Event(e)}`);
      const holder = Object.values(kernel.s.threads).find((t) => t.space === e.space)!;
      const nodes = kernel.mappings(holder.id, e.vaddr, e.log2, e.io);
      expect(nodes.some((n) => n.vaddr === e.vaddr && n.log2 === e.log2 && n.paddr === e.paddr)).toBe(true);
      maps++;
    }
    expect(maps).toBeGreaterThan(0);
  });
});

describe("virtual device register writes", () => {
  it("break-dev uart stops at exactly the guest's OUTs to the UART's ports, forward and in reverse", () => {
    const { d } = debuggerOn(ECHO);
    const f = deviceWrites("uart", undefined, undefined, "dev uart");
    if (typeof f === "string") throw new Error(f);
    d.addExitBreak(f);
    const seen: number[] = [];
    for (;;) {
      const s = cont(d);
      if (s.kind !== "exit") break;
      seen.push(s.exit.n);
    }
    // The oracle: the recording's own exit log, decoded independently of the filter.
    const want = Session.replay(ECHO, () => {})
      .recordedExits()
      .filter((e) => e.reason === ExitReason.IO_INSTRUCTION && !decodeIoQualification(e.qualification).input && (decodeIoQualification(e.qualification).port & ~7) === 0x3f8)
      .map((e) => e.n);
    expect(seen).toEqual(want);
    expect(seen.length).toBeGreaterThan(3);
    expect(reverseCont(d)).toMatchObject({ kind: "exit", exit: { n: want.at(-1) } });
    expect(reverseCont(d)).toMatchObject({ kind: "exit", exit: { n: want.at(-2) } });
    expect(deviceWrites("uart", 8, undefined, "")).toMatch(/registers 0 to 7/);
    expect(deviceWrites("nic", undefined, undefined, "")).toMatch(/no virtual device nic/);
  });
});
