// Guest addresses by name, and back: triage's naming (gdb's `info symbol`), shifted by where the
// code runs (a kernel moved by KASLR).

import type { LineTable } from "../../x86/dwarf-line.js";
import { symbolize, type Elf32Symbol } from "../../x86/elf32.js";

export class Symbols {
  private readonly byName = new Map<string, number>();

  /** `symbols` sorted by address; `offset`: how far from its link address the code runs; `lines`: the ELF's DWARF line table. */
  constructor(
    private readonly symbols: readonly Elf32Symbol[],
    private readonly offset = 0,
    private readonly lines: LineTable | null = null,
  ) {
    for (const s of symbols) if (s.value !== 0 && !this.byName.has(s.name)) this.byName.set(s.name, s.value);
  }

  /** `name+off` (or `name` at its start) for the symbol `addr` is in, as gdb names it; or undefined. */
  name(addr: number): string | undefined {
    return symbolize(this.symbols, (addr - this.offset) >>> 0);
  }

  /** `file:line` of the instruction at `addr` (moved back by the offset, as gdb does), when the ELF has line information. */
  source(addr: number): string | undefined {
    const l = this.lines?.lookup((addr - this.offset) >>> 0);
    return l === undefined ? undefined : `${l.file}:${l.line}`;
  }

  /** The address of a symbol, or undefined. */
  address(name: string): number | undefined {
    const a = this.byName.get(name);
    return a === undefined ? undefined : (a + this.offset) >>> 0;
  }
}
