// RAM as checkpoints keep it: one 4 KiB page object per physical page, shared between checkpoints
// while its bytes do not change. A capture copies only the pages written since the image RAM was
// last in step with (PhysMem's CLEAN flags: the first write to a page after a checkpoint takes the
// slow path once and marks it dirty); a restore puts back only the pages that differ, through the
// barrier, so the CPU drops the decoded (and compiled) code of those pages whose instruction bytes
// change, and only that. All-zero pages share one object.

import { PAGE_SHIFT, PAGE_SIZE, type PhysMem } from "../machine/memory.js";

/** A page's bytes; never written once in an image. */
export type Page = Uint8Array;

/** RAM at one instant: a page object per physical page. */
export interface RamImage {
  readonly pages: readonly Page[];
}

/**
 * The distinct pages of a set of images kept elsewhere (the checkpoint cache's pages file), by
 * number from 1 (0 is the zero page). Each number has one page object, made when first asked for,
 * so images of the store share pages as the captured ones do; the bytes are read at the first.
 */
export class PageStore {
  private readonly byNumber: (Page | undefined)[];
  private readonly numbers = new Map<Page, number>();
  private bytes: Uint8Array | null = null;

  constructor(readonly count: number, private readonly read: () => Uint8Array) {
    this.byNumber = new Array<Page | undefined>(count + 1);
  }

  page(k: number): Page {
    if (k === 0) return ZERO_PAGE;
    let pg = this.byNumber[k];
    if (pg === undefined) {
      this.bytes ??= this.read();
      pg = this.bytes.subarray((k - 1) * PAGE_SIZE, k * PAGE_SIZE);
      this.byNumber[k] = pg;
      this.numbers.set(pg, k);
    }
    return pg;
  }

  /** The number of one of this store's page objects, or undefined for any other page. */
  numberOf(pg: Page): number | undefined {
    return this.numbers.get(pg);
  }
}

/**
 * An image of a PageStore: its page numbers, one per physical page. Its page objects are made
 * when first read (a restore), so taking over many images costs only their tables.
 */
export class StoredRam implements RamImage {
  private made: Page[] | null = null;

  constructor(readonly table: Uint32Array, readonly store: PageStore) {}

  get pages(): readonly Page[] {
    if (this.made === null) {
      const t = this.table;
      const pages = new Array<Page>(t.length);
      for (let p = 0; p < t.length; p++) pages[p] = this.store.page(t[p]);
      this.made = pages;
    }
    return this.made;
  }
}

/** The one all-zero page every image shares. */
export const ZERO_PAGE: Page = new Uint8Array(PAGE_SIZE);

function copyPage(mem: PhysMem, p: number): Page {
  const words = mem.i32;
  const first = p << (PAGE_SHIFT - 2);
  let zero = true;
  for (let k = first; k < first + PAGE_SIZE / 4; k++) {
    if (words[k] !== 0) {
      zero = false;
      break;
    }
  }
  return zero ? ZERO_PAGE : mem.u8.slice(p << PAGE_SHIFT, (p + 1) << PAGE_SHIFT);
}

/**
 * RAM now as an image. `base` is the image RAM was last in step with (the last capture or restore
 * into `mem`), or null to copy every page. Starts a new tracking epoch.
 */
export function captureRam(mem: PhysMem, base: RamImage | null): RamImage {
  const n = mem.pageFlags.length;
  const pages = new Array<Page>(n);
  for (let p = 0; p < n; p++) pages[p] = base !== null && !mem.isDirty(p) ? base.pages[p] : copyPage(mem, p);
  mem.markClean();
  return { pages };
}

/**
 * Makes RAM equal `target`, writing only the pages that differ from it: those written since RAM
 * was last in step with `base`, and those where `base` and `target` hold different page objects.
 * Returns how many pages it wrote. Starts a new tracking epoch.
 */
export function restoreRam(mem: PhysMem, base: RamImage, target: RamImage): number {
  let written = 0;
  const n = mem.pageFlags.length;
  for (let p = 0; p < n; p++) {
    if (mem.isDirty(p) || base.pages[p] !== target.pages[p]) {
      mem.restorePage(p, target.pages[p]);
      written++;
    }
  }
  mem.markClean();
  return written;
}

/**
 * The distinct pages a set of images holds, counted as they come and go: their memory. A stored
 * image's pages are counted by their numbers, without making its page objects, and a captured
 * image that shares a stored page (captured after a restore of a stored image) counts it by its
 * number too: one page, counted once.
 */
export class PageCount {
  private readonly refs = new Map<Page, number>();
  private readonly stored = new Map<PageStore, Int32Array>();
  private distinctStored = 0;

  add(img: RamImage): void {
    this.change(img, 1);
  }

  remove(img: RamImage): void {
    this.change(img, -1);
  }

  private change(img: RamImage, d: 1 | -1): void {
    if (img instanceof StoredRam) {
      const refs = this.refsOf(img.store);
      const t = img.table;
      for (let p = 0; p < t.length; p++) if (t[p] !== 0) this.countStored(refs, t[p], d);
      return;
    }
    const stores = [...this.stored];
    for (const pg of img.pages) {
      if (pg === ZERO_PAGE) continue;
      let k: number | undefined;
      for (const [store, refs] of stores) {
        k = store.numberOf(pg);
        if (k !== undefined) {
          this.countStored(refs, k, d);
          break;
        }
      }
      if (k !== undefined) continue;
      const n = (this.refs.get(pg) ?? 0) + d;
      if (n <= 0) this.refs.delete(pg);
      else this.refs.set(pg, n);
    }
  }

  private refsOf(store: PageStore): Int32Array {
    let refs = this.stored.get(store);
    if (refs === undefined) {
      refs = new Int32Array(store.count + 1);
      this.stored.set(store, refs);
    }
    return refs;
  }

  private countStored(refs: Int32Array, k: number, d: 1 | -1): void {
    const was = refs[k];
    refs[k] = was + d;
    if (was === 0) this.distinctStored++;
    else if (was === 1 && d < 0) this.distinctStored--;
  }

  /** Bytes of distinct non-zero pages. */
  get bytes(): number {
    return (this.refs.size + this.distinctStored) * PAGE_SIZE;
  }
}
