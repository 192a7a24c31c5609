// Address spaces and mapping (Pistachio's space.cc and the mapping part of ipc.cc): creating and
// deleting spaces, SpaceControl, the map and grant items of a message placed by the receive
// window, Unmap, and the EPT and I/O bitmaps kept in step with the mappings of a VM space.

import {
  ANY_THREAD,
  L4Error,
  Rights,
  SPACE_VM,
  UNMAP_FLUSH,
  fpageBase,
  fpageLog2,
  fpageRights,
  ioFpageLog2,
  ioFpagePort,
  isIoFpage,
  itemSndBase,
  withRights,
  type Syscall,
  type SyscallResult,
} from "./api.js";
import { COSTS } from "./costs.js";
import { eptCreate, eptDestroy, eptMapRegion, eptUnmapRegion } from "./ept.js";
import { ioBitmapsCreate, ioBitmapsDestroy, ioBitmapsSet } from "./iobitmap.js";
import type { MapNode } from "./mapdb.js";
import { lookup, privileged, type KernelContext, type SpaceState, type Tcb } from "./state.js";

const UNMAP_DONE: SyscallResult = { op: "unmap" };

export function newSpace(k: KernelContext, isPrivileged: boolean): number {
  const id = k.s.nextSpace++;
  k.s.spaces[id] = {
    id, vm: false, privileged: isPrivileged, initialized: false, eptRoot: -1, ioBitmaps: [], threads: 0, kipArea: 0, utcbArea: 0, redirector: ANY_THREAD,
  };
  k.mapdb.addSpace(id);
  return id;
}

/**
 * Makes a space a VM space with an empty EPT and I/O bitmaps that make every port exit; false
 * when the kernel has no frames for them.
 */
export function makeVmSpace(k: KernelContext, space: SpaceState): boolean {
  const root = eptCreate(k.platform, k.s.frames);
  if (root < 0) return false;
  const io = ioBitmapsCreate(k.platform, k.s.frames);
  if (!io) {
    eptDestroy(k.platform, k.s.frames, root);
    return false;
  }
  space.vm = true;
  space.eptRoot = root;
  space.ioBitmaps = io;
  return true;
}

/** The last thread of a space is gone: the space, its mappings and its EPT go too (not the root space). */
export function releaseSpace(k: KernelContext, space: SpaceState): void {
  if (--space.threads !== 0 || space.id === k.s.mapdb.rootSpace) return;
  k.mapdb.deleteSpace(space.id);
  chargeMapOps(k);
  if (space.eptRoot >= 0) eptDestroy(k.platform, k.s.frames, space.eptRoot);
  ioBitmapsDestroy(k.s.frames, space.ioBitmaps);
  delete k.s.spaces[space.id];
}

export function spaceControl(k: KernelContext, t: Tcb, req: Syscall & { op: "spaceControl" }): void {
  const fail = (err: L4Error): void => {
    t.utcb.errorCode = err;
    t.result = { op: "spaceControl", result: 0, control: 0 };
  };
  if (!privileged(k, t)) return fail(L4Error.NO_PRIVILEGE);
  const d = lookup(k, req.space);
  if (!d) return fail(L4Error.INVALID_SPACE);
  const space = k.s.spaces[d.space];
  const old = space.vm ? SPACE_VM : 0;
  if ((req.control & SPACE_VM) && !space.vm) {
    const maps = k.s.mapdb.spaces[space.id];
    const empty = Object.keys(maps.mem.count).length === 0;
    if (space.initialized || space.privileged || !empty) return fail(L4Error.INVALID_SPACE);
    if (!makeVmSpace(k, space)) return fail(L4Error.NO_MEM);
  }
  if (req.kipArea !== undefined) space.kipArea = req.kipArea;
  if (req.utcbArea !== undefined) space.utcbArea = req.utcbArea;
  if (req.redirector !== undefined) space.redirector = req.redirector;
  space.initialized = true;
  t.result = { op: "spaceControl", result: 1, control: old };
}

/**
 * One map or grant item of a message from src to dst, placed by dst's receive window (`window`,
 * an fpage; X.2's rule: a small fpage at the window base plus the send base modulo the window
 * size, a large one cut to the window). I/O fpages keep their port numbers and need the whole
 * address space as window.
 */
