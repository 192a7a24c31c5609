import { describe, expect, it } from "vitest";
import { Cpu } from "./cpu/cpu.js";
import { PortBus } from "./iobus.js";
import { PAGE_SIZE, PageFlag, PhysMem } from "./memory.js";

describe("PhysMem's write barrier", () => {
  it("marks a page dirty at its first write after markClean, by every write path", () => {
    const mem = new PhysMem(16 * PAGE_SIZE);
    mem.markClean();
    expect([...Array(16).keys()].filter((p) => mem.isDirty(p))).toEqual([]);
    mem.write8(1 * PAGE_SIZE + 5, 1);
    mem.write16(2 * PAGE_SIZE + 6, 0x1234);
    mem.write32(3 * PAGE_SIZE + 8, 0x12345678);
    mem.write32(5 * PAGE_SIZE - 2, -1); // straddles pages 4 and 5
    mem.load(7 * PAGE_SIZE + 100, new Uint8Array(PAGE_SIZE)); // pages 7 and 8
    mem.writing(10 * PAGE_SIZE, 1); // a bulk copy's barrier
    expect([...Array(16).keys()].filter((p) => mem.isDirty(p))).toEqual([1, 2, 3, 4, 5, 7, 8, 10]);
    // After the first write the page takes the fast path again: its flags are clear.
    expect(mem.pageFlags[1]).toBe(0);
    // Never written since power-on: its digest (HASHED) is still the zero page's.
    expect(mem.pageFlags[0]).toBe(PageFlag.CLEAN | PageFlag.HASHED);
  });

  it("drops the CPU's decoded instructions of a written code page, and only of that page", () => {
    const mem = new PhysMem(64 * PAGE_SIZE);
    const cpu = new Cpu(mem, new PortBus());
    // Real mode at 0x1000: inc ax; jmp back (an endless loop on page 1).
    mem.load(0x1000, Uint8Array.of(0x40, 0xeb, 0xfd));
    cpu.setSegCache(1, 0, 0, 0xffff, cpu.segAttr[1]);
    cpu.eip = 0x1000;
    cpu.run(10);
    expect(mem.pageFlags[1] & PageFlag.CODE).toBe(PageFlag.CODE);
    mem.markClean();
    mem.write8(0x2000, 7);
    expect(mem.pageFlags[1]).toBe(PageFlag.CODE | PageFlag.CLEAN);
    // Overwrite inc ax with dec ax: the next instructions decode the new byte.
    mem.write8(0x1000, 0x48);
    expect(mem.pageFlags[1]).toBe(0);
    const ax = cpu.r32[0];
    cpu.run(4);
    expect(cpu.r32[0]).toBe(ax - 2);
  });

  it("marks a code page dirty at a write beside its instructions, and keeps its code", () => {
    const mem = new PhysMem(64 * PAGE_SIZE);
    const cpu = new Cpu(mem, new PortBus());
    mem.load(0x1000, Uint8Array.of(0x40, 0xeb, 0xfd)); // inc ax; jmp back
    cpu.setSegCache(1, 0, 0, 0xffff, cpu.segAttr[1]);
    cpu.eip = 0x1000;
    cpu.run(10);
    mem.markClean();
    mem.write8(0x1800, 7);
    expect(mem.isDirty(1)).toBe(true);
    expect(mem.pageFlags[1]).toBe(PageFlag.CODE);
    // A checkpoint's restore of the page: bytes that differ only beside the code keep it too.
    mem.markClean();
    const page = mem.u8.slice(0x1000, 0x2000);
    page[0x900] = 9;
    mem.restorePage(1, page);
    expect(mem.isDirty(1)).toBe(true);
    expect(mem.pageFlags[1]).toBe(PageFlag.CODE);
    // One that changes an instruction byte drops it: inc ax becomes dec ax.
    page[0] = 0x48;
    mem.restorePage(1, page);
    expect(mem.pageFlags[1] & PageFlag.CODE).toBe(0);
    const ax = cpu.r32[0];
    cpu.run(4);
    expect(cpu.r32[0]).toBe(ax - 2);
  });
});
