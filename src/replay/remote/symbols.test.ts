// Guest addresses named through a kernel that runs away from its link address (KASLR): symbols
// and source lines are looked up at the address minus the offset, as gdb's qOffsets moves them.

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { gccM32, oracle, runs } from "../../../test/support/oracle.js";
import { elfLineSections, LineTable } from "../../x86/dwarf-line.js";
import { elf32Symbols } from "../../x86/elf32.js";
import { Symbols } from "./symbols.js";

const HAVE = oracle("gcc -m32 and addr2line", runs("addr2line", "--version") && gccM32(), "apt-get install gcc-multilib binutils");

describe.skipIf(!HAVE)("symbols of a moved program", () => {
  it("names the function and the source line at an address moved by the offset", () => {
    const dir = mkdtempSync(join(tmpdir(), "afterglow-symbols-"));
    try {
      writeFileSync(join(dir, "f.c"), "int f(int x) {\n  return x + 1;\n}\nint main(void) { return f(1); }\n");
      execFileSync("gcc", ["-m32", "-O0", "-gdwarf-5", "-o", join(dir, "f"), join(dir, "f.c")]);
      const elf = readFileSync(join(dir, "f"));
      const symbols = elf32Symbols(elf);
      const f = symbols.find((s) => s.name === "f")!.value;
      const body = f + 3;
      const line = execFileSync("addr2line", ["-e", join(dir, "f"), body.toString(16)], { encoding: "utf8" }).trim();
      const offset = 0x1000000;
      const moved = new Symbols(symbols, offset, LineTable.read(elfLineSections(elf)!));
      expect(moved.name(body + offset)).toBe("f+3");
      expect(line.endsWith(moved.source(body + offset)!)).toBe(true);
      expect(moved.source(body + offset)).toMatch(/\/f\.c:\d+$/);
      // Not moved: at its link address there is nothing of the program.
      expect(moved.source(body)).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
