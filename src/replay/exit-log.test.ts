import { describe, expect, it } from "vitest";
import { decodeExits, ExitEncoder, type ExitsRecord } from "./exit-log.js";

describe("the VM-exit log", () => {
  it("gives back every exit of consecutive batches, whatever the values", () => {
    const enc = new ExitEncoder();
    const want: [number, number, number, number][] = [
      [0, 254, 0, 0x7c00],
      [17, 30, 0x3f80000, 0x7c05],
      [17, 30, 0x3f80008, 0x7c05],
      [5_000_000_123, 48, 0xffffffff, 0xc1000000],
      [5_000_000_124, 12, 0, 0x10],
      [2 ** 52, 7, 0x80000000, 0xffffffff],
    ];
    const batches: ExitsRecord[] = [];
    for (const [i, e] of want.entries()) {
      enc.add(...e);
      if (i === 2) batches.push(enc.take()!);
    }
    batches.push(enc.take()!);
    expect(enc.take()).toBeNull();
    expect(enc.total).toBe(want.length);
    expect(batches.map((b) => [b.first, b.count])).toEqual([[0, 3], [3, 3]]);
    expect(decodeExits(batches)).toEqual(want.map(([icount, reason, qualification, eip], n) => ({ n, icount, reason, qualification, eip })));
  });

  it("takes about two bytes an exit for a guest polling its UART, and gives them all back", () => {
    const enc = new ExitEncoder();
    const want = [];
    let icount = 0;
    for (let n = 0; n < 4096; n++) {
      icount += 6 + (n % 3);
      want.push({ n, icount, reason: 30, qualification: n % 2 === 0 ? 0x3fd0008 : 0x3f80000, eip: 0xc1456000 + (n % 2) * 9 });
      enc.add(icount, 30, want[n].qualification, want[n].eip);
    }
    const batch = enc.take()!;
    expect(batch.data.length).toBeLessThan(2 * 4096);
    expect(decodeExits([batch])).toEqual(want);
  });

  it("refuses batches out of order or cut short", () => {
    const enc = new ExitEncoder();
    enc.add(1, 30, 0, 0);
    const a = enc.take()!;
    enc.add(2, 30, 0, 0);
    const b = enc.take()!;
    expect(() => decodeExits([b])).toThrow("exit batch starts at exit 1, expected 0");
    expect(() => decodeExits([a, { ...b, count: 2 }])).toThrow("exit batch ends inside an exit");
  });
});
