// `--symbols ELF`, which gdb, triage, tui, and run and replay with --gdb take: a file that is
// missing or not a 32-bit ELF is refused at once, in one line naming the option and the file —
// before gdb starts, which would only print "No such file" and run on without symbols.

import { elf32Symbols, type Elf32Symbol } from "../x86/elf32.js";
import { elfLineSections, type LineSections } from "../x86/dwarf-line.js";
import { UsageError } from "./errors.js";
import { readImage } from "./images.js";

/** Runs `f` on the bytes of the ELF `--symbols` names, a bad file reported with its name. */
function withSymbolFile<T>(path: string, f: (elf: Uint8Array) => T): T {
  try {
    return f(readImage(path));
  } catch (e) {
    throw new UsageError(`--symbols ${path}: ${(e as Error).message}`);
  }
}

/** The symbol table of the ELF `--symbols` names. */
export function readSymbols(path: string): Elf32Symbol[] {
  return withSymbolFile(path, elf32Symbols);
}

/** The symbols and DWARF line sections of the ELF `--symbols` names. */
export function readSymbolsAndLines(path: string): { symbols: Elf32Symbol[]; lines?: LineSections } {
  return withSymbolFile(path, (elf) => {
    const lines = elfLineSections(elf);
    // Copies: a view would take the whole file (a kernel's is hundreds of MB) to the TUI's worker.
    const copy = (b: Uint8Array | undefined) => (b === undefined ? undefined : b.slice());
    return { symbols: elf32Symbols(elf), lines: lines === null ? undefined : { debugLine: copy(lines.debugLine)!, lineStr: copy(lines.lineStr), str: copy(lines.str) } };
  });
}
