// Where a replay's checkpoints are kept between sessions (src/replay/checkpoint-cache.ts), for the
// commands that travel in time: `afterglow replay --gdb`, `afterglow gdb`, `afterglow replay --to`.
// The cache is $AFTERGLOW_CACHE (default $XDG_CACHE_HOME/afterglow, else ~/.cache/afterglow), its
// checkpoints/ folder; AFTERGLOW_CACHE=off keeps none.

import { homedir } from "node:os";
import { join } from "node:path";
import { cacheEntry, loadCheckpoints, saveCheckpoints } from "../replay/checkpoint-cache.js";
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
