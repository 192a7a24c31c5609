// Extended page tables (SDM vol. 3, 28.3 / 29.3 in newer editions): the EPT pointer, the 4-level
// walk from guest-physical to host-physical addresses with its EPT violations and
// misconfigurations, and a builder that maps and unmaps guest-physical pages in tables kept in a
// memory image (what the L4 kernel does when a pager's map item lands in a VM's space).
//
// A 32-bit guest on a 32-bit host still uses the 64-bit, 4-level EPT format. Our physical
// addresses are 32 bits wide (IA32_VMX_BASIC bit 48), so the PML4 index of any address we see is
// 0, and bits 51:32 of every entry are reserved. Supported (IA32_VMX_EPT_VPID_CAP): execute-only
// pages, 2 MiB pages, UC and WB paging-structure memory types. Not supported: 1 GiB pages,
// accessed/dirty flags, mode-based execute control, #VE (bit 63 "suppress #VE" is ignored).

import type { PhysWords } from "./vmcs.js";

/** EPT entry bits (low doubleword). */
export const enum Ept {
  R = 1,
  W = 2,
  X = 4,
  RWX = 7,
  /** Bits 5:3 of a leaf: the memory type of the page. */
  MEMTYPE_SHIFT = 3,
  MEMTYPE_MASK = 7 << 3,
  /** Bit 6 of a leaf: ignore the guest PAT. */
  IGNORE_PAT = 1 << 6,
  /** Bit 7 of a PDE (or PDPTE): the entry maps a large page. */
  LARGE = 1 << 7,
}

/** Access kinds as EPT-violation qualification bits 2:0. */
export const enum EptAccess { READ = 1, WRITE = 2, FETCH = 4 }

/** Memory types (EPTP bits 2:0; leaf entry bits 5:3). */
export const enum MemType { UC = 0, WC = 1, WT = 4, WP = 5, WB = 6 }

export const PAGE_4K = 0x1000;
export const PAGE_2M = 0x200000;

// ------------------------------------------------------------------------------------------------
// The EPT pointer (24.6.11)

/** EPTP low doubleword for a PML4 table at `pml4` (4 KiB-aligned): memory type, walk length 4. */
export function makeEptp(pml4: number, memType: MemType.UC | MemType.WB = MemType.WB): number {
  if ((pml4 & 0xfff) !== 0) throw new Error(`EPT PML4 table at 0x${(pml4 >>> 0).toString(16)} is not 4 KiB-aligned`);
  return (pml4 | memType | (3 << 3)) >>> 0;
}

/** The PML4 table address an EPTP names. */
export function eptpBase(eptpLo: number): number {
  return (eptpLo & ~0xfff) >>> 0;
}

/**
 * An EPTP VM entry accepts (26.2.1.1): memory type UC or WB, page-walk length 4 (bits 5:3 = 3),
 * no accessed/dirty enable (bit 6; not supported), bits 11:7 clear, no address bits at or above
 * bit 32.
 */
export function eptpValid(lo: number, hi: number): boolean {
  const type = lo & 7;
  return (type === MemType.UC || type === MemType.WB) && ((lo >>> 3) & 7) === 3 && (lo & 0xfc0) === 0 && hi === 0;
}

// ------------------------------------------------------------------------------------------------
// The walk

/** How a translation ended. */
export const enum EptOutcome {
  OK = 0,
  /** An entry was not present, or the leaf's rights do not allow the access: exit reason 48. */
  VIOLATION = 1,
  /** An entry is malformed: exit reason 49. */
  MISCONFIG = 2,
}

