import { describe, expect, it } from "vitest";
import { PciConfigSpace, pciHostBridges } from "./pci.js";

const addr = (bus: number, dev: number, fn: number, reg: number) => (0x80000000 | (bus << 16) | (dev << 11) | (fn << 8) | reg) >>> 0;

function cfgRead(pci: ReturnType<typeof pciHostBridges>, dev: number, fn: number, reg: number, size: 1 | 2 | 4): number {
  pci.write(0xcf8, 4, addr(0, dev, fn, reg & 0xfc));
  return pci.read(0xcfc + (reg & 3), size);
}

describe("PCI configuration mechanism #1", () => {
  it("passes Linux's pci_check_type1: the address register reads back and a host bridge is there", () => {
    const pci = pciHostBridges();
    pci.write(0xcfb, 1, 0x01);
    pci.write(0xcf8, 4, 0x80000000);
    expect(pci.read(0xcf8, 4)).toBe(0x80000000);
    expect(cfgRead(pci, 0, 0, 0x0a, 2)).toBe(0x0600);
  });

  it("shows a 440FX host bridge at 00:00.0 and a PIIX3 ISA bridge at 00:01.0", () => {
    const pci = pciHostBridges();
    expect(cfgRead(pci, 0, 0, 0x00, 4)).toBe(0x12378086);
    expect(cfgRead(pci, 0, 0, 0x08, 4)).toBe(0x06000002);
    expect(cfgRead(pci, 0, 0, 0x0e, 1)).toBe(0x00);
    expect(cfgRead(pci, 1, 0, 0x00, 4)).toBe(0x70008086);
    expect(cfgRead(pci, 1, 0, 0x08, 4) >>> 8).toBe(0x060100);
    expect(cfgRead(pci, 1, 0, 0x0e, 1)).toBe(0x80);
  });

  it("reads all ones from absent functions and ignores writes to them", () => {
    const pci = pciHostBridges();
    expect(cfgRead(pci, 2, 0, 0x00, 4)).toBe(0xffffffff);
    expect(cfgRead(pci, 1, 1, 0x00, 2)).toBe(0xffff);
    pci.write(0xcf8, 4, addr(1, 0, 0, 0));
    expect(pci.read(0xcfc, 4)).toBe(0xffffffff);
    pci.write(0xcfc, 4, 0);
    expect(pci.read(0xcfc, 1)).toBe(0xff);
  });

  it("reads all ones through the data port while the enable bit is clear", () => {
    const pci = pciHostBridges();
    pci.write(0xcf8, 4, 0x00000000);
    expect(pci.read(0xcfc, 4)).toBe(0xffffffff);
  });

  it("reads and writes bytes and words at every offset of the data window", () => {
    const pci = pciHostBridges();
    pci.write(0xcf8, 4, addr(0, 0, 0, 0));
    expect(pci.read(0xcfc, 1)).toBe(0x86);
    expect(pci.read(0xcfd, 1)).toBe(0x80);
    expect(pci.read(0xcfe, 2)).toBe(0x1237);
    pci.write(0xcf8, 4, addr(0, 0, 0, 0x0c));
    pci.write(0xcfd, 1, 0x40); // latency timer
    expect(pci.read(0xcfc, 4)).toBe(0x00004000);
  });

  it("keeps read-only registers read-only and writable ones writable", () => {
    const pci = pciHostBridges();
    pci.write(0xcf8, 4, addr(0, 0, 0, 0));
    pci.write(0xcfc, 4, 0);
    expect(pci.read(0xcfc, 4)).toBe(0x12378086);
    pci.write(0xcf8, 4, addr(0, 0, 0, 0x58));
    pci.write(0xcfd, 1, 0x33); // PAM0
    expect(pci.read(0xcfd, 1)).toBe(0x33);
  });

  it("sizes a BAR the way firmware and Linux do", () => {
    const pci = pciHostBridges();
    const nic = new PciConfigSpace({ vendor: 0x10ec, device: 0x8139, classCode: 0x020000 });
    nic.defineBar(0, 0x100, true, 0xc000);
    nic.defineBar(1, 0x1000, false, 0xfebf0000);
    pci.addFunction(0, 3, 0, nic);
    expect(cfgRead(pci, 3, 0, 0x10, 4)).toBe(0xc001);
    pci.write(0xcf8, 4, addr(0, 3, 0, 0x10));
    pci.write(0xcfc, 4, 0xffffffff);
    expect(pci.read(0xcfc, 4)).toBe(0xffffff01);
    pci.write(0xcf8, 4, addr(0, 3, 0, 0x14));
    pci.write(0xcfc, 4, 0xffffffff);
    expect(pci.read(0xcfc, 4)).toBe(0xfffff000);
    expect(() => pci.addFunction(0, 3, 0, nic)).toThrow(/twice/);
  });

  it("resets the machine through 0xCF9, as Linux's reboot=pci does", () => {
    let resets = 0;
    const pci = pciHostBridges({ reset: () => resets++ });
    pci.write(0xcf9, 1, 0x02);
    expect(resets).toBe(0);
    expect(pci.read(0xcf9, 1)).toBe(0x02);
    pci.write(0xcf9, 1, 0x06);
    expect(resets).toBe(1);
  });

  it("round-trips its state through save and restore", () => {
    const a = pciHostBridges();
    a.write(0xcf8, 4, addr(0, 1, 0, 0x60));
    a.write(0xcfc, 1, 0x0b);
    a.write(0xcf8, 4, addr(0, 0, 0, 0x04));
    const saved = a.save();
    const b = pciHostBridges();
    b.restore(JSON.parse(JSON.stringify(saved)));
    expect(b.save()).toEqual(saved);
    expect(b.read(0xcfc, 4)).toBe(a.read(0xcfc, 4));
    expect(cfgRead(b, 1, 0, 0x60, 1)).toBe(0x0b);
  });
});
