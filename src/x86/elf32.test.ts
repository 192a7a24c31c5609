import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { gccM32, oracle } from "../../test/support/oracle.js";
import { elf32Symbols } from "./elf32.js";

const haveTools = oracle("gcc -m32 and readelf", gccM32() && spawnSync("readelf", ["--version"], { stdio: "ignore" }).status === 0, "apt-get install gcc-multilib binutils");

/** readelf's functions and objects with a name and an address: name, value, size. */
function readelfSymbols(file: string): string[] {
  const out = spawnSync("readelf", ["-s", "--wide", file], { encoding: "utf8" }).stdout;
  const rows: string[] = [];
  let inSymtab = false;
  for (const line of out.split("\n")) {
    if (line.startsWith("Symbol table")) inSymtab = line.includes("'.symtab'");
    const m = /^\s*\d+:\s+([0-9a-f]+)\s+(0x[0-9a-f]+|\d+)\s+(FUNC|OBJECT)\s+\S+\s+\S+\s+\S+\s+(\S+)/.exec(line);
    if (inSymtab && m && Number.parseInt(m[1], 16) !== 0) rows.push(`${m[4].replace(/@.*/, "")} ${Number.parseInt(m[1], 16)} ${Number(m[2])}`);
  }
  return rows.sort();
}

describe.skipIf(!haveTools)("ELF32 symbols", () => {
  it("are the functions and objects readelf lists in .symtab, at their addresses and sizes; none once stripped", () => {
    const dir = mkdtempSync(join(tmpdir(), "afterglow-elf-"));
    try {
      writeFileSync(join(dir, "t.c"), "int counter = 3;\nstatic int hidden(int a) { return a * counter; }\nint add(int a, int b) { return hidden(a) + b; }\nint main(void) { return add(1, 2); }\n");
      const exe = join(dir, "t");
      expect(spawnSync("gcc", ["-m32", "-O1", "-fno-inline", "-o", exe, join(dir, "t.c")]).status).toBe(0);
      const ours = elf32Symbols(new Uint8Array(readFileSync(exe))).filter((s) => s.addr !== 0).map((s) => `${s.name} ${s.addr} ${s.size}`).sort();
      expect(ours).toEqual(readelfSymbols(exe));
      expect(ours.some((s) => s.startsWith("hidden "))).toBe(true);
      expect(spawnSync("strip", ["-o", `${exe}.stripped`, exe]).status).toBe(0);
      expect(elf32Symbols(new Uint8Array(readFileSync(`${exe}.stripped`)))).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("are asked of a file that is not ELF: one clear error", () => {
    expect(() => elf32Symbols(new TextEncoder().encode("not an elf"))).toThrow("not an ELF file");
  });
});
