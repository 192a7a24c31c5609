// Guest addresses by name: the nearest function or object of an ELF's symbol table, and back.

import type { Elf32Symbol } from "../../x86/elf32.js";

/** How far past a symbol of unknown size an address is still named after it. */
const UNSIZED_REACH = 0x1000;

export class Symbols {
  private readonly byAddr: Elf32Symbol[];
  private readonly byName = new Map<string, number>();

  /** `symbols` sorted by address; `offset`: how far from its link address the code runs (a kernel moved by KASLR). */
  constructor(symbols: readonly Elf32Symbol[], private readonly offset = 0) {
    this.byAddr = symbols.filter((s) => s.addr !== 0);
    for (const s of this.byAddr) if (!this.byName.has(s.name)) this.byName.set(s.name, s.addr);
  }

  /** `name+0xoff` (or `name` at its start) for the symbol `addr` is in, or undefined. */
  name(addr: number): string | undefined {
    const a = (addr - this.offset) >>> 0;
    let lo = 0;
    let hi = this.byAddr.length - 1;
    let best = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.byAddr[mid].addr <= a) {
        best = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (best < 0) return undefined;
    const s = this.byAddr[best];
    const off = a - s.addr;
    if (off >= (s.size > 0 ? s.size : UNSIZED_REACH)) return undefined;
    return off === 0 ? s.name : `${s.name}+0x${off.toString(16)}`;
  }

  /** The address of a symbol, or undefined. */
  address(name: string): number | undefined {
    const a = this.byName.get(name);
    return a === undefined ? undefined : (a + this.offset) >>> 0;
  }
}
