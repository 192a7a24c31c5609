import { describe, expect, it } from "vitest";
import {
  Ept, EptAccess, EptOutcome, EptWalk, MemType, PAGE_2M, PAGE_4K, eptMap, eptMappings, eptPeek, eptTranslate,
  eptUnmap, eptpBase, eptpValid, makeEptp, type EptFrames,
} from "./ept.js";
import { EptQual, GuestLinear, eptViolationQualification } from "./exits.js";
import type { PhysWords } from "./vmcs.js";

/** 4 MiB of host RAM; table frames are handed out from 1 MiB up, and counted when freed. */
function host(): { mem: PhysWords & { i32: Int32Array }; frames: EptFrames & { next: number; freed: number[] } } {
  const i32 = new Int32Array(0x400000 / 4);
  const mem = { i32, read32: (a: number) => i32[a >>> 2], write32: (a: number, v: number) => void (i32[a >>> 2] = v) };
  const frames = {
    next: 0x100000,
    freed: [] as number[],
    alloc(): number {
      const f = this.next;
      this.next += PAGE_4K;
      return f;
    },
    free(f: number): void {
      this.freed.push(f);
    },
  };
  return { mem, frames };
}

const RWX = Ept.R | Ept.W | Ept.X;

describe("the EPT pointer", () => {
  it("names a 4-level walk with the table memory type", () => {
    expect(makeEptp(0x100000)).toBe(0x10001e);
    expect(makeEptp(0x100000, MemType.UC)).toBe(0x100018);
    expect(eptpBase(0x10001e)).toBe(0x100000);
    expect(() => makeEptp(0x100800)).toThrow(/aligned/);
  });

  it("is valid with UC or WB, walk length 4, no A/D enable, and nothing above bit 31", () => {
    expect(eptpValid(0x10001e, 0)).toBe(true);
    expect(eptpValid(0x100018, 0)).toBe(true);
    expect(eptpValid(0x10001c, 0)).toBe(false); // write-protect type for the tables
    expect(eptpValid(0x100016, 0)).toBe(false); // walk length 3
    expect(eptpValid(0x10005e, 0)).toBe(false); // A/D flags: not supported
    expect(eptpValid(0x10009e, 0)).toBe(false); // reserved bit 7
    expect(eptpValid(0x10001e, 1)).toBe(false);
  });
});

