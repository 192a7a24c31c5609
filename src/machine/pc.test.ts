import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Stop } from "./cpu/arch.js";
import { Pc } from "./pc.js";
import { CODE_BASE, enterFlat32, identityPaging, nasm, PAGING_ON, PAGING_PT } from "../../test/support/cpu.js";

const GUEST = new Uint8Array(readFileSync(join(import.meta.dirname, "../../guests/builtin/hello.bin")));

function boot(out: number[]): Pc {
  const pc = new Pc({ ramSize: 32 << 20, console: (b) => out.push(b), rtcEpochSeconds: 1_700_000_000 });
  pc.loadBootImage(GUEST);
  return pc;
}

const text = (b: number[]) => Buffer.from(b).toString("latin1");

describe("the PC", () => {
  it("runs the built-in guest to a halt with interrupts off, idling through its timer waits", () => {
    const out: number[] = [];
    const pc = boot(out);
    expect(pc.run()).toBe(Stop.HALT);
    expect(text(out)).toContain("afterglow: 10 timer interrupts while idle\nafterglow: done\n");
    expect(pc.idleNs).toBeGreaterThan(0);
  });

  it("continues a restored snapshot exactly as the original run went on", () => {
    const out: number[] = [];
    const pc = boot(out);
    // Mid-way through the user program, with timer interrupts arriving.
    pc.run({ maxInsns: 300_000 });
    const snap = structuredClone(pc.save());
    const printed = out.length;
    expect(pc.run()).toBe(Stop.HALT);
    const end = pc.save();
    const rest = text(out.slice(printed));

    const out2: number[] = [];
    const other = boot(out2);
    other.restore(snap);
    expect(other.run()).toBe(Stop.HALT);
    expect(text(out2)).toBe(rest);
    const end2 = other.save();
    expect(end2.cpu).toEqual(end.cpu);
    expect(Buffer.compare(end2.ram, end.ram)).toBe(0);
    expect({ ...end2, ram: null }).toEqual({ ...end, ram: null });
  });

  // The TLB is part of the state: where the guest changes a page table without invalidating (Linux
  // clears accessed bits so: x86's ptep_clear_flush_young), what the CPU does next depends on what
  // it had cached, and a restored run must find the same.
  it("continues a restored snapshot with the TLB the original had: a hit sets no accessed bit", () => {
    const pc = new Pc({ ramSize: 1 << 20, console: () => {}, rtcEpochSeconds: 0 });
    enterFlat32(pc.cpu);
    identityPaging(pc.cpu);
    pc.mem.load(CODE_BASE, nasm(`
      ${PAGING_ON}
      mov eax, [0x5000]                 ; a walk: page 5 cached, its PTE accessed
      and dword [${PAGING_PT} + 5 * 4], ~0x20
      mov eax, [0x5000]                 ; a hit: the PTE stays as the guest left it
      mov eax, [${PAGING_PT} + 5 * 4]
      hlt`, 32, CODE_BASE));
    pc.cpu.eip = CODE_BASE;
    pc.run({ maxInsns: 7 });
    const snap = structuredClone(pc.save());
    expect(pc.run()).toBe(Stop.HALT);
    const pte = pc.cpu.r32[0];
    expect(pte & 0x20, "the hit left A clear").toBe(0);
    pc.restore(snap);
    expect(pc.run()).toBe(Stop.HALT);
    expect(pc.cpu.r32[0].toString(16)).toBe(pte.toString(16));
  });

  it("delivers an interrupt the configured latency after the PIC raises INTR, whatever the slicing", () => {
    // The PIT's channel 0 (mode 0, count 1000: OUT0 rises 1000 ticks after the count is written)
    // unmasked at the PIC; the guest counts in a loop until its IRQ0 handler stops it.
    const image = nasm(
      `cli
      mov word [0x20 * 4], isr
      mov word [0x20 * 4 + 2], 0
      mov al, 0x11
      out 0x20, al
      mov al, 0x20
      out 0x21, al
      mov al, 4
      out 0x21, al
      mov al, 1
      out 0x21, al
      mov al, 0xfe
      out 0x21, al
      mov al, 0x30
      out 0x43, al
      mov al, 0xe8
      out 0x40, al
      mov al, 0x03
      out 0x40, al
      xor ecx, ecx
      sti
      count: inc ecx
      jmp count
      isr: cli
      hlt`,
      16,
      0x7c00,
    );
    const counted = (latency: number, slice: number) => {
      const pc = new Pc({ ramSize: 1 << 20, console: () => {}, rtcEpochSeconds: 0, timing: { rtcPhaseTicks: 0, pitPhaseNs: 0, irqLatencyNs: latency } });
      pc.loadBootImage(image);
      while (pc.run({ maxInsns: pc.cpu.icount + slice }) === Stop.BUDGET);
      return { loops: pc.cpu.r32[1], at: pc.nowNs() };
    };
    const prompt = counted(0, 1_000_000);
    const late = counted(20_000, 1_000_000);
    // 20 µs later: 20,000 more instructions of 1 ns, 10,000 more loops of two.
    expect(late.at - prompt.at).toBe(20_000);
    expect(late.loops - prompt.loops).toBe(10_000);
    expect(counted(20_000, 7)).toEqual(late);
  });

  it("counts the PIT from its clock's phase: a count written starts at the next tick of its own clock", () => {
    const firstEdge = (phase: number) => {
      const pc = new Pc({ ramSize: 1 << 20, console: () => {}, rtcEpochSeconds: 0, timing: { rtcPhaseTicks: 0, pitPhaseNs: phase, irqLatencyNs: 0 } });
      pc.loadBootImage(nasm("mov al, 0x30\nout 0x43, al\nmov al, 100\nout 0x40, al\nmov al, 0\nout 0x40, al\ncli\nhlt", 16, 0x7c00));
      pc.run({ maxInsns: 6 });
      return pc.nextEventNs() - pc.nowNs();
    };
    // 100 ticks of 838.1 ns; the count starts at the tick the write falls in, so a phase moves the
    // edge earlier by up to a tick.
    const zero = firstEdge(0);
    expect(zero).toBeGreaterThan(99 * 838);
    expect(zero).toBeLessThanOrEqual(100 * 839);
    for (const phase of [100, 400, 838]) {
      const d = zero - firstEdge(phase);
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThan(839);
    }
    expect(new Set([0, 100, 400, 838].map(firstEdge)).size).toBeGreaterThan(1);
  });

  it("runs the same way twice: the machine has no hidden inputs", () => {
    const a: number[] = [];
    const b: number[] = [];
    const pa = boot(a);
    const pb = boot(b);
    pa.run();
    pb.run();
    expect(text(a)).toBe(text(b));
    expect(pa.save().cpu).toEqual(pb.save().cpu);
  });

  it("takes a timer interrupt programmed mid-slice at the same instruction however the run is sliced", () => {
    // Real mode: IRQ0 at vector 0x20, PIT channel 0 one-shot in 50 ticks (about 4,200 instructions
    // of the busy loop), then count loop iterations until the interrupt stops the count.
    const image = nasm(
      `
      cli
      xor ax, ax
      mov ds, ax
      mov word [0x80], handler
      mov word [0x82], 0
      mov al, 0x11
      out 0x20, al
      mov al, 0x20
      out 0x21, al
      mov al, 4
      out 0x21, al
      mov al, 1
      out 0x21, al
      mov al, 0xfe
      out 0x21, al
      mov al, 0x30
      out 0x43, al
      mov al, 50
      out 0x40, al
      xor al, al
      out 0x40, al
      xor ecx, ecx
      sti
    spin:
      inc ecx
      jmp spin
    handler:
      cli
      hlt`,
      16,
      0x7c00,
    );
    const runWith = (slice: number) => {
      const pc = new Pc({ ramSize: 1 << 20, console: () => {}, rtcEpochSeconds: 0 });
      pc.loadBootImage(image);
      let stop = Stop.BUDGET;
      while (stop === Stop.BUDGET) stop = pc.run({ maxInsns: pc.cpu.icount + slice });
      expect(stop).toBe(Stop.HALT);
      return [pc.cpu.icount, pc.cpu.r32[1]];
    };
    const [icount, spins] = runWith(10_000_000);
    // 50 PIT ticks (about 42 µs) of two 1-ns instructions a spin.
    expect(spins).toBeGreaterThan(10_000);
    expect(spins).toBeLessThan(40_000);
    for (const slice of [1, 7, 1000, 4321]) expect(runWith(slice)).toEqual([icount, spins]);
  });
});
