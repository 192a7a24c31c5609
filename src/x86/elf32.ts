// Just enough of ELF32 (little-endian, the System V gABI) to find a file's sections and symbols: the
// disassembler shows the executable sections, the objdump oracle test reads .text, the TUI names
// addresses by the symbol table.

export interface Elf32Section {
  name: string;
  /** sh_type (1 = PROGBITS, 8 = NOBITS...). */
  type: number;
  flags: number;
  addr: number;
  offset: number;
  size: number;
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
  if (!isElf(buf)) throw new Error("not an ELF file");
  if (buf.length < 52) throw new Error("truncated ELF header");
  if (buf[4] !== 1) throw new Error("not a 32-bit ELF file");
  if (buf[5] !== 1) throw new Error("not a little-endian ELF file");
  const shoff = view.getUint32(32, true);
  const shentsize = view.getUint16(46, true);
  const shnum = view.getUint16(48, true);
  const shstrndx = view.getUint16(50, true);
  if (shnum === 0) return [];
  if (shentsize < 40 || shoff + shnum * shentsize > buf.length) throw new Error("truncated ELF section header table");

  const raw = [];
  for (let k = 0; k < shnum; k++) {
    const h = shoff + k * shentsize;
    raw.push({
      nameOff: view.getUint32(h, true),
      type: view.getUint32(h + 4, true),
      flags: view.getUint32(h + 8, true),
      addr: view.getUint32(h + 12, true),
      offset: view.getUint32(h + 16, true),
      size: view.getUint32(h + 20, true),
    });
  }
  const strtab = raw[shstrndx];
  if (!strtab || strtab.offset + strtab.size > buf.length) throw new Error("truncated ELF section name table");
  const sections: Elf32Section[] = raw.map((r) => {
    let end = strtab.offset + r.nameOff;
    while (end < strtab.offset + strtab.size && buf[end] !== 0) end++;
    const name = new TextDecoder().decode(buf.subarray(strtab.offset + r.nameOff, end));
    return { name, type: r.type, flags: r.flags, addr: r.addr, offset: r.offset, size: r.size };
  });
  for (const s of sections) {
    if (s.type !== SHT_NOBITS && s.offset + s.size > buf.length) throw new Error(`truncated ELF section ${s.name}`);
  }
  return sections;
}

/** The file bytes of a section (empty for NOBITS sections). */
export function sectionBytes(buf: Uint8Array, s: Elf32Section): Uint8Array {
  return s.type === SHT_NOBITS ? new Uint8Array(0) : buf.subarray(s.offset, s.offset + s.size);
}

/** A function or object symbol of .symtab: its name, address and size. */
export interface Elf32Symbol {
  name: string;
  addr: number;
  size: number;
}

const SHT_SYMTAB = 2;
/** st_info's type: an object or a function. */
const STT_OBJECT = 1;
const STT_FUNC = 2;

/**
 * The named functions and objects of the file's .symtab, sorted by address (empty for a stripped
 * file); throws an Error naming what is wrong.
 */
export function elf32Symbols(buf: Uint8Array): Elf32Symbol[] {
  const sections = elf32Sections(buf);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: Elf32Symbol[] = [];
  const symtab = sections.find((s) => s.type === SHT_SYMTAB);
  if (symtab === undefined) return out;
  const strtab = sections.find((s) => s.name === ".strtab");
  if (strtab === undefined) throw new Error("ELF .symtab without .strtab");
  const dec = new TextDecoder();
  for (let at = symtab.offset; at + 16 <= symtab.offset + symtab.size; at += 16) {
    const type = buf[at + 12] & 0xf;
    if (type !== STT_FUNC && type !== STT_OBJECT) continue;
    const nameOff = strtab.offset + view.getUint32(at, true);
    let end = nameOff;
    while (end < strtab.offset + strtab.size && buf[end] !== 0) end++;
    if (end === nameOff) continue;
    out.push({ name: dec.decode(buf.subarray(nameOff, end)), addr: view.getUint32(at + 4, true), size: view.getUint32(at + 8, true) });
  }
  return out.sort((a, b) => a.addr - b.addr);
}
