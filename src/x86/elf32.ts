// Just enough of ELF32 (little-endian, the System V gABI) to find a file's sections and symbols:
// the disassembler shows the executable sections, the objdump oracle test reads .text, triage and
// the TUI name guest addresses after the symbols they are in.

export interface Elf32Section {
  name: string;
  /** sh_type (1 = PROGBITS, 8 = NOBITS...). */
  type: number;
  flags: number;
  addr: number;
  offset: number;
  size: number;
  /** sh_link: for a symbol table, the section index of its string table. */
  link: number;
}

/** A file that is not the ELF32 file it should be; the message says what is wrong. */
export class ElfError extends Error {
  override name = "ElfError";
}

/** sh_flags bit: the section holds machine instructions. */
export const SHF_EXECINSTR = 0x4;
const SHT_NOBITS = 8;

/** Whether the bytes start like an ELF file (of any class). */
export function isElf(buf: Uint8Array): boolean {
  return buf.length >= 4 && buf[0] === 0x7f && buf[1] === 0x45 && buf[2] === 0x4c && buf[3] === 0x46;
}

/** The section headers of a little-endian ELF32 file; throws an Error naming what is wrong. */
export function elf32Sections(buf: Uint8Array): Elf32Section[] {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (!isElf(buf)) throw new ElfError("not an ELF file");
  if (buf.length < 52) throw new ElfError("truncated ELF header");
  if (buf[4] !== 1) throw new ElfError("not a 32-bit ELF file");
  if (buf[5] !== 1) throw new ElfError("not a little-endian ELF file");
  const shoff = view.getUint32(32, true);
  const shentsize = view.getUint16(46, true);
  const shnum = view.getUint16(48, true);
  const shstrndx = view.getUint16(50, true);
  if (shnum === 0) return [];
  if (shentsize < 40 || shoff + shnum * shentsize > buf.length) throw new ElfError("truncated ELF section header table");

  const raw = [];
  for (let k = 0; k < shnum; k++) {
    const h = shoff + k * shentsize;
    raw.push({
      nameOff: view.getUint32(h, true),
      type: view.getUint32(h + 4, true),
      flags: view.getUint32(h + 8, true),
      addr: view.getUint32(h + 12, true),
      offset: view.getUint32(h + 16, true),
      link: view.getUint32(h + 24, true),
      size: view.getUint32(h + 20, true),
    });
  }
  const strtab = raw[shstrndx];
  if (!strtab || strtab.offset + strtab.size > buf.length) throw new ElfError("truncated ELF section name table");
  const sections: Elf32Section[] = raw.map((r) => {
    let end = strtab.offset + r.nameOff;
    while (end < strtab.offset + strtab.size && buf[end] !== 0) end++;
    const name = new TextDecoder().decode(buf.subarray(strtab.offset + r.nameOff, end));
    return { name, type: r.type, flags: r.flags, addr: r.addr, offset: r.offset, size: r.size, link: r.link };
  });
  for (const s of sections) {
    if (s.type !== SHT_NOBITS && s.offset + s.size > buf.length) throw new ElfError(`truncated ELF section ${s.name}`);
  }
  return sections;
}

/** The file bytes of a section (empty for NOBITS sections). */
export function sectionBytes(buf: Uint8Array, s: Elf32Section): Uint8Array {
  return s.type === SHT_NOBITS ? new Uint8Array(0) : buf.subarray(s.offset, s.offset + s.size);
}

/** A symbol of a code or data address (sections, files and absolute values left out). */
export interface Elf32Symbol {
  name: string;
  value: number;
  size: number;
  /** STT_NOTYPE 0, STT_OBJECT 1, STT_FUNC 2. */
  type: number;
  global: boolean;
  /** A weak global (STB_WEAK): a strong global at the same address is the better name. */
  weak: boolean;
  /** Where the symbol's section ends: no address from there on is in the symbol. */
  sectionEnd: number;
}

const SHT_SYMTAB = 2;
const SHN_UNDEF = 0;
const SHN_LORESERVE = 0xff00;
const SYM_SIZE = 16;

/** The symbols of the file's symbol table (.symtab), sorted by address; none without one. */
export function elf32Symbols(buf: Uint8Array): Elf32Symbol[] {
  const sections = elf32Sections(buf);
  const tab = sections.find((s) => s.type === SHT_SYMTAB);
  if (tab === undefined) return [];
  const strtab = sections[tab.link];
  if (strtab === undefined) throw new ElfError("the symbol table names no string table");
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const decoder = new TextDecoder();
  const out: Elf32Symbol[] = [];
  for (let at = tab.offset; at + SYM_SIZE <= tab.offset + tab.size; at += SYM_SIZE) {
    const info = buf[at + 12];
    const type = info & 0xf;
    const shndx = view.getUint16(at + 14, true);
    const section = sections[shndx];
    if (type > 2 || shndx === SHN_UNDEF || shndx >= SHN_LORESERVE || section === undefined) continue;
    const nameAt = strtab.offset + view.getUint32(at, true);
    let end = nameAt;
    while (end < strtab.offset + strtab.size && buf[end] !== 0) end++;
    const name = decoder.decode(buf.subarray(nameAt, end));
    if (name === "") continue;
    out.push({ name, value: view.getUint32(at + 4, true), size: view.getUint32(at + 8, true), type, global: info >> 4 !== 0, weak: info >> 4 === 2, sectionEnd: section.addr + section.size });
  }
  return out.sort((a, b) => a.value - b.value);
}

/** Of two symbols at one address, the one to name it by: a global before a local, a function or object before a label. */
const rank = (s: Elf32Symbol): number => (s.global ? 4 : 0) + (s.type !== 0 ? 2 : 0);

/**
 * `addr` as gdb's `info symbol` names it ("sized+5", in the decimal of gdb's `<sized+5>`): a
 * sized symbol (a function, an object) that holds it, else the label at or before it; none past
 * the end of the symbol's section, or before the first symbol.
 */
export function symbolize(symbols: readonly Elf32Symbol[], addr: number): string | undefined {
  const a = addr >>> 0;
  let lo = 0, hi = symbols.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (symbols[mid].value <= a) lo = mid + 1;
    else hi = mid;
  }
  // Back from the nearest: labels (no size) are remembered, the first sized symbol decides.
  let label: Elf32Symbol | undefined;
  let found: Elf32Symbol | undefined;
  for (let k = lo - 1; k >= 0; k--) {
    const s = symbols[k];
    if (s.size === 0) {
      if (label === undefined || (s.value === label.value && rank(s) > rank(label))) label = s;
      continue;
    }
    if (a < s.value + s.size) {
      // A better-ranked symbol of the same size at the same address names it instead.
      found = s;
      for (let j = k - 1; j >= 0 && symbols[j].value === s.value; j--) if (symbols[j].size > 0 && rank(symbols[j]) > rank(found)) found = symbols[j];
    }
    break;
  }
  const best = found ?? label;
  if (best === undefined || a >= best.sectionEnd) return undefined;
  const off = a - best.value;
  return off === 0 ? best.name : `${best.name}+${off}`;
}
