// Just enough of ELF32 (little-endian, the System V gABI) to find a file's sections: the
// disassembler shows the executable ones, the objdump oracle test reads .text.

export interface Elf32Section {
  name: string;
  /** sh_type (1 = PROGBITS, 8 = NOBITS...). */
  type: number;
  flags: number;
  addr: number;
  offset: number;
  size: number;
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
      size: view.getUint32(h + 20, true),
    });
  }
  const strtab = raw[shstrndx];
  if (!strtab || strtab.offset + strtab.size > buf.length) throw new ElfError("truncated ELF section name table");
  const sections: Elf32Section[] = raw.map((r) => {
    let end = strtab.offset + r.nameOff;
    while (end < strtab.offset + strtab.size && buf[end] !== 0) end++;
    const name = new TextDecoder().decode(buf.subarray(strtab.offset + r.nameOff, end));
    return { name, type: r.type, flags: r.flags, addr: r.addr, offset: r.offset, size: r.size };
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
