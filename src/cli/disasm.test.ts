// `afterglow disasm` on ELF files is diffable against GNU objdump -d -M intel, line for line:
// the symbol headings, each symbol's stretch disassembled on its own, branch targets named, runs of
// zeros skipped. (The instruction text itself is checked on whole binaries by
// src/x86/objdump.test.ts.)

import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { disasmFile } from "./disasm.js";
import { oracle, runs } from "../../test/support/oracle.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const HAVE_NASM = oracle("nasm and ld", runs("nasm", "-v") && runs("ld", "--version"), "apt-get install nasm binutils");

/**
 * Data in a code section, as hand-written code and compilers leave it: typed objects (a table
 * right after a function, one longer than a line with a run of zeros inside, a string, one at the
 * section's start), an object and a function at one address (the function names it, so it is
 * code), and untyped labels (code).
 */
const DATA_IN_TEXT = `bits 32
section .text
global head:data (head.end - head)
global _start:function
global table:data (table.end - table)
global msg:data (msg.end - msg)
global both:function
global both_obj:data 4
head:
  dd 0x11223344
.end:
_start:
  mov eax, [table+4]
  jmp done
table:
  dd 0x90909090, 0xc3c3c3c3, 0x12345678, 0, 0, 0, 0, 0xcafef00d, 0x7f00ff20
.end:
msg:
  db "hello, world", 10, 0
.end:
both:
both_obj:
  push ebp
  pop ebp
done:
  ret
  nop
`;

function both(file: string): { objdump: string[]; ours: string[] } {
  const o = spawnSync("objdump", ["-d", "-M", "intel", file], { encoding: "utf8", maxBuffer: 1 << 30 });
  if (o.status !== 0) throw new Error(`objdump failed on ${file}: ${o.stderr}`);
  const ours: string[] = [];
  disasmFile(file, { bits: 32 }, (l) => ours.push(...l.split("\n")));
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

  it.skipIf(!HAVE_NASM)("lists a data object's symbol in a code section as bytes and text, not as instructions", () => {
    const dir = mkdtempSync(join(tmpdir(), "afterglow-disasm-"));
    try {
      writeFileSync(join(dir, "data.asm"), DATA_IN_TEXT);
      execFileSync("nasm", ["-f", "elf32", "-o", join(dir, "data.o"), join(dir, "data.asm")]);
      execFileSync("ld", ["-m", "elf_i386", "-e", "_start", "-o", join(dir, "data.elf"), join(dir, "data.o")]);
      const { objdump, ours } = both(join(dir, "data.elf"));
      expect(ours.some((l) => /\t90 90 90 90 c3 c3 c3 c3 78 56 34 12 00 00 00 00 +\.{8}xV4\.{5}$/.test(l))).toBe(true);
      expect(ours.some((l) => /68 65 6c 6c 6f .* +hello, world\.\.$/.test(l))).toBe(true);
      expect(ours.some((l) => /\tpush +ebp$/.test(l))).toBe(true);
      expect(ours).toEqual(objdump);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses --base on an ELF file, whose sections carry their own addresses, rather than ignore it", () => {
    const dir = mkdtempSync(join(tmpdir(), "afterglow-disasm-"));
    try {
      const f = join(dir, "prog");
      writeFileSync(f, Uint8Array.of(0x7f, 0x45, 0x4c, 0x46, 1, 1, 1));
      expect(() => disasmFile(f, { base: 0x1000, bits: 32 }, () => {})).toThrow(`--base: ${f} is an ELF file, whose sections carry their own addresses; --base is for a flat binary`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses a flat binary's --base that would run its addresses past 4 GiB, in one line", () => {
    const dir = mkdtempSync(join(tmpdir(), "afterglow-disasm-"));
    try {
      const f = join(dir, "code.bin");
      writeFileSync(f, Uint8Array.of(0x90, 0x90, 0xc3));
      expect(() => disasmFile(f, { base: 0xfffffffe, bits: 32 }, () => {})).toThrow(`--base 0xfffffffe: ${f}'s 3 bytes would run past 0xffffffff`);
      const lines: string[] = [];
      disasmFile(f, { base: 0xfffffffd, bits: 32 }, (l) => lines.push(l));
      expect(lines.join("\n")).toMatch(/ffffffff:\s+c3\s+ret/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
