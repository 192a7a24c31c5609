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

/** The distinct pages a set of images holds, counted as they come and go: their memory. */
export class PageCount {
  private readonly refs = new Map<Page, number>();

  add(img: RamImage): void {
    for (const pg of img.pages) {
      if (pg !== ZERO_PAGE) this.refs.set(pg, (this.refs.get(pg) ?? 0) + 1);
    }
  }

  remove(img: RamImage): void {
    for (const pg of img.pages) {
      if (pg === ZERO_PAGE) continue;
      const n = this.refs.get(pg)!;
      if (n <= 1) this.refs.delete(pg);
      else this.refs.set(pg, n - 1);
    }
  }

  /** Bytes of distinct non-zero pages. */
  get bytes(): number {
    return this.refs.size * PAGE_SIZE;
  }
}
