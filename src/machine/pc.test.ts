import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Stop } from "./cpu/arch.js";
import { Pc } from "./pc.js";
import { nasm } from "../../test/support/cpu.js";

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
    expect(spins).toBeGreaterThan(1000);
    expect(spins).toBeLessThan(4000);
    for (const slice of [1, 7, 1000, 4321]) expect(runWith(slice)).toEqual([icount, spins]);
  });
});