/** The details of a walk, filled in place so translating allocates nothing. */
export class EptWalk {
  /** Host-physical address (OK). */
  hpa = 0;
  /** The AND of bits 2:0 of the entries walked: qualification bits 5:3 of a violation. */
  perms = 0;
  /** Memory type of the page (leaf bits 5:3), and whether it ignores the guest PAT. */
  memType = 0;
  ignorePat = false;
  /** Size of the page that maps the address (OK): PAGE_4K or PAGE_2M. */
  pageSize = 0;
  /** Level of the last entry read: 4 PML4E, 3 PDPTE, 2 PDE, 1 PTE. */
  level = 0;
  /** Physical address of the last entry read (the faulting one for VIOLATION/MISCONFIG). */
  entryAddr = 0;
}

/**
 * Reserved bits in the low doubleword per level when the entry references a table (bits 7:3 of a
 * PML4E — bit 7 of a PDPTE marks a 1 GiB page, unsupported — and bits 6:3 of a PDPTE or PDE).
 */
const TABLE_RSVD = [0, 0, 0x78, 0xf8, 0xf8];
/** Reserved bits 20:12 of a 2 MiB PDE. */
const PDE_2M_RSVD = 0x1ff000;

/** Bits 2:0 value 010b or 110b (writable, not readable); 100b is fine (execute-only is supported). */
function badRights(lo: number): boolean {
  return (lo & 3) === Ept.W;
}

/** Memory types 2, 3 and 7 are reserved in a leaf. */
function badMemType(lo: number): boolean {
  const t = (lo >>> 3) & 7;
  return t === 2 || t === 3 || t === 7;
}

/**
 * Translates guest-physical `gpa` (uint32) for `access` (EptAccess bits; 0 to just look up)
 * through the EPT whose PML4 table `eptpLo` names, reading entries through `mem`. Fills `out`.
 * Entries are checked as the walk reaches them: a misconfigured entry is MISCONFIG, a not-present
 * one VIOLATION with perms 0; at the leaf, an access the AND of the rights does not allow is a
 * VIOLATION (SDM "EPT Misconfigurations", "EPT Violations").
 */
export function eptTranslate(mem: PhysWords, eptpLo: number, gpa: number, access: number, out: EptWalk): EptOutcome {
  gpa >>>= 0;
  let table = eptpBase(eptpLo);
  let perms = 7;
  // PML4 index is gpa[47:39] = 0; then PDPT gpa[38:30], PD gpa[29:21], PT gpa[20:12].
  for (let level = 4; level >= 1; level--) {
    const index = level === 4 ? 0 : level === 3 ? gpa >>> 30 : level === 2 ? (gpa >>> 21) & 0x1ff : (gpa >>> 12) & 0x1ff;
    const addr = (table + index * 8) >>> 0;
    const lo = mem.read32(addr), hi = mem.read32(addr + 4);
    out.level = level;
    out.entryAddr = addr;
    if ((lo & 7) === 0) {
      out.perms = 0;
      return EptOutcome.VIOLATION;
    }
    if (badRights(lo) || (hi & 0xfffff) !== 0) return EptOutcome.MISCONFIG;
    perms &= lo;
    const leaf = level === 1 || (level === 2 && (lo & Ept.LARGE) !== 0);
    if (!leaf) {
      if ((lo & TABLE_RSVD[level]) !== 0) return EptOutcome.MISCONFIG;
      table = (lo & ~0xfff) >>> 0;
      continue;
    }
    if (badMemType(lo) || (level === 2 && (lo & PDE_2M_RSVD) !== 0)) return EptOutcome.MISCONFIG;
    out.perms = perms & 7;
    out.memType = (lo >>> 3) & 7;
    out.ignorePat = (lo & Ept.IGNORE_PAT) !== 0;
    if (level === 2) {
      out.pageSize = PAGE_2M;
      out.hpa = ((lo & 0xffe00000) | (gpa & 0x1fffff)) >>> 0;
    } else {
      out.pageSize = PAGE_4K;
      out.hpa = ((lo & ~0xfff) | (gpa & 0xfff)) >>> 0;
    }
    return (access & ~perms & 7) !== 0 ? EptOutcome.VIOLATION : EptOutcome.OK;
  }
  return EptOutcome.MISCONFIG; // not reached: level 1 is always a leaf
}

