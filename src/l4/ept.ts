// The kernel's side of EPT: the frames its tables live in, and mirroring mapping-database nodes
// of a VM space into the tables with src/vmx's builder (which the CPU's walk reads). A node of
// 2 MiB or more becomes 2 MiB leaves, a smaller one 4 KiB leaves. Guest-physical and
// host-physical addresses are below 4 GiB (ia32). Tables are read and written through the
// Platform's physical memory.

import { EptWalk, PAGE_2M, PAGE_4K, eptMap, eptTranslate, eptUnmap, makeEptp, type EptFrames } from "../vmx/ept.js";
import type { Platform } from "./platform.js";

/** The kernel's pool of 4 KiB frames (for EPT tables), as plain data. */
export interface FramePool {
  /** Next never-used frame address. */
  next: number;
  end: number;
  free: number[];
}

const ZERO_PAGE = new Uint8Array(4096);

/** A frame from the pool (zeroed unless told otherwise), or -1 when the pool is exhausted. */
export function allocFrame(p: Platform, pool: FramePool, zero = true): number {
  let f: number;
  if (pool.free.length > 0) f = pool.free.pop()!;
  else if (pool.next + 4096 <= pool.end) {
    f = pool.next;
    pool.next += 4096;
  } else return -1;
  if (zero) p.writeBytes(f, ZERO_PAGE);
  return f;
}

export function freeFrame(pool: FramePool, frame: number): void {
  pool.free.push(frame);
}

/**
 * L4 rights (R=4, W=2, X=1) as EPT permissions (R=1, W=2, X=4). EPT cannot express writable
 * without readable (that is a misconfiguration), so a write-only mapping is not writable there.
 */
export function eptRights(l4Rights: number): number {
  const r = (l4Rights & 4) !== 0;
  return (r ? 1 : 0) | (r && (l4Rights & 2) ? 2 : 0) | ((l4Rights & 1) ? 4 : 0);
}

/** The L4 rights a node of these rights really has in an EPT. */
export function eptEffectiveRights(l4Rights: number): number {
  return (l4Rights & 4) !== 0 ? l4Rights : l4Rights & ~2;
}

/** A fresh, empty EPT: its PML4 frame, or -1 when the pool is exhausted. */
export function eptCreate(p: Platform, pool: FramePool): number {
  return allocFrame(p, pool);
}

/** Maps guest-physical [gpa, gpa + 2^log2) to hpa with L4 `rights`; returns the entries written. */
export function eptMapRegion(p: Platform, frames: EptFrames, root: number, gpa: number, hpa: number, log2: number, rights: number): number {
  const perm = eptRights(rights);
  const size = 2 ** log2;
  const page = log2 >= 21 ? PAGE_2M : PAGE_4K;
  let n = 0;
  for (let off = 0; off < size; off += page, n++) eptMap(p, root, gpa + off, hpa + off, perm, page, frames);
  return n;
}

/** Clears the entries of [gpa, gpa + 2^log2); returns how many were mapped. */
export function eptUnmapRegion(p: Platform, frames: EptFrames, root: number, gpa: number, log2: number): number {
  const size = 2 ** log2;
  const page = log2 >= 21 ? PAGE_2M : PAGE_4K;
  let n = 0;
  for (let off = 0; off < size; off += page) if (eptUnmap(p, root, gpa + off, page, frames)) n++;
  return n;
}

/** Where gpa goes: host-physical address, EPT permissions and page size; null if unmapped. */
export function eptLookup(p: Platform, root: number, gpa: number): { hpa: number; perm: number; large: boolean } | null {
  const w = new EptWalk();
  if (eptTranslate(p, makeEptp(root), gpa, 0, w) !== 0) return null;
  return { hpa: w.hpa >>> 0, perm: w.perms, large: w.pageSize === PAGE_2M };
}

/** Frees every table frame of an EPT, the PML4 included. */
export function eptDestroy(p: Platform, pool: FramePool, root: number): void {
  const present = (e: number): boolean => (e & 7) !== 0;
  const e4 = p.read32(root);
  if (present(e4)) {
    const pdpt = (e4 & ~0xfff) >>> 0;
    for (let i = 0; i < 4; i++) {
      const e3 = p.read32(pdpt + i * 8);
      if (!present(e3)) continue;
      const pd = (e3 & ~0xfff) >>> 0;
      for (let j = 0; j < 512; j++) {
        const e2 = p.read32(pd + j * 8);
        if (present(e2) && (e2 & 0x80) === 0) freeFrame(pool, (e2 & ~0xfff) >>> 0);
      }
      freeFrame(pool, pd);
    }
    freeFrame(pool, pdpt);
  }
  freeFrame(pool, root);
}
