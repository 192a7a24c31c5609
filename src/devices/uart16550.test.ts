import { describe, expect, it } from "vitest";
import { receiveInterrupts, Uart16550 } from "./uart16550.js";

const B = 0x3f8;
const [RBR, IER, IIR, LCR, MCR, LSR, MSR, SCR] = [0, 1, 2, 3, 4, 5, 6, 7].map((r) => B + r);
const FCR = IIR;

function uart(): { u: Uart16550; out: number[]; irqs: boolean[] } {
  const out: number[] = [];
  const irqs: boolean[] = [];
  const u = new Uart16550({ tx: (b) => out.push(b), irq: (l) => irqs.push(l) });
  return { u, out, irqs };
}

const rd = (u: Uart16550, p: number) => u.read(p, 1);
const wr = (u: Uart16550, p: number, v: number) => u.write(p, 1, v);

describe("the 16550A UART", () => {
  it("says a received byte would interrupt exactly when receiving one raises its IRQ", () => {
    // (Without the transmitter-empty interrupt, which would hold the line up already.)
    for (const ier of [0, 1, 4, 5, 0x0d]) {
      for (const mcr of [0, 0x08, 0x0b, 0x18, 0x03]) {
        const { u, irqs } = uart();
        wr(u, IER, ier);
        wr(u, MCR, mcr);
        const would = receiveInterrupts(u.save());
        irqs.length = 0;
        u.receive(0x41);
        expect(would, `IER ${ier} MCR ${mcr}`).toBe(irqs.includes(true));
      }
    }
  });

  it("passes the 8250 driver's autoconfig as a 16550A", () => {
    const { u } = uart();
    // IER scratch test: bits 3:0 stick, nothing else.
    wr(u, IER, 0);
    expect(rd(u, IER) & 0x0f).toBe(0);
    wr(u, IER, 0x0f);
    expect(rd(u, IER) & 0x0f).toBe(0x0f);
    wr(u, IER, 0xff);
    expect(rd(u, IER)).toBe(0x0f); // no UUE bit (not an XScale)
    wr(u, IER, 0);
    // Loopback: RTS|OUT2 come back as CTS|DCD.
    wr(u, MCR, 0x10 | 0x0a);
    expect(rd(u, MSR) & 0xf0).toBe(0x90);
    wr(u, MCR, 0);
    // FIFO present: IIR bits 7:6 read 11; no 64-byte FIFO bit.
    wr(u, FCR, 0x01);
    expect(rd(u, IIR) >> 6).toBe(3);
    wr(u, FCR, 0x21);
    expect(rd(u, IIR) & 0x20).toBe(0);
    // No EFR behind LCR=0xBF: register 2 still reads IIR, which is not 0.
    wr(u, LCR, 0xbf);
    expect(rd(u, IIR)).not.toBe(0);
    wr(u, LCR, 0x03);
    // Scratch register.
    wr(u, SCR, 0x5a);
    expect(rd(u, SCR)).toBe(0x5a);
    // LSR safety check: not 0xff.
    expect(rd(u, LSR)).toBe(0x60);
  });

  it("reasserts THRE when ETBEI is set again, so startup does not mark it UART_BUG_THRE", () => {
    const { u } = uart();
    wr(u, IER, 0x02);
    const iir1 = rd(u, IIR);
    wr(u, IER, 0);
    wr(u, IER, 0x02);
    const iir = rd(u, IIR);
    wr(u, IER, 0);
    expect(iir1 & 0x0f).toBe(0x02);
    expect(iir & 0x0f).toBe(0x02);
  });

  it("shows a THRE interrupt on the TXEN test, so startup does not mark it UART_BUG_TXEN", () => {
    const { u } = uart();
    wr(u, MCR, 0x0b);
    wr(u, IER, 0x02);
    const lsr = rd(u, LSR);
    const iir = rd(u, IIR);
    wr(u, IER, 0);
    expect(lsr & 0x40).toBe(0x40);
    expect(iir & 0x01).toBe(0);
  });

  it("clears the THRE interrupt by reading IIR or writing THR, and raises it again once THR empties", () => {
    const { u, out } = uart();
    wr(u, IER, 0x02);
    expect(rd(u, IIR) & 0x0f).toBe(0x02);
    expect(rd(u, IIR) & 0x0f).toBe(0x01);
    wr(u, RBR, 0x41);
    expect(out).toEqual([0x41]);
    expect(rd(u, IIR) & 0x0f).toBe(0x02);
  });

  it("sends transmitted bytes to the sink at once and keeps THRE and TEMT set", () => {
    const { u, out } = uart();
    for (const c of "hi\n") wr(u, RBR, c.charCodeAt(0));
    expect(String.fromCharCode(...out)).toBe("hi\n");
    expect(rd(u, LSR) & 0x60).toBe(0x60);
  });

  it("raises its IRQ only while OUT2 is set and loopback is off, as on PCs", () => {
    const { u, irqs } = uart();
    wr(u, IER, 0x02);
    expect(irqs).toEqual([]);
    wr(u, MCR, 0x08);
    expect(irqs).toEqual([true]);
    wr(u, MCR, 0x18);
    expect(irqs).toEqual([true, false]);
    wr(u, MCR, 0x08);
    rd(u, IIR);
    expect(irqs).toEqual([true, false, true, false]);
  });

  it("queues received bytes in a 16-byte FIFO and reports DR until it is empty", () => {
    const { u } = uart();
    wr(u, FCR, 0x07);
    for (let i = 0; i < 16; i++) u.receive(i + 1);
    expect(u.rxFree()).toBe(0);
    expect(rd(u, LSR) & 0x03).toBe(0x01);
    u.receive(0x99); // overrun: lost
    expect(rd(u, LSR) & 0x03).toBe(0x03);
    expect(rd(u, LSR) & 0x02).toBe(0); // reading LSR clears OE
    const got: number[] = [];
    while (rd(u, LSR) & 1) got.push(rd(u, RBR));
    expect(got).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
  });

  it("holds one byte with the FIFO off, a new one overwriting it with an overrun", () => {
    const { u } = uart();
    u.receive(1);
    u.receive(2);
    expect(rd(u, LSR) & 0x03).toBe(0x03);
    expect(rd(u, RBR)).toBe(2);
    expect(rd(u, LSR) & 0x01).toBe(0);
  });

  it("reports received data at the trigger level and a character timeout below it", () => {
    const { u } = uart();
    wr(u, FCR, 0x81); // trigger at 8
    wr(u, IER, 0x01);
    u.receive(0x61);
    expect(rd(u, IIR)).toBe(0xcc);
    for (let i = 0; i < 7; i++) u.receive(0x61);
    expect(rd(u, IIR)).toBe(0xc4);
    wr(u, FCR, 0x83); // reset the receive FIFO
    expect(rd(u, LSR) & 1).toBe(0);
    expect(rd(u, IIR)).toBe(0xc1);
  });

  it("ranks interrupt sources: line status, received data, THR empty, modem status", () => {
    const { u } = uart();
    wr(u, IER, 0x0f);
    wr(u, MCR, 0x08);
    u.setModemInputs(0xb0 ^ 0x10); // CTS drops: modem status change
    expect(rd(u, IIR) & 0x0f).toBe(0x02); // THRE (from enabling ETBEI) outranks it
    expect(rd(u, IIR) & 0x0f).toBe(0x00); // then modem status
    u.receive(1);
    u.receive(2); // overrun with the FIFO off
    expect(rd(u, IIR) & 0x0f).toBe(0x06);
    rd(u, LSR);
    expect(rd(u, IIR) & 0x0f).toBe(0x04);
    rd(u, RBR);
    expect(rd(u, IIR) & 0x0f).toBe(0x00);
    expect(rd(u, MSR)).toBe(0xa1); // DCD|DSR, delta CTS
    expect(rd(u, IIR) & 0x0f).toBe(0x01);
  });

  it("loops transmitted bytes back to the receiver in loopback mode and ignores the line", () => {
    const { u, out } = uart();
    wr(u, MCR, 0x10);
    expect(u.inLoopback()).toBe(true);
    wr(u, RBR, 0x55);
    u.receive(0x66);
    expect(out).toEqual([]);
    expect(rd(u, RBR)).toBe(0x55);
    expect(rd(u, LSR) & 1).toBe(0);
  });

  it("reports modem input changes as MSR deltas that reading clears, and RI on its trailing edge", () => {
    const { u } = uart();
    expect(rd(u, MSR)).toBe(0xb0);
    u.setModemInputs(0xf0);
    expect(rd(u, MSR)).toBe(0xf0);
    u.setModemInputs(0xb0);
    expect(rd(u, MSR)).toBe(0xb4);
    expect(rd(u, MSR)).toBe(0xb0);
  });

  it("switches registers 0 and 1 to the divisor latch while DLAB is set", () => {
    const { u, out } = uart();
    wr(u, LCR, 0x83);
    wr(u, RBR, 0x01);
    wr(u, IER, 0x00);
    expect(rd(u, RBR)).toBe(0x01);
    expect(rd(u, IER)).toBe(0x00);
    wr(u, LCR, 0x03);
    expect(out).toEqual([]);
    expect(rd(u, IER)).toBe(0);
    expect(rd(u, LCR)).toBe(0x03);
  });

  it("answers at a configurable base port", () => {
    const u = new Uart16550({ base: 0x2f8 });
    u.write(0x2ff, 1, 0x12);
    expect(u.read(0x2ff, 1)).toBe(0x12);
  });

  it("round-trips its state through save and restore, and continues identically", () => {
    const a = uart();
    wr(a.u, FCR, 0x41);
    wr(a.u, IER, 0x07);
    wr(a.u, MCR, 0x0b);
    wr(a.u, SCR, 0x33);
    a.u.receive(7);
    a.u.receive(8);
    rd(a.u, RBR);
    const saved = a.u.save();
    const b = uart();
    b.u.restore(JSON.parse(JSON.stringify(saved)));
    expect(b.u.save()).toEqual(saved);
    for (const p of [IIR, LSR, RBR, IIR, MSR, SCR]) expect(rd(b.u, p)).toBe(rd(a.u, p));
    expect(b.u.save()).toEqual(a.u.save());
  });
});

