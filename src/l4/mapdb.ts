// Address spaces' mappings and the mapping database (X.2 4; Pistachio's mdb): every mapping is a
// node that knows the node it was derived from (its parent) and the nodes derived from it, so an
// Unmap can take back recursively everything that was mapped on from a page.
//
// A node maps a naturally aligned power-of-two region (2^log2 bytes, or ports for I/O nodes) of
// one space to physical memory (or to the same ports). A node's children map parts of its
// physical region (child.paddr lies inside the parent's), never more. Regions are split in halves
// when an operation covers only part of a node, so every map, grant or unmap acts on whole nodes.
//
// The root space (sigma0's) owns all physical memory and ports outside the kernel's. Its
// ownership is implicit (identity, full rights, no nodes); mappings derived from it have parent 0.
//
// Everything is plain data in MapDbState; MapDb is the code over it.

import { Rights } from "./api.js";

export interface MapNode {
  id: number;
  space: number;
  io: boolean;
  /** Virtual address (or first port) in `space`; aligned to 2^log2. */
  vaddr: number;
  log2: number;
  /** Physical address (or first port). */
  paddr: number;
  rights: number;
  /** The node this one was derived from; 0 for mappings from the root space. */
  parent: number;
  children: number[];
}

/** A space's nodes of one kind, found by address: per size, region number -> node id. */
export interface RegionIndex {
  byLog2: Record<number, Record<number, number>>;
  count: Record<number, number>;
}

export interface SpaceMaps {
  mem: RegionIndex;
  io: RegionIndex;
}

export interface MapDbState {
  nodes: Record<number, MapNode>;
  nextId: number;
  spaces: Record<number, SpaceMaps>;
  rootSpace: number;
  /** Nodes derived directly from the root space's implicit ownership. */
  rootChildren: Record<number, 1>;
  /** Physical memory the root space owns, as [base, end) pairs. */
  rootMem: [number, number][];
  /** Ports the root space owns, as [first, end) pairs. */
  rootIo: [number, number][];
}

/** What the kernel does when nodes of a space appear, change or go (EPT upkeep, costs). */
export interface MapDbHooks {
  mapped(n: MapNode): void;
  unmapped(n: MapNode): void;
  /** The node's rights changed (only ever as part of a map or unmap). */
  rightsChanged(n: MapNode): void;
}

/** A region of a source space, real node or a piece of the root's implicit ownership. */
interface Piece {
  node: number;
  vaddr: number;
  log2: number;
  paddr: number;
  rights: number;
}

const MIN_MEM_LOG2 = 12;

function pow2(n: number): number {
  return 2 ** n;
}

export function emptyIndex(): RegionIndex {
  return { byLog2: {}, count: {} };
}

export function newMapDbState(rootSpace: number, rootMem: [number, number][], rootIo: [number, number][]): MapDbState {
  return { nodes: {}, nextId: 1, spaces: {}, rootSpace, rootChildren: {}, rootMem, rootIo };
}

export class MapDb {
  /** Counts of node operations since the kernel last read them (it charges costs for them). */
  created = 0;
  removed = 0;
  private readonly scratch: number[] = [];
  /**
   * Each index's region sizes (log2), ascending: what `for...in` over byLog2 gives, without the
   * array of keys it makes every time (a lookup is on the path of every port access). Not state:
   * kept by index object, dropped when a size comes or goes.
   */
  private readonly sizes = new WeakMap<RegionIndex, number[]>();

  constructor(
    public state: MapDbState,
    private readonly hooks: MapDbHooks,
  ) {}

  addSpace(space: number): void {
    this.state.spaces[space] = { mem: emptyIndex(), io: emptyIndex() };
  }

  /** Removes every node of a space (and what was derived from them), then the space. */
  deleteSpace(space: number): void {
    const maps = this.state.spaces[space];
    if (!maps) return;
    for (const idx of [maps.mem, maps.io]) {
      const ids: number[] = [];
      for (const l in idx.byLog2) for (const k in idx.byLog2[l]) ids.push(idx.byLog2[l][k]);
      for (const id of ids) if (this.state.nodes[id]) this.removeTree(this.state.nodes[id]);
    }
    delete this.state.spaces[space];
  }

  node(id: number): MapNode | undefined {
    return this.state.nodes[id];
  }

  /** The node mapping `addr` in `space`, if any (not for the root space). */
  lookup(space: number, io: boolean, addr: number): MapNode | null {
    const maps = this.state.spaces[space];
    if (!maps) return null;
    const idx = io ? maps.io : maps.mem;
    const sizes = this.sizesOf(idx);
    for (let i = 0; i < sizes.length; i++) {
      const l = sizes[i];
      const id = idx.byLog2[l][Math.floor(addr / pow2(l))];
      if (id !== undefined) return this.state.nodes[id];
    }
    return null;
  }

