// `afterglow disasm FILE`: a listing in objdump's `-d -M intel` layout, of an ELF32 file's
// executable sections or of a flat binary from its first byte.

import type { Command } from "commander";
import { readImage } from "./images.js";
import { addressWidth, disassembleBuffer, dumpBuffer } from "../x86/disasm.js";
import { elf32Sections, elf32Symbols, isElf, SHF_EXECINSTR, sectionBytes, type Elf32Section, type Elf32Symbol } from "../x86/elf32.js";
import { UsageError } from "./errors.js";

interface DisasmOptions {
  /** A flat binary's load address (0 when not given). */
  base?: number;
  bits: 16 | 32;
}

function parseAddress(s: string): number {
  const v = /^0x[0-9a-f]+$/i.test(s) ? parseInt(s, 16) : /^\d+$/.test(s) ? parseInt(s, 10) : NaN;
  if (!Number.isSafeInteger(v) || v > 0xffffffff) throw new UsageError(`--base: not an address: ${s}`);
  return v;
}

function parseBits(s: string): 16 | 32 {
  if (s !== "16" && s !== "32") throw new UsageError(`--bits: must be 16 or 32, not ${s}`);
  return s === "16" ? 16 : 32;
}

/** Writes lines to stdout in large chunks (a kernel is millions of lines). */
class LineWriter {
  private chunk: string[] = [];
  line = (s: string): void => {
    this.chunk.push(s);
    if (this.chunk.length >= 4096) this.flush();
  };
  flush(): void {
    if (this.chunk.length === 0) return;
    process.stdout.write(`${this.chunk.join("\n")}\n`);
    this.chunk = [];
  }
}

export function disasmFile(file: string, opts: DisasmOptions, out: (line: string) => void): void {
  const buf = readImage(file);
  if (!isElf(buf)) {
    const base = opts.base ?? 0;
    // Addresses past 4 GiB would wrap to 0 mid-listing, as if the code went on there.
    if (base + buf.length > 2 ** 32) {
      throw new UsageError(`--base 0x${base.toString(16)}: ${file}'s ${buf.length} bytes would run past 0xffffffff`);
    }
    disassembleBuffer(buf, base, opts.bits, out);
    return;
  }
  // Ignoring it would leave the user believing the listing's addresses had moved.
  if (opts.base !== undefined) {
    throw new UsageError(`--base: ${file} is an ELF file, whose sections carry their own addresses; --base is for a flat binary`);
  }
  let sections, symbols;
  try {
    sections = elf32Sections(buf);
    symbols = elf32Symbols(buf);
  } catch (err) {
    throw new UsageError(`disasm: ${file}: ${(err as Error).message}`);
  }
  out("");
  out(`${file}:     file format elf32-i386`);
  out("");
  const targets = symbols.length > 0 ? new TargetNames([...symbols, ...sections.filter((x) => (x.flags & SHF_ALLOC) !== 0).map(sectionSymbol)].sort((a, b) => a.value - b.value)) : null;
  for (const sec of sections) {
    if (!(sec.flags & SHF_EXECINSTR) || sec.size === 0) continue;
    const n = new SectionNames(sec, symbols);
    out("");
    out(`Disassembly of section ${n.s.name}:`);
    disassembleSection(sectionBytes(buf, n.s), n, targets, opts.bits, out);
  }
}

/**
 * Of symbols at one address, which objdump names it by (binutils' compare_symbols): sections'
 * own symbols last; functions, then objects, then globals before locals, strong before weak, larger before smaller, names
 * with a dot last, then
 * by name.
 */
function objdumpOrder(a: Elf32Symbol, b: Elf32Symbol): number {
  const key = (x: Elf32Symbol) => [x.type === STT_SECTION ? 1 : 0, x.type === 2 ? 0 : 1, x.type === 1 ? 0 : 1, x.global ? 0 : 1, x.weak ? 1 : 0, -x.size, x.name.startsWith(".") ? 1 : 0];
  const ka = key(a), kb = key(b);
  for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return ka[i] - kb[i];
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** Names addresses as objdump does: by the symbols of the section that holds them. */
class SectionNames {
  private readonly named = new Map<number, Elf32Symbol>();
  /** The addresses symbols start at, ascending. */
  readonly starts: number[];

  constructor(readonly s: Elf32Section, all: readonly Elf32Symbol[]) {
    const end = s.addr + s.size;
    for (const sym of all) {
      // The symbol's own section (a symbol at a section's end is its section's, not the next one's).
      if (sym.sectionEnd !== end || sym.value < s.addr || sym.value >= end) continue;
      const had = this.named.get(sym.value);
      if (had === undefined || objdumpOrder(sym, had) < 0) this.named.set(sym.value, sym);
    }
    this.starts = [...this.named.keys()].sort((x, y) => x - y);
  }

  /**
   * Whether objdump lists the stretch from `addr` as data: when the symbol it is named by is a
   * data object (STT_OBJECT), or one of the old compilers' marker labels (binutils'
   * disassemble_section).
   */
  isData(addr: number): boolean {
    const sym = this.named.get(addr);
    return sym !== undefined && (sym.type === STT_OBJECT || /gnu_compiled|gcc2_compiled/.test(sym.name));
  }

  /** `<symbol+0xoff>` of the nearest symbol at or before `addr`, else of the section. */
  nameOf(addr: number): string {
    const starts = this.starts;
    let lo = 0, hi = starts.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (starts[mid] <= addr) lo = mid + 1;
      else hi = mid;
    }
    const [name, at] = lo > 0 ? [this.named.get(starts[lo - 1])!.name, starts[lo - 1]] : [this.s.name, this.s.addr];
    return addr === at ? `<${name}>` : `<${name}+0x${(addr - at).toString(16)}>`;
  }
}

