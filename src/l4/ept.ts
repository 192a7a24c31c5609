// The kernel's EPT writer: 4-level extended page tables (Intel SDM vol. 3, 28.2) kept in physical
// frames of the kernel's own memory, read and written through the Platform. The kernel mirrors a
// VM space's mapping-database nodes into them: 2 MiB leaves for nodes of 2 MiB and more, 4 KiB
// leaves below. Guest-physical and host-physical addresses are below 4 GiB (ia32), so the PML4
// only ever uses entry 0 and the high word of every entry is zero.
//
// (src/vmx will own the architectural EPT walk the CPU does; this is only the kernel's writer,
// written here so src/l4 does not wait for it.)

import type { Platform } from "./platform.js";

/** The kernel's pool of 4 KiB frames (for EPT tables), as plain data. */
export interface FramePool {
  /** Next never-used frame address. */
  next: number;
  end: number;
  free: number[];
}

export const EPT_READ = 1;
export const EPT_WRITE = 2;
export const EPT_EXEC = 4;
const EPT_LARGE = 1 << 7;
/** Memory type write-back (6) in bits 5:3 of a leaf. */
const EPT_WB = 6 << 3;
const EPT_TABLE = EPT_READ | EPT_WRITE | EPT_EXEC;
const ADDR_MASK = 0xfffff000;

const ZERO_PAGE = new Uint8Array(4096);

export function allocFrame(p: Platform, pool: FramePool): number {
  let f: number;
  if (pool.free.length > 0) f = pool.free.pop()!;
  else if (pool.next + 4096 <= pool.end) {
    f = pool.next;
    pool.next += 4096;
  } else return -1;
  p.writeBytes(f, ZERO_PAGE);
  return f;
}

export function freeFrame(pool: FramePool, frame: number): void {
  pool.free.push(frame);
}

/** L4 rights (R=4, W=2, X=1) as EPT permission bits (R=1, W=2, X=4). */
export function eptRights(l4Rights: number): number {
  return ((l4Rights & 4) ? EPT_READ : 0) | (l4Rights & 2) | ((l4Rights & 1) ? EPT_EXEC : 0);
}

/** A fresh, empty EPT: returns its PML4 frame, or -1 when the pool is exhausted. */
export function eptCreate(p: Platform, pool: FramePool): number {
  return allocFrame(p, pool);
}

function present(e: number): boolean {
  return (e & 7) !== 0;
}

/** The table an entry points to, creating it (-1 when out of frames). */
function nextTable(p: Platform, pool: FramePool, entryAddr: number): number {
  const e = p.read32(entryAddr);
  if (present(e) && (e & EPT_LARGE) === 0) return (e & ADDR_MASK) >>> 0;
  const t = allocFrame(p, pool);
  if (t < 0) return -1;
  if (present(e)) {
    // A 2 MiB leaf being broken up: its 4 KiB pieces keep the translation.
    const base = (e & ADDR_MASK) >>> 0;
    const flags = e & 0x7f & ~EPT_LARGE;
    for (let i = 0; i < 512; i++) p.write32(t + i * 8, (base + i * 4096) | flags);
  }
  p.write32(entryAddr, t | EPT_TABLE);
  p.write32(entryAddr + 4, 0);
  return t;
}

function pdEntryAddr(p: Platform, pool: FramePool | null, root: number, gpa: number): number {
  // PML4 entry 0 -> PDPT; PDPT entry gpa[31:30] -> PD.
  let pdpt: number;
  if (pool) pdpt = nextTable(p, pool, root);
  else {
    const e = p.read32(root);
    pdpt = present(e) ? (e & ADDR_MASK) >>> 0 : -1;
  }
  if (pdpt < 0) return -1;
  const pdpte = pdpt + Math.floor(gpa / 2 ** 30) * 8;
  let pd: number;
  if (pool) pd = nextTable(p, pool, pdpte);
  else {
    const e = p.read32(pdpte);
    pd = present(e) ? (e & ADDR_MASK) >>> 0 : -1;
  }
  if (pd < 0) return -1;
  return pd + ((gpa >>> 21) & 511) * 8;
}