export function mapItem(k: KernelContext, src: Tcb, dst: Tcb, w0: number, f: number, grant: boolean, window: number): void {
  if (isIoFpage(f)) {
    if (fpageLog2(window) !== 32) return;
    const port = ioFpagePort(f);
    const log2 = ioFpageLog2(f);
    k.mapdb.map(src.space, dst.space, true, port - (port % 2 ** log2), log2, Rights.RWX, port - (port % 2 ** log2), grant);
  } else {
    const s = fpageLog2(f);
    const b = fpageBase(f);
    const sb = itemSndBase(w0);
    const wl = fpageLog2(window);
    const wb = fpageBase(window);
    if (s < 12) return;
    if (s <= wl) {
      const dstBase = wb + Math.floor((sb % 2 ** wl) / 2 ** s) * 2 ** s;
      k.mapdb.map(src.space, dst.space, false, b, s, fpageRights(f), dstBase, grant);
    } else {
      const off = Math.floor((sb % 2 ** s) / 2 ** wl) * 2 ** wl;
      k.mapdb.map(src.space, dst.space, false, b + off, wl, fpageRights(f), wb, grant);
    }
  }
  chargeMapOps(k);
}

export function unmap(k: KernelContext, t: Tcb, control: number): void {
  const n = (control & 0x3f) + 1;
  const flush = (control & UNMAP_FLUSH) !== 0;
  const mr = t.utcb.mr;
  for (let i = 0; i < n; i++) {
    const f = mr[i];
    if (f === 0) continue;
    if (isIoFpage(f)) {
      const log2 = ioFpageLog2(f);
      const port = ioFpagePort(f);
      k.mapdb.unmap(t.space, true, port - (port % 2 ** log2), log2, Rights.RWX, flush);
    } else {
      const log2 = fpageLog2(f);
      if (log2 >= 12) k.mapdb.unmap(t.space, false, fpageBase(f), log2, fpageRights(f), flush);
    }
    chargeMapOps(k);
    // No reference/dirty bits are kept: the returned fpage reports none.
    mr[i] = withRights(f, 0);
  }
  t.result = UNMAP_DONE;
}

/** Charges the mapping-database nodes created and removed since the last charge. */
export function chargeMapOps(k: KernelContext): void {
  const db = k.mapdb;
  if (db.created || db.removed) {
    k.platform.charge(COSTS.MAP_NODE * db.created + COSTS.UNMAP_NODE * db.removed);
    db.created = 0;
    db.removed = 0;
  }
}

// ------------------------------------------------------------------------------------------------
// EPT and I/O bitmap upkeep for nodes of VM spaces (the mapping database's hooks).

/** Ports mapped into a VM space are the guest's own (no exit); unmapped ones exit again. */
function ioBitmapsUpdate(k: KernelContext, n: MapNode, exit: boolean): void {
  const space = k.s.spaces[n.space];
  if (!space || !space.vm) return;
  k.platform.charge(COSTS.EPT_ENTRY * ioBitmapsSet(k.platform, space.ioBitmaps, n.vaddr, 2 ** n.log2, exit));
}

export function eptMapped(k: KernelContext, n: MapNode): void {
  if (n.io) return ioBitmapsUpdate(k, n, false);
  const space = k.s.spaces[n.space];
  if (!space || !space.vm) return;
  const written = eptMapRegion(k.platform, k.eptFrames, space.eptRoot, n.vaddr, n.paddr, n.log2, n.rights);
  k.platform.charge(COSTS.EPT_ENTRY * written);
  k.platform.invalidateEpt(space.eptRoot);
}

export function eptUnmapped(k: KernelContext, n: MapNode): void {
  if (n.io) return ioBitmapsUpdate(k, n, true);
  const space = k.s.spaces[n.space];
  if (!space || !space.vm) return;
  const cleared = eptUnmapRegion(k.platform, k.eptFrames, space.eptRoot, n.vaddr, n.log2);
  k.platform.charge(COSTS.EPT_ENTRY * cleared);
  k.platform.invalidateEpt(space.eptRoot);
}
