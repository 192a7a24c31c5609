// Files the user names for the CLI to write (record -o, pack -o, chaos --dir, guest fetch --dir,
// build-initramfs --out): every way the file system can refuse one — a missing directory, a
// directory where a file should be or a file where a directory should be, no permission, no
// space — is the user's to fix, and becomes a UsageError naming the path in one line.

import { openSync, renameSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { makeDirs } from "../replay/dirs.js";
import { UsageError } from "./errors.js";

const WHY: Record<string, string> = {
  ENOENT: "no such directory",
  EISDIR: "it is a directory",
  ENOTDIR: "a part of the path is not a directory",
  EEXIST: "it exists and is not a directory",
  EACCES: "permission denied",
  EPERM: "permission denied",
  EROFS: "the file system is read-only",
  ENOSPC: "no space left on the device",
  EDQUOT: "over the disk quota",
};

/** The UsageError for a file system error `err` met doing `what` (e.g. "write x.rec"), or `err` itself when it is no such error. */
export function fileError(err: unknown, what: string): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === undefined || !(err instanceof Error) || (err as NodeJS.ErrnoException).syscall === undefined) return err;
  return new UsageError(`cannot ${what}: ${WHY[code] ?? code}`);
}

/** Runs `f`, which touches the file system to `what`, turning its errors into the user's. */
function userFile<T>(what: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    throw fileError(err, what);
  }
}

/**
 * Writes `data` to `path`, replacing it whole: into a file beside it first, renamed over it once
 * written, so that a write that fails (no space left) leaves what was there — `pack FILE` rewrites
 * the very recording it read.
 */
export function writeUserFile(path: string, data: Uint8Array | string): void {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  userFile(`write ${path}`, () => {
    try {
      writeFileSync(temp, data);
      renameSync(temp, path);
    } catch (err) {
      rmSync(temp, { force: true });
      throw err;
    }
  });
}

/** Opens `path` for writing from the start; the file descriptor. */
export function openUserFile(path: string): number {
  return userFile(`write ${path}`, () => openSync(path, "w"));
}

/** Makes the directory `path` and its parents, as `mkdir -p` does. */
export function makeUserDir(path: string): void {
  userFile(`make the directory ${path}`, () => makeDirs(path));
}

/** Writes `data` at the end of what was written to `fd`, the file `path` opened by openUserFile. */
export function writeUserFd(fd: number, path: string, data: Uint8Array): void {
  userFile(`write ${path}`, () => writeSync(fd, data));
}
