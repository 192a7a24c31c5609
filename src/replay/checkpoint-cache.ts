// Checkpoints that outlive the process: a replay's Timeline saves its checkpoints in a cache
// directory when the session ends, and the next session on the same recording takes them over,
// so it starts from the nearest one instead of replaying from the beginning (and a continue
// skips the stretches that never ran a breakpoint's page).
//
// Content-addressed: the entry's name is the SHA-256 of the recording's bytes and of the
// emulator's own code (the built modules of every layer that runs the machine), so a changed
// recording or emulator never meets an old entry. An entry is three files written under temporary
// names and renamed into place (`meta` last): `meta` (the index: each checkpoint's position, its
// stretch's code pages and its machine state, serialized on its own by node:v8), `tables` (each
// checkpoint's page table, a number per physical page) and `pages` (every distinct page once,
// 4 KiB each). Bounded: the whole cache is kept under a size, the least recently used entries
// removed first. Safe to delete at any time: a missing or unreadable entry is a cold start.
//
// Loading is lazy, for a session's first command waits on it: it reads the index and the tables;
// a checkpoint's state is deserialized when first read, and its page objects made (and the pages
// file read) when first restored. Each state is serialized apart because node:v8 deserializes a
// typed array as a view into the buffer it reads: states read out of one big buffer would each
// hold all of it, and every copy a restore makes would copy all of it.

import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { deserialize, serialize } from "node:v8";
import { PAGE_SIZE } from "../machine/memory.js";
import { PageStore, StoredRam, ZERO_PAGE, type Page } from "./checkpoint.js";
import { makeDirs } from "./dirs.js";
import type { Checkpoint } from "./timeline.js";

const FORMAT = 2;
/** The layers whose code decides what a checkpoint holds. */
const CODE_DIRS = ["machine", "vmx", "l4", "vmm", "devices", "x86", "replay"];
/** In those, the debugger's modules: how it moves through history changes no state it keeps. */
const NOT_STATE = new Set(["debug.js", "reverse.js", "debug.ts", "reverse.ts"]);
const FILES = ["pages", "tables", "meta"] as const;

export const DEFAULT_CACHE_BYTES = 4 * 1024 ** 3;

interface IndexEntry {
  pos: Checkpoint["pos"];
  codeToNext: Checkpoint["codeToNext"];
  /** The machine state and cursor, serialized by node:v8. */
  state: Uint8Array;
}

interface Meta {
  format: number;
  pageCount: number;
  /** Physical pages: the length of each checkpoint's table. */
  tableLength: number;
  checkpoints: IndexEntry[];
}

/** A checkpoint read from the cache: its state deserialized when first read. */
class CachedCheckpoint implements Checkpoint {
  private st: Checkpoint["state"] | null = null;

  constructor(readonly pos: Checkpoint["pos"], readonly ram: StoredRam, readonly stateBytes: Uint8Array, public codeToNext: Checkpoint["codeToNext"]) {}

