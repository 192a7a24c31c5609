import { describe, expect, it } from "vitest";
import { I8042, type I8042Options } from "./i8042.js";

function kbc(opts: I8042Options = {}) {
  const irq1: boolean[] = [];
  const irq12: boolean[] = [];
  const a20: boolean[] = [];
  let resets = 0;
  const k = new I8042({
    irq1: (l) => irq1.push(l),
    irq12: (l) => irq12.push(l),
    a20: (l) => a20.push(l),
    reset: () => resets++,
    ...opts,
  });
  return { k, irq1, irq12, a20, resets: () => resets };
}

const status = (k: I8042) => k.read(0x64, 1);
const cmd = (k: I8042, c: number) => k.write(0x64, 1, c);
const data = (k: I8042, v: number) => k.write(0x60, 1, v);

/** Reads bytes while OBF is set, as i8042_flush does. */
function drain(k: I8042): { byte: number; status: number }[] {
  const got: { byte: number; status: number }[] = [];
  for (let s = status(k); s & 1 && got.length < 32; s = status(k)) got.push({ byte: k.read(0x60, 1), status: s });
  return got;
}
const bytes = (k: I8042) => drain(k).map((e) => e.byte);

/** i8042_command: the command, its parameter bytes, then the reply bytes. */
function command(k: I8042, c: number, params: number[] = []): number[] {
  cmd(k, c);
  for (const p of params) data(k, p);
  return bytes(k);
}

