import { describe, expect, it } from "vitest";
import { UsageError } from "./errors.js";
import { fileError } from "./files.js";

/** An error as node:fs throws it. */
function fsError(code: string, syscall: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: oh no, ${syscall}`), { code, syscall });
}

describe("files the user names for writing", () => {
  it("turns each way the file system refuses a write into one line naming the path", () => {
    const cases: [string, string][] = [
      ["ENOENT", "no such directory"],
      ["EISDIR", "it is a directory"],
      ["ENOTDIR", "a part of the path is not a directory"],
      ["EEXIST", "it exists and is not a directory"],
      ["EACCES", "permission denied"],
      ["ENOSPC", "no space left on the device"],
    ];
    for (const [code, why] of cases) {
      const e = fileError(fsError(code, "open"), "write out.rec");
      expect(e, code).toBeInstanceOf(UsageError);
      expect((e as Error).message, code).toBe(`cannot write out.rec: ${why}`);
    }
  });

  it("leaves an error that is not the file system's as it is: a bug stays a bug", () => {
    const bug = new TypeError("x is undefined");
    expect(fileError(bug, "write out.rec")).toBe(bug);
  });
});