/**
 * Maps guest-physical [gpa, gpa + 2^log2) to host-physical hpa with L4 `rights`. Returns the
 * number of entries written, or -1 when the kernel ran out of frames for tables.
 */
export function eptMap(p: Platform, pool: FramePool, root: number, gpa: number, hpa: number, log2: number, rights: number): number {
  const perm = eptRights(rights);
  const size = 2 ** log2;
  let written = 0;
  if (log2 >= 21) {
    for (let off = 0; off < size; off += 1 << 21) {
      const pde = pdEntryAddr(p, pool, root, gpa + off);
      if (pde < 0) return -1;
      const old = p.read32(pde);
      if (present(old) && (old & EPT_LARGE) === 0) freeFrame(pool, (old & ADDR_MASK) >>> 0);
      p.write32(pde, perm === 0 ? 0 : ((hpa + off) | EPT_WB | EPT_LARGE | perm) >>> 0);
      p.write32(pde + 4, 0);
      written++;
    }
    return written;
  }
  for (let off = 0; off < size; off += 4096) {
    const g = gpa + off;
    const pde = pdEntryAddr(p, pool, root, g);
    if (pde < 0) return -1;
    const pt = nextTable(p, pool, pde);
    if (pt < 0) return -1;
    const pte = pt + ((g >>> 12) & 511) * 8;
    p.write32(pte, perm === 0 ? 0 : ((hpa + off) | EPT_WB | perm) >>> 0);
    p.write32(pte + 4, 0);
    written++;
  }
  return written;
}

/** Clears the entries of [gpa, gpa + 2^log2). Returns the number of entries cleared. */
export function eptUnmap(p: Platform, root: number, gpa: number, log2: number): number {
  const size = 2 ** log2;
  let cleared = 0;
  const step = log2 >= 21 ? 1 << 21 : 4096;
  for (let off = 0; off < size; off += step) {
    const g = gpa + off;
    const pde = pdEntryAddr(p, null, root, g);
    if (pde < 0) continue;
    const e = p.read32(pde);
    if (!present(e)) continue;
    if (e & EPT_LARGE) {
      p.write32(pde, 0);
      cleared++;
      continue;
    }
    if (step !== 4096) continue; // a 2 MiB node is always a large leaf
    const pte = ((e & ADDR_MASK) >>> 0) + ((g >>> 12) & 511) * 8;
    if (present(p.read32(pte))) {
      p.write32(pte, 0);
      cleared++;
    }
  }
  return cleared;
}

/** Walks the EPT: the host-physical address and EPT permissions of gpa, or null if not mapped. */
export function eptTranslate(p: Platform, root: number, gpa: number): { hpa: number; perm: number; large: boolean } | null {
  const pde = pdEntryAddr(p, null, root, gpa);
  if (pde < 0) return null;
  const e = p.read32(pde);
  if (!present(e)) return null;
  if (e & EPT_LARGE) return { hpa: (((e & 0xffe00000) >>> 0) + (gpa & 0x1fffff)) >>> 0, perm: e & 7, large: true };
  const pte = p.read32(((e & ADDR_MASK) >>> 0) + ((gpa >>> 12) & 511) * 8);
  if (!present(pte)) return null;
  return { hpa: (((pte & ADDR_MASK) >>> 0) + (gpa & 0xfff)) >>> 0, perm: pte & 7, large: false };
}

/** Frees every table frame of an EPT, the PML4 included. */
export function eptDestroy(p: Platform, pool: FramePool, root: number): void {
  const e4 = p.read32(root);
  if (present(e4)) {
    const pdpt = (e4 & ADDR_MASK) >>> 0;
    for (let i = 0; i < 4; i++) {
      const e3 = p.read32(pdpt + i * 8);
      if (!present(e3)) continue;
      const pd = (e3 & ADDR_MASK) >>> 0;
      for (let j = 0; j < 512; j++) {
        const e2 = p.read32(pd + j * 8);
        if (present(e2) && (e2 & EPT_LARGE) === 0) freeFrame(pool, (e2 & ADDR_MASK) >>> 0);
      }
      freeFrame(pool, pd);
    }
    freeFrame(pool, pdpt);
  }
  freeFrame(pool, root);
}
