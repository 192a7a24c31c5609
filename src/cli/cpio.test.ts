// The newc writer against GNU cpio: what the host's `cpio -t` lists and `cpio -i` extracts.

import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CpioEntry, writeCpio } from "./cpio.js";

const enc = new TextEncoder();

function cpio(args: string[], input: Uint8Array, cwd?: string) {
  return spawnSync("cpio", args, { input, cwd, encoding: "utf8" });
}

describe("the newc cpio writer, checked by GNU cpio", () => {
  let dir: string;
  beforeAll(() => {
    if (spawnSync("cpio", ["--version"]).status !== 0) {
      throw new Error("GNU cpio is required for the cpio writer's oracle test: apt-get install cpio");
    }
    dir = mkdtempSync(join(tmpdir(), "afterglow-cpio-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  // Names and sizes of every length modulo 4, so every padding case occurs.
  const files: CpioEntry[] = [];
  for (let n = 1; n <= 8; n++) {
    const data = new Uint8Array(n * 3 - 3).map((_, i) => (i * 31 + n) & 0xff);
    files.push({ type: "file", name: `d/${"f".repeat(n)}`, data, mode: n % 2 ? 0o644 : 0o755 });
  }
  const entries: CpioEntry[] = [
    { type: "dir", name: "d" },
    ...files,
    { type: "dir", name: "d/sub", mode: 0o700 },
    { type: "file", name: "d/sub/script", data: enc.encode("#!/bin/sh\necho hi\n"), mode: 0o755 },
    { type: "symlink", name: "d/link", target: "sub/script" },
  ];
  const archive = writeCpio(entries);

  it("pads the archive to whole 4-byte units and ends it with the trailer", () => {
    expect(archive.length % 4).toBe(0);
    expect(new TextDecoder().decode(archive.subarray(0, 6))).toBe("070701");
    expect(new TextDecoder().decode(archive.subarray(archive.length - 16))).toContain("TRAILER!!!");
  });

  it("lists every entry with its type, mode, owner and size", () => {
    const r = cpio(["-t", "-v", "--quiet"], archive);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines.map((l) => l.split(/\s+/).slice(8).join(" "))).toEqual([
      "d",
      ...files.map((f) => f.name),
      "d/sub",
      "d/sub/script",
      "d/link -> sub/script",
    ]);
    expect(lines[0]).toMatch(/^drwxr-xr-x\s+2 root\s+root\s+0 /);
    expect(lines[1]).toMatch(/^-rw-r--r--\s+1 root\s+root\s+0 Jan\s+1\s+1970 d\/f$/);
    expect(lines[2]).toMatch(/^-rwxr-xr-x\s+1 root\s+root\s+3 /);
    expect(lines[9]).toMatch(/^drwx------ /);
    expect(lines[11]).toMatch(/^lrwxrwxrwx /);
  });

  it("extracts files with their bytes and modes, directories and symlinks", () => {
    const r = cpio(["-i", "-d", "--quiet", "--no-absolute-filenames"], archive, dir);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    for (const f of files) {
      if (f.type !== "file") continue;
      expect(new Uint8Array(readFileSync(join(dir, f.name)))).toEqual(f.data);
      expect(statSync(join(dir, f.name)).mode & 0o777).toBe(f.mode);
    }
    expect(readFileSync(join(dir, "d/sub/script"), "utf8")).toBe("#!/bin/sh\necho hi\n");
    expect(readlinkSync(join(dir, "d/link"))).toBe("sub/script");
    expect(statSync(join(dir, "d/sub")).isDirectory()).toBe(true);
  });

  it("records device nodes with their major and minor numbers", () => {
    const r = cpio(["-t", "-v", "--quiet"], writeCpio([{ type: "dir", name: "dev" }, { type: "char", name: "dev/console", major: 5, minor: 1 }]));
    expect(r.stdout).toMatch(/^crw-------\s+1 root\s+root\s+5,\s+1 .* dev\/console$/m);
  });

  it("is the same bytes every time, and drops leading slashes", () => {
    expect(writeCpio(entries)).toEqual(archive);
    expect(writeCpio([{ type: "dir", name: "/d" }])).toEqual(writeCpio([{ type: "dir", name: "d" }]));
    expect(existsSync(join(dir, "TRAILER!!!"))).toBe(false);
  });

  it("refuses names that escape the archive or repeat", () => {
    expect(() => writeCpio([{ type: "dir", name: "../etc" }])).toThrow(/bad entry name/);
    expect(() => writeCpio([{ type: "dir", name: "a" }, { type: "dir", name: "a" }])).toThrow(/duplicate entry "a"/);
  });
});
