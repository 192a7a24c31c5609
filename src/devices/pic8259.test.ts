import { describe, expect, it } from "vitest";
import { irqUnmasked, Pic8259 } from "./pic8259.js";

/** Linux's init_8259A: master at vector 0x30, slave at 0x38, cascade on IR2, normal EOI. */
function linuxInit(pic: Pic8259, opts: { autoEoi?: boolean } = {}): void {
  pic.write(0x21, 1, 0xff);
  pic.write(0x20, 1, 0x11);
  pic.write(0x21, 1, 0x30);
  pic.write(0x21, 1, 0x04);
  pic.write(0x21, 1, opts.autoEoi ? 0x03 : 0x01);
  pic.write(0xa0, 1, 0x11);
  pic.write(0xa1, 1, 0x38);
  pic.write(0xa1, 1, 0x02);
  pic.write(0xa1, 1, 0x01);
  pic.write(0x21, 1, 0x00);
  pic.write(0xa1, 1, 0x00);
}

function readIsr(pic: Pic8259, port: number): number {
  pic.write(port, 1, 0x0b);
  const v = pic.read(port, 1);
  pic.write(port, 1, 0x0a);
  return v;
}

describe("the 8259A pair", () => {
  it("says a line can interrupt exactly when a request on it raises INTR", () => {
    // Oracle: the chip itself, driven line by line from the states a guest leaves it in.
    const masks: [number, number][] = [[0xff, 0xff], [0xef, 0xff], [0xfb, 0xfe], [0xff, 0xfe], [0xfa, 0x00], [0x00, 0x00]];
    for (const [m, sl] of masks) {
      for (let irq = 0; irq < 16; irq++) {
        if (irq === 2) continue;
        const pic = new Pic8259();
        linuxInit(pic);
        pic.write(0x21, 1, m);
        pic.write(0xa1, 1, sl);
        const open = irqUnmasked(pic.save(), irq);
        pic.setIrq(irq, true);
        expect(open, `irq ${irq} masks ${m.toString(16)}/${sl.toString(16)}`).toBe(pic.hasInterrupt());
      }
    }
    // Mid-initialization (ICW1 written, no ICW2 yet) nothing can interrupt.
    const pic = new Pic8259();
    linuxInit(pic);
    pic.write(0x20, 1, 0x11);
    expect(irqUnmasked(pic.save(), 0)).toBe(false);
  });

  it("reads back the mask register, which is how Linux probes for the PIC", () => {
    const pic = new Pic8259();
    pic.write(0xa1, 1, 0xff);
    pic.write(0x21, 1, 0xa5);
    expect(pic.read(0x21, 1)).toBe(0xa5);
    expect(pic.read(0xa1, 1)).toBe(0xff);
  });

  it("delivers a master IRQ as base + line and moves it from IRR to ISR", () => {
    const pic = new Pic8259();
    linuxInit(pic);
    expect(pic.hasInterrupt()).toBe(false);
    pic.setIrq(0, true);
    expect(pic.hasInterrupt()).toBe(true);
    expect(pic.read(0x20, 1)).toBe(0x01); // IRR
    expect(pic.acknowledge()).toBe(0x30);
    expect(pic.read(0x20, 1)).toBe(0x00);
    expect(readIsr(pic, 0x20)).toBe(0x01);
    expect(pic.hasInterrupt()).toBe(false);
  });

  it("signals INTR through the intr line only when it changes", () => {
    const seen: boolean[] = [];
    const pic = new Pic8259({ intr: (l) => seen.push(l) });
    linuxInit(pic);
    pic.setIrq(4, true);
    pic.setIrq(3, true);
    pic.acknowledge();
    expect(seen).toEqual([true, false]);
  });

  it("routes a slave IRQ through the cascade and needs EOIs on both chips", () => {
    const pic = new Pic8259();
    linuxInit(pic);
    pic.setIrq(12, true);
    expect(pic.hasInterrupt()).toBe(true);
    expect(pic.acknowledge()).toBe(0x3c);
    expect(readIsr(pic, 0x20)).toBe(0x04);
    expect(readIsr(pic, 0xa0)).toBe(0x10);
    pic.setIrq(12, false);
    pic.setIrq(12, true);
    expect(pic.hasInterrupt()).toBe(false); // blocked by the slave's ISR
    pic.write(0xa0, 1, 0x60 | 4); // specific EOI, IR4 on the slave
    expect(pic.hasInterrupt()).toBe(false); // still blocked by the master's IR2 in service
    pic.write(0x20, 1, 0x60 | 2);
    expect(pic.hasInterrupt()).toBe(true);
    expect(pic.acknowledge()).toBe(0x3c);
  });

  it("maps a device on IRQ2 to IRQ9, as the AT bus does", () => {
    const pic = new Pic8259();
    linuxInit(pic);
    pic.setIrq(2, true);
    expect(pic.acknowledge()).toBe(0x39);
  });

  it("resolves fixed priority: lower line wins, in-service levels block lower ones only", () => {
    const pic = new Pic8259();
    linuxInit(pic);
    pic.setIrq(5, true);
    pic.setIrq(3, true);
    expect(pic.acknowledge()).toBe(0x33);
    expect(pic.hasInterrupt()).toBe(false); // IR5 is below IR3 in service
    pic.setIrq(1, true);
    expect(pic.acknowledge()).toBe(0x31); // IR1 preempts IR3
    pic.write(0x20, 1, 0x20); // non-specific EOI clears the highest: IR1
    expect(readIsr(pic, 0x20)).toBe(0x08);
    pic.write(0x20, 1, 0x20);
    expect(pic.acknowledge()).toBe(0x35);
  });

  it("masks lines in the IMR without losing their edge", () => {
    const pic = new Pic8259();
    linuxInit(pic);
    pic.write(0x21, 1, 0x01);
    pic.setIrq(0, true);
    expect(pic.hasInterrupt()).toBe(false);
    pic.write(0x21, 1, 0x00);
    expect(pic.acknowledge()).toBe(0x30);
  });

  it("latches an edge until INTA even if the line falls, and needs a new edge for the next one", () => {
    const pic = new Pic8259();
    linuxInit(pic);
    pic.setIrq(4, true);
    pic.setIrq(4, false);
    expect(pic.hasInterrupt()).toBe(true);
    expect(pic.acknowledge()).toBe(0x34);
    pic.write(0x20, 1, 0x20);
    pic.setIrq(4, true);
    expect(pic.acknowledge()).toBe(0x34);
    pic.write(0x20, 1, 0x20);
    pic.setIrq(4, true); // still high: no new edge
    expect(pic.hasInterrupt()).toBe(false);
  });

  it("follows the line in level mode (ELCR) and asks again after EOI while it stays high", () => {
    const pic = new Pic8259();
    linuxInit(pic);
    pic.write(0x4d1, 1, 0xff);
    expect(pic.read(0x4d1, 1)).toBe(0xde); // IRQ8 and IRQ13 are edge-only
    pic.write(0x4d0, 1, 0xff);
    expect(pic.read(0x4d0, 1)).toBe(0xf8); // IRQ0-2 are edge-only
    pic.setIrq(11, true);
    expect(pic.acknowledge()).toBe(0x3b);
    pic.write(0xa0, 1, 0x20);
    pic.write(0x20, 1, 0x20);
    expect(pic.hasInterrupt()).toBe(true);
    pic.setIrq(11, false);
    expect(pic.hasInterrupt()).toBe(false);
  });

  it("treats every input as level-triggered with ICW1.LTIM", () => {
    const pic = new Pic8259();
    pic.write(0x20, 1, 0x19);
    pic.write(0x21, 1, 0x08);
    pic.write(0x21, 1, 0x04);
    pic.write(0x21, 1, 0x01);
    pic.setIrq(0, true);
    pic.setIrq(0, false);
    expect(pic.hasInterrupt()).toBe(false);
  });

  it("answers a spurious IRQ7 with nothing pending and sets nothing in service", () => {
    const pic = new Pic8259();
    linuxInit(pic);
    expect(pic.acknowledge()).toBe(0x37);
    expect(readIsr(pic, 0x20)).toBe(0);
  });

  it("answers a spurious IRQ15 when the slave's request vanished, leaving the master's IR2 in service", () => {
    const pic = new Pic8259();
    linuxInit(pic);
    pic.write(0xa1, 1, 0x00);
    pic.write(0x4d1, 1, 0x08); // IRQ11 level-triggered so it can vanish
    pic.setIrq(11, true);
    expect(pic.hasInterrupt()).toBe(true);
    // The request disappears between INTR and INTA: model it by masking the slave's IR3
    // while keeping the master's view, which is what a vanishing level does at the wrong time.
    const s = pic.save();
    s.slave.imr = 0x08;
    pic.restore(s);
    expect(pic.acknowledge()).toBe(0x3f);
    expect(readIsr(pic, 0x20)).toBe(0x04);
    expect(readIsr(pic, 0xa0)).toBe(0x00);
  });

  it("completes interrupts itself in auto-EOI mode", () => {
    const pic = new Pic8259();
    linuxInit(pic, { autoEoi: true });
    pic.setIrq(3, true);
    pic.setIrq(5, true);
    expect(pic.acknowledge()).toBe(0x33);
    expect(readIsr(pic, 0x20)).toBe(0);
    expect(pic.acknowledge()).toBe(0x35);
  });

  it("rotates priority on a rotating non-specific EOI and by set-priority", () => {
    const pic = new Pic8259();
    linuxInit(pic);
    pic.setIrq(0, true);
    expect(pic.acknowledge()).toBe(0x30);
    pic.write(0x20, 1, 0xa0); // rotate on non-specific EOI: IR0 becomes lowest
    pic.setIrq(0, false);
    pic.setIrq(0, true);
    pic.setIrq(6, true);
    expect(pic.acknowledge()).toBe(0x36); // IR1 is now highest, so IR6 outranks IR0
    pic.write(0x20, 1, 0x20);
    expect(pic.acknowledge()).toBe(0x30);
    pic.write(0x20, 1, 0x20);
    pic.write(0x20, 1, 0xc0 | 4); // set priority: IR4 lowest, IR5 highest
    pic.setIrq(3, true);
    pic.setIrq(5, true);
    expect(pic.acknowledge()).toBe(0x35);
  });

  it("rotates in auto-EOI mode when asked", () => {
    const pic = new Pic8259();
    linuxInit(pic, { autoEoi: true });
    pic.write(0x20, 1, 0x80);
    pic.setIrq(1, true);
    expect(pic.acknowledge()).toBe(0x31);
    pic.setIrq(0, true);
    pic.setIrq(3, true);
    expect(pic.acknowledge()).toBe(0x33); // IR1 lowest now: IR2.. first, IR0 last
  });

  it("answers a poll with 0x80 | level and acknowledges it, or 0 with nothing pending", () => {
    const pic = new Pic8259();
    linuxInit(pic);
    pic.write(0x20, 1, 0x0c);
    expect(pic.read(0x20, 1)).toBe(0);
    pic.setIrq(6, true);
    pic.write(0x20, 1, 0x0c);
    expect(pic.read(0x20, 1)).toBe(0x86);
    expect(readIsr(pic, 0x20)).toBe(0x40);
    expect(pic.hasInterrupt()).toBe(false);
  });

  it("lets lower levels through in special mask mode when the in-service level is masked", () => {
    const pic = new Pic8259();
    linuxInit(pic);
    pic.setIrq(3, true);
    expect(pic.acknowledge()).toBe(0x33);
    pic.setIrq(5, true);
    expect(pic.hasInterrupt()).toBe(false);
    pic.write(0x21, 1, 0x08);
    pic.write(0x20, 1, 0x68); // set special mask mode
    expect(pic.hasInterrupt()).toBe(true);
    expect(pic.acknowledge()).toBe(0x35);
    pic.write(0x20, 1, 0x48); // reset special mask mode
    pic.write(0x20, 1, 0x65);
    pic.write(0x20, 1, 0x63);
    expect(readIsr(pic, 0x20)).toBe(0);
  });

  it("lets a higher slave IRQ through the in-service cascade in special fully nested mode", () => {
    const pic = new Pic8259();
    linuxInit(pic);
    pic.write(0x20, 1, 0x11);
    pic.write(0x21, 1, 0x30);
    pic.write(0x21, 1, 0x04);
    pic.write(0x21, 1, 0x11); // SFNM
    pic.setIrq(12, true);
    expect(pic.acknowledge()).toBe(0x3c);
    pic.setIrq(8, true);
    expect(pic.hasInterrupt()).toBe(true);
    expect(pic.acknowledge()).toBe(0x38);
  });

  it("resets IMR, ISR and edge requests on ICW1", () => {
    const pic = new Pic8259();
    linuxInit(pic);
    pic.setIrq(3, true);
    pic.acknowledge();
    pic.setIrq(4, true);
    pic.write(0x21, 1, 0x55);
    pic.write(0x20, 1, 0x11);
    expect(pic.read(0x21, 1)).toBe(0);
    expect(pic.read(0x20, 1)).toBe(0);
    expect(pic.hasInterrupt()).toBe(false);
  });

  it("round-trips its state through save and restore, and continues identically", () => {
    const a = new Pic8259();
    linuxInit(a);
    a.write(0x4d1, 1, 0x08);
    a.setIrq(11, true);
    a.setIrq(3, true);
    a.acknowledge();
    a.write(0x20, 1, 0x0b);
    a.write(0x21, 1, 0x10);
    const saved = a.save();
    const b = new Pic8259();
    b.restore(JSON.parse(JSON.stringify(saved)));
    expect(b.save()).toEqual(saved);
    expect(b.read(0x20, 1)).toBe(a.read(0x20, 1));
    expect(b.hasInterrupt()).toBe(a.hasInterrupt());
    expect(b.acknowledge()).toBe(a.acknowledge());
    expect(b.save()).toEqual(a.save());
  });
});
