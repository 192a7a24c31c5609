// DWARF line tables against binutils' addr2line on the same file: every instruction address of a
// small C program built by gcc -m32 with DWARF 4 and with DWARF 5 (as Debian's kernel has), and a
// sample of Debian's kernel itself when guests/cache has its vmlinux-dbg.

import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { gccM32, oracle, runs } from "../../test/support/oracle.js";
import { DwarfError, elfLineSections, LineTable } from "./dwarf-line.js";
import { elf32Sections } from "./elf32.js";

const HAVE = oracle("gcc -m32 and addr2line", runs("addr2line", "--version") && gccM32(), "apt-get install gcc-multilib binutils");
const VMLINUX = fileURLToPath(new URL("../../guests/cache/vmlinux-dbg", import.meta.url));

const SOURCE = `
static int twice(int x) {
  return 2 * x;
}

int fib(int n) {
  int a = 0, b = 1;
  while (n-- > 0) {
    int t = a + b;
    a = b;
    b = t;
  }
  return twice(a);
}

int main(void) {
  return fib(10) & 1;
}
`;

const dir = mkdtempSync(join(tmpdir(), "afterglow-dwarf-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** addr2line's file:line for each address. */
function addr2line(elf: string, addrs: number[]): (string | undefined)[] {
  const out = execFileSync("addr2line", ["-e", elf, ...addrs.map((a) => a.toString(16))], { encoding: "utf8", maxBuffer: 1 << 26 });
  // `??`: no line; `FILE:?` and `:0`: a function debug_info knows, with no line for this address.
  return out
    .trimEnd()
    .split("\n")
    .map((l) => l.replace(/ \(discriminator \d+\)$/, ""))
    .map((l) => (l.startsWith("??") || /:[?0]$/.test(l) ? undefined : l));
}

const tail = (path: string) => path.slice(path.lastIndexOf("/") + 1);

describe.skipIf(!HAVE).each([4, 5])("the line table of gcc -m32 -gdwarf-%i", (version) => {
  it("names every address of .text as addr2line does", () => {
    writeFileSync(join(dir, "fib.c"), SOURCE);
    const elf = join(dir, `fib-${version}`);
    execFileSync("gcc", ["-m32", "-O0", `-gdwarf-${version}`, "-o", elf, join(dir, "fib.c")], { cwd: dir });
    const bytes = readFileSync(elf);
    const table = LineTable.read(elfLineSections(bytes)!);
    const text = elf32Sections(bytes).find((s) => s.name === ".text")!;
    const addrs = Array.from({ length: text.size }, (_, k) => text.addr + k);
    const want = addr2line(elf, addrs);
    const got = addrs.map((a) => {
      const l = table.lookup(a);
      return l === undefined ? undefined : `${tail(l.file)}:${l.line}`;
    });
    expect(got).toEqual(want.map((w) => (w === undefined ? undefined : tail(w.slice(0, w.lastIndexOf(":"))) + w.slice(w.lastIndexOf(":")))));
    // fib's loop is in fib.c: the table is not all one line.
    expect(new Set(got.filter((g) => g?.startsWith("fib.c:"))).size).toBeGreaterThan(5);
  });
});

describe("the line table on bad input", () => {
  it("says what is wrong with a unit in one line", () => {
    // A unit of version 9.
    const debugLine = Uint8Array.from([6, 0, 0, 0, 9, 0, 0, 0, 0, 0]);
    expect(() => LineTable.read({ debugLine })).toThrow(new DwarfError(".debug_line version 9 (this reads 2 to 5)"));
    expect(() => LineTable.read({ debugLine: Uint8Array.from([0x40, 0, 0, 0, 5, 0]) })).toThrow(new DwarfError("a .debug_line unit runs past its section"));
  });
});

describe.skipIf(!existsSync(VMLINUX) || !runs("addr2line", "--version"))("the line table of Debian's vmlinux-dbg (DWARF 5)", () => {
  it("names start_kernel's lines and a spread of kernel addresses as addr2line does", () => {
    const table = LineTable.read(elfLineSections(readFileSync(VMLINUX))!);
    const addrs = Array.from({ length: 200 }, (_, k) => 0xc1000000 + k * 0x9d3b);
    const want = addr2line(VMLINUX, addrs);
    const got = addrs.map((a) => table.lookup(a));
    let named = 0;
    got.forEach((l, k) => {
      if (want[k] === undefined) return expect(l).toBeUndefined();
      named++;
      // addr2line puts the build directory before the paths DWARF has relative to it.
      expect(want[k]!.endsWith(`${l!.file}:${l!.line}`)).toBe(true);
    });
    expect(named).toBeGreaterThan(150);
  });
});
