// Checkpoints that outlive the process: a replay's Timeline saves its checkpoints in a cache
// directory when the session ends, and the next session on the same recording takes them over,
// so it starts from the nearest one instead of replaying from the beginning (and a continue
// skips the stretches that never ran a breakpoint's page).
//
// Content-addressed: the entry's name is the SHA-256 of the recording's bytes and of the
// emulator's own code (the built modules of every layer that runs the machine), so a changed
// recording or emulator never meets an old entry. An entry is two files written under temporary
// names and renamed into place: `meta` (the positions, the machine states and each checkpoint's
// page table, as node:v8 serializes them) and `pages` (every distinct page once, 4 KiB each).
// Bounded: the whole cache is kept under a size, the least recently used entries removed first.
// Safe to delete at any time: a missing or unreadable entry is a cold start.

import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { deserialize, serialize } from "node:v8";
import { PAGE_SIZE } from "../machine/memory.js";
import { ZERO_PAGE, type Page } from "./checkpoint.js";
import type { Checkpoint } from "./timeline.js";

const FORMAT = 1;
/** The layers whose code decides what a checkpoint holds. */
const CODE_DIRS = ["machine", "vmx", "l4", "vmm", "devices", "x86", "replay"];
/** In those, the debugger's modules: how it moves through history changes no state it keeps. */
const NOT_STATE = new Set(["debug.js", "reverse.js", "debug.ts", "reverse.ts"]);

export const DEFAULT_CACHE_BYTES = 4 * 1024 ** 3;

interface SavedCheckpoint {
  pos: Checkpoint["pos"];
  state: Checkpoint["state"];
  /** Per physical page: 0 for the zero page, else 1 + its index in the pages file. */
  pages: Uint32Array;
  codeToNext: Checkpoint["codeToNext"];
}

interface Meta {
  format: number;
  pageCount: number;
  checkpoints: SavedCheckpoint[];
}

let codeHash: string | undefined;

/** A digest of the emulator's code: the modules of the layers below the host tools. */
function emulatorCode(): string {
  if (codeHash !== undefined) return codeHash;
  const src = dirname(dirname(fileURLToPath(import.meta.url)));
  const h = createHash("sha256");
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.(js|ts)$/.test(name) && !/\.test\.|\.d\.ts$/.test(name) && !NOT_STATE.has(name)) h.update(name).update(readFileSync(p));
    }
  };
  for (const d of CODE_DIRS) if (existsSync(join(src, d))) walk(join(src, d));
  return (codeHash = h.digest("hex"));
}

/** The cache entry's directory for a recording. */
export function cacheEntry(root: string, recording: Uint8Array): string {
  const key = createHash("sha256").update(recording).update(emulatorCode()).digest("hex").slice(0, 32);
  return join(root, key);
}

/** Saves checkpoints into `entry`, replacing what was there; then keeps the cache under `maxBytes`. */
export function saveCheckpoints(entry: string, cps: readonly Checkpoint[], maxBytes = DEFAULT_CACHE_BYTES): void {
  const index = new Map<Page, number>();
  const order: Page[] = [];
  const saved: SavedCheckpoint[] = cps.map((cp) => {
    const pages = new Uint32Array(cp.ram.pages.length);
    cp.ram.pages.forEach((pg, p) => {
      if (pg === ZERO_PAGE) return;
      let k = index.get(pg);
      if (k === undefined) {
        k = order.length;
        index.set(pg, k);
        order.push(pg);
      }
      pages[p] = k + 1;
    });
    return { pos: cp.pos, state: cp.state, pages, codeToNext: cp.codeToNext };
  });
  mkdirSync(entry, { recursive: true });
  const blob = new Uint8Array(order.length * PAGE_SIZE);
  order.forEach((pg, k) => blob.set(pg, k * PAGE_SIZE));
  const meta: Meta = { format: FORMAT, pageCount: order.length, checkpoints: saved };
  const tmp = `.tmp-${process.pid}`;
  writeFileSync(join(entry, `pages${tmp}`), blob);
  writeFileSync(join(entry, `meta${tmp}`), serialize(meta));
  renameSync(join(entry, `pages${tmp}`), join(entry, "pages"));
  renameSync(join(entry, `meta${tmp}`), join(entry, "meta"));
  trim(dirname(entry), maxBytes, entry);
}

/** The checkpoints saved in `entry`, or [] when there are none (or they cannot be read). */
export function loadCheckpoints(entry: string): Checkpoint[] {
  try {
    const meta = deserialize(readFileSync(join(entry, "meta"))) as Meta;
    const blob = new Uint8Array(readFileSync(join(entry, "pages")));
    if (meta.format !== FORMAT || blob.length !== meta.pageCount * PAGE_SIZE) return [];
    const now = new Date();
    utimesSync(join(entry, "meta"), now, now);
    // By the saved index: 0 the zero page, k the pages file's page k-1.
    const byIndex: Page[] = [ZERO_PAGE];
    for (let k = 0; k < meta.pageCount; k++) byIndex.push(blob.subarray(k * PAGE_SIZE, (k + 1) * PAGE_SIZE));
    return meta.checkpoints.map((c) => {
      // A plain loop: a session's first command waits on this, some ten million pages.
      const pages = new Array<Page>(c.pages.length);
      for (let p = 0; p < pages.length; p++) pages[p] = byIndex[c.pages[p]];
      return { pos: c.pos, state: c.state, ram: { pages }, codeToNext: c.codeToNext };
    });
  } catch {
    return [];
  }
}

/** Removes the least recently used entries (but `keep`) until the cache is under `maxBytes`. */
function trim(root: string, maxBytes: number, keep: string): void {
  const entries = readdirSync(root)
    .map((name) => join(root, name))
    .filter((p) => existsSync(join(p, "meta")))
    .map((p) => ({ p, size: statSync(join(p, "pages")).size + statSync(join(p, "meta")).size, used: statSync(join(p, "meta")).mtimeMs }))
    .sort((a, b) => a.used - b.used);
  let total = entries.reduce((n, e) => n + e.size, 0);
  for (const e of entries) {
    if (total <= maxBytes) break;
    if (e.p === keep) continue;
    rmSync(e.p, { recursive: true, force: true });
    total -= e.size;
  }
}