describe("the 8042 keyboard controller", () => {
  it("passes Linux's controller check: self-test, a stable CTR, and no keylock", () => {
    const { k } = kbc();
    expect(status(k) & 0x01).toBe(0);
    expect(status(k) & 0x10).toBe(0x10); // not inhibited
    expect(command(k, 0xaa)).toEqual([0x55]);
    const ctr = command(k, 0x20);
    expect(command(k, 0x20)).toEqual(ctr);
    expect(ctr[0] & 0x40).toBe(0); // untranslated: Linux goes direct
    command(k, 0x60, [(ctr[0] | 0x10) & ~0x01]);
    expect(command(k, 0x20)).toEqual([(ctr[0] | 0x10) & ~0x01]);
  });

  it("loops a byte back through the aux port and raises IRQ12 for it, as the AUX check needs", () => {
    const { k, irq12 } = kbc();
    const s0 = (cmd(k, 0xd3), data(k, 0x5a), drain(k));
    expect(s0).toEqual([{ byte: 0x5a, status: expect.any(Number) }]);
    expect(s0[0].status & 0x21).toBe(0x21);
    expect(command(k, 0xa9)).toEqual([0x00]);
    // Bit assignment test: 0xA7 sets CTR's aux-disable bit, 0xA8 clears it.
    cmd(k, 0xa7);
    expect(command(k, 0x20)[0] & 0x20).toBe(0x20);
    cmd(k, 0xa8);
    expect(command(k, 0x20)[0] & 0x20).toBe(0);
    // IRQ delivery test.
    command(k, 0x60, [0x07]);
    cmd(k, 0xd3);
    data(k, 0xa5);
    expect(irq12).toEqual([true]);
    expect(k.read(0x60, 1)).toBe(0xa5);
    expect(irq12).toEqual([true, false]);
  });

  it("answers atkbd's probe like an MF2 keyboard, one IRQ1 edge per byte", () => {
    const { k, irq1 } = kbc();
    data(k, 0xf2);
    expect(irq1).toEqual([true]);
    expect(k.read(0x60, 1)).toBe(0xfa);
    expect(k.read(0x60, 1)).toBe(0xab);
    expect(k.read(0x60, 1)).toBe(0x83);
    expect(irq1).toEqual([true, false, true, false, true, false]);
    for (const c of [0xf5, 0xf4, 0xf6]) {
      data(k, c);
      expect(bytes(k)).toEqual([0xfa]);
    }
    data(k, 0xed);
    data(k, 0x07);
    expect(bytes(k)).toEqual([0xfa, 0xfa]);
    data(k, 0xf0);
    data(k, 0x00);
    expect(bytes(k)).toEqual([0xfa, 0xfa, 0x02]);
    data(k, 0xf3);
    data(k, 0x20);
    expect(bytes(k)).toEqual([0xfa, 0xfa]);
    data(k, 0xee);
    expect(bytes(k)).toEqual([0xee]);
    data(k, 0xff);
    expect(bytes(k)).toEqual([0xfa, 0xaa]);
    data(k, 0x12);
    expect(bytes(k)).toEqual([0xfe]);
  });

  it("answers with 0xFE and the timeout bit when no keyboard is plugged in", () => {
    const { k } = kbc({ keyboard: false });
    data(k, 0xf2);
    const got = drain(k);
    expect(got.map((e) => e.byte)).toEqual([0xfe]);
    expect(got[0].status & 0x60).toBe(0x40);
  });

  it("answers mouse commands with 0xFE, aux data and the timeout bit: there is no mouse", () => {
    const { k } = kbc();
    cmd(k, 0xd4);
    data(k, 0xf2);
    const got = drain(k);
    expect(got.map((e) => e.byte)).toEqual([0xfe]);
    expect(got[0].status & 0x60).toBe(0x60);
  });

  it("holds keyboard bytes while the keyboard interface is disabled", () => {
    const { k } = kbc();
    data(k, 0xf2);
    k.read(0x60, 1);
    cmd(k, 0xad);
    expect(bytes(k)).toEqual([0xab]); // already in the controller's buffer
    cmd(k, 0xae);
    expect(bytes(k)).toEqual([0x83]);
  });

  it("delivers scancodes only while the keyboard scans", () => {
    const { k } = kbc();
    k.keyboardInput([0x1c, 0xf0, 0x1c]);
    expect(bytes(k)).toEqual([0x1c, 0xf0, 0x1c]);
    data(k, 0xf5);
    bytes(k);
    k.keyboardInput([0x1c]);
    expect(bytes(k)).toEqual([]);
  });

  it("pulses the reset line on 0xFE and on an output-port write with bit 0 clear", () => {
    const h = kbc();
    cmd(h.k, 0xfe);
    expect(h.resets()).toBe(1);
    cmd(h.k, 0xff); // pulses nothing
    expect(h.resets()).toBe(1);
    cmd(h.k, 0xd1);
    data(h.k, 0x00);
    expect(h.resets()).toBe(2);
  });

  it("drives A20 from output-port bit 1", () => {
    const h = kbc();
    expect(h.k.a20).toBe(true);
    cmd(h.k, 0xd1);
    data(h.k, 0x01);
    expect(h.a20).toEqual([false]);
    expect(command(h.k, 0xd0)).toEqual([0x01]);
    cmd(h.k, 0xd1);
    data(h.k, 0x03);
    expect(h.a20).toEqual([false, true]);
    expect(h.resets()).toBe(0);
  });

  it("puts 0xD2 bytes out as keyboard data and keeps the command/data status bit", () => {
    const { k, irq1 } = kbc();
    cmd(k, 0xd2);
    expect(status(k) & 0x08).toBe(0x08);
    data(k, 0x42);
    expect(status(k) & 0x29).toBe(0x01);
    expect(irq1).toEqual([true]);
    expect(k.read(0x60, 1)).toBe(0x42);
    expect(k.read(0x60, 1)).toBe(0x42); // the port repeats its last byte
  });

  it("reads and writes controller RAM through 0x20-0x3F and 0x60-0x7F", () => {
    const { k } = kbc();
    command(k, 0x65, [0x99]);
    expect(command(k, 0x25)).toEqual([0x99]);
  });

  it("round-trips its state through save and restore, and continues identically", () => {
    const a = kbc();
    data(a.k, 0xf2);
    a.k.read(0x60, 1);
    cmd(a.k, 0xad);
    data(a.k, 0xed); // the pending LED parameter, and re-enabled keyboard
    cmd(a.k, 0xd4);
    const saved = a.k.save();
    const b = kbc();
    b.k.restore(JSON.parse(JSON.stringify(saved)));
    expect(b.k.save()).toEqual(saved);
    data(a.k, 0x01);
    data(b.k, 0x01);
    expect(drain(b.k)).toEqual(drain(a.k));
    expect(b.k.save()).toEqual(a.k.save());
  });
});