describe("the 16550A UART with a character time", () => {
  const LSR = 0x3fd, THR = 0x3f8, IER = 0x3f9, IIR = 0x3fa, MCR = 0x3fc, FCR = 0x3fa;

  function timed(txNs: number) {
    let now = 0;
    const out: number[] = [];
    const irqs: boolean[] = [];
    const u = new Uart16550({ tx: (b) => out.push(b), irq: (l) => irqs.push(l), txNs, clock: () => now });
    return { u, out, irqs, at: (ns: number) => ((now = ns), u.advanceTo(ns)) };
  }

  it("sends each byte a character time after it started, THR emptying as the last waiting byte moves on", () => {
    const { u, out, at } = timed(1000);
    u.write(MCR, 1, 0x08); // OUT2
    u.write(IER, 1, 0x02); // THRE interrupt
    expect(u.read(IIR, 1)).toBe(0x02); // raised by enabling it with THR empty; reading clears it
    u.write(THR, 1, 0x41); // straight to the shift register: THR is empty, the transmitter is not
    expect(u.read(LSR, 1) & 0x60).toBe(0x20);
    expect(u.read(IIR, 1)).toBe(0x02);
    u.write(THR, 1, 0x42); // waits in THR
    expect(u.read(LSR, 1) & 0x60).toBe(0);
    expect(u.read(IIR, 1)).toBe(0x01);
    expect(u.nextEventNs()).toBe(1000);
    at(999);
    expect(out).toEqual([]);
    at(1000);
    expect(out).toEqual([0x41]);
    expect(u.read(LSR, 1) & 0x60).toBe(0x20); // B moved on: THR empty, with its interrupt
    expect(u.read(IIR, 1)).toBe(0x02);
    at(5000); // past B's end: sent, and the transmitter idle
    expect(out).toEqual([0x41, 0x42]);
    expect(u.read(LSR, 1) & 0x60).toBe(0x60);
    expect(u.nextEventNs()).toBe(Infinity);
  });

  it("holds sixteen bytes with the FIFO on, and one in THR without", () => {
    for (const [fifo, held] of [[true, 16], [false, 1]] as const) {
      const { u, out, at } = timed(100);
      if (fifo) u.write(FCR, 1, 0x01);
      for (let i = 0; i < 20; i++) u.write(THR, 1, i);
      at(10_000);
      // The first went to the shift register; of the rest, what THR held (without the FIFO the
      // last write replaced the byte waiting).
      expect(out).toEqual(fifo ? Array.from({ length: 1 + held }, (_, i) => i) : [0, 19]);
    }
  });

  it("keeps its transmitter in its state, and adds nothing to the state of a UART without one", () => {
    const { u } = timed(1000);
    u.write(THR, 1, 1);
    u.write(THR, 1, 2);
    const s = u.save();
    const { u: v, out, at } = timed(1000);
    v.restore(s);
    at(2000);
    expect(out).toEqual([1, 2]);
    expect(Object.keys(new Uart16550().save())).not.toContain("txShift");
  });
});