  private sizesOf(idx: RegionIndex): number[] {
    let sizes = this.sizes.get(idx);
    if (sizes === undefined) this.sizes.set(idx, (sizes = Object.keys(idx.byLog2).map(Number).sort((a, b) => a - b)));
    return sizes;
  }

  /** Physical address and rights of `addr` in `space` (the root space maps identically). */
  translate(space: number, io: boolean, addr: number): { paddr: number; rights: number } | null {
    if (space === this.state.rootSpace) {
      const base = io ? addr : Math.floor(addr / 4096) * 4096;
      return this.rootOwns(io, base, io ? 0 : MIN_MEM_LOG2) === 1 ? { paddr: addr, rights: Rights.RWX } : null;
    }
    const n = this.lookup(space, io, addr);
    return n ? { paddr: n.paddr + (addr - n.vaddr), rights: n.rights } : null;
  }

  /** Whether `space` maps `addr` (translate's answer is not null), without making that answer. */
  maps(space: number, io: boolean, addr: number): boolean {
    if (space === this.state.rootSpace) return this.rootOwns(io, io ? addr : Math.floor(addr / 4096) * 4096, io ? 0 : MIN_MEM_LOG2) === 1;
    return this.lookup(space, io, addr) !== null;
  }

  /** All nodes of `space` that intersect [base, base + 2^log2), sorted by address. */
  nodesIn(space: number, io: boolean, base: number, log2: number): MapNode[] {
    this.collect(space, io, base, log2);
    return this.scratch.map((id) => this.state.nodes[id]);
  }

  /**
   * Maps (or grants) the part of `src`'s region [base, base + 2^log2) that is mapped, with at
   * most `rights`, to `dst` at dstBase. Returns the number of nodes created or moved.
   */
  map(src: number, dst: number, io: boolean, base: number, log2: number, rights: number, dstBase: number, grant: boolean): number {
    if (src === dst) return 0;
    const pieces = this.sourcePieces(src, io, base, log2);
    let n = 0;
    for (const p of pieces) {
      const iStart = Math.max(p.vaddr, base);
      const iLog2 = Math.min(p.log2, log2);
      const r = p.rights & rights;
      if (r === 0) continue;
      const paddr = p.paddr + (iStart - p.vaddr);
      const dAddr = dstBase + (iStart - base);
      if (grant && p.node !== 0) {
        let node = this.state.nodes[p.node];
        if (!node) continue;
        if (node.log2 > iLog2) node = this.splitDown(node, iStart, iLog2);
        if (this.wouldRemove(dst, io, dAddr, iLog2, node)) continue;
        this.clearRegion(dst, io, dAddr, iLog2);
        this.indexRemove(node);
        this.hooks.unmapped(node);
        node.space = dst;
        node.vaddr = dAddr;
        node.rights &= rights;
        this.indexInsert(node);
        this.hooks.mapped(node);
        this.created++;
        n++;
      } else {
        if (p.node !== 0 && !this.state.nodes[p.node]) continue;
        if (this.insertDerived(dst, io, dAddr, iLog2, paddr, r, p.node)) n++;
      }
    }
    return n;
  }

  /**
   * Takes `rights` away from everything derived from `space`'s mappings in the region, and with
   * `flush` from those mappings too; a mapping left with no rights is removed with its subtree.
   */
  unmap(space: number, io: boolean, base: number, log2: number, rights: number, flush: boolean): void {
    if (space === this.state.rootSpace) {
      const end = base + pow2(log2);
      const ids = Object.keys(this.state.rootChildren).map(Number);
      for (const id of ids) {
        let c = this.state.nodes[id];
        if (!c || c.io !== io) continue;
        const cEnd = c.paddr + pow2(c.log2);
        if (cEnd <= base || c.paddr >= end) continue;
        if (c.log2 > log2) c = this.splitDownPhys(c, base, log2);
        this.revoke(c, rights);
      }
      return;
    }
    this.collect(space, io, base, log2);
    const ids = this.scratch.slice();
    for (const id of ids) {
      let n = this.state.nodes[id];
      if (!n) continue;
      if (n.log2 > log2) n = this.splitDown(n, base, log2);
      for (const c of n.children.slice()) {
        const cn = this.state.nodes[c];
        if (cn) this.revoke(cn, rights);
      }
      if (flush) this.revoke(n, rights);
    }
  }

  // ----------------------------------------------------------------------------------------------

  /** Takes rights from n and its subtree; removes what is left with none. */
  private revoke(n: MapNode, rights: number): void {
    if ((n.rights & ~rights & 7) === 0) {
      this.removeTree(n);
      return;
    }
    if (n.rights & rights) {
      n.rights &= ~rights;
      this.hooks.rightsChanged(n);
      this.removed++;
    }
    for (const c of n.children.slice()) {
      const cn = this.state.nodes[c];
      if (cn) this.revoke(cn, rights);
    }
  }

