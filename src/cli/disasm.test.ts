// `afterglow disasm` on ELF files is diffable against GNU objdump -d -M intel, line for line:
// the symbol headings, each symbol's stretch disassembled on its own, branch targets named, runs of
// zeros skipped. (The instruction text itself is checked on whole binaries by
// src/x86/objdump.test.ts.)

import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { disasmFile } from "./disasm.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

function both(file: string): { objdump: string[]; ours: string[] } {
  const o = spawnSync("objdump", ["-d", "-M", "intel", file], { encoding: "utf8", maxBuffer: 1 << 30 });
  if (o.status !== 0) throw new Error(`objdump failed on ${file}: ${o.stderr}`);
  const ours: string[] = [];
  disasmFile(file, { base: 0, bits: 32 }, (l) => ours.push(...l.split("\n")));
  return { objdump: o.stdout.trimEnd().split("\n"), ours };
}

describe("afterglow disasm against objdump", () => {
  it("lists an ELF with symbols as objdump does: headings, data between labels, named branch targets, zeros skipped", () => {
    const { objdump, ours } = both(join(ROOT, "guests", "chaos", "race.elf"));
    expect(ours).toContain("00007c1c <pm_entry>:");
    expect(ours.some((l) => /\tjge +7c1f <pm_entry\+0x3>$/.test(l))).toBe(true);
    expect(ours).toEqual(objdump);
  });

  it("lists a stripped ELF as objdump does: each section under its own name, targets as numbers", () => {
    const busybox = join(ROOT, "guests", "cache", "busybox");
    if (!existsSync(busybox)) throw new Error(`${busybox} is missing: bash scripts/fetch-debian.sh fetches it`);
    const { objdump, ours } = both(busybox);
    expect(ours.length).toBeGreaterThan(100_000);
    expect(ours).toEqual(objdump);
  }, 120_000);
});
