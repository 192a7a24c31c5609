import { describe, expect, it } from "vitest";
import { Rtc146818, nsToRtcTicks, rtcTicksToNs } from "./rtc146818.js";

const SEC = 1e9;
// The host's calendar is an oracle the test may use; the chip itself never does.
const utc = (y: number, mo: number, d: number, h = 0, mi = 0, s = 0) => Date.UTC(y, mo - 1, d, h, mi, s) / 1000;

function cmos(rtc: Rtc146818, reg: number): number {
  rtc.write(0x70, 1, reg);
  return rtc.read(0x71, 1);
}
function setCmos(rtc: Rtc146818, reg: number, v: number): void {
  rtc.write(0x70, 1, reg);
  rtc.write(0x71, 1, v);
}
function clockRegs(rtc: Rtc146818): number[] {
  return [9, 8, 7, 4, 2, 0].map((r) => cmos(rtc, r));
}

describe("the MC146818 RTC", () => {
  it("starts from the wall-clock time it is given, in BCD and 24-hour format", () => {
    const rtc = new Rtc146818({ epochSeconds: utc(2024, 2, 29, 13, 45, 59) });
    expect(clockRegs(rtc)).toEqual([0x24, 0x02, 0x29, 0x13, 0x45, 0x59]);
    expect(cmos(rtc, 0x06)).toBe(5); // a Thursday, with Sunday = 1
    expect(cmos(rtc, 0x32)).toBe(0x20);
    expect(cmos(rtc, 0x0b)).toBe(0x02);
    expect(cmos(rtc, 0x0d)).toBe(0x80);
  });

  it("keeps binary and 12-hour formats when configured for them", () => {
    const rtc = new Rtc146818({ epochSeconds: utc(1999, 12, 31, 23, 59, 58), binary: true, hour12: true });
    expect(clockRegs(rtc)).toEqual([99, 12, 31, 0x80 | 11, 59, 58]);
    expect(cmos(rtc, 0x32)).toBe(19);
  });

  it("advances only with the virtual clock, carrying into the next century", () => {
    const rtc = new Rtc146818({ epochSeconds: utc(1999, 12, 31, 23, 59, 58) });
    rtc.advanceTo(1.5 * SEC);
    expect(clockRegs(rtc)).toEqual([0x99, 0x12, 0x31, 0x23, 0x59, 0x59]);
    rtc.advanceTo(2 * SEC);
    expect(clockRegs(rtc)).toEqual([0x00, 0x01, 0x01, 0x00, 0x00, 0x00]);
    expect(cmos(rtc, 0x32)).toBe(0x20);
    rtc.advanceTo(2 * SEC + 86400 * 59 * SEC);
    expect(clockRegs(rtc).slice(0, 3)).toEqual([0x00, 0x02, 0x29]); // 2000 is a leap year
    expect(rtc.epochSeconds()).toBe(utc(2000, 2, 29));
  });

  it("starts its divider chain at the phase it is given: the first update and periodic interrupt come that much sooner", () => {
    const phase = 12_000; // ticks of 1/32768 s into the first second at power-on
    const on = (p: number) => {
      const rtc = new Rtc146818({ epochSeconds: utc(2024, 1, 1), phaseTicks: p });
      setCmos(rtc, 0x0b, 0x02 | 0x40 | 0x10); // 24h, PIE, UIE: 1024 Hz periodic and the update
      return rtc;
    };
    const zero = on(0);
    const shifted = on(phase);
    // The update cycle: one second after power-on at phase 0, (32768 - phase) ticks at `phase`.
    shifted.advanceTo(rtcTicksToNs(32768 - phase) - 1);
    expect(clockRegs(shifted).at(-1)).toBe(0x00);
    shifted.advanceTo(rtcTicksToNs(32768 - phase));
    expect(clockRegs(shifted).at(-1)).toBe(0x01);
    zero.advanceTo(rtcTicksToNs(32768 - phase));
    expect(clockRegs(zero).at(-1)).toBe(0x00);
    // Periodic interrupts at 1024 Hz (every 32 ticks) fall on the shifted chain's boundaries.
    expect(nsToRtcTicks(on(0).nextEventNs())).toBe(32);
    expect(nsToRtcTicks(on(phase).nextEventNs())).toBe(32 - (phase % 32));
    expect(() => new Rtc146818({ epochSeconds: 0, phaseTicks: 32768 })).toThrow(/phase/);
  });

  it("shows update-in-progress in the last 244 us before each update", () => {
    const rtc = new Rtc146818({ epochSeconds: 0 });
    rtc.advanceTo(SEC - 300_000);
    expect(cmos(rtc, 0x0a) & 0x80).toBe(0);
    rtc.advanceTo(SEC - 200_000);
    expect(cmos(rtc, 0x0a) & 0x80).toBe(0x80);
    expect(cmos(rtc, 0x00)).toBe(0x00);
    rtc.advanceTo(SEC);
    expect(cmos(rtc, 0x0a) & 0x80).toBe(0);
    expect(cmos(rtc, 0x00)).toBe(0x01);
  });

  it("raises IRQ8 at the periodic rate while PIE is set, and reading C clears it", () => {
    const lines: boolean[] = [];
    const rtc = new Rtc146818({ epochSeconds: 0, irq: (l) => lines.push(l) });
    setCmos(rtc, 0x0b, 0x42); // PIE, 24h
    expect(rtc.nextEventNs()).toBe(976_563); // 1024 Hz: 976.5625 us, rounded up
    rtc.advanceTo(976_562);
    expect(lines).toEqual([]);
    rtc.advanceTo(976_563);
    expect(lines).toEqual([true]);
    expect(cmos(rtc, 0x0c)).toBe(0xc0);
    expect(lines).toEqual([true, false]);
    expect(cmos(rtc, 0x0c)).toBe(0x00);
    setCmos(rtc, 0x0a, 0x2f); // 2 Hz
    expect(rtc.nextEventNs()).toBe(SEC / 2);
  });

  it("sets PF without interrupting when PIE is clear", () => {
    const lines: boolean[] = [];
    const rtc = new Rtc146818({ epochSeconds: 0, irq: (l) => lines.push(l) });
    rtc.advanceTo(SEC / 100);
    expect(lines).toEqual([]);
    expect(cmos(rtc, 0x0c) & 0xc0).toBe(0x40);
  });

  it("raises the update-ended interrupt once a second with UIE", () => {
    const lines: boolean[] = [];
    const rtc = new Rtc146818({ epochSeconds: 0, irq: (l) => lines.push(l) });
    setCmos(rtc, 0x0b, 0x12);
    expect(rtc.nextEventNs()).toBe(SEC);
    rtc.advanceTo(SEC);
    expect(lines).toEqual([true]);
    expect(cmos(rtc, 0x0c)).toBe(0xd0); // IRQF and UF; PF is set too, without PIE
    expect(lines).toEqual([true, false]);
  });

  it("raises the alarm interrupt when the time matches, with 0xC0 as don't-care", () => {
    const rtc = new Rtc146818({ epochSeconds: utc(2024, 1, 1, 10, 0, 0) });
    setCmos(rtc, 0x01, 0x03);
    setCmos(rtc, 0x03, 0xc0);
    setCmos(rtc, 0x05, 0xff);
    setCmos(rtc, 0x0b, 0x22);
    rtc.advanceTo(2 * SEC);
    expect(cmos(rtc, 0x0c) & 0xa0).toBe(0);
    rtc.advanceTo(3 * SEC);
    expect(cmos(rtc, 0x0c) & 0xa0).toBe(0xa0);
  });

  it("stops updating while SET is on, clearing UIE, and keeps the time the guest writes", () => {
    const rtc = new Rtc146818({ epochSeconds: 0 });
    // Linux's mc146818_set_time: SET, divider reset, write the registers, restore.
    setCmos(rtc, 0x0b, 0x80 | 0x10 | 0x02);
    expect(cmos(rtc, 0x0b)).toBe(0x82);
    setCmos(rtc, 0x0a, 0x70);
    setCmos(rtc, 0x09, 0x30);
    setCmos(rtc, 0x08, 0x06);
    setCmos(rtc, 0x07, 0x15);
    setCmos(rtc, 0x04, 0x12);
    setCmos(rtc, 0x02, 0x00);
    setCmos(rtc, 0x00, 0x00);
    setCmos(rtc, 0x32, 0x20);
    rtc.advanceTo(5 * SEC);
    expect(cmos(rtc, 0x00)).toBe(0x00);
    setCmos(rtc, 0x0b, 0x02);
    setCmos(rtc, 0x0a, 0x26); // divider runs again: first update half a second later
    rtc.advanceTo(5.4 * SEC);
    expect(cmos(rtc, 0x00)).toBe(0x00);
    rtc.advanceTo(5.5 * SEC);
    expect(cmos(rtc, 0x00)).toBe(0x01);
    expect(rtc.epochSeconds()).toBe(utc(2030, 6, 15, 12, 0, 1));
  });

  it("fills the PC's CMOS memory-size fields, checksum and equipment byte", () => {
    const rtc = new Rtc146818({ epochSeconds: 0, memoryBytes: 48 * 1024 * 1024 });
    expect(cmos(rtc, 0x15) | (cmos(rtc, 0x16) << 8)).toBe(640);
    expect(cmos(rtc, 0x17) | (cmos(rtc, 0x18) << 8)).toBe(47 * 1024);
    expect(cmos(rtc, 0x30) | (cmos(rtc, 0x31) << 8)).toBe(47 * 1024);
    expect(cmos(rtc, 0x34) | (cmos(rtc, 0x35) << 8)).toBe((32 * 1024 * 1024) / 65536);
    let sum = 0;
    for (let i = 0x10; i <= 0x2d; i++) sum += cmos(rtc, i);
    expect((cmos(rtc, 0x2e) << 8) | cmos(rtc, 0x2f)).toBe(sum);
    // The extended-memory fields saturate at 64 MB; 0x34/0x35 count 64 KB blocks above 16 MB.
    const big = new Rtc146818({ epochSeconds: 0, memoryBytes: 3 * 1024 * 1024 * 1024 });
    expect(cmos(big, 0x17) | (cmos(big, 0x18) << 8)).toBe(0xffff);
    expect(cmos(big, 0x34) | (cmos(big, 0x35) << 8)).toBe((3 * 1024 - 16) * 16);
  });

  it("keeps the NMI mask bit of the index port and the other RAM bytes", () => {
    const rtc = new Rtc146818({ epochSeconds: 0 });
    rtc.write(0x70, 1, 0x80 | 0x40);
    expect(rtc.nmiDisabled).toBe(true);
    rtc.write(0x71, 1, 0x5a);
    rtc.write(0x70, 1, 0x40);
    expect(rtc.nmiDisabled).toBe(false);
    expect(rtc.read(0x71, 1)).toBe(0x5a);
    setCmos(rtc, 0x0d, 0);
    setCmos(rtc, 0x0c, 0xff);
    expect(cmos(rtc, 0x0d)).toBe(0x80);
    expect(cmos(rtc, 0x0c)).toBe(0);
  });

  it("reads the machine clock on port access when given one", () => {
    let ns = 0;
    const rtc = new Rtc146818({ epochSeconds: 0, clock: () => ns });
    ns = 61 * SEC;
    expect(cmos(rtc, 0x02)).toBe(0x01);
    expect(cmos(rtc, 0x00)).toBe(0x01);
  });

  it("converts between nanoseconds and 32.768 kHz ticks without drift", () => {
    expect(nsToRtcTicks(SEC)).toBe(32768);
    expect(nsToRtcTicks(1e6 * SEC)).toBe(32768e6);
    for (const t of [1, 3, 32767, 32769, 123_456_789]) {
      expect(nsToRtcTicks(rtcTicksToNs(t))).toBe(t);
      expect(nsToRtcTicks(rtcTicksToNs(t) - 1)).toBe(t - 1);
    }
  });

  it("round-trips its state through save and restore, and continues identically", () => {
    const a = new Rtc146818({ epochSeconds: utc(2023, 5, 6, 7, 8, 9), memoryBytes: 64 << 20 });
    setCmos(a, 0x0b, 0x52);
    a.advanceTo(1.25 * SEC);
    a.write(0x70, 1, 0x8c);
    const saved = a.save();
    const b = new Rtc146818({ epochSeconds: 0 });
    b.restore(JSON.parse(JSON.stringify(saved)));
    expect(b.save()).toEqual(saved);
    a.advanceTo(3.7 * SEC);
    b.advanceTo(3.7 * SEC);
    expect(b.read(0x71, 1)).toBe(a.read(0x71, 1));
    expect(clockRegs(b)).toEqual(clockRegs(a));
    expect(b.save()).toEqual(a.save());
  });
});
