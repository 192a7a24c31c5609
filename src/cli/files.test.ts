import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { UsageError } from "./errors.js";
import { fileError, makeUserDir, writeUserFile } from "./files.js";

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

  it("replaces a file whole, by a new file renamed over it, and leaves no file of its own behind when refused", () => {
    const dir = mkdtempSync(join(tmpdir(), "afterglow-files-"));
    try {
      const f = join(dir, "x.rec");
      writeFileSync(f, "old");
      const before = statSync(f).ino;
      writeUserFile(f, "new");
      expect(readFileSync(f, "utf8")).toBe("new");
      // Another file now: the old one was never written into, so a write that failed would have left it.
      expect(statSync(f).ino).not.toBe(before);
      mkdirSync(join(dir, "d"));
      expect(() => writeUserFile(join(dir, "d"), "x")).toThrow(`cannot write ${join(dir, "d")}: it is a directory`);
      expect(readdirSync(dir).sort()).toEqual(["d", "x.rec"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("makes a directory and its parents, and refuses one where a file is, in one line", () => {
    const dir = mkdtempSync(join(tmpdir(), "afterglow-files-"));
    try {
      makeUserDir(join(dir, "a", "b"));
      makeUserDir(join(dir, "a", "b"));
      expect(statSync(join(dir, "a", "b")).isDirectory()).toBe(true);
      writeFileSync(join(dir, "f"), "");
      expect(() => makeUserDir(join(dir, "f"))).toThrow(`cannot make the directory ${join(dir, "f")}: it exists and is not a directory`);
      expect(() => makeUserDir(join(dir, "f", "g"))).toThrow(UsageError);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(!existsSync("/proc/self"))("refuses a directory under /proc in one line, where Node's recursive mkdir spins forever", () => {
    // In a child: the spin is synchronous, past any test timeout.
    const files = new URL("../../dist/src/cli/files.js", import.meta.url).href;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", `import { makeUserDir } from ${JSON.stringify(files)}; try { makeUserDir("/proc/afterglow-nowhere/chaos"); } catch (e) { console.log(e.message); }`], {
      encoding: "utf8",
      timeout: 20_000,
    });
    expect(r.signal, "still making the directory after 20 s").toBeNull();
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("cannot make the directory /proc/afterglow-nowhere/chaos: no such directory\n");
  }, 30_000);
});