/** Host-physical address of `gpa` for a debugger or loader (no rights checked), or -1. */
export function eptPeek(mem: PhysWords, eptpLo: number, gpa: number): number {
  const w = new EptWalk();
  return eptTranslate(mem, eptpLo, gpa, 0, w) === EptOutcome.OK ? w.hpa : -1;
}

// ------------------------------------------------------------------------------------------------
// Building tables

/** Where table pages come from and go back to; frames are 4 KiB-aligned physical addresses. */
export interface EptFrames {
  alloc(): number;
  free?(frame: number): void;
}

function zeroFrame(mem: PhysWords, frame: number): void {
  for (let k = 0; k < PAGE_4K; k += 4) mem.write32(frame + k, 0);
}

function newTable(mem: PhysWords, frames: EptFrames): number {
  const frame = frames.alloc() >>> 0;
  if ((frame & 0xfff) !== 0) throw new Error(`EPT table frame 0x${frame.toString(16)} is not 4 KiB-aligned`);
  zeroFrame(mem, frame);
  return frame;
}

function setEntry(mem: PhysWords, addr: number, lo: number): void {
  mem.write32(addr, lo);
  mem.write32(addr + 4, 0);
}

/**
 * The table an entry points to, creating it (with full rights in the entry: leaves decide) when
 * the entry is empty. A 2 MiB leaf in a PDE is split into a page table of 512 4 KiB entries
 * mapping the same frames with the same rights.
 */
function tableAt(mem: PhysWords, addr: number, frames: EptFrames): number {
  const lo = mem.read32(addr);
  if ((lo & 7) !== 0 && (lo & Ept.LARGE) === 0) return (lo & ~0xfff) >>> 0;
  const t = newTable(mem, frames);
  if ((lo & 7) !== 0) {
    const attrs = lo & (Ept.RWX | Ept.MEMTYPE_MASK | Ept.IGNORE_PAT);
    const base = (lo & 0xffe00000) >>> 0;
    for (let k = 0; k < 512; k++) setEntry(mem, t + 8 * k, (base + k * PAGE_4K) | attrs);
  }
  setEntry(mem, addr, t | Ept.RWX);
  return t;
}

/** Frees the page table a PDE references (not a large leaf). */
function dropTable(pde: number, frames: EptFrames): void {
  if ((pde & 7) !== 0 && (pde & Ept.LARGE) === 0) frames.free?.((pde & ~0xfff) >>> 0);
}

function checkAligned(what: string, a: number, size: number): void {
  if ((a & (size - 1)) !== 0) throw new Error(`EPT ${what} 0x${(a >>> 0).toString(16)} is not aligned to its ${size === PAGE_2M ? "2 MiB" : "4 KiB"} page`);
}

/**
 * Maps the guest-physical page at `gpa` to host-physical `hpa` with `rights` (Ept.R/W/X; W
 * without R or an unsupported memory type makes a misconfigured entry, which some VMMs use on
 * purpose for MMIO), in the EPT whose PML4 table is at `pml4`. `size` is PAGE_4K or PAGE_2M.
 * Replaces what was there: a 2 MiB mapping over a page table frees the table; a 4 KiB mapping
 * inside a 2 MiB page splits it. After changing live tables the CPU's cached translations are
 * stale until INVEPT (or the kernel's equivalent).
 */
