// RAM's part of a state hash, page by page: SHA-256 of each 4 KiB page, kept while the page is not
// written, then SHA-256 of the pages' digests in order. Hashing all of RAM at every state hash cost
// a fuzzing case most of its time (8 MiB under the stack, at each of a recording's hashes); this
// way a hash reads only the pages written since the last one. PhysMem's write barrier clears a
// page's HASHED flag at its first write, as it clears CLEAN for checkpoints.

import { createHash } from "node:crypto";
import { PAGE_SHIFT, PAGE_SIZE, PageFlag, type PhysMem } from "../machine/memory.js";

/** Bytes of a page's digest kept (a SHA-256 prefix: far beyond any chance collision). */
export const PAGE_DIGEST = 16;

const pageDigest = (bytes: Uint8Array): Uint8Array => createHash("sha256").update(bytes).digest().subarray(0, PAGE_DIGEST);
const ZERO_PAGE = new Uint8Array(PAGE_SIZE);
const ZERO_DIGEST = pageDigest(ZERO_PAGE);

/** A page's digest, from its bytes. */
export function digestOfPage(page: Uint8Array): Uint8Array {
  // Most of RAM is zero pages never written: a compare costs less than a hash.
  return Buffer.compare(page, ZERO_PAGE) === 0 ? ZERO_DIGEST : pageDigest(page);
}

/** One cache per RAM: the HASHED flags are the cache's, and a RAM has one set. */
const caches = new WeakMap<PhysMem, Uint8Array>();

/**
 * A new cache: a page still HASHED before there was one has not been written since power-on
 * (PhysMem sets the flag on every page), so it is zeros, known without reading it.
 */
function newCache(flags: Uint8Array): Uint8Array {
  const table = new Uint8Array(flags.length * PAGE_DIGEST);
  for (let p = 0; p < flags.length; p++) if ((flags[p] & PageFlag.HASHED) !== 0) table.set(ZERO_DIGEST, p * PAGE_DIGEST);
  return table;
}

/** The digests of every page of `mem`, in page order, brought up to date (do not keep: it changes). */
export function pageDigests(mem: PhysMem): Uint8Array {
  const flags = mem.pageFlags;
  let table = caches.get(mem);
  if (table === undefined) caches.set(mem, (table = newCache(flags)));
  for (let p = 0; p < flags.length; p++) {
    if ((flags[p] & PageFlag.HASHED) !== 0) continue;
    table.set(digestOfPage(mem.u8.subarray(p << PAGE_SHIFT, (p + 1) << PAGE_SHIFT)), p * PAGE_DIGEST);
    flags[p] |= PageFlag.HASHED;
  }
  return table;
}
