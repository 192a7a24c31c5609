// Making a directory and its parents, as `mkdir -p` does, for every file afterglow writes (the
// checkpoint cache, chaos's kept runs, fetched guest images).

import { mkdirSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";

/**
 * Makes the directory `path` and its parents; throws node:fs's error for the first that cannot be.
 * Not by mkdirSync's recursive mode: where a parent exists but refuses the child with ENOENT
 * (anywhere under /proc), Node's takes that for a missing parent and retries forever, at full CPU,
 * deaf to Ctrl-C.
 */
export function makeDirs(path: string): void {
  const chain: string[] = [];
  for (let p = resolve(path); ; p = dirname(p)) {
    chain.unshift(p);
    if (dirname(p) === p) break;
  }
  for (const p of chain) {
    try {
      mkdirSync(p);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
  }
  if (!statSync(path).isDirectory()) throw Object.assign(new Error(`EEXIST: file already exists, mkdir '${path}'`), { code: "EEXIST", syscall: "mkdir", path });
}