describe("EPT tables built by the builder", () => {
  it("translate 4 KiB and 2 MiB pages to their host frames", () => {
    const { mem, frames } = host();
    const pml4 = frames.alloc();
    eptMap(mem, pml4, 0x00000000, 0x00200000, RWX, PAGE_2M, frames);
    eptMap(mem, pml4, 0x00400000, 0x00300000, Ept.R | Ept.X, PAGE_4K, frames);
    eptMap(mem, pml4, 0xfee00000, 0x00301000, Ept.R | Ept.W, PAGE_4K, frames, MemType.UC);
    const eptp = makeEptp(pml4);
    const w = new EptWalk();
    expect(eptTranslate(mem, eptp, 0x00012345, EptAccess.WRITE, w)).toBe(EptOutcome.OK);
    expect(w).toMatchObject({ hpa: 0x00212345, pageSize: PAGE_2M, perms: 7, memType: MemType.WB, level: 2 });
    expect(eptTranslate(mem, eptp, 0x00400abc, EptAccess.FETCH, w)).toBe(EptOutcome.OK);
    expect(w).toMatchObject({ hpa: 0x00300abc, pageSize: PAGE_4K, perms: 5, level: 1 });
    expect(eptTranslate(mem, eptp, 0xfee000f0, EptAccess.READ, w)).toBe(EptOutcome.OK);
    expect(w).toMatchObject({ hpa: 0x003010f0, memType: MemType.UC });
    expect(eptPeek(mem, eptp, 0x001fffff)).toBe(0x003fffff);
    expect(eptPeek(mem, eptp, 0x00401000)).toBe(-1);
    // PML4, one PDPT, PD for 0-1 GiB, PT for 4 MiB, PD for 3-4 GiB, PT for 0xfee00000.
    expect(frames.next - 0x100000).toBe(6 * PAGE_4K);
  });

  it("report a violation with the AND of the rights for an access they do not allow", () => {
    const { mem, frames } = host();
    const pml4 = frames.alloc();
    eptMap(mem, pml4, 0x1000, 0x5000, Ept.R | Ept.X, PAGE_4K, frames);
    const w = new EptWalk();
    expect(eptTranslate(mem, makeEptp(pml4), 0x1008, EptAccess.WRITE, w)).toBe(EptOutcome.VIOLATION);
    expect(w.perms).toBe(Ept.R | Ept.X);
    expect(eptViolationQualification(EptAccess.WRITE, w.perms, GuestLinear.TRANSLATION)).toBe(
      EptQual.WRITE | EptQual.READABLE | EptQual.EXECUTABLE | EptQual.LINEAR_VALID | EptQual.TRANSLATION);
    expect(eptTranslate(mem, makeEptp(pml4), 0x1008, EptAccess.READ | EptAccess.FETCH, w)).toBe(EptOutcome.OK);
  });

  it("report a violation with no rights at the level where an entry is not present", () => {
    const { mem, frames } = host();
    const pml4 = frames.alloc();
    const w = new EptWalk();
    expect(eptTranslate(mem, makeEptp(pml4), 0x1000, EptAccess.READ, w)).toBe(EptOutcome.VIOLATION);
    expect(w).toMatchObject({ perms: 0, level: 4, entryAddr: pml4 });
    eptMap(mem, pml4, 0x1000, 0x5000, RWX, PAGE_4K, frames);
    expect(eptTranslate(mem, makeEptp(pml4), 0x2000, EptAccess.READ, w)).toBe(EptOutcome.VIOLATION);
    expect(w).toMatchObject({ perms: 0, level: 1 });
    expect(eptTranslate(mem, makeEptp(pml4), 0x40000000, EptAccess.READ, w)).toBe(EptOutcome.VIOLATION);
    expect(w.level).toBe(3);
  });

  it("allow execute-only pages", () => {
    const { mem, frames } = host();
    const pml4 = frames.alloc();
    eptMap(mem, pml4, 0x1000, 0x5000, Ept.X, PAGE_4K, frames);
    const w = new EptWalk();
    expect(eptTranslate(mem, makeEptp(pml4), 0x1000, EptAccess.FETCH, w)).toBe(EptOutcome.OK);
    expect(eptTranslate(mem, makeEptp(pml4), 0x1000, EptAccess.READ, w)).toBe(EptOutcome.VIOLATION);
    expect(w.perms).toBe(Ept.X);
  });

  it("split a 2 MiB page when a 4 KiB page inside it is remapped, keeping the rest", () => {
    const { mem, frames } = host();
    const pml4 = frames.alloc();
    eptMap(mem, pml4, 0x200000, 0x200000, RWX, PAGE_2M, frames);
    eptMap(mem, pml4, 0x203000, 0x380000, Ept.R, PAGE_4K, frames);
    const eptp = makeEptp(pml4);
    expect(eptPeek(mem, eptp, 0x202010)).toBe(0x202010);
    expect(eptPeek(mem, eptp, 0x203010)).toBe(0x380010);
    expect(eptPeek(mem, eptp, 0x3ff000)).toBe(0x3ff000);
    const w = new EptWalk();
    expect(eptTranslate(mem, eptp, 0x203000, EptAccess.WRITE, w)).toBe(EptOutcome.VIOLATION);
    expect(eptTranslate(mem, eptp, 0x204000, EptAccess.WRITE, w)).toBe(EptOutcome.OK);
    expect(w.pageSize).toBe(PAGE_4K);
  });

  it("unmap pages, splitting a large page and freeing a page table a 2 MiB unmap drops", () => {
    const { mem, frames } = host();
    const pml4 = frames.alloc();
    const eptp = makeEptp(pml4);
    eptMap(mem, pml4, 0x200000, 0x200000, RWX, PAGE_2M, frames);
    expect(eptUnmap(mem, pml4, 0x201000, PAGE_4K, frames)).toBe(true);
    expect(eptPeek(mem, eptp, 0x201000)).toBe(-1);
    expect(eptPeek(mem, eptp, 0x200000)).toBe(0x200000);
    expect(eptUnmap(mem, pml4, 0x201000, PAGE_4K, frames)).toBe(false);
    const tablesBefore = frames.next;
    expect(eptUnmap(mem, pml4, 0x200000, PAGE_2M, frames)).toBe(true);
    expect(frames.freed).toEqual([tablesBefore - PAGE_4K]);
    expect(eptPeek(mem, eptp, 0x200000)).toBe(-1);
    expect(eptUnmap(mem, pml4, 0x80000000, PAGE_2M, frames)).toBe(false);
  });

  it("free the page table a 2 MiB mapping replaces", () => {
    const { mem, frames } = host();
    const pml4 = frames.alloc();
    eptMap(mem, pml4, 0x0, 0x5000, RWX, PAGE_4K, frames);
    const pt = frames.next - PAGE_4K;
    eptMap(mem, pml4, 0x0, 0x200000, RWX, PAGE_2M, frames);
    expect(frames.freed).toEqual([pt]);
    expect(eptPeek(mem, makeEptp(pml4), 0x1234)).toBe(0x201234);
  });

  it("list their mappings in guest-physical order", () => {
    const { mem, frames } = host();
    const pml4 = frames.alloc();
    eptMap(mem, pml4, 0xc0000000, 0x300000, Ept.R, PAGE_4K, frames, MemType.UC);
    eptMap(mem, pml4, 0x0, 0x200000, RWX, PAGE_2M, frames);
    eptMap(mem, pml4, 0x400000, 0x301000, Ept.R | Ept.W, PAGE_4K, frames);
    expect(eptMappings(mem, pml4)).toEqual([
      { gpa: 0x0, hpa: 0x200000, size: PAGE_2M, rights: 7, memType: MemType.WB },
      { gpa: 0x400000, hpa: 0x301000, size: PAGE_4K, rights: 3, memType: MemType.WB },
      { gpa: 0xc0000000, hpa: 0x300000, size: PAGE_4K, rights: 1, memType: MemType.UC },
    ]);
  });

  it("refuse misaligned addresses and odd page sizes", () => {
    const { mem, frames } = host();
    const pml4 = frames.alloc();
    expect(() => eptMap(mem, pml4, 0x1000, 0x200000, RWX, PAGE_2M, frames)).toThrow(/2 MiB/);
    expect(() => eptMap(mem, pml4, 0x1000, 0x1800, RWX, PAGE_4K, frames)).toThrow(/host-physical/);
    expect(() => eptMap(mem, pml4, 0x1000, 0x2000, RWX, 0x400000, frames)).toThrow(/page size/);
  });
});