const STT_OBJECT = 1, STT_SECTION = 3;
const SHF_ALLOC = 0x2;

/** The symbol a linker gives each section (elf32Symbols leaves them out): objdump's last resort. */
function sectionSymbol(s: Elf32Section): Elf32Symbol {
  return { name: s.name, value: s.addr, size: 0, type: STT_SECTION, global: false, weak: false, sectionEnd: s.addr + s.size };
}

/**
 * Names branch targets as objdump does: by the nearest symbol at or before them in any section,
 * among several at that address one of the section being listed first.
 */
class TargetNames {
  private readonly values: number[] = [];
  /** Per value, its symbols in objdump's order. */
  private readonly at: Elf32Symbol[][] = [];

  constructor(all: readonly Elf32Symbol[]) {
    for (const sym of all) {
      if (this.values.at(-1) !== sym.value) {
        this.values.push(sym.value);
        this.at.push([]);
      }
      this.at[this.at.length - 1].push(sym);
    }
    for (const list of this.at) list.sort(objdumpOrder);
  }

  /** `<symbol+0xoff>` for `addr`, listed in the section that ends at `sectionEnd`; none before every symbol. */
  nameOf(addr: number, sectionEnd: number): string | undefined {
    let lo = 0, hi = this.values.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.values[mid] <= addr) lo = mid + 1;
      else hi = mid;
    }
    if (lo === 0) return undefined;
    const list = this.at[lo - 1];
    const sym = list.find((x) => x.sectionEnd === sectionEnd) ?? list[0];
    const off = addr - sym.value;
    return off === 0 ? `<${sym.name}>` : `<${sym.name}+0x${off.toString(16)}>`;
  }
}

/**
 * One section as objdump -d lists it: a heading at each address a symbol starts at, each
 * stretch between two disassembled on its own (an instruction that would cross into the next
 * symbol is a ".byte", as data in code often is), branch targets named by the nearest symbol at
 * or before them (in a file with symbols), runs of zeros as "...". A data object's stretch
 * (STT_OBJECT: a jump table, a string) is listed as bytes, not instructions. A section without
 * symbols is one stretch under its own name.
 */
function disassembleSection(code: Uint8Array, names: SectionNames, targets: TargetNames | null, bits: 16 | 32, out: (line: string) => void): void {
  const s = names.s;
  const end = s.addr + s.size;
  const target = targets === null ? undefined : (addr: number) => {
    const named = targets.nameOf(addr, end);
    return named === undefined ? undefined : `${addr.toString(16)} ${named}`;
  };
  const width = addressWidth(end);
  const cuts = [s.addr, ...names.starts.filter((a) => a > s.addr), end];
  for (let k = 0; k + 1 < cuts.length; k++) {
    out("");
    out(`${cuts[k].toString(16).padStart(8, "0")} ${names.nameOf(cuts[k])}:`);
    const stretch = code.subarray(cuts[k] - s.addr, cuts[k + 1] - s.addr);
    if (names.isData(cuts[k])) dumpBuffer(stretch, cuts[k], out, { width, skipZeroes: true });
    else disassembleBuffer(stretch, cuts[k], bits, out, { width, target, skipZeroes: true });
  }
}

export function registerDisasm(program: Command): void {
  program
    .command("disasm <file>")
    .description("disassemble a flat binary or an ELF file's code, in objdump's -M intel layout")
    .option("--base <addr>", "load address of a flat binary (default: 0)", parseAddress)
    .option("--bits <n>", "default operand and address size: 16 or 32", parseBits, 32 as 16 | 32)
    .action((file: string, opts: DisasmOptions) => {
      const w = new LineWriter();
      disasmFile(file, opts, w.line);
      w.flush();
    });
}