  get state(): Checkpoint["state"] {
    // A copy of the bytes: the state's typed arrays are views into what it is read from.
    return (this.st ??= deserialize(this.stateBytes.slice()) as Checkpoint["state"]);
  }
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
  // Every distinct page once, numbered from 1 in the order first met. Stored images (taken over
  // from this entry) are numbered through their stores' numbers, without their page objects.
  const index = new Map<Page, number>();
  const renumber = new Map<PageStore, Int32Array>();
  const order: Page[] = [];
  const viaStore = (store: PageStore, k: number): number => {
    const to = renumber.get(store)!;
    if (to[k] === 0) {
      order.push(store.page(k));
      to[k] = order.length;
    }
    return to[k];
  };
  const numberOf = (pg: Page): number => {
    if (pg === ZERO_PAGE) return 0;
    for (const store of renumber.keys()) {
      const k = store.numberOf(pg);
      if (k !== undefined) return viaStore(store, k);
    }
    let n = index.get(pg);
    if (n === undefined) {
      order.push(pg);
      n = order.length;
      index.set(pg, n);
    }
    return n;
  };
  for (const cp of cps) if (cp.ram instanceof StoredRam && !renumber.has(cp.ram.store)) renumber.set(cp.ram.store, new Int32Array(cp.ram.store.count + 1));
  const tableLength = cps.length === 0 ? 0 : cps[0].ram.pages.length;
  const tables = new Uint32Array(cps.length * tableLength);
  const checkpoints: IndexEntry[] = cps.map((cp, i) => {
    const table = tables.subarray(i * tableLength, (i + 1) * tableLength);
    const ram = cp.ram;
    if (ram instanceof StoredRam) {
      for (let p = 0; p < tableLength; p++) table[p] = ram.table[p] === 0 ? 0 : viaStore(ram.store, ram.table[p]);
    } else {
      const pages = ram.pages;
      for (let p = 0; p < tableLength; p++) table[p] = numberOf(pages[p]);
    }
    const state = cp instanceof CachedCheckpoint ? cp.stateBytes : serialize(cp.state);
    return { pos: cp.pos, codeToNext: cp.codeToNext, state };
  });
  makeDirs(entry);
  const blob = new Uint8Array(order.length * PAGE_SIZE);
  order.forEach((pg, k) => blob.set(pg, k * PAGE_SIZE));
  const meta: Meta = { format: FORMAT, pageCount: order.length, tableLength, checkpoints };
  const tmp = `.tmp-${process.pid}`;
  const data = { pages: blob, tables: new Uint8Array(tables.buffer), meta: serialize(meta) };
  for (const f of FILES) writeFileSync(join(entry, `${f}${tmp}`), data[f]);
  for (const f of FILES) renameSync(join(entry, `${f}${tmp}`), join(entry, f));
  trim(dirname(entry), maxBytes, entry);
}

/** The checkpoints saved in `entry`, or [] when there are none (or they cannot be read). */
export function loadCheckpoints(entry: string): Checkpoint[] {
  try {
    const meta = deserialize(readFileSync(join(entry, "meta"))) as Meta;
    if (meta.format !== FORMAT) return [];
    const bytes = readFileSync(join(entry, "tables"));
    const n = meta.tableLength;
    if (bytes.length !== meta.checkpoints.length * n * 4) return [];
    // A table per checkpoint, views into one aligned copy of the file.
    const tables = new Uint32Array(bytes.byteOffset % 4 === 0 ? bytes.buffer : bytes.slice().buffer, bytes.byteOffset % 4 === 0 ? bytes.byteOffset : 0, bytes.length / 4);
    const pagesFile = join(entry, "pages");
    if (statSync(pagesFile).size !== meta.pageCount * PAGE_SIZE) return [];
    const store = new PageStore(meta.pageCount, () => new Uint8Array(readFileSync(pagesFile)));
    const now = new Date();
    utimesSync(join(entry, "meta"), now, now);
    return meta.checkpoints.map((c, i) => new CachedCheckpoint(c.pos, new StoredRam(tables.subarray(i * n, (i + 1) * n), store), c.state, c.codeToNext));
  } catch {
    return [];
  }
}

/** Removes the least recently used entries (but `keep`) until the cache is under `maxBytes`. */
function trim(root: string, maxBytes: number, keep: string): void {
  const entries = readdirSync(root)
    .map((name) => join(root, name))
    .filter((p) => existsSync(join(p, "meta")))
    .map((p) => ({ p, size: FILES.reduce((n, f) => n + (existsSync(join(p, f)) ? statSync(join(p, f)).size : 0), 0), used: statSync(join(p, "meta")).mtimeMs }))
    .sort((a, b) => a.used - b.used);
  let total = entries.reduce((n, e) => n + e.size, 0);
  for (const e of entries) {
    if (total <= maxBytes) break;
    if (e.p === keep) continue;
    rmSync(e.p, { recursive: true, force: true });
    total -= e.size;
  }
}