describe("EPT misconfigurations", () => {
  /** Maps one 4 KiB page, then lets the test corrupt an entry at `level` (4 PML4E .. 1 PTE). */
  function walkWith(level: number, lo: (old: number) => number, hi = 0): EptOutcome {
    const { mem, frames } = host();
    const pml4 = frames.alloc();
    eptMap(mem, pml4, 0x1000, 0x5000, RWX, PAGE_4K, frames);
    const w = new EptWalk();
    eptTranslate(mem, makeEptp(pml4), 0x1000, 0, w);
    // Walk down to the entry of `level`.
    let addr = pml4;
    for (let l = 4; l > level; l--) {
      const e = mem.read32(addr);
      addr = (e & ~0xfff) + 8 * (l === 4 ? 0 : l === 3 ? 0 : 1);
    }
    mem.write32(addr, lo(mem.read32(addr)));
    mem.write32(addr + 4, hi);
    return eptTranslate(mem, makeEptp(pml4), 0x1000, EptAccess.READ, w);
  }

  it("come from write permission without read permission at any level", () => {
    for (const level of [4, 3, 2, 1]) {
      expect(walkWith(level, (e) => (e & ~7) | Ept.W), `level ${level}`).toBe(EptOutcome.MISCONFIG);
      expect(walkWith(level, (e) => (e & ~7) | Ept.W | Ept.X), `level ${level}`).toBe(EptOutcome.MISCONFIG);
    }
  });

  it("come from reserved bits: 7:3 of a PML4E, 1 GiB pages, 6:3 of a PDE, and address bits above 31", () => {
    expect(walkWith(4, (e) => e | 0x8)).toBe(EptOutcome.MISCONFIG);
    expect(walkWith(4, (e) => e | 0x80)).toBe(EptOutcome.MISCONFIG);
    expect(walkWith(3, (e) => e | 0x80)).toBe(EptOutcome.MISCONFIG); // 1 GiB page: not supported
    expect(walkWith(2, (e) => e | 0x40)).toBe(EptOutcome.MISCONFIG);
    expect(walkWith(1, (e) => e, 0x1)).toBe(EptOutcome.MISCONFIG); // bit 32
    expect(walkWith(1, (e) => e, 0x80000000 | 0)).toBe(EptOutcome.OK); // bit 63 (suppress #VE) is ignored
    expect(walkWith(1, (e) => e | 0x100)).toBe(EptOutcome.OK); // bits 11:8 are ignored
  });

  it("come from a reserved memory type (2, 3, 7) in a leaf, and from bits 20:12 of a 2 MiB leaf", () => {
    for (const t of [2, 3, 7]) expect(walkWith(1, (e) => (e & ~0x38) | (t << 3)), `type ${t}`).toBe(EptOutcome.MISCONFIG);
    for (const t of [0, 1, 4, 5, 6]) expect(walkWith(1, (e) => (e & ~0x38) | (t << 3)), `type ${t}`).toBe(EptOutcome.OK);
    const { mem, frames } = host();
    const pml4 = frames.alloc();
    eptMap(mem, pml4, 0x200000, 0x200000, RWX, PAGE_2M, frames);
    const pd = mem.read32(mem.read32(pml4) & ~0xfff) & ~0xfff;
    mem.write32(pd + 8, mem.read32(pd + 8) | 0x1000);
    expect(eptTranslate(mem, makeEptp(pml4), 0x200000, EptAccess.READ, new EptWalk())).toBe(EptOutcome.MISCONFIG);
  });

  it("are not looked for in entries that are not present", () => {
    expect(walkWith(1, () => 0x38 | 0x80)).toBe(EptOutcome.VIOLATION);
  });
});