  private insertDerived(dst: number, io: boolean, vaddr: number, log2: number, paddr: number, rights: number, parent: number): boolean {
    this.collect(dst, io, vaddr, log2);
    if (this.scratch.length === 1) {
      const e = this.state.nodes[this.scratch[0]];
      if (e.vaddr === vaddr && e.log2 === log2 && e.paddr === paddr) {
        // Mapping the same page again extends its rights (X.2 4.2).
        if ((e.rights | rights) !== e.rights) {
          e.rights |= rights;
          this.hooks.rightsChanged(e);
          this.created++;
        }
        return true;
      }
    }
    if (parent !== 0 && this.wouldRemove(dst, io, vaddr, log2, this.state.nodes[parent])) return false;
    this.clearRegion(dst, io, vaddr, log2);
    const n: MapNode = { id: this.state.nextId++, space: dst, io, vaddr, log2, paddr, rights, parent, children: [] };
    this.state.nodes[n.id] = n;
    if (parent === 0) this.state.rootChildren[n.id] = 1;
    else this.state.nodes[parent].children.push(n.id);
    this.indexInsert(n);
    this.hooks.mapped(n);
    this.created++;
    return true;
  }

  /** True when clearing dst's region would remove `source` itself or one of its ancestors. */
  private wouldRemove(dst: number, io: boolean, vaddr: number, log2: number, source: MapNode | undefined): boolean {
    if (!source) return false;
    this.collect(dst, io, vaddr, log2);
    if (this.scratch.length === 0) return false;
    const doomed = new Set(this.scratch);
    for (let n: MapNode | undefined = source; n; n = n.parent ? this.state.nodes[n.parent] : undefined) {
      if (doomed.has(n.id)) return true;
    }
    return false;
  }

  /** Removes every node of dst in the region (splitting larger ones so only the region goes). */
  private clearRegion(dst: number, io: boolean, vaddr: number, log2: number): void {
    this.collect(dst, io, vaddr, log2);
    if (this.scratch.length === 0) return;
    const ids = this.scratch.slice();
    for (const id of ids) {
      let e = this.state.nodes[id];
      if (!e) continue;
      if (e.log2 > log2) e = this.splitDown(e, vaddr, log2);
      this.removeTree(e);
    }
  }

  private removeTree(n: MapNode): void {
    for (const c of n.children) {
      const cn = this.state.nodes[c];
      if (cn) {
        cn.parent = -1; // detached: its own removal must not edit our list while we walk it
        this.removeTree(cn);
      }
    }
    if (n.parent === 0) delete this.state.rootChildren[n.id];
    else if (n.parent > 0) {
      const p = this.state.nodes[n.parent];
      if (p) {
        const i = p.children.indexOf(n.id);
        if (i >= 0) p.children.splice(i, 1);
      }
    }
    this.indexRemove(n);
    this.hooks.unmapped(n);
    delete this.state.nodes[n.id];
    this.removed++;
  }

  /** Splits n until the node holding vaddr is 2^log2; returns that node. */
  private splitDown(n: MapNode, vaddr: number, log2: number): MapNode {
    while (n.log2 > log2) {
      const [a, b] = this.split(n, true);
      n = vaddr < b.vaddr ? a : b;
    }
    return n;
  }

  /** As splitDown, choosing halves by physical address. */
  private splitDownPhys(n: MapNode, paddr: number, log2: number): MapNode {
    while (n.log2 > log2) {
      const [a, b] = this.split(n, true);
      n = paddr < b.paddr ? a : b;
    }
    return n;
  }

  /**
   * Replaces n by its two halves. Children as large as n are split too, each half going under
   * the matching half of n; smaller children move under the half that holds them.
   */
  private split(n: MapNode, relink: boolean): [MapNode, MapNode] {
    const log2 = n.log2 - 1;
    const half = pow2(log2);
    const a: MapNode = { id: this.state.nextId++, space: n.space, io: n.io, vaddr: n.vaddr, log2, paddr: n.paddr, rights: n.rights, parent: n.parent, children: [] };
    const b: MapNode = { id: this.state.nextId++, space: n.space, io: n.io, vaddr: n.vaddr + half, log2, paddr: n.paddr + half, rights: n.rights, parent: n.parent, children: [] };
    this.state.nodes[a.id] = a;
    this.state.nodes[b.id] = b;
    for (const c of n.children) {
      const cn = this.state.nodes[c];
      if (!cn) continue;
      if (cn.log2 > log2) {
        const [ca, cb] = this.split(cn, false);
        ca.parent = a.id;
        cb.parent = b.id;
        a.children.push(ca.id);
        b.children.push(cb.id);
      } else {
        const h = cn.paddr < b.paddr ? a : b;
        cn.parent = h.id;
        h.children.push(cn.id);
      }
    }
    if (relink) {
      if (n.parent === 0) {
        delete this.state.rootChildren[n.id];
        this.state.rootChildren[a.id] = 1;
        this.state.rootChildren[b.id] = 1;
      } else {
        const p = this.state.nodes[n.parent];
        const i = p.children.indexOf(n.id);
        p.children.splice(i, 1, a.id, b.id);
      }
    }
    this.indexRemove(n);
    this.hooks.unmapped(n);
    delete this.state.nodes[n.id];
    this.indexInsert(a);
    this.indexInsert(b);
    this.hooks.mapped(a);
    this.hooks.mapped(b);
    this.created += 2;
    return [a, b];
  }

