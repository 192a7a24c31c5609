// Where a replay's checkpoints are kept between sessions (src/replay/checkpoint-cache.ts), for the
// commands that travel in time: `afterglow replay --gdb`, `afterglow gdb`, `afterglow replay --to`.
// The cache is $AFTERGLOW_CACHE (default $XDG_CACHE_HOME/afterglow, else ~/.cache/afterglow), its
// checkpoints/ folder; AFTERGLOW_CACHE=off keeps none. The entry of a Linux recording also
// remembers where its kernel runs (`kernel.json`), which is a fact of the recording that costs a
// replay of the decompressor to learn.

import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import type { KernelPlacement } from "../replay/kaslr.js";
import { cacheEntry, loadCheckpoints, saveCheckpoints } from "../replay/checkpoint-cache.js";
import { makeDirs } from "../replay/dirs.js";
import type { Debugger } from "../replay/debug.js";
import { readImage } from "./images.js";

/** The checkpoint cache's folder, or null when the user turned it off. */
export function checkpointCacheDir(): string | null {
  const env = process.env.AFTERGLOW_CACHE;
  if (env === "off") return null;
  const root = env ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "afterglow");
  return join(root, "checkpoints");
}

export interface TimeTravelOptions {
  /** The checkpoints' memory budget, in MiB (default: twice the machine's RAM). */
  checkpointBudget?: number;
}

/**
 * Starts time travel on a replay's debugger, with the checkpoints an earlier session of the same
 * recording left; returns what saves them back when the session ends.
 */
export function startTimeTravel(dbg: Debugger, file: string, opts: TimeTravelOptions = {}): { save(): void } {
  const tl = dbg.startTimeTravel({ budgetBytes: opts.checkpointBudget === undefined ? undefined : opts.checkpointBudget * 2 ** 20 });
  const dir = checkpointCacheDir();
  if (dir === null) return { save: () => {} };
  const entry = cacheEntry(dir, readImage(file));
  tl.adopt(loadCheckpoints(entry));
  return {
    save: () => {
      if (!tl.changed) return;
      try {
        saveCheckpoints(entry, tl.checkpoints());
      } catch (e) {
        process.stderr.write(`afterglow: could not save checkpoints to ${entry}: ${(e as Error).message}\n`);
      }
    },
  };
}

/**
 * Where the recording's kernel runs: as an earlier session on it found (the checkpoint cache's
 * entry), else `find()`'s answer, kept there for the next session. An error is not kept.
 */
export function rememberedPlacement(file: string, find: () => KernelPlacement | { error: string }): KernelPlacement | { error: string } {
  const dir = checkpointCacheDir();
  if (dir === null) return find();
  const entry = cacheEntry(dir, readImage(file));
  const path = join(entry, "kernel.json");
  try {
    const k = JSON.parse(readFileSync(path, "utf8")) as KernelPlacement;
    if (typeof k.offset === "number" && typeof k.physical === "number" && typeof k.how === "string") return k;
  } catch {
    // Not there yet, or unreadable: found again below.
  }
  const k = find();
  if ("error" in k) return k;
  try {
    makeDirs(entry);
    writeFileSync(`${path}.tmp-${process.pid}`, JSON.stringify(k));
    renameSync(`${path}.tmp-${process.pid}`, path);
  } catch (e) {
    process.stderr.write(`afterglow: could not keep where the kernel runs in ${entry}: ${(e as Error).message}\n`);
  }
  return k;
}
