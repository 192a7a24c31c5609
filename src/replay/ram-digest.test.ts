import { describe, expect, it } from "vitest";
import { PAGE_SIZE, PhysMem } from "../machine/memory.js";
import { Pc } from "../machine/pc.js";
import { PAGE_DIGEST, pageDigests } from "./ram-digest.js";

/** The digests a cache that never saw `mem` before computes: every page read afresh. */
function fresh(mem: PhysMem): Uint8Array {
  const copy = new PhysMem(mem.size);
  copy.load(0, mem.u8);
  return pageDigests(copy).slice();
}

const pageOf = (table: Uint8Array, p: number) => Buffer.from(table.subarray(p * PAGE_DIGEST, (p + 1) * PAGE_DIGEST)).toString("hex");

describe("RAM's digests page by page", () => {
  it("reads again only the pages written since the last digest, by every write path", () => {
    const mem = new PhysMem(16 * PAGE_SIZE);
    mem.write8(3 * PAGE_SIZE, 1);
    const before = pageDigests(mem).slice();
    expect(before).toEqual(fresh(mem));
    // Past the barrier (no real writer does this): the cached digest of page 3 stays as it was.
    mem.u8[3 * PAGE_SIZE + 1] = 2;
    mem.write8(5 * PAGE_SIZE + 5, 1);
    mem.write32(7 * PAGE_SIZE - 2, -1); // straddles pages 6 and 7
    mem.load(9 * PAGE_SIZE + 100, Uint8Array.of(4));
    mem.u8[10 * PAGE_SIZE] = 5;
    mem.writing(10 * PAGE_SIZE, 1); // a bulk write's barrier
    const page12 = new Uint8Array(PAGE_SIZE).fill(6);
    mem.restorePage(12, page12);
    const after = pageDigests(mem);
    const changed = [...Array(16).keys()].filter((p) => pageOf(after, p) !== pageOf(before, p));
    expect(changed).toEqual([5, 6, 7, 9, 10, 12]);
    const truth = fresh(mem);
    expect([...Array(16).keys()].filter((p) => pageOf(after, p) !== pageOf(truth, p))).toEqual([3]);
  });

  it("knows a page never written since power-on is zeros without reading it", () => {
    const mem = new PhysMem(4 * PAGE_SIZE);
    mem.write8(PAGE_SIZE, 1);
    // Past the barrier (no real writer does this): the digest shows whether page 2 was read.
    mem.u8[2 * PAGE_SIZE] = 1;
    const table = pageDigests(mem);
    const zero = pageOf(fresh(new PhysMem(PAGE_SIZE)), 0);
    expect([0, 1, 2, 3].map((p) => pageOf(table, p) === zero)).toEqual([true, false, true, true]);
  });

  it("stays true while a guest writes RAM through the CPU's fast paths between digests", () => {
    // Real mode: fill 0x10000.. with a counter by word stores, one page per pass, forever.
    const image = Uint8Array.from([
      0xb8, 0x00, 0x10, //       mov ax, 0x1000
      0x8e, 0xc0, //             mov es, ax
      0x31, 0xff, //             xor di, di
      0x26, 0x89, 0x05, // top:  mov [es:di], ax
      0x40, //                   inc ax
      0x83, 0xc7, 0x02, //       add di, 2
      0xeb, 0xf6, //             jmp top
    ]);
    const pc = new Pc({ ramSize: 1 << 20, console: () => {}, rtcEpochSeconds: 0 });
    pc.loadBootImage(image);
    for (let i = 0; i < 6; i++) {
      pc.run({ maxInsns: pc.cpu.icount + 3000 });
      expect(pageDigests(pc.mem)).toEqual(fresh(pc.mem));
    }
  });
});