  private index(n: MapNode): RegionIndex {
    const maps = this.state.spaces[n.space];
    return n.io ? maps.io : maps.mem;
  }

  private indexInsert(n: MapNode): void {
    const idx = this.index(n);
    if (idx.byLog2[n.log2] === undefined) this.sizes.delete(idx);
    const bucket = (idx.byLog2[n.log2] ??= {});
    bucket[Math.floor(n.vaddr / pow2(n.log2))] = n.id;
    idx.count[n.log2] = (idx.count[n.log2] ?? 0) + 1;
  }

  private indexRemove(n: MapNode): void {
    const maps = this.state.spaces[n.space];
    if (!maps) return;
    const idx = n.io ? maps.io : maps.mem;
    const bucket = idx.byLog2[n.log2];
    const key = Math.floor(n.vaddr / pow2(n.log2));
    if (bucket && bucket[key] === n.id) {
      delete bucket[key];
      if (--idx.count[n.log2] === 0) {
        delete idx.count[n.log2];
        delete idx.byLog2[n.log2];
        this.sizes.delete(idx);
      }
    }
  }

  /** Fills scratch with the ids of space's nodes intersecting [base, base + 2^log2), by address. */
  private collect(space: number, io: boolean, base: number, log2: number): void {
    const out = this.scratch;
    out.length = 0;
    const maps = this.state.spaces[space];
    if (!maps) return;
    const idx = io ? maps.io : maps.mem;
    let buckets = 0;
    for (const ls in idx.byLog2) {
      const l = +ls;
      const bucket = idx.byLog2[l];
      const before = out.length;
      if (l >= log2) {
        const id = bucket[Math.floor(base / pow2(l))];
        if (id !== undefined) out.push(id);
      } else {
        const first = base / pow2(l);
        const n = pow2(log2 - l);
        if (n <= 4 * idx.count[l]) {
          for (let k = first; k < first + n; k++) {
            const id = bucket[k];
            if (id !== undefined) out.push(id);
          }
        } else {
          for (const ks in bucket) {
            const k = +ks;
            if (k >= first && k < first + n) out.push(bucket[ks]);
          }
        }
      }
      if (out.length > before) buckets++;
    }
    if (buckets > 1) {
      const nodes = this.state.nodes;
      out.sort((x, y) => nodes[x].vaddr - nodes[y].vaddr);
    }
  }

  /** The source regions of a map from `space`: its nodes, or pieces of the root's ownership. */
  private sourcePieces(space: number, io: boolean, base: number, log2: number): Piece[] {
    const out: Piece[] = [];
    if (space === this.state.rootSpace) {
      this.rootPieces(io, base, log2, out);
      return out;
    }
    this.collect(space, io, base, log2);
    for (const id of this.scratch) {
      const n = this.state.nodes[id];
      out.push({ node: n.id, vaddr: n.vaddr, log2: n.log2, paddr: n.paddr, rights: n.rights });
    }
    return out;
  }

  /** 1 if the root owns all of [base, base + 2^log2), 0 if none of it, -1 if part. */
  private rootOwns(io: boolean, base: number, log2: number): number {
    const end = base + pow2(log2);
    for (const [b, e] of io ? this.state.rootIo : this.state.rootMem) {
      if (base >= b && end <= e) return 1;
      if (base < e && end > b) return -1;
    }
    return 0;
  }

  private rootPieces(io: boolean, base: number, log2: number, out: Piece[]): void {
    const own = this.rootOwns(io, base, log2);
    if (own === 0) return;
    if (own === 1) {
      out.push({ node: 0, vaddr: base, log2, paddr: base, rights: Rights.RWX });
      return;
    }
    if (log2 <= (io ? 0 : MIN_MEM_LOG2)) return;
    this.rootPieces(io, base, log2 - 1, out);
    this.rootPieces(io, base + pow2(log2 - 1), log2 - 1, out);
  }
}
