import { describe, expect, it } from "vitest";
import { nsOfPitTick, Pit8254, PIT_HZ, pitTickAt } from "./pit8254.js";

function withEdges(): { pit: Pit8254; edges: [number, boolean][] } {
  const edges: [number, boolean][] = [];
  const pit: Pit8254 = new Pit8254({ out0: (l) => edges.push([pit.tick, l]) });
  return { pit, edges };
}

function program(pit: Pit8254, ch: number, mode: number, count: number, bcd = false): void {
  pit.write(0x43, 1, (ch << 6) | 0x30 | (mode << 1) | (bcd ? 1 : 0));
  pit.write(0x40 + ch, 1, count & 0xff);
  pit.write(0x40 + ch, 1, (count >> 8) & 0xff);
}

function readCount(pit: Pit8254, ch: number): number {
  pit.write(0x43, 1, ch << 6); // counter latch
  const lo = pit.read(0x40 + ch, 1);
  return lo | (pit.read(0x40 + ch, 1) << 8);
}

describe("the 8254 PIT", () => {
  it("raises OUT0 at terminal count in mode 0 and keeps it high (Linux's one-shot timer)", () => {
    const { pit, edges } = withEdges();
    pit.write(0x43, 1, 0x30);
    pit.write(0x40, 1, 100);
    expect(pit.nextEventTick()).toBe(Infinity); // half-written count: stopped
    pit.write(0x40, 1, 0);
    expect(pit.nextEventTick()).toBe(100);
    pit.advanceTo(99);
    expect(edges).toEqual([]);
    expect(readCount(pit, 0)).toBe(1);
    pit.advanceTo(100);
    expect(edges).toEqual([[100, true]]);
    expect(pit.nextEventTick()).toBe(Infinity);
    pit.advanceTo(110);
    expect(readCount(pit, 0)).toBe(0xfff6); // the counter wraps and keeps counting
  });

  it("restarts mode 0 and drops OUT when a new count is written", () => {
    const { pit, edges } = withEdges();
    program(pit, 0, 0, 10);
    pit.advanceTo(10);
    pit.write(0x40, 1, 20);
    expect(edges).toEqual([[10, true], [10, false]]);
    pit.write(0x40, 1, 0);
    pit.advanceTo(40);
    expect(edges.at(-1)).toEqual([30, true]);
  });

  it("produces one rising edge per period in mode 2, low for the last tick (Linux's periodic tick)", () => {
    const { pit, edges } = withEdges();
    program(pit, 0, 2, 1000); // the control word raises OUT
    expect(pit.out(0)).toBe(true);
    expect(pit.nextEventTick()).toBe(999);
    pit.advanceTo(2000);
    expect(edges).toEqual([[0, true], [999, false], [1000, true], [1999, false], [2000, true]]);
    expect(readCount(pit, 0)).toBe(1000);
    pit.advanceTo(2250);
    expect(readCount(pit, 0)).toBe(750);
  });

  it("reads a running count live in LSB/MSB order with the read flip-flop", () => {
    const { pit } = withEdges();
    program(pit, 0, 2, 0x1234);
    pit.advanceTo(0x34);
    expect(pit.read(0x40, 1)).toBe(0x00);
    expect(pit.read(0x40, 1)).toBe(0x12);
  });

  it("holds a latched count until both bytes are read, ignoring a second latch", () => {
    const { pit } = withEdges();
    program(pit, 0, 2, 0x1000);
    pit.advanceTo(0x10);
    pit.write(0x43, 1, 0x00);
    pit.advanceTo(0x20);
    pit.write(0x43, 1, 0x00);
    expect(pit.read(0x40, 1)).toBe(0xf0);
    pit.advanceTo(0x30);
    expect(pit.read(0x40, 1)).toBe(0x0f);
    expect(readCount(pit, 0)).toBe(0x0fd0);
  });

  it("changes the period of a running mode 2 counter only at the next reload", () => {
    const { pit, edges } = withEdges();
    program(pit, 0, 2, 100);
    pit.advanceTo(50);
    pit.write(0x40, 1, 10);
    pit.write(0x40, 1, 0);
    pit.advanceTo(125);
    expect(edges).toEqual([[0, true], [99, false], [100, true], [109, false], [110, true], [119, false], [120, true]]);
  });

  it("makes a square wave in mode 3, high for the longer half of an odd count", () => {
    const { pit, edges } = withEdges();
    program(pit, 0, 3, 5);
    pit.advanceTo(10);
    expect(edges).toEqual([[0, true], [3, false], [5, true], [8, false], [10, true]]);
    program(pit, 0, 3, 100);
    pit.advanceTo(10 + 30);
    expect(readCount(pit, 0)).toBe(40);
    pit.advanceTo(10 + 60);
    expect(pit.out(0)).toBe(false);
    expect(readCount(pit, 0)).toBe(80);
  });

  it("strobes OUT low for one tick at terminal count in mode 4", () => {
    const { pit, edges } = withEdges();
    program(pit, 0, 4, 50);
    pit.advanceTo(1000);
    expect(edges).toEqual([[0, true], [50, false], [51, true]]); // OUT rises with the control word
  });

  it("fires channel 2 one-shots (mode 1) and strobes (mode 5) from the gate in port 0x61", () => {
    const pit = new Pit8254();
    program(pit, 2, 1, 100);
    expect(pit.read(0x61, 1) & 0x20).toBe(0x20);
    pit.write(0x61, 1, 0x01); // gate rises: trigger
    expect(pit.read(0x61, 1) & 0x20).toBe(0);
    pit.advanceTo(100);
    expect(pit.read(0x61, 1) & 0x21).toBe(0x21);
    pit.write(0x61, 1, 0x00);
    pit.write(0x61, 1, 0x01); // retrigger
    expect(pit.out(2)).toBe(false);
    program(pit, 2, 5, 10);
    pit.advanceTo(200);
    expect(pit.out(2)).toBe(true);
    pit.write(0x61, 1, 0x00);
    pit.write(0x61, 1, 0x01);
    pit.advanceTo(210);
    expect(pit.out(2)).toBe(false);
    pit.advanceTo(211);
    expect(pit.out(2)).toBe(true);
  });

  it("counts channel 2 in mode 0 only while its gate is high, as Linux's TSC calibration uses it", () => {
    const pit = new Pit8254();
    pit.write(0x61, 1, 0x00);
    program(pit, 2, 0, 0xffff);
    pit.advanceTo(500);
    expect(readCount(pit, 2)).toBe(0xffff);
    pit.write(0x61, 1, 0x01);
    pit.advanceTo(1500);
    expect(readCount(pit, 2)).toBe(0xffff - 1000);
    pit.write(0x61, 1, 0x00);
    pit.advanceTo(5000);
    expect(readCount(pit, 2)).toBe(0xffff - 1000);
    pit.write(0x61, 1, 0x01);
    pit.advanceTo(5000 + 0xffff - 1000);
    expect(pit.read(0x61, 1) & 0x20).toBe(0x20);
  });

  it("keeps port 0x61's writable bits and toggles the refresh bit every 18 input clocks", () => {
    const pit = new Pit8254();
    pit.write(0x61, 1, 0xff);
    expect(pit.read(0x61, 1) & 0x0f).toBe(0x0f);
    const r0 = pit.read(0x61, 1) & 0x10;
    pit.advanceTo(18);
    expect(pit.read(0x61, 1) & 0x10).not.toBe(r0);
  });

  it("counts in BCD, treating 0 as 10000", () => {
    const pit = new Pit8254();
    program(pit, 1, 0, 0x0100, true);
    pit.advanceTo(1);
    expect(readCount(pit, 1)).toBe(0x0099);
    program(pit, 1, 2, 0, true);
    pit.advanceTo(1 + 1);
    expect(readCount(pit, 1)).toBe(0x9999);
  });

  it("loads LSB-only and MSB-only counts", () => {
    const pit = new Pit8254();
    pit.write(0x43, 1, 0x54); // channel 1, LSB only, mode 2
    pit.write(0x41, 1, 0x12);
    expect(pit.read(0x41, 1)).toBe(0x12);
    pit.write(0x43, 1, 0x64); // MSB only
    pit.write(0x41, 1, 0x12);
    expect(pit.read(0x41, 1)).toBe(0x12);
    pit.advanceTo(pit.tick + 1);
    pit.write(0x43, 1, 0x74);
    pit.write(0x41, 1, 0x00);
    pit.write(0x41, 1, 0x12);
    pit.advanceTo(pit.tick + 1);
    expect(readCount(pit, 1)).toBe(0x11ff);
  });

  it("latches status and count with the read-back command, status first", () => {
    const pit = new Pit8254();
    pit.write(0x43, 1, 0xb0); // channel 2, LSB/MSB, mode 0
    pit.write(0x43, 1, 0xe8); // read back the status of channel 2
    expect(pit.read(0x42, 1)).toBe(0x70); // OUT low, null count, RW=3, mode 0
    pit.write(0x61, 1, 0x01);
    pit.write(0x42, 1, 0x10);
    pit.write(0x42, 1, 0x00);
    pit.advanceTo(pit.tick + 4);
    pit.write(0x43, 1, 0xc8);
    expect(pit.read(0x42, 1)).toBe(0x30);
    expect(pit.read(0x42, 1)).toBe(0x0c);
    expect(pit.read(0x42, 1)).toBe(0x00);
    pit.write(0x43, 1, 0xe8); // status only, latched now
    pit.advanceTo(pit.tick + 100);
    pit.write(0x43, 1, 0xe8); // ignored: the first status is still unread
    expect(pit.read(0x42, 1)).toBe(0x30);
    pit.write(0x43, 1, 0xe8);
    expect(pit.read(0x42, 1)).toBe(0xb0); // OUT high now
  });

  it("reports null count until a mode 2 change reaches the counting element", () => {
    const pit = new Pit8254();
    program(pit, 0, 2, 100);
    pit.write(0x43, 1, 0xe2);
    expect(pit.read(0x40, 1) & 0x40).toBe(0);
    pit.write(0x40, 1, 50);
    pit.write(0x40, 1, 0);
    pit.write(0x43, 1, 0xe2);
    expect(pit.read(0x40, 1) & 0x40).toBe(0x40);
    pit.advanceTo(100);
    pit.write(0x43, 1, 0xe2);
    expect(pit.read(0x40, 1) & 0x40).toBe(0);
  });

  it("emits only the last period's edges when time leaps over many periods", () => {
    const { pit, edges } = withEdges();
    program(pit, 0, 2, 100);
    pit.advanceTo(1_000_050);
    expect(edges).toEqual([[0, true], [999_999, false], [1_000_000, true]]);
    expect(pit.nextEventTick()).toBe(1_000_099);
  });

  it("brings itself up to date from the machine clock on each port access", () => {
    let now = 0;
    const pit = new Pit8254({ clock: () => now });
    program(pit, 0, 2, 1000);
    now = 400;
    expect(readCount(pit, 0)).toBe(600);
  });

  it("round-trips its state through save and restore, and continues identically", () => {
    const a = withEdges();
    program(a.pit, 0, 2, 1000);
    program(a.pit, 2, 0, 5000);
    a.pit.write(0x61, 1, 0x03);
    a.pit.advanceTo(1234);
    a.pit.write(0x43, 1, 0x80); // latch channel 2
    a.pit.read(0x42, 1);
    const saved = a.pit.save();
    const b = withEdges();
    b.pit.restore(JSON.parse(JSON.stringify(saved)));
    expect(b.pit.save()).toEqual(saved);
    a.pit.advanceTo(5000);
    b.pit.advanceTo(5000);
    expect(b.edges).toEqual(a.edges.filter(([t]) => t > 1234));
    expect(b.pit.read(0x42, 1)).toBe(a.pit.read(0x42, 1));
    expect(b.pit.save()).toEqual(a.pit.save());
  });
});