export function eptMap(mem: PhysWords, pml4: number, gpa: number, hpa: number, rights: number, size: number, frames: EptFrames, memType: MemType = MemType.WB): void {
  if (size !== PAGE_4K && size !== PAGE_2M) throw new Error(`EPT page size must be 4 KiB or 2 MiB, not ${size}`);
  checkAligned("guest-physical address", gpa, size);
  checkAligned("host-physical address", hpa, size);
  gpa >>>= 0;
  const pdpt = tableAt(mem, pml4 >>> 0, frames);
  const pd = tableAt(mem, pdpt + 8 * (gpa >>> 30), frames);
  const pdeAddr = pd + 8 * ((gpa >>> 21) & 0x1ff);
  const leaf = (hpa | (rights & Ept.RWX) | (memType << Ept.MEMTYPE_SHIFT)) >>> 0;
  if (size === PAGE_2M) {
    dropTable(mem.read32(pdeAddr), frames);
    setEntry(mem, pdeAddr, (rights & Ept.RWX) === 0 ? 0 : leaf | Ept.LARGE);
    return;
  }
  const pt = tableAt(mem, pdeAddr, frames);
  setEntry(mem, pt + 8 * ((gpa >>> 12) & 0x1ff), (rights & Ept.RWX) === 0 ? 0 : leaf);
}

/**
 * Removes the mapping of the `size` page at `gpa`; returns whether anything was mapped there. A
 * 4 KiB unmap inside a 2 MiB page splits it first (needs `frames.alloc`); a 2 MiB unmap over a
 * page table drops the table.
 */
export function eptUnmap(mem: PhysWords, pml4: number, gpa: number, size: number, frames: EptFrames): boolean {
  checkAligned("guest-physical address", gpa, size);
  gpa >>>= 0;
  const pml4e = mem.read32(pml4 >>> 0);
  if ((pml4e & 7) === 0) return false;
  const pdpte = mem.read32(((pml4e & ~0xfff) + 8 * (gpa >>> 30)) >>> 0);
  if ((pdpte & 7) === 0) return false;
  const pdeAddr = ((pdpte & ~0xfff) + 8 * ((gpa >>> 21) & 0x1ff)) >>> 0;
  const pde = mem.read32(pdeAddr);
  if ((pde & 7) === 0) return false;
  if (size === PAGE_2M) {
    dropTable(pde, frames);
    setEntry(mem, pdeAddr, 0);
    return true;
  }
  const pt = tableAt(mem, pdeAddr, frames);
  const pteAddr = pt + 8 * ((gpa >>> 12) & 0x1ff);
  const was = (mem.read32(pteAddr) & 7) !== 0;
  setEntry(mem, pteAddr, 0);
  return was;
}

/** One mapping of an EPT, as eptMappings lists them. */
export interface EptMapping {
  gpa: number;
  hpa: number;
  size: number;
  rights: number;
  memType: number;
}

/** Every leaf mapping of an EPT in guest-physical order (for debuggers: "show the VM's memory"). */
export function eptMappings(mem: PhysWords, pml4: number): EptMapping[] {
  const out: EptMapping[] = [];
  const pml4e = mem.read32(pml4 >>> 0);
  if ((pml4e & 7) === 0) return out;
  const pdpt = (pml4e & ~0xfff) >>> 0;
  for (let i = 0; i < 4; i++) {
    const pdpte = mem.read32(pdpt + 8 * i);
    if ((pdpte & 7) === 0) continue;
    const pd = (pdpte & ~0xfff) >>> 0;
    for (let j = 0; j < 512; j++) {
      const pde = mem.read32(pd + 8 * j);
      if ((pde & 7) === 0) continue;
      const gpa2m = (i * 0x40000000 + j * PAGE_2M) >>> 0;
      if ((pde & Ept.LARGE) !== 0) {
        out.push({ gpa: gpa2m, hpa: (pde & 0xffe00000) >>> 0, size: PAGE_2M, rights: pde & 7, memType: (pde >>> 3) & 7 });
        continue;
      }
      const pt = (pde & ~0xfff) >>> 0;
      for (let k = 0; k < 512; k++) {
        const pte = mem.read32(pt + 8 * k);
        if ((pte & 7) === 0) continue;
        out.push({ gpa: gpa2m + k * PAGE_4K, hpa: (pte & ~0xfff) >>> 0, size: PAGE_4K, rights: pte & 7, memType: (pte >>> 3) & 7 });
      }
    }
  }
  return out;
}
