// Guest images the CLI loads: files named by the user, and the built-in default guest shipped as
// a committed flat binary beside its nasm source (guests/builtin/).

import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { UsageError } from "./errors.js";

/** The package's root directory, found from this module whether it runs from src/ or dist/. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) {
    const up = dirname(dir);
    if (up === dir) throw new Error("cannot find the afterglow package root");
    dir = up;
  }
  return dir;
}

export function builtinGuestPath(): string {
  return join(packageRoot(), "guests", "builtin", "hello.bin");
}

/** Reads an image file, turning I/O errors into one clear line. */
export function readImage(path: string): Uint8Array {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot read ${path}: ${code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory" : code ?? String(err)}`);
  }
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
}