describe("guest time and PIT ticks", () => {
  // The oracle: the same conversions in exact integer arithmetic.
  const tickOf = (ns: number) => Number((BigInt(ns) * BigInt(PIT_HZ)) / 1_000_000_000n);
  const nsOf = (tick: number) => Number((BigInt(tick) * 1_000_000_000n + BigInt(PIT_HZ) - 1n) / BigInt(PIT_HZ));
  // Past 2^53 / PIT_HZ ns (about 7.5 s) ns × PIT_HZ is no longer exact in a double.
  const times = [0, 1, 837, 838, 999_999_999, 1e9, 7_549_000_000, 7_550_000_000, 7_600_000_001, 60e9 + 123_456_789,
    15_478_437_489, 3600e9 - 1, 86_400e9 + 987_654_321, 2 ** 53 - 1];

  it("finds the last whole tick at any guest time, past 7.5 s as before it", () => {
    for (const ns of times) expect(pitTickAt(ns), `ns ${ns}`).toBe(tickOf(ns));
    // The last nanosecond before tick 18,468,593 (15.5 s): there ns × PIT_HZ / 1e9 in doubles
    // rounds up to that tick.
    const ns = 15_478_437_489;
    expect(Math.floor((ns * PIT_HZ) / 1e9)).not.toBe(tickOf(ns));
    expect(pitTickAt(ns)).toBe(tickOf(ns));
  });

  it("puts a tick at the first nanosecond that reaches it, past 7.5 s as before it", () => {
    for (const ns of times) {
      const tick = tickOf(ns);
      expect(nsOfPitTick(tick), `tick ${tick}`).toBe(nsOf(tick));
      expect(pitTickAt(nsOfPitTick(tick))).toBe(tick);
      if (nsOfPitTick(tick) > 0) expect(pitTickAt(nsOfPitTick(tick) - 1)).toBe(tick - 1);
    }
  });
});
